package dev.extproc.callout.samples.addheader;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.body;
import static dev.extproc.callout.testing.CalloutTester.headers;
import static dev.extproc.callout.testing.CalloutTester.trailers;

import com.google.protobuf.ByteString;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.testing.CalloutTester;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeaderMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.TrailersResponse;
import io.grpc.Status;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Every row of spec/samples.md for {@code add-header}, compared field by field. */
class AddHeaderTest {

  private final CalloutTester tester =
      CalloutTester.of(new AddHeader(CalloutServerConfig.defaults()));

  @AfterEach
  void close() {
    tester.close();
  }

  private static HeaderValueOption set(String key, String value) {
    return HeaderValueOption.newBuilder()
        .setHeader(HeaderValue.newBuilder().setKey(key).setRawValue(ByteString.copyFromUtf8(value)))
        .build();
  }

  @Test
  void requestHeaders_setsHeaderRequestAndClearsRouteCache() {
    ProcessingResponse reply =
        tester.newStream().requestHeaders(headers(":path", "/", "foo", "bar"));

    assertThat(reply)
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setRequestHeaders(
                    HeadersResponse.newBuilder()
                        .setResponse(
                            CommonResponse.newBuilder()
                                .setHeaderMutation(
                                    HeaderMutation.newBuilder()
                                        .addSetHeaders(set("header-request", "request")))
                                .setClearRouteCache(true)))
                .build());
  }

  @Test
  void responseHeaders_setsHeaderResponseAndRemovesFoo() {
    CalloutTester.Stream stream = tester.newStream();
    stream.requestHeaders(headers(":path", "/"));

    assertThat(stream.responseHeaders(headers(":status", "200", "foo", "bar")))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setResponseHeaders(
                    HeadersResponse.newBuilder()
                        .setResponse(
                            CommonResponse.newBuilder()
                                .setHeaderMutation(
                                    HeaderMutation.newBuilder()
                                        .addSetHeaders(set("header-response", "response"))
                                        .addRemoveHeaders("foo"))))
                .build());
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
  }

  @Test
  void otherPhases_continueWithTypedEmptyResponses() {
    CalloutTester.Stream stream = tester.newStream();
    stream.requestHeaders(headers(":path", "/"));

    assertThat(stream.requestBody(body("x", false)))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setRequestBody(BodyResponse.getDefaultInstance())
                .build());
    assertThat(stream.requestTrailers(trailers("t", "1")))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setRequestTrailers(TrailersResponse.getDefaultInstance())
                .build());
    stream.responseHeaders(headers(":status", "200"));
    assertThat(stream.responseBody(body("y", true)))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setResponseBody(BodyResponse.getDefaultInstance())
                .build());
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
  }
}
