package dev.extproc.callout;

import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.Status;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
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
   * Admits {@code call} and returns the listener {@code start} creates, wrapped to count the stream
   * until it ends; or, over the limit, closes the call and returns a listener that ignores it.
   */
  <ReqT> ServerCall.Listener<ReqT> admit(
      ServerCall<ReqT, ?> call, Supplier<ServerCall.Listener<ReqT>> start) {
    int now = open.incrementAndGet();
    if (limit > 0 && now > limit) {
      open.decrementAndGet();
      logger.debug("stream refused: {} streams already open", limit);
      call.close(
          Status.RESOURCE_EXHAUSTED.withDescription(
              limit + " streams already open (--max-concurrent-streams)"),
          new Metadata());
      return new ServerCall.Listener<>() {};
    }
    ServerCall.Listener<ReqT> listener;
    try {
      listener = start.get();
    } catch (RuntimeException | Error e) {
      open.decrementAndGet();
      throw e;
    }
    // gRPC ends every call with exactly one of onComplete and onCancel.
    return new SimpleForwardingServerCallListener<>(listener) {
      @Override
      public void onComplete() {
        try {
          super.onComplete();
        } finally {
          open.decrementAndGet();
        }
      }

      @Override
      public void onCancel() {
        try {
          super.onCancel();
        } finally {
          open.decrementAndGet();
        }
      }
    };
  }
}
