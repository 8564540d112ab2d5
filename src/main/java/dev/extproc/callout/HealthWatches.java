package dev.extproc.callout;

import io.grpc.ForwardingServerCall;
import io.grpc.ForwardingServerCallListener;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import io.grpc.health.v1.HealthGrpc;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Keeps the open {@code grpc.health.v1.Health/Watch} streams so that a drain can end them. A Watch
 * never ends on its own: one open watcher would otherwise hold every drain for the whole grace
 * period and be cancelled at its end. Watchers are told NOT_SERVING when the drain starts and see
 * their stream end UNAVAILABLE when the listeners stop accepting streams.
 */
final class HealthWatches implements ServerInterceptor {

  private static final String WATCH = HealthGrpc.getWatchMethod().getFullMethodName();

  private final Set<Watch<?, ?>> open = ConcurrentHashMap.newKeySet();
  private volatile boolean ended;

  @Override
  public <ReqT, RespT> ServerCall.Listener<ReqT> interceptCall(
      ServerCall<ReqT, RespT> call, Metadata headers, ServerCallHandler<ReqT, RespT> next) {
    if (!call.getMethodDescriptor().getFullMethodName().equals(WATCH)) {
      return next.startCall(call, headers);
    }
    Watch<ReqT, RespT> watch = new Watch<>(call);
    open.add(watch);
    ServerCall.Listener<ReqT> listener = next.startCall(watch, headers);
    if (ended) {
      watch.end();
    }
    return new ForwardingServerCallListener.SimpleForwardingServerCallListener<>(listener) {
      @Override
      public void onCancel() {
        open.remove(watch);
        super.onCancel();
      }

      @Override
      public void onComplete() {
        open.remove(watch);
        super.onComplete();
      }
    };
  }

  /** Ends every open Watch stream, and any that starts from now on, with UNAVAILABLE. */
  void endAll() {
    ended = true;
    for (Watch<?, ?> watch : open) {
      watch.end();
    }
  }

  /**
   * A Watch call that the health service and {@link #endAll()} may both use: whichever closes it
   * first wins and the other's messages are dropped, as the health service's are after a cancel.
   */
  private final class Watch<ReqT, RespT>
      extends ForwardingServerCall.SimpleForwardingServerCall<ReqT, RespT> {
    private boolean closed;

    Watch(ServerCall<ReqT, RespT> call) {
      super(call);
    }

    void end() {
      close(Status.UNAVAILABLE.withDescription("the server is shutting down"), new Metadata());
    }

    @Override
    public synchronized void sendHeaders(Metadata headers) {
      if (!closed) {
        super.sendHeaders(headers);
      }
    }

    @Override
    public synchronized void sendMessage(RespT message) {
      if (!closed) {
        super.sendMessage(message);
      }
    }

    @Override
    public synchronized void close(Status status, Metadata trailers) {
      if (!closed) {
        closed = true;
        open.remove(this);
        super.close(status, trailers);
      }
    }
  }
}
