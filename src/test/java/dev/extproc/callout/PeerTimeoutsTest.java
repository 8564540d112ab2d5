package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;

import dev.extproc.callout.testing.CalloutTester;
import dev.extproc.callout.testing.TrustAllCertificates;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.TlsChannelCredentials;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Peers that stop talking: a client that vanishes without closing its connection, and TLS
 * handshakes that never finish. Both wait on timers with a floor of 10 s in grpc-java and Netty,
 * which makes this class slow (about 25 s); the other fault tests are in {@link NetworkFaultsTest}.
 */
class PeerTimeoutsTest {

  private final List<AutoCloseable> cleanup = new ArrayList<>();

  @AfterEach
  void cleanUp() throws Exception {
    for (int i = cleanup.size() - 1; i >= 0; i--) {
      cleanup.get(i).close();
    }
  }

  private FaultServer started(CalloutServerConfig config) throws IOException {
    FaultServer server = FaultServer.start(config);
    cleanup.add(server::stop);
    server.assertServesNewStreams();
    return server;
  }

  @Test
  void clientVanishesWithoutClosing_keepalivePingUnansweredEndsItsStreams() throws Exception {
    // grpc-java raises a server keepalive time below 10 s to 10 s.
    FaultServer server =
        started(
            FaultServer.loopback()
                .disableTls()
                .combinedHealthCheck()
                .keepAliveTime(Duration.ofSeconds(10))
                .keepAliveTimeout(Duration.ofMillis(200))
                .build());
    TcpProxy proxy = new TcpProxy(server.plaintextAddress().orElseThrow());
    cleanup.add(proxy);
    FaultServer.Baseline baseline = server.baseline();
    ManagedChannel channel = server.channel(proxy.address(), InsecureChannelCredentials.create());
    List<CalloutTester.Stream> streams = new ArrayList<>();
    for (int i = 0; i < 2; i++) {
      streams.add(FaultServer.openStream(channel));
    }

    long start = System.nanoTime();
    proxy.blackHole(); // nothing passes any more, nothing is closed
    FaultServer.awaitTrue(
        () -> server.endings().size() == 3,
        Duration.ofSeconds(20),
        () -> "ends " + server.endings());
    Duration detected = Duration.ofNanos(System.nanoTime() - start);

    assertThat(server.endings())
        .containsExactly(Status.Code.OK, Status.Code.CANCELLED, Status.Code.CANCELLED)
        .inOrder();
    // The ping goes out 10 s after the last frame from the client; 200 ms later, the close.
    assertThat(detected).isAtLeast(Duration.ofSeconds(9));
    assertThat(detected).isLessThan(Duration.ofSeconds(14));
    proxy.close(); // only now does the client learn that its connection is gone
    for (CalloutTester.Stream stream : streams) {
      assertThat(stream.awaitClose().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    }
    channel.shutdownNow();
    server.assertBackTo(baseline);
    server.assertServesNewStreams();
  }

  /** Connects to {@code address} and sends {@code bytes} (perhaps none), then nothing more. */
  private Socket halfOpen(InetSocketAddress address, byte[] bytes) throws IOException {
    Socket socket = new Socket(address.getAddress(), address.getPort());
    cleanup.add(socket);
    socket.getOutputStream().write(bytes);
    socket.getOutputStream().flush();
    return socket;
  }

  @Test
  void halfOpenHandshakes_othersServed_eachClosedByTheHandshakeTimeoutAfter10s() throws Exception {
    FaultServer server = started(FaultServer.loopback().combinedHealthCheck().build());
    FaultServer.Baseline baseline = server.baseline();
    InetSocketAddress tls = server.secureAddress().orElseThrow();
    InetSocketAddress plaintext = server.plaintextAddress().orElseThrow();
    // A TLS record header announcing a 512-byte handshake message, then 2 bytes of it.
    byte[] partialClientHello = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00};
    byte[] halfPreface = java.util.Arrays.copyOf(Http2Frames.PREFACE, 12);
    List<Socket> halfOpen = new ArrayList<>();
    long start = System.nanoTime();
    for (int i = 0; i < 50; i++) {
      halfOpen.add(halfOpen(tls, new byte[0]));
      halfOpen.add(halfOpen(tls, partialClientHello));
    }
    for (int i = 0; i < 10; i++) {
      halfOpen.add(halfOpen(plaintext, new byte[0]));
      halfOpen.add(halfOpen(plaintext, halfPreface));
    }

    // Other TLS clients are served at once.
    ManagedChannel channel =
        server.channel(
            tls,
            TlsChannelCredentials.newBuilder().trustManager(new TrustAllCertificates()).build());
    long served = System.nanoTime();
    assertThat(FaultServer.openStream(channel).halfClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(Duration.ofNanos(System.nanoTime() - served)).isLessThan(Duration.ofSeconds(3));
    channel.shutdownNow();

    // Each half-open connection is closed by the server 10 s after it was accepted.
    assertThat(GrpcListener.HANDSHAKE_TIMEOUT).isEqualTo(Duration.ofSeconds(10));
    for (Socket socket : halfOpen) {
      awaitClosedByServer(socket, Duration.ofSeconds(20));
    }
    Duration closed = Duration.ofNanos(System.nanoTime() - start);
    assertThat(closed).isAtLeast(Duration.ofSeconds(9));
    assertThat(closed).isLessThan(Duration.ofSeconds(14));
    server.assertBackTo(baseline);
    server.assertServesNewStreams();
  }

  private static void awaitClosedByServer(Socket socket, Duration limit) throws IOException {
    socket.setSoTimeout((int) limit.toMillis());
    InputStream in = socket.getInputStream();
    try {
      while (in.read() >= 0) {
        // an alert, if any
      }
    } catch (SocketTimeoutException e) {
      throw new AssertionError("half-open connection still open after " + limit, e);
    } catch (IOException e) {
      // reset: closed too
    }
  }
}
