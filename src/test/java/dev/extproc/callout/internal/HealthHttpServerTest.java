package dev.extproc.callout.internal;

import static com.google.common.truth.Truth.assertThat;
import static java.util.Objects.requireNonNull;

import dev.extproc.callout.ThreadCensus;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The health listener's limits on slow requests, with small limits and raw sockets. */
class HealthHttpServerTest {

  private static final byte[] REQUEST =
      "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

  private final List<Socket> sockets = new ArrayList<>();
  private final Clock clock = new Clock();
  private @Nullable HealthHttpServer server;

  @AfterEach
  void stop() throws IOException {
    for (Socket socket : sockets) {
      socket.close();
    }
    if (server != null) {
      server.stop();
    }
    clock.close();
  }

  private InetSocketAddress address() {
    return requireNonNull(server, "server").address();
  }

  private void start(Duration timeLimit, int maxExchanges) throws IOException {
    server =
        HealthHttpServer.start(
            new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
            null,
            () -> true,
            null,
            clock,
            timeLimit,
            maxExchanges);
  }

  private Socket connect() throws IOException {
    Socket socket = new Socket(address().getAddress(), address().getPort());
    sockets.add(socket);
    return socket;
  }

  /** Sends the first {@code bytes} bytes of a request and no more. */
  private Socket slowClient(int bytes) throws IOException {
    Socket socket = connect();
    OutputStream out = socket.getOutputStream();
    out.write(REQUEST, 0, bytes);
    out.flush();
    return socket;
  }

  /** Reads until the server closes; returns what it sent and when it closed, or fails. */
  private static String readUntilClosed(Socket socket, Duration limit, long[] closedAtNanos)
      throws IOException {
    socket.setSoTimeout((int) limit.toMillis());
    InputStream in = socket.getInputStream();
    StringBuilder text = new StringBuilder();
    try {
      for (int b; (b = in.read()) >= 0; ) {
        text.append((char) b);
      }
    } catch (SocketTimeoutException e) {
      throw new AssertionError("still open after " + limit + "; received: " + text, e);
    } catch (IOException e) {
      // reset: closed too
    }
    closedAtNanos[0] = System.nanoTime();
    return text.toString();
  }

  private String get() throws IOException {
    try (Socket socket = new Socket(address().getAddress(), address().getPort())) {
      socket.setSoTimeout(5000);
      OutputStream out = socket.getOutputStream();
      out.write(
          "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
              .getBytes(StandardCharsets.US_ASCII));
      out.flush();
      return new String(socket.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
    }
  }

  private static void awaitBusyThreads(int count) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (ThreadCensus.busyPoolThreads() < count) {
      assertThat(System.nanoTime()).isLessThan(deadline);
      Thread.sleep(10);
    }
  }

  @Test
  void requestNotFinishedWithinTheLimit_connectionClosedThen_threadsServeOthers() throws Exception {
    start(Duration.ofMillis(300), 4);
    long start = System.nanoTime();
    List<Socket> slow = new ArrayList<>();
    for (int i = 0; i < 4; i++) {
      slow.add(slowClient(5));
    }

    long[] closedAt = new long[1];
    for (Socket socket : slow) {
      assertThat(readUntilClosed(socket, Duration.ofSeconds(5), closedAt)).isEmpty();
    }

    Duration closed = Duration.ofNanos(closedAt[0] - start);
    assertThat(closed).isAtLeast(Duration.ofMillis(300));
    assertThat(closed).isLessThan(Duration.ofSeconds(3));
    // The interrupted threads go on serving: none is left with its interrupt flag set.
    for (int i = 0; i < 20; i++) {
      assertThat(get()).startsWith("HTTP/1.1 200 OK\r\n");
    }
  }

  @Test
  void moreSlowRequestsThanMaxExchanges_newConnectionClosedAtOnce_thenServedAgain()
      throws Exception {
    start(Duration.ofSeconds(30), 2);
    slowClient(5);
    slowClient(5);
    awaitBusyThreads(2); // both exchanges have started: the two threads are taken

    Socket third = connect();
    third.getOutputStream().write(REQUEST);
    long start = System.nanoTime();
    long[] closedAt = new long[1];
    String answer = readUntilClosed(third, Duration.ofSeconds(5), closedAt);

    assertThat(answer).isEmpty(); // closed without an answer
    assertThat(Duration.ofNanos(closedAt[0] - start)).isLessThan(Duration.ofSeconds(1));
    for (Socket socket : sockets) {
      socket.close();
    }
    // The two threads come back once they read the closed sockets' end: poll until served.
    assertThat(getOnceCapacityReturns()).startsWith("HTTP/1.1 200 OK\r\n");
  }

  private String getOnceCapacityReturns() throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
    while (true) {
      try {
        String answer = get();
        if (answer.startsWith("HTTP/1.1 200 OK\r\n") || System.nanoTime() > deadline) {
          return answer;
        }
      } catch (java.net.SocketException e) {
        if (System.nanoTime() > deadline) {
          throw e;
        }
      }
      Thread.sleep(20);
    }
  }
}
