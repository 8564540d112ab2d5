package dev.extproc.callout.internal;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

/**
 * Generates a self-signed ECDSA P-256 certificate for {@code localhost}, {@code 127.0.0.1} and
 * {@code ::1}, encoded in DER by hand because the JDK has no public API for it.
 *
 * <p>It exists so the TLS listener works with no files at all: Google Cloud load balancers do not
 * verify a callout's certificate by default. It is not a substitute for a real certificate.
 */
final class SelfSignedCertificate {

  /** How long an ephemeral certificate is valid. */
  static final Duration VALIDITY = Duration.ofDays(365);

  private static final String COMMON_NAME = "extproc-callout ephemeral";
  private static final byte[] OID_ECDSA_WITH_SHA256 = oid(1, 2, 840, 10045, 4, 3, 2);
  private static final byte[] OID_COMMON_NAME = oid(2, 5, 4, 3);
  private static final byte[] OID_SUBJECT_ALT_NAME = oid(2, 5, 29, 17);
  private static final byte[] OID_EXT_KEY_USAGE = oid(2, 5, 29, 37);
  private static final byte[] OID_SERVER_AUTH = oid(1, 3, 6, 1, 5, 5, 7, 3, 1);
  private static final DateTimeFormatter UTC_TIME =
      DateTimeFormatter.ofPattern("yyMMddHHmmss'Z'").withZone(ZoneOffset.UTC);

  private final KeyPair keyPair;
  private final X509Certificate certificate;

  private SelfSignedCertificate(KeyPair keyPair, X509Certificate certificate) {
    this.keyPair = keyPair;
    this.certificate = certificate;
  }

  /** Generates a new key pair and certificate, valid from an hour ago for {@link #VALIDITY}. */
  static SelfSignedCertificate generate() throws GeneralSecurityException {
    KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
    generator.initialize(new ECGenParameterSpec("secp256r1"));
    KeyPair keyPair = generator.generateKeyPair();
    Instant now = Instant.now();

    byte[] signatureAlgorithm = seq(OID_ECDSA_WITH_SHA256);
    byte[] name = seq(set(seq(OID_COMMON_NAME, utf8String(COMMON_NAME))));
    byte[] tbs =
        seq(
            explicit(0, integer(BigInteger.TWO)), // X.509 v3
            integer(new BigInteger(127, new SecureRandom())),
            signatureAlgorithm,
            name,
            seq(utcTime(now.minus(Duration.ofHours(1))), utcTime(now.plus(VALIDITY))),
            name,
            keyPair.getPublic().getEncoded(),
            explicit(3, seq(subjectAltNames(), extendedKeyUsageServerAuth())));

    Signature signer = Signature.getInstance("SHA256withECDSA");
    signer.initSign(keyPair.getPrivate());
    signer.update(tbs);
    byte[] der = seq(tbs, signatureAlgorithm, bitString(signer.sign()));
    X509Certificate certificate =
        (X509Certificate)
            CertificateFactory.getInstance("X.509")
                .generateCertificate(new ByteArrayInputStream(der));
    return new SelfSignedCertificate(keyPair, certificate);
  }

  KeyPair keyPair() {
    return keyPair;
  }

  X509Certificate certificate() {
    return certificate;
  }

  private static byte[] subjectAltNames() {
    byte[] names =
        seq(
            tlv(0x82, "localhost".getBytes(StandardCharsets.US_ASCII)), // dNSName
            tlv(0x87, new byte[] {127, 0, 0, 1}), // iPAddress
            tlv(0x87, new byte[] {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}));
    return seq(OID_SUBJECT_ALT_NAME, tlv(0x04, names));
  }

  private static byte[] extendedKeyUsageServerAuth() {
    return seq(OID_EXT_KEY_USAGE, tlv(0x04, seq(OID_SERVER_AUTH)));
  }

  private static byte[] seq(byte[]... parts) {
    return tlv(0x30, concat(parts));
  }

  private static byte[] set(byte[]... parts) {
    return tlv(0x31, concat(parts));
  }

  private static byte[] explicit(int tag, byte[] content) {
    return tlv(0xa0 | tag, content);
  }

  private static byte[] integer(BigInteger value) {
    return tlv(0x02, value.toByteArray());
  }

  private static byte[] utf8String(String value) {
    return tlv(0x0c, value.getBytes(StandardCharsets.UTF_8));
  }

  private static byte[] utcTime(Instant instant) {
    return tlv(0x17, UTC_TIME.format(instant).getBytes(StandardCharsets.US_ASCII));
  }

  private static byte[] bitString(byte[] bits) {
    byte[] content = new byte[bits.length + 1]; // leading byte: no unused bits
    System.arraycopy(bits, 0, content, 1, bits.length);
    return tlv(0x03, content);
  }

  private static byte[] oid(int... arcs) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(arcs[0] * 40 + arcs[1]);
    for (int i = 2; i < arcs.length; i++) {
      int arc = arcs[i];
      int shift = 28;
      while (shift > 0 && (arc >>> shift) == 0) {
        shift -= 7;
      }
      for (; shift > 0; shift -= 7) {
        out.write(0x80 | ((arc >>> shift) & 0x7f));
      }
      out.write(arc & 0x7f);
    }
    return tlv(0x06, out.toByteArray());
  }

  private static byte[] tlv(int tag, byte[] content) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(content.length + 6);
    out.write(tag);
    int length = content.length;
    if (length < 0x80) {
      out.write(length);
    } else {
      int bytes = (32 - Integer.numberOfLeadingZeros(length) + 7) / 8;
      out.write(0x80 | bytes);
      for (int i = bytes - 1; i >= 0; i--) {
        out.write(length >>> (8 * i));
      }
    }
    out.writeBytes(content);
    return out.toByteArray();
  }

  private static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] part : parts) {
      out.writeBytes(part);
    }
    return out.toByteArray();
  }
}
