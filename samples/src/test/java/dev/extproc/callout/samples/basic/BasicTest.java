package dev.extproc.callout.samples.basic;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.body;
import static dev.extproc.callout.testing.CalloutTester.headers;
import static dev.extproc.callout.testing.CalloutTester.trailers;
import static dev.extproc.callout.testing.Replies.mutation;
import static dev.extproc.callout.testing.Replies.set;
import static dev.extproc.callout.testing.Replies.sets;

import com.google.protobuf.ByteString;
import dev.extproc.callout.testing.CalloutExtension;
import dev.extproc.callout.testing.CalloutTester;
import dev.extproc.callout.testing.Replies;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.TrailersResponse;
import io.grpc.Status;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Every row of spec/samples.md for {@code basic}, over a real plaintext socket. */
class BasicTest {

  @RegisterExtension final CalloutExtension<Basic> sample = CalloutExtension.plaintext(Basic::new);

  @Test
  void fullExchange_everyPhaseGetsItsMutation() {
    CalloutTester.Stream stream = sample.newStream();

    assertThat(
            stream.requestHeaders(headers(":authority", "example.com", ":path", "/x", "foo", "1")))
        .isEqualTo(
            Replies.requestHeaders(
                mutation(
                    sets(
                        set(":authority", "service-extensions.com"),
                        set(":path", "/"),
                        set("header-request", "request")),
                    "foo"),
                true));
    assertThat(stream.requestBody(body("original", true)))
        .isEqualTo(Replies.requestBody(ByteString.copyFromUtf8("replaced-body")));
    assertThat(stream.responseHeaders(headers(":status", "200")))
        .isEqualTo(Replies.responseHeaders(mutation(sets(set("hello", "service-extensions")))));
    assertThat(stream.responseBody(body("secret", true))).isEqualTo(Replies.responseBodyCleared());
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
  }

  @Test
  void trailers_answerTypedEmptyTrailersResponses() {
    CalloutTester.Stream stream = sample.newStream();

    assertThat(stream.requestTrailers(trailers("x-checksum", "1")))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setRequestTrailers(TrailersResponse.getDefaultInstance())
                .build());
    assertThat(stream.responseTrailers(trailers("grpc-status", "0")))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setResponseTrailers(TrailersResponse.getDefaultInstance())
                .build());
  }

  @Test
  void emptyBodies_stillReplaceAndClear() {
    CalloutTester.Stream stream = sample.newStream();

    assertThat(stream.requestBody(body("", true)))
        .isEqualTo(Replies.requestBody(ByteString.copyFromUtf8("replaced-body")));
    assertThat(stream.responseBody(body("", true))).isEqualTo(Replies.responseBodyCleared());
  }
}
