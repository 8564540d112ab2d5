package dev.extproc.callout.samples.addcustomresponse;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.body;
import static dev.extproc.callout.testing.CalloutTester.headers;
import static dev.extproc.callout.testing.Replies.mutation;
import static dev.extproc.callout.testing.Replies.set;
import static dev.extproc.callout.testing.Replies.sets;

import com.google.protobuf.ByteString;
import dev.extproc.callout.testing.CalloutExtension;
import dev.extproc.callout.testing.CalloutTester;
import dev.extproc.callout.testing.Replies;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.Status;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Every row of spec/samples.md for {@code add-custom-response}, over a real plaintext socket. */
class AddCustomResponseTest {

  private static final ProcessingResponse MOCK_REQUEST_HEADERS =
      Replies.requestHeaders(mutation(sets(set("Mock-Response", "Mocked-Value"))), false);
  private static final ProcessingResponse MOCK_RESPONSE_HEADERS =
      Replies.responseHeaders(mutation(sets(set("Mock-Response", "Mocked-Value"))));

  @RegisterExtension
  final CalloutExtension<AddCustomResponse> sample =
      CalloutExtension.plaintext(AddCustomResponse::new);

  /** Sends {@code request} and expects the stream to end PERMISSION_DENIED with no reply. */
  private void assertDenied(ProcessingRequest request) {
    CalloutTester.Stream stream = sample.newStream();
    stream.send(request);

    Status status = stream.awaitClose();

    assertThat(status.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(status.getDescription()).isEqualTo("Callout DENIED.");
    assertThat(stream.received()).isEmpty();
  }

  @Test
  void requestHeaders_badHeaderDenied_mockMocked_elseDefault() {
    assertDenied(
        ProcessingRequest.newBuilder().setRequestHeaders(headers("bad-header", "")).build());
    assertThat(sample.newStream().requestHeaders(headers("mock", "1")))
        .isEqualTo(MOCK_REQUEST_HEADERS);
    assertThat(sample.newStream().requestHeaders(headers(":path", "/", "foo", "bar")))
        .isEqualTo(
            Replies.requestHeaders(mutation(sets(set("header-request", "request")), "foo"), true));
  }

  @Test
  void responseHeaders_badHeaderDenied_mockMocked_elseDefault() {
    assertDenied(
        ProcessingRequest.newBuilder().setResponseHeaders(headers("bad-header", "x")).build());
    assertThat(sample.newStream().responseHeaders(headers("mock", "")))
        .isEqualTo(MOCK_RESPONSE_HEADERS);
    assertThat(sample.newStream().responseHeaders(headers(":status", "200")))
        .isEqualTo(Replies.responseHeaders(mutation(sets(set("header-response", "response")))));
  }

  @Test
  void requestBody_badBodyDenied_mockMocked_elseReplaced() {
    assertDenied(
        ProcessingRequest.newBuilder().setRequestBody(body("a bad-body here", true)).build());
    assertThat(sample.newStream().requestBody(body("this is a mock", true)))
        .isEqualTo(Replies.requestBody(ByteString.copyFromUtf8("Mocked-Body")));
    assertThat(sample.newStream().requestBody(body("plain", true)))
        .isEqualTo(Replies.requestBody(ByteString.copyFromUtf8("replaced-body")));
  }

  @Test
  void responseBody_badBodyDenied_mockMocked_elseContinue() {
    assertDenied(ProcessingRequest.newBuilder().setResponseBody(body("bad-body", true)).build());
    assertThat(sample.newStream().responseBody(body("mock", true)))
        .isEqualTo(Replies.responseBody(ByteString.copyFromUtf8("Mocked-Body")));
    assertThat(sample.newStream().responseBody(body("plain", true)))
        .isEqualTo(Replies.continueResponseBody());
  }

  @Test
  void denialMidStream_endsTheStreamAfterEarlierReplies() {
    CalloutTester.Stream stream = sample.newStream();
    stream.requestHeaders(headers(":path", "/"));
    stream.send(ProcessingRequest.newBuilder().setRequestBody(body("bad-body", true)).build());

    assertThat(stream.awaitClose().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(stream.received()).hasSize(1);
  }
}
