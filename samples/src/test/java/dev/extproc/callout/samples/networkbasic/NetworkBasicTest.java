package dev.extproc.callout.samples.networkbasic;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.AppenderBase;
import com.google.protobuf.ByteString;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.testing.CalloutExtension;
import io.envoyproxy.envoy.service.network_ext_proc.v3.Data;
import io.envoyproxy.envoy.service.network_ext_proc.v3.NetworkExternalProcessorGrpc;
import io.envoyproxy.envoy.service.network_ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.network_ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.network_ext_proc.v3.ProcessingResponse.ConnectionStatus;
import io.envoyproxy.envoy.service.network_ext_proc.v3.ProcessingResponse.DataProcessedStatus;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.LoggerFactory;

/**
 * Every clause of spec/samples.md for {@code network-basic}, over a real plaintext socket: one
 * network ext_proc stream per connection, exact replies in both directions, the close on the
 * forbidden sequence (whole or split) and the per-connection counts it logs at the end.
 */
class NetworkBasicTest {

  @RegisterExtension
  static final CalloutExtension<NetworkBasic> sample =
      CalloutExtension.plaintext(NetworkBasic::new);

  private final LogLines log = new LogLines();
  private @Nullable ManagedChannel channel;

  @BeforeEach
  void captureLog() {
    log.start();
    logger().addAppender(log);
  }

  @AfterEach
  void release() {
    logger().detachAppender(log);
    if (channel != null) {
      channel.shutdownNow();
    }
  }

  private static Logger logger() {
    return (Logger) LoggerFactory.getLogger(NetworkBasic.class);
  }

  @Test
  void bothDirections_passThroughInOrder_countsLoggedAtTheEnd() throws Exception {
    Connection connection = connect();
    connection.send(read("SELECT 1;", false));
    connection.send(write("220 ready", false));
    connection.send(write("1 row", false));
    connection.send(read("", true));
    connection.send(write("bye", true));

    assertThat(connection.next()).isEqualTo(passed(true, "SELECT 1;", false));
    assertThat(connection.next()).isEqualTo(passed(false, "220 ready", false));
    assertThat(connection.next()).isEqualTo(passed(false, "1 row", false));
    assertThat(connection.next()).isEqualTo(passed(true, "", true));
    assertThat(connection.next()).isEqualTo(passed(false, "bye", true));
    assertThat(connection.halfClose()).isEqualTo(Status.Code.OK);
    assertThat(log.next())
        .endsWith("connection ended (OK): 9 bytes read from the client, 17 bytes written to it");
  }

  @Test
  void forbiddenInOneMessage_closesTheConnection_laterMessagesGetNoReply() throws Exception {
    Connection connection = connect();
    connection.send(read("hello", false));
    connection.send(read("x'; DROP TABLE users; --", false));
    connection.send(write("ignored", false));
    connection.send(read("ignored", true));

    assertThat(connection.next()).isEqualTo(passed(true, "hello", false));
    assertThat(connection.next()).isEqualTo(closing(read("x'; DROP TABLE users; --", false)));
    connection.assertNoReply();
    assertThat(connection.halfClose()).isEqualTo(Status.Code.OK);
    assertThat(log.next()).endsWith("the client sent the forbidden sequence: closing");
    assertThat(log.next())
        .endsWith("connection ended (OK): 29 bytes read from the client, 0 bytes written to it");
  }

  @Test
  void forbiddenSplitAcrossMessages_closesOnTheMessageThatCompletesIt() throws Exception {
    Connection connection = connect();
    connection.send(read("x'; DROP TA", false));
    connection.send(write("between", false));
    connection.send(read("BLE users", false));
    connection.send(read("ignored", false));

    assertThat(connection.next()).isEqualTo(passed(true, "x'; DROP TA", false));
    assertThat(connection.next()).isEqualTo(passed(false, "between", false));
    assertThat(connection.next()).isEqualTo(closing(read("BLE users", false)));
    connection.assertNoReply();
    assertThat(connection.halfClose()).isEqualTo(Status.Code.OK);
    assertThat(log.next()).endsWith("the client sent the forbidden sequence: closing");
    assertThat(log.next())
        .endsWith("connection ended (OK): 20 bytes read from the client, 7 bytes written to it");
  }

  @Test
  void forbiddenAcrossThreeMessages_isFound() throws Exception {
    Connection connection = connect();
    connection.send(read("DR", false));
    connection.send(read("OP TAB", false));
    connection.send(read("LE", true));

    assertThat(connection.next()).isEqualTo(passed(true, "DR", false));
    assertThat(connection.next()).isEqualTo(passed(true, "OP TAB", false));
    assertThat(connection.next()).isEqualTo(closing(read("LE", true)));
    assertThat(connection.halfClose()).isEqualTo(Status.Code.OK);
    assertThat(log.next()).endsWith("the client sent the forbidden sequence: closing");
    assertThat(log.next())
        .endsWith("connection ended (OK): 10 bytes read from the client, 0 bytes written to it");
  }

  @Test
  void nearMissesAndTheUpstreamSendingIt_keepTheConnectionOpen() throws Exception {
    Connection connection = connect();
    connection.send(write("DROP TABLE", false));
    connection.send(read("DROP TAB", false));
    connection.send(read("xLE", false));
    connection.send(read("drop table", false));

    assertThat(connection.next()).isEqualTo(passed(false, "DROP TABLE", false));
    assertThat(connection.next()).isEqualTo(passed(true, "DROP TAB", false));
    assertThat(connection.next()).isEqualTo(passed(true, "xLE", false));
    assertThat(connection.next()).isEqualTo(passed(true, "drop table", false));
    assertThat(connection.halfClose()).isEqualTo(Status.Code.OK);
    assertThat(log.next())
        .endsWith("connection ended (OK): 21 bytes read from the client, 10 bytes written to it");
  }

  @Test
  void indexOf_findsTheFirstOccurrence() {
    ByteString forbidden = ByteString.copyFromUtf8("ab");
    assertThat(NetworkBasic.indexOf(ByteString.copyFromUtf8("xxabab"), forbidden)).isEqualTo(2);
    assertThat(NetworkBasic.indexOf(ByteString.copyFromUtf8("a"), forbidden)).isEqualTo(-1);
    assertThat(NetworkBasic.indexOf(ByteString.EMPTY, forbidden)).isEqualTo(-1);
  }

  @Test
  void emptyForbiddenSequence_isRefused() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> new NetworkBasic(CalloutServerConfig.defaults(), ByteString.EMPTY));
    assertThat(e).hasMessageThat().isEqualTo("forbidden: empty (expected: at least one byte)");
  }

  private Connection connect() {
    InetSocketAddress address = sample.callout().plaintextAddress().orElseThrow();
    ManagedChannel opened =
        Grpc.newChannelBuilderForAddress(
                address.getHostString(), address.getPort(), InsecureChannelCredentials.create())
            .build();
    channel = opened;
    return new Connection(opened);
  }

  private static ProcessingRequest read(String text, boolean endOfStream) {
    return ProcessingRequest.newBuilder().setReadData(data(text, endOfStream)).build();
  }

  private static ProcessingRequest write(String text, boolean endOfStream) {
    return ProcessingRequest.newBuilder().setWriteData(data(text, endOfStream)).build();
  }

  private static Data data(String text, boolean endOfStream) {
    return Data.newBuilder()
        .setData(ByteString.copyFromUtf8(text))
        .setEndOfStream(endOfStream)
        .build();
  }

  /** The pass-through reply: the same bytes, unmodified, in the message's direction. */
  private static ProcessingResponse passed(boolean read, String text, boolean endOfStream) {
    ProcessingResponse.Builder reply =
        ProcessingResponse.newBuilder()
            .setDataProcessingStatus(DataProcessedStatus.UNMODIFIED)
            .setConnectionStatus(ConnectionStatus.CONTINUE);
    Data data = data(text, endOfStream);
    return (read ? reply.setReadData(data) : reply.setWriteData(data)).build();
  }

  /**
   * The reply that closes the connection: the read bytes replaced by none (held back from the
   * upstream), with CLOSE.
   */
  private static ProcessingResponse closing(ProcessingRequest read) {
    return ProcessingResponse.newBuilder()
        .setReadData(read.getReadData().toBuilder().setData(ByteString.EMPTY))
        .setDataProcessingStatus(DataProcessedStatus.MODIFIED)
        .setConnectionStatus(ConnectionStatus.CLOSE)
        .build();
  }

  /** One network ext_proc stream, as Envoy opens one per TCP connection. */
  private static final class Connection {
    private final BlockingQueue<Object> received = new LinkedBlockingQueue<>();
    private final StreamObserver<ProcessingRequest> requests;

    Connection(ManagedChannel channel) {
      requests =
          NetworkExternalProcessorGrpc.newStub(channel)
              .process(
                  new StreamObserver<>() {
                    @Override
                    public void onNext(ProcessingResponse reply) {
                      received.add(reply);
                    }

                    @Override
                    public void onError(Throwable t) {
                      received.add(Status.fromThrowable(t));
                    }

                    @Override
                    public void onCompleted() {
                      received.add(Status.OK);
                    }
                  });
    }

    void send(ProcessingRequest request) {
      requests.onNext(request);
    }

    ProcessingResponse next() throws InterruptedException {
      Object next = received.poll(10, TimeUnit.SECONDS);
      assertThat(next).isInstanceOf(ProcessingResponse.class);
      return (ProcessingResponse) next;
    }

    void assertNoReply() throws InterruptedException {
      assertThat(received.poll(300, TimeUnit.MILLISECONDS)).isNull();
    }

    Status.Code halfClose() throws InterruptedException {
      requests.onCompleted();
      Object next = received.poll(10, TimeUnit.SECONDS);
      assertThat(next).isInstanceOf(Status.class);
      return ((Status) next).getCode();
    }
  }

  /** The sample's log lines, formatted, in the order it logged them. */
  private static final class LogLines extends AppenderBase<ILoggingEvent> {
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();

    @Override
    protected void append(ILoggingEvent event) {
      lines.add(event.getFormattedMessage());
    }

    /** Waits for the next line: {@code onStreamEnd} runs after the stream's status is sent. */
    String next() throws InterruptedException {
      String line = lines.poll(10, TimeUnit.SECONDS);
      assertThat(line).isNotNull();
      return String.valueOf(line);
    }
  }
}
