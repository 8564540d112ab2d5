package dev.extproc.callout;

import com.google.protobuf.ByteString;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.StreamedBodyResponse;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;

/**
 * One direction's body in FULL_DUPLEX_STREAMED mode, where replies do not pair with messages: each
 * received chunk goes through the direction's {@link BodyTransformer} or its body hook, and what
 * they write becomes {@code streamed_response} replies of at most the configured chunk size, the
 * last one marked {@code end_of_stream} only once Envoy's body ended (or trailers followed it).
 * While the direction's headers reply is deferred ({@link DeferredHeaders}), the output is held and
 * goes after that reply when the body ends.
 */
final class FullDuplexBody extends StreamedBody {
  private final int chunkSize;
  private final List<ByteString> written = new ArrayList<>();
  private boolean started;
  private boolean ended;

  FullDuplexBody(Direction direction, CalloutServerConfig config) {
    super(direction, config);
    this.chunkSize = config.streamedChunkSize();
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
    if (transformer != null) {
      transformer.onChunk(chunk.getBody(), this);
      if (chunk.getEndOfStream()) {
        transformer.onEnd(this);
      }
    } else {
      ProcessingResponse immediate = hook(phase, request, chunk.getBody(), callout, ctx);
      if (immediate != null) {
        return List.of(immediate);
      }
    }
    return withMetadata(ctx.dynamicMetadata(), flush(ctx, chunk.getEndOfStream(), false));
  }

  /** Before trailers: the body ends unmarked, or a held headers reply goes with its output. */
  @Override
  List<ProcessingResponse> endBeforeTrailers(CalloutContext ctx) {
    return isOpen() || DeferredHeaders.isHeld(ctx, direction) ? flush(ctx, true, true) : List.of();
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
      DeferredHeaders.checkBound(direction, held, bufferLimit());
      if (!bodyEnds) {
        return replies;
      }
      replies.add(DeferredHeaders.release(direction, held, ctx));
    }
    replies.addAll(bodyEnds && trailersFollow ? drainBeforeTrailers() : drain(bodyEnds));
    return replies;
  }

  /** Whether a body chunk arrived and the body has not ended yet. */
  @Override
  boolean isOpen() {
    return started && !ended;
  }

  @Override
  List<ProcessingResponse> flush() {
    return drain(false);
  }

  @Override
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

  /** Ends the body without marking the last chunk, because trailers follow. */
  List<ProcessingResponse> drainBeforeTrailers() {
    List<ProcessingResponse> replies = drain(false);
    ended = true;
    return replies;
  }

  private ProcessingResponse reply(ByteString body, boolean endOfStream) {
    return reply(
        StreamedBodyResponse.newBuilder().setBody(body).setEndOfStream(endOfStream).build());
  }
}
