package dev.extproc.callout.testing;

import io.grpc.ForwardingServerCallListener.SimpleForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import java.time.Duration;

/**
 * Counts the in-process server's calls until the service has seen each end, so that closing the
 * tester can wait for the cancellations it sent to reach the callout: stopping the server's
 * executor first would drop them, and the callout would never see those streams end.
 */
final class OpenCalls implements ServerInterceptor {

  private int open;

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(
      ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
    ServerCall.Listener<Q> listener = next.startCall(call, headers);
    synchronized (this) {
      open++;
    }
    return new SimpleForwardingServerCallListener<Q>(listener) {
      @Override
      public void onCancel() {
        try {
          super.onCancel();
        } finally {
          ended();
        }
      }

      @Override
      public void onComplete() {
        try {
          super.onComplete();
        } finally {
          ended();
        }
      }
    };
  }

  private synchronized void ended() {
    open--;
    notifyAll();
  }

  /** Waits at most {@code timeout} for every call to have ended; returns whether they have. */
  synchronized boolean awaitNone(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (open > 0) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        return false;
      }
      wait(Math.max(1, left / 1_000_000));
    }
    return true;
  }
}
