package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.headers;
import static dev.extproc.callout.testing.GrpcModeMessages.clientWindowUpdate;
import static dev.extproc.callout.testing.GrpcModeMessages.grpcCompressedMessage;
import static dev.extproc.callout.testing.GrpcModeMessages.grpcHalfClose;
import static dev.extproc.callout.testing.GrpcModeMessages.grpcMessage;
import static dev.extproc.callout.testing.GrpcModeMessages.grpcProtocolConfig;
import static dev.extproc.callout.testing.GrpcModeMessages.grpcRequestHeaders;
import static dev.extproc.callout.testing.GrpcModeMessages.halfCloseEcho;
import static dev.extproc.callout.testing.GrpcModeMessages.serverWindowUpdate;

import com.google.protobuf.ByteString;
import dev.extproc.callout.testing.CalloutTester;
import dev.extproc.callout.testing.GrpcModeMessages;
import dev.extproc.callout.testing.Replies;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpTrailers;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.envoyproxy.envoy.service.ext_proc.v3.StreamedBodyResponse;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import java.io.IOException;
import java.net.InetSocketAddress;
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

  private static final Duration QUIET = Duration.ofMillis(300);
  private static final HttpHeaders POST = headers(":method", "POST", ":path", "/echo.Echo/Say");
  private static final ProcessingResponse CONTINUE_REQUEST_HEADERS =
      Replies.continueRequestHeaders();
  private static final ProcessingResponse CONTINUE_RESPONSE_HEADERS =
      Replies.continueResponseHeaders();
  private static final ProcessingResponse CONTINUE_RESPONSE_TRAILERS =
      Replies.continueResponseTrailers();

  private final List<AutoCloseable> cleanup = new ArrayList<>();

  @AfterEach
  void cleanUp() throws Exception {
    for (int i = cleanup.size() - 1; i >= 0; i--) {
      cleanup.get(i).close();
    }
  }

  // ---- Harness and messages ----

  /** A stream of {@code callout}, started on a loopback socket. */
  private CalloutTester.Stream stream(CalloutServer callout, ProtocolConfiguration config)
      throws IOException {
    callout.start();
    cleanup.add(callout);
    InetSocketAddress address = callout.plaintextAddress().orElseThrow();
    ManagedChannel channel =
        Grpc.newChannelBuilderForAddress(
                address.getHostString(), address.getPort(), InsecureChannelCredentials.create())
            .build();
    cleanup.add(channel::shutdownNow);
    return CalloutTester.forChannel(channel).newStream(config);
  }

  /**
   * A stream of {@code callout} opened as a gRPC client opens it, with four windows of {@code
   * window} bytes; its request headers got their reply.
   */
  private CalloutTester.Stream grpcStream(CalloutServer callout, long window) throws IOException {
    CalloutTester.Stream stream = stream(callout, grpcProtocolConfig());
    stream.send(grpcRequestHeaders(POST, window));
    assertThat(stream.nextResponse()).isEqualTo(CONTINUE_REQUEST_HEADERS);
    return stream;
  }

  private static CalloutServerConfig config() {
    return CalloutServerConfig.newBuilder()
        .plaintextAddress("127.0.0.1:0")
        .disableTls()
        .combinedHealthCheck()
        .shutdownDrainDelay(Duration.ZERO)
        .build();
  }

  /** A callout with no hooks: every message passes unchanged. */
  private static CalloutServer passThrough() {
    return new CalloutServer(config()) {};
  }

  private static ProcessingRequest requestMessage(HttpBody body) {
    return ProcessingRequest.newBuilder().setRequestBody(body).build();
  }

  private static ProcessingRequest responseMessage(HttpBody body) {
    return ProcessingRequest.newBuilder().setResponseBody(body).build();
  }

  private static ProcessingRequest requestMessage(String text) {
    return requestMessage(grpcMessage(ByteString.copyFromUtf8(text)));
  }

  private static ProcessingRequest responseMessage(String text) {
    return responseMessage(grpcMessage(ByteString.copyFromUtf8(text)));
  }

  private static ProcessingRequest responseHeaders() {
    return ProcessingRequest.newBuilder()
        .setResponseHeaders(headers(":status", "200", "content-type", "application/grpc"))
        .build();
  }

  private static ProcessingRequest responseTrailers() {
    return ProcessingRequest.newBuilder()
        .setResponseTrailers(HttpTrailers.getDefaultInstance())
        .build();
  }

  private static ProcessingResponse requestEcho(String text) {
    return Replies.streamed(true, ByteString.copyFromUtf8(text), false);
  }

  private static ProcessingResponse responseEcho(String text) {
    return Replies.streamed(false, ByteString.copyFromUtf8(text), false);
  }

  private static String repeat(char c, int times) {
    return String.valueOf(c).repeat(times);
  }

  // ---- Cases ----

  @Test
  void case40_passThroughEchoesEachMessageAndGrantsItsBytes() throws IOException {
    CalloutTester.Stream stream = grpcStream(passThrough(), 65_536);

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
    CalloutTester.Stream stream = grpcStream(callout, 65_536);

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
    CalloutTester.Stream stream = grpcStream(callout, 65_536);

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
    CalloutTester.Stream stream = grpcStream(callout, 65_536);

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
    CalloutTester.Stream stream = grpcStream(passThrough(), 65_536);

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
    CalloutTester.Stream stream = grpcStream(passThrough(), 100);
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
    CalloutTester.Stream stream = grpcStream(passThrough(), 10);
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
    CalloutTester.Stream stream = stream(callout, ProtocolConfiguration.getDefaultInstance());

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
    CalloutTester.Stream stream = stream(callout, grpcProtocolConfig());

    stream.send(grpcRequestHeaders(POST, 65_536));

    Status status = stream.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(status.getDescription())
        .contains("CONTINUE_AND_REPLACE is not allowed in GRPC body mode");
    assertThat(stream.received()).isEmpty();
  }

  @Test
  void case49_withoutFlowControlInit_noGrants_andWindowUpdatesGetNoReply() throws IOException {
    CalloutTester.Stream stream = stream(passThrough(), grpcProtocolConfig());
    assertThat(stream.requestHeaders(POST)).isEqualTo(CONTINUE_REQUEST_HEADERS);

    stream.send(requestMessage("a"));
    stream.send(clientWindowUpdate(1, 0));
    stream.send(responseHeaders());

    assertThat(stream.awaitReplies(2))
        .containsExactly(requestEcho("a"), CONTINUE_RESPONSE_HEADERS)
        .inOrder();
    stream.assertNoReply(Duration.ZERO);
  }

  @Test
  void fullDuplexStreamed_withFlowControlInit_followsTheSameWindows() throws IOException {
    ProtocolConfiguration fullDuplex =
        ProtocolConfiguration.newBuilder()
            .setRequestBodyMode(BodySendMode.FULL_DUPLEX_STREAMED)
            .setResponseBodyMode(BodySendMode.FULL_DUPLEX_STREAMED)
            .build();
    CalloutTester.Stream stream = stream(passThrough(), fullDuplex);
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
    CalloutTester.Stream stream = grpcStream(callout, 10);

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
}
