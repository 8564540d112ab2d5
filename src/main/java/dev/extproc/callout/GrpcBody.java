package dev.extproc.callout;

import com.google.protobuf.ByteString;
import dev.extproc.callout.internal.wire.HttpBodyFields;
import dev.extproc.callout.internal.wire.NewerFields;
import dev.extproc.callout.internal.wire.StreamedBodyResponseFields;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.StreamedBodyResponse;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;

/**
 * One direction's body in GRPC mode (proxyless gRPC clients): each body message is one de-framed
 * gRPC message, which goes through the direction's {@link BodyTransformer} (each {@link
 * BodyTransformer.Sink#write} sends exactly one message) or its body hook ({@code null}: forwarded
 * unchanged; a body: replaced; {@code clear_body}: dropped; a {@code streamed_response}: sent as
 * given). Messages are never re-chunked; any number of {@code streamed_response} replies answer
 * each.
 *
 * <p>The client's half-close ({@code end_of_stream} with {@code end_of_stream_without_message}, no
 * message) does not reach the hook; it ends a transformer ({@link BodyTransformer#onEnd}) and is
 * echoed with both flags, after which the client forwards no further message. A compressed message
 * ({@code grpc_message_compressed}) ends the stream {@code UNIMPLEMENTED}. Trailers end the body as
 * in FULL_DUPLEX_STREAMED mode.
 */
final class GrpcBody extends StreamedBody {
  private static final StreamedBodyResponse HALF_CLOSE =
      NewerFields.merge(
              StreamedBodyResponse.newBuilder().setEndOfStream(true),
              StreamedBodyResponseFields.newBuilder().setEndOfStreamWithoutMessage(true).build())
          .build();

  private final List<StreamedBodyResponse> written = new ArrayList<>();
  private boolean ended;

  GrpcBody(Direction direction, CalloutServerConfig config) {
    super(direction, config);
  }

  /** Sends {@code message} as one gRPC message (an empty one too). */
  @Override
  public void write(ByteString message) {
    writeStreamed(StreamedBodyResponse.newBuilder().setBody(message).build());
  }

  @Override
  void writeStreamed(StreamedBodyResponse response) {
    if (ended) {
      throw new IllegalStateException("the body already ended: nothing more can be written");
    }
    written.add(response);
  }

  @Override
  List<ProcessingResponse> respond(
      Phase phase, ProcessingRequest request, CalloutServer callout, CalloutContext ctx) {
    if (phase.kind() != Phase.Kind.BODY) {
      return trailers(phase, request, callout, ctx);
    }
    HttpBody body = direction.body(request);
    HttpBodyFields flags = NewerFields.of(body);
    if (flags.getGrpcMessageCompressed()) {
      throw Status.UNIMPLEMENTED
          .withDescription(
              "compressed gRPC messages are not supported in GRPC body mode (received "
                  + phase.wireName()
                  + " with grpc_message_compressed); configure the client without compression")
          .asRuntimeException();
    }
    if (ended) {
      throw Status.INVALID_ARGUMENT
          .withDescription(phase.wireName() + " after the end of the body in GRPC mode")
          .asRuntimeException();
    }
    BodyTransformer transformer = direction.transformer(ctx);
    if (!flags.getEndOfStreamWithoutMessage()) {
      if (transformer != null) {
        transformer.onChunk(body.getBody(), this);
      } else {
        ProcessingResponse immediate = hook(phase, request, body.getBody(), callout, ctx);
        if (immediate != null) {
          return List.of(immediate);
        }
      }
    }
    if (body.getEndOfStream() && transformer != null) {
      transformer.onEnd(this);
    }
    return withMetadata(ctx.dynamicMetadata(), drain(body.getEndOfStream()));
  }

  @Override
  boolean isOpen() {
    return !ended;
  }

  @Override
  boolean isEnded() {
    return ended;
  }

  @Override
  List<ProcessingResponse> flush() {
    return drain(false);
  }

  @Override
  List<ProcessingResponse> endBeforeTrailers(CalloutContext ctx) {
    if (ended) {
      return List.of();
    }
    List<ProcessingResponse> replies = drain(false);
    ended = true;
    return replies;
  }

  /**
   * Returns one reply per message written since the last call; with {@code endOfStream}, ends the
   * body with the half-close echo unless the last reply already ended it.
   */
  private List<ProcessingResponse> drain(boolean endOfStream) {
    if (endOfStream && (written.isEmpty() || !written.get(written.size() - 1).getEndOfStream())) {
      written.add(HALF_CLOSE);
    }
    List<ProcessingResponse> replies = new ArrayList<>(written.size());
    for (StreamedBodyResponse message : written) {
      replies.add(reply(message));
    }
    written.clear();
    ended |= endOfStream;
    return replies;
  }
}
