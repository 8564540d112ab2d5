package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.body;
import static dev.extproc.callout.testing.CalloutTester.headers;
import static dev.extproc.callout.testing.CalloutTester.trailers;

import com.google.protobuf.ByteString;
import dev.extproc.callout.testing.CalloutTester;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.envoyproxy.envoy.service.ext_proc.v3.StreamedBodyResponse;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Body modes driven in-process as Envoy would: what {@link ProtocolConformanceTest} does not
 * already pin case by case (its cases 16 and 19 to 23 cover BUFFERED content-length, re-chunking,
 * trailers, the buffer cap and CONTINUE_AND_REPLACE; 31 and 32 the timeout and mode overrides).
 */
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
    public void onChunk(ByteString chunk, BodyTransformer.Sink out) {
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
  void fullDuplex_metadataFromAChunkWithoutOutput_goesOnTheNextReply() {
    com.google.protobuf.Struct metadata = CalloutTools.dynamicMetadata("my.ns", Map.of("k", "v"));
    CalloutTester.Stream stream =
        tester(
                transformingResponses(
                    CalloutServerConfig.defaults(),
                    ctx ->
                        new BodyTransformer() {
                          private ByteString held = ByteString.EMPTY;

                          @Override
                          public void onChunk(ByteString chunk, BodyTransformer.Sink out) {
                            if (held.isEmpty()) {
                              ctx.attachDynamicMetadata(metadata);
                            }
                            held = held.concat(chunk);
                          }

                          @Override
                          public void onEnd(BodyTransformer.Sink out) {
                            out.write(held);
                          }
                        }))
            .newStream(FULL_DUPLEX);
    stream.responseHeaders(headers(":status", "200"));
    stream.send(responseChunk("a", false));
    stream.send(responseChunk("b", true));

    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(stream.received().subList(1, stream.received().size()))
        .containsExactly(
            streamed(false, "ab", true).toBuilder().setDynamicMetadata(metadata).build());
  }

  @Test
  void fullDuplex_processReturnsMetadata_keptOnTheStreamedReply() {
    com.google.protobuf.Struct metadata = CalloutTools.dynamicMetadata("my.ns", Map.of("k", "v"));
    CalloutServer callout =
        new CalloutServer() {
          @Override
          protected @Nullable ProcessingResponse process(
              ProcessingRequest request, CalloutContext ctx) {
            return request.hasRequestBody()
                ? ProcessingResponse.newBuilder()
                    .setRequestBody(CalloutTools.addBodyMutation("x"))
                    .setDynamicMetadata(metadata)
                    .build()
                : null;
          }
        };
    CalloutTester.Stream stream = tester(callout).newStream(FULL_DUPLEX);
    stream.requestHeaders(headers(":path", "/"));

    assertThat(stream.exchange(requestChunk("a", true)))
        .isEqualTo(streamed(true, "x", true).toBuilder().setDynamicMetadata(metadata).build());
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
            "a response body transformer needs body mode FULL_DUPLEX_STREAMED or GRPC (Envoy announced"
                + " BUFFERED)");
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
}
