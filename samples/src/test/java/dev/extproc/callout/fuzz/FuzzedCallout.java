package dev.extproc.callout.fuzz;

import ch.qos.logback.classic.Level;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.testing.CalloutTester;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A callout's real ext_proc service on {@link CalloutTester}'s in-process server: the engine
 * exactly as in production, minus sockets. gRPC delivers messages on the calling thread ({@link
 * CalloutTester.Builder#directExecutor()}), so a fuzz input replays the same way every time; a
 * server that never closes a stream still fails within {@link CalloutTester#DEFAULT_TIMEOUT}.
 *
 * <p>An interceptor records the status the server closes each stream with, cause included (the
 * client only sees the description), so that a finding comes with the exception's stack.
 */
public final class FuzzedCallout implements AutoCloseable {

  static {
    // Fuzzing fails hooks by the thousand on purpose; a warning with a stack for each would drown
    // the run (and slow it down). Findings carry the server's exception as their cause instead.
    if (LoggerFactory.getLogger(Logger.ROOT_LOGGER_NAME)
        instanceof ch.qos.logback.classic.Logger root) {
      root.setLevel(Level.ERROR);
    }
  }

  /**
   * What one stream ended with.
   *
   * @param replies every reply, in order
   * @param status the status the client saw
   * @param serverStatus the status the server closed the stream with, cause included; null when the
   *     client reset the stream first
   */
  public record Outcome(
      List<ProcessingResponse> replies, Status status, @Nullable Status serverStatus) {

    /**
     * The status the stream ended with, as the server knows it: the server's own, or CANCELLED when
     * the client reset the stream before the server closed it.
     *
     * @throws AssertionError when the client saw another status than the server sent, or the server
     *     never closed a stream the client did not reset
     */
    public Status end(StreamPlan plan) {
      if (serverStatus == null) {
        if (!plan.cancel() || status.getCode() != Status.Code.CANCELLED) {
          throw failure("the server never closed the stream; the client saw " + status, plan, this);
        }
        return status;
      }
      if (serverStatus.getCode() != status.getCode()) {
        if (plan.cancel() && status.getCode() == Status.Code.CANCELLED) {
          // Hooks run on the hook executor, so the server may close the stream while the client's
          // reset is on its way: the client sees its own CANCELLED, the hooks saw the server's.
          return serverStatus;
        }
        throw failure("the client saw " + status + ", the server sent " + serverStatus, plan, this);
      }
      return serverStatus;
    }
  }

  /** A finding: {@code what}, the stream that led to it, and the server's exception as cause. */
  public static AssertionError failure(String what, StreamPlan plan, Outcome outcome) {
    StringBuilder message = new StringBuilder(what).append('\n').append(plan.describe(4000));
    List<ProcessingResponse> replies = outcome.replies();
    for (int r = 0; r < replies.size() && message.length() < 8000; r++) {
      message.append("  reply #").append(r).append(' ').append(Dump.of(replies.get(r), 300));
      message.append('\n');
    }
    Status server = outcome.serverStatus();
    return new AssertionError(message.toString(), server == null ? null : server.getCause());
  }

  private final CalloutTester tester;
  private final AtomicReference<@Nullable Status> serverStatus = new AtomicReference<>();

  private FuzzedCallout(CalloutServer callout) {
    ServerInterceptor recorder =
        new ServerInterceptor() {
          @Override
          public <Q, R> ServerCall.Listener<Q> interceptCall(
              ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
            return next.startCall(
                new SimpleForwardingServerCall<Q, R>(call) {
                  @Override
                  public void close(Status status, Metadata trailers) {
                    serverStatus.set(status);
                    super.close(status, trailers);
                  }
                },
                headers);
          }
        };
    tester =
        CalloutTester.newBuilder(ServerInterceptors.intercept(callout.service(), recorder))
            .directExecutor()
            .build();
  }

  /** Serves {@code callout} in-process until {@link #close()}. */
  public static FuzzedCallout of(CalloutServer callout) {
    return new FuzzedCallout(callout);
  }

  /**
   * Plays {@code plan} on a new stream and waits (bounded) for the server to close it.
   *
   * @throws AssertionError with the stream's messages and replies when it did not close in time
   */
  public Outcome play(StreamPlan plan) {
    serverStatus.set(null);
    CalloutTester.Stream stream =
        plan.observability() ? tester.newObservabilityStream() : tester.newStream();
    for (ProcessingRequest message : plan.messages()) {
      stream.send(message);
    }
    Status status;
    try {
      if (plan.cancel()) {
        stream.cancel();
        status = stream.awaitClose();
      } else {
        status = stream.halfClose();
      }
    } catch (AssertionError e) {
      // The stream never closed: the finding needs the stream that led to it.
      AssertionError hang =
          failure(
              String.valueOf(e.getMessage()),
              plan,
              new Outcome(stream.received(), Status.UNKNOWN, null));
      hang.addSuppressed(e);
      throw hang;
    }
    return new Outcome(stream.received(), status, serverStatus.get());
  }

  @Override
  public void close() {
    tester.close();
  }
}
