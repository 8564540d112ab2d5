package dev.extproc.callout;

import com.google.protobuf.Struct;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ImmediateResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse.ResponseCase;
import java.util.Locale;
import org.jspecify.annotations.Nullable;

/**
 * Shapes the reply to one message from what the hook returned and what it put in the context, and
 * refuses what Envoy would reject: a reply of the wrong type, an immediate response where none is
 * allowed, CONTINUE_AND_REPLACE in FULL_DUPLEX_STREAMED and GRPC modes. It also keeps {@code
 * content-length} true ({@link ContentLength}).
 */
final class PhaseReply {

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
      response = ContentLength.of(phase, response, ctx);
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
}
