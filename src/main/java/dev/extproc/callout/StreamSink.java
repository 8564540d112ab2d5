package dev.extproc.callout;

import io.grpc.Metadata;
import io.grpc.Status;
import org.jspecify.annotations.Nullable;

/**
 * Where a {@link StreamProtocol}'s output goes, and how it tells the transport ({@link
 * CalloutStream}) that a hook runs, so that the hook deadline and cancellation can reach it.
 *
 * @param <R> the replies of the protocol
 */
interface StreamSink<R> {
  /** Sends {@code reply} to the client. */
  void send(R reply);

  /**
   * Sends {@code message} at once, outside the one-reply-per-message order, unless the stream is
   * closed or cancelled: a message from the running hook itself (ext_proc's standalone {@code
   * override_message_timeout}).
   */
  void sendStandalone(R message);

  /**
   * Runs {@code task} from any thread, after the stream's events queued so far and one at a time
   * with them, as a hook runs: how work that does not come from the client (a streamed reply's end)
   * joins the stream's order. This default, for sinks confined to one thread, runs it now.
   */
  default void runInOrder(Runnable task) {
    task.run();
  }

  /** Closes the stream with {@code status}, once; later calls do nothing. */
  void close(Status status, @Nullable Metadata trailers);

  /**
   * The hook that logs and statuses call {@code hook} starts now, on this thread; returns {@link
   * System#nanoTime()}.
   */
  long hookStarted(String hook);

  /**
   * The hook returned; false when the stream was ended or interrupted meanwhile (its hook deadline
   * passed, or the client cancelled), so that what it returned must be dropped.
   */
  boolean hookReturned();
}
