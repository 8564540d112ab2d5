package dev.extproc.callout;

import com.google.protobuf.Any;
import dev.extproc.callout.internal.wire.NewerFields;
import dev.extproc.callout.internal.wire.ProcessingResponseFields;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Puts the typed dynamic metadata hooks attach ({@link CalloutContext#attachTypedMetadata}) on the
 * wire as {@code ProcessingResponse.typed_dynamic_metadata} (field 13, Envoy 1.40; newer than the
 * API jar, so written through {@link NewerFields}): on the first reply of the phase that attached
 * it, whatever its type (an immediate response included; bare flow-control messages are not
 * replies), or, when the phase sent none (a FULL_DUPLEX_STREAMED chunk held back, a deferred
 * headers reply), on the direction's next reply.
 *
 * <p>One per stream, confined to it.
 */
final class TypedMetadata {
  // Created with the first attachment: most streams have none.
  private @Nullable Map<Direction, Map<String, Any>> pending;

  /**
   * Returns {@code replies}, the replies to a message of {@code direction}, with {@code attached}
   * and what earlier messages of the direction left pending on the first one.
   */
  List<ProcessingResponse> attach(
      Direction direction, Map<String, Any> attached, List<ProcessingResponse> replies) {
    Map<Direction, Map<String, Any>> kept = pending;
    if (attached.isEmpty() && (kept == null || !kept.containsKey(direction))) {
      return replies;
    }
    if (kept == null) {
      kept = new EnumMap<>(Direction.class);
      pending = kept;
    }
    Map<String, Any> metadata = kept.computeIfAbsent(direction, d -> new LinkedHashMap<>());
    metadata.putAll(attached);
    for (int i = 0; i < replies.size(); i++) {
      if (isReply(replies.get(i))) {
        kept.remove(direction);
        List<ProcessingResponse> withMetadata = new ArrayList<>(replies);
        ProcessingResponse.Builder reply = withMetadata.get(i).toBuilder();
        NewerFields.merge(
            reply,
            ProcessingResponseFields.newBuilder().putAllTypedDynamicMetadata(metadata).build());
        withMetadata.set(i, reply.build());
        return withMetadata;
      }
    }
    return replies;
  }

  /**
   * Whether {@code response} answers a message (a reply case, or a streamed immediate response),
   * rather than being a bare flow-control or drain message, which does not carry metadata.
   */
  private static boolean isReply(ProcessingResponse response) {
    return response.getResponseCase() != ProcessingResponse.ResponseCase.RESPONSE_NOT_SET
        || NewerFields.of(response).hasStreamedImmediateResponse();
  }
}
