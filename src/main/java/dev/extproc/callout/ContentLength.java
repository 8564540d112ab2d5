package dev.extproc.callout;

import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeaderMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import java.util.function.UnaryOperator;
import org.jspecify.annotations.Nullable;

/**
 * Keeps a body's {@code content-length} true when the callout may change the body's length, in
 * every body mode (the rule is the README's "Content-length" table). It acts only when the
 * direction's headers carried {@code content-length} and the reply does not set or remove it
 * itself:
 *
 * <ul>
 *   <li>BUFFERED: the body reply sets it to the new length (Envoy still holds the headers, and
 *       answers 500 on a mismatch);
 *   <li>FULL_DUPLEX_STREAMED with a {@link BodyTransformer} registered, headers answered at once:
 *       the headers reply removes it, as the final length is not known yet;
 *   <li>FULL_DUPLEX_STREAMED with the headers reply deferred ({@link DeferredHeaders}): that reply
 *       sets it to the exact length of the body sent on.
 * </ul>
 *
 * <p>Elsewhere it changes nothing: in STREAMED and BUFFERED_PARTIAL Envoy removes the header itself
 * (Envoy 1.38+ with {@code allow_content_length_header} keeps it, and then a hook that changes the
 * length must remove it from its own headers reply), and gRPC messages carry their own length.
 */
final class ContentLength {
  static final String NAME = "content-length";

  private ContentLength() {}

  /**
   * Returns {@code response}, the reply to {@code phase}, with {@code content-length} kept true.
   */
  static ProcessingResponse of(Phase phase, ProcessingResponse response, CalloutContext ctx) {
    Direction direction = phase.direction();
    BodySendMode mode = direction.bodyMode(ctx);
    if (phase.kind() == Phase.Kind.BODY && mode == BodySendMode.BUFFERED) {
      return inBufferedBody(direction, response, ctx);
    }
    if (phase.kind() == Phase.Kind.HEADERS
        && mode == BodySendMode.FULL_DUPLEX_STREAMED
        && direction.transformer(ctx) != null
        && !DeferredHeaders.isAsked(ctx, phase)
        && !direction.headers(ctx).map(HttpHeaders::getEndOfStream).orElse(true)) {
      return removedBeforeTransformer(direction, response, ctx);
    }
    return response;
  }

  /**
   * Returns a held headers reply of {@code direction} with {@code content-length} set to {@code
   * length}, the size of the body sent after it, when the headers declared another length.
   */
  static ProcessingResponse declared(
      Direction direction, ProcessingResponse headersReply, long length, CalloutContext ctx) {
    CommonResponse common = direction.headersResponse(headersReply).getResponse();
    return needsChange(direction, common.getHeaderMutation(), length, ctx)
        ? editHeaders(direction, headersReply, c -> withLength(c, length))
        : headersReply;
  }

  private static ProcessingResponse inBufferedBody(
      Direction direction, ProcessingResponse response, CalloutContext ctx) {
    CommonResponse common = direction.bodyResponse(response).getResponse();
    BodyMutation mutation = common.getBodyMutation();
    long length;
    switch (mutation.getMutationCase()) {
      case BODY -> length = mutation.getBody().size();
      case CLEAR_BODY -> length = 0;
      default -> {
        return response;
      }
    }
    if (!needsChange(direction, common.getHeaderMutation(), length, ctx)) {
      return response;
    }
    BodyResponse body = direction.bodyResponse(response);
    return direction
        .set(response.toBuilder(), body.toBuilder().setResponse(withLength(common, length)).build())
        .build();
  }

  private static ProcessingResponse removedBeforeTransformer(
      Direction direction, ProcessingResponse response, CalloutContext ctx) {
    HeaderMutation mutation = direction.headersResponse(response).getResponse().getHeaderMutation();
    if (declaredLength(direction, ctx) == null || mentions(mutation)) {
      return response;
    }
    return editHeaders(
        direction,
        response,
        c -> c.toBuilder().setHeaderMutation(mutation.toBuilder().addRemoveHeaders(NAME)).build());
  }

  /** Returns {@code reply} with its headers reply's common part edited by {@code edit}. */
  private static ProcessingResponse editHeaders(
      Direction direction, ProcessingResponse reply, UnaryOperator<CommonResponse> edit) {
    HeadersResponse headers = direction.headersResponse(reply);
    return direction
        .set(
            reply.toBuilder(),
            headers.toBuilder().setResponse(edit.apply(headers.getResponse())).build())
        .build();
  }

  /** Whether the headers declared a length other than {@code length} that the reply leaves. */
  private static boolean needsChange(
      Direction direction, HeaderMutation mutation, long length, CalloutContext ctx) {
    String declared = declaredLength(direction, ctx);
    return declared != null && !declared.equals(String.valueOf(length)) && !mentions(mutation);
  }

  /** The trimmed {@code content-length} of the direction's headers, or null. */
  private static @Nullable String declaredLength(Direction direction, CalloutContext ctx) {
    HttpHeaders headers = direction.headers(ctx).orElse(null);
    return headers == null
        ? null
        : CalloutTools.headerValue(headers, NAME).map(String::trim).orElse(null);
  }

  /** Whether {@code mutation} sets or removes {@code content-length} itself. */
  private static boolean mentions(HeaderMutation mutation) {
    for (HeaderValueOption set : mutation.getSetHeadersList()) {
      if (set.getHeader().getKey().equalsIgnoreCase(NAME)) {
        return true;
      }
    }
    for (String removed : mutation.getRemoveHeadersList()) {
      if (removed.equalsIgnoreCase(NAME)) {
        return true;
      }
    }
    return false;
  }

  private static CommonResponse withLength(CommonResponse response, long length) {
    HeaderValueOption set = CalloutTools.overwriteHeader(NAME, String.valueOf(length));
    return response.toBuilder()
        .setHeaderMutation(response.getHeaderMutation().toBuilder().addSetHeaders(set))
        .build();
  }
}
