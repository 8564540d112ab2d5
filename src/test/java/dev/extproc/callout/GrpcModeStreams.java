package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.headers;
import static dev.extproc.callout.testing.GrpcModeMessages.grpcMessage;
import static dev.extproc.callout.testing.GrpcModeMessages.grpcProtocolConfig;
import static dev.extproc.callout.testing.GrpcModeMessages.grpcRequestHeaders;

import com.google.protobuf.ByteString;
import dev.extproc.callout.testing.CalloutTester;
import dev.extproc.callout.testing.Replies;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpTrailers;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Streams of GRPC-mode conformance tests, over a loopback socket, with the messages grpc-java's
 * client sends and the replies a pass-through callout gives. {@link #stop} ends what it started.
 */
final class GrpcModeStreams {

  static final Duration QUIET = Duration.ofMillis(300);
  static final HttpHeaders POST = headers(":method", "POST", ":path", "/echo.Echo/Say");
  static final ProcessingResponse CONTINUE_REQUEST_HEADERS = Replies.continueRequestHeaders();
  static final ProcessingResponse CONTINUE_RESPONSE_HEADERS = Replies.continueResponseHeaders();
  static final ProcessingResponse CONTINUE_RESPONSE_TRAILERS = Replies.continueResponseTrailers();

  private final List<AutoCloseable> cleanup = new ArrayList<>();

  /** Stops the servers and channels it started, last first. */
  void stop() throws Exception {
    for (int i = cleanup.size() - 1; i >= 0; i--) {
      cleanup.get(i).close();
    }
  }

  /** A stream of {@code callout}, started on a loopback socket. */
  CalloutTester.Stream stream(CalloutServer callout, ProtocolConfiguration config)
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
  CalloutTester.Stream grpcStream(CalloutServer callout, long window) throws IOException {
    CalloutTester.Stream stream = stream(callout, grpcProtocolConfig());
    stream.send(grpcRequestHeaders(POST, window));
    assertThat(stream.nextResponse()).isEqualTo(CONTINUE_REQUEST_HEADERS);
    return stream;
  }

  static CalloutServerConfig config() {
    return CalloutServerConfig.newBuilder()
        .plaintextAddress("127.0.0.1:0")
        .disableTls()
        .combinedHealthCheck()
        .shutdownDrainDelay(Duration.ZERO)
        .build();
  }

  /** A callout with no hooks: every message passes unchanged. */
  static CalloutServer passThrough() {
    return new CalloutServer(config()) {};
  }

  static ProcessingRequest requestMessage(HttpBody body) {
    return ProcessingRequest.newBuilder().setRequestBody(body).build();
  }

  static ProcessingRequest responseMessage(HttpBody body) {
    return ProcessingRequest.newBuilder().setResponseBody(body).build();
  }

  static ProcessingRequest requestMessage(String text) {
    return requestMessage(grpcMessage(ByteString.copyFromUtf8(text)));
  }

  static ProcessingRequest responseMessage(String text) {
    return responseMessage(grpcMessage(ByteString.copyFromUtf8(text)));
  }

  static ProcessingRequest responseHeaders() {
    return ProcessingRequest.newBuilder()
        .setResponseHeaders(headers(":status", "200", "content-type", "application/grpc"))
        .build();
  }

  static ProcessingRequest responseTrailers() {
    return ProcessingRequest.newBuilder()
        .setResponseTrailers(HttpTrailers.getDefaultInstance())
        .build();
  }

  static ProcessingResponse requestEcho(String text) {
    return Replies.streamed(true, ByteString.copyFromUtf8(text), false);
  }

  static ProcessingResponse responseEcho(String text) {
    return Replies.streamed(false, ByteString.copyFromUtf8(text), false);
  }

  static String repeat(char c, int times) {
    return String.valueOf(c).repeat(times);
  }
}
