package dev.extproc.callout.bench;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.body;
import static dev.extproc.callout.testing.CalloutTester.headers;
import static dev.extproc.callout.testing.CalloutTester.trailers;

import com.google.protobuf.TextFormat;
import dev.extproc.callout.testing.CalloutTester;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The floor's exact replies, over a real socket. */
class FloorServerTest {

  private FloorServer floor;
  private ManagedChannel channel;
  private CalloutTester tester;

  @BeforeEach
  void start() throws IOException {
    floor = FloorServer.start(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
    channel =
        Grpc.newChannelBuilderForAddress(
                "127.0.0.1", floor.port(), InsecureChannelCredentials.create())
            .build();
    tester = CalloutTester.forChannel(channel);
  }

  @AfterEach
  void stop() {
    channel.shutdownNow();
    floor.close();
  }

  @Test
  void everyPhase_emptyReplyOfItsType() throws Exception {
    CalloutTester.Stream stream =
        tester.newStream(
            ProtocolConfiguration.newBuilder()
                .setRequestBodyMode(BodySendMode.STREAMED)
                .setResponseBodyMode(BodySendMode.BUFFERED)
                .build());

    assertThat(stream.requestHeaders(headers(":path", "/"))).isEqualTo(reply("request_headers {}"));
    assertThat(stream.requestBody(body("chunk", false))).isEqualTo(reply("request_body {}"));
    assertThat(stream.requestTrailers(trailers("x-t", "1")))
        .isEqualTo(reply("request_trailers {}"));
    assertThat(stream.responseHeaders(headers(":status", "200")))
        .isEqualTo(reply("response_headers {}"));
    assertThat(stream.responseBody(body("whole", true))).isEqualTo(reply("response_body {}"));
    assertThat(stream.responseTrailers(trailers("x-t", "2")))
        .isEqualTo(reply("response_trailers {}"));
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
  }

  @Test
  void fullDuplexBody_echoedAsStreamedResponse() throws Exception {
    CalloutTester.Stream stream =
        tester.newStream(
            ProtocolConfiguration.newBuilder()
                .setResponseBodyMode(BodySendMode.FULL_DUPLEX_STREAMED)
                .build());

    assertThat(stream.responseHeaders(headers(":status", "200")))
        .isEqualTo(reply("response_headers {}"));
    assertThat(stream.responseBody(body("abc", false)))
        .isEqualTo(
            reply(
                "response_body { response { body_mutation { streamed_response { body: 'abc' } } }"
                    + " }"));
    assertThat(stream.responseBody(body("de", true)))
        .isEqualTo(
            reply(
                "response_body { response { body_mutation { streamed_response {"
                    + " body: 'de' end_of_stream: true } } } }"));
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(stream.received()).hasSize(3);
  }

  @Test
  void observabilityModeAndEmptyMessages_noReply() {
    CalloutTester.Stream observed = tester.newObservabilityStream();
    observed.send(ProcessingRequest.newBuilder().setRequestHeaders(headers(":path", "/")).build());
    CalloutTester.Stream empty = tester.newStream();
    empty.send(ProcessingRequest.getDefaultInstance());

    assertThat(observed.halfClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(empty.halfClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(observed.received()).isEmpty();
    assertThat(empty.received()).isEmpty();
  }

  @Test
  void main_badFlag_usageAndExit2() throws Exception {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int exit =
        FloorServer.run(
            new String[] {"--port", "1"},
            new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8),
            new PrintStream(err, true, StandardCharsets.UTF_8));

    assertThat(exit).isEqualTo(LoadGen.EXIT_USAGE);
    assertThat(err.toString(StandardCharsets.UTF_8))
        .isEqualTo(
            "Usage: FloorServer [--address HOST:PORT]   (default 0.0.0.0:8080)"
                + System.lineSeparator());
  }

  private static ProcessingResponse reply(String text) throws TextFormat.ParseException {
    return TextFormat.parse(text, ProcessingResponse.class);
  }
}
