package dev.extproc.callout.bench;

import static dev.extproc.callout.testing.GrpcModeMessages.clientWindowUpdate;
import static dev.extproc.callout.testing.GrpcModeMessages.endOfStreamWithoutMessage;
import static dev.extproc.callout.testing.GrpcModeMessages.grpcHalfClose;
import static dev.extproc.callout.testing.GrpcModeMessages.grpcMessage;
import static dev.extproc.callout.testing.GrpcModeMessages.grpcRequestHeaders;
import static dev.extproc.callout.testing.GrpcModeMessages.serverWindowUpdate;

import com.google.protobuf.ByteString;
import dev.extproc.callout.testing.CalloutTester;
import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpTrailers;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.StreamedBodyResponse;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.Metadata;
import io.grpc.Status;
import java.nio.ByteBuffer;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

/**
 * One ext_proc stream in GRPC body mode, played as grpc-java's xDS ext_proc client (1.85) plays it
 * for a bidirectional call: {@code flow_control_init} with four windows of {@value #WINDOW} bytes,
 * 64 KiB messages in both directions at once, sent only while the client's window for them is
 * positive and grown by {@code server_window_update}; {@code client_window_update} for what came
 * back, every {@value #UPDATE_THRESHOLD} bytes; the request's half-close, the response's empty
 * trailers. Every byte sent must come back in order (CRC32C per direction, each message numbered).
 */
final class GrpcModeCall {
  static final int WINDOW = 65_536;
  static final int MESSAGE_SIZE = 64 * 1024;
  static final int UPDATE_THRESHOLD = 32 * 1024;
  private static final long REPLY_TIMEOUT_SECONDS = 60;

  /** What the call saw. */
  record Outcome(long bytesPerDirection, long nanos, int serverWindowUpdates, long maxInFlight) {}

  /** One direction's counts, as the client keeps them. */
  private static final class Side {
    final CRC32C sent = new CRC32C();
    final CRC32C received = new CRC32C();
    long window = WINDOW;
    long sentBytes;
    long receivedBytes;
    long unacknowledged;
    boolean endSent;
    boolean ended;
  }

  private final Channel channel;
  private final long bytesPerDirection;
  private final byte[] pattern = new byte[MESSAGE_SIZE];
  private final Side request = new Side();
  private final Side response = new Side();
  private final BlockingQueue<Object> events = new LinkedBlockingQueue<>();
  private int serverWindowUpdates;
  private long maxInFlight;
  private long sequence;

  GrpcModeCall(Channel channel, long bytesPerDirection) {
    this.channel = channel;
    this.bytesPerDirection = bytesPerDirection;
    for (int i = 0; i < pattern.length; i++) {
      pattern[i] = (byte) (i * 31 + 7);
    }
  }

  /** Runs the call; throws {@link IllegalStateException} saying what went wrong. */
  Outcome run() throws InterruptedException {
    ClientCall<ProcessingRequest, ProcessingResponse> call =
        channel.newCall(
            ExternalProcessorGrpc.getProcessMethod(), CallOptions.DEFAULT.withWaitForReady());
    call.start(
        new ClientCall.Listener<>() {
          @Override
          public void onMessage(ProcessingResponse message) {
            events.add(message);
          }

          @Override
          public void onClose(Status status, Metadata trailers) {
            events.add(status);
          }
        },
        new Metadata());
    call.request(Integer.MAX_VALUE);
    call.sendMessage(grpcRequestHeaders(CalloutTester.headers(":method", "POST"), WINDOW));
    // Timed from the first reply: the wait before it is the server's start.
    receive(call, next());
    long start = System.nanoTime();
    call.sendMessage(
        ProcessingRequest.newBuilder()
            .setResponseHeaders(CalloutTester.headers(":status", "200"))
            .build());
    while (!(request.ended && response.ended)) {
      send(call, request, true);
      send(call, response, false);
      receive(call, next());
    }
    call.halfClose();
    Object last = next();
    long nanos = System.nanoTime() - start;
    check(Status.OK.equals(last), "stream ended with " + last + " instead of OK");
    for (Side side : new Side[] {request, response}) {
      check(side.receivedBytes == bytesPerDirection, "received " + side.receivedBytes + " bytes");
      check(side.sent.getValue() == side.received.getValue(), "the bytes came back changed");
    }
    return new Outcome(bytesPerDirection, nanos, serverWindowUpdates, maxInFlight);
  }

  /** Sends messages while the window allows, then the side's end. */
  private void send(
      ClientCall<ProcessingRequest, ProcessingResponse> call, Side side, boolean req) {
    while (side.window > 0 && side.sentBytes < bytesPerDirection) {
      int size = (int) Math.min(MESSAGE_SIZE, bytesPerDirection - side.sentBytes);
      ByteBuffer numbered = ByteBuffer.wrap(pattern.clone(), 0, size);
      numbered.putLong(0, sequence++);
      ByteString message = ByteString.copyFrom(numbered);
      side.sent.update(message.asReadOnlyByteBuffer());
      ProcessingRequest.Builder body = ProcessingRequest.newBuilder();
      call.sendMessage(
          (req
                  ? body.setRequestBody(grpcMessage(message))
                  : body.setResponseBody(grpcMessage(message)))
              .build());
      side.window -= size;
      side.sentBytes += size;
      maxInFlight = Math.max(maxInFlight, side.sentBytes - side.receivedBytes);
    }
    if (side.sentBytes == bytesPerDirection && !side.endSent) {
      side.endSent = true;
      call.sendMessage(
          req
              ? ProcessingRequest.newBuilder().setRequestBody(grpcHalfClose()).build()
              : ProcessingRequest.newBuilder()
                  .setResponseTrailers(HttpTrailers.getDefaultInstance())
                  .build());
    }
  }

  private void receive(ClientCall<ProcessingRequest, ProcessingResponse> call, Object event) {
    if (!(event instanceof ProcessingResponse reply)) {
      throw new IllegalStateException("stream ended early with " + event);
    }
    long[] grant = serverWindowUpdate(reply);
    if (grant != null) {
      serverWindowUpdates++;
      request.window += grant[0];
      response.window += grant[1];
    } else if (reply.hasRequestBody()) {
      received(
          request, reply.getRequestBody().getResponse().getBodyMutation().getStreamedResponse());
    } else if (reply.hasResponseBody()) {
      received(
          response, reply.getResponseBody().getResponse().getBodyMutation().getStreamedResponse());
    } else if (reply.hasResponseTrailers()) {
      response.ended = true;
    }
    if (request.unacknowledged >= UPDATE_THRESHOLD || response.unacknowledged >= UPDATE_THRESHOLD) {
      call.sendMessage(clientWindowUpdate(request.unacknowledged, response.unacknowledged));
      request.unacknowledged = 0;
      response.unacknowledged = 0;
    }
  }

  private static void received(Side side, StreamedBodyResponse message) {
    if (message.getEndOfStream()) {
      check(endOfStreamWithoutMessage(message), "half-close echo without its flag");
      side.ended = true;
      return;
    }
    side.received.update(message.getBody().asReadOnlyByteBuffer());
    side.receivedBytes += message.getBody().size();
    side.unacknowledged += message.getBody().size();
  }

  private Object next() throws InterruptedException {
    Object event = events.poll(REPLY_TIMEOUT_SECONDS, TimeUnit.SECONDS);
    if (event == null) {
      throw new IllegalStateException("no reply within " + REPLY_TIMEOUT_SECONDS + " s");
    }
    return event;
  }

  private static void check(boolean condition, String failure) {
    if (!condition) {
      throw new IllegalStateException(failure);
    }
  }
}
