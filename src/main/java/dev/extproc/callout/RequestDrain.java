package dev.extproc.callout;

import dev.extproc.callout.internal.wire.HttpBodyFields;
import dev.extproc.callout.internal.wire.NewerFields;
import dev.extproc.callout.internal.wire.ProcessingResponseFields;
import dev.extproc.callout.internal.wire.StreamedBodyResponseFields;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.StreamedBodyResponse;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * A request drain ({@code request_drain}, FULL_DUPLEX_STREAMED and GRPC body modes), once a hook
 * asked for it ({@link CalloutContext#drainRequest}): the flag goes out on the last reply of that
 * hook's message, after what the request body's transformer still held; then every request body
 * chunk already on its way is echoed unchanged (with GRPC mode's flags) and request trailers get an
 * empty reply, without hooks, until the request body ends, when {@link StreamCore} ends the stream
 * OK. grpc-java's client half-closes its ext_proc stream when it reads the flag and sends the rest
 * of the body to the backend itself; its half-close also ends the stream OK.
 */
final class RequestDrain {
  private boolean ended;

  /**
   * Refuses a drain in a mode where the client does not stream the body to the server, or while the
   * request headers reply is deferred ({@link DeferredHeaders}).
   *
   * @throws IllegalStateException naming the mode Envoy announced, or the deferred reply
   */
  static void check(int requestBodyMode, CalloutContext ctx) {
    if (requestBodyMode != BodySendMode.FULL_DUPLEX_STREAMED_VALUE
        && requestBodyMode != NewerFields.GRPC_BODY_MODE) {
      throw new IllegalStateException(
          "request_drain needs request body mode FULL_DUPLEX_STREAMED or GRPC; Envoy announced "
              + StreamedReply.modeName(requestBodyMode));
    }
    if (DeferredHeaders.isHeld(ctx, Direction.REQUEST)
        || DeferredHeaders.isAsked(ctx, Phase.REQUEST_HEADERS)) {
      throw new IllegalStateException(
          "request_drain while the request headers reply is deferred (deferHeadersReply): the"
              + " drained body would go out before it");
    }
  }

  /**
   * Starts the drain: returns {@code replies}, then the request body's held output ({@code body} is
   * the request's streamed body, FULL_DUPLEX_STREAMED or GRPC, if it has one), the last of them
   * carrying {@code request_drain}, or a message of its own when there is none.
   */
  List<ProcessingResponse> start(
      List<ProcessingResponse> replies, @Nullable StreamedBody body, CalloutContext ctx) {
    List<ProcessingResponse> all = new ArrayList<>(replies);
    if (body != null && body.isOpen()) {
      BodyTransformer transformer = Direction.REQUEST.transformer(ctx);
      if (transformer != null) {
        transformer.onEnd(body);
      }
      all.addAll(body.flush());
    }
    ended =
        ctx.requestHeaders().map(HttpHeaders::getEndOfStream).orElse(false)
            || (body != null && body.isEnded());
    ProcessingResponseFields drain =
        ProcessingResponseFields.newBuilder().setRequestDrain(true).build();
    if (all.isEmpty()) {
      all.add(NewerFields.merge(ProcessingResponse.newBuilder(), drain).build());
    } else {
      int last = all.size() - 1;
      all.set(last, NewerFields.merge(all.get(last).toBuilder(), drain).build());
    }
    return all;
  }

  /** Whether a message of {@code phase} is echoed by the drain instead of going to a hook. */
  boolean echoes(Phase phase) {
    return phase == Phase.REQUEST_BODY || phase == Phase.REQUEST_TRAILERS;
  }

  /** The echo of a request body chunk or the reply to request trailers. */
  ProcessingResponse echo(Phase phase, ProcessingRequest request) {
    if (phase == Phase.REQUEST_TRAILERS) {
      ended = true;
      return phase.continueResponse();
    }
    HttpBody chunk = request.getRequestBody();
    ended |= chunk.getEndOfStream();
    StreamedBodyResponse.Builder echo =
        StreamedBodyResponse.newBuilder()
            .setBody(chunk.getBody())
            .setEndOfStream(chunk.getEndOfStream());
    HttpBodyFields flags = NewerFields.of(chunk);
    if (flags.getEndOfStreamWithoutMessage() || flags.getGrpcMessageCompressed()) {
      NewerFields.merge(
          echo,
          StreamedBodyResponseFields.newBuilder()
              .setEndOfStreamWithoutMessage(flags.getEndOfStreamWithoutMessage())
              .setGrpcMessageCompressed(flags.getGrpcMessageCompressed())
              .build());
    }
    return Direction.REQUEST.streamedReply(echo.build());
  }

  /** Whether the request body ended, so that the stream can end OK. */
  boolean ended() {
    return ended;
  }
}
