package dev.extproc.callout.samples.addbody;

import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.body;
import static dev.extproc.callout.testing.CalloutTester.headers;

import com.google.protobuf.ByteString;
import dev.extproc.callout.testing.CalloutExtension;
import dev.extproc.callout.testing.CalloutTester;
import dev.extproc.callout.testing.Replies;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Every row of spec/samples.md for {@code add-body}, over a real plaintext socket. */
class AddBodyTest {

  @RegisterExtension
  final CalloutExtension<AddBody> sample = CalloutExtension.plaintext(AddBody::new);

  @Test
  void requestBody_getsTheSuffixAppended() {
    assertThat(sample.newStream().requestBody(body("mock-body", true)))
        .isEqualTo(Replies.requestBody(ByteString.copyFromUtf8("mock-body-added-request-body")));
  }

  @Test
  void emptyRequestBody_becomesTheSuffix() {
    assertThat(sample.newStream().requestBody(body("", true)))
        .isEqualTo(Replies.requestBody(ByteString.copyFromUtf8("-added-request-body")));
  }

  @Test
  void nonUtf8RequestBody_isAppendedToAsBytes() {
    byte[] binary = {(byte) 0xff, (byte) 0xfe, 0, (byte) 0xc3};
    CalloutTester.Stream stream = sample.newStream();

    assertThat(
            stream.exchange(
                ProcessingRequest.newBuilder()
                    .setRequestBody(
                        HttpBody.newBuilder()
                            .setBody(ByteString.copyFrom(binary))
                            .setEndOfStream(true))
                    .build()))
        .isEqualTo(
            Replies.requestBody(
                ByteString.copyFrom(binary)
                    .concat(ByteString.copyFromUtf8("-added-request-body"))));
  }

  @Test
  void responseBody_isReplaced_andHeadersContinue() {
    CalloutTester.Stream stream = sample.newStream();

    assertThat(stream.requestHeaders(headers(":path", "/")))
        .isEqualTo(Replies.continueRequestHeaders());
    assertThat(stream.responseHeaders(headers(":status", "200")))
        .isEqualTo(Replies.continueResponseHeaders());
    assertThat(stream.responseBody(body("anything", true)))
        .isEqualTo(Replies.responseBody(ByteString.copyFromUtf8("new-body")));
  }
}
