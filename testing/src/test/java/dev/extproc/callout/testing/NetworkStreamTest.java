package dev.extproc.callout.testing;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.NetworkStream.readData;
import static dev.extproc.callout.testing.NetworkStream.writeData;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.ByteString;
import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import io.envoyproxy.envoy.service.network_ext_proc.v3.Data;
import io.envoyproxy.envoy.service.network_ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.network_ext_proc.v3.ProcessingResponse.ConnectionStatus;
import io.envoyproxy.envoy.service.network_ext_proc.v3.ProcessingResponse.DataProcessedStatus;
import io.grpc.Status;
import java.time.Duration;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Network ext_proc connections through the tester: pass-through, replace, close, the waits. */
@Timeout(value = 8, unit = SECONDS)
class NetworkStreamTest {

  private static final Duration SHORT = Duration.ofMillis(200);
  private static final CalloutContext.Key<Integer> READS = CalloutContext.Key.of("reads");

  /**
   * Upper-cases what the client sends ({@code count} answers how many reads the connection saw);
   * passes writes through; closes the connection on {@code QUIT}, resets it on {@code KILL}.
   */
  private static final class Shout extends CalloutServer {
    final BlockingQueue<Status.Code> ended = new LinkedBlockingQueue<>();

    @Override
    protected @Nullable ByteString onReadData(
        ByteString data, boolean endOfStream, CalloutContext ctx) {
      int reads = ctx.get(READS).orElse(0) + 1;
      ctx.put(READS, reads);
      String text = data.toStringUtf8();
      if (text.equals("QUIT")) {
        ctx.closeConnection();
        return null;
      }
      if (text.equals("KILL")) {
        ctx.resetConnection();
        return null;
      }
      if (text.equals("count")) {
        return ByteString.copyFromUtf8(Integer.toString(reads));
      }
      return ByteString.copyFromUtf8(text.toUpperCase(java.util.Locale.ROOT));
    }

    @Override
    protected @Nullable ByteString onWriteData(
        ByteString data, boolean endOfStream, CalloutContext ctx) {
      return null;
    }

    @Override
    protected void onStreamEnd(CalloutContext ctx, Status status) {
      ended.add(status.getCode());
    }
  }

  private static ProcessingResponse reply(
      boolean read,
      String data,
      boolean endOfStream,
      DataProcessedStatus processed,
      ConnectionStatus connection) {
    Data payload =
        Data.newBuilder()
            .setData(ByteString.copyFromUtf8(data))
            .setEndOfStream(endOfStream)
            .build();
    ProcessingResponse.Builder reply =
        ProcessingResponse.newBuilder()
            .setDataProcessingStatus(processed)
            .setConnectionStatus(connection);
    return (read ? reply.setReadData(payload) : reply.setWriteData(payload)).build();
  }

  @Test
  void readAndWrite_severalMessagesBothWays_replaceOrPassThroughKeepingEndOfStream() {
    try (Shout callout = new Shout();
        CalloutTester tester = CalloutTester.of(callout)) {
      NetworkStream connection = tester.newNetworkStream();

      assertThat(connection.read("hello", false))
          .isEqualTo(
              reply(true, "HELLO", false, DataProcessedStatus.MODIFIED, ConnectionStatus.CONTINUE));
      assertThat(connection.write("welcome", false))
          .isEqualTo(
              reply(
                  false,
                  "welcome",
                  false,
                  DataProcessedStatus.UNMODIFIED,
                  ConnectionStatus.CONTINUE));
      assertThat(connection.read(ByteString.copyFromUtf8("count"), false))
          .isEqualTo(
              reply(true, "2", false, DataProcessedStatus.MODIFIED, ConnectionStatus.CONTINUE));
      assertThat(connection.read("bye", true))
          .isEqualTo(
              reply(true, "BYE", true, DataProcessedStatus.MODIFIED, ConnectionStatus.CONTINUE));
      assertThat(connection.write(ByteString.copyFromUtf8("ciao"), true))
          .isEqualTo(
              reply(
                  false, "ciao", true, DataProcessedStatus.UNMODIFIED, ConnectionStatus.CONTINUE));
      assertThat(connection.received()).hasSize(5);

      assertThat(connection.halfClose().getCode()).isEqualTo(Status.Code.OK);
    }
  }

  @Test
  void newNetworkStream_twoConnections_keepTheirOwnState() {
    try (Shout callout = new Shout();
        CalloutTester tester = CalloutTester.of(callout)) {
      NetworkStream first = tester.newNetworkStream();
      NetworkStream second = tester.newNetworkStream();
      first.read("a", false);
      first.read("b", false);

      assertThat(second.read("count", false).getReadData().getData().toStringUtf8()).isEqualTo("1");
      assertThat(first.read("count", false).getReadData().getData().toStringUtf8()).isEqualTo("3");
    }
  }

  @Test
  void read_closeConnection_repliesCloseAndLaterMessagesGetNoReply() throws Exception {
    try (Shout callout = new Shout();
        CalloutTester tester = CalloutTester.of(callout)) {
      NetworkStream connection = tester.newNetworkStream();

      assertThat(connection.read("QUIT", false))
          .isEqualTo(
              reply(true, "QUIT", false, DataProcessedStatus.UNMODIFIED, ConnectionStatus.CLOSE));
      connection.send(readData("more", false));
      connection.send(writeData("late", true));
      connection.assertNoReply(SHORT);

      assertThat(connection.halfClose().getCode()).isEqualTo(Status.Code.OK);
      assertThat(callout.ended.poll(5, SECONDS)).isEqualTo(Status.Code.OK);
    }
  }

  @Test
  void read_resetConnection_repliesCloseRst() {
    try (Shout callout = new Shout();
        CalloutTester tester = CalloutTester.of(callout)) {
      NetworkStream connection = tester.newNetworkStream();

      assertThat(connection.read("KILL", true))
          .isEqualTo(
              reply(
                  true, "KILL", true, DataProcessedStatus.UNMODIFIED, ConnectionStatus.CLOSE_RST));
      connection.send(readData("more", false));
      connection.assertNoReply(SHORT);
    }
  }

  @Test
  void send_thenNextResponse_returnsRepliesInOrder() {
    try (Shout callout = new Shout();
        CalloutTester tester = CalloutTester.of(callout)) {
      NetworkStream connection = tester.newNetworkStream();
      connection.send(readData("one", false));
      connection.send(writeData("two", false));

      assertThat(connection.nextResponse().getReadData().getData().toStringUtf8()).isEqualTo("ONE");
      assertThat(connection.nextResponse().getWriteData().getData().toStringUtf8())
          .isEqualTo("two");
    }
  }

  @Test
  void assertNoReply_replyPending_failsNamingIt() {
    try (Shout callout = new Shout();
        CalloutTester tester = CalloutTester.of(callout)) {
      NetworkStream connection = tester.newNetworkStream();
      connection.send(readData("one", false));

      AssertionError e = assertThrows(AssertionError.class, () -> connection.assertNoReply(SHORT));

      assertThat(e).hasMessageThat().contains("a read_data reply");
      assertThat(e).hasMessageThat().contains("ONE");
    }
  }

  @Test
  void read_replyInTheOtherDirection_failsNamingIt() throws Exception {
    try (Shout callout = new Shout();
        CalloutTester tester = CalloutTester.of(callout)) {
      NetworkStream connection = tester.newNetworkStream();
      // The write's reply is still unread when read() takes the next one.
      connection.send(writeData("first", false));

      AssertionError e = assertThrows(AssertionError.class, () -> connection.read("x", false));

      assertThat(e).hasMessageThat().contains("expected a read_data reply to read_data");
      assertThat(e).hasMessageThat().contains("got a write_data reply");
    }
  }

  @Test
  void read_noReplyInTime_failsWithTheTimeout() {
    try (Shout callout = new Shout();
        CalloutTester tester = CalloutTester.of(callout, SHORT)) {
      NetworkStream connection = tester.newNetworkStream();
      connection.read("QUIT", false);

      AssertionError e = assertThrows(AssertionError.class, () -> connection.read("more", false));

      assertThat(e).hasMessageThat().contains("waited PT0.2S for a reply to read_data");
      assertThat(e).hasMessageThat().contains("1 reply received on this stream");
    }
  }

  @Test
  void cancel_endsTheConnectionForTheCallout() throws Exception {
    try (Shout callout = new Shout();
        CalloutTester tester = CalloutTester.of(callout)) {
      NetworkStream connection = tester.newNetworkStream();
      connection.read("hi", false);

      connection.cancel();

      assertThat(callout.ended.poll(5, SECONDS)).isEqualTo(Status.Code.CANCELLED);
    }
  }

  @Test
  void close_openConnection_cancelsIt() throws Exception {
    Shout callout = new Shout();
    try (callout) {
      CalloutTester tester = CalloutTester.of(callout);
      tester.newNetworkStream().read("hi", false);

      tester.close();

      assertThat(callout.ended.poll(5, SECONDS)).isEqualTo(Status.Code.CANCELLED);
    }
  }

  @Test
  void forChannel_drivesTheNetworkServerBehindIt() throws Exception {
    try (Shout callout = new Shout();
        ServedChannel served = new ServedChannel(callout);
        CalloutTester tester = CalloutTester.forChannel(served.channel())) {
      NetworkStream connection = tester.newNetworkStream();
      assertThat(connection.read("abc", true).getReadData().getData().toStringUtf8())
          .isEqualTo("ABC");
      assertThat(connection.halfClose().getCode()).isEqualTo(Status.Code.OK);
    }
  }
}
