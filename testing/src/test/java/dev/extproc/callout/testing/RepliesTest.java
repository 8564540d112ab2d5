package dev.extproc.callout.testing;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.Replies.mutation;
import static dev.extproc.callout.testing.Replies.set;
import static dev.extproc.callout.testing.Replies.sets;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.BoolValue;
import com.google.protobuf.ByteString;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption.HeaderAppendAction;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeaderMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ImmediateResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse.ResponseCase;
import io.envoyproxy.envoy.service.ext_proc.v3.TrailersResponse;
import io.envoyproxy.envoy.type.v3.HttpStatus;
import io.envoyproxy.envoy.type.v3.StatusCode;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Every reader on replies built field by field, and what each says about the wrong reply. */
class RepliesTest {

  private static final ProcessingResponse HEADERS =
      ProcessingResponse.newBuilder()
          .setRequestHeaders(
              HeadersResponse.newBuilder()
                  .setResponse(
                      CommonResponse.newBuilder()
                          .setClearRouteCache(true)
                          .setHeaderMutation(
                              HeaderMutation.newBuilder()
                                  .addSetHeaders(
                                      HeaderValueOption.newBuilder()
                                          .setHeader(
                                              HeaderValue.newBuilder()
                                                  .setKey("x-raw")
                                                  .setRawValue(ByteString.copyFromUtf8("r"))
                                                  .setValue("ignored")))
                                  .addSetHeaders(
                                      HeaderValueOption.newBuilder()
                                          .setHeader(
                                              HeaderValue.newBuilder()
                                                  .setKey("x-legacy")
                                                  .setValue("v"))
                                          .setAppendAction(
                                              HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD))
                                  .addRemoveHeaders("x-gone")
                                  .addRemoveHeaders("x-also-gone"))))
          .build();

  private static final ProcessingResponse BODY =
      ProcessingResponse.newBuilder()
          .setResponseBody(
              BodyResponse.newBuilder()
                  .setResponse(
                      CommonResponse.newBuilder()
                          .setBodyMutation(
                              BodyMutation.newBuilder().setBody(ByteString.copyFromUtf8("né")))))
          .build();

  private static final ProcessingResponse IMMEDIATE =
      ProcessingResponse.newBuilder()
          .setImmediateResponse(
              ImmediateResponse.newBuilder()
                  .setStatus(HttpStatus.newBuilder().setCode(StatusCode.Forbidden))
                  .setBody(ByteString.copyFromUtf8("denied"))
                  .setHeaders(
                      HeaderMutation.newBuilder()
                          .addSetHeaders(
                              HeaderValueOption.newBuilder()
                                  .setHeader(
                                      HeaderValue.newBuilder()
                                          .setKey("www-authenticate")
                                          .setRawValue(ByteString.copyFromUtf8("Bearer"))))))
          .build();

  @Test
  void headerReaders_headersReply_rawValueElseValueWithActions() {
    assertThat(Replies.setHeaders(HEADERS))
        .containsExactly("x-raw", "r", "x-legacy", "v")
        .inOrder();
    assertThat(Replies.setHeadersWithActions(HEADERS))
        .containsExactly(
            new Replies.SetHeader("x-raw", "r", HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD),
            new Replies.SetHeader("x-legacy", "v", HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD))
        .inOrder();
    assertThat(Replies.removedHeaders(HEADERS)).containsExactly("x-gone", "x-also-gone").inOrder();
    assertThat(Replies.clearsRouteCache(HEADERS)).isTrue();
    assertThat(Replies.headerMutation(HEADERS))
        .isEqualTo(HEADERS.getRequestHeaders().getResponse().getHeaderMutation());
    assertThat(Replies.phase(HEADERS)).isEqualTo(ResponseCase.REQUEST_HEADERS);
    assertThat(Replies.requirePhase(HEADERS, ResponseCase.REQUEST_HEADERS))
        .isSameInstanceAs(HEADERS);
  }

  @Test
  void headerReaders_trailersAndBodyReplies_readTheirMutation() {
    ProcessingResponse trailers =
        ProcessingResponse.newBuilder()
            .setResponseTrailers(
                TrailersResponse.newBuilder().setHeaderMutation(mutation(sets(set("x-t", "1")))))
            .build();

    assertThat(Replies.setHeaders(trailers)).containsExactly("x-t", "1");
    assertThat(Replies.setHeaders(BODY)).isEmpty();
    assertThat(Replies.removedHeaders(BODY)).isEmpty();
  }

  @Test
  void setHeaders_nameSetTwice_failsPointingToTheActions() {
    ProcessingResponse twice =
        Replies.responseHeaders(mutation(sets(set("set-cookie", "a"), set("set-cookie", "b"))));

    AssertionError thrown = assertThrows(AssertionError.class, () -> Replies.setHeaders(twice));

    assertThat(thrown)
        .hasMessageThat()
        .startsWith(
            "sets set-cookie more than once (read it with setHeadersWithActions): a"
                + " response_headers reply: ");
    assertThat(Replies.setHeadersWithActions(twice)).hasSize(2);
  }

  @Test
  void bodyReaders_replacedClearedOrAlone() {
    assertThat(Replies.replacedBody(BODY)).isEqualTo(ByteString.copyFromUtf8("né"));
    assertThat(Replies.replacedBodyString(BODY)).isEqualTo("né");
    assertThat(Replies.clearsBody(BODY)).isFalse();
    assertThat(Replies.clearsBody(Replies.responseBodyCleared())).isTrue();
    assertThat(Replies.clearsBody(Replies.requestBodyCleared())).isTrue();
    assertThat(Replies.bodyMutation(Replies.continueRequestBody()))
        .isEqualTo(BodyMutation.getDefaultInstance());
    assertThat(Replies.clearsRouteCache(BODY)).isFalse();
  }

  @Test
  void replacedBody_clearedBody_failsShowingTheReply() {
    AssertionError thrown =
        assertThrows(
            AssertionError.class, () -> Replies.replacedBody(Replies.responseBodyCleared()));

    assertThat(thrown)
        .hasMessageThat()
        .isEqualTo(
            "expected a replaced body, got a response_body reply: response_body { response {"
                + " body_mutation { clear_body: true } } }");
  }

  @Test
  void bodyReaders_headersReply_failNamingIt() {
    AssertionError trailers =
        assertThrows(
            AssertionError.class, () -> Replies.bodyMutation(Replies.continueRequestTrailers()));
    AssertionError headers =
        assertThrows(AssertionError.class, () -> Replies.replacedBody(HEADERS));

    assertThat(trailers)
        .hasMessageThat()
        .isEqualTo(
            "expected a headers or body reply, got a request_trailers reply: request_trailers { }");
    assertThat(headers).hasMessageThat().startsWith("expected a replaced body, got a request_hea");
  }

  @Test
  void requirePhase_otherPhase_failsNamingBoth() {
    AssertionError thrown =
        assertThrows(
            AssertionError.class, () -> Replies.requirePhase(BODY, ResponseCase.REQUEST_HEADERS));

    assertThat(thrown)
        .hasMessageThat()
        .startsWith("expected a request_headers reply, got a response_body reply: response_body");
  }

  @Test
  void immediateReaders_immediateResponse_statusBodyAndHeaders() {
    assertThat(Replies.isImmediateResponse(IMMEDIATE)).isTrue();
    assertThat(Replies.isImmediateResponse(HEADERS)).isFalse();
    assertThat(Replies.immediateStatus(IMMEDIATE)).isEqualTo(403);
    assertThat(Replies.immediateBody(IMMEDIATE)).isEqualTo(ByteString.copyFromUtf8("denied"));
    assertThat(Replies.immediateBodyString(IMMEDIATE)).isEqualTo("denied");
    assertThat(Replies.immediateHeaders(IMMEDIATE)).containsExactly("www-authenticate", "Bearer");
    assertThat(Replies.phase(IMMEDIATE)).isEqualTo(ResponseCase.IMMEDIATE_RESPONSE);
  }

  @Test
  void immediateReaders_otherReply_failNamingIt_andHeaderReadersRefuseImmediate() {
    AssertionError status =
        assertThrows(AssertionError.class, () -> Replies.immediateStatus(HEADERS));
    AssertionError headers =
        assertThrows(AssertionError.class, () -> Replies.setHeaders(IMMEDIATE));

    assertThat(status)
        .hasMessageThat()
        .startsWith("expected an immediate_response, got a request_headers reply: ");
    assertThat(headers)
        .hasMessageThat()
        .startsWith(
            "expected a header mutation (read an immediate response with immediateHeaders), got"
                + " an immediate_response reply: immediate_response { status { code: Forbidden }");
  }

  @Test
  void streamedReaders_chunksConcatenated_otherRepliesSkipped() {
    List<ProcessingResponse> replies =
        List.of(
            Replies.continueRequestHeaders(),
            Replies.streamed(true, ByteString.copyFromUtf8("ab"), false),
            ProcessingResponse.newBuilder()
                .setOverrideMessageTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(1))
                .build(),
            Replies.streamed(true, ByteString.copyFromUtf8("c"), true));

    assertThat(Replies.streamedBody(replies)).isEqualTo(ByteString.copyFromUtf8("abc"));
    assertThat(Replies.streamedBodyString(replies)).isEqualTo("abc");
    assertThat(Replies.streamedEndOfStream(replies)).isTrue();
    assertThat(Replies.streamedEndOfStream(replies.subList(0, 2))).isFalse();
    assertThat(Replies.streamedEndOfStream(List.of())).isFalse();
    assertThat(Replies.phase(replies.get(2))).isEqualTo(ResponseCase.RESPONSE_NOT_SET);
  }

  @Test
  void streamedReaders_notStreamedOrMixedOrAfterTheEnd_fail() {
    AssertionError replaced =
        assertThrows(AssertionError.class, () -> Replies.streamedBody(List.of(BODY)));
    AssertionError mixed =
        assertThrows(
            AssertionError.class,
            () ->
                Replies.streamedBody(
                    List.of(
                        Replies.streamed(true, ByteString.EMPTY, false),
                        Replies.streamed(false, ByteString.EMPTY, false))));
    AssertionError afterEnd =
        assertThrows(
            AssertionError.class,
            () ->
                Replies.streamedEndOfStream(
                    List.of(
                        Replies.streamed(true, ByteString.EMPTY, true),
                        Replies.streamed(true, ByteString.EMPTY, false))));

    assertThat(replaced)
        .hasMessageThat()
        .startsWith("expected a streamed_response (FULL_DUPLEX_STREAMED body), got a response_bo");
    assertThat(mixed)
        .hasMessageThat()
        .isEqualTo("replies to both request_body and response_body (expected: one direction's)");
    assertThat(afterEnd)
        .hasMessageThat()
        .isEqualTo("streamed chunk 0 of 2 is marked end_of_stream");
  }

  @Test
  void dynamicMetadata_namespaceAndKey_readOrNamedWhenMissing() {
    Struct metadata =
        Struct.newBuilder()
            .putFields(
                "com.example",
                Value.newBuilder()
                    .setStructValue(
                        Struct.newBuilder()
                            .putFields(
                                "primary",
                                Value.newBuilder().setStringValue("10.0.0.1:80").build()))
                    .build())
            .build();
    ProcessingResponse reply = HEADERS.toBuilder().setDynamicMetadata(metadata).build();

    AssertionError namespace =
        assertThrows(
            AssertionError.class, () -> Replies.dynamicMetadata(reply, "com.other", "primary"));
    AssertionError key =
        assertThrows(
            AssertionError.class, () -> Replies.dynamicMetadata(reply, "com.example", "backup"));

    assertThat(Replies.dynamicMetadata(reply)).isEqualTo(metadata);
    assertThat(Replies.dynamicMetadata(HEADERS)).isEqualTo(Struct.getDefaultInstance());
    assertThat(Replies.dynamicMetadata(reply, "com.example", "primary").getStringValue())
        .isEqualTo("10.0.0.1:80");
    assertThat(namespace)
        .hasMessageThat()
        .startsWith("no dynamic metadata namespace com.other (namespaces: [com.example]) in a");
    assertThat(key)
        .hasMessageThat()
        .isEqualTo("no key backup in dynamic metadata namespace com.example (keys: [primary])");
  }

  @Test
  void describe_longReply_cutAt300Characters() {
    ProcessingResponse big = Replies.requestBody(ByteString.copyFromUtf8("x".repeat(1000)));

    assertThat(Replies.describe(big)).hasLength("a request_body reply: ".length() + 300 + 3);
    assertThat(Replies.describe(big)).endsWith("...");
  }

  @Test
  @SuppressWarnings("deprecation") // hasAppend/setAppend: the field Envoy reads
  void builders_everyFieldByHand() {
    assertThat(set("k", "v"))
        .isEqualTo(
            HeaderValueOption.newBuilder()
                .setHeader(
                    HeaderValue.newBuilder().setKey("k").setRawValue(ByteString.copyFromUtf8("v")))
                .setAppend(BoolValue.of(false))
                .setAppendAction(HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD)
                .build());
    assertThat(set("k", "v", HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD).getAppend())
        .isEqualTo(BoolValue.of(true));
    assertThat(set("k", "v", HeaderAppendAction.ADD_IF_ABSENT).getAppendAction())
        .isEqualTo(HeaderAppendAction.ADD_IF_ABSENT);
    assertThat(set("k", "v", HeaderAppendAction.ADD_IF_ABSENT).hasAppend()).isFalse();
    assertThat(Replies.requestHeaders(mutation(sets(set("k", "v")), "gone"), true))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setRequestHeaders(
                    HeadersResponse.newBuilder()
                        .setResponse(
                            CommonResponse.newBuilder()
                                .setClearRouteCache(true)
                                .setHeaderMutation(
                                    HeaderMutation.newBuilder()
                                        .addSetHeaders(set("k", "v"))
                                        .addRemoveHeaders("gone"))))
                .build());
    assertThat(Replies.continueResponseTrailers())
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setResponseTrailers(TrailersResponse.getDefaultInstance())
                .build());
    assertThat(Replies.responseBody(ByteString.copyFromUtf8("né"))).isEqualTo(BODY);
  }
}
