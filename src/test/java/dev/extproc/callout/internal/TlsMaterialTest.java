package dev.extproc.callout.internal;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import org.junit.jupiter.api.Test;

class TlsMaterialTest {

  private static byte[] ascii(String s) {
    return s.getBytes(StandardCharsets.US_ASCII);
  }

  @Test
  void ephemeral_isSelfSignedForLocalhostAndValidForAYear() throws Exception {
    TlsMaterial material = TlsMaterial.ephemeral();
    X509Certificate cert = material.certificate();

    cert.verify(cert.getPublicKey());
    cert.checkValidity();
    cert.checkValidity(Date.from(Instant.now().plus(Duration.ofDays(364))));
    assertThat(cert.getVersion()).isEqualTo(3);
    assertThat(cert.getSigAlgName()).isEqualTo("SHA256withECDSA");
    assertThat(cert.getSubjectAlternativeNames().toString())
        .isEqualTo("[[2, localhost], [7, 127.0.0.1], [7, 0:0:0:0:0:0:0:1]]");
    assertThat(cert.getExtendedKeyUsage()).containsExactly("1.3.6.1.5.5.7.3.1");
    assertThat(material.fingerprint()).matches("([0-9A-F]{2}:){31}[0-9A-F]{2}");
    assertThat(material.keyManagers()).isNotEmpty();
    assertThat(TlsMaterial.ephemeral().fingerprint()).isNotEqualTo(material.fingerprint());
  }

  private static String certificatePem() throws Exception {
    return "-----BEGIN CERTIFICATE-----\n"
        + java.util.Base64.getMimeEncoder()
            .encodeToString(TlsMaterial.ephemeral().certificate().getEncoded())
        + "\n-----END CERTIFICATE-----\n";
  }

  @Test
  void fromPem_pkcs1Key_explainsHowToConvert() throws Exception {
    String certPem = certificatePem();
    IOException e =
        assertThrows(
            IOException.class,
            () -> TlsMaterial.fromPem(ascii(certPem), ascii(pem("RSA PRIVATE KEY")), "src"));

    assertThat(e)
        .hasMessageThat()
        .contains("src: a 'RSA PRIVATE KEY' is not supported (expected: an unencrypted PKCS#8");
  }

  private static String pem(String type) {
    return "-----BEGIN " + type + "-----\nAAAA\n-----END " + type + "-----\n";
  }

  @Test
  void fromPem_garbage_failsNamingTheSource() throws Exception {
    IOException notPem =
        assertThrows(
            IOException.class,
            () -> TlsMaterial.fromPem(ascii("hello"), ascii("world"), "the bytes"));
    assertThat(notPem).hasMessageThat().startsWith("the bytes: the certificate chain is not valid");

    String certPem = certificatePem();
    IOException noKey =
        assertThrows(
            IOException.class, () -> TlsMaterial.fromPem(ascii(certPem), ascii("nope"), "src"));
    assertThat(noKey).hasMessageThat().isEqualTo("src: no PEM block found in the private key");

    IOException badKey =
        assertThrows(
            IOException.class,
            () -> TlsMaterial.fromPem(ascii(certPem), ascii(pem("PRIVATE KEY")), "src"));
    assertThat(badKey)
        .hasMessageThat()
        .isEqualTo("src: the private key is not an RSA, EC or EdDSA PKCS#8 key");
  }
}
