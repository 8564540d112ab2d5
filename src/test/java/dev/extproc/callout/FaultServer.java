package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.headers;

import dev.extproc.callout.testing.CalloutTester;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * A callout for fault tests, started on loopback ports: it answers request headers with one known
 * mutation, counts {@code onStreamStart} and {@code onStreamEnd} and records each end status, and
 * checks that after a fault everything is back to where it was.
 */
final class FaultServer extends CalloutServer {

  /** The reply to every {@code request_headers}. */
  static final ProcessingResponse REPLY =
      ProcessingResponse.newBuilder()
          .setRequestHeaders(
              CalloutTools.addHeaderMutation(List.of(Map.entry("x-fault-test", "ok")), List.of()))
          .build();

  private final AtomicInteger started = new AtomicInteger();
  private final AtomicInteger ended = new AtomicInteger();
  private final List<Status.Code> endings = Collections.synchronizedList(new ArrayList<>());
  private final Set<SocketAddress> peers = ConcurrentHashMap.newKeySet();
  private final List<ManagedChannel> channels = Collections.synchronizedList(new ArrayList<>());

  private FaultServer(CalloutServerConfig config) {
    super(config);
  }

  /** Loopback listeners on ephemeral ports: plaintext, TLS (ephemeral certificate), health. */
  static CalloutServerConfig.Builder loopback() {
    return CalloutServerConfig.newBuilder()
        .plaintextAddress("127.0.0.1:0")
        .secureAddress("127.0.0.1:0")
        .healthCheckAddress("127.0.0.1:0")
        .shutdownDrainDelay(Duration.ZERO)
        .shutdownGracePeriod(Duration.ZERO);
  }

  /** Starts a server with {@code config}; close it when done. */
  static FaultServer start(CalloutServerConfig config) throws IOException {
    FaultServer server = new FaultServer(config);
    server.start();
    return server;
  }

  @Override
  protected void onStreamStart(CalloutContext ctx) {
    ctx.peerAddress().ifPresent(peers::add);
    started.incrementAndGet();
  }

  @Override
  protected HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
    return REPLY.getRequestHeaders();
  }

  @Override
  protected void onStreamEnd(CalloutContext ctx, Status status) {
    endings.add(status.getCode());
    ended.incrementAndGet();
  }

  /** The status codes {@code onStreamEnd} saw, in order. */
  List<Status.Code> endings() {
    synchronized (endings) {
      return List.copyOf(endings);
    }
  }

  /** The client addresses (one per connection) streams came from. */
  Set<SocketAddress> peers() {
    return Set.copyOf(peers);
  }

  /** A new channel (its own connection) to the plaintext listener, closed with the server. */
  ManagedChannel plaintextChannel() {
    return channel(plaintextAddress().orElseThrow(), InsecureChannelCredentials.create());
  }

  /** A new channel to {@code address}, closed with the server; callbacks on the network thread. */
  ManagedChannel channel(InetSocketAddress address, ChannelCredentials credentials) {
    ManagedChannel channel =
        Grpc.newChannelBuilderForAddress(address.getHostString(), address.getPort(), credentials)
            .overrideAuthority("localhost")
            .directExecutor()
            .build();
    channels.add(channel);
    return channel;
  }

  /** Opens a stream on {@code channel}, sends request headers and checks the exact reply. */
  static CalloutTester.Stream openStream(ManagedChannel channel) {
    CalloutTester.Stream stream = CalloutTester.forChannel(channel).newStream();
    assertThat(stream.requestHeaders(headers(":path", "/"))).isEqualTo(REPLY);
    return stream;
  }

  /** A normal stream on a new connection gets its reply and closes OK. */
  void assertServesNewStreams() {
    CalloutTester.Stream stream = openStream(plaintextChannel());
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
  }

  /** What {@link #assertBackTo} compares with. */
  record Baseline(int threads) {}

  /** Takes the baseline; call it after a first normal stream, so lazy start-up work is done. */
  Baseline baseline() {
    return new Baseline(ThreadCensus.otherThreads());
  }

  /**
   * Waits (up to 10 s) until no stream is open, every started stream has ended, no pool thread is
   * busy and no more threads are alive than at {@code baseline}.
   */
  void assertBackTo(Baseline baseline) {
    awaitTrue(
        () ->
            openStreams() == 0
                && started.get() == ended.get()
                && ThreadCensus.busyPoolThreads() == 0
                && ThreadCensus.otherThreads() <= baseline.threads(),
        () ->
            "open streams "
                + openStreams()
                + ", onStreamStart "
                + started.get()
                + " vs onStreamEnd "
                + ended.get()
                + ", busy pool threads "
                + ThreadCensus.busyPoolThreads()
                + ", threads "
                + ThreadCensus.otherThreads()
                + " vs baseline "
                + baseline.threads()
                + ThreadCensus.describe());
  }

  /** Polls {@code condition} every 10 ms for up to 10 s, failing with {@code state}. */
  static void awaitTrue(BooleanSupplier condition, Supplier<String> state) {
    awaitTrue(condition, Duration.ofSeconds(10), state);
  }

  /** Polls {@code condition} every 10 ms for up to {@code limit}, failing with {@code state}. */
  static void awaitTrue(BooleanSupplier condition, Duration limit, Supplier<String> state) {
    long deadline = System.nanoTime() + limit.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("still not so after " + limit + ": " + state.get());
      }
      try {
        Thread.sleep(10);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted", e);
      }
    }
  }

  /** Sends one request headers message without waiting for the reply. */
  static ProcessingRequest requestHeaders() {
    return ProcessingRequest.newBuilder().setRequestHeaders(headers(":path", "/")).build();
  }

  /** Closes the channels, then the server. */
  void stop() {
    synchronized (channels) {
      channels.forEach(ManagedChannel::shutdownNow);
    }
    close();
  }
}
