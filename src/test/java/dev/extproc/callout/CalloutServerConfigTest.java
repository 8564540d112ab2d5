package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class CalloutServerConfigTest {

  @Test
  void defaults_matchTheDesign() {
    CalloutServerConfig config = CalloutServerConfig.defaults();

    assertThat(config.secureAddress())
        .hasValue(InetSocketAddress.createUnresolved("0.0.0.0", 8443));
    assertThat(config.plaintextAddress())
        .hasValue(InetSocketAddress.createUnresolved("0.0.0.0", 8080));
    assertThat(config.healthCheckAddress())
        .hasValue(InetSocketAddress.createUnresolved("0.0.0.0", 8000));
    assertThat(config.isSecureHealthCheck()).isFalse();
    assertThat(config.hasCertificate()).isFalse();
    assertThat(config.maxInboundMessageSize()).isEqualTo(16 * 1024 * 1024);
    assertThat(config.maxConcurrentStreams()).isEqualTo(0);
    assertThat(config.permitKeepAliveTime()).isEqualTo(Duration.ofSeconds(5));
    assertThat(config.keepAliveTime()).isEqualTo(Duration.ofSeconds(30));
    assertThat(config.keepAliveTimeout()).isEqualTo(Duration.ofSeconds(10));
    assertThat(config.hookExecutor()).isEqualTo(CalloutServerConfig.HookExecutor.POOL);
    assertThat(config.hookThreads()).isEqualTo(200);
    assertThat(config.shutdownGracePeriod()).isEqualTo(Duration.ofSeconds(30));
    assertThat(config.shutdownDrainDelay()).isEqualTo(Duration.ofSeconds(15));
  }

  @Test
  void builder_disablesAndIpv6Addresses() {
    CalloutServerConfig config =
        CalloutServerConfig.newBuilder()
            .disableTls()
            .plaintextAddress("[::1]:9090")
            .combinedHealthCheck()
            .build();

    assertThat(config.secureAddress()).isEmpty();
    assertThat(config.plaintextAddress()).hasValue(InetSocketAddress.createUnresolved("::1", 9090));
    assertThat(config.healthCheckAddress()).isEmpty();
  }

  @Test
  void toBuilder_keepsEverySetting() {
    CalloutServerConfig config =
        CalloutServerConfig.newBuilder()
            .secureAddress("127.0.0.1:1")
            .disablePlaintext()
            .secureHealthCheck(true)
            .certificate(Path.of("c.pem"), Path.of("k.pem"))
            .maxInboundMessageSize(5)
            .maxConcurrentStreams(6)
            .permitKeepAliveTime(Duration.ofSeconds(7))
            .keepAliveTime(Duration.ofSeconds(11))
            .keepAliveTimeout(Duration.ofSeconds(12))
            .hookExecutor(CalloutServerConfig.HookExecutor.INLINE)
            .hookThreads(8)
            .shutdownGracePeriod(Duration.ofSeconds(9))
            .shutdownDrainDelay(Duration.ofSeconds(10))
            .build();

    assertThat(config.toBuilder().build().toString()).isEqualTo(config.toString());
  }

  @Test
  void badAddress_throwsShowingIt() {
    for (String bad : new String[] {"8080", "host", "::1:8080", ":8080", "host:99999"}) {
      IllegalArgumentException e =
          assertThrows(
              IllegalArgumentException.class,
              () -> CalloutServerConfig.newBuilder().plaintextAddress(bad));
      assertThat(e).hasMessageThat().startsWith("address: " + bad + " (expected: HOST:PORT");
    }
  }

  @Test
  void badNumbers_throwShowingThem() {
    CalloutServerConfig.Builder b = CalloutServerConfig.newBuilder();
    assertThat(assertThrows(IllegalArgumentException.class, () -> b.maxInboundMessageSize(0)))
        .hasMessageThat()
        .isEqualTo("maxInboundMessageSize: 0 (expected: > 0)");
    assertThat(assertThrows(IllegalArgumentException.class, () -> b.maxConcurrentStreams(-1)))
        .hasMessageThat()
        .isEqualTo("maxConcurrentStreams: -1 (expected: >= 0)");
    assertThat(assertThrows(IllegalArgumentException.class, () -> b.hookThreads(0)))
        .hasMessageThat()
        .isEqualTo("hookThreads: 0 (expected: > 0)");
    assertThat(
            assertThrows(
                IllegalArgumentException.class,
                () -> b.shutdownGracePeriod(Duration.ofSeconds(-1))))
        .hasMessageThat()
        .isEqualTo("shutdownGracePeriod: PT-1S (expected: >= 0)");
    assertThat(
            assertThrows(
                IllegalArgumentException.class, () -> b.shutdownDrainDelay(Duration.ofMillis(-1))))
        .hasMessageThat()
        .isEqualTo("shutdownDrainDelay: PT-0.001S (expected: >= 0)");
    assertThat(
            assertThrows(
                IllegalArgumentException.class,
                () -> b.permitKeepAliveTime(Duration.ofSeconds(-2))))
        .hasMessageThat()
        .isEqualTo("permitKeepAliveTime: PT-2S (expected: >= 0)");
    assertThat(
            assertThrows(
                IllegalArgumentException.class, () -> b.keepAliveTime(Duration.ofSeconds(-3))))
        .hasMessageThat()
        .isEqualTo("keepAliveTime: PT-3S (expected: >= 0)");
    assertThat(
            assertThrows(IllegalArgumentException.class, () -> b.keepAliveTimeout(Duration.ZERO)))
        .hasMessageThat()
        .isEqualTo("keepAliveTimeout: PT0S (expected: > 0)");
    assertThat(
            assertThrows(
                IllegalArgumentException.class, () -> b.certificate(new byte[0], new byte[1])))
        .hasMessageThat()
        .isEqualTo("certChainPem: empty (expected: PEM bytes)");
  }

  @Test
  void build_bothGrpcListenersDisabled_throws() {
    IllegalStateException e =
        assertThrows(
            IllegalStateException.class,
            () -> CalloutServerConfig.newBuilder().disableTls().disablePlaintext().build());
    assertThat(e)
        .hasMessageThat()
        .isEqualTo("both gRPC listeners are disabled (expected: TLS, plaintext or both)");
  }

  @Test
  void build_clientCaWithoutTls_throws() {
    IllegalStateException e =
        assertThrows(
            IllegalStateException.class,
            () ->
                CalloutServerConfig.newBuilder()
                    .disableTls()
                    .clientCaPath(Path.of("ca.pem"))
                    .build());
    assertThat(e)
        .hasMessageThat()
        .isEqualTo("a client CA needs the TLS listener (TLS is disabled)");
  }

  @Test
  void build_secureHealthCheckInCombinedMode_throws() {
    IllegalStateException e =
        assertThrows(
            IllegalStateException.class,
            () ->
                CalloutServerConfig.newBuilder()
                    .combinedHealthCheck()
                    .secureHealthCheck(true)
                    .build());
    assertThat(e)
        .hasMessageThat()
        .isEqualTo("secure health check needs the HTTP health listener (not combined mode)");
  }

  @Test
  void build_sharedPort_throwsUnlessPortZeroOrDistinctHosts() {
    IllegalStateException e =
        assertThrows(
            IllegalStateException.class,
            () -> CalloutServerConfig.newBuilder().healthCheckAddress("127.0.0.1:8080").build());
    assertThat(e)
        .hasMessageThat()
        .isEqualTo("plaintext and health check listeners both use port 8080");

    CalloutServerConfig.newBuilder()
        .secureAddress("127.0.0.1:0")
        .plaintextAddress("127.0.0.1:0")
        .healthCheckAddress("127.0.0.1:0")
        .build();
    CalloutServerConfig.newBuilder()
        .secureAddress("127.0.0.1:7000")
        .plaintextAddress("127.0.0.2:7000")
        .build();
  }

  @Test
  void toString_showsEffectiveValuesButNoKeyMaterial() {
    String shown =
        CalloutServerConfig.newBuilder()
            .certificate(
                "-----BEGIN CERTIFICATE-----".getBytes(StandardCharsets.US_ASCII),
                "-----BEGIN PRIVATE KEY-----SECRET".getBytes(StandardCharsets.US_ASCII))
            .combinedHealthCheck()
            .build()
            .toString();

    assertThat(shown).contains("secureAddress=0.0.0.0:8443");
    assertThat(shown).contains("healthCheckAddress=combined");
    assertThat(shown).contains("certificate=PEM bytes");
    assertThat(shown).doesNotContain("SECRET");
    assertThat(CalloutServerConfig.defaults().toString())
        .contains("certificate=ephemeral self-signed");
  }
}
