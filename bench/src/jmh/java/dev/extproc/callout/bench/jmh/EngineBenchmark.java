package dev.extproc.callout.bench.jmh;

import static java.util.Objects.requireNonNull;

import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.CalloutServerConfig.HookExecutor;
import dev.extproc.callout.samples.addheader.AddHeader;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.Context;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerMethodDefinition;
import io.grpc.Status;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The engine's own work per message and per stream, driven through public API as grpc-java drives
 * it: each stream is opened with the {@code Process} method's {@link ServerCallHandler} from {@link
 * CalloutServer#service()} (the stream limit, the stream id and the peer address included), and
 * messages go straight to the listener it returns. Hooks run inline ({@link HookExecutor#INLINE}),
 * replies go to a {@link CountingServerCall} instead of gRPC. Neither gRPC's transport, framing and
 * protobuf parsing nor the hand-off to a hook thread is included: the load generator measures
 * those. Run with {@code bench/jmh.sh EngineBenchmark -prof gc}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Fork(1)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class EngineBenchmark {

  /**
   * Streams each server runs before the measured ones, so that stream ids are past the range Java
   * boxes for free (-128 to 127), as on a server that has been up a while.
   */
  private static final int EARLIER_STREAMS = 1_000;

  /** Hooks on the thread that delivers the message, so the measured work is the engine's own. */
  private static final CalloutServerConfig INLINE_HOOKS =
      CalloutServerConfig.newBuilder().hookExecutor(HookExecutor.INLINE).build();

  /** A callout that overrides nothing: every message is answered "continue". */
  static final class NoopCallout extends CalloutServer {
    NoopCallout() {
      super(INLINE_HOOKS);
    }
  }

  /** A callout, a fake call, and the gRPC context its streams run in. */
  abstract static class Server {
    final CalloutServer callout;
    final CountingServerCall call = new CountingServerCall();
    final Context.CancellableContext grpcContext = Context.ROOT.withCancellation();
    private final ServerCallHandler<ProcessingRequest, ProcessingResponse> process;

    Server(CalloutServer callout) {
      this.callout = callout;
      this.process = processHandler(callout);
      for (int i = 0; i < EARLIER_STREAMS; i++) {
        ServerCall.Listener<ProcessingRequest> stream = open(new CountingServerCall());
        stream.onHalfClose();
        stream.onComplete();
      }
    }

    /** The handler of {@code callout}'s {@code Process} method, as a gRPC server finds it. */
    @SuppressWarnings("unchecked") // the method's name fixes its types
    private static ServerCallHandler<ProcessingRequest, ProcessingResponse> processHandler(
        CalloutServer callout) {
      String name = ExternalProcessorGrpc.getProcessMethod().getFullMethodName();
      ServerMethodDefinition<?, ?> method = requireNonNull(callout.service().getMethod(name), name);
      return ((ServerMethodDefinition<ProcessingRequest, ProcessingResponse>) method)
          .getServerCallHandler();
    }

    /** Opens a stream on {@link #call}, in {@link #grpcContext}, as gRPC's server does. */
    ServerCall.Listener<ProcessingRequest> open() {
      return open(call);
    }

    private ServerCall.Listener<ProcessingRequest> open(CountingServerCall on) {
      Context previous = grpcContext.attach();
      try {
        return process.startCall(on, new Metadata());
      } finally {
        grpcContext.detach(previous);
      }
    }

    /** Fails the run when the engine did not answer every message or closed a stream badly. */
    public abstract void check();

    void expect(long expectedMessages, long expectedCloses) {
      Status status = call.lastStatus;
      if (call.messagesSent != expectedMessages
          || call.closes != expectedCloses
          || (status != null && !status.isOk())) {
        throw new IllegalStateException(
            "sent "
                + call.messagesSent
                + " replies (expected "
                + expectedMessages
                + "), closed "
                + call.closes
                + " streams (expected "
                + expectedCloses
                + "), last status "
                + status);
      }
    }

    @TearDown
    public void close() {
      grpcContext.cancel(null);
      callout.close();
    }
  }

  /** One open stream that is sent the same request_headers message again and again. */
  abstract static class OpenStream extends Server {
    final ProcessingRequest requestHeaders = BenchMessages.requestHeadersMessage(BodySendMode.NONE);
    final ServerCall.Listener<ProcessingRequest> stream = open();
    long delivered;

    OpenStream(CalloutServer callout) {
      super(callout);
    }

    @TearDown
    @Override
    public void check() {
      expect(delivered, 0);
    }
  }

  /** {@link OpenStream} of a callout that continues. */
  @State(Scope.Thread)
  public static class NoopStream extends OpenStream {
    public NoopStream() {
      super(new NoopCallout());
    }
  }

  /** {@link OpenStream} of the {@code add-header} sample. */
  @State(Scope.Thread)
  public static class AddHeaderStream extends OpenStream {
    public AddHeaderStream() {
      super(new AddHeader(INLINE_HOOKS));
    }
  }

  /** A server that is sent whole streams: open, request headers, response headers, half-close. */
  abstract static class WholeStreams extends Server {
    final ProcessingRequest requestHeaders = BenchMessages.requestHeadersMessage(BodySendMode.NONE);
    final ProcessingRequest responseHeaders = BenchMessages.responseHeadersMessage();
    long streams;

    WholeStreams(CalloutServer callout) {
      super(callout);
    }

    /** Runs one stream as Envoy does for a request without bodies. */
    long runStream() {
      ServerCall.Listener<ProcessingRequest> stream = open();
      stream.onMessage(requestHeaders);
      stream.onMessage(responseHeaders);
      stream.onHalfClose();
      stream.onComplete();
      return ++streams;
    }

    @TearDown
    @Override
    public void check() {
      expect(2 * streams, streams);
    }
  }

  /** {@link WholeStreams} of a callout that continues. */
  @State(Scope.Thread)
  public static class NoopServer extends WholeStreams {
    public NoopServer() {
      super(new NoopCallout());
    }
  }

  /** {@link WholeStreams} of the {@code add-header} sample. */
  @State(Scope.Thread)
  public static class AddHeaderServer extends WholeStreams {
    public AddHeaderServer() {
      super(new AddHeader(INLINE_HOOKS));
    }
  }

  /** A stream in STREAMED request body mode, sent the same 64 KiB chunk again and again. */
  @State(Scope.Thread)
  public static class StreamedBody extends Server {
    final ProcessingRequest chunk = BenchMessages.requestBodyMessage(64 * 1024);
    final ServerCall.Listener<ProcessingRequest> stream = open();
    long delivered = 1;

    public StreamedBody() {
      super(new NoopCallout());
      stream.onMessage(BenchMessages.requestHeadersMessage(BodySendMode.STREAMED));
    }

    @TearDown
    @Override
    public void check() {
      expect(delivered, 0);
    }
  }

  /** request_headers through a callout that continues: the engine alone. */
  @Benchmark
  public long requestHeadersNoop(NoopStream s) {
    s.stream.onMessage(s.requestHeaders);
    return ++s.delivered;
  }

  /** request_headers through the {@code add-header} sample's hook. */
  @Benchmark
  public long requestHeadersAddHeader(AddHeaderStream s) {
    s.stream.onMessage(s.requestHeaders);
    return ++s.delivered;
  }

  /** A whole stream of a callout that continues: the engine's cost per stream. */
  @Benchmark
  public long wholeStreamNoop(NoopServer s) {
    return s.runStream();
  }

  /** A whole stream of the {@code add-header} sample. */
  @Benchmark
  public long wholeStreamAddHeader(AddHeaderServer s) {
    return s.runStream();
  }

  /** A 64 KiB STREAMED request body chunk passed through unchanged. */
  @Benchmark
  public long streamedBodyChunk64KiB(StreamedBody s) {
    s.stream.onMessage(s.chunk);
    return ++s.delivered;
  }
}
