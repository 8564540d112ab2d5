package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.body;
import static dev.extproc.callout.testing.CalloutTester.headers;
import static dev.extproc.callout.testing.CalloutTester.trailers;

import com.google.protobuf.ByteString;
import dev.extproc.callout.testing.CalloutTester;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.HeaderSendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeaderMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.envoyproxy.envoy.service.ext_proc.v3.StreamedBodyResponse;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Body modes, mode overrides and timeout extensions, driven in-process as Envoy would. */
class BodyModesTest {

  private static final ProtocolConfiguration FULL_DUPLEX =
      ProtocolConfiguration.newBuilder()
          .setRequestBodyMode(BodySendMode.FULL_DUPLEX_STREAMED)
          .setResponseBodyMode(BodySendMode.FULL_DUPLEX_STREAMED)
          .build();
  private static final ProtocolConfiguration BUFFERED =
      ProtocolConfiguration.newBuilder()
          .setRequestBodyMode(BodySendMode.BUFFERED)
          .setResponseBodyMode(BodySendMode.BUFFERED)
          .build();

  private final List<CalloutTester> testers = new ArrayList<>();

  @AfterEach
  void closeTesters() {
    testers.forEach(CalloutTester::close);
  }

  private CalloutTester tester(CalloutServer callout) {
    CalloutTester tester = CalloutTester.of(callout);
    testers.add(tester);
    return tester;
  }

  private static CalloutServerConfig chunkSize(int bytes) {
    return CalloutServerConfig.newBuilder().streamedChunkSize(bytes).build();
  }

  private static ProcessingRequest requestChunk(String text, boolean endOfStream) {
    return ProcessingRequest.newBuilder().setRequestBody(body(text, endOfStream)).build();
  }

  private static ProcessingRequest responseChunk(String text, boolean endOfStream) {
    return ProcessingRequest.newBuilder().setResponseBody(body(text, endOfStream)).build();
  }

  private static ProcessingResponse streamed(boolean request, String text, boolean endOfStream) {
    BodyResponse body =
        BodyResponse.newBuilder()
            .setResponse(
                CommonResponse.newBuilder()
                    .setBodyMutation(
                        BodyMutation.newBuilder()
                            .setStreamedResponse(
                                StreamedBodyResponse.newBuilder()
                                    .setBody(ByteString.copyFromUtf8(text))
                                    .setEndOfStream(endOfStream))))
            .build();
    return request
        ? ProcessingResponse.newBuilder().setRequestBody(body).build()
        : ProcessingResponse.newBuilder().setResponseBody(body).build();
  }

  /** Upper-cases each chunk as it comes, holding nothing back. */
  private static final class UpperCase implements BodyTransformer {
    @Override
    public void onChunk(ByteString chunk, BodySink out) {
      out.write(ByteString.copyFromUtf8(chunk.toStringUtf8().toUpperCase(Locale.ROOT)));
    }
  }

  /** Installs {@code transformer(ctx)} on the response body from the response headers hook. */
  private static CalloutServer transformingResponses(
      CalloutServerConfig config, Function<CalloutContext, BodyTransformer> transformer) {
    return new CalloutServer(config) {
      @Override
      protected @Nullable HeadersResponse onResponseHeaders(HttpHeaders h, CalloutContext ctx) {
        ctx.transformResponseBody(transformer.apply(ctx));
        return null;
      }
    };
  }

  @Test
  void fullDuplex_transformer_streamsEachChunkAndMarksTheLast() {
    CalloutTester.Stream stream =
        tester(transformingResponses(CalloutServerConfig.defaults(), ctx -> new UpperCase()))
            .newStream(FULL_DUPLEX);
    stream.responseHeaders(headers(":status", "200"));
    stream.send(responseChunk("one ", false));
    stream.send(responseChunk("two ", false));
    stream.send(responseChunk("three", true));

    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(stream.received().subList(1, stream.received().size()))
        .containsExactly(
            streamed(false, "ONE ", false),
            streamed(false, "TWO ", false),
            streamed(false, "THREE", true))
        .inOrder();
  }

  @Test
  void fullDuplex_transformerHoldingBack_sendsNothingUntilTheEnd_thenRechunks() {
    CalloutTester.Stream stream =
        tester(transformingResponses(chunkSize(4), ctx -> BodyTransformer.whole(b -> b)))
            .newStream(FULL_DUPLEX);
    stream.responseHeaders(headers(":status", "200"));
    for (int i = 0; i < 5; i++) {
      stream.send(responseChunk("ab", i == 4));
    }

    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(stream.received().subList(1, stream.received().size()))
        .containsExactly(
            streamed(false, "abab", false),
            streamed(false, "abab", false),
            streamed(false, "ab", true))
        .inOrder();
  }

  @Test
  void fullDuplex_wholeBodyOverTheCap_endsStreamResourceExhausted() {
    CalloutServerConfig config = CalloutServerConfig.newBuilder().maxBufferedBodySize(10).build();
    CalloutTester.Stream stream =
        tester(transformingResponses(config, ctx -> BodyTransformer.whole(b -> b)))
            .newStream(FULL_DUPLEX);
    stream.responseHeaders(headers(":status", "200"));
    stream.send(responseChunk("123456", false));
    stream.send(responseChunk("123456", false));

    Status status = stream.awaitClose();

    assertThat(status.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(status.getDescription())
        .isEqualTo(
            "body larger than the 10 bytes a transformer may buffer (--max-buffered-body-size)");
  }

  @Test
  void fullDuplex_withTrailers_lastChunkUnmarkedThenTrailersReply() {
    CalloutTester.Stream stream =
        tester(
                transformingResponses(
                    CalloutServerConfig.defaults(), ctx -> BodyTransformer.whole(b -> b)))
            .newStream(FULL_DUPLEX);
    stream.responseHeaders(headers(":status", "200"));
    stream.send(responseChunk("abc", false));
    stream.send(
        ProcessingRequest.newBuilder().setResponseTrailers(trailers("grpc-status", "0")).build());

    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
    List<ProcessingResponse> replies = stream.received();
    assertThat(replies).hasSize(3);
    assertThat(replies.get(1)).isEqualTo(streamed(false, "abc", false));
    assertThat(replies.get(2).hasResponseTrailers()).isTrue();
  }

  @Test
  void fullDuplex_bodyHook_repliesBecomeStreamedChunks() {
    CalloutServer callout =
        new CalloutServer() {
          @Override
          protected @Nullable BodyResponse onRequestBody(HttpBody body, CalloutContext ctx) {
            String text = body.getBody().toStringUtf8();
            if (text.equals("drop")) {
              return CalloutTools.clearBodyMutation();
            }
            return text.equals("keep") ? null : CalloutTools.addBodyMutation("<" + text + ">");
          }
        };
    CalloutTester.Stream stream = tester(callout).newStream(FULL_DUPLEX);
    stream.requestHeaders(headers(":path", "/"));
    stream.send(requestChunk("keep", false));
    stream.send(requestChunk("drop", false));
    stream.send(requestChunk("x", true));

    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(stream.received().subList(1, stream.received().size()))
        .containsExactly(streamed(true, "keep", false), streamed(true, "<x>", true))
        .inOrder();
  }

  @Test
  void fullDuplex_noHook_echoesEveryChunk() {
    CalloutTester.Stream stream = tester(new CalloutServer() {}).newStream(FULL_DUPLEX);
    stream.requestHeaders(headers(":path", "/"));

    assertThat(stream.exchange(requestChunk("a", false))).isEqualTo(streamed(true, "a", false));
    assertThat(stream.exchange(requestChunk("", true))).isEqualTo(streamed(true, "", true));
  }

  @Test
  void transformer_outsideFullDuplex_failsNamingTheMode() {
    CalloutTester.Stream stream =
        tester(transformingResponses(CalloutServerConfig.defaults(), ctx -> new UpperCase()))
            .newStream(BUFFERED);
    stream.send(
        ProcessingRequest.newBuilder().setResponseHeaders(headers(":status", "200")).build());

    Status status = stream.awaitClose();

    assertThat(status.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(status.getDescription())
        .contains(
            "a response body transformer needs body mode FULL_DUPLEX_STREAMED (Envoy announced"
                + " BUFFERED)");
  }

  private static HeaderValueOption rawHeader(String key, String value) {
    return HeaderValueOption.newBuilder()
        .setHeader(HeaderValue.newBuilder().setKey(key).setRawValue(ByteString.copyFromUtf8(value)))
        .build();
  }

  @Test
  void buffered_bodyLengthChanged_contentLengthFollows() {
    CalloutServer callout =
        new CalloutServer() {
          @Override
          protected BodyResponse onRequestBody(HttpBody body, CalloutContext ctx) {
            return CalloutTools.addBodyMutation("123456789");
          }

          @Override
          protected BodyResponse onResponseBody(HttpBody body, CalloutContext ctx) {
            return CalloutTools.clearBodyMutation();
          }
        };
    CalloutTester.Stream stream = tester(callout).newStream(BUFFERED);
    stream.requestHeaders(headers(":path", "/", "content-length", "5"));

    assertThat(stream.requestBody(body("hello", true)))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setRequestBody(
                    BodyResponse.newBuilder()
                        .setResponse(
                            CommonResponse.newBuilder()
                                .setHeaderMutation(
                                    HeaderMutation.newBuilder()
                                        .addSetHeaders(rawHeader("content-length", "9")))
                                .setBodyMutation(
                                    BodyMutation.newBuilder()
                                        .setBody(ByteString.copyFromUtf8("123456789")))))
                .build());
    stream.responseHeaders(headers(":status", "200", "content-length", "3"));
    assertThat(
            stream
                .responseBody(body("abc", true))
                .getResponseBody()
                .getResponse()
                .getHeaderMutation())
        .isEqualTo(
            HeaderMutation.newBuilder().addSetHeaders(rawHeader("content-length", "0")).build());
  }

  @Test
  void buffered_sameLengthOrNoContentLength_leftAlone() {
    CalloutServer callout =
        new CalloutServer() {
          @Override
          protected BodyResponse onRequestBody(HttpBody body, CalloutContext ctx) {
            return CalloutTools.addBodyMutation("HELLO");
          }
        };
    CalloutTester tester = tester(callout);
    CalloutTester.Stream same = tester.newStream(BUFFERED);
    same.requestHeaders(headers("content-length", "5"));
    assertThat(same.requestBody(body("hello", true)))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setRequestBody(CalloutTools.addBodyMutation("HELLO"))
                .build());

    CalloutTester.Stream chunked = tester.newStream(BUFFERED);
    chunked.requestHeaders(headers("transfer-encoding", "chunked"));
    assertThat(chunked.requestBody(body("hi", true)))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setRequestBody(CalloutTools.addBodyMutation("HELLO"))
                .build());
  }

  @Test
  void modeOverride_fillsBothBodyModesAndOnlyInHeadersReplies() {
    CalloutServer callout =
        new CalloutServer() {
          @Override
          protected @Nullable HeadersResponse onRequestHeaders(HttpHeaders h, CalloutContext c) {
            c.modeOverride().setResponseBodyMode(BodySendMode.NONE);
            return null;
          }

          @Override
          protected @Nullable BodyResponse onRequestBody(HttpBody body, CalloutContext ctx) {
            ctx.modeOverride();
            return null;
          }
        };
    CalloutTester.Stream stream =
        tester(callout)
            .newStream(
                ProtocolConfiguration.newBuilder()
                    .setRequestBodyMode(BodySendMode.STREAMED)
                    .setResponseBodyMode(BodySendMode.BUFFERED)
                    .build());

    assertThat(stream.requestHeaders(headers(":path", "/")))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setRequestHeaders(HeadersResponse.getDefaultInstance())
                .setModeOverride(
                    ProcessingMode.newBuilder()
                        .setRequestHeaderMode(HeaderSendMode.DEFAULT)
                        .setRequestBodyMode(BodySendMode.STREAMED)
                        .setResponseBodyMode(BodySendMode.NONE))
                .build());
    stream.send(requestChunk("x", true));
    Status status = stream.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(status.getDescription())
        .contains("mode_override is read by Envoy only in reply to headers, not request_body");
  }

  @Test
  void extendMessageTimeout_sendsAStandaloneMessageFirst_onlyOncePerPhase() {
    CalloutServer callout =
        new CalloutServer() {
          @Override
          protected HeadersResponse onRequestHeaders(HttpHeaders h, CalloutContext ctx) {
            ctx.extendMessageTimeout(Duration.ofMillis(1500));
            return CalloutTools.addHeaderMutation(List.of(Map.entry("slow", "yes")));
          }

          @Override
          protected @Nullable HeadersResponse onResponseHeaders(HttpHeaders h, CalloutContext c) {
            c.extendMessageTimeout(Duration.ofSeconds(1));
            c.extendMessageTimeout(Duration.ofSeconds(2));
            return null;
          }
        };
    CalloutTester.Stream stream = tester(callout).newStream();
    stream.send(ProcessingRequest.newBuilder().setRequestHeaders(headers(":path", "/")).build());

    assertThat(stream.nextResponse())
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setOverrideMessageTimeout(
                    com.google.protobuf.Duration.newBuilder().setSeconds(1).setNanos(500_000_000))
                .build());
    assertThat(stream.nextResponse())
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setRequestHeaders(
                    CalloutTools.addHeaderMutation(List.of(Map.entry("slow", "yes"))))
                .build());
    stream.send(
        ProcessingRequest.newBuilder().setResponseHeaders(headers(":status", "200")).build());
    assertThat(stream.nextResponse().hasOverrideMessageTimeout()).isTrue();
    Status status = stream.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(status.getDescription())
        .contains("override_message_timeout already sent for response_headers (at most once)");
  }

  @Test
  void continueAndReplace_sentInBufferedMode_refusedInFullDuplex() {
    CalloutServer callout =
        new CalloutServer() {
          @Override
          protected HeadersResponse onRequestHeaders(HttpHeaders h, CalloutContext ctx) {
            return CalloutTools.continueAndReplace(
                List.of(Map.entry("x-replaced", "1")), ByteString.copyFromUtf8("new body"));
          }
        };
    CalloutTester tester = tester(callout);
    assertThat(
            tester
                .newStream(BUFFERED)
                .requestHeaders(headers(":path", "/"))
                .getRequestHeaders()
                .getResponse()
                .getStatus())
        .isEqualTo(CommonResponse.ResponseStatus.CONTINUE_AND_REPLACE);

    CalloutTester.Stream fullDuplex = tester.newStream(FULL_DUPLEX);
    fullDuplex.send(
        ProcessingRequest.newBuilder().setRequestHeaders(headers(":path", "/")).build());
    Status status = fullDuplex.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(status.getDescription())
        .contains("CONTINUE_AND_REPLACE is not allowed in FULL_DUPLEX_STREAMED body mode");
  }
}
