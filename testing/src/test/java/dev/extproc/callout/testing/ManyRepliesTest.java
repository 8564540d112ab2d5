package dev.extproc.callout.testing;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.body;
import static dev.extproc.callout.testing.CalloutTester.headers;
import static dev.extproc.callout.testing.CalloutTester.trailers;
import static dev.extproc.callout.testing.Replies.streamed;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.ByteString;
import dev.extproc.callout.BodyTransformer;
import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.CalloutTools;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.grpc.Status;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Messages answered M:N or not at all, with the default 10 s wait: each test's 5 s limit shows that
 * none of them waits it out.
 */
@Timeout(value = 5, unit = SECONDS)
class ManyRepliesTest {

  private static final Duration QUIET = Duration.ofMillis(100);

  private static final ProtocolConfiguration FULL_DUPLEX =
      ProtocolConfiguration.newBuilder()
          .setRequestBodyMode(BodySendMode.FULL_DUPLEX_STREAMED)
          .setResponseBodyMode(BodySendMode.FULL_DUPLEX_STREAMED)
          .build();

  /**
   * Holds every other chunk back and writes it with the next one; the framework cuts the output
   * into {@code streamed_response} chunks of 2 bytes.
   */
  private static final class Pairs implements BodyTransformer {
    private @Nullable ByteString held;

    @Override
    public void onChunk(ByteString chunk, BodyTransformer.Sink out) {
      if (held == null) {
        held = chunk;
      } else {
        out.write(held.concat(chunk));
        held = null;
      }
    }

    @Override
    public void onEnd(BodyTransformer.Sink out) {
      if (held != null) {
        out.write(held);
        held = null;
      }
    }
  }

  /**
   * Pairs both bodies in FULL_DUPLEX_STREAMED mode, upper-cases STREAMED chunks, and records
   * observability-mode messages.
   */
  private static final class PairingCallout extends CalloutServer {
    PairingCallout() {
      super(CalloutServerConfig.newBuilder().streamedChunkSize(2).build());
    }

    @Override
    protected @Nullable HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
      if (ctx.requestBodyMode() == BodySendMode.FULL_DUPLEX_STREAMED) {
        ctx.transformRequestBody(new Pairs());
      }
      return null;
    }

    @Override
    protected @Nullable HeadersResponse onResponseHeaders(HttpHeaders headers, CalloutContext ctx) {
      if (ctx.responseBodyMode() == BodySendMode.FULL_DUPLEX_STREAMED) {
        ctx.transformResponseBody(new Pairs());
      }
      return null;
    }

    @Override
    protected BodyResponse onRequestBody(HttpBody body, CalloutContext ctx) {
      return CalloutTools.addBodyMutation(body.getBody().toStringUtf8().toUpperCase(Locale.ROOT));
    }
  }

  @RegisterExtension
  static final CalloutExtension<PairingCallout> callout =
      CalloutExtension.inProcess(PairingCallout::new);

  private static ProcessingRequest requestChunk(String text, boolean endOfStream) {
    return ProcessingRequest.newBuilder().setRequestBody(body(text, endOfStream)).build();
  }

  private static ProcessingResponse chunk(String text, boolean endOfStream) {
    return streamed(true, ByteString.copyFromUtf8(text), endOfStream);
  }

  @Test
  void heldBackChunk_noReplyThenTwoAtOnce() {
    CalloutTester.Stream stream = callout.newStream(FULL_DUPLEX);
    stream.requestHeaders(headers(":method", "POST"));

    stream.sendExpectingNoReply(requestChunk("ab", false), QUIET);
    stream.send(requestChunk("cd", false));

    assertThat(stream.awaitReplies(2)).containsExactly(chunk("ab", false), chunk("cd", false));
    stream.sendExpectingNoReply(requestChunk("ef", false), QUIET);
    assertThat(stream.awaitReplies(0)).isEmpty();
  }

  @Test
  void requestBodyChunks_fullDuplex_returnsEveryReplyThroughEndOfStream() {
    CalloutTester.Stream stream = callout.newStream(FULL_DUPLEX);
    stream.requestHeaders(headers(":method", "POST"));

    List<ProcessingResponse> replies = stream.requestBodyChunks("ab", "cd", "ef");

    assertThat(replies)
        .containsExactly(chunk("ab", false), chunk("cd", false), chunk("ef", true))
        .inOrder();
    assertThat(Replies.streamedBodyString(replies)).isEqualTo("abcdef");
    assertThat(Replies.streamedEndOfStream(replies)).isTrue();
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
  }

  @Test
  void responseBodyChunks_emptyLastChunk_endsWithAnEmptyMarkedChunk() {
    CalloutTester.Stream stream = callout.newStream(FULL_DUPLEX);
    stream.responseHeaders(headers(":status", "200"));

    List<ProcessingResponse> replies =
        stream.responseBodyChunks(body("xy", false), body("z", false), body("", true));

    assertThat(replies)
        .containsExactly(
            streamed(false, ByteString.copyFromUtf8("xy"), false),
            streamed(false, ByteString.copyFromUtf8("z"), false),
            streamed(false, ByteString.EMPTY, true))
        .inOrder();
    assertThat(Replies.streamedBodyString(replies)).isEqualTo("xyz");
  }

  @Test
  void awaitRepliesUntil_heldChunkThenTrailers_flushedBeforeTheTrailersReply() {
    CalloutTester.Stream stream = callout.newStream(FULL_DUPLEX);
    stream.requestHeaders(headers(":method", "POST"));
    stream.sendExpectingNoReply(requestChunk("ab", false), QUIET);

    stream.send(ProcessingRequest.newBuilder().setRequestTrailers(trailers("x-t", "1")).build());
    List<ProcessingResponse> replies =
        stream.awaitRepliesUntil(ProcessingResponse::hasRequestTrailers);

    assertThat(replies)
        .containsExactly(chunk("ab", false), Replies.continueRequestTrailers())
        .inOrder();
    assertThat(Replies.streamedEndOfStream(replies)).isFalse();
  }

  @Test
  void requestBodyChunks_streamedMode_oneReplyPerChunk() {
    CalloutTester.Stream stream =
        callout.newStream(
            ProtocolConfiguration.newBuilder().setRequestBodyMode(BodySendMode.STREAMED).build());
    stream.requestHeaders(headers(":method", "POST"));

    assertThat(stream.requestBodyChunks("a", "b"))
        .containsExactly(
            Replies.requestBody(ByteString.copyFromUtf8("A")),
            Replies.requestBody(ByteString.copyFromUtf8("B")))
        .inOrder();
  }

  @Test
  void requestBodyChunks_lastChunkWithoutEndOfStream_refused() {
    CalloutTester.Stream stream = callout.newStream(FULL_DUPLEX);

    IllegalArgumentException open =
        assertThrows(
            IllegalArgumentException.class, () -> stream.requestBodyChunks(body("a", false)));
    IllegalArgumentException none =
        assertThrows(
            IllegalArgumentException.class, () -> stream.requestBodyChunks(new HttpBody[0]));

    assertThat(open)
        .hasMessageThat()
        .isEqualTo("the last request_body chunk does not end the body (expected: end_of_stream)");
    assertThat(none).hasMessageThat().isEqualTo("no request_body chunk to send");
  }

  @Test
  void exchange_heldBackChunkWithShortTimeout_failsWithAHint() {
    try (CalloutTester tester = CalloutTester.of(callout.callout(), Duration.ofMillis(300))) {
      CalloutTester.Stream stream = tester.newStream(FULL_DUPLEX);
      stream.requestHeaders(headers(":method", "POST"));

      AssertionError trapped =
          assertThrows(AssertionError.class, () -> stream.requestBody(body("ab", false)));

      assertThat(trapped)
          .hasMessageThat()
          .isEqualTo(
              "waited PT0.3S for a reply; 1 reply received on this stream, the last: a"
                  + " request_headers reply: request_headers { } (a FULL_DUPLEX_STREAMED body chunk"
                  + " may get no reply, or several later: use send with awaitReplies, or"
                  + " requestBodyChunks / responseBodyChunks)");
    }
  }

  @Test
  void observabilityStream_sendExpectingNoReply_passesAndExchangeRefused() {
    CalloutTester.Stream stream = callout.newObservabilityStream();

    stream.sendExpectingNoReply(
        ProcessingRequest.newBuilder().setRequestHeaders(headers(":path", "/")).build(), QUIET);
    IllegalStateException exchange =
        assertThrows(IllegalStateException.class, () -> stream.requestHeaders(headers()));
    IllegalStateException chunks =
        assertThrows(IllegalStateException.class, () -> stream.requestBodyChunks("a"));

    assertThat(exchange)
        .hasMessageThat()
        .isEqualTo("an observability stream gets no reply: use send or sendExpectingNoReply");
    assertThat(chunks).hasMessageThat().isEqualTo(exchange.getMessage());
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(stream.received()).isEmpty();
  }

  @Test
  void assertNoReply_replyArrives_failsAtOnceNamingItAndKeepsItUnread() {
    CalloutTester.Stream stream = callout.newStream();
    stream.send(ProcessingRequest.newBuilder().setRequestHeaders(headers(":path", "/")).build());

    AssertionError replied =
        assertThrows(AssertionError.class, () -> stream.assertNoReply(Duration.ofSeconds(30)));

    assertThat(replied)
        .hasMessageThat()
        .startsWith("expected no reply within PT30S, got a request_headers reply: request_headers");
    assertThat(stream.nextResponse()).isEqualTo(Replies.continueRequestHeaders());
  }

  @Test
  void sendExpectingNoReply_replyComes_failsNamingTheMessage() {
    CalloutTester.Stream stream = callout.newStream();

    AssertionError replied =
        assertThrows(
            AssertionError.class,
            () ->
                stream.sendExpectingNoReply(
                    ProcessingRequest.newBuilder()
                        .setResponseHeaders(headers(":status", "204"))
                        .build(),
                    Duration.ofSeconds(30)));

    assertThat(replied)
        .hasMessageThat()
        .startsWith(
            "expected no reply to response_headers { headers { headers { key: \":status\""
                + " raw_value: \"204\" } } }, got a response_headers reply: response_headers");
  }
}
