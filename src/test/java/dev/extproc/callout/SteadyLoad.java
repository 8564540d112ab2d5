package dev.extproc.callout;

import static dev.extproc.callout.testing.CalloutTester.headers;

import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.CallOptions;
import io.grpc.ClientStreamTracer;
import io.grpc.ConnectivityState;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * Opens ext_proc streams on one channel at a steady rate, the way Envoy multiplexes requests, and
 * records how each ends. A stream sends request headers, then response headers once the first reply
 * is in, then half-closes after the second: with {@link SlowCallout}'s hooks taking a few
 * milliseconds each, some streams are always in flight.
 */
final class SteadyLoad implements AutoCloseable {

  /** No time yet. */
  static final long NEVER = Long.MAX_VALUE;

  private final ManagedChannel channel;
  private final long periodNanos;
  private final ProcessingRequest first;
  private final ProcessingRequest second;
  private final List<Tracked> streams = new ArrayList<>();
  private final ScheduledExecutorService opener =
      Executors.newSingleThreadScheduledExecutor(
          task -> {
            Thread thread = new Thread(task, "steady-load");
            thread.setDaemon(true);
            return thread;
          });
  private @Nullable ScheduledFuture<?> opening;
  private volatile long leftReady = NEVER;

  /**
   * Streams at {@code perSecond} over {@code channel}, whose request-headers hook takes {@code
   * requestMillis} and response-headers hook {@code responseMillis}.
   */
  SteadyLoad(ManagedChannel channel, int perSecond, int requestMillis, int responseMillis) {
    this.channel = channel;
    this.periodNanos = TimeUnit.SECONDS.toNanos(1) / perSecond;
    this.first = requestHeaders(requestMillis);
    this.second = responseHeaders(responseMillis);
  }

  /** One stream's story, in {@link System#nanoTime()} instants ({@link #NEVER} when not yet). */
  static final class Tracked implements StreamObserver<ProcessingResponse> {
    final long opened = System.nanoTime();
    private final List<ProcessingResponse> replies = new ArrayList<>();
    private @Nullable StreamObserver<ProcessingRequest> requests;
    private final ProcessingRequest second;
    volatile long headersWritten = NEVER;
    volatile long firstReply = NEVER;
    volatile long closedAt = NEVER;
    private volatile @Nullable Status status;

    private Tracked(ProcessingRequest second) {
      this.second = second;
    }

    /** Whether it ended OK with both replies, exactly as {@link SlowCallout} sends them. */
    boolean completed() {
      return Status.OK.equals(status) && replies().equals(SlowCallout.twoReplies());
    }

    /** Whether it was refused: UNAVAILABLE before any reply. */
    boolean refused() {
      Status ended = status;
      return ended != null
          && ended.getCode() == Status.Code.UNAVAILABLE
          && replies().isEmpty()
          && firstReply == NEVER;
    }

    boolean isClosed() {
      return status != null;
    }

    synchronized List<ProcessingResponse> replies() {
      return List.copyOf(replies);
    }

    @Override
    public String toString() {
      return "stream{status=" + status + ", replies=" + replies().size() + "}";
    }

    private synchronized void send(ProcessingRequest request) {
      if (requests != null) {
        requests.onNext(request);
      }
    }

    @Override
    public synchronized void onNext(ProcessingResponse reply) {
      replies.add(reply);
      if (replies.size() == 1) {
        firstReply = System.nanoTime();
        send(second);
      } else if (replies.size() == 2 && requests != null) {
        requests.onCompleted();
      }
    }

    @Override
    public void onError(Throwable t) {
      closedAt = System.nanoTime();
      status = Status.fromThrowable(t);
    }

    @Override
    public void onCompleted() {
      closedAt = System.nanoTime();
      status = Status.OK;
    }

    /** Notes when the stream's HTTP/2 HEADERS frame has been written to the socket. */
    private ClientStreamTracer.Factory tracer() {
      return new ClientStreamTracer.Factory() {
        @Override
        public ClientStreamTracer newClientStreamTracer(
            ClientStreamTracer.StreamInfo info, Metadata headers) {
          return new ClientStreamTracer() {
            @Override
            public void outboundHeaders() {
              headersWritten = System.nanoTime();
            }
          };
        }
      };
    }
  }

  /** Starts opening streams, and notes when the channel first leaves READY afterwards. */
  void start() {
    watchState(channel.getState(false));
    opening = opener.scheduleAtFixedRate(this::openNext, 0, periodNanos, TimeUnit.NANOSECONDS);
  }

  /** Stops opening streams; those open run on. */
  void stopOpening() {
    if (opening != null) {
      opening.cancel(false);
    }
    opener.shutdown();
    try {
      opener.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** When the channel first left READY (the server's GOAWAY), or {@link #NEVER}. */
  long leftReady() {
    return leftReady;
  }

  /** Every stream opened so far. */
  List<Tracked> streams() {
    synchronized (streams) {
      return List.copyOf(streams);
    }
  }

  /** Waits up to {@code timeout} for every stream to close; returns those still open. */
  List<Tracked> awaitClosed(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    List<Tracked> open = stillOpen();
    while (!open.isEmpty() && System.nanoTime() < deadline) {
      Thread.sleep(10);
      open = stillOpen();
    }
    return open;
  }

  private List<Tracked> stillOpen() {
    return streams().stream().filter(s -> !s.isClosed()).toList();
  }

  private void watchState(ConnectivityState seen) {
    ConnectivityState now = channel.getState(false);
    if (seen == ConnectivityState.READY && now != ConnectivityState.READY && leftReady == NEVER) {
      leftReady = System.nanoTime();
    }
    channel.notifyWhenStateChanged(now, () -> watchState(now));
  }

  private void openNext() {
    open(first, second);
  }

  /**
   * Opens one more stream whose request-headers hook takes {@code requestMillis} and
   * response-headers hook {@code responseMillis}, counted with the others.
   */
  Tracked openOne(int requestMillis, int responseMillis) {
    return open(requestHeaders(requestMillis), responseHeaders(responseMillis));
  }

  private Tracked open(ProcessingRequest first, ProcessingRequest second) {
    Tracked stream = new Tracked(second);
    synchronized (streams) {
      streams.add(stream);
    }
    synchronized (stream) {
      stream.requests =
          ClientCalls.asyncBidiStreamingCall(
              channel.newCall(
                  ExternalProcessorGrpc.getProcessMethod(),
                  CallOptions.DEFAULT.withStreamTracerFactory(stream.tracer())),
              stream);
      stream.send(first);
    }
    return stream;
  }

  private static ProcessingRequest requestHeaders(int hookMillis) {
    return ProcessingRequest.newBuilder()
        .setRequestHeaders(
            headers(":path", "/", SlowCallout.HOOK_MILLIS, String.valueOf(hookMillis)))
        .build();
  }

  private static ProcessingRequest responseHeaders(int hookMillis) {
    return ProcessingRequest.newBuilder()
        .setResponseHeaders(
            headers(":status", "200", SlowCallout.HOOK_MILLIS, String.valueOf(hookMillis)))
        .build();
  }

  @Override
  public void close() {
    stopOpening();
  }
}
