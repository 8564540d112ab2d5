package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;
import static dev.extproc.callout.testing.CalloutTester.headers;

import dev.extproc.callout.testing.CalloutTester;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * {@link CalloutServer#close()} on a server in this JVM, on real sockets, while streams arrive at a
 * steady rate: what a load balancer sees of the drain.
 */
class GracefulShutdownTest {

  private static final Duration GRACE = Duration.ofSeconds(10);

  private final List<AutoCloseable> cleanup = new ArrayList<>();
  private final BlockingQueue<String> events = new LinkedBlockingQueue<>();

  @AfterEach
  void cleanUp() throws Exception {
    for (int i = cleanup.size() - 1; i >= 0; i--) {
      cleanup.get(i).close();
    }
  }

  private static CalloutServerConfig.Builder loopback() {
    return CalloutServerConfig.newBuilder()
        .plaintextAddress("127.0.0.1:0")
        .healthCheckAddress("127.0.0.1:0")
        .disableTls()
        .shutdownDrainDelay(Duration.ZERO);
  }

  private SlowCallout started(CalloutServerConfig config) throws Exception {
    SlowCallout server = new SlowCallout(config, events::add);
    server.start();
    cleanup.add(server);
    return server;
  }

  private ManagedChannel channel(CalloutServer server) {
    ManagedChannel channel =
        Grpc.newChannelBuilderForAddress(
                "127.0.0.1",
                server.plaintextAddress().orElseThrow().getPort(),
                InsecureChannelCredentials.create())
            .build();
    cleanup.add(channel::shutdownNow);
    return channel;
  }

  /** Closes {@code server} on another thread while the scenario watches; returns the scenario. */
  private ShutdownUnderLoad closeUnderLoad(SlowCallout server) throws Exception {
    ShutdownUnderLoad scenario =
        new ShutdownUnderLoad(
            server.plaintextAddress().orElseThrow(), server.healthCheckAddress().orElseThrow());
    cleanup.add(scenario);
    List<CompletableFuture<Void>> closing = new ArrayList<>();
    scenario.run(
        () -> closing.add(CompletableFuture.runAsync(server::close)),
        timeout -> {
          try {
            closing.get(0).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            return true;
          } catch (TimeoutException e) {
            return false;
          }
        },
        GRACE.plusSeconds(5));
    return scenario;
  }

  @Test
  void close_underSteadyLoad_completesEveryStreamStartedBeforeAndRefusesThoseAfterTheGoaway()
      throws Exception {
    SlowCallout server = started(loopback().shutdownGracePeriod(GRACE).build());

    ShutdownUnderLoad scenario = closeUnderLoad(server);

    scenario.assertNoStreamLost();
    scenario.assertHealthTurnedFirst();
    // The drain lasts as long as the held stream, not the grace period.
    assertThat(scenario.drainMillis()).isAtMost(GRACE.toMillis() / 2);
    assertThat(server.awaitTermination(Duration.ZERO)).isTrue();
  }

  @Test
  void close_underSteadyLoadWithDrainDelay_servesEveryStreamOpenedDuringItAndRefusesOnlyAfter()
      throws Exception {
    Duration delay = Duration.ofSeconds(2);
    SlowCallout server =
        started(loopback().shutdownDrainDelay(delay).shutdownGracePeriod(GRACE).build());

    ShutdownUnderLoad scenario = closeUnderLoad(server);

    scenario.assertNoStreamLost();
    scenario.assertHealthTurnedBeforeTheListenersStopped();
    scenario.assertServedThroughTheDelay(delay);
    assertThat(scenario.drainMillis()).isAtLeast(delay.toMillis());
    assertThat(scenario.drainMillis()).isLessThan(delay.plus(GRACE).toMillis());
  }

  @Test
  void close_healthWatchOpen_endsItInsteadOfWaitingOutTheGracePeriod() throws Exception {
    SlowCallout server = started(loopback().shutdownGracePeriod(GRACE).build());
    HealthProbe probe =
        new HealthProbe(
                URI.create(
                    "http://127.0.0.1:" + server.healthCheckAddress().orElseThrow().getPort()),
                channel(server))
            .start();
    cleanup.add(probe);
    assertThat(probe.await(HealthProbe.WATCH, "SERVING", Duration.ofSeconds(10))).isTrue();

    long start = System.nanoTime();
    server.close();
    long closeMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);

    System.out.println("close() with a health Watch open: " + closeMillis + " ms");
    assertThat(closeMillis).isLessThan(GRACE.toMillis() / 2);
    assertThat(probe.await(HealthProbe.WATCH, "ended UNAVAILABLE", Duration.ofSeconds(5))).isTrue();
    assertThat(probe.answersFrom(HealthProbe.WATCH, start))
        .containsExactly("SERVING", "NOT_SERVING", "ended UNAVAILABLE")
        .inOrder();
  }

  @Test
  void close_streamStillOpenWhenGracePeriodEnds_isCancelledAndOnStreamEndRunsBeforeCloseReturns()
      throws Exception {
    Duration grace = Duration.ofMillis(300);
    SlowCallout server = started(loopback().shutdownGracePeriod(grace).build());
    CalloutTester.Stream held = CalloutTester.forChannel(channel(server)).newStream();
    held.send(
        ProcessingRequest.newBuilder()
            .setRequestHeaders(headers(SlowCallout.UNTIL_CANCELLED, "1"))
            .build());
    assertThat(events.poll(5, TimeUnit.SECONDS)).isEqualTo(SlowCallout.HOOK_HOLDS);

    long start = System.nanoTime();
    server.close();
    long closeMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);

    System.out.println("close() with a stream held past a 300 ms grace: " + closeMillis + " ms");
    assertThat(closeMillis).isAtLeast(grace.toMillis() + SlowCallout.CLEAN_UP_MILLIS);
    assertThat(closeMillis).isLessThan(grace.plusSeconds(3).toMillis());
    // Already there: close() waited for the hook to return and for onStreamEnd.
    assertThat(events.poll()).isEqualTo(SlowCallout.HOOK_SAW_CANCEL);
    assertThat(events.poll()).isEqualTo(SlowCallout.STREAM_ENDED + Status.Code.CANCELLED);
    Status status = held.awaitClose();
    // The server resets the stream (RST_STREAM CANCEL): the proxy's failure mode decides.
    assertWithMessage("what the client saw: %s", status)
        .that(status.getCode())
        .isEqualTo(Status.Code.CANCELLED);
    assertThat(held.received()).isEmpty();
  }
}
