package dev.extproc.callout;

import com.google.protobuf.ByteString;
import com.google.protobuf.Struct;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.StreamedBodyResponse;
import java.util.ArrayList;
import java.util.List;
import org.jspecify.annotations.Nullable;

/**
 * One direction's body in FULL_DUPLEX_STREAMED mode: collects what the hook or transformer writes
 * for each received chunk and turns it into {@code streamed_response} replies of at most the
 * configured chunk size, the last one marked {@code end_of_stream} only once Envoy's body ended.
 */
final class FullDuplexBody implements BodyTransformer.Sink {
  private final boolean requestDirection;
  private final int chunkSize;
  private final int bufferLimit;
  private final List<ByteString> written = new ArrayList<>();
  private boolean started;
  private boolean ended;
  private @Nullable Struct pendingMetadata;

  FullDuplexBody(boolean requestDirection, CalloutServerConfig config) {
    this.requestDirection = requestDirection;
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

  /** Whether a body chunk arrived and the body has not ended yet. */
  boolean isOpen() {
    return started && !ended;
  }

  /** Whether the body ended: its last chunk arrived, or trailers followed it. */
  boolean isEnded() {
    return ended;
  }

  void markStarted() {
    started = true;
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
    ProcessingResponse.Builder reply = ProcessingResponse.newBuilder();
    return (requestDirection ? reply.setRequestBody(response) : reply.setResponseBody(response))
        .build();
  }
}
