package dev.extproc.callout.testing;

import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
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
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;

/**
 * The replies of one stream as gRPC delivers them, and the bounded waits on them. gRPC calls the
 * observer methods from its threads; every other method belongs to the test's thread.
 */
final class ReplyQueue implements StreamObserver<ProcessingResponse> {

  private final Duration timeout;
  private final Runnable onServerClose;
  private final String hint;
  // Replies and the closing Status, in arrival order.
  private final BlockingQueue<Object> events = new LinkedBlockingQueue<>();
  // Replies taken off events while waiting for something else, not yet returned.
  private final Deque<ProcessingResponse> unread = new ArrayDeque<>();
  private final List<ProcessingResponse> received = Collections.synchronizedList(new ArrayList<>());
  private volatile boolean closedByServer;
  private @Nullable Status closeStatus;

  /**
   * A queue whose every wait lasts at most {@code timeout}; {@code onServerClose} runs once the
   * server has closed the stream, and {@code hint} ends every timeout message.
   */
  ReplyQueue(Duration timeout, Runnable onServerClose, String hint) {
    this.timeout = timeout;
    this.onServerClose = onServerClose;
    this.hint = hint;
  }

  @Override
  public void onNext(ProcessingResponse response) {
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
  List<ProcessingResponse> received() {
    synchronized (received) {
      return List.copyOf(received);
    }
  }

  /**
   * Returns the next reply not yet returned, waiting for it.
   *
   * @throws AssertionError when the stream closes first or nothing comes in time
   */
  ProcessingResponse next(String what) {
    ProcessingResponse response = unread.pollFirst();
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
    return (ProcessingResponse) event;
  }

  /** Returns the next {@code n} replies not yet returned, each waited for in turn. */
  List<ProcessingResponse> next(int n, String what) {
    List<ProcessingResponse> replies = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      replies.add(next(what + " (" + (i + 1) + " of " + n + ", " + i + " arrived)"));
    }
    return replies;
  }

  /**
   * Returns the replies not yet returned up to and including the first that {@code last} accepts,
   * waiting for each in turn.
   */
  List<ProcessingResponse> until(Predicate<? super ProcessingResponse> last, String what) {
    List<ProcessingResponse> replies = new ArrayList<>();
    while (true) {
      ProcessingResponse reply = next(what + " (" + replies.size() + " replies before it so far)");
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
    ProcessingResponse pending = unread.peekFirst();
    if (pending == null && closeStatus == null) {
      Object event = poll(quiet, "no reply");
      if (event instanceof Status status) {
        closeStatus = status;
      } else if (event != null) {
        pending = (ProcessingResponse) event;
        unread.addLast(pending);
      }
    }
    if (pending != null) {
      throw new AssertionError(
          "expected no reply " + after + ", got " + Replies.describe(pending) + soFar());
    }
  }

  /** Waits for the server to close the stream, keeping the replies before it unread. */
  Status awaitClose() {
    while (closeStatus == null) {
      Object event = take("the stream to close");
      if (event instanceof Status status) {
        closeStatus = status;
      } else {
        unread.addLast((ProcessingResponse) event);
      }
    }
    return closeStatus;
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
    List<ProcessingResponse> all = received();
    if (all.isEmpty()) {
      return "; no reply received on this stream";
    }
    return "; "
        + all.size()
        + (all.size() == 1 ? " reply" : " replies")
        + " received on this stream, the last: "
        + Replies.describe(all.get(all.size() - 1));
  }
}
