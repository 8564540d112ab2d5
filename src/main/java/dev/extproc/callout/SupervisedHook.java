package dev.extproc.callout;

import com.google.protobuf.MessageLite;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One hook call of the ext_authz and network protocols under the transport's supervision (hook
 * deadline, cancellation), with the failure rules every service shares: a {@link
 * StatusRuntimeException} ends the stream with its status, any other exception with {@code
 * INTERNAL} naming the hook, logged once.
 */
final class SupervisedHook {
  private static final Logger logger = LoggerFactory.getLogger(SupervisedHook.class);

  private SupervisedHook() {}

  /**
   * Runs {@code hook}, which logs and statuses call {@code name}; returns its result ({@code
   * ifNull} for null), or null when the stream was closed or cancelled meanwhile and nothing may be
   * sent.
   */
  static <T> @Nullable T run(
      StreamSink<?> sink,
      CalloutContext ctx,
      String name,
      Supplier<? extends @Nullable T> hook,
      T ifNull) {
    T result = null;
    Throwable failure = null;
    sink.hookStarted(name);
    boolean inTime;
    try {
      result = hook.get();
    } catch (RuntimeException | Error e) {
      failure = e;
    } finally {
      inTime = sink.hookReturned();
    }
    if (!settle(sink, ctx, name, inTime, failure)) {
      return null;
    }
    return result == null ? ifNull : result;
  }

  /**
   * What follows a hook's return, for every protocol: nothing when the watchdog ended the stream
   * meanwhile ({@code inTime} false); the close for its {@code failure}; nothing when the client
   * cancelled. Returns true when the hook's reply may be sent.
   */
  static boolean settle(
      StreamSink<?> sink,
      CalloutContext ctx,
      String name,
      boolean inTime,
      @Nullable Throwable failure) {
    if (!inTime) {
      logger.debug("[{}] {} returned after the watchdog ended it", ctx.streamId(), name);
    } else if (failure instanceof StatusRuntimeException e) {
      logger.debug("[{}] {} ended the stream with {}", ctx.streamId(), name, e.getStatus());
      sink.close(e.getStatus(), e.getTrailers());
    } else if (failure != null) {
      fail(sink, ctx, name, failure);
    } else if (ctx.isCancelled()) {
      // The client reset the stream while the hook ran; the transport hears of it only after this.
      logger.debug("[{}] cancelled during {}: reply dropped", ctx.streamId(), name);
    } else {
      return true;
    }
    return false;
  }

  /**
   * Ends the stream with {@code RESOURCE_EXHAUSTED} when {@code message} is over the configured
   * inbound limit (the transport's own limit sits above it, and says nothing useful); returns
   * whether it did.
   */
  static boolean refuseOversized(
      StreamSink<?> sink, MessageLite message, CalloutServerConfig config) {
    int size = message.getSerializedSize();
    int limit = config.maxInboundMessageSize();
    if (size <= limit) {
      return false;
    }
    String name = message.getClass().getSimpleName();
    sink.close(
        Status.RESOURCE_EXHAUSTED.withDescription(
            name
                + " of "
                + size
                + " bytes exceeds the inbound limit of "
                + limit
                + " bytes (--max-inbound-message-size)"),
        new Metadata());
    return true;
  }

  /** Ends the stream with {@code INTERNAL} for {@code e}, thrown by {@code hook}; logged once. */
  static void fail(StreamSink<?> sink, CalloutContext ctx, String hook, Throwable e) {
    logger.warn("[{}] {} failed; ending the stream with INTERNAL", ctx.streamId(), hook, e);
    sink.close(
        Status.INTERNAL.withDescription(hook + " failed: " + e).withCause(e), new Metadata());
  }
}
