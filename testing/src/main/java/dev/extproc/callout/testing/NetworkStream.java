package dev.extproc.callout.testing;

import static com.google.common.base.Preconditions.checkArgument;
import static java.util.Objects.requireNonNull;

import com.google.protobuf.ByteString;
import io.envoyproxy.envoy.service.network_ext_proc.v3.Data;
import io.envoyproxy.envoy.service.network_ext_proc.v3.NetworkExternalProcessorGrpc;
import io.envoyproxy.envoy.service.network_ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.network_ext_proc.v3.ProcessingResponse;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.List;

/**
 * One network ext_proc connection ({@code envoy.service.network_ext_proc.v3}), that is, one
 * downstream TCP connection through Envoy's {@code network_ext_proc} filter: {@link #read} sends
 * bytes the client sent ({@code read_data}), {@link #write} bytes on their way to the client
 * ({@code write_data}), each answered by one reply in the same direction. Open it with {@link
 * CalloutTester#newNetworkStream()}. Not thread-safe: drive it from one thread.
 *
 * <pre>{@code
 * NetworkStream connection = tester.newNetworkStream();
 * ProcessingResponse reply = connection.read("PING\r\n", false);
 * assertThat(reply.getReadData().getData().toStringUtf8()).isEqualTo("PONG\r\n");
 * assertThat(connection.halfClose().getCode()).isEqualTo(Status.Code.OK);
 * }</pre>
 *
 * <p>Every wait is bounded by the tester's {@link CalloutTester#timeout()} and fails with an {@link
 * AssertionError} that says what was missing and what arrived.
 */
public final class NetworkStream {
  private final CalloutTester tester;
  private final ReplyQueue<ProcessingResponse> replies;
  private final StreamObserver<ProcessingRequest> requests;

  NetworkStream(CalloutTester tester) {
    this.tester = tester;
    this.replies =
        new ReplyQueue<>(
            tester.timeout(),
            this::closedByServer,
            " (a connection closed by the callout answers nothing more)",
            NetworkStream::describe);
    this.requests = NetworkExternalProcessorGrpc.newStub(tester.channel()).process(replies);
  }

  /**
   * Sends {@code data} the client sent ({@code read_data}) and returns the reply, a {@code
   * read_data} one.
   *
   * @throws AssertionError when the connection closes first, no reply comes in time, or it carries
   *     {@code write_data}
   */
  public ProcessingResponse read(ByteString data, boolean endOfStream) {
    return exchange(true, data, endOfStream);
  }

  /** Like {@link #read(ByteString, boolean)}, with {@code text} as UTF-8. */
  public ProcessingResponse read(String text, boolean endOfStream) {
    return read(ByteString.copyFromUtf8(text), endOfStream);
  }

  /**
   * Sends {@code data} on its way to the client ({@code write_data}) and returns the reply, a
   * {@code write_data} one.
   *
   * @throws AssertionError when the connection closes first, no reply comes in time, or it carries
   *     {@code read_data}
   */
  public ProcessingResponse write(ByteString data, boolean endOfStream) {
    return exchange(false, data, endOfStream);
  }

  /** Like {@link #write(ByteString, boolean)}, with {@code text} as UTF-8. */
  public ProcessingResponse write(String text, boolean endOfStream) {
    return write(ByteString.copyFromUtf8(text), endOfStream);
  }

  private ProcessingResponse exchange(boolean read, ByteString data, boolean endOfStream) {
    ProcessingRequest request = message(read, requireNonNull(data, "data"), endOfStream);
    send(request);
    ProcessingResponse reply = replies.next("a reply to " + describeRequest(request));
    if (read ? !reply.hasReadData() : !reply.hasWriteData()) {
      throw new AssertionError(
          "expected a "
              + direction(read)
              + " reply to "
              + describeRequest(request)
              + ", got "
              + describe(reply));
    }
    return reply;
  }

  /** Returns a {@code read_data} message: {@code data} the client sent. */
  public static ProcessingRequest readData(ByteString data, boolean endOfStream) {
    return message(true, requireNonNull(data, "data"), endOfStream);
  }

  /** Like {@link #readData(ByteString, boolean)}, with {@code text} as UTF-8. */
  public static ProcessingRequest readData(String text, boolean endOfStream) {
    return readData(ByteString.copyFromUtf8(text), endOfStream);
  }

  /** Returns a {@code write_data} message: {@code data} on its way to the client. */
  public static ProcessingRequest writeData(ByteString data, boolean endOfStream) {
    return message(false, requireNonNull(data, "data"), endOfStream);
  }

  /** Like {@link #writeData(ByteString, boolean)}, with {@code text} as UTF-8. */
  public static ProcessingRequest writeData(String text, boolean endOfStream) {
    return writeData(ByteString.copyFromUtf8(text), endOfStream);
  }

  private static ProcessingRequest message(boolean read, ByteString data, boolean endOfStream) {
    Data payload = Data.newBuilder().setData(data).setEndOfStream(endOfStream).build();
    ProcessingRequest.Builder message = ProcessingRequest.newBuilder();
    return (read ? message.setReadData(payload) : message.setWriteData(payload)).build();
  }

  /**
   * Sends {@code request} ({@link #readData} or {@link #writeData}, say) without waiting for its
   * reply: read it with {@link #nextResponse}, or check with {@link #assertNoReply} that none
   * comes.
   */
  public void send(ProcessingRequest request) {
    requests.onNext(requireNonNull(request, "request"));
  }

  /**
   * Returns the next reply not yet returned, waiting for it.
   *
   * @throws AssertionError when the server closes the connection first, or none comes within the
   *     tester's timeout
   */
  public ProcessingResponse nextResponse() {
    return replies.next("a reply");
  }

  /**
   * Waits {@code quiet} and checks that no reply is unread or arrives meanwhile, as after a message
   * sent once the callout closed the connection; returns early when the server closes the stream.
   *
   * @throws AssertionError naming the reply
   */
  public void assertNoReply(Duration quiet) {
    checkArgument(!quiet.isNegative(), "quiet: %s (expected: >= 0)", quiet);
    replies.assertNone(quiet, "within " + quiet);
  }

  /**
   * Waits for the server to end this connection's gRPC stream (after a half-close, or when the
   * callout fails it) and returns its status.
   */
  public Status awaitClose() {
    return replies.awaitClose();
  }

  /**
   * Half-closes the stream, as Envoy does when the connection is done, and returns the status the
   * server closes it with. Replies sent before the close stay readable.
   */
  public Status halfClose() {
    requests.onCompleted();
    return replies.awaitClose();
  }

  /** Resets the stream, as Envoy does when the connection goes away abruptly. */
  public void cancel() {
    tester.cancel(requests);
  }

  /** Every reply received so far, in order, whether returned already or not. */
  public List<ProcessingResponse> received() {
    return replies.received();
  }

  private void closedByServer() {
    tester.closed(requests);
  }

  StreamObserver<ProcessingRequest> requests() {
    return requests;
  }

  ReplyQueue<ProcessingResponse> replies() {
    return replies;
  }

  private static String direction(boolean read) {
    return read ? "read_data" : "write_data";
  }

  /** Describes {@code reply} on one line: its direction, then its fields in text format. */
  static String describe(ProcessingResponse reply) {
    String kind =
        reply.hasReadData()
            ? "a read_data reply"
            : reply.hasWriteData() ? "a write_data reply" : "a reply with no data";
    return kind + ": " + Replies.text(reply);
  }

  private static String describeRequest(ProcessingRequest request) {
    return direction(request.hasReadData()) + " " + Replies.text(request);
  }
}
