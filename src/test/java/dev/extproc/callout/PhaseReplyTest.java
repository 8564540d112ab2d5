package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.extproc.callout.testing.CalloutTester;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ImmediateResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.envoyproxy.envoy.service.ext_proc.v3.TrailersResponse;
import io.envoyproxy.envoy.type.v3.HttpStatus;
import io.grpc.Context;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;

/** The reply shaper on its own: one phase, what the hook returned and put in the context. */
final class PhaseReplyTest {
  private final CalloutContext ctx = new CalloutContext(7, null, Context.ROOT);

  /** Enters {@code phase} with a message carrying {@code headers} and the given body modes. */
  private void enter(Phase phase, @Nullable HttpHeaders headers, BodySendMode mode) {
    ProcessingRequest.Builder request =
        ProcessingRequest.newBuilder()
            .setProtocolConfig(
                ProtocolConfiguration.newBuilder()
                    .setRequestBodyMode(mode)
                    .setResponseBodyMode(mode));
    if (headers != null) {
      request.setRequestHeaders(headers);
      ctx.enter(request.build(), Phase.REQUEST_HEADERS);
      ctx.exit();
    }
    ctx.enter(request.build(), phase);
  }

  private static Struct namespace(String name, String value) {
    return Struct.newBuilder()
        .putFields(
            name,
            Value.newBuilder()
                .setStructValue(
                    Struct.newBuilder()
                        .putFields("k", Value.newBuilder().setStringValue(value).build()))
                .build())
        .build();
  }

  @Test
  void nothingReturned_continueOfThePhase() {
    for (Phase phase : Phase.values()) {
      enter(phase, null, BodySendMode.NONE);
      assertThat(PhaseReply.of(phase, null, ctx)).isSameInstanceAs(phase.continueResponse());
      ctx.exit();
    }
  }

  @Test
  void wrongType_refusedNamingBoth() {
    enter(Phase.RESPONSE_BODY, null, BodySendMode.NONE);
    ProcessingResponse trailers =
        ProcessingResponse.newBuilder()
            .setRequestTrailers(TrailersResponse.getDefaultInstance())
            .build();

    IllegalStateException e =
        assertThrows(
            IllegalStateException.class, () -> PhaseReply.of(Phase.RESPONSE_BODY, trailers, ctx));
    assertThat(e)
        .hasMessageThat()
        .isEqualTo(
            "returned request_trailers in reply to response_body (expected: response_body or"
                + " immediate_response)");
    IllegalStateException empty =
        assertThrows(
            IllegalStateException.class,
            () -> PhaseReply.of(Phase.RESPONSE_BODY, ProcessingResponse.getDefaultInstance(), ctx));
    assertThat(empty).hasMessageThat().startsWith("returned a ProcessingResponse with no response");
  }

  @Test
  void immediateResponse_refusedInTrailers_andOutsideHttpStatuses() {
    ProcessingResponse immediate =
        ProcessingResponse.newBuilder()
            .setImmediateResponse(CalloutTools.denyRequest(403, "no"))
            .build();
    enter(Phase.REQUEST_TRAILERS, null, BodySendMode.NONE);
    assertThrows(
        IllegalStateException.class, () -> PhaseReply.of(Phase.REQUEST_TRAILERS, immediate, ctx));

    ProcessingResponse informational =
        ProcessingResponse.newBuilder()
            .setImmediateResponse(
                ImmediateResponse.newBuilder().setStatus(HttpStatus.newBuilder().setCodeValue(100)))
            .build();
    IllegalStateException e =
        assertThrows(
            IllegalStateException.class,
            () -> PhaseReply.of(Phase.REQUEST_HEADERS, informational, ctx));
    assertThat(e)
        .hasMessageThat()
        .isEqualTo("immediate_response with HTTP status 100 (expected: 200..599)");
  }

  @Test
  void contextImmediateResponse_replacesReturned_keepsItsMetadata() {
    enter(Phase.REQUEST_HEADERS, null, BodySendMode.NONE);
    ImmediateResponse deny = CalloutTools.denyRequest(401, "who");
    ctx.respondImmediately(deny);
    ctx.attachDynamicMetadata(namespace("ctx", "1"));
    ProcessingResponse returned =
        Phase.REQUEST_HEADERS.continueResponse().toBuilder()
            .setDynamicMetadata(namespace("hook", "2"))
            .build();

    ProcessingResponse reply = PhaseReply.of(Phase.REQUEST_HEADERS, returned, ctx);

    assertThat(reply)
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setImmediateResponse(deny)
                .setDynamicMetadata(
                    namespace("hook", "2").toBuilder()
                        .putAllFields(namespace("ctx", "1").getFieldsMap()))
                .build());
  }

  @Test
  void metadataNotAStruct_refusedNamingTheNamespace() {
    enter(Phase.REQUEST_HEADERS, null, BodySendMode.NONE);
    ProcessingResponse returned =
        Phase.REQUEST_HEADERS.continueResponse().toBuilder()
            .setDynamicMetadata(
                Struct.newBuilder().putFields("ns", Value.newBuilder().setStringValue("x").build()))
            .build();

    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> PhaseReply.of(Phase.REQUEST_HEADERS, returned, ctx));
    assertThat(e)
        .hasMessageThat()
        .isEqualTo(
            "dynamic metadata namespace ns: a STRING_VALUE (expected: a struct; Envoy drops"
                + " anything else)");
  }

  @Test
  void modeOverride_attachedToHeadersReply() {
    enter(Phase.RESPONSE_HEADERS, null, BodySendMode.BUFFERED);
    ctx.overrideMode(m -> m.setResponseBodyMode(BodySendMode.NONE));

    assertThat(PhaseReply.of(Phase.RESPONSE_HEADERS, null, ctx))
        .isEqualTo(
            Phase.RESPONSE_HEADERS.continueResponse().toBuilder()
                .setModeOverride(
                    ProcessingMode.newBuilder()
                        .setRequestBodyMode(BodySendMode.BUFFERED)
                        .setResponseBodyMode(BodySendMode.NONE))
                .build());
  }

  @Test
  void buffered_bodyReplacedOrCleared_contentLengthFollows() {
    HttpHeaders headers = CalloutTester.headers("content-length", " 3 ");
    enter(Phase.REQUEST_BODY, headers, BodySendMode.BUFFERED);

    ProcessingResponse replaced =
        PhaseReply.of(
            Phase.REQUEST_BODY,
            ProcessingResponse.newBuilder()
                .setRequestBody(CalloutTools.addBodyMutation("hello"))
                .build(),
            ctx);
    ProcessingResponse cleared =
        PhaseReply.of(
            Phase.REQUEST_BODY,
            ProcessingResponse.newBuilder()
                .setRequestBody(CalloutTools.clearBodyMutation())
                .build(),
            ctx);
    ProcessingResponse sameLength =
        ProcessingResponse.newBuilder().setRequestBody(CalloutTools.addBodyMutation("abc")).build();

    assertThat(contentLength(replaced.getRequestBody())).isEqualTo("5");
    assertThat(contentLength(cleared.getRequestBody())).isEqualTo("0");
    assertThat(PhaseReply.of(Phase.REQUEST_BODY, sameLength, ctx)).isSameInstanceAs(sameLength);
  }

  @Test
  void buffered_hookSetContentLength_leftAlone_otherModesUntouched() {
    HttpHeaders headers = CalloutTester.headers("content-length", "3");
    enter(Phase.REQUEST_BODY, headers, BodySendMode.BUFFERED);
    BodyResponse own = CalloutTools.addBodyMutation("hello");
    own =
        own.toBuilder()
            .setResponse(
                own.getResponse().toBuilder()
                    .setHeaderMutation(
                        CalloutTools.headerMutation(
                            java.util.List.of(java.util.Map.entry("Content-Length", "5")),
                            java.util.List.of())))
            .build();
    ProcessingResponse returned = ProcessingResponse.newBuilder().setRequestBody(own).build();
    assertThat(PhaseReply.of(Phase.REQUEST_BODY, returned, ctx)).isSameInstanceAs(returned);
    ctx.exit();

    enter(Phase.REQUEST_BODY, headers, BodySendMode.STREAMED);
    ProcessingResponse streamed =
        ProcessingResponse.newBuilder()
            .setRequestBody(CalloutTools.addBodyMutation("hello"))
            .build();
    assertThat(PhaseReply.of(Phase.REQUEST_BODY, streamed, ctx)).isSameInstanceAs(streamed);
  }

  private static String contentLength(BodyResponse body) {
    for (HeaderValueOption option : body.getResponse().getHeaderMutation().getSetHeadersList()) {
      HeaderValue header = option.getHeader();
      if (header.getKey().equals("content-length")) {
        return header.getRawValue().toString(java.nio.charset.StandardCharsets.UTF_8);
      }
    }
    throw new AssertionError("no content-length in " + body);
  }
}
