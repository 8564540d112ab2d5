package dev.extproc.callout.samples.updateheader;

import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.body;
import static dev.extproc.callout.testing.CalloutTester.headers;
import static dev.extproc.callout.testing.Replies.mutation;
import static dev.extproc.callout.testing.Replies.set;
import static dev.extproc.callout.testing.Replies.sets;
import static io.envoyproxy.envoy.config.core.v3.HeaderValueOption.HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD;

import dev.extproc.callout.testing.CalloutExtension;
import dev.extproc.callout.testing.CalloutTester;
import dev.extproc.callout.testing.Replies;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Every row of spec/samples.md for {@code update-header}, over a real plaintext socket. */
class UpdateHeaderTest {

  @RegisterExtension
  final CalloutExtension<UpdateHeader> sample = CalloutExtension.plaintext(UpdateHeader::new);

  @Test
  void headers_overwrittenWithOverwriteIfExistsOrAdd() {
    CalloutTester.Stream stream = sample.newStream();

    assertThat(stream.requestHeaders(headers("header-request", "old")))
        .isEqualTo(
            Replies.requestHeaders(
                mutation(
                    sets(set("header-request", "request-new-value", OVERWRITE_IF_EXISTS_OR_ADD))),
                true));
    assertThat(stream.requestBody(body("x", true))).isEqualTo(Replies.continueRequestBody());
    assertThat(stream.responseHeaders(headers(":status", "200")))
        .isEqualTo(
            Replies.responseHeaders(
                mutation(
                    sets(
                        set(
                            "header-response",
                            "response-new-value",
                            OVERWRITE_IF_EXISTS_OR_ADD)))));
    assertThat(stream.responseBody(body("y", true))).isEqualTo(Replies.continueResponseBody());
  }
}
