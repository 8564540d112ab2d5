package dev.extproc.callout.testing;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnknownFieldSet;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.envoyproxy.envoy.service.ext_proc.v3.StreamedBodyResponse;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * The messages of GRPC body mode as gRPC's proxyless clients (grpc-java's xDS ext_proc filter) send
 * them, and readers of the fields a server answers with. The fields are newer than the Envoy API
 * this project compiles against, so everything here is written and read by field number with
 * protobuf's {@link UnknownFieldSet}: a test built on it does not trust the server's own encoding.
 * Use with {@link CalloutTester.Stream#send} and {@link CalloutTester.Stream#awaitReplies}.
 */
public final class GrpcModeMessages {

  /** {@code ProcessingMode.BodySendMode.GRPC}. */
  public static final int GRPC_BODY_MODE = 5;

  private GrpcModeMessages() {}

  /** A {@code protocol_config} with both body modes GRPC, as a gRPC client announces it. */
  public static ProtocolConfiguration grpcProtocolConfig() {
    return ProtocolConfiguration.newBuilder()
        .setRequestBodyModeValue(GRPC_BODY_MODE)
        .setResponseBodyModeValue(GRPC_BODY_MODE)
        .build();
  }

  /**
   * The first message of a gRPC client's stream: {@code request_headers}, {@code protocol_config}
   * {GRPC, GRPC} and {@code flow_control_init} (field 12) with all four windows set to {@code
   * window} bytes (grpc-java 1.85 sends 65,536).
   */
  public static ProcessingRequest grpcRequestHeaders(HttpHeaders headers, long window) {
    return ProcessingRequest.newBuilder()
        .setRequestHeaders(headers)
        .setProtocolConfig(grpcProtocolConfig())
        .setUnknownFields(message(12, window, window, window, window))
        .build();
  }

  /** One gRPC message as the client sends it: {@code HttpBody{body, end_of_stream=false}}. */
  public static HttpBody grpcMessage(ByteString message) {
    return HttpBody.newBuilder().setBody(message).build();
  }

  /**
   * The client's half-close: an empty {@code HttpBody} with {@code end_of_stream} and {@code
   * end_of_stream_without_message} (field 3).
   */
  public static HttpBody grpcHalfClose() {
    return HttpBody.newBuilder()
        .setEndOfStream(true)
        .setUnknownFields(UnknownFieldSet.newBuilder().addField(3, varint(1)).build())
        .build();
  }

  /** A compressed gRPC message: {@code grpc_message_compressed} (field 4) set. */
  public static HttpBody grpcCompressedMessage(ByteString message) {
    return grpcMessage(message).toBuilder()
        .setUnknownFields(UnknownFieldSet.newBuilder().addField(4, varint(1)).build())
        .build();
  }

  /**
   * A message with no request case carrying only {@code client_window_update} (field 13): the
   * client forwarded {@code request} bytes of request body and {@code response} bytes of response
   * body that the server sent it.
   */
  public static ProcessingRequest clientWindowUpdate(long request, long response) {
    return ProcessingRequest.newBuilder().setUnknownFields(message(13, request, response)).build();
  }

  /**
   * The grants of a {@code server_window_update} (field 14) in {@code reply}: {@code [request
   * bytes, response bytes]}, or null when the reply has none.
   */
  public static long @Nullable [] serverWindowUpdate(ProcessingResponse reply) {
    UnknownFieldSet.Field field = reply.getUnknownFields().getField(14);
    List<ByteString> values = field.getLengthDelimitedList();
    if (values.isEmpty()) {
      return null;
    }
    UnknownFieldSet update = parse(values.get(values.size() - 1));
    return new long[] {lastVarint(update, 1), lastVarint(update, 2)};
  }

  /** Whether {@code response} has {@code end_of_stream_without_message} (field 3) set. */
  public static boolean endOfStreamWithoutMessage(StreamedBodyResponse response) {
    return lastVarint(response.getUnknownFields(), 3) != 0;
  }

  /**
   * The reply that echoes the client's half-close of the request ({@code request} true) or of the
   * response: an empty {@code streamed_response} with {@code end_of_stream} and {@code
   * end_of_stream_without_message} (field 3).
   */
  public static ProcessingResponse halfCloseEcho(boolean request) {
    ProcessingResponse.Builder reply =
        Replies.streamed(request, ByteString.EMPTY, true).toBuilder();
    (request ? reply.getRequestBodyBuilder() : reply.getResponseBodyBuilder())
        .getResponseBuilder()
        .getBodyMutationBuilder()
        .getStreamedResponseBuilder()
        .setUnknownFields(UnknownFieldSet.newBuilder().addField(3, varint(1)).build());
    return reply.build();
  }

  /**
   * A {@code server_window_update} (field 14, a message with no response case) granting {@code
   * request} and {@code response} bytes, as a server encodes it (zeros left out).
   */
  public static ProcessingResponse serverWindowUpdate(long request, long response) {
    return ProcessingResponse.newBuilder().setUnknownFields(message(14, request, response)).build();
  }

  /** Field {@code number} holding a message whose fields 1, 2... are {@code varints} (0: unset). */
  private static UnknownFieldSet message(int number, long... varints) {
    UnknownFieldSet.Builder fields = UnknownFieldSet.newBuilder();
    for (int i = 0; i < varints.length; i++) {
      if (varints[i] != 0) {
        fields.addField(i + 1, varint(varints[i]));
      }
    }
    return UnknownFieldSet.newBuilder()
        .addField(number, bytes(fields.build().toByteString()))
        .build();
  }

  private static long lastVarint(UnknownFieldSet set, int number) {
    List<Long> values = set.getField(number).getVarintList();
    return values.isEmpty() ? 0 : values.get(values.size() - 1);
  }

  private static UnknownFieldSet parse(ByteString bytes) {
    try {
      return UnknownFieldSet.parseFrom(bytes);
    } catch (InvalidProtocolBufferException e) {
      throw new AssertionError("server_window_update does not parse", e);
    }
  }

  private static UnknownFieldSet.Field varint(long value) {
    return UnknownFieldSet.Field.newBuilder().addVarint(value).build();
  }

  private static UnknownFieldSet.Field bytes(ByteString value) {
    return UnknownFieldSet.Field.newBuilder().addLengthDelimited(value).build();
  }
}
