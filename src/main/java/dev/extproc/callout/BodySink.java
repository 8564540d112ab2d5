package dev.extproc.callout;

import com.google.protobuf.ByteString;

/**
 * Where a {@link BodyTransformer} writes the body it produces. The framework sends what is written
 * as {@code streamed_response} chunks of at most {@link CalloutServerConfig#streamedChunkSize()}
 * bytes, in order, as soon as the call that wrote them returns.
 */
public interface BodySink {

  /** Appends {@code data} to the body sent on. */
  void write(ByteString data);

  /**
   * The most a transformer should hold back at once ({@link
   * CalloutServerConfig#maxBufferedBodySize()}); {@link BodyTransformer#whole} ends the stream with
   * {@code RESOURCE_EXHAUSTED} past it.
   */
  int bufferLimit();
}
