package dev.extproc.callout.samples.redactbody;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.body;
import static dev.extproc.callout.testing.CalloutTester.headers;

import com.google.protobuf.ByteString;
import dev.extproc.callout.testing.CalloutExtension;
import dev.extproc.callout.testing.CalloutTester;
import dev.extproc.callout.testing.Replies;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.grpc.Status;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Addresses masked as the response body streams, across chunk boundaries. */
class RedactBodyTest {

  private static final ProtocolConfiguration FULL_DUPLEX =
      ProtocolConfiguration.newBuilder()
          .setResponseBodyMode(BodySendMode.FULL_DUPLEX_STREAMED)
          .build();

  @RegisterExtension
  final CalloutExtension<RedactBody> sample = CalloutExtension.plaintext(RedactBody::new);

  /** Streams {@code chunks} as a response body and returns the body the callout sent back. */
  private String roundTrip(String... chunks) {
    CalloutTester.Stream stream = sample.newStream(FULL_DUPLEX);
    stream.responseHeaders(headers(":status", "200"));
    for (int i = 0; i < chunks.length; i++) {
      stream.send(
          ProcessingRequest.newBuilder()
              .setResponseBody(body(chunks[i], i == chunks.length - 1))
              .build());
    }
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
    List<ProcessingResponse> replies = stream.received();
    StringBuilder out = new StringBuilder();
    for (int i = 1; i < replies.size(); i++) {
      var streamed =
          replies.get(i).getResponseBody().getResponse().getBodyMutation().getStreamedResponse();
      assertThat(streamed.getEndOfStream()).isEqualTo(i == replies.size() - 1);
      out.append(streamed.getBody().toStringUtf8());
    }
    return out.toString();
  }

  @Test
  void addressesInOneChunk_masked() {
    assertThat(roundTrip("mail ann@example.com or bob.smith+x@mail.co.uk, not @x or a@b"))
        .isEqualTo("mail [email] or [email], not @x or a@b");
  }

  @Test
  void addressSplitAcrossChunks_masked() {
    assertThat(roundTrip("write to an", "n@exam", "ple.com today"))
        .isEqualTo("write to [email] today");
    assertThat(roundTrip("x ann@example.", "com")).isEqualTo("x [email]");
  }

  @Test
  void utf8AndNoAddresses_passUnchanged() {
    assertThat(roundTrip("héllo wörld ", "ünïcode – fine")).isEqualTo("héllo wörld ünïcode – fine");
  }

  @Test
  void chunkBoundary_outputFollowsWithoutWaitingForTheEnd() {
    CalloutTester.Stream stream = sample.newStream(FULL_DUPLEX);
    stream.responseHeaders(headers(":status", "200"));

    ProcessingResponse first =
        stream.exchange(
            ProcessingRequest.newBuilder().setResponseBody(body("hello ann@ex", false)).build());

    assertThat(
            first.getResponseBody().getResponse().getBodyMutation().getStreamedResponse().getBody())
        .isEqualTo(ByteString.copyFromUtf8("hello "));
  }

  @Test
  void otherBodyModes_passThrough() {
    CalloutTester.Stream stream =
        sample.newStream(
            ProtocolConfiguration.newBuilder().setResponseBodyMode(BodySendMode.STREAMED).build());
    stream.responseHeaders(headers(":status", "200"));

    assertThat(stream.responseBody(body("ann@example.com", true)))
        .isEqualTo(Replies.continueResponseBody());
  }

  @Test
  void mask_longWordsAndEdgeCases() {
    assertThat(EmailMasker.mask(ByteString.copyFromUtf8("a@b.c x@y z@.com q@w.")).toStringUtf8())
        .isEqualTo("[email] x@y z@.com q@w.");
    String longWord = "a".repeat(300) + "@example.com";
    assertThat(EmailMasker.mask(ByteString.copyFromUtf8(longWord)).toStringUtf8())
        .isEqualTo(longWord);
  }
}
