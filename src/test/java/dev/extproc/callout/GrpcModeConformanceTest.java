package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.GrpcModeStreams.CONTINUE_REQUEST_HEADERS;
import static dev.extproc.callout.GrpcModeStreams.CONTINUE_RESPONSE_HEADERS;
import static dev.extproc.callout.GrpcModeStreams.CONTINUE_RESPONSE_TRAILERS;
import static dev.extproc.callout.GrpcModeStreams.POST;
import static dev.extproc.callout.GrpcModeStreams.QUIET;
import static dev.extproc.callout.GrpcModeStreams.config;
import static dev.extproc.callout.GrpcModeStreams.passThrough;
import static dev.extproc.callout.GrpcModeStreams.repeat;
import static dev.extproc.callout.GrpcModeStreams.requestEcho;
import static dev.extproc.callout.GrpcModeStreams.requestMessage;
import static dev.extproc.callout.GrpcModeStreams.responseEcho;
import static dev.extproc.callout.GrpcModeStreams.responseHeaders;
import static dev.extproc.callout.GrpcModeStreams.responseMessage;
import static dev.extproc.callout.GrpcModeStreams.responseTrailers;
import static dev.extproc.callout.testing.GrpcModeMessages.clientWindowUpdate;
import static dev.extproc.callout.testing.GrpcModeMessages.grpcCompressedMessage;
import static dev.extproc.callout.testing.GrpcModeMessages.grpcHalfClose;
import static dev.extproc.callout.testing.GrpcModeMessages.grpcProtocolConfig;
import static dev.extproc.callout.testing.GrpcModeMessages.grpcRequestHeaders;
import static dev.extproc.callout.testing.GrpcModeMessages.halfCloseEcho;
import static dev.extproc.callout.testing.GrpcModeMessages.serverWindowUpdate;

import com.google.protobuf.ByteString;
import dev.extproc.callout.testing.CalloutTester;
import dev.extproc.callout.testing.GrpcModeMessages;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.envoyproxy.envoy.service.ext_proc.v3.StreamedBodyResponse;
import io.grpc.Status;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Conformance cases 40-49: GRPC body mode and flow control, each driven over a real loopback socket
 * exactly as grpc-java's xDS ext_proc client (1.85) drives a stream: {@code protocol_config} {GRPC,
 * GRPC} and {@code flow_control_init} on the first message, one {@code HttpBody{body,
 * end_of_stream=false}} per gRPC message, the half-close as a separate empty body with {@code
 * end_of_stream_without_message}, {@code client_window_update} in messages with no request case,
 * and an empty {@code response_trailers}. The newer fields are written and read by number ({@link
 * GrpcModeMessages}); the replies are asserted exactly.
 */
class GrpcModeConformanceTest {

  private final GrpcModeStreams streams = new GrpcModeStreams();

  @AfterEach
  void cleanUp() throws Exception {
    streams.stop();
  }

  // ---- Cases ----

  @Test
  void case40_passThroughEchoesEachMessageAndGrantsItsBytes() throws IOException {
    CalloutTester.Stream stream = streams.grpcStream(passThrough(), 65_536);

    stream.send(requestMessage("hello"));
    stream.send(requestMessage(""));
    stream.send(requestMessage(repeat('x', 1000)));
    stream.send(requestMessage(grpcHalfClose()));
    stream.send(responseHeaders());
    stream.send(responseMessage("world"));
    stream.send(responseTrailers());

    assertThat(stream.awaitReplies(10))
        .containsExactly(
            requestEcho("hello"),
            serverWindowUpdate(5, 0),
            requestEcho(""), // an empty message is a message: echoed, nothing to grant
            requestEcho(repeat('x', 1000)),
            serverWindowUpdate(1000, 0),
            halfCloseEcho(true),
            CONTINUE_RESPONSE_HEADERS,
            responseEcho("world"),
            serverWindowUpdate(0, 5),
            CONTINUE_RESPONSE_TRAILERS)
        .inOrder();
    stream.assertNoReply(QUIET);
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
  }

  @Test
  void case41_bodyHookReplacesDropsOrForwardsEachMessage() throws IOException {
    CalloutServer callout =
        new CalloutServer(config()) {
          @Override
          protected @Nullable BodyResponse onRequestBody(HttpBody body, CalloutContext ctx) {
            return switch (body.getBody().toStringUtf8()) {
              case "swap" -> CalloutTools.addBodyMutation("swapped");
              case "drop" -> CalloutTools.clearBodyMutation();
              default -> null;
            };
          }
        };
    CalloutTester.Stream stream = streams.grpcStream(callout, 65_536);

    stream.send(requestMessage("swap"));
    stream.send(requestMessage("drop"));
    stream.send(requestMessage("keep"));

    assertThat(stream.awaitReplies(5))
        .containsExactly(
            requestEcho("swapped"),
            serverWindowUpdate(4, 0),
            serverWindowUpdate(4, 0), // the dropped message: no body reply, its bytes granted
            requestEcho("keep"),
            serverWindowUpdate(4, 0))
        .inOrder();
  }

  @Test
  void case42_transformerWriteIsOneMessage_zeroOneOrTwoPerInput() throws IOException {
    CalloutServer callout =
        new CalloutServer(config()) {
          @Override
          protected @Nullable HeadersResponse onRequestHeaders(HttpHeaders h, CalloutContext ctx) {
            ctx.transformRequestBody(
                new BodyTransformer() {
                  @Override
                  public void onChunk(ByteString message, Sink out) {
                    int copies = Integer.parseInt(message.toStringUtf8());
                    for (int i = 0; i < copies; i++) {
                      out.write(message);
                    }
                  }

                  @Override
                  public void onEnd(Sink out) {
                    out.write(ByteString.copyFromUtf8("end"));
                  }
                });
            return null;
          }
        };
    CalloutTester.Stream stream = streams.grpcStream(callout, 65_536);

    stream.send(requestMessage("0"));
    stream.send(requestMessage("1"));
    stream.send(requestMessage("2"));
    stream.send(requestMessage(grpcHalfClose()));

    assertThat(stream.awaitReplies(8))
        .containsExactly(
            serverWindowUpdate(1, 0),
            requestEcho("1"),
            serverWindowUpdate(1, 0),
            requestEcho("2"), // two writes: two messages, never merged
            requestEcho("2"),
            serverWindowUpdate(1, 0),
            requestEcho("end"),
            halfCloseEcho(true))
        .inOrder();
    stream.assertNoReply(QUIET);
  }

  @Test
  void case43_halfCloseAlone_isEchoedWithBothFlags_withoutCallingTheBodyHook() throws IOException {
    AtomicInteger bodyCalls = new AtomicInteger();
    CalloutServer callout =
        new CalloutServer(config()) {
          @Override
          protected @Nullable BodyResponse onRequestBody(HttpBody body, CalloutContext ctx) {
            bodyCalls.incrementAndGet();
            return null;
          }
        };
    CalloutTester.Stream stream = streams.grpcStream(callout, 65_536);

    stream.send(requestMessage(grpcHalfClose()));

    ProcessingResponse echo = stream.nextResponse();
    assertThat(echo).isEqualTo(halfCloseEcho(true));
    StreamedBodyResponse flags =
        echo.getRequestBody().getResponse().getBodyMutation().getStreamedResponse();
    assertThat(flags.getEndOfStream()).isTrue();
    assertThat(GrpcModeMessages.endOfStreamWithoutMessage(flags)).isTrue();
    stream.send(responseHeaders());
    assertThat(stream.nextResponse()).isEqualTo(CONTINUE_RESPONSE_HEADERS);
    assertThat(bodyCalls.get()).isEqualTo(0);
  }

  @Test
  void case44_compressedMessage_endsTheStreamUnimplemented() throws IOException {
    CalloutTester.Stream stream = streams.grpcStream(passThrough(), 65_536);

    stream.send(requestMessage(grpcCompressedMessage(ByteString.copyFromUtf8("zipped"))));

    Status status = stream.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.UNIMPLEMENTED);
    assertThat(status.getDescription())
        .isEqualTo(
            "compressed gRPC messages are not supported in GRPC body mode (received request_body"
                + " with grpc_message_compressed); configure the client without compression");
    assertThat(stream.received()).containsExactly(CONTINUE_REQUEST_HEADERS);
  }

  @Test
  void case45_outputStopsAtTheClientsWindow_untilClientWindowUpdate() throws IOException {
    CalloutTester.Stream stream = streams.grpcStream(passThrough(), 100);
    String a = repeat('a', 60);
    String b = repeat('b', 60);
    String c = repeat('c', 60);
    String d = repeat('d', 60);

    stream.send(requestMessage(a));
    stream.send(requestMessage(b));
    stream.send(requestMessage(c));
    stream.send(requestMessage(d));
    // The response direction is not held: its reply proves c and d were processed, and held.
    stream.send(responseHeaders());

    // 100 bytes of window: a goes, b goes while the window is still positive (as the client sends),
    // then nothing more, and neither c nor d is granted.
    assertThat(stream.awaitReplies(5))
        .containsExactly(
            requestEcho(a),
            serverWindowUpdate(60, 0),
            requestEcho(b),
            serverWindowUpdate(60, 0),
            CONTINUE_RESPONSE_HEADERS)
        .inOrder();

    stream.send(clientWindowUpdate(120, 0)); // the client forwarded a and b

    assertThat(stream.awaitReplies(3))
        .containsExactly(requestEcho(c), requestEcho(d), serverWindowUpdate(120, 0))
        .inOrder();
    stream.send(requestMessage(grpcHalfClose()));
    stream.send(responseMessage("r"));
    // Our window is at -20: the half-close echo carries no bytes and goes; r goes on its own lane.
    assertThat(stream.awaitReplies(3))
        .containsExactly(halfCloseEcho(true), responseEcho("r"), serverWindowUpdate(0, 1))
        .inOrder();
  }

  @Test
  void case46_heldResponseMessagesKeepTheTrailersReplyBehindThem() throws IOException {
    CalloutTester.Stream stream = streams.grpcStream(passThrough(), 10);
    stream.send(requestMessage(grpcHalfClose()));
    assertThat(stream.nextResponse()).isEqualTo(halfCloseEcho(true));
    stream.send(responseHeaders());
    assertThat(stream.nextResponse()).isEqualTo(CONTINUE_RESPONSE_HEADERS);

    stream.send(responseMessage("0123456789abcdefghij"));
    stream.send(responseMessage("xyz"));
    stream.send(responseTrailers());
    assertThat(stream.awaitReplies(2))
        .containsExactly(responseEcho("0123456789abcdefghij"), serverWindowUpdate(0, 20))
        .inOrder();
    stream.assertNoReply(QUIET);

    stream.send(clientWindowUpdate(0, 20));

    assertThat(stream.awaitReplies(3))
        .containsExactly(responseEcho("xyz"), CONTINUE_RESPONSE_TRAILERS, serverWindowUpdate(0, 3))
        .inOrder();
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
  }

  @Test
  void case47_modeOverrideToGrpc_switchesTheBodyToMessages() throws IOException {
    List<Boolean> grpc = new ArrayList<>();
    CalloutServer callout =
        new CalloutServer(config()) {
          @Override
          protected @Nullable HeadersResponse onRequestHeaders(HttpHeaders h, CalloutContext ctx) {
            grpc.add(ctx.isGrpcResponseBody());
            ctx.overrideMode(m -> m.setResponseBodyModeValue(GrpcModeMessages.GRPC_BODY_MODE));
            grpc.add(ctx.isGrpcResponseBody());
            return null;
          }

          @Override
          protected @Nullable HeadersResponse onResponseHeaders(HttpHeaders h, CalloutContext ctx) {
            grpc.add(ctx.isGrpcResponseBody());
            ctx.transformResponseBody(
                (message, out) -> out.write(ByteString.copyFromUtf8(message.toStringUtf8() + "!")));
            return null;
          }
        };
    CalloutTester.Stream stream =
        streams.stream(callout, ProtocolConfiguration.getDefaultInstance());

    assertThat(stream.requestHeaders(POST))
        .isEqualTo(
            CONTINUE_REQUEST_HEADERS.toBuilder()
                .setModeOverride(
                    io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode
                        .newBuilder()
                        .setResponseBodyModeValue(5))
                .build());
    stream.send(responseHeaders());
    stream.send(responseMessage("hi"));
    stream.send(responseMessage(""));
    stream.send(responseTrailers());

    // No flow_control_init: no server_window_update.
    assertThat(stream.awaitReplies(4))
        .containsExactly(
            CONTINUE_RESPONSE_HEADERS,
            responseEcho("hi!"),
            responseEcho("!"),
            CONTINUE_RESPONSE_TRAILERS)
        .inOrder();
    assertThat(grpc).containsExactly(false, true, true).inOrder();
  }

  @Test
  void case48_continueAndReplace_isRefusedInGrpcMode() throws IOException {
    CalloutServer callout =
        new CalloutServer(config()) {
          @Override
          protected @Nullable HeadersResponse onRequestHeaders(HttpHeaders h, CalloutContext ctx) {
            return CalloutTools.continueAndReplace(List.of(), ByteString.copyFromUtf8("new"));
          }
        };
    CalloutTester.Stream stream = streams.stream(callout, grpcProtocolConfig());

    stream.send(grpcRequestHeaders(POST, 65_536));

    Status status = stream.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(status.getDescription())
        .contains("CONTINUE_AND_REPLACE is not allowed in GRPC body mode");
    assertThat(stream.received()).isEmpty();
  }

  @Test
  void case49_withoutFlowControlInit_noGrants_andWindowUpdatesGetNoReply() throws IOException {
    CalloutTester.Stream stream = streams.stream(passThrough(), grpcProtocolConfig());
    assertThat(stream.requestHeaders(POST)).isEqualTo(CONTINUE_REQUEST_HEADERS);

    stream.send(requestMessage("a"));
    stream.send(clientWindowUpdate(1, 0));
    stream.send(responseHeaders());

    assertThat(stream.awaitReplies(2))
        .containsExactly(requestEcho("a"), CONTINUE_RESPONSE_HEADERS)
        .inOrder();
    stream.assertNoReply(Duration.ZERO);
  }
}
