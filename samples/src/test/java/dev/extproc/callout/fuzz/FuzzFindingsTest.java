package dev.extproc.callout.fuzz;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.body;
import static dev.extproc.callout.testing.CalloutTester.headers;

import com.google.protobuf.ByteString;
import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.testing.CalloutTester;
import dev.extproc.callout.testing.Replies;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.HeaderSendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.grpc.Status;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;

/** What the fuzz tests found, each pinned by the smallest exchange that showed it. */
class FuzzFindingsTest {

  @Test
  void overrideMode_bodyModeNewerThanTheProtos_keepsItsNumber() {
    CalloutServer callout =
        new CalloutServer() {
          @Override
          protected @Nullable HeadersResponse onRequestHeaders(
              HttpHeaders headers, CalloutContext ctx) {
            ctx.overrideMode(mode -> mode.setResponseTrailerMode(HeaderSendMode.SEND));
            return null;
          }
        };
    try (CalloutTester tester = CalloutTester.of(callout)) {
      // GRPC (5) is newer than the protos; 99 is unknown to every Envoy.
      CalloutTester.Stream stream =
          tester.newStream(
              ProtocolConfiguration.newBuilder()
                  .setRequestBodyModeValue(5)
                  .setResponseBodyModeValue(99)
                  .build());

      assertThat(stream.requestHeaders(headers(":path", "/")))
          .isEqualTo(
              ProcessingResponse.newBuilder()
                  .setRequestHeaders(HeadersResponse.getDefaultInstance())
                  .setModeOverride(
                      ProcessingMode.newBuilder()
                          .setRequestBodyModeValue(5)
                          .setResponseBodyModeValue(99)
                          .setResponseTrailerMode(HeaderSendMode.SEND))
                  .build());
      assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
    }
  }

  @Test
  void fullDuplexBody_chunkAfterItsEnd_endsTheStreamWithInvalidArgument() {
    try (CalloutTester tester = CalloutTester.of(new CalloutServer() {})) {
      CalloutTester.Stream stream =
          tester.newStream(
              ProtocolConfiguration.newBuilder()
                  .setRequestBodyMode(BodySendMode.FULL_DUPLEX_STREAMED)
                  .build());
      stream.requestHeaders(headers(":path", "/"));
      assertThat(stream.requestBody(body("last", true)))
          .isEqualTo(Replies.streamed(true, ByteString.copyFromUtf8("last"), true));

      stream.send(ProcessingRequest.newBuilder().setRequestBody(body("more", false)).build());

      Status status = stream.awaitClose();
      assertThat(status.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
      assertThat(status.getDescription())
          .isEqualTo(
              "request_body after the end of the body (end_of_stream or trailers) in"
                  + " FULL_DUPLEX_STREAMED mode");
      assertThat(stream.received()).hasSize(2);
    }
  }
}
