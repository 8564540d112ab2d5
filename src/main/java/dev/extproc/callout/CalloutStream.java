package dev.extproc.callout;

import com.google.protobuf.Struct;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One ext_proc stream: runs the hooks for each message and enforces the protocol whatever they do.
 *
 * <p>gRPC delivers a call's callbacks one at a time, so most fields need no locking. The exception
 * is the {@link HookWatchdog}: it may end the stream while a hook runs (deadline) or interrupt a
 * cancelled stream's hook. The {@code hook} word (a generation counter and a state) decides, by
 * compare-and-set, whether the hook's return or the watchdog wins; the watchdog then acts under
 * {@code lock}, which the hook thread takes before it goes on.
 */
final class CalloutStream extends ServerCall.Listener<ProcessingRequest> {
  private static final Logger logger = LoggerFactory.getLogger(CalloutStream.class);

  private static final long IDLE = 0;
  private static final long RUNNING = 1;
  private static final long TIMED_OUT = 2;
  private static final long INTERRUPTED = 3;
  private static final long STATE_MASK = 3;
  private static final VarHandle HOOK;

  static {
    try {
      HOOK = MethodHandles.lookup().findVarHandle(CalloutStream.class, "hook", long.class);
    } catch (ReflectiveOperationException e) {
      throw new ExceptionInInitializerError(e);
    }
  }

  private final CalloutServer callout;
  private final ServerCall<ProcessingRequest, ProcessingResponse> call;
  private final CalloutContext ctx;
  private boolean headersSent;
  private boolean immediateResponseSent;
  private boolean observabilityLogged;
  private boolean ended;
  private @Nullable FullDuplexBody requestBody;
  private @Nullable FullDuplexBody responseBody;
  private volatile boolean closed;
  private final @Nullable Executor hookExecutor;

  /** Events that are not messages. */
  private enum Signal {
    START,
    HALF_CLOSE,
    CANCEL,
    CLOSED_BY_GRPC
  }

  private final Object queueLock = new Object();
  private @Nullable ArrayDeque<Object> pending; // guarded by queueLock
  private boolean draining; // guarded by queueLock: this stream has a task on the hook executor
  private int unfinished; // guarded by queueLock: messages delivered and not yet processed
  private boolean owed; // guarded by queueLock: a request(1) held back by flow control

  /** Taken by the watchdog when it acts, and by the hook thread that lost the race to it. */
  private final Object lock = new Object();

  /** (generation << 2) | state of the hook for the current message. */
  private volatile long hook;

  private volatile long hookStartNanos;
  private volatile @Nullable Thread hookThread;
  private @Nullable Phase hookPhase;

  CalloutStream(
      CalloutServer callout,
      ServerCall<ProcessingRequest, ProcessingResponse> call,
      CalloutContext ctx,
      @Nullable Executor hookExecutor) {
    this.callout = callout;
    this.call = call;
    this.ctx = ctx;
    this.hookExecutor = hookExecutor;
    ctx.standaloneSender(this::sendStandalone);
  }

  // ---- Event delivery ----
  //
  // gRPC calls the listener methods below on the network thread (the server uses a direct
  // executor). Work that runs user code (a hook; onStreamStart/onStreamEnd when overridden) goes to
  // the hook executor, one task at a time per stream, in arrival order; everything else runs on
  // the spot when nothing is queued. Handing a message to another thread and back is the main cost
  // of a callout, so this keeps it to the one hand-off per message that a blocking hook needs.

  /** Asks for the first message and runs {@code onStreamStart}. */
  void start() {
    callout.metrics().streamStarted();
    if (logger.isDebugEnabled()) {
      logger.debug("[{}] stream opened by {}", ctx.streamId(), ctx.peerAddress().orElse(null));
    }
    callout.watchdog().watch(this);
    call.request(1);
    submit(Signal.START, callout.overridesStreamStart());
  }

  @Override
  public void onMessage(ProcessingRequest request) {
    if (closed) {
      return;
    }
    // One message may wait while another is processed; past that, flow control holds the client.
    boolean requestNow;
    synchronized (queueLock) {
      requestNow = ++unfinished < 2;
      owed |= !requestNow;
    }
    if (requestNow) {
      call.request(1);
    }
    submit(request, true);
  }

  @Override
  public void onHalfClose() {
    submit(Signal.HALF_CLOSE, callout.overridesStreamEnd());
  }

  @Override
  public void onCancel() {
    // gRPC ends every call with exactly one of onCancel and onComplete: the stream stops counting
    // towards --max-concurrent-streams.
    callout.streamLimit().release();
    // Set at once, so the reply of a hook running now is dropped.
    closed = true;
    submit(Signal.CANCEL, callout.overridesStreamEnd());
  }

  @Override
  public void onComplete() {
    callout.streamLimit().release();
    if (!closed) {
      // gRPC closed the call itself: a message that did not parse as a ProcessingRequest.
      closed = true;
      submit(Signal.CLOSED_BY_GRPC, callout.overridesStreamEnd());
    }
  }

  /** Processes {@code event} here, or on the hook executor when {@code userCode} runs. */
  private void submit(Object event, boolean userCode) {
    Executor executor = userCode ? hookExecutor : null;
    synchronized (queueLock) {
      if (draining) {
        if (pending == null) {
          pending = new ArrayDeque<>(4);
        }
        pending.add(event);
        return;
      }
      draining = executor != null;
    }
    if (executor == null) {
      process(event);
      return;
    }
    try {
      executor.execute(() -> drain(event));
    } catch (RejectedExecutionException e) {
      synchronized (queueLock) {
        draining = false;
        pending = null;
      }
      close(Status.UNAVAILABLE.withDescription("the server is shutting down"), null);
    }
  }

  /** On the hook executor: processes {@code first}, then whatever arrived meanwhile. */
  private void drain(Object first) {
    Object event = first;
    while (true) {
      process(event);
      synchronized (queueLock) {
        event = pending == null ? null : pending.poll();
        if (event == null) {
          draining = false;
          return;
        }
      }
    }
  }

  private void process(Object event) {
    if (event instanceof ProcessingRequest request) {
      try {
        message(request);
      } finally {
        messageDone();
      }
    } else if (event == Signal.START) {
      runStart();
    } else if (event == Signal.HALF_CLOSE) {
      if (logger.isDebugEnabled()) {
        logger.debug("[{}] half-closed by the client", ctx.streamId());
      }
      close(Status.OK, null);
    } else if (event == Signal.CANCEL) {
      logger.debug("[{}] cancelled by the client", ctx.streamId());
      end(Status.CANCELLED);
    } else {
      logger.debug("[{}] closed by gRPC: a message did not parse", ctx.streamId());
      end(
          Status.UNKNOWN.withDescription(
              "gRPC closed the call: a message did not parse as a ProcessingRequest"));
    }
  }

  /** A message is done: asks for the one held back, if any. */
  private void messageDone() {
    boolean requestNow;
    synchronized (queueLock) {
      unfinished--;
      requestNow = owed;
      owed = false;
    }
    if (requestNow && !closed) {
      call.request(1);
    }
  }

  private void runStart() {
    try {
      callout.onStreamStart(ctx);
    } catch (StatusRuntimeException e) {
      close(e.getStatus(), e.getTrailers());
    } catch (RuntimeException e) {
      fail("onStreamStart", e);
    }
  }

  private void message(ProcessingRequest request) {
    if (closed) {
      return;
    }
    long size = SizeCheckedRequests.oversizedBytes(request);
    if (size >= 0) {
      // The transport's own limit sits above this one: past it grpc-java resets the stream
      // (CANCEL) without saying why, while this names the limit (grpc/grpc-java#11245).
      int limit = callout.config().maxInboundMessageSize();
      logger.debug("[{}] message of {} bytes over the limit of {}", ctx.streamId(), size, limit);
      close(
          Status.RESOURCE_EXHAUSTED.withDescription(
              "message of "
                  + size
                  + " bytes exceeds the inbound limit of "
                  + limit
                  + " bytes (--max-inbound-message-size)"),
          new Metadata());
      return;
    }
    handle(request);
  }

  private void handle(ProcessingRequest request) {
    Phase phase = Phase.of(request);
    if (phase == null) {
      logger.debug("[{}] message without a request case: no reply", ctx.streamId());
      return;
    }
    callout.metrics().message(phase);
    if (immediateResponseSent) {
      logger.debug(
          "[{}] {} after an immediate response: ignored", ctx.streamId(), phase.wireName());
      return;
    }
    if (logger.isDebugEnabled()) {
      // Guarded: the stream id would be boxed for every message even with debug off.
      logger.debug("[{}] {} received", ctx.streamId(), phase.wireName());
    }
    ctx.enter(request, phase);
    List<ProcessingResponse> replies = List.of();
    Throwable failure = null;
    long ticket = beginHook(phase);
    boolean inTime;
    try {
      replies = guarded(phase, respond(phase, request));
    } catch (RuntimeException | Error e) {
      // An Error (StackOverflowError, a failed class initialiser...) fails the stream like an
      // exception: left to propagate, it would leave the stream without an answer.
      failure = e;
    } finally {
      callout.metrics().hookEnded(phase, hookStartNanos);
      ctx.exit();
      inTime = endHook(ticket);
    }
    if (!inTime) {
      logger.debug(
          "[{}] {} returned after the watchdog ended it", ctx.streamId(), phase.hookName());
      return;
    }
    if (failure instanceof StatusRuntimeException e) {
      logger.debug(
          "[{}] {} ended the stream with {}", ctx.streamId(), hookName(phase), e.getStatus());
      close(e.getStatus(), e.getTrailers());
      return;
    }
    if (failure != null) {
      fail(hookName(phase), failure);
      return;
    }
    if (ctx.isCancelled()) {
      // Envoy reset the stream while the hook ran; the listener hears of it only after this.
      logger.debug("[{}] cancelled during {}: reply dropped", ctx.streamId(), hookName(phase));
      return;
    }
    if (ctx.isObservabilityMode()) {
      if (!observabilityLogged) {
        observabilityLogged = true;
        logger.debug("[{}] observability mode: hook responses are not sent", ctx.streamId());
      }
      return;
    }
    for (ProcessingResponse reply : replies) {
      send(reply);
      if (reply.hasImmediateResponse()) {
        immediateResponseSent = true;
        callout.metrics().immediateResponse(phase);
        return;
      }
    }
  }

  /** Applies the header mutation guard to each reply; the same list when nothing changed. */
  @SuppressWarnings("ReferenceEquality") // the guard returns the same instance when all is well
  private List<ProcessingResponse> guarded(Phase phase, List<ProcessingResponse> replies) {
    MutationGuard guard = callout.guard();
    List<ProcessingResponse> checked = replies;
    for (int i = 0; i < replies.size(); i++) {
      ProcessingResponse reply = replies.get(i);
      ProcessingResponse ok = guard.check(reply, phase.isRequestDirection(), ctx.streamId());
      if (ok != reply) {
        if (checked == replies) {
          checked = new ArrayList<>(replies);
        }
        checked.set(i, ok);
      }
    }
    return checked;
  }

  /** Runs the hook (or body transformer) of {@code phase} and returns the replies to send. */
  private List<ProcessingResponse> respond(Phase phase, ProcessingRequest request) {
    FullDuplexBody body = fullDuplexBody(phase);
    if (body == null) {
      return List.of(PhaseReply.of(phase, callout.process(request, ctx), ctx));
    }
    if (phase == Phase.REQUEST_BODY || phase == Phase.RESPONSE_BODY) {
      return fullDuplexChunk(phase, request, body);
    }
    // Trailers after an unfinished full-duplex body: the body ends (its last chunk unmarked),
    // then the trailers get their reply.
    List<ProcessingResponse> replies = new ArrayList<>();
    if (body.isOpen()) {
      BodyTransformer transformer = ctx.bodyTransformer(phase.isRequestDirection());
      if (transformer != null) {
        transformer.onEnd(body);
      }
      replies.addAll(body.drainBeforeTrailers());
    }
    replies.add(PhaseReply.of(phase, callout.process(request, ctx), ctx));
    return body.withMetadata(null, replies);
  }

  /** The direction's full-duplex body state, or null when the direction is not in that mode. */
  private @Nullable FullDuplexBody fullDuplexBody(Phase phase) {
    if (phase == Phase.REQUEST_HEADERS || phase == Phase.RESPONSE_HEADERS) {
      return null;
    }
    boolean request = phase.isRequestDirection();
    if ((request ? ctx.requestBodyMode() : ctx.responseBodyMode())
        != BodySendMode.FULL_DUPLEX_STREAMED) {
      return null;
    }
    if (request) {
      if (requestBody == null) {
        requestBody = new FullDuplexBody(true, callout.config());
      }
      return requestBody;
    }
    if (responseBody == null) {
      responseBody = new FullDuplexBody(false, callout.config());
    }
    return responseBody;
  }

  /**
   * One chunk of a full-duplex body: through the transformer when there is one, else through the
   * body hook, whose reply for the chunk ({@code null}: unchanged; a body: replaced; {@code
   * clear_body}: dropped) becomes streamed output.
   */
  private List<ProcessingResponse> fullDuplexChunk(
      Phase phase, ProcessingRequest request, FullDuplexBody body) {
    boolean requestDirection = phase == Phase.REQUEST_BODY;
    if (body.isEnded()) {
      // Envoy never sends one; there is nowhere to put it once the last chunk was marked.
      throw Status.INVALID_ARGUMENT
          .withDescription(
              phase.wireName()
                  + " after the end of the body (end_of_stream or trailers) in"
                  + " FULL_DUPLEX_STREAMED mode")
          .asRuntimeException();
    }
    HttpBody chunk = requestDirection ? request.getRequestBody() : request.getResponseBody();
    body.markStarted();
    BodyTransformer transformer = ctx.bodyTransformer(requestDirection);
    Struct metadata = null;
    if (transformer != null) {
      transformer.onChunk(chunk.getBody(), body);
      if (chunk.getEndOfStream()) {
        transformer.onEnd(body);
      }
    } else {
      ProcessingResponse returned = callout.process(request, ctx);
      if (ctx.immediateResponse() != null
          || (returned != null && returned.hasImmediateResponse())) {
        return List.of(PhaseReply.of(phase, returned, ctx));
      }
      if (returned == null) {
        body.write(chunk.getBody());
      } else {
        PhaseReply.checkResponseCase(phase, returned);
        if (returned.hasDynamicMetadata()) {
          PhaseReply.checkNamespaces(returned.getDynamicMetadata());
          metadata = returned.getDynamicMetadata();
        }
        BodyMutation mutation =
            (requestDirection ? returned.getRequestBody() : returned.getResponseBody())
                .getResponse()
                .getBodyMutation();
        switch (mutation.getMutationCase()) {
          case BODY -> body.write(mutation.getBody());
          case STREAMED_RESPONSE -> body.write(mutation.getStreamedResponse().getBody());
          case CLEAR_BODY -> {}
          default -> body.write(chunk.getBody());
        }
      }
    }
    Struct attached = ctx.dynamicMetadata();
    if (attached != null) {
      metadata = metadata == null ? attached : PhaseReply.merge(metadata, attached);
    }
    return body.withMetadata(metadata, body.drain(chunk.getEndOfStream()));
  }

  private String hookName(Phase phase) {
    return callout.overridesProcess() ? "process (" + phase.wireName() + ")" : phase.hookName();
  }

  /** Marks the hook of {@code phase} as running; returns the ticket {@link #endHook} needs. */
  private long beginHook(Phase phase) {
    hookPhase = phase;
    hookThread = Thread.currentThread();
    hookStartNanos = System.nanoTime();
    long ticket = (((hook >>> 2) + 1) << 2) | RUNNING;
    hook = ticket;
    return ticket;
  }

  /**
   * Marks the hook as returned; false when the watchdog got there first (the stream is closed or
   * cancelled and the hook's result must be dropped). Clears an interrupt the watchdog sent.
   */
  private boolean endHook(long ticket) {
    if (HOOK.compareAndSet(this, ticket, (ticket & ~STATE_MASK) | IDLE)) {
      return true;
    }
    synchronized (lock) {
      // The watchdog has finished with this stream: the interrupt was meant for the hook alone.
      boolean interrupted = Thread.interrupted();
      logger.debug("[{}] hook thread interrupted: {}", ctx.streamId(), interrupted);
    }
    return false;
  }

  /**
   * Called by the {@link HookWatchdog} on its own thread: ends the stream with {@code
   * DEADLINE_EXCEEDED} when the running hook has overrun {@code deadlineNanos} (if not 0), and
   * interrupts the hook of a cancelled stream.
   */
  void checkHook(long now, long deadlineNanos) {
    long ticket = hook;
    if ((ticket & STATE_MASK) != RUNNING) {
      return;
    }
    boolean late = deadlineNanos != 0 && now - hookStartNanos > deadlineNanos;
    if (!late && !ctx.isCancelled()) {
      return;
    }
    synchronized (lock) {
      if (!HOOK.compareAndSet(
          this, ticket, (ticket & ~STATE_MASK) | (late ? TIMED_OUT : INTERRUPTED))) {
        return;
      }
      Thread thread = hookThread;
      Phase phase = hookPhase;
      String hook = phase == null ? "hook" : hookName(phase);
      if (late) {
        Duration deadline = Duration.ofNanos(deadlineNanos);
        Throwable where = new Throwable(hook + " stack when its deadline passed");
        if (thread != null) {
          where.setStackTrace(thread.getStackTrace());
        }
        logger.warn(
            "[{}] {} did not return within {}; ending the stream with DEADLINE_EXCEEDED",
            ctx.streamId(),
            hook,
            deadline,
            where);
        close(
            Status.DEADLINE_EXCEEDED.withDescription(
                hook + " did not return within " + deadline + " (--hook-deadline)"),
            new Metadata());
      } else {
        logger.debug("[{}] cancelled while {} ran: interrupting it", ctx.streamId(), hook);
      }
      if (thread != null) {
        thread.interrupt();
      }
    }
  }

  /** Sends a message outside the one-reply-per-message order (override_message_timeout). */
  private void sendStandalone(ProcessingResponse message) {
    // The hook is running, so the watchdog may be closing the call at this moment.
    synchronized (lock) {
      if (!closed && !ctx.isCancelled()) {
        send(message);
      }
    }
  }

  private void send(ProcessingResponse response) {
    if (!headersSent) {
      call.sendHeaders(new Metadata());
      headersSent = true;
    }
    call.sendMessage(response);
  }

  private void fail(String hook, Throwable e) {
    logger.warn("[{}] {} failed; ending the stream with INTERNAL", ctx.streamId(), hook, e);
    close(Status.INTERNAL.withDescription(hook + " failed: " + e).withCause(e), new Metadata());
  }

  private void close(Status status, @Nullable Metadata trailers) {
    if (closed) {
      return;
    }
    closed = true;
    // onStreamEnd runs before the close goes out, so Envoy never sees a stream end whose hook
    // is still running.
    end(status);
    call.close(status, trailers == null ? new Metadata() : trailers);
  }

  private void end(Status status) {
    if (ended) {
      return;
    }
    ended = true;
    callout.watchdog().unwatch(this);
    callout.metrics().streamEnded(status.getCode());
    try {
      callout.onStreamEnd(ctx, status);
    } catch (RuntimeException e) {
      logger.warn("[{}] onStreamEnd failed", ctx.streamId(), e);
    }
  }
}
