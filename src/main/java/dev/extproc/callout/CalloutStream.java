package dev.extproc.callout;

import com.google.protobuf.Struct;
import io.envoyproxy.envoy.service.ext_proc.v3.ImmediateResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse.ResponseCase;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
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
  private volatile boolean closed;

  CalloutStream(
      CalloutServer callout,
      ServerCall<ProcessingRequest, ProcessingResponse> call,
      CalloutContext ctx) {
    this.callout = callout;
    this.call = call;
    this.ctx = ctx;
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
    ProcessingResponse response;
    try {
      response = reply(phase, callout.process(request, ctx));
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
    send(response);
    immediateResponseSent = response.hasImmediateResponse();
  }

  /** Turns what the hook returned, and what it put in the context, into the phase's response. */
  private ProcessingResponse reply(Phase phase, @Nullable ProcessingResponse returned) {
    if (returned != null) {
      checkResponseCase(phase, returned);
    }
    ImmediateResponse immediate = ctx.immediateResponse();
    Struct metadata = ctx.dynamicMetadata();
    ProcessingResponse response;
    if (immediate != null) {
      // The immediate response replaces the returned one, but keeps its dynamic metadata.
      response = ProcessingResponse.newBuilder().setImmediateResponse(immediate).build();
      if (returned != null && returned.hasDynamicMetadata()) {
        metadata = merge(returned.getDynamicMetadata(), metadata);
      }
    } else {
      response = returned != null ? returned : phase.continueResponse();
    }
    if (metadata == null) {
      return response;
    }
    return response.toBuilder()
        .setDynamicMetadata(merge(response.getDynamicMetadata(), metadata))
        .build();
  }

  private static Struct merge(Struct base, @Nullable Struct extra) {
    return extra == null ? base : base.toBuilder().putAllFields(extra.getFieldsMap()).build();
  }

  private static void checkResponseCase(Phase phase, ProcessingResponse returned) {
    ResponseCase actual = returned.getResponseCase();
    if (actual == phase.responseCase()) {
      return;
    }
    if (actual == ResponseCase.IMMEDIATE_RESPONSE && phase.allowsImmediateResponse()) {
      int code = returned.getImmediateResponse().getStatus().getCodeValue();
      if (code < 200 || code > 599) {
        throw new IllegalStateException(
            "immediate_response with HTTP status " + code + " (expected: 200..599)");
      }
      return;
    }
    throw new IllegalStateException(
        "returned "
            + (actual == ResponseCase.RESPONSE_NOT_SET
                ? "a ProcessingResponse with no response case"
                : actual.name().toLowerCase(java.util.Locale.ROOT))
            + " in reply to "
            + phase.wireName()
            + " (expected: "
            + phase.wireName()
            + (phase.allowsImmediateResponse() ? " or immediate_response)" : ")"));
  }

  private String hookName(Phase phase) {
    return callout.overridesProcess() ? "process (" + phase.wireName() + ")" : phase.hookName();
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
