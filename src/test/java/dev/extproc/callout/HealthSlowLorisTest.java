package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Slow-loris clients on the HTTP health port: many connections that send a request a byte at a time
 * and never finish it must not hold back the answers to real probes.
 */
class HealthSlowLorisTest {

  private static final byte[] NEVER_FINISHED =
      "GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ".getBytes(StandardCharsets.US_ASCII);

  private final List<Socket> slow = new ArrayList<>();
  private @Nullable FaultServer server;

  @AfterEach
  void cleanUp() throws IOException {
    for (Socket socket : slow) {
      socket.close();
    }
    if (server != null) {
      server.stop();
    }
  }

  @Test
  void twoHundredSlowConnections_healthStillAnsweredPromptly() throws Exception {
    FaultServer server = FaultServer.start(FaultServer.loopback().disableTls().build());
    this.server = server;
    InetSocketAddress address = server.healthCheckAddress().orElseThrow();
    URI uri = URI.create("http://127.0.0.1:" + address.getPort() + "/");
    assertThat(probe(uri).statusCode()).isEqualTo(200);

    for (int i = 0; i < 200; i++) {
      Socket socket = new Socket(address.getAddress(), address.getPort());
      slow.add(socket);
      socket.getOutputStream().write(NEVER_FINISHED, 0, 1);
    }

    for (int round = 1; round <= 5; round++) {
      for (Socket socket : slow) { // one more byte each, never the end of the headers
        OutputStream out = socket.getOutputStream();
        out.write(NEVER_FINISHED, round, 1);
        out.flush();
      }
      long start = System.nanoTime();
      HttpResponse<String> answer = probe(uri);
      assertThat(answer.statusCode()).isEqualTo(200);
      assertThat(answer.body()).isEqualTo("SERVING\n");
      assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(2));
    }
    // Meanwhile each slow connection held an exchange thread, blocked reading its request line.
    assertThat(healthThreads()).isAtLeast(200);

    for (Socket socket : slow) {
      socket.close();
    }
    // Their threads are released as soon as they go.
    FaultServer.awaitTrue(
        () -> ThreadCensus.busyPoolThreads() == 0, () -> ThreadCensus.busyPoolThreads() + " busy");
    server.assertServesNewStreams();
  }

  /** A probe as a load balancer sends it: a new connection, at most 2 s for the answer. */
  private static HttpResponse<String> probe(URI uri) throws Exception {
    return HttpClient.newBuilder()
        .version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(2))
        .build()
        .send(
            HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(2)).build(),
            HttpResponse.BodyHandlers.ofString());
  }

  private static int healthThreads() {
    int count = 0;
    for (Thread thread : Thread.getAllStackTraces().keySet()) {
      if (thread.isAlive() && thread.getName().matches("callout-health-[0-9]+")) {
        count++;
      }
    }
    return count;
  }
}
