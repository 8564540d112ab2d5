package dev.extproc.callout;

import dev.extproc.callout.internal.Clock;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.Status;
import java.time.Duration;
import java.util.Collections;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The open ext_proc streams of one server, each tracked once: it admits a stream or refuses it over
 * {@link CalloutServerConfig#maxConcurrentStreams()} with {@code RESOURCE_EXHAUSTED}, hands out
 * stream ids, is what the {@link HookWatchdog} scans, and is the {@code callout_streams_active}
 * gauge. The limit and the gauge read the same count, so they cannot disagree.
 *
 * <p><b>When a stream is released.</b> A stream counts from its admission until it <em>ends</em>:
 * the one moment the engine reports its end ({@code onStreamEnd}), which is after its last hook
 * returned. A stream Envoy cancelled while its hook still runs therefore keeps its place until the
 * hook returns (the watchdog interrupts it), because the hook still holds a thread; gRPC's own end
 * of the call is not that moment. The one exception is a hook that overran {@code --hook-deadline}:
 * the watchdog ends the stream at once and releases it, and the abandoned hook thread is only
 * interrupted. A refused stream is never admitted: no id, no hook, nothing to release.
 */
final class StreamRegistry {
  private static final Logger logger = LoggerFactory.getLogger(StreamRegistry.class);

  /** A tracked stream: what the watchdog checks each tick. */
  interface Stream {
    /**
     * Ends the stream when its running hook started more than {@code deadlineNanos} (if not 0)
     * before {@code nowNanos}, and interrupts the hook of a cancelled stream.
     */
    void checkHook(long nowNanos, long deadlineNanos);
  }

  private final int limit;
  private final AtomicLong ids = new AtomicLong();
  private final AtomicInteger open = new AtomicInteger();
  private final Set<Stream> streams = ConcurrentHashMap.newKeySet();
  private final Set<Stream> view = Collections.unmodifiableSet(streams);
  private final HookWatchdog watchdog;

  /**
   * A registry of at most {@code maxStreams} open streams (zero: no limit), whose hooks the
   * watchdog checks on {@code clock}.
   */
  StreamRegistry(int maxStreams, Duration hookDeadline, Clock clock) {
    this.limit = maxStreams;
    this.watchdog = new HookWatchdog(hookDeadline, this, clock);
  }

  /**
   * Reserves a place for {@code call} and returns the new stream's id (from 1); or, over the limit,
   * closes the call with {@code RESOURCE_EXHAUSTED} and returns 0. The place is freed by {@link
   * #release} once the stream is {@link #add added}, else by {@link #refund}.
   */
  long admit(ServerCall<?, ?> call) {
    int now = open.incrementAndGet();
    if (limit > 0 && now > limit) {
      open.decrementAndGet();
      logger.debug("stream refused: {} streams already open", limit);
      call.close(
          Status.RESOURCE_EXHAUSTED.withDescription(
              limit + " streams already open (--max-concurrent-streams)"),
          new Metadata());
      return 0;
    }
    return ids.incrementAndGet();
  }

  /** Tracks an admitted stream, for the watchdog, until {@link #release}. */
  void add(Stream stream) {
    streams.add(stream);
    watchdog.watch();
  }

  /** Frees the place of an added stream when it ends; only the first call for a stream counts. */
  void release(Stream stream) {
    if (streams.remove(stream)) {
      open.decrementAndGet();
    }
  }

  /** Frees the place of an admitted stream that was never added (its setup failed). */
  void refund() {
    open.decrementAndGet();
  }

  /** The streams open now. */
  int open() {
    return open.get();
  }

  /** The added streams, for the watchdog: a live view. */
  Set<Stream> streams() {
    return view;
  }

  /** Stops the watchdog; streams still open are no longer watched. */
  void close() {
    watchdog.close();
  }
}
