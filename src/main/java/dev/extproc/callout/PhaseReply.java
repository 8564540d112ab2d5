package dev.extproc.callout;

import com.google.protobuf.Struct;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeaderMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ImmediateResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse.ResponseCase;
import java.util.Locale;
import org.jspecify.annotations.Nullable;

/**
 * Shapes the reply to one message from what the hook returned and what it put in the context, and
 * refuses what Envoy would reject: a reply of the wrong type, an immediate response where none is
 * allowed, CONTINUE_AND_REPLACE in FULL_DUPLEX_STREAMED and GRPC modes. It also keeps a BUFFERED
 * body's {@code content-length} true.
 */
final class PhaseReply {

  private static final String CONTENT_LENGTH = "content-length";

  private PhaseReply() {}

  /**
   * Returns the reply to {@code phase}.
   *
   * @throws IllegalStateException when the returned reply breaks the protocol
   */
  static ProcessingResponse of(
      Phase phase, @Nullable ProcessingResponse returned, CalloutContext ctx) {
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
      response = withModeOverride(response, ctx.pendingModeOverride());
      checkContinueAndReplace(phase, response, ctx);
      response = withContentLength(phase, response, ctx);
    }
    if (metadata != null) {
      response =
          response.toBuilder()
              .setDynamicMetadata(merge(response.getDynamicMetadata(), metadata))
              .build();
    }
    if (response.hasDynamicMetadata()) {
      checkNamespaces(response.getDynamicMetadata());
    }
    return response;
  }

  /**
   * Refuses dynamic metadata whose top-level values are not structs: Envoy drops them.
   *
   * @throws IllegalArgumentException naming the namespace
   */
  static void checkNamespaces(Struct metadata) {
    metadata
        .getFieldsMap()
        .forEach(
            (namespace, value) -> {
              if (!value.hasStructValue()) {
                throw new IllegalArgumentException(
                    "dynamic metadata namespace "
                        + namespace
                        + ": a "
                        + value.getKindCase()
                        + " (expected: a struct; Envoy drops anything else)");
              }
            });
  }

  static Struct merge(Struct base, @Nullable Struct extra) {
    return extra == null ? base : base.toBuilder().putAllFields(extra.getFieldsMap()).build();
  }

  /**
   * Refuses a returned reply of another type than {@code phase} answers (or an immediate response
   * where none is allowed, or one with a status outside 200..599).
   *
   * @throws IllegalStateException saying what was returned and what was expected
   */
  static void checkResponseCase(Phase phase, ProcessingResponse returned) {
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
                : actual.name().toLowerCase(Locale.ROOT))
            + " in reply to "
            + phase.wireName()
            + " (expected: "
            + phase.wireName()
            + (phase.allowsImmediateResponse() ? " or immediate_response)" : ")"));
  }

  private static ProcessingResponse withModeOverride(
      ProcessingResponse response, @Nullable ProcessingMode mode) {
    return mode == null ? response : response.toBuilder().setModeOverride(mode).build();
  }

  private static void checkContinueAndReplace(
      Phase phase, ProcessingResponse response, CalloutContext ctx) {
    if (phase.kind() == Phase.Kind.HEADERS
        && phase.direction().headersResponse(response).getResponse().getStatus()
            == CommonResponse.ResponseStatus.CONTINUE_AND_REPLACE
        && (phase.direction().isGrpc(ctx)
            || phase.direction().bodyMode(ctx) == BodySendMode.FULL_DUPLEX_STREAMED)) {
      throw new IllegalStateException(
          "CONTINUE_AND_REPLACE is not allowed in "
              + (phase.direction().isGrpc(ctx) ? "GRPC" : "FULL_DUPLEX_STREAMED")
              + " body mode");
    }
  }

  /**
   * In BUFFERED mode Envoy still holds the headers and rejects a body whose length differs from
   * their {@code content-length} (a 500 for the client): set it to the new length, unless the hook
   * set it itself.
   */
  private static ProcessingResponse withContentLength(
      Phase phase, ProcessingResponse response, CalloutContext ctx) {
    Direction direction = phase.direction();
    if (phase.kind() != Phase.Kind.BODY || direction.bodyMode(ctx) != BodySendMode.BUFFERED) {
      return response;
    }
    BodyResponse body = direction.bodyResponse(response);
    BodyMutation mutation = body.getResponse().getBodyMutation();
    long length;
    switch (mutation.getMutationCase()) {
      case BODY -> length = mutation.getBody().size();
      case CLEAR_BODY -> length = 0;
      default -> {
        return response;
      }
    }
    HttpHeaders headers = direction.headers(ctx).orElse(null);
    if (headers == null) {
      return response;
    }
    String declared = CalloutTools.headerValue(headers, CONTENT_LENGTH).orElse(null);
    if (declared == null || declared.trim().equals(String.valueOf(length))) {
      return response;
    }
    HeaderMutation headerMutation = body.getResponse().getHeaderMutation();
    for (HeaderValueOption set : headerMutation.getSetHeadersList()) {
      if (set.getHeader().getKey().equalsIgnoreCase(CONTENT_LENGTH)) {
        return response;
      }
    }
    BodyResponse fixed =
        body.toBuilder()
            .setResponse(
                body.getResponse().toBuilder()
                    .setHeaderMutation(
                        headerMutation.toBuilder()
                            .addSetHeaders(
                                CalloutTools.overwriteHeader(
                                    CONTENT_LENGTH, String.valueOf(length)))))
            .build();
    return direction.set(response.toBuilder(), fixed).build();
  }
}
