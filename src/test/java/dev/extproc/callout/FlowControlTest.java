package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.GrpcModeStreams.CONTINUE_REQUEST_HEADERS;
import static dev.extproc.callout.GrpcModeStreams.CONTINUE_RESPONSE_HEADERS;
import static dev.extproc.callout.GrpcModeStreams.POST;
import static dev.extproc.callout.GrpcModeStreams.config;
import static dev.extproc.callout.GrpcModeStreams.passThrough;
import static dev.extproc.callout.GrpcModeStreams.repeat;
import static dev.extproc.callout.GrpcModeStreams.requestEcho;
import static dev.extproc.callout.GrpcModeStreams.requestMessage;
import static dev.extproc.callout.GrpcModeStreams.responseHeaders;
import static dev.extproc.callout.testing.GrpcModeMessages.clientWindowUpdate;
import static dev.extproc.callout.testing.GrpcModeMessages.grpcRequestHeaders;
import static dev.extproc.callout.testing.GrpcModeMessages.serverWindowUpdate;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnknownFieldSet;
import dev.extproc.callout.testing.CalloutTester;
import dev.extproc.callout.testing.Replies;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.grpc.Status;
import java.io.IOException;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Flow control beyond GRPC mode's conformance cases, over a loopback socket: FULL_DUPLEX_STREAMED
 * streams with {@code flow_control_init} follow the same windows, and an immediate response is not
 * held behind them; a flow-control field that does not parse ends the stream INVALID_ARGUMENT.
 */
class FlowControlTest {

  private final GrpcModeStreams streams = new GrpcModeStreams();

  @AfterEach
  void cleanUp() throws Exception {
    streams.stop();
  }

  @Test
  void fullDuplexStreamed_withFlowControlInit_followsTheSameWindows() throws IOException {
    ProtocolConfiguration fullDuplex =
        ProtocolConfiguration.newBuilder()
            .setRequestBodyMode(BodySendMode.FULL_DUPLEX_STREAMED)
            .setResponseBodyMode(BodySendMode.FULL_DUPLEX_STREAMED)
            .build();
    CalloutTester.Stream stream = streams.stream(passThrough(), fullDuplex);
    stream.send(grpcRequestHeaders(POST, 10).toBuilder().setProtocolConfig(fullDuplex).build());
    assertThat(stream.nextResponse()).isEqualTo(CONTINUE_REQUEST_HEADERS);

    stream.send(requestMessage("0123456789ab"));
    stream.send(requestMessage(CalloutTester.body("cd", true)));
    stream.send(responseHeaders());

    assertThat(stream.awaitReplies(3))
        .containsExactly(
            requestEcho("0123456789ab"), serverWindowUpdate(12, 0), CONTINUE_RESPONSE_HEADERS)
        .inOrder();

    stream.send(clientWindowUpdate(12, 0));

    assertThat(stream.awaitReplies(2))
        .containsExactly(
            Replies.streamed(true, ByteString.copyFromUtf8("cd"), true), serverWindowUpdate(2, 0))
        .inOrder();
  }

  @Test
  void immediateResponse_goesOutAtOnce_droppingHeldMessages() throws IOException {
    CalloutServer callout =
        new CalloutServer(config()) {
          @Override
          protected @Nullable BodyResponse onRequestBody(HttpBody body, CalloutContext ctx) {
            if (body.getBody().toStringUtf8().equals("stop")) {
              ctx.respondImmediately(CalloutTools.denyRequest(403, "no"));
            }
            return null;
          }
        };
    CalloutTester.Stream stream = streams.grpcStream(callout, 10);

    stream.send(requestMessage(repeat('x', 20)));
    stream.send(requestMessage("held"));
    stream.send(requestMessage("stop"));

    assertThat(stream.awaitReplies(2))
        .containsExactly(requestEcho(repeat('x', 20)), serverWindowUpdate(20, 0))
        .inOrder();
    ProcessingResponse immediate = stream.nextResponse();
    assertThat(Replies.immediateStatus(immediate)).isEqualTo(403);
    stream.send(clientWindowUpdate(20, 0));
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
    // Headers reply, x, its grant, the immediate response: nothing after it, "held" dropped.
    assertThat(stream.received()).hasSize(4);
    assertThat(stream.received().get(3)).isEqualTo(immediate);
  }

  @Test
  void clientWindowUpdate_thatDoesNotParse_endsTheStreamWithInvalidArgument() throws IOException {
    CalloutTester.Stream stream = streams.grpcStream(passThrough(), 10);
    // Field 13 (client_window_update) as bytes that are no message: a tag cut short.
    UnknownFieldSet malformed =
        UnknownFieldSet.newBuilder()
            .addField(
                13,
                UnknownFieldSet.Field.newBuilder()
                    .addLengthDelimited(ByteString.copyFrom(new byte[] {(byte) 0x80}))
                    .build())
            .build();

    stream.send(ProcessingRequest.newBuilder().setUnknownFields(malformed).build());

    // Before the fix the exception escaped the stream's event queue: no reply, no close, ever.
    Status status = stream.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    assertThat(status.getDescription())
        .isEqualTo(
            "malformed ProcessingRequest: a field newer than the compiled Envoy API does not parse"
                + " (While parsing a protocol message, the input ended unexpectedly in the middle"
                + " of a field.  This could mean either that the input has been truncated or that"
                + " an embedded message misreported its own length.)");
    assertThat(stream.received()).containsExactly(CONTINUE_REQUEST_HEADERS);
  }
}
