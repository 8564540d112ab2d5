package dev.extproc.callout.samples;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.headers;

import dev.extproc.callout.CalloutTools;
import dev.extproc.callout.testing.CalloutTester;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.TlsChannelCredentials;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Runs {@code java -jar target/callout-server.jar} with no flags, as the quick start and the
 * container image do, and talks to it on the default ports 8000, 8080 and 8443.
 */
class RunnableJarIT {

  private static final int HEALTH = 8000;
  private static final int PLAINTEXT = 8080;
  private static final int SECURE = 8443;

  private @Nullable Process process;
  private final Path log = Path.of("target", "runnable-jar-it-" + System.nanoTime() + ".log");

  @AfterEach
  void stop() {
    Process running = process;
    if (running != null && running.isAlive()) {
      running.destroyForcibly();
    }
  }

  private static void assertPortFree(int port) {
    try (ServerSocket socket = new ServerSocket(port, 1, InetAddress.getByName("0.0.0.0"))) {
      assertThat(socket.getLocalPort()).isEqualTo(port);
    } catch (IOException e) {
      throw new AssertionError("port " + port + " is in use; this test needs the default ports", e);
    }
  }

  private String output() throws IOException {
    return Files.readString(log, StandardCharsets.UTF_8);
  }

  /** Trusts any certificate: the jar serves an ephemeral self-signed one. */
  private static final class TrustAll extends X509ExtendedTrustManager {
    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) {}

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) {}

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) {}

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) {}

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {}

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {}

    @Override
    public X509Certificate[] getAcceptedIssuers() {
      return new X509Certificate[0];
    }
  }

  private static void assertAddHeaderReply(ManagedChannel channel) {
    try {
      CalloutTester.Stream stream = CalloutTester.forChannel(channel).newStream();
      assertThat(stream.requestHeaders(headers(":path", "/", ":authority", "example.com")))
          .isEqualTo(
              ProcessingResponse.newBuilder()
                  .setRequestHeaders(
                      CalloutTools.addHeaderMutation(
                          List.of(Map.entry("header-request", "request")), List.of(), true))
                  .build());
      assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
    } finally {
      channel.shutdownNow();
    }
  }

  @Test
  void javaJar_noFlags_servesAddHeaderOnDefaultPortsAndExitsZeroOnSigterm() throws Exception {
    for (int port : new int[] {HEALTH, PLAINTEXT, SECURE}) {
      assertPortFree(port);
    }
    String jar = System.getProperty("callout.jar", "target/callout-server.jar");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    long started = System.nanoTime();
    Process server =
        new ProcessBuilder(java, "-jar", jar)
            .redirectErrorStream(true)
            .redirectOutput(log.toFile())
            .start();
    process = server;

    HttpClient http = HttpClient.newHttpClient();
    URI health = URI.create("http://127.0.0.1:" + HEALTH + "/");
    int status = 0;
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (status != 200 && System.nanoTime() < deadline && server.isAlive()) {
      try {
        status =
            http.send(HttpRequest.newBuilder(health).build(), HttpResponse.BodyHandlers.ofString())
                .statusCode();
      } catch (IOException notYet) {
        Thread.sleep(20);
      }
    }
    long startupMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
    assertThat(status).isEqualTo(200);
    System.out.println("java -jar to healthy: " + startupMillis + " ms");

    assertAddHeaderReply(
        Grpc.newChannelBuilderForAddress(
                "127.0.0.1", PLAINTEXT, InsecureChannelCredentials.create())
            .build());
    assertAddHeaderReply(
        Grpc.newChannelBuilderForAddress(
                "127.0.0.1",
                SECURE,
                TlsChannelCredentials.newBuilder().trustManager(new TrustAll()).build())
            .overrideAuthority("localhost")
            .build());

    server.destroy(); // SIGTERM
    assertThat(server.waitFor(40, TimeUnit.SECONDS)).isTrue();
    assertThat(server.exitValue()).isEqualTo(0);
    String output = output();
    assertThat(output).contains("AddHeader started");
    assertThat(output).contains("ephemeral self-signed certificate");
    assertThat(output).contains("received SIGTERM: draining");
    assertThat(output).contains("stopped");
  }

  @Test
  void javaJar_badFlag_exitsTwoWithOneLine() throws Exception {
    String jar = System.getProperty("callout.jar", "target/callout-server.jar");
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process launcher =
        new ProcessBuilder(java, "-jar", jar, "--sample", "nope")
            .redirectErrorStream(true)
            .redirectOutput(log.toFile())
            .start();
    process = launcher;

    assertThat(launcher.waitFor(30, TimeUnit.SECONDS)).isTrue();
    assertThat(launcher.exitValue()).isEqualTo(2);
    assertThat(output()).startsWith("callout-server: --sample=nope: unknown sample");
  }
}
