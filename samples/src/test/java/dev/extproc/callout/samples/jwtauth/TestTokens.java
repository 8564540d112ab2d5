package dev.extproc.callout.samples.jwtauth;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.JWSSigner;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.util.Base64URL;
import dev.extproc.callout.samples.jwt.JwtVerifier;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.Objects;

/**
 * The test key pair of the JWT samples ({@code test-public-key.pem} and {@code
 * test-private-key.pem} in the test resources, generated for this project) and tokens signed with
 * it. FOR TESTS ONLY: the private half is public, so the samples never use it unless a test passes
 * the public key explicitly.
 */
public final class TestTokens {

  private static final String PUBLIC_KEY_RESOURCE = "test-public-key.pem";
  private static final PrivateKey PRIVATE_KEY = readPrivateKey();

  private TestTokens() {}

  /** The private half of the test key pair. */
  public static PrivateKey privateKey() {
    return PRIVATE_KEY;
  }

  /** The public half of the test key pair. */
  public static RSAPublicKey publicKey() {
    try {
      return JwtVerifier.readPublicKey(Files.readAllBytes(publicKeyFile()));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The PEM file of the public half, for {@code --jwt-public-key}. */
  public static Path publicKeyFile() {
    URL url = Objects.requireNonNull(TestTokens.class.getResource(PUBLIC_KEY_RESOURCE));
    try {
      return Path.of(url.toURI());
    } catch (URISyntaxException e) {
      throw new IllegalStateException(url.toString(), e);
    }
  }

  /** Signs {@code payloadJson} with RS256 and the test key, byte for byte as given. */
  public static String rs256(String payloadJson) {
    return sign(new RSASSASigner(PRIVATE_KEY), JWSAlgorithm.RS256, payloadJson);
  }

  /** Signs {@code payloadJson} (kept byte for byte, so claim order is the caller's). */
  public static String sign(JWSSigner signer, JWSAlgorithm algorithm, String payloadJson) {
    JWSHeader header = new JWSHeader.Builder(algorithm).type(JOSEObjectType.JWT).build();
    Base64URL payload = Base64URL.encode(payloadJson.getBytes(StandardCharsets.UTF_8));
    String signingInput = header.toBase64URL() + "." + payload;
    try {
      Base64URL signature = signer.sign(header, signingInput.getBytes(StandardCharsets.US_ASCII));
      return signingInput + "." + signature;
    } catch (JOSEException e) {
      throw new IllegalStateException("cannot sign with " + algorithm, e);
    }
  }

  private static PrivateKey readPrivateKey() {
    try (InputStream in = TestTokens.class.getResourceAsStream("test-private-key.pem")) {
      String pem = new String(Objects.requireNonNull(in).readAllBytes(), StandardCharsets.US_ASCII);
      String base64 =
          pem.substring(
              pem.indexOf("-----BEGIN PRIVATE KEY-----") + 27,
              pem.indexOf("-----END PRIVATE KEY-----"));
      return KeyFactory.getInstance("RSA")
          .generatePrivate(new PKCS8EncodedKeySpec(Base64.getMimeDecoder().decode(base64)));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("test-private-key.pem is not a PKCS#8 RSA key", e);
    }
  }
}
