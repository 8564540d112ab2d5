package dev.extproc.callout.samples.addheader;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.body;
import static dev.extproc.callout.testing.CalloutTester.headers;
import static dev.extproc.callout.testing.CalloutTester.trailers;
import static dev.extproc.callout.testing.Replies.mutation;
import static dev.extproc.callout.testing.Replies.set;
import static dev.extproc.callout.testing.Replies.sets;

import dev.extproc.callout.testing.CalloutExtension;
import dev.extproc.callout.testing.CalloutTester;
import dev.extproc.callout.testing.Replies;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.TrailersResponse;
import io.grpc.Status;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Every row of spec/samples.md for {@code add-header}, compared field by field, over a real
 * plaintext socket and over the TLS listener.
 */
class AddHeaderTest {

  @RegisterExtension
  static final CalloutExtension<AddHeader> plaintext = CalloutExtension.plaintext(AddHeader::new);

  @RegisterExtension
  static final CalloutExtension<AddHeader> tls = CalloutExtension.tls(AddHeader::new);

  private static void assertSpecRows(CalloutExtension<AddHeader> sample) {
    CalloutTester.Stream stream = sample.newStream();
    assertThat(stream.requestHeaders(headers(":path", "/", "foo", "bar")))
        .isEqualTo(Replies.requestHeaders(mutation(sets(set("header-request", "request"))), true));
    assertThat(stream.requestBody(body("x", true))).isEqualTo(Replies.continueRequestBody());
    assertThat(stream.responseHeaders(headers(":status", "200", "foo", "bar")))
        .isEqualTo(
            Replies.responseHeaders(mutation(sets(set("header-response", "response")), "foo")));
    assertThat(stream.responseBody(body("y", false))).isEqualTo(Replies.continueResponseBody());
    assertThat(stream.responseTrailers(trailers("t", "1")))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setResponseTrailers(TrailersResponse.getDefaultInstance())
                .build());
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
  }

  @Test
  void plaintextListener_everyPhaseAsSpecified() {
    assertSpecRows(plaintext);
  }

  @Test
  void tlsListener_everyPhaseAsSpecified() {
    assertSpecRows(tls);
  }
}
