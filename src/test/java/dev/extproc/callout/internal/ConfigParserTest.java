package dev.extproc.callout.internal;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.CalloutServerConfig.HookExecutor;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ConfigParserTest {

  private static CalloutServerConfig parse(Map<String, String> env, String... args) {
    return CalloutServerConfig.fromArgs(args, env);
  }

  private static String error(Map<String, String> env, String... args) {
    return String.valueOf(
        assertThrows(IllegalArgumentException.class, () -> parse(env, args)).getMessage());
  }

  @Test
  void noFlagsNoEnv_givesDefaults() {
    assertThat(parse(Map.of()).toString()).isEqualTo(CalloutServerConfig.defaults().toString());
  }

  @Test
  void everyFlag_reachesTheConfig() {
    CalloutServerConfig config =
        parse(
            Map.of(),
            "--secure-address",
            "127.0.0.1:9443",
            "--plaintext-address=127.0.0.1:9080",
            "--health-check-address",
            "127.0.0.1:9000",
            "--secure-health-check",
            "--cert-chain-path",
            "/certs/chain.pem",
            "--private-key-path",
            "/certs/key.pem",
            "--client-ca-path",
            "/certs/ca.pem",
            "--max-inbound-message-size",
            "2MiB",
            "--max-concurrent-streams",
            "100",
            "--max-buffered-body-size",
            "1MiB",
            "--streamed-chunk-size",
            "16KiB",
            "--permit-keepalive-time",
            "5s",
            "--keepalive-time",
            "45s",
            "--keepalive-timeout",
            "3s",
            "--hook-executor",
            "inline",
            "--header-mutation-policy",
            "drop",
            "--header-mutation-profile",
            "service-extensions-traffic",
            "--allow-header-mutation",
            ":Authority,x-envoy*",
            "--hook-threads",
            "8",
            "--shutdown-drain-delay",
            "250ms",
            "--shutdown-grace-period",
            "1500ms");

    assertThat(config.secureAddress())
        .hasValue(InetSocketAddress.createUnresolved("127.0.0.1", 9443));
    assertThat(config.plaintextAddress())
        .hasValue(InetSocketAddress.createUnresolved("127.0.0.1", 9080));
    assertThat(config.healthCheckAddress())
        .hasValue(InetSocketAddress.createUnresolved("127.0.0.1", 9000));
    assertThat(config.isSecureHealthCheck()).isTrue();
    assertThat(config.certChainPath()).hasValue(Path.of("/certs/chain.pem"));
    assertThat(config.privateKeyPath()).hasValue(Path.of("/certs/key.pem"));
    assertThat(config.clientCaPath()).hasValue(Path.of("/certs/ca.pem"));
    assertThat(config.maxInboundMessageSize()).isEqualTo(2 * 1024 * 1024);
    assertThat(config.maxConcurrentStreams()).isEqualTo(100);
    assertThat(config.maxBufferedBodySize()).isEqualTo(1024 * 1024);
    assertThat(config.streamedChunkSize()).isEqualTo(16 * 1024);
    assertThat(config.permitKeepAliveTime()).isEqualTo(Duration.ofSeconds(5));
    assertThat(config.keepAliveTime()).isEqualTo(Duration.ofSeconds(45));
    assertThat(config.keepAliveTimeout()).isEqualTo(Duration.ofSeconds(3));
    assertThat(config.hookExecutor()).isEqualTo(HookExecutor.INLINE);
    assertThat(config.mutationPolicy())
        .isEqualTo(dev.extproc.callout.CalloutServerConfig.MutationPolicy.DROP);
    assertThat(config.mutationProfile())
        .isEqualTo(
            dev.extproc.callout.CalloutServerConfig.MutationProfile.SERVICE_EXTENSIONS_TRAFFIC);
    assertThat(config.allowedMutationHeaders()).containsExactly(":authority", "x-envoy*");
    assertThat(config.hookThreads()).isEqualTo(8);
    assertThat(config.shutdownDrainDelay()).isEqualTo(Duration.ofMillis(250));
    assertThat(config.shutdownGracePeriod()).isEqualTo(Duration.ofMillis(1500));
  }

  @Test
  void switches_disableListeners() {
    CalloutServerConfig config = parse(Map.of(), "--disable-tls", "--combined-health-check");

    assertThat(config.secureAddress()).isEmpty();
    assertThat(config.healthCheckAddress()).isEmpty();
    assertThat(config.plaintextAddress()).isPresent();
    assertThat(parse(Map.of(), "--disable-plaintext").plaintextAddress()).isEmpty();
    assertThat(config.isMetricsEnabled()).isTrue();
    assertThat(parse(Map.of(), "--disable-metrics").isMetricsEnabled()).isFalse();
    assertThat(parse(Map.of("CALLOUT_DISABLE_METRICS", "true")).isMetricsEnabled()).isFalse();
    assertThat(
            parse(Map.of("CALLOUT_DISABLE_METRICS", "true"), "--disable-metrics=false")
                .isMetricsEnabled())
        .isTrue();
  }

  @Test
  void env_isReadAndFlagsWin() {
    Map<String, String> env =
        Map.of(
            "CALLOUT_PLAINTEXT_ADDRESS", "127.0.0.1:1111",
            "CALLOUT_HOOK_THREADS", "3",
            "CALLOUT_DISABLE_TLS", "true",
            "CALLOUT_SECURE_HEALTH_CHECK", "0",
            "UNRELATED", "ignored");

    CalloutServerConfig fromEnv = parse(env);
    assertThat(fromEnv.plaintextAddress())
        .hasValue(InetSocketAddress.createUnresolved("127.0.0.1", 1111));
    assertThat(fromEnv.hookThreads()).isEqualTo(3);
    assertThat(fromEnv.secureAddress()).isEmpty();

    CalloutServerConfig flagsWin =
        parse(env, "--plaintext-address", "127.0.0.1:2222", "--disable-tls=false");
    assertThat(flagsWin.plaintextAddress())
        .hasValue(InetSocketAddress.createUnresolved("127.0.0.1", 2222));
    assertThat(flagsWin.secureAddress()).isPresent();
    assertThat(flagsWin.hookThreads()).isEqualTo(3);
  }

  @Test
  void certificateFromEnvAndFlag_combine() {
    CalloutServerConfig config =
        parse(Map.of("CALLOUT_CERT_CHAIN_PATH", "/a.pem"), "--private-key-path", "/b.pem");

    assertThat(config.certChainPath()).hasValue(Path.of("/a.pem"));
    assertThat(config.privateKeyPath()).hasValue(Path.of("/b.pem"));
  }

  @Test
  void errors_nameTheFlagOrVariable() {
    assertThat(error(Map.of(), "--bogus")).isEqualTo("unknown flag: --bogus (see --help)");
    assertThat(error(Map.of(), "extra")).isEqualTo("unknown flag: extra (see --help)");
    assertThat(error(Map.of(), "--plaintext-address"))
        .isEqualTo("--plaintext-address: missing value (expected: --plaintext-address HOST:PORT)");
    assertThat(error(Map.of(), "--plaintext-address", "nope"))
        .isEqualTo("--plaintext-address=nope: address: nope (expected: HOST:PORT, [IPv6]:PORT)");
    assertThat(error(Map.of(), "--hook-threads", "many"))
        .isEqualTo("--hook-threads=many: not an integer");
    assertThat(error(Map.of(), "--hook-threads", "0"))
        .isEqualTo("--hook-threads=0: hookThreads: 0 (expected: > 0)");
    assertThat(error(Map.of(), "--hook-executor", "fast"))
        .isEqualTo("--hook-executor=fast: unknown value (expected: pool, virtual, inline)");
    assertThat(error(Map.of(), "--header-mutation-policy", "warn"))
        .isEqualTo("--header-mutation-policy=warn: unknown value (expected: reject, drop, off)");
    assertThat(error(Map.of(), "--allow-header-mutation", ":authority,"))
        .isEqualTo("--allow-header-mutation=:authority,: header:  (expected: a header name)");
    assertThat(error(Map.of(), "--shutdown-grace-period", "soon"))
        .isEqualTo("--shutdown-grace-period=soon: not a duration (expected: e.g. 500ms, 30s, 2m)");
    assertThat(error(Map.of(), "--max-inbound-message-size", "big"))
        .isEqualTo("--max-inbound-message-size=big: not a size (expected: BYTES, NKiB or NMiB)");
    assertThat(error(Map.of(), "--max-inbound-message-size", "4096MiB"))
        .isEqualTo("--max-inbound-message-size=4096MiB: too large (expected: < 2GiB)");
    assertThat(error(Map.of(), "--disable-tls=maybe"))
        .isEqualTo("--disable-tls=maybe: not a boolean (expected: true or false)");
    assertThat(error(Map.of("CALLOUT_DISABLE_TLS", "sure")))
        .isEqualTo("CALLOUT_DISABLE_TLS=sure: not a boolean (expected: true or false)");
    assertThat(error(Map.of("CALLOUT_HOOK_THREADS", "-1")))
        .isEqualTo("CALLOUT_HOOK_THREADS=-1: hookThreads: -1 (expected: > 0)");
    assertThat(error(Map.of(), "--cert-chain-path", "/a.pem"))
        .isEqualTo(
            "--cert-chain-path is set but --private-key-path is not (expected: both or neither)");
    assertThat(error(Map.of("CALLOUT_PRIVATE_KEY_PATH", "/k.pem")))
        .isEqualTo(
            "CALLOUT_PRIVATE_KEY_PATH is set but --cert-chain-path is not (expected: both or"
                + " neither)");
  }

  @Test
  void crossFieldErrors_areIllegalState() {
    IllegalStateException e =
        assertThrows(
            IllegalStateException.class,
            () -> parse(Map.of(), "--disable-tls", "--disable-plaintext"));
    assertThat(e).hasMessageThat().contains("both gRPC listeners are disabled");
  }

  @Test
  void usage_listsEveryFlagWithEnvAndDefault() {
    String usage = ConfigParser.usage();

    for (String flag :
        new String[] {
          "--secure-address HOST:PORT",
          "--plaintext-address HOST:PORT",
          "--health-check-address HOST:PORT",
          "--disable-tls",
          "--disable-plaintext",
          "--combined-health-check",
          "--secure-health-check",
          "--disable-metrics",
          "--cert-chain-path PATH",
          "--private-key-path PATH",
          "--client-ca-path PATH",
          "--certificate-refresh-interval DURATION",
          "--max-inbound-message-size BYTES",
          "--max-concurrent-streams N",
          "--max-buffered-body-size BYTES",
          "--streamed-chunk-size BYTES",
          "--permit-keepalive-time DURATION",
          "--keepalive-time DURATION",
          "--keepalive-timeout DURATION",
          "--hook-executor pool|virtual|inline",
          "--header-mutation-policy reject|drop|off",
          "--header-mutation-profile envoy|service-extensions|service-extensions-traffic",
          "--allow-header-mutation NAME[,NAME...]",
          "--hook-threads N",
          "--shutdown-grace-period DURATION",
          "--help"
        }) {
      assertThat(usage).contains("  " + flag + " ");
    }
    assertThat(usage).contains("(env CALLOUT_SECURE_ADDRESS; default 0.0.0.0:8443)");
    assertThat(usage).contains("(env CALLOUT_DISABLE_PLAINTEXT; default off)");
  }

  @Test
  void readme_flagTable_listsEveryFlagWithItsVariable() throws Exception {
    String readme = java.nio.file.Files.readString(java.nio.file.Path.of("README.md"));
    java.util.regex.Matcher flag =
        java.util.regex.Pattern.compile("^  (--[a-z-]+)", java.util.regex.Pattern.MULTILINE)
            .matcher(ConfigParser.usage());
    int flags = 0;
    while (flag.find()) {
      String name = flag.group(1);
      if (name.equals("--help")) {
        continue;
      }
      flags++;
      String env = "CALLOUT_" + name.substring(2).replace('-', '_').toUpperCase(Locale.ROOT);
      assertThat(readme).contains("| `" + name);
      assertThat(readme).contains("| `" + env + "` |");
    }
    assertThat(flags).isAtLeast(18);
  }

  @Test
  void durations_parseUnitsAndIso() {
    assertThat(Durations.parse("250ms")).isEqualTo(Duration.ofMillis(250));
    assertThat(Durations.parse("2m")).isEqualTo(Duration.ofMinutes(2));
    assertThat(Durations.parse("1h")).isEqualTo(Duration.ofHours(1));
    assertThat(Durations.parse("PT0.5S")).isEqualTo(Duration.ofMillis(500));
    assertThat(assertThrows(IllegalArgumentException.class, () -> Durations.parse("-1s")))
        .hasMessageThat()
        .isEqualTo("negative duration (expected: >= 0)");
  }
}
