package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;

import dev.extproc.callout.SteadyLoad.Tracked;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * One shutdown of a {@link SlowCallout} under steady load, watched from outside the way a load
 * balancer sees it: {@link SteadyLoad} streams on one connection, a {@link HealthProbe} on another,
 * one stream held in flight for {@link #HELD_MILLIS}, and the times of the shutdown and of the
 * stop. The checks are those both shutdown tests make.
 */
final class ShutdownUnderLoad implements AutoCloseable {

  static final int STREAMS_PER_SECOND = 200;
  static final int REQUEST_MILLIS = 2;
  static final int RESPONSE_MILLIS = 50;

  /** How long the response hook of the held stream takes: the drain lasts at least this long. */
  static final int HELD_MILLIS = 800;

  /** How long the load runs before the shutdown, with at least {@link #WARM_UP_STREAMS} done. */
  private static final Duration WARM_UP = Duration.ofSeconds(1);

  private static final int WARM_UP_STREAMS = 20;

  /** Waits for the server to have stopped; returns whether it did within {@code timeout}. */
  interface Stopped {
    boolean await(Duration timeout) throws Exception;
  }

  private final ManagedChannel streamChannel;
  private final ManagedChannel healthChannel;
  private final SteadyLoad load;
  private final HealthProbe probe;
  private long shutdownAt = SteadyLoad.NEVER;
  private long stoppedAt = SteadyLoad.NEVER;

  ShutdownUnderLoad(InetSocketAddress grpc, InetSocketAddress httpHealth) {
    this.streamChannel = channel(grpc);
    this.healthChannel = channel(grpc);
    this.load = new SteadyLoad(streamChannel, STREAMS_PER_SECOND, REQUEST_MILLIS, RESPONSE_MILLIS);
    this.probe =
        new HealthProbe(
            URI.create("http://127.0.0.1:" + httpHealth.getPort() + "/"), healthChannel);
  }

  private static ManagedChannel channel(InetSocketAddress address) {
    return Grpc.newChannelBuilderForAddress(
            "127.0.0.1", address.getPort(), InsecureChannelCredentials.create())
        .build();
  }

  /**
   * Waits for every probe to say SERVING, runs the load until it is steady, holds one stream in its
   * long hook, runs {@code shutdown}, and waits up to {@code limit} for {@code stopped}; then stops
   * the load once the HTTP health listener is gone and checks that no stream hangs.
   */
  void run(Runnable shutdown, Stopped stopped, Duration limit) throws Exception {
    probe.start();
    assertThat(probe.await(HealthProbe.HTTP, "200", Duration.ofSeconds(10))).isTrue();
    assertThat(probe.await(HealthProbe.CHECK, "SERVING", Duration.ofSeconds(10))).isTrue();
    assertThat(probe.await(HealthProbe.WATCH, "SERVING", Duration.ofSeconds(10))).isTrue();

    load.start();
    Thread.sleep(WARM_UP.toMillis());
    long warmUpDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (count(Tracked::completed) < WARM_UP_STREAMS && System.nanoTime() < warmUpDeadline) {
      Thread.sleep(10);
    }
    assertWithMessage("streams completed before the shutdown")
        .that(count(Tracked::completed))
        .isAtLeast(WARM_UP_STREAMS);
    Tracked held = load.openOne(REQUEST_MILLIS, HELD_MILLIS);
    long heldDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (held.firstReply == SteadyLoad.NEVER && System.nanoTime() < heldDeadline) {
      Thread.sleep(1);
    }
    assertWithMessage("the held stream's first reply")
        .that(held.firstReply)
        .isNotEqualTo(SteadyLoad.NEVER);

    shutdownAt = System.nanoTime();
    shutdown.run();
    assertWithMessage("stopped within %s", limit).that(stopped.await(limit)).isTrue();
    stoppedAt = System.nanoTime();

    assertThat(probe.await(HealthProbe.HTTP, "down", Duration.ofSeconds(5))).isTrue();
    load.stopOpening();
    probe.close();
    List<Tracked> hung = load.awaitClosed(Duration.ofSeconds(10));
    assertWithMessage("streams still open 10 s after the stop").that(hung).isEmpty();
    assertWithMessage("the held stream: %s", held).that(held.completed()).isTrue();
    System.out.println(report());
  }

  /** Milliseconds from the shutdown to the stop. */
  long drainMillis() {
    return TimeUnit.NANOSECONDS.toMillis(stoppedAt - shutdownAt);
  }

  /**
   * Every stream whose HEADERS frame was on the wire before the shutdown completed OK with both
   * replies (some of them still in flight at the time); every stream opened after the client saw
   * the GOAWAY was refused UNAVAILABLE without a reply; and every stream did one or the other.
   */
  void assertNoStreamLost() {
    List<Tracked> all = load.streams();
    List<Tracked> startedBefore = filter(all, s -> s.headersWritten < shutdownAt);
    List<Tracked> inFlight = filter(startedBefore, s -> s.closedAt > shutdownAt);
    assertWithMessage("streams in flight at the shutdown").that(inFlight.size()).isAtLeast(3);
    assertWithMessage("streams started before the shutdown that did not complete")
        .that(filter(startedBefore, s -> !s.completed()))
        .isEmpty();

    long goAway = load.leftReady();
    assertWithMessage("the client saw the GOAWAY").that(goAway).isNotEqualTo(SteadyLoad.NEVER);
    List<Tracked> afterGoAway = filter(all, s -> s.opened > goAway);
    assertWithMessage("streams opened after the GOAWAY").that(afterGoAway).isNotEmpty();
    assertWithMessage("streams opened after the GOAWAY that were not refused")
        .that(filter(afterGoAway, s -> !s.refused()))
        .isEmpty();
    assertWithMessage("streams neither completed nor cleanly refused")
        .that(filter(all, s -> !s.completed() && !s.refused()))
        .isEmpty();
  }

  /**
   * From the shutdown on: the HTTP health listener answered 200, then 503 during the drain, and
   * went away only at the end; the Watch stream was told NOT_SERVING, then ended UNAVAILABLE; Check
   * answered SERVING until it answered NOT_SERVING or could no longer reach the listener.
   */
  void assertHealthTurnedFirst() {
    String changes = probe.describe(shutdownAt);
    assertWithMessage(changes)
        .that(probe.answersFrom(HealthProbe.HTTP, shutdownAt))
        .containsExactly("200", "503", "down")
        .inOrder();
    assertWithMessage(changes)
        .that(probe.answersFrom(HealthProbe.WATCH, shutdownAt))
        .containsExactly("SERVING", "NOT_SERVING", "ended UNAVAILABLE")
        .inOrder();
    List<String> check = probe.answersFrom(HealthProbe.CHECK, shutdownAt);
    assertWithMessage("Check answers from the shutdown on: %s", changes)
        .that(
            check.equals(List.of("SERVING", "UNAVAILABLE"))
                || check.equals(List.of("SERVING", "NOT_SERVING", "UNAVAILABLE")))
        .isTrue();
  }

  /**
   * With a drain delay: all three probes reported the drain before the client saw the GOAWAY, that
   * is, while the listeners still took new streams.
   */
  void assertHealthTurnedBeforeTheListenersStopped() {
    assertHealthTurnedFirst();
    String changes = report();
    assertWithMessage(changes)
        .that(probe.answersFrom(HealthProbe.CHECK, shutdownAt))
        .containsExactly("SERVING", "NOT_SERVING", "UNAVAILABLE")
        .inOrder();
    long goAway = load.leftReady();
    assertWithMessage(changes).that(probe.firstTime(HealthProbe.HTTP, "503")).isLessThan(goAway);
    assertWithMessage(changes)
        .that(probe.firstTime(HealthProbe.CHECK, "NOT_SERVING"))
        .isLessThan(goAway);
    assertWithMessage(changes)
        .that(probe.firstTime(HealthProbe.WATCH, "NOT_SERVING"))
        .isLessThan(goAway);
  }

  /**
   * With a drain delay: the client went on opening streams through the whole delay, and every one
   * it opened before the delay was over completed OK with both replies; the client saw the GOAWAY
   * only after the delay, and every refused stream was opened after it.
   */
  void assertServedThroughTheDelay(Duration delay) {
    long delayOver = shutdownAt + delay.toNanos();
    List<Tracked> all = load.streams();
    List<Tracked> during = filter(all, s -> s.opened >= shutdownAt && s.opened < delayOver);
    String changes = report();
    assertWithMessage("streams opened during the %s delay; %s", delay, changes)
        .that(during.size())
        .isAtLeast((int) (STREAMS_PER_SECOND * delay.toMillis() / 2000));
    assertWithMessage("streams opened during the delay that did not complete; %s", changes)
        .that(filter(during, s -> !s.completed()))
        .isEmpty();
    assertWithMessage("the GOAWAY came after the delay; %s", changes)
        .that(load.leftReady())
        .isAtLeast(delayOver);
    List<Tracked> refused = filter(all, Tracked::refused);
    assertWithMessage("refused streams; %s", changes).that(refused).isNotEmpty();
    assertWithMessage("streams refused although opened during the delay; %s", changes)
        .that(filter(refused, s -> s.opened < delayOver))
        .isEmpty();
    System.out.printf(
        "during the %s drain delay: %d streams opened, all completed OK; first refused stream"
            + " opened at %+.1f ms%n",
        delay,
        during.size(),
        millisAfterShutdown(refused.stream().mapToLong(s -> s.opened).min().orElseThrow()));
  }

  /** What happened, with counts and times relative to the shutdown, for the test's output. */
  String report() {
    List<Tracked> all = load.streams();
    List<Tracked> startedBefore = filter(all, s -> s.headersWritten < shutdownAt);
    return String.format(
        "streams: %d opened, %d started before the shutdown (%d of them in flight), %d completed"
            + " OK, %d refused UNAVAILABLE, %d other; GOAWAY seen at %+.1f ms; stopped at %+.1f"
            + " ms%nhealth changes:%n%s",
        all.size(),
        startedBefore.size(),
        filter(startedBefore, s -> s.closedAt > shutdownAt).size(),
        count(Tracked::completed),
        count(Tracked::refused),
        count(s -> !s.completed() && !s.refused()),
        millisAfterShutdown(load.leftReady()),
        millisAfterShutdown(stoppedAt),
        probe.describe(shutdownAt));
  }

  private double millisAfterShutdown(long nanos) {
    return (nanos - shutdownAt) / 1e6;
  }

  private long count(Predicate<Tracked> which) {
    return load.streams().stream().filter(which).count();
  }

  private static List<Tracked> filter(List<Tracked> streams, Predicate<Tracked> which) {
    return streams.stream().filter(which).toList();
  }

  @Override
  public void close() {
    load.close();
    probe.close();
    streamChannel.shutdownNow();
    healthChannel.shutdownNow();
  }
}
