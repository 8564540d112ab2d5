package dev.extproc.callout;

import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The ext_proc protocol of one stream: one message in, its replies out. Synchronous and free of
 * threads, gRPC calls and sockets: it runs on the thread that calls it and answers through a {@link
 * StreamSink}, which the transport ({@link CalloutStream}) or a test provides. It owns every
 * protocol invariant:
 *
 * <ul>
 *   <li>reply type and order: exactly one reply of the message's type per message, sent before the
 *       next message is taken ({@link #onMessage}; the reply itself is shaped by {@link
 *       PhaseReply});
 *   <li>an immediate response ends the exchange: nothing is sent after it, later messages are
 *       ignored ({@link #send}); so does a streamed one, whose reply goes on ({@link
 *       StreamedReply});
 *   <li>a request drain echoes the rest of the request body and ends the stream ({@link
 *       RequestDrain});
 *   <li>observability mode: hooks run, nothing is sent ({@link #send});
 *   <li>FULL_DUPLEX_STREAMED bodies: any number of replies per chunk ({@link FullDuplexBody}),
 *       headers replies deferred until the body ends ({@link DeferredHeaders});
 *   <li>the header mutation guard on every reply ({@link #guarded});
 *   <li>content-length ({@link ContentLength}), mode overrides and CONTINUE_AND_REPLACE ({@link
 *       PhaseReply}); typed dynamic metadata ({@link TypedMetadata});
 *   <li>the inbound size limit, and hook failures ending the stream with their status or {@code
 *       INTERNAL} ({@link #onMessage}, {@link SupervisedHook#settle}).
 * </ul>
 *
 * <p>Not thread-safe: the transport calls it for one event at a time.
 */
final class StreamCore implements StreamProtocol<ProcessingRequest> {
  private static final Logger logger = LoggerFactory.getLogger(StreamCore.class);

  /** What every stream of one server shares; built once per {@link CalloutServer#service()}. */
  record Shared(
      CalloutServer callout,
      MutationGuard guard,
      CalloutMetrics metrics,
      StreamRegistry registry,
      @Nullable Executor hookExecutor,
      boolean overridesProcess,
      boolean overridesStreamStart,
      boolean overridesStreamEnd) {}

  private final Shared shared;
  private final CalloutServer callout;
  private final CalloutContext ctx;
  private final StreamSink<ProcessingResponse> sink;
  private final TypedMetadata typedMetadata = new TypedMetadata();
  private boolean immediateResponseSent;
  private boolean observabilityLogged;
  private @Nullable RequestDrain drain;
  // Per direction, created with the first full-duplex body message: most streams have none.
  private @Nullable FullDuplexBody @Nullable [] bodies;

  StreamCore(Shared shared, CalloutContext ctx, StreamSink<ProcessingResponse> sink) {
    this.shared = shared;
    this.callout = shared.callout();
    this.ctx = ctx;
    this.sink = sink;
  }

  /** Counts the stream and runs {@code onStreamStart}. */
  @Override
  public void start() {
    shared.metrics().streamStarted();
    if (logger.isDebugEnabled()) {
      logger.debug("[{}] stream opened by {}", ctx.streamId(), ctx.peerAddress().orElse(null));
    }
    startHook(callout, ctx, sink);
  }

  /**
   * Runs {@code onStreamStart} for a stream of ext_proc or network ext_proc: throwing ends the
   * stream as a hook failure does.
   */
  static void startHook(CalloutServer callout, CalloutContext ctx, StreamSink<?> sink) {
    try {
      callout.onStreamStart(ctx);
    } catch (StatusRuntimeException e) {
      sink.close(e.getStatus(), e.getTrailers());
    } catch (RuntimeException e) {
      SupervisedHook.fail(sink, ctx, "onStreamStart", e);
    }
  }

  /** Processes one message: runs its hook and sends its replies, or closes the stream. */
  @Override
  public void onMessage(ProcessingRequest request) {
    long size = SizeCheckedRequests.oversizedBytes(request);
    if (size >= 0) {
      // The transport's own limit sits above this one: past it grpc-java resets the stream
      // (CANCEL) without saying why, while this names the limit (grpc/grpc-java#11245).
      int limit = callout.config().maxInboundMessageSize();
      logger.debug("[{}] message of {} bytes over the limit of {}", ctx.streamId(), size, limit);
      sink.close(
          Status.RESOURCE_EXHAUSTED.withDescription(
              "message of "
                  + size
                  + " bytes exceeds the inbound limit of "
                  + limit
                  + " bytes (--max-inbound-message-size)"),
          new Metadata());
      return;
    }
    Phase phase = Phase.of(request);
    if (phase == null) {
      logger.debug("[{}] message without a request case: no reply", ctx.streamId());
      return;
    }
    shared.metrics().message(phase);
    if (immediateResponseSent) {
      logger.debug(
          "[{}] {} after an immediate response: ignored", ctx.streamId(), phase.wireName());
      return;
    }
    if (drain != null && drain.echoes(phase)) {
      send(phase, List.of(drain.echo(phase, request)));
      closeIfDrained();
      return;
    }
    if (logger.isDebugEnabled()) {
      // Guarded: the stream id would be boxed for every message even with debug off.
      logger.debug("[{}] {} received", ctx.streamId(), phase.wireName());
    }
    ctx.enter(request, phase);
    List<ProcessingResponse> replies = List.of();
    Throwable failure = null;
    long started = sink.hookStarted(hookName(phase));
    boolean inTime;
    try {
      replies = guarded(phase, drained(respond(phase, request)));
    } catch (RuntimeException | Error e) {
      // An Error (StackOverflowError, a failed class initialiser...) fails the stream like an
      // exception: left to propagate, it would leave the stream without an answer.
      failure = e;
    } finally {
      shared.metrics().hookEnded(phase, started);
      ctx.exit();
      inTime = sink.hookReturned();
    }
    if (SupervisedHook.settle(sink, ctx, hookName(phase), inTime, failure)) {
      send(phase, replies);
      StreamedReply streamed = ctx.streamedReply();
      if (streamed != null && !immediateResponseSent) {
        // Its headers answered this message: the reply goes on from any thread, nothing else.
        immediateResponseSent = true;
        shared.metrics().immediateResponse(phase);
        streamed.open(sink, ctx.isObservabilityMode());
      }
      closeIfDrained();
    }
  }

  /** Starts a request drain that the hook asked for; else returns {@code replies}. */
  @SuppressWarnings("EnumOrdinal") // see fullDuplexBody
  private List<ProcessingResponse> drained(List<ProcessingResponse> replies) {
    if (drain != null || !ctx.takeDrainRequest()) {
      return replies;
    }
    drain = new RequestDrain();
    return drain.start(replies, bodies == null ? null : bodies[Direction.REQUEST.ordinal()], ctx);
  }

  /** Ends the stream OK once a drained request body ended. */
  private void closeIfDrained() {
    if (drain != null && drain.ended()) {
      logger.debug("[{}] request drained: ending the stream", ctx.streamId());
      sink.close(Status.OK, null);
    }
  }

  /** Sends the replies to a message, unless the stream is only observed. */
  private void send(Phase phase, List<ProcessingResponse> replies) {
    if (ctx.isObservabilityMode()) {
      if (!observabilityLogged) {
        observabilityLogged = true;
        logger.debug("[{}] observability mode: hook responses are not sent", ctx.streamId());
      }
      return;
    }
    for (ProcessingResponse reply : replies) {
      sink.send(reply);
      if (reply.hasImmediateResponse()) {
        immediateResponseSent = true;
        shared.metrics().immediateResponse(phase);
        return;
      }
    }
  }

  /**
   * Runs the hook (or body transformer) of {@code phase} and returns the replies to send: none for
   * a deferred headers reply ({@link DeferredHeaders}), the headers of a streamed reply ({@link
   * StreamedReply}) instead of the hook's, with typed metadata ({@link TypedMetadata}).
   */
  private List<ProcessingResponse> respond(Phase phase, ProcessingRequest request) {
    FullDuplexBody body = phase.kind() == Phase.Kind.HEADERS ? null : fullDuplexBody(phase);
    List<ProcessingResponse> replies;
    if (body != null) {
      replies = body.respond(phase, request, callout, ctx);
    } else {
      ProcessingResponse returned = callout.process(request, ctx);
      StreamedReply streamed = ctx.streamedReply();
      replies =
          streamed != null
              ? List.of(streamed.first(returned, ctx))
              : DeferredHeaders.hold(phase, PhaseReply.of(phase, returned, ctx), ctx);
    }
    return typedMetadata.attach(phase.direction(), ctx.typedMetadata(), replies);
  }

  /** The direction's full-duplex body, or null when the direction is not in that mode. */
  @SuppressWarnings("EnumOrdinal") // an array indexed by direction, as in an EnumMap
  private @Nullable FullDuplexBody fullDuplexBody(Phase phase) {
    Direction direction = phase.direction();
    if (direction.bodyMode(ctx) != BodySendMode.FULL_DUPLEX_STREAMED) {
      return null;
    }
    if (bodies == null) {
      bodies = new FullDuplexBody[Direction.values().length];
    }
    FullDuplexBody body = bodies[direction.ordinal()];
    if (body == null) {
      body = new FullDuplexBody(direction, callout.config());
      bodies[direction.ordinal()] = body;
    }
    return body;
  }

  /** Applies the header mutation guard to each reply; the same list when nothing changed. */
  @SuppressWarnings("ReferenceEquality") // the guard returns the same instance when all is well
  private List<ProcessingResponse> guarded(Phase phase, List<ProcessingResponse> replies) {
    List<ProcessingResponse> checked = replies;
    boolean request = phase.direction() == Direction.REQUEST;
    for (int i = 0; i < replies.size(); i++) {
      ProcessingResponse reply = replies.get(i);
      ProcessingResponse ok = shared.guard().check(reply, request, ctx.streamId());
      if (ok != reply) {
        if (checked == replies) {
          checked = new ArrayList<>(replies);
        }
        checked.set(i, ok);
      }
    }
    return checked;
  }

  /** Reports the end of the stream: metrics, then {@code onStreamEnd}. Called once. */
  @Override
  public void end(Status status) {
    shared.metrics().streamEnded(status.getCode());
    StreamedReply streamed = ctx.streamedReply();
    if (streamed != null) {
      streamed.abandon();
    }
    endHook(callout, ctx, status);
  }

  /** Runs {@code onStreamEnd}, whose exceptions are logged and ignored. */
  static void endHook(CalloutServer callout, CalloutContext ctx, Status status) {
    try {
      callout.onStreamEnd(ctx, status);
    } catch (RuntimeException e) {
      logger.warn("[{}] onStreamEnd failed", ctx.streamId(), e);
    }
  }

  /** The hook of {@code phase} as logs and statuses name it. */
  String hookName(Phase phase) {
    return shared.overridesProcess() ? phase.processName() : phase.hookName();
  }
}
