package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;

import dev.extproc.callout.testing.CalloutTester;
import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Network faults on the gRPC listeners, over real loopback sockets: each test ends in a precise
 * outcome, checks that nothing leaked (streams, hook threads, other threads back to the baseline)
 * and that a normal stream on a new connection is still served.
 */
class NetworkFaultsTest {

  private final List<AutoCloseable> cleanup = new ArrayList<>();
  private FaultServer server;
  private FaultServer.Baseline baseline;

  @BeforeEach
  void startServer() throws IOException {
    server =
        FaultServer.start(
            FaultServer.loopback()
                .disableTls()
                .combinedHealthCheck()
                .maxInboundMessageSize(1024)
                .build());
    cleanup.add(server::stop);
    server.assertServesNewStreams(); // lazy start-up work done before the baseline
    baseline = server.baseline();
  }

  @AfterEach
  void cleanUp() throws Exception {
    for (int i = cleanup.size() - 1; i >= 0; i--) {
      cleanup.get(i).close();
    }
  }

  private void assertRecovered() {
    server.assertBackTo(baseline);
    server.assertServesNewStreams();
  }

  @Test
  void clientCancelsStream_streamEndsCancelled_nothingLeaks() {
    CalloutTester.Stream stream = FaultServer.openStream(server.plaintextChannel());

    stream.cancel();

    assertThat(stream.awaitClose().getCode()).isEqualTo(Status.Code.CANCELLED);
    FaultServer.awaitTrue(() -> server.endings().size() == 2, () -> "ends " + server.endings());
    assertThat(server.endings()).containsExactly(Status.Code.OK, Status.Code.CANCELLED).inOrder();
    assertRecovered();
  }

  @Test
  void clientResetsConnection_itsStreamsEndCancelled_nothingLeaks() throws Exception {
    TcpProxy proxy = new TcpProxy(server.plaintextAddress().orElseThrow());
    cleanup.add(proxy);
    ManagedChannel channel = server.channel(proxy.address(), InsecureChannelCredentials.create());
    List<CalloutTester.Stream> streams = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      streams.add(FaultServer.openStream(channel));
    }

    proxy.resetServerSide(); // TCP RST to the server

    for (CalloutTester.Stream stream : streams) {
      assertThat(stream.awaitClose().getCode()).isEqualTo(Status.Code.UNAVAILABLE);
    }
    FaultServer.awaitTrue(() -> server.endings().size() == 4, () -> "ends " + server.endings());
    assertThat(server.endings())
        .containsExactly(
            Status.Code.OK, Status.Code.CANCELLED, Status.Code.CANCELLED, Status.Code.CANCELLED)
        .inOrder();
    proxy.close();
    assertRecovered();
  }

  @Test
  void messageOverInboundLimit_resourceExhaustedNamingTheLimit() throws Exception {
    CalloutTester.Stream stream = CalloutTester.forChannel(server.plaintextChannel()).newStream();
    ProcessingRequest message =
        ProcessingRequest.newBuilder()
            .setRequestBody(CalloutTester.body("x".repeat(4096), true))
            .setProtocolConfig(ProtocolConfiguration.getDefaultInstance()) // as the tester sends
            .build();

    stream.send(message);

    Status status = stream.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(status.getDescription())
        .isEqualTo(
            "message of "
                + message.getSerializedSize()
                + " bytes exceeds the inbound limit of 1024 bytes (--max-inbound-message-size)");
    assertThat(stream.received()).isEmpty();
    assertRecovered();
  }

  /** Sends and receives raw bytes on the ext_proc method, with no protobuf in between. */
  private static final MethodDescriptor.Marshaller<byte[]> BYTES =
      new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) {
          return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
          try {
            return stream.readAllBytes();
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        }
      };

  /**
   * Sends bytes that are not a {@code ProcessingRequest} in a well-formed gRPC message on the
   * ext_proc method of {@code channel}, and returns the status the stream ends with.
   */
  private static Status sendGarbageMessage(ManagedChannel channel) throws Exception {
    MethodDescriptor<byte[], byte[]> raw =
        ExternalProcessorGrpc.getProcessMethod().toBuilder(BYTES, BYTES).build();
    ClientCall<byte[], byte[]> call = channel.newCall(raw, CallOptions.DEFAULT);
    CompletableFuture<Status> closed = new CompletableFuture<>();
    List<byte[]> replies = new ArrayList<>();
    call.start(
        new ClientCall.Listener<>() {
          @Override
          public void onMessage(byte[] message) {
            replies.add(message);
          }

          @Override
          public void onClose(Status status, Metadata trailers) {
            closed.complete(status);
          }
        },
        new Metadata());
    call.request(1);
    // Field 2 (request_headers), length-delimited, says 100 bytes follow; 3 do.
    call.sendMessage(new byte[] {0x12, 100, 1, 2, 3});
    Status status = closed.get(10, TimeUnit.SECONDS);
    assertThat(replies).isEmpty();
    return status;
  }

  @Test
  void garbageInGrpcMessage_streamEndsUnknown_connectionCarriesOn() throws Exception {
    ManagedChannel channel = server.plaintextChannel();

    Status status = sendGarbageMessage(channel);

    // grpc-java fails to parse the message before the framework sees it, and ends the call itself.
    assertThat(status.getCode()).isEqualTo(Status.Code.UNKNOWN);
    assertThat(status.getDescription()).isEqualTo("Application error processing RPC");
    // The connection carries on: a normal stream on the same channel is answered.
    assertThat(FaultServer.openStream(channel).halfClose().getCode()).isEqualTo(Status.Code.OK);
    FaultServer.awaitTrue(() -> server.openStreams() == 0, () -> "open " + server.openStreams());
    server.assertServesNewStreams();
  }

  @Test
  void garbageInGrpcMessage_onStreamEndCalled() throws Exception {
    sendGarbageMessage(server.plaintextChannel());

    assertRecovered();
  }

  /**
   * Writes {@code bytes} to the plaintext gRPC port on a raw socket, and checks that the server
   * answers with its SETTINGS and WINDOW_UPDATE, then a GOAWAY with PROTOCOL_ERROR, and closes the
   * connection within 2 s; returns the GOAWAY's debug data.
   */
  private String goAwayDebugDataFor(byte[] bytes) throws IOException {
    InetSocketAddress address = server.plaintextAddress().orElseThrow();
    Http2Frames.Received received;
    try (Socket socket = new Socket(address.getAddress(), address.getPort())) {
      OutputStream out = socket.getOutputStream();
      out.write(bytes);
      out.flush();
      received = Http2Frames.readUntilClosed(socket, Duration.ofSeconds(5));
    }
    assertThat(received.types())
        .containsExactly(Http2Frames.SETTINGS, Http2Frames.WINDOW_UPDATE, Http2Frames.GOAWAY)
        .inOrder();
    assertThat(received.closedAfter()).isLessThan(Duration.ofSeconds(2));
    Http2Frames.Frame goAway = received.first(Http2Frames.GOAWAY);
    assertThat(goAway.errorCode()).isEqualTo(Http2Frames.PROTOCOL_ERROR);
    return goAway.debugData();
  }

  @Test
  void garbageAfterHttp2Preface_goAwayProtocolErrorThenClose() throws Exception {
    byte[] garbage = new byte[256];
    new Random(6).nextBytes(garbage);
    byte[] bytes = Arrays.copyOf(Http2Frames.PREFACE, Http2Frames.PREFACE.length + garbage.length);
    System.arraycopy(garbage, 0, bytes, Http2Frames.PREFACE.length, garbage.length);

    assertThat(goAwayDebugDataFor(bytes)).startsWith("First received frame was not SETTINGS.");
    assertRecovered();
  }

  @Test
  void http11OnPlaintextGrpcPort_goAwayAndClosePromptly() throws Exception {
    byte[] request =
        "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

    // No HTTP/1.1 answer at all.
    assertThat(goAwayDebugDataFor(request)).isEqualTo("Unexpected HTTP/1.x request: GET / ");
    assertRecovered();
  }
}
