package dev.extproc.callout;

import dev.extproc.callout.internal.wire.NewerFields;
import dev.extproc.callout.internal.wire.ProcessingRequestFields;
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
 *       ignored ({@link #emit}); so does a streamed one, whose reply goes on ({@link
 *       StreamedReply});
 *   <li>a request drain echoes the rest of the request body and ends the stream ({@link
 *       RequestDrain});
 *   <li>observability mode: hooks run, nothing is sent ({@link #emit});
 *   <li>FULL_DUPLEX_STREAMED and GRPC bodies: any number of replies per chunk or message ({@link
 *       FullDuplexBody}, {@link GrpcBody}), FULL_DUPLEX_STREAMED headers replies deferred until the
 *       body ends ({@link DeferredHeaders});
 *   <li>flow control, when the client sent {@code flow_control_init}: replies held while the
 *       client's window for them is closed, {@code server_window_update}s for what was processed
 *       ({@link FlowWindows});
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
  // Per direction, created with the first streamed body message: most streams have none.
  private @Nullable StreamedBody @Nullable [] bodies;
  // Created by flow_control_init: most clients send none.
  private @Nullable FlowWindows windows;

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
    boolean windowUpdate;
    try {
      windowUpdate = readFlowControl(request);
    } catch (StatusRuntimeException e) {
      refuse(e);
      return;
    }
    Phase phase = Phase.of(request);
    if (phase == null) {
      if (windowUpdate && windows != null && !immediateResponseSent) {
        emit(null, windows.flush());
      } else {
        logger.debug("[{}] message without a request case: no reply", ctx.streamId());
      }
      return;
    }
    shared.metrics().message(phase);
    if (immediateResponseSent) {
      logger.debug(
          "[{}] {} after an immediate response: ignored", ctx.streamId(), phase.wireName());
      return;
    }
    if (drain != null && drain.echoes(phase)) {
      ProcessingResponse echo;
      try {
        echo = drain.echo(phase, request);
      } catch (StatusRuntimeException e) {
        refuse(e);
        return;
      }
      emit(phase, paced(phase, request, List.of(echo)));
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
      emit(phase, paced(phase, request, replies));
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

  /** Ends the stream with the status of a message the engine refuses (malformed newer fields). */
  private void refuse(StatusRuntimeException e) {
    logger.debug("[{}] {}", ctx.streamId(), e.getStatus().getDescription());
    sink.close(e.getStatus(), e.getTrailers());
  }

  /**
   * The replies to {@code request} that the client's windows let out now, with the grant for its
   * body bytes once they are out ({@link FlowWindows}); all of them without flow control.
   */
  private List<ProcessingResponse> paced(
      Phase phase, ProcessingRequest request, List<ProcessingResponse> replies) {
    if (windows == null) {
      return replies;
    }
    long consumed =
        phase.kind() == Phase.Kind.BODY ? phase.direction().body(request).getBody().size() : 0;
    return windows.pass(phase.direction(), replies, consumed);
  }

  /** Starts a request drain that the hook asked for; else returns {@code replies}. */
  @SuppressWarnings("EnumOrdinal") // see streamedBody
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

  /**
   * Reads {@code flow_control_init} (it starts flow control) and applies a {@code
   * client_window_update}; returns whether {@code request} carried one.
   */
  private boolean readFlowControl(ProcessingRequest request) {
    ProcessingRequestFields fields = NewerFields.of(request);
    if (fields.hasFlowControlInit() && windows == null) {
      windows = new FlowWindows(fields.getFlowControlInit());
    }
    if (!fields.hasClientWindowUpdate() || windows == null) {
      return false;
    }
    windows.update(fields.getClientWindowUpdate());
    if (logger.isDebugEnabled()) {
      logger.debug(
          "[{}] client_window_update: {}, {} replies held",
          ctx.streamId(),
          windows,
          windows.heldReplies());
    }
    return true;
  }

  /**
   * Sends replies to a message of {@code phase} (null: replies the windows released), unless the
   * stream is only observed.
   */
  private void emit(@Nullable Phase phase, List<ProcessingResponse> replies) {
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
        if (phase != null) {
          shared.metrics().immediateResponse(phase);
        }
        return;
      }
      if (reply.hasModeOverride()) {
        ctx.modeOverrideSent(reply.getModeOverride());
      }
    }
  }

  /**
   * Runs the hook (or body transformer) of {@code phase} and returns the replies to send: none for
   * a deferred headers reply ({@link DeferredHeaders}), the headers of a streamed reply ({@link
   * StreamedReply}) instead of the hook's, with typed metadata ({@link TypedMetadata}).
   */
  private List<ProcessingResponse> respond(Phase phase, ProcessingRequest request) {
    StreamedBody body = phase.kind() == Phase.Kind.HEADERS ? null : streamedBody(phase);
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

  /**
   * The direction's streamed body (GRPC or FULL_DUPLEX_STREAMED), or null when the direction is in
   * neither mode.
   */
  @SuppressWarnings("EnumOrdinal") // an array indexed by direction, as in an EnumMap
  private @Nullable StreamedBody streamedBody(Phase phase) {
    Direction direction = phase.direction();
    boolean grpc = direction.isGrpc(ctx);
    if (!grpc && direction.bodyMode(ctx) != BodySendMode.FULL_DUPLEX_STREAMED) {
      return null;
    }
    if (bodies == null) {
      bodies = new StreamedBody[Direction.values().length];
    }
    StreamedBody body = bodies[direction.ordinal()];
    if (body == null) {
      body =
          grpc
              ? new GrpcBody(direction, callout.config())
              : new FullDuplexBody(direction, callout.config());
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
