package dev.extproc.callout;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.Status;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Counts the open ext_proc streams of one server and refuses those over {@link
 * CalloutServerConfig#maxConcurrentStreams()} with {@code RESOURCE_EXHAUSTED}. A stream counts from
 * the moment gRPC hands it over until gRPC reports it complete or cancelled; a refused stream never
 * reaches the hooks (no {@code onStreamStart}, no {@code onStreamEnd}).
 */
final class StreamLimit {
  private static final Logger logger = LoggerFactory.getLogger(StreamLimit.class);

  private final int limit;
  private final AtomicInteger open = new AtomicInteger();

  /** A limit of {@code max} open streams; zero means none. */
  StreamLimit(int max) {
    this.limit = max;
  }

  /** The streams open now. */
  int open() {
    return open.get();
  }

  /**
   * Counts {@code call} as open and returns true; or, over the limit, closes the call with {@code
   * RESOURCE_EXHAUSTED} and returns false. Every call admitted must be {@link #release released}
   * once, when gRPC reports it complete or cancelled.
   */
  boolean admit(ServerCall<?, ?> call) {
    int now = open.incrementAndGet();
    if (limit > 0 && now > limit) {
      open.decrementAndGet();
      logger.debug("stream refused: {} streams already open", limit);
      call.close(
          Status.RESOURCE_EXHAUSTED.withDescription(
              limit + " streams already open (--max-concurrent-streams)"),
          new Metadata());
      return false;
    }
    return true;
  }

  /** An admitted call ended. */
  void release() {
    open.decrementAndGet();
  }
}
