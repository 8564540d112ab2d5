package dev.extproc.callout;

import com.google.protobuf.ByteString;
import com.google.protobuf.Struct;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.StreamedBodyResponse;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * What the two streamed body modes share, FULL_DUPLEX_STREAMED ({@link FullDuplexBody}) and GRPC
 * ({@link GrpcBody}), where replies do not pair with messages: the body hook's reply turned into
 * output, dynamic metadata carried to the next reply that goes out, and {@code streamed_response}
 * replies.
 */
abstract class StreamedBody implements BodyTransformer.Sink {
  final Direction direction;
  private final int bufferLimit;
  private @Nullable Struct pendingMetadata;

  StreamedBody(Direction direction, CalloutServerConfig config) {
    this.direction = direction;
    this.bufferLimit = config.maxBufferedBodySize();
  }

  /**
   * Returns the replies to a message of {@code phase}, a body message or trailers of this body's
   * direction, running the hook or transformer on {@code callout}.
   */
  abstract List<ProcessingResponse> respond(
      Phase phase, ProcessingRequest request, CalloutServer callout, CalloutContext ctx);

  /** Whether the body may still produce output: it has not ended. */
  abstract boolean isOpen();

  /** Ends the body before trailers (its last reply unmarked) and returns the replies to send. */
  abstract List<ProcessingResponse> endBeforeTrailers(CalloutContext ctx);

  /** Whether the body ended: its last message arrived, or trailers followed it. */
  abstract boolean isEnded();

  /**
   * Returns the replies carrying what was written and not sent yet, none of them marking the end:
   * for a request drain, which ends the body with what it holds.
   */
  abstract List<ProcessingResponse> flush();

  /**
   * Trailers: an open body ends first (its transformer's {@link BodyTransformer#onEnd}, then {@link
   * #endBeforeTrailers}), then the trailers get their reply.
   */
  List<ProcessingResponse> trailers(
      Phase phase, ProcessingRequest request, CalloutServer callout, CalloutContext ctx) {
    List<ProcessingResponse> replies = new ArrayList<>();
    if (isOpen()) {
      BodyTransformer transformer = direction.transformer(ctx);
      if (transformer != null) {
        transformer.onEnd(this);
      }
    }
    replies.addAll(endBeforeTrailers(ctx));
    replies.add(PhaseReply.of(phase, callout.process(request, ctx), ctx));
    return withMetadata(null, replies);
  }

  @Override
  public int bufferLimit() {
    return bufferLimit;
  }

  /** Writes a {@code streamed_response} the body hook returned; by default only its body. */
  void writeStreamed(StreamedBodyResponse response) {
    write(response.getBody());
  }

  /**
   * Runs the body hook on {@code data} and writes its output: {@code null} passes {@code data} on,
   * a body replaces it, {@code clear_body} drops it, a {@code streamed_response} goes to {@link
   * #writeStreamed}. Returns the reply when the hook answered with an immediate response instead,
   * else null.
   */
  @Nullable ProcessingResponse hook(
      Phase phase,
      ProcessingRequest request,
      ByteString data,
      CalloutServer callout,
      CalloutContext ctx) {
    ProcessingResponse returned = callout.process(request, ctx);
    if (ctx.immediateResponse() != null || (returned != null && returned.hasImmediateResponse())) {
      return PhaseReply.of(phase, returned, ctx);
    }
    if (returned == null) {
      write(data);
      return null;
    }
    PhaseReply.checkResponseCase(phase, returned);
    if (returned.hasDynamicMetadata()) {
      PhaseReply.checkNamespaces(returned.getDynamicMetadata());
      keepMetadata(returned.getDynamicMetadata());
    }
    BodyMutation mutation = direction.bodyResponse(returned).getResponse().getBodyMutation();
    switch (mutation.getMutationCase()) {
      case BODY -> write(mutation.getBody());
      case STREAMED_RESPONSE -> writeStreamed(mutation.getStreamedResponse());
      case CLEAR_BODY -> {}
      default -> write(data);
    }
    return null;
  }

  /** Keeps {@code metadata} for the next reply that goes out. */
  void keepMetadata(@Nullable Struct metadata) {
    if (metadata != null) {
      pendingMetadata =
          pendingMetadata == null ? metadata : PhaseReply.merge(pendingMetadata, metadata);
    }
  }

  /**
   * Puts {@code metadata} (and any kept from earlier messages) on the first of {@code replies}, or
   * keeps it for the next reply when a message produced none.
   */
  List<ProcessingResponse> withMetadata(
      @Nullable Struct metadata, List<ProcessingResponse> replies) {
    keepMetadata(metadata);
    if (pendingMetadata == null || replies.isEmpty()) {
      return replies;
    }
    List<ProcessingResponse> withMetadata = new ArrayList<>(replies);
    ProcessingResponse first = withMetadata.get(0);
    withMetadata.set(
        0,
        first.toBuilder()
            .setDynamicMetadata(PhaseReply.merge(first.getDynamicMetadata(), pendingMetadata))
            .build());
    pendingMetadata = null;
    return withMetadata;
  }

  /** A body reply of this direction carrying {@code streamed}. */
  ProcessingResponse reply(StreamedBodyResponse streamed) {
    return direction.streamedReply(streamed);
  }
}
