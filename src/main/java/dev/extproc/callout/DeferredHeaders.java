package dev.extproc.callout;

import static java.util.Objects.requireNonNull;

import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.HeaderMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.Status;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Headers replies held until their direction's body has been seen, in FULL_DUPLEX_STREAMED mode
 * ({@link CalloutContext#deferHeadersReply}), where Envoy sends body chunks before it has the
 * headers reply and accepts that reply late, as long as it comes before the body's. While a reply
 * is held, {@link FullDuplexBody} keeps the body's output instead of sending it, up to the
 * configured bound; when the body ends it sends the reply first, with the header mutations body
 * phases added ({@link CalloutContext#mutateDeferredHeaders}) and {@code content-length} set to the
 * length of the body that follows ({@link ContentLength#declared}), then the body.
 *
 * <p>One per stream, created by the first request to defer; confined to the stream.
 */
final class DeferredHeaders {
  private @Nullable Phase asked;
  private final Map<Direction, ProcessingResponse> held = new EnumMap<>(Direction.class);
  private final Map<Direction, HeaderMutation.Builder> added = new EnumMap<>(Direction.class);

  /**
   * Records that the headers hook of {@code current} defers its reply.
   *
   * @throws IllegalStateException outside a headers phase, or when the direction's body mode is not
   *     FULL_DUPLEX_STREAMED
   */
  void ask(Phase current, CalloutContext ctx) {
    if (current.kind() != Phase.Kind.HEADERS) {
      throw new IllegalStateException(
          "only a headers hook can defer its reply, not the hook of " + current.wireName());
    }
    Direction direction = current.direction();
    BodySendMode mode = direction.bodyMode(ctx);
    if (mode != BodySendMode.FULL_DUPLEX_STREAMED) {
      throw new IllegalStateException(
          "deferring the "
              + current.wireName()
              + " reply needs body mode FULL_DUPLEX_STREAMED (the "
              + direction.name().toLowerCase(Locale.ROOT)
              + " body mode is "
              + StreamedReply.modeName(direction.announcedBodyModeValue(ctx))
              + ")");
    }
    asked = current;
  }

  /** Whether the hook of {@code phase}, running now, asked to defer its reply. */
  static boolean isAsked(CalloutContext ctx, Phase phase) {
    DeferredHeaders deferred = ctx.deferredHeaders();
    return deferred != null && deferred.asked == phase;
  }

  /**
   * Returns the replies to send now for {@code reply}, the reply to {@code phase}: none when its
   * hook deferred it (the reply is then held), else {@code reply}. A reply of another type (an
   * immediate response) and headers without a body ({@code end_of_stream}) are never held.
   */
  static List<ProcessingResponse> hold(Phase phase, ProcessingResponse reply, CalloutContext ctx) {
    DeferredHeaders deferred = ctx.deferredHeaders();
    if (deferred == null || deferred.asked != phase) {
      return List.of(reply);
    }
    deferred.asked = null;
    boolean bodyFollows =
        !phase.direction().headers(ctx).map(HttpHeaders::getEndOfStream).orElse(true);
    if (reply.getResponseCase() != phase.responseCase() || !bodyFollows) {
      return List.of(reply);
    }
    deferred.held.put(phase.direction(), reply);
    return List.of();
  }

  /** Whether the headers reply of {@code direction} is held. */
  static boolean isHeld(CalloutContext ctx, Direction direction) {
    DeferredHeaders deferred = ctx.deferredHeaders();
    return deferred != null && deferred.held.containsKey(direction);
  }

  /**
   * Adds {@code mutation} to the held headers reply of the direction of {@code current}.
   *
   * @throws IllegalStateException when that direction's headers reply is not held
   */
  static void mutate(@Nullable DeferredHeaders deferred, Phase current, HeaderMutation mutation) {
    requireNonNull(mutation, "mutation");
    Direction direction = current.direction();
    if (deferred == null || !deferred.held.containsKey(direction)) {
      throw new IllegalStateException(
          "no "
              + direction.name().toLowerCase(Locale.ROOT)
              + " headers reply is held (in "
              + current.wireName()
              + "): call deferHeadersReply() in the headers hook, and mutate it before the body"
              + " ends");
    }
    deferred.added.computeIfAbsent(direction, d -> HeaderMutation.newBuilder()).mergeFrom(mutation);
  }

  /**
   * Ends the stream with {@code RESOURCE_EXHAUSTED} when {@code heldBytes} of body output, held for
   * {@code direction}'s headers reply, exceed {@code limit}.
   */
  static void checkBound(Direction direction, long heldBytes, int limit) {
    if (heldBytes > limit) {
      throw Status.RESOURCE_EXHAUSTED
          .withDescription(
              direction.name().toLowerCase(Locale.ROOT)
                  + " body larger than the "
                  + limit
                  + " bytes held back for a deferred headers reply (--max-buffered-body-size)")
          .asRuntimeException();
    }
  }

  /**
   * Returns the held headers reply of {@code direction}, no longer held, with the mutations body
   * phases added and {@code content-length} matching the {@code length} bytes of body that follow.
   */
  static ProcessingResponse release(Direction direction, long length, CalloutContext ctx) {
    DeferredHeaders deferred = requireNonNull(ctx.deferredHeaders());
    ProcessingResponse reply = requireNonNull(deferred.held.remove(direction));
    HeaderMutation.Builder extra = deferred.added.remove(direction);
    if (extra != null) {
      HeadersResponse headers = direction.headersResponse(reply);
      HeadersResponse.Builder merged = headers.toBuilder();
      merged.getResponseBuilder().getHeaderMutationBuilder().mergeFrom(extra.build());
      reply = direction.set(reply.toBuilder(), merged.build()).build();
    }
    return ContentLength.declared(direction, reply, length, ctx);
  }
}
