package dev.extproc.callout.testing;

import com.google.protobuf.Message;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;

/**
 * The replies of one stream as gRPC delivers them, and the bounded waits on them: an ext_proc
 * stream's or a network ext_proc connection's. gRPC calls the observer methods from its threads;
 * every other method belongs to the test's thread.
 *
 * @param <R> the reply message type
 */
final class ReplyQueue<R extends Message> implements StreamObserver<R> {

  private final Duration timeout;
  private final Runnable onServerClose;
  private final String hint;
  private final Function<? super R, String> describe;
  // Replies and the closing Status, in arrival order.
  private final BlockingQueue<Object> events = new LinkedBlockingQueue<>();
  // Replies taken off events while waiting for something else, not yet returned.
  private final Deque<R> unread = new ArrayDeque<>();
  private final List<R> received = Collections.synchronizedList(new ArrayList<>());
  private volatile boolean closedByServer;
  private @Nullable Status closeStatus;

  /**
   * A queue whose every wait lasts at most {@code timeout}; {@code onServerClose} runs once the
   * server has closed the stream, {@code hint} ends every timeout message and {@code describe}
   * names a reply in failure messages.
   */
  ReplyQueue(
      Duration timeout, Runnable onServerClose, String hint, Function<? super R, String> describe) {
    this.timeout = timeout;
    this.onServerClose = onServerClose;
    this.hint = hint;
    this.describe = describe;
  }

  @Override
  public void onNext(R response) {
    received.add(response);
    events.add(response);
  }

  @Override
  public void onError(Throwable t) {
    closed(Status.fromThrowable(t));
  }

  @Override
  public void onCompleted() {
    closed(Status.OK);
  }

  private void closed(Status status) {
    events.add(status);
    closedByServer = true;
    onServerClose.run();
  }

  /** Whether the server has closed the stream (whether or not the test has seen it yet). */
  boolean isClosedByServer() {
    return closedByServer;
  }

  /** Every reply received so far, in order. */
  List<R> received() {
    synchronized (received) {
      return List.copyOf(received);
    }
  }

  /**
   * Returns the next reply not yet returned, waiting for it.
   *
   * @throws AssertionError when the stream closes first or nothing comes in time
   */
  R next(String what) {
    R response = unread.pollFirst();
    if (response != null) {
      return response;
    }
    if (closeStatus != null) {
      throw new AssertionError(
          "stream already closed with " + closeStatus + " (expected: " + what + ")" + soFar());
    }
    Object event = take(what);
    if (event instanceof Status status) {
      closeStatus = status;
      throw new AssertionError("stream closed with " + status + " instead of " + what + soFar());
    }
    return reply(event);
  }

  /** Returns the next {@code n} replies not yet returned, each waited for in turn. */
  List<R> next(int n, String what) {
    List<R> replies = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      replies.add(next(what + " (" + (i + 1) + " of " + n + ", " + i + " arrived)"));
    }
    return replies;
  }

  /**
   * Returns the replies not yet returned up to and including the first that {@code last} accepts,
   * waiting for each in turn.
   */
  List<R> until(Predicate<? super R> last, String what) {
    List<R> replies = new ArrayList<>();
    while (true) {
      R reply = next(what + " (" + replies.size() + " replies before it so far)");
      replies.add(reply);
      if (last.test(reply)) {
        return replies;
      }
    }
  }

  /**
   * Waits {@code quiet} and fails if a reply is unread or arrives meanwhile; returns early when the
   * server closes the stream.
   */
  void assertNone(Duration quiet, String after) {
    R pending = unread.peekFirst();
    if (pending == null && closeStatus == null) {
      Object event = poll(quiet, "no reply");
      if (event instanceof Status status) {
        closeStatus = status;
      } else if (event != null) {
        pending = reply(event);
        unread.addLast(pending);
      }
    }
    if (pending != null) {
      throw new AssertionError(
          "expected no reply " + after + ", got " + describe.apply(pending) + soFar());
    }
  }

  /** Waits for the server to close the stream, keeping the replies before it unread. */
  Status awaitClose() {
    while (closeStatus == null) {
      Object event = take("the stream to close");
      if (event instanceof Status status) {
        closeStatus = status;
      } else {
        unread.addLast(reply(event));
      }
    }
    return closeStatus;
  }

  @SuppressWarnings("unchecked") // events holds the R replies onNext added, and Status objects
  private R reply(Object event) {
    return (R) event;
  }

  private Object take(String what) {
    Object event = poll(timeout, what);
    if (event == null) {
      throw new AssertionError("waited " + timeout + " for " + what + soFar() + hint);
    }
    return event;
  }

  private @Nullable Object poll(Duration wait, String what) {
    try {
      return events.poll(wait.toNanos(), TimeUnit.NANOSECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError("interrupted while waiting for " + what, e);
    }
  }

  /** What arrived so far, for failure messages. */
  private String soFar() {
    List<R> all = received();
    if (all.isEmpty()) {
      return "; no reply received on this stream";
    }
    return "; "
        + all.size()
        + (all.size() == 1 ? " reply" : " replies")
        + " received on this stream, the last: "
        + describe.apply(all.get(all.size() - 1));
  }
}
