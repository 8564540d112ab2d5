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
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One ext_proc stream: runs the hooks for each message and enforces the protocol whatever they do.
 *
 * <p>gRPC delivers a call's callbacks one at a time, so the fields need no locking; {@code closed}
 * is volatile only because a cancel may be observed from the transport.
 */
final class CalloutStream extends ServerCall.Listener<ProcessingRequest> {
  private static final Logger logger = LoggerFactory.getLogger(CalloutStream.class);

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

  CalloutStream(
      CalloutServer callout,
      ServerCall<ProcessingRequest, ProcessingResponse> call,
      CalloutContext ctx) {
    this.callout = callout;
    this.call = call;
    this.ctx = ctx;
    ctx.standaloneSender(this::sendStandalone);
  }

  /** Runs {@code onStreamStart} and asks for the first message. */
  void start() {
    logger.debug("[{}] stream opened by {}", ctx.streamId(), ctx.peerAddress().orElse(null));
    try {
      callout.onStreamStart(ctx);
    } catch (StatusRuntimeException e) {
      close(e.getStatus(), e.getTrailers());
      return;
    } catch (RuntimeException e) {
      fail("onStreamStart", e);
      return;
    }
    call.request(1);
  }

  @Override
  public void onMessage(ProcessingRequest request) {
    if (closed) {
      return;
    }
    int limit = callout.config().maxInboundMessageSize();
    int size = request.getSerializedSize();
    if (size > limit) {
      // The transport's own limit sits above this one: past it grpc-java resets the stream
      // (CANCEL) without saying why, while this names the limit (grpc/grpc-java#11245).
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
    try {
      handle(request);
    } finally {
      if (!closed) {
        call.request(1);
      }
    }
  }

  private void handle(ProcessingRequest request) {
    Phase phase = Phase.of(request);
    if (phase == null) {
      logger.debug("[{}] message without a request case: no reply", ctx.streamId());
      return;
    }
    if (immediateResponseSent) {
      logger.debug(
          "[{}] {} after an immediate response: ignored", ctx.streamId(), phase.wireName());
      return;
    }
    logger.debug("[{}] {} received", ctx.streamId(), phase.wireName());
    ctx.enter(request, phase);
    List<ProcessingResponse> replies;
    try {
      replies = guarded(phase, respond(phase, request));
    } catch (StatusRuntimeException e) {
      logger.debug(
          "[{}] {} ended the stream with {}", ctx.streamId(), hookName(phase), e.getStatus());
      close(e.getStatus(), e.getTrailers());
      return;
    } catch (RuntimeException e) {
      fail(hookName(phase), e);
      return;
    } finally {
      ctx.exit();
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

  /** Sends a message outside the one-reply-per-message order (override_message_timeout). */
  private void sendStandalone(ProcessingResponse message) {
    if (!closed && !ctx.isCancelled()) {
      send(message);
    }
  }

  private void send(ProcessingResponse response) {
    if (!headersSent) {
      call.sendHeaders(new Metadata());
      headersSent = true;
    }
    call.sendMessage(response);
  }

  private void fail(String hook, RuntimeException e) {
    logger.warn("[{}] {} failed; ending the stream with INTERNAL", ctx.streamId(), hook, e);
    close(Status.INTERNAL.withDescription(hook + " failed: " + e).withCause(e), new Metadata());
  }

  @Override
  public void onHalfClose() {
    logger.debug("[{}] half-closed by the client", ctx.streamId());
    close(Status.OK, new Metadata());
  }

  @Override
  public void onCancel() {
    if (closed) {
      return;
    }
    closed = true;
    logger.debug("[{}] cancelled by the client", ctx.streamId());
    end(Status.CANCELLED);
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
    try {
      callout.onStreamEnd(ctx, status);
    } catch (RuntimeException e) {
      logger.warn("[{}] onStreamEnd failed", ctx.streamId(), e);
    }
  }
}
