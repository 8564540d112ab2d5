package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;

import dev.extproc.callout.internal.Clock;
import dev.extproc.callout.testing.CalloutTester;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.grpc.Attributes;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.Status;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The registry of open streams: admission, ids, the single release, and what it feeds. */
final class StreamRegistryTest {

  /** The watchdog's clock, as the server would own it; closed after each test. */
  private final Clock clock = new Clock();

  @AfterEach
  void closeClock() {
    clock.close();
  }

  /** A call that only records how it was closed. */
  private static final class ClosedCall extends ServerCall<Object, Object> {
    final List<Status> closes = new ArrayList<>();

    @Override
    public void request(int numMessages) {}

    @Override
    public void sendHeaders(Metadata headers) {}

    @Override
    public void sendMessage(Object message) {}

    @Override
    public void close(Status status, Metadata trailers) {
      closes.add(status);
    }

    @Override
    public boolean isCancelled() {
      return false;
    }

    @Override
    public Attributes getAttributes() {
      return Attributes.EMPTY;
    }

    @Override
    public MethodDescriptor<Object, Object> getMethodDescriptor() {
      throw new UnsupportedOperationException();
    }
  }

  private static final StreamRegistry.Stream IDLE = (now, deadline) -> {};

  @Test
  void admit_handsOutIncreasingIds_noLimit() {
    StreamRegistry registry = new StreamRegistry(0, Duration.ZERO, clock);
    ClosedCall call = new ClosedCall();

    assertThat(registry.admit(call)).isEqualTo(1);
    assertThat(registry.admit(call)).isEqualTo(2);
    assertThat(registry.admit(call)).isEqualTo(3);
    assertThat(registry.open()).isEqualTo(3);
    assertThat(call.closes).isEmpty();
  }

  @Test
  void admit_overLimit_refusedResourceExhausted_noIdSpent() {
    StreamRegistry registry = new StreamRegistry(2, Duration.ZERO, clock);
    ClosedCall call = new ClosedCall();
    registry.admit(call);
    registry.admit(call);

    assertThat(registry.admit(call)).isEqualTo(0);

    assertThat(registry.open()).isEqualTo(2);
    assertThat(call.closes).hasSize(1);
    assertThat(call.closes.get(0).getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(call.closes.get(0).getDescription())
        .isEqualTo("2 streams already open (--max-concurrent-streams)");
    registry.refund();
    assertThat(registry.admit(call)).isEqualTo(3);
  }

  @Test
  void release_countsOncePerStream() {
    StreamRegistry registry = new StreamRegistry(1, Duration.ZERO, clock);
    registry.admit(new ClosedCall());
    registry.add(IDLE);
    assertThat(registry.streams()).containsExactly(IDLE);

    registry.release(IDLE);
    registry.release(IDLE);

    assertThat(registry.open()).isEqualTo(0);
    assertThat(registry.streams()).isEmpty();
    registry.close();
  }

  /** A callout whose request headers hook waits, ignoring interrupts, until released. */
  private static final class StuckHook extends CalloutServer {
    final CountDownLatch entered = new CountDownLatch(1);
    final CountDownLatch interrupted = new CountDownLatch(1);
    final CountDownLatch release = new CountDownLatch(1);
    final ConcurrentLinkedQueue<Status.Code> endings = new ConcurrentLinkedQueue<>();

    StuckHook() {
      super(CalloutServerConfig.newBuilder().maxConcurrentStreams(1).build());
    }

    @Override
    protected @Nullable HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
      if (!headers.getEndOfStream()) {
        return null;
      }
      entered.countDown();
      boolean done = false;
      while (!done) {
        try {
          done = release.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          interrupted.countDown();
        }
      }
      return null;
    }

    @Override
    protected void onStreamEnd(CalloutContext ctx, Status status) {
      endings.add(status.getCode());
    }
  }

  private static double activeGauge(CalloutServer server) {
    for (MetricSnapshot snapshot : Objects.requireNonNull(server.metrics().registry()).scrape()) {
      if (snapshot.getMetadata().getName().equals("callout_streams_active")) {
        return ((GaugeSnapshot) snapshot).getDataPoints().get(0).getValue();
      }
    }
    throw new AssertionError("no callout_streams_active");
  }

  @Test
  void cancelWhileHookRuns_streamHeldUntilHookReturns_gaugeAndLimitAgree() throws Exception {
    StuckHook server = new StuckHook();
    try (CalloutTester tester = CalloutTester.of(server)) {
      CalloutTester.Stream stuck = tester.newStream();
      stuck.send(
          ProcessingRequest.newBuilder()
              .setRequestHeaders(CalloutTester.headersEndOfStream(":path", "/"))
              .build());
      assertThat(server.entered.await(10, TimeUnit.SECONDS)).isTrue();

      stuck.cancel();
      // The watchdog interrupts the hook of a cancelled stream: the cancel has reached the server.
      assertThat(server.interrupted.await(10, TimeUnit.SECONDS)).isTrue();

      // The hook still holds its thread: the stream still counts, for the limit and the gauge.
      assertThat(server.openStreams()).isEqualTo(1);
      assertThat(activeGauge(server)).isEqualTo(1.0);
      CalloutTester.Stream refused = tester.newStream();
      refused.send(
          ProcessingRequest.newBuilder()
              .setRequestHeaders(CalloutTester.headers(":path", "/"))
              .build());
      assertThat(refused.awaitClose().getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
      assertThat(server.endings).isEmpty();

      server.release.countDown();

      FaultServer.awaitTrue(
          () -> server.openStreams() == 0 && activeGauge(server) == 0.0,
          () -> "open " + server.openStreams() + ", gauge " + activeGauge(server));
      assertThat(server.endings).containsExactly(Status.Code.CANCELLED);
      CalloutTester.Stream next = tester.newStream();
      assertThat(next.requestHeaders(CalloutTester.headers(":path", "/")))
          .isEqualTo(Phase.REQUEST_HEADERS.continueResponse());
      assertThat(next.halfClose().getCode()).isEqualTo(Status.Code.OK);
    } finally {
      server.close();
    }
  }
}
