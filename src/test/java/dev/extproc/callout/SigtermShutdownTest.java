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
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * SIGTERM to a callout server process (a child JVM running {@link SlowCallout#main} through {@link
 * CalloutServer#launch}) while streams arrive at a steady rate: what a load balancer sees of the
 * drain, and how the process ends.
 */
class SigtermShutdownTest {

  private static final String PLAINTEXT = "plaintext gRPC (h2c)";
  private static final String HEALTH = "HTTP health check";

  /** The default drain delay, 15 s: the load balancer's view of a real {@code docker stop}. */
  @Test
  void sigterm_underSteadyLoad_servesThroughTheDefaultDrainDelayThenRefusesAndExitsZero()
      throws Exception {
    Duration delay = CalloutServerConfig.DEFAULT_SHUTDOWN_DRAIN_DELAY;
    Duration grace = Duration.ofSeconds(10);
    try (ChildCallout child = ChildCallout.start("--shutdown-grace-period", "10s");
        ShutdownUnderLoad scenario =
            new ShutdownUnderLoad(child.awaitListening(PLAINTEXT), child.awaitListening(HEALTH))) {

      scenario.run(child::sigterm, child::awaitExit, delay.plus(grace).plusSeconds(5));

      System.out.println("SIGTERM to exit: " + scenario.drainMillis() + " ms");
      assertWithMessage("exit code; output:\n%s", child.text()).that(child.exitCode()).isEqualTo(0);
      assertThat(scenario.drainMillis()).isAtLeast(delay.toMillis());
      assertThat(scenario.drainMillis()).isLessThan(delay.plus(grace).toMillis());
      scenario.assertNoStreamLost();
      scenario.assertHealthTurnedBeforeTheListenersStopped();
      scenario.assertServedThroughTheDelay(delay);
      assertThat(child.text()).contains("received SIGTERM: draining");
      assertThat(child.text()).contains("still accepting streams for PT15S (drain delay)");
      assertThat(child.text()).contains("stopped");
    }
  }

  @Test
  void sigterm_streamStillOpenWhenGracePeriodEnds_isCancelledAndProcessExitsZeroPromptly()
      throws Exception {
    Duration grace = Duration.ofMillis(500);
    try (ChildCallout child =
        ChildCallout.start("--shutdown-drain-delay", "0s", "--shutdown-grace-period", "500ms")) {
      InetSocketAddress address = child.awaitListening(PLAINTEXT);
      ManagedChannel channel =
          Grpc.newChannelBuilderForAddress(
                  "127.0.0.1", address.getPort(), InsecureChannelCredentials.create())
              .build();
      try {
        CalloutTester.Stream held = CalloutTester.forChannel(channel).newStream();
        held.send(
            ProcessingRequest.newBuilder()
                .setRequestHeaders(headers(SlowCallout.UNTIL_CANCELLED, "1"))
                .build());
        assertThat(child.awaitLine(SlowCallout.HOOK_HOLDS, Duration.ofSeconds(10))).isTrue();

        long start = System.nanoTime();
        child.sigterm();
        assertThat(child.awaitExit(grace.plusSeconds(10))).isTrue();
        long exitMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);

        System.out.println("SIGTERM to exit with a stream held past a 500 ms grace: " + exitMillis);
        assertWithMessage("exit code; output:\n%s", child.text())
            .that(child.exitCode())
            .isEqualTo(0);
        assertThat(exitMillis).isAtLeast(grace.toMillis());
        assertThat(exitMillis).isLessThan(grace.toMillis() + 3_000);
        assertThat(child.text()).contains(SlowCallout.HOOK_SAW_CANCEL);
        assertThat(child.text()).contains(SlowCallout.STREAM_ENDED + Status.Code.CANCELLED);
        assertThat(held.awaitClose().getCode()).isEqualTo(Status.Code.CANCELLED);
        assertThat(held.received()).isEmpty();
      } finally {
        channel.shutdownNow();
      }
    }
  }
}
