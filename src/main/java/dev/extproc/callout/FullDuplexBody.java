package dev.extproc.callout;

import com.google.protobuf.ByteString;
import com.google.protobuf.Struct;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.StreamedBodyResponse;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * One direction's body in FULL_DUPLEX_STREAMED mode, where replies do not pair with messages: each
 * received chunk goes through the direction's {@link BodyTransformer} or its body hook, and what
 * they write becomes {@code streamed_response} replies of at most the configured chunk size, the
 * last one marked {@code end_of_stream} only once Envoy's body ended (or trailers followed it).
 * While the direction's headers reply is deferred ({@link DeferredHeaders}), the output is held and
 * goes after that reply when the body ends.
 */
final class FullDuplexBody implements BodyTransformer.Sink {
  private final Direction direction;
  private final int chunkSize;
  private final int bufferLimit;
  private final List<ByteString> written = new ArrayList<>();
  private boolean started;
  private boolean ended;
  private @Nullable Struct pendingMetadata;

  FullDuplexBody(Direction direction, CalloutServerConfig config) {
    this.direction = direction;
    this.chunkSize = config.streamedChunkSize();
    this.bufferLimit = config.maxBufferedBodySize();
  }

  @Override
  public void write(ByteString data) {
    if (ended) {
      throw new IllegalStateException("the body already ended: nothing more can be written");
    }
    if (!data.isEmpty()) {
      written.add(data);
    }
  }

  @Override
  public int bufferLimit() {
    return bufferLimit;
  }

  /**
   * Returns the replies to a message of {@code phase}, a body chunk or trailers of this body's
   * direction, running the hook or transformer on {@code callout}.
   */
  List<ProcessingResponse> respond(
      Phase phase, ProcessingRequest request, CalloutServer callout, CalloutContext ctx) {
    return phase.kind() == Phase.Kind.BODY
        ? chunk(phase, request, callout, ctx)
        : trailers(phase, request, callout, ctx);
  }

  /**
   * One chunk: through the transformer when there is one, else through the body hook, whose reply
   * for the chunk ({@code null}: unchanged; a body: replaced; {@code clear_body}: dropped) becomes
   * streamed output.
   */
  private List<ProcessingResponse> chunk(
      Phase phase, ProcessingRequest request, CalloutServer callout, CalloutContext ctx) {
    if (ended) {
      // Envoy never sends one; there is nowhere to put it once the last chunk was marked.
      throw Status.INVALID_ARGUMENT
          .withDescription(
              phase.wireName()
                  + " after the end of the body (end_of_stream or trailers) in"
                  + " FULL_DUPLEX_STREAMED mode")
          .asRuntimeException();
    }
    HttpBody chunk = direction.body(request);
    started = true;
    BodyTransformer transformer = direction.transformer(ctx);
    Struct metadata = null;
    if (transformer != null) {
      transformer.onChunk(chunk.getBody(), this);
      if (chunk.getEndOfStream()) {
        transformer.onEnd(this);
      }
    } else {
      ProcessingResponse returned = callout.process(request, ctx);
      if (ctx.immediateResponse() != null
          || (returned != null && returned.hasImmediateResponse())) {
        return List.of(PhaseReply.of(phase, returned, ctx));
      }
      if (returned == null) {
        write(chunk.getBody());
      } else {
        PhaseReply.checkResponseCase(phase, returned);
        if (returned.hasDynamicMetadata()) {
          PhaseReply.checkNamespaces(returned.getDynamicMetadata());
          metadata = returned.getDynamicMetadata();
        }
        BodyMutation mutation = direction.bodyResponse(returned).getResponse().getBodyMutation();
        switch (mutation.getMutationCase()) {
          case BODY -> write(mutation.getBody());
          case STREAMED_RESPONSE -> write(mutation.getStreamedResponse().getBody());
          case CLEAR_BODY -> {}
          default -> write(chunk.getBody());
        }
      }
    }
    Struct attached = ctx.dynamicMetadata();
    if (attached != null) {
      metadata = metadata == null ? attached : PhaseReply.merge(metadata, attached);
    }
    return withMetadata(metadata, flush(ctx, chunk.getEndOfStream(), false));
  }

  /**
   * Trailers: an unfinished body ends first (its last chunk unmarked, as trailers follow), then the
   * trailers get their reply.
   */
  private List<ProcessingResponse> trailers(
      Phase phase, ProcessingRequest request, CalloutServer callout, CalloutContext ctx) {
    List<ProcessingResponse> replies = new ArrayList<>();
    if (isOpen()) {
      BodyTransformer transformer = direction.transformer(ctx);
      if (transformer != null) {
        transformer.onEnd(this);
      }
    }
    if (isOpen() || DeferredHeaders.isHeld(ctx, direction)) {
      replies.addAll(flush(ctx, true, true));
    }
    replies.add(PhaseReply.of(phase, callout.process(request, ctx), ctx));
    return withMetadata(null, replies);
  }

  /**
   * Returns the replies for what was written: drained as {@link #drain} does, unless the
   * direction's headers reply is held ({@link DeferredHeaders}); then the output stays here, within
   * the buffer limit, until the body ends, when the released headers reply goes first. {@code
   * bodyEnds}: the body ended with this message; {@code trailersFollow}: it ended with trailers, so
   * its last chunk stays unmarked.
   */
  private List<ProcessingResponse> flush(
      CalloutContext ctx, boolean bodyEnds, boolean trailersFollow) {
    List<ProcessingResponse> replies = new ArrayList<>();
    if (DeferredHeaders.isHeld(ctx, direction)) {
      long held = 0;
      for (ByteString data : written) {
        held += data.size();
      }
      DeferredHeaders.checkBound(direction, held, bufferLimit);
      if (!bodyEnds) {
        return replies;
      }
      replies.add(DeferredHeaders.release(direction, held, ctx));
    }
    replies.addAll(bodyEnds && trailersFollow ? drainBeforeTrailers() : drain(bodyEnds));
    return replies;
  }

  /** Whether a body chunk arrived and the body has not ended yet. */
  boolean isOpen() {
    return started && !ended;
  }

  /** Whether the body ended: its last chunk arrived, or trailers followed it. */
  boolean isEnded() {
    return ended;
  }

  /**
   * Returns the replies carrying what was written since the last call: none if nothing was written
   * and the body goes on; with {@code endOfStream}, at least one, the last one marked.
   */
  List<ProcessingResponse> drain(boolean endOfStream) {
    List<ProcessingResponse> replies = new ArrayList<>();
    ByteString pending = ByteString.EMPTY;
    for (ByteString data : written) {
      pending = pending.concat(data); // a rope: no copying
    }
    written.clear();
    // Full chunks go now; at the end the last one (full or not) carries end_of_stream.
    while (pending.size() > chunkSize || (pending.size() == chunkSize && !endOfStream)) {
      replies.add(reply(pending.substring(0, chunkSize), false));
      pending = pending.substring(chunkSize);
    }
    if (!pending.isEmpty() || endOfStream) {
      replies.add(reply(pending, endOfStream));
    }
    if (endOfStream) {
      ended = true;
    }
    return replies;
  }

  /**
   * Puts {@code metadata} (and any kept from earlier chunks) on the first of {@code replies}, or
   * keeps it for the next reply when a chunk produced none.
   */
  List<ProcessingResponse> withMetadata(
      @Nullable Struct metadata, List<ProcessingResponse> replies) {
    if (metadata != null) {
      pendingMetadata =
          pendingMetadata == null ? metadata : PhaseReply.merge(pendingMetadata, metadata);
    }
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

  /** Ends the body without marking the last chunk, because trailers follow. */
  List<ProcessingResponse> drainBeforeTrailers() {
    List<ProcessingResponse> replies = drain(false);
    ended = true;
    return replies;
  }

  private ProcessingResponse reply(ByteString body, boolean endOfStream) {
    BodyResponse response =
        BodyResponse.newBuilder()
            .setResponse(
                CommonResponse.newBuilder()
                    .setBodyMutation(
                        BodyMutation.newBuilder()
                            .setStreamedResponse(
                                StreamedBodyResponse.newBuilder()
                                    .setBody(body)
                                    .setEndOfStream(endOfStream))))
            .build();
    return direction.set(ProcessingResponse.newBuilder(), response).build();
  }
}
