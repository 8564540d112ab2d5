package dev.extproc.callout;

import com.google.protobuf.ByteString;
import io.grpc.Status;
import java.util.function.UnaryOperator;

/**
 * Transforms one direction's body as a stream, in Envoy's FULL_DUPLEX_STREAMED body mode: each
 * received chunk goes to {@link #onChunk}, which writes any amount of output (none while it
 * accumulates); {@link #onEnd} follows the last chunk (or precedes the trailers). Register one from
 * a headers hook with {@link CalloutContext#transformRequestBody} or {@link
 * CalloutContext#transformResponseBody}.
 *
 * <p>Runs on the stream's hook thread, one call at a time, so an instance may keep state for its
 * stream; create one per stream. Everything not written is lost: Envoy does not keep the body it
 * sent in this mode.
 */
public interface BodyTransformer {

  /** Receives the next chunk of the body and writes what it can already produce. */
  void onChunk(ByteString chunk, BodySink out);

  /** Writes whatever is still held back; the body ends after it. Does nothing by default. */
  default void onEnd(BodySink out) {}

  /**
   * Returns a transformer that collects the whole body and writes {@code transform} of it at the
   * end: for changes that need all of it. A body larger than {@link BodySink#bufferLimit()} ends
   * the stream with {@code RESOURCE_EXHAUSTED} instead of growing without bound.
   */
  static BodyTransformer whole(UnaryOperator<ByteString> transform) {
    return new BodyTransformer() {
      private ByteString collected = ByteString.EMPTY;

      @Override
      public void onChunk(ByteString chunk, BodySink out) {
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
      public void onEnd(BodySink out) {
        out.write(transform.apply(collected));
        collected = ByteString.EMPTY;
      }
    };
  }
}
