package dev.extproc.callout;

import com.google.protobuf.ByteString;
import io.grpc.Status;
import java.util.function.UnaryOperator;

/**
 * Transforms one direction's body as a stream, in Envoy's FULL_DUPLEX_STREAMED body mode or the
 * GRPC body mode of gRPC's proxyless clients: each received chunk (in GRPC mode: each gRPC message)
 * goes to {@link #onChunk}, which writes any amount of output (none while it accumulates); {@link
 * #onEnd} follows the last chunk (in GRPC mode: the client's half-close) or precedes the trailers.
 * Register one from a headers hook with {@link CalloutContext#transformRequestBody} or {@link
 * CalloutContext#transformResponseBody}.
 *
 * <p>Runs on the stream's hook thread, one call at a time, so an instance may keep state for its
 * stream; create one per stream. Everything not written is lost: Envoy does not keep the body it
 * sent in this mode.
 */
public interface BodyTransformer {

  /**
   * Where a transformer writes the body it produces. The framework sends what is written, in order,
   * as soon as the call that wrote them returns: in FULL_DUPLEX_STREAMED mode as {@code
   * streamed_response} chunks of at most {@link CalloutServerConfig#streamedChunkSize()} bytes; in
   * GRPC mode each {@link #write} as exactly one gRPC message (one {@code streamed_response}, an
   * empty write an empty message), never split or merged.
   */
  interface Sink {

    /** Appends {@code data} to the body sent on; in GRPC mode, sends it as one message. */
    void write(ByteString data);

    /**
     * The most a transformer should hold back at once ({@link
     * CalloutServerConfig#maxBufferedBodySize()}); {@link BodyTransformer#whole} ends the stream
     * with {@code RESOURCE_EXHAUSTED} past it.
     */
    int bufferLimit();
  }

  /** Receives the next chunk of the body and writes what it can already produce. */
  void onChunk(ByteString chunk, Sink out);

  /** Writes whatever is still held back; the body ends after it. Does nothing by default. */
  default void onEnd(Sink out) {}

  /**
   * Returns a transformer that collects the whole body and writes {@code transform} of it at the
   * end: for changes that need all of it. A body larger than {@link Sink#bufferLimit()} ends the
   * stream with {@code RESOURCE_EXHAUSTED} instead of growing without bound.
   */
  static BodyTransformer whole(UnaryOperator<ByteString> transform) {
    return new BodyTransformer() {
      private ByteString collected = ByteString.EMPTY;

      @Override
      public void onChunk(ByteString chunk, Sink out) {
        if ((long) collected.size() + chunk.size() > out.bufferLimit()) {
          throw Status.RESOURCE_EXHAUSTED
              .withDescription(
                  "body larger than the "
                      + out.bufferLimit()
                      + " bytes a transformer may buffer (--max-buffered-body-size)")
              .asRuntimeException();
        }
        collected = collected.concat(chunk);
      }

      @Override
      public void onEnd(Sink out) {
        out.write(transform.apply(collected));
        collected = ByteString.EMPTY;
      }
    };
  }
}
