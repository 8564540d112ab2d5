package dev.extproc.callout.internal;

import static com.google.common.truth.Truth.assertThat;

import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class CommandLineTest {

  private final ByteArrayOutputStream out = new ByteArrayOutputStream();
  private final ByteArrayOutputStream err = new ByteArrayOutputStream();
  private final AtomicReference<CalloutServerConfig> built = new AtomicReference<>();

  private int run(String... args) {
    return new CommandLine("java -jar callout-server.jar")
        .run(
            args,
            Map.of(),
            new PrintStream(out, true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8),
            parsed -> {
              built.set(parsed.config());
              return new CalloutServer(parsed.config()) {};
            });
  }

  @Test
  void help_printsUsageAndExitsZero() {
    assertThat(run("--help")).isEqualTo(0);
    assertThat(out.toString(StandardCharsets.UTF_8))
        .startsWith("Usage: java -jar callout-server.jar [flags]");
    assertThat(out.toString(StandardCharsets.UTF_8)).contains("--plaintext-address HOST:PORT");
    assertThat(built.get()).isNull();
  }

  @Test
  void badFlag_printsOneLineNamingItAndExitsTwo() {
    assertThat(run("--plaintext-address", "nope")).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8))
        .isEqualTo(
            "callout-server: --plaintext-address=nope: address: nope (expected: HOST:PORT,"
                + " [IPv6]:PORT)"
                + System.lineSeparator());
    assertThat(built.get()).isNull();
  }

  @Test
  void contradictoryFlags_exitTwo() {
    assertThat(run("--disable-tls", "--disable-plaintext")).isEqualTo(2);
    assertThat(err.toString(StandardCharsets.UTF_8)).contains("both gRPC listeners are disabled");
  }

  @Test
  void startFailure_exitsOneWithTheReason() throws Exception {
    try (ServerSocket busy = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      int port = busy.getLocalPort();
      assertThat(
              run(
                  "--disable-tls",
                  "--combined-health-check",
                  "--plaintext-address",
                  "127.0.0.1:" + port))
          .isEqualTo(1);
      assertThat(err.toString(StandardCharsets.UTF_8))
          .startsWith(
              "callout-server: cannot start: cannot bind the plaintext gRPC listener to 127.0.0.1:"
                  + port);
    }
  }
}
