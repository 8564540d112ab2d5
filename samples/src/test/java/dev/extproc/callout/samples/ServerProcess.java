package dev.extproc.callout.samples;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.headers;

import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.CalloutTools;
import dev.extproc.callout.testing.CalloutTester;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The callout server run as a process of its own on the default ports, the way a user's {@code java
 * -jar} or the container image runs it; for the integration tests.
 */
final class ServerProcess implements AutoCloseable {

  static final int HEALTH = port(CalloutServerConfig.DEFAULT_HEALTH_CHECK_ADDRESS);
  static final int PLAINTEXT = port(CalloutServerConfig.DEFAULT_PLAINTEXT_ADDRESS);
  static final int SECURE = port(CalloutServerConfig.DEFAULT_SECURE_ADDRESS);

  private final Process process;
  private final Path log;

  private ServerProcess(Process process, Path log) {
    this.process = process;
    this.log = log;
  }

  static int port(String address) {
    return Integer.parseInt(address.substring(address.lastIndexOf(':') + 1));
  }

  /** Fails with a clear message when a default port is taken (these tests need all three). */
  static void assertDefaultPortsFree() {
    for (int port : new int[] {HEALTH, PLAINTEXT, SECURE}) {
      try (ServerSocket socket = new ServerSocket(port, 1, InetAddress.getByName("0.0.0.0"))) {
        assertThat(socket.getLocalPort()).isEqualTo(port);
      } catch (IOException e) {
        throw new AssertionError(
            "port " + port + " is in use; this test needs the default ports 8000, 8080 and 8443",
            e);
      }
    }
  }

  /** Starts {@code builder}'s command with its output (both streams) in {@code log}. */
  static ServerProcess start(ProcessBuilder builder, Path log) throws IOException {
    System.out.println("starting " + builder.command());
    return new ServerProcess(
        builder.redirectErrorStream(true).redirectOutput(log.toFile()).start(), log);
  }

  /**
   * Starts {@code builder}'s command with its standard output alone in {@code log} (what the server
   * logs), and standard error, where the JVM itself writes its warnings, beside it.
   */
  static ServerProcess startWithStderrApart(ProcessBuilder builder, Path log) throws IOException {
    System.out.println("starting " + builder.command());
    Path stderr = log.resolveSibling(log.getFileName() + ".stderr");
    return new ServerProcess(
        builder.redirectOutput(log.toFile()).redirectError(stderr.toFile()).start(), log);
  }

  /** What the process printed so far. */
  String output() throws IOException {
    return Files.readString(log, StandardCharsets.UTF_8);
  }

  /** Waits up to 30 s for HTTP 200 on the health port; returns the milliseconds it took. */
  long awaitHealthy(long startedNanos) throws Exception {
    HttpClient http = HttpClient.newHttpClient();
    URI health = URI.create("http://127.0.0.1:" + HEALTH + "/");
    int status = 0;
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (status != 200 && System.nanoTime() < deadline && process.isAlive()) {
      try {
        status =
            http.send(HttpRequest.newBuilder(health).build(), HttpResponse.BodyHandlers.ofString())
                .statusCode();
      } catch (IOException notYet) {
        Thread.sleep(20);
      }
    }
    assertWithMessage("health on port %s; server output:\n%s", HEALTH, output())
        .that(status)
        .isEqualTo(200);
    return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startedNanos);
  }

  /** Sends SIGTERM, as {@code docker stop} and Kubernetes do, and expects exit 0 within 40 s. */
  void sigtermAndAssertExitZero() throws Exception {
    process.destroy();
    assertWithMessage("exited within 40 s of SIGTERM")
        .that(process.waitFor(40, TimeUnit.SECONDS))
        .isTrue();
    assertWithMessage("exit code; server output:\n%s", output())
        .that(process.exitValue())
        .isEqualTo(0);
  }

  /** Waits up to 30 s for the process to exit on its own and returns its exit code. */
  int awaitExit() throws Exception {
    assertWithMessage("exited within 30 s").that(process.waitFor(30, TimeUnit.SECONDS)).isTrue();
    return process.exitValue();
  }

  /** Checks the add-header sample's request-headers reply over {@code channel}, then closes it. */
  static void assertAddHeaderReply(ManagedChannel channel) {
    try {
      CalloutTester.Stream stream = CalloutTester.forChannel(channel).newStream();
      assertThat(stream.requestHeaders(headers(":path", "/", ":authority", "example.com")))
          .isEqualTo(
              ProcessingResponse.newBuilder()
                  .setRequestHeaders(
                      CalloutTools.clearRouteCache(
                          CalloutTools.addHeaderMutation(
                              List.of(Map.entry("header-request", "request")))))
                  .build());
      assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
    } finally {
      channel.shutdownNow();
    }
  }

  @Override
  public void close() {
    if (process.isAlive()) {
      process.destroyForcibly();
    }
  }
}
