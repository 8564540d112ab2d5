package dev.extproc.callout.samples.sseguard;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.headers;
import static java.nio.charset.StandardCharsets.UTF_8;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Struct;
import com.google.protobuf.UnknownFieldSet;
import com.google.protobuf.Value;
import dev.extproc.callout.testing.CalloutExtension;
import dev.extproc.callout.testing.CalloutTester;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.envoyproxy.envoy.service.ext_proc.v3.StreamedBodyResponse;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * An LLM-style event stream through the sample, split at every byte boundary: the exact output and
 * dynamic metadata; and the streamed local reply to an abusive request, read by field number.
 */
class SseGuardTest {

  private static final ProtocolConfiguration FULL_DUPLEX =
      ProtocolConfiguration.newBuilder()
          .setResponseBodyMode(BodySendMode.FULL_DUPLEX_STREAMED)
          .build();

  /**
   * Four events (CRLF and LF lines, ids, event names, a multi-line data, multi-byte UTF-8, two
   * secrets) after a comment-only block, which is no event.
   */
  private static final String STREAM =
      """
      : keep-alive

      id: 1\r
      event: message\r
      data: {"delta": "Grüße, wörld"}\r
      \r
      id: 2
      data: first line ünï 🙂
      data: key sk-proj_ABCDEFGHIJKLMNOPQRSTuv12 end

      id: 3
      event: message
      data: aws AKIAABCDEFGHIJKLMNOP done

      event: done
      data: [DONE]

      """;

  private static final String MASKED =
      STREAM
          .replace("sk-proj_ABCDEFGHIJKLMNOPQRSTuv12", "[secret]")
          .replace("AKIAABCDEFGHIJKLMNOP", "[secret]");

  /** events 4; tokens 3 + (4 + 3) + 3 + 1. */
  private static final Struct COUNTS = counts(4, 14, 2);

  @RegisterExtension
  final CalloutExtension<SseGuard> sample = CalloutExtension.plaintext(SseGuard::new);

  @Test
  void eventStream_everySplitInTwo_maskedExactlyWithCounts() {
    byte[] bytes = STREAM.getBytes(UTF_8);
    for (int split = 0; split <= bytes.length; split++) {
      List<ByteString> chunks =
          List.of(
              ByteString.copyFrom(bytes, 0, split),
              ByteString.copyFrom(bytes, split, bytes.length - split));
      Result result = stream(chunks);
      assertThat(result.body).isEqualTo(MASKED);
      assertThat(result.metadata).isEqualTo(List.of(withNamespace(COUNTS)));
    }
  }

  @Test
  void eventStream_oneByteChunks_eventsPassOnAsSoonAsComplete() {
    byte[] bytes = STREAM.getBytes(UTF_8);
    List<ByteString> chunks = new ArrayList<>();
    for (byte b : bytes) {
      chunks.add(ByteString.copyFrom(new byte[] {b}));
    }
    Result result = stream(chunks);

    assertThat(result.body).isEqualTo(MASKED);
    assertThat(result.metadata).isEqualTo(List.of(withNamespace(COUNTS)));
    // One output chunk per event (the comment block included), each on the byte that ends it.
    assertThat(result.outputs)
        .containsExactly(
            ": keep-alive\n\n",
            "id: 1\r\nevent: message\r\ndata: {\"delta\": \"Grüße, wörld\"}\r\n\r\n",
            "id: 2\ndata: first line ünï 🙂\ndata: key [secret] end\n\n",
            "id: 3\nevent: message\ndata: aws [secret] done\n\n",
            "event: done\ndata: [DONE]\n\n")
        .inOrder();
  }

  @Test
  void incompleteLastEvent_passesMaskedButIsNotCounted() {
    Result result =
        stream(
            List.of(
                ByteString.copyFromUtf8("data: a b\n\ndata: sk-abcdefghijklmnopqrstuvwxyz"),
                ByteString.EMPTY));

    assertThat(result.body).isEqualTo("data: a b\n\ndata: [secret]");
    assertThat(result.metadata).isEqualTo(List.of(withNamespace(counts(1, 2, 1))));
  }

  @Test
  void notAnEventStream_passesUnchangedWithoutMetadata() {
    CalloutTester.Stream stream = sample.newStream(FULL_DUPLEX);
    stream.responseHeaders(headers(":status", "200", "content-type", "application/json"));
    stream.send(
        responseChunk(
            ByteString.copyFromUtf8("{\"key\": \"sk-abcdefghijklmnopqrstuvwxyz\"}"), true));

    ProcessingResponse echo = stream.nextResponse();
    assertThat(echo.getResponseBody().getResponse().getBodyMutation().getStreamedResponse())
        .isEqualTo(
            StreamedBodyResponse.newBuilder()
                .setBody(ByteString.copyFromUtf8("{\"key\": \"sk-abcdefghijklmnopqrstuvwxyz\"}"))
                .setEndOfStream(true)
                .build());
    assertThat(echo.hasDynamicMetadata()).isFalse();
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
  }

  @Test
  void abusiveRequest_streamedLocalReplyWithAnErrorEvent_thenOk() throws Exception {
    CalloutTester.Stream stream = sample.newStream(FULL_DUPLEX);
    stream.send(
        ProcessingRequest.newBuilder()
            .setRequestHeaders(
                headers(":method", "POST", ":path", "/v1/chat", "x-abuse-score", "80"))
            .build());
    List<ProcessingResponse> replies = stream.awaitReplies(3);
    assertThat(stream.awaitClose().getCode()).isEqualTo(Status.Code.OK);

    // Each reply holds only field 11, streamed_immediate_response, whose one part is read here.
    assertThat(part(replies.get(0), 1))
        .isEqualTo(
            headers(
                    ":status", "429",
                    "content-type", "text/event-stream",
                    "cache-control", "no-cache")
                .toByteString());
    assertThat(StreamedBodyResponse.parseFrom(part(replies.get(1), 2)))
        .isEqualTo(
            StreamedBodyResponse.newBuilder()
                .setBody(
                    ByteString.copyFromUtf8(
                        """
                        event: error
                        data: {"error":"request refused: abuse score too high"}

                        """))
                .build());
    assertThat(StreamedBodyResponse.parseFrom(part(replies.get(2), 2)))
        .isEqualTo(StreamedBodyResponse.newBuilder().setEndOfStream(true).build());
    assertThat(stream.received()).hasSize(3);
  }

  @Test
  void scoreBelowTheThreshold_requestGoesOn() {
    CalloutTester.Stream stream = sample.newStream(FULL_DUPLEX);
    ProcessingResponse reply =
        stream.requestHeaders(headers(":method", "POST", ":path", "/", "x-abuse-score", "79"));

    assertThat(reply.hasRequestHeaders()).isTrue();
    assertThat(reply.getUnknownFields().asMap()).isEmpty();
  }

  // ---- Driving a stream ----

  /** What came back for a response body: the text, each output chunk, and the metadata seen. */
  private record Result(String body, List<String> outputs, List<Struct> metadata) {}

  /** Sends an event-stream response in {@code chunks}, the last one ending it. */
  private Result stream(List<ByteString> chunks) {
    CalloutTester.Stream stream = sample.newStream(FULL_DUPLEX);
    stream.responseHeaders(
        headers(":status", "200", "content-type", "text/event-stream; charset=utf-8"));
    for (int i = 0; i < chunks.size(); i++) {
      stream.send(responseChunk(chunks.get(i), i == chunks.size() - 1));
    }
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
    List<ProcessingResponse> replies = stream.received();
    ByteString body = ByteString.EMPTY;
    List<String> outputs = new ArrayList<>();
    List<Struct> metadata = new ArrayList<>();
    for (ProcessingResponse reply : replies.subList(1, replies.size())) {
      StreamedBodyResponse out =
          reply.getResponseBody().getResponse().getBodyMutation().getStreamedResponse();
      body = body.concat(out.getBody());
      if (!out.getBody().isEmpty()) {
        outputs.add(out.getBody().toStringUtf8());
      }
      if (reply.hasDynamicMetadata()) {
        metadata.add(reply.getDynamicMetadata());
      }
    }
    assertThat(
            replies
                .get(replies.size() - 1)
                .getResponseBody()
                .getResponse()
                .getBodyMutation()
                .getStreamedResponse()
                .getEndOfStream())
        .isTrue();
    return new Result(body.toStringUtf8(), outputs, metadata);
  }

  private static ProcessingRequest responseChunk(ByteString data, boolean endOfStream) {
    return ProcessingRequest.newBuilder()
        .setResponseBody(HttpBody.newBuilder().setBody(data).setEndOfStream(endOfStream))
        .build();
  }

  /** The bytes of part {@code number} of {@code reply}'s field 11, its only field. */
  private static ByteString part(ProcessingResponse reply, int number)
      throws InvalidProtocolBufferException {
    assertThat(reply.toBuilder().setUnknownFields(UnknownFieldSet.getDefaultInstance()).build())
        .isEqualToDefaultInstance();
    UnknownFieldSet streamed =
        UnknownFieldSet.parseFrom(
            reply.getUnknownFields().getField(11).getLengthDelimitedList().get(0));
    assertThat(streamed.asMap().keySet()).containsExactly(number);
    return streamed.getField(number).getLengthDelimitedList().get(0);
  }

  private static Struct counts(double events, double tokens, double secrets) {
    return Struct.newBuilder()
        .putFields("events", Value.newBuilder().setNumberValue(events).build())
        .putFields("tokens", Value.newBuilder().setNumberValue(tokens).build())
        .putFields("secrets_masked", Value.newBuilder().setNumberValue(secrets).build())
        .build();
  }

  private static Struct withNamespace(Struct counts) {
    return Struct.newBuilder()
        .putFields("sse-guard", Value.newBuilder().setStructValue(counts).build())
        .build();
  }
}
