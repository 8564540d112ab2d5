package dev.extproc.callout.internal;

import io.grpc.util.AdvancedTlsX509KeyManager;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.InvalidKeySpecException;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.Collection;
import java.util.HexFormat;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

/**
 * A TLS certificate chain and its private key, loaded from PEM or generated, checked to belong
 * together. Every failure is an {@link IOException} whose message names the source and the fix.
 */
public final class TlsMaterial {

  private static final Pattern PEM_BLOCK =
      Pattern.compile("-----BEGIN ([A-Z0-9 ]+)-----([^-]*)-----END \\1-----");

  private final PrivateKey privateKey;
  private final X509Certificate[] chain;
  private final String description;

  private TlsMaterial(PrivateKey privateKey, X509Certificate[] chain, String description) {
    this.privateKey = privateKey;
    this.chain = chain;
    this.description = description;
  }

  /** Reads a PEM certificate chain and a PEM PKCS#8 private key from files. */
  public static TlsMaterial fromFiles(Path certChain, Path privateKey) throws IOException {
    return fromPem(
        read(certChain, "certificate chain"),
        read(privateKey, "private key"),
        certChain + " and " + privateKey);
  }

  /**
   * Parses a PEM certificate chain and a PEM PKCS#8 private key; {@code source} names them in error
   * messages.
   */
  public static TlsMaterial fromPem(byte[] certChainPem, byte[] privateKeyPem, String source)
      throws IOException {
    X509Certificate[] chain = parseChain(certChainPem, source);
    PrivateKey key = parseKey(privateKeyPem, source);
    checkMatch(chain[0], key, source);
    return new TlsMaterial(key, chain, source);
  }

  /** Generates an ephemeral self-signed certificate for localhost. */
  public static TlsMaterial ephemeral() throws IOException {
    try {
      SelfSignedCertificate generated = SelfSignedCertificate.generate();
      return new TlsMaterial(
          generated.keyPair().getPrivate(),
          new X509Certificate[] {generated.certificate()},
          "ephemeral self-signed certificate");
    } catch (GeneralSecurityException e) {
      throw new IOException("cannot generate an ephemeral certificate: " + e.getMessage(), e);
    }
  }

  /** Where the material came from, for logs. */
  public String description() {
    return description;
  }

  /** The leaf certificate. */
  public X509Certificate certificate() {
    return chain[0];
  }

  /** The SHA-256 fingerprint of the leaf certificate, as colon-separated upper-case hex. */
  public String fingerprint() {
    try {
      byte[] digest = MessageDigest.getInstance("SHA-256").digest(chain[0].getEncoded());
      return HexFormat.ofDelimiter(":").withUpperCase().formatHex(digest);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("SHA-256 or certificate encoding unavailable", e);
    }
  }

  /** A key manager that presents this chain, until a {@link CertificateReloader} swaps it. */
  public AdvancedTlsX509KeyManager keyManager() {
    // A key manager over the parsed key: a PKCS#12 key store would encrypt the key with a slow
    // password-based cipher only to decrypt it again, a quarter of a second of start-up.
    AdvancedTlsX509KeyManager keys = new AdvancedTlsX509KeyManager();
    presentWith(keys);
    return keys;
  }

  /** Key managers that present this chain. */
  public KeyManager[] keyManagers() {
    return new KeyManager[] {keyManager()};
  }

  /** Makes {@code keys} present this chain from now on. */
  void presentWith(AdvancedTlsX509KeyManager keys) {
    keys.updateIdentityCredentials(chain.clone(), privateKey);
  }

  /** A server SSL context that presents what {@code keyManagers} choose. */
  public static SSLContext sslContext(KeyManager[] keyManagers) {
    try {
      SSLContext context = SSLContext.getInstance("TLS");
      context.init(keyManagers, null, null);
      return context;
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("cannot build a server SSL context", e);
    }
  }

  /** Reads the PEM CA certificates at {@code path} into a trust manager for client certificates. */
  public static X509TrustManager clientTrust(Path path) throws IOException {
    X509Certificate[] cas = parseChain(read(path, "client CA certificates"), path.toString());
    try {
      KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
      store.load(null, null);
      for (int i = 0; i < cas.length; i++) {
        store.setCertificateEntry("ca-" + i, cas[i]);
      }
      TrustManagerFactory factory =
          TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
      factory.init(store);
      for (TrustManager manager : factory.getTrustManagers()) {
        if (manager instanceof X509TrustManager x509) {
          return x509;
        }
      }
      throw new IOException(path + ": no X.509 trust manager available");
    } catch (GeneralSecurityException e) {
      throw new IOException(path + ": cannot trust these CA certificates: " + e.getMessage(), e);
    }
  }

  private static byte[] read(Path path, String what) throws IOException {
    try {
      return Files.readAllBytes(path);
    } catch (IOException e) {
      throw new IOException(
          "cannot read the " + what + " " + path + ": " + e.getClass().getSimpleName(), e);
    }
  }

  private static X509Certificate[] parseChain(byte[] pem, String source) throws IOException {
    Collection<? extends Certificate> certificates;
    try {
      certificates =
          CertificateFactory.getInstance("X.509")
              .generateCertificates(new ByteArrayInputStream(pem));
    } catch (CertificateException e) {
      throw new IOException(
          source + ": the certificate chain is not valid PEM X.509 (" + e.getMessage() + ")", e);
    }
    if (certificates.isEmpty()) {
      throw new IOException(source + ": no certificate found in the certificate chain");
    }
    return certificates.toArray(new X509Certificate[0]);
  }

  private static PrivateKey parseKey(byte[] pem, String source) throws IOException {
    Matcher block = PEM_BLOCK.matcher(new String(pem, StandardCharsets.US_ASCII));
    if (!block.find()) {
      throw new IOException(source + ": no PEM block found in the private key");
    }
    String type = block.group(1);
    if (!type.equals("PRIVATE KEY")) {
      throw new IOException(
          source
              + ": a '"
              + type
              + "' is not supported (expected: an unencrypted PKCS#8 'PRIVATE KEY'; convert with"
              + " 'openssl pkcs8 -topk8 -nocrypt -in key.pem -out key.pkcs8.pem')");
    }
    byte[] der;
    try {
      der = Base64.getMimeDecoder().decode(block.group(2));
    } catch (IllegalArgumentException e) {
      throw new IOException(source + ": the private key is not valid base64", e);
    }
    for (String algorithm : new String[] {"RSA", "EC", "Ed25519", "Ed448"}) {
      try {
        return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
      } catch (InvalidKeySpecException | java.security.NoSuchAlgorithmException e) {
        // try the next algorithm
      }
    }
    throw new IOException(source + ": the private key is not an RSA, EC or EdDSA PKCS#8 key");
  }

  private static void checkMatch(X509Certificate leaf, PrivateKey key, String source)
      throws IOException {
    String algorithm = signatureAlgorithm(key);
    try {
      byte[] challenge = "extproc-callout key check".getBytes(StandardCharsets.US_ASCII);
      Signature signer = Signature.getInstance(algorithm);
      signer.initSign(key);
      signer.update(challenge);
      byte[] signature = signer.sign();
      Signature verifier = Signature.getInstance(algorithm);
      verifier.initVerify(leaf.getPublicKey());
      verifier.update(challenge);
      if (verifier.verify(signature)) {
        return;
      }
    } catch (GeneralSecurityException e) {
      // a key of another type than the certificate's: a mismatch too
    }
    throw new IOException(
        source
            + ": the private key does not match the certificate's public key (subject "
            + leaf.getSubjectX500Principal().getName()
            + ")");
  }

  private static String signatureAlgorithm(PrivateKey key) {
    return switch (key.getAlgorithm().toUpperCase(Locale.ROOT)) {
      case "RSA" -> "SHA256withRSA";
      case "EC" -> "SHA256withECDSA";
      default -> key.getAlgorithm();
    };
  }
}
