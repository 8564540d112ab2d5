package dev.extproc.callout;

import com.google.common.base.Ascii;
import com.google.protobuf.CodedOutputStream;
import dev.extproc.callout.CalloutServerConfig.MutationPolicy;
import dev.extproc.callout.CalloutServerConfig.MutationProfile;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse.ResponseStatus;
import io.envoyproxy.envoy.service.ext_proc.v3.HeaderMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ImmediateResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.TrailersResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Checks every header mutation of a reply the way Envoy or Google Cloud Service Extensions would
 * judge it, and applies a {@link MutationPolicy} to what they would reject or silently ignore.
 *
 * <p>Header names are matched case-insensitively. Values never appear in messages or logs: they may
 * be secrets. Thread-safe: one guard serves every stream of a server.
 */
// Identity is the "unchanged" signal: each step returns its very input when nothing changed, so
// comparing references is exact and spares a deep equals on the hot path.
@SuppressWarnings("ReferenceEquality")
final class MutationGuard {
  private static final Logger logger = LoggerFactory.getLogger(MutationGuard.class);

  /** Envoy's default {@code max_headers_count}, which bounds set_headers and remove_headers. */
  static final int MAX_ENTRIES = 100;

  /** The ext_proc API's limit on a header key and on a header value, in bytes. */
  static final int MAX_HEADER_BYTES = HeaderRules.MAX_HEADER_BYTES;

  /** Service Extensions' limit on the serialized header mutation of one reply, in bytes. */
  static final int MAX_SERVICE_EXTENSIONS_BYTES = 128 * 1024;

  // Bounds the memory spent remembering what was logged when a hook invents header names.
  private static final int MAX_WARNED = 1024;
  private static final int MAX_QUOTED_CHARS = 64;
  private static final boolean[] NO_DROPS = new boolean[0];

  private static final String TOO_MANY =
      "Envoy fails the request with 500 above max_headers_count, 100 by default";
  private static final String TOO_BIG =
      "Service Extensions allow at most "
          + MAX_SERVICE_EXTENSIONS_BYTES
          + " bytes (128 KiB) of header mutations per reply";

  private final MutationPolicy policy;
  private final MutationProfile profile;
  private final HeaderRules rules;
  private final Set<String> warned = ConcurrentHashMap.newKeySet();
  private final AtomicBoolean routeCacheWarned = new AtomicBoolean();

  /** Creates a guard for Envoy's default mutation rules, exempting no header. */
  MutationGuard(MutationPolicy policy, MutationProfile profile) {
    this(policy, profile, Set.of());
  }

  /**
   * Creates a guard; {@code allowedHeaders} names the headers the proxy's {@code mutation_rules}
   * let a callout mutate (see {@link HeaderRules#HeaderRules}).
   */
  MutationGuard(MutationPolicy policy, MutationProfile profile, Set<String> allowedHeaders) {
    this.policy = policy;
    this.profile = profile;
    this.rules = new HeaderRules(profile, allowedHeaders);
  }

  /** The policy this guard applies. */
  MutationPolicy policy() {
    return policy;
  }

  /** The profile whose rules this guard checks. */
  MutationProfile profile() {
    return profile;
  }

  /**
   * Checks every header mutation of a reply (the header_mutation of a headers or body response's
   * common response, a trailers response's header_mutation, an immediate response's headers) and
   * returns it: the same instance when nothing needs changing, a copy without the offending entries
   * under {@link MutationPolicy#DROP}. A {@code clear_route_cache} on a response-direction reply is
   * removed with a warning, as Envoy ignores it there.
   *
   * @param requestDirection whether the reply answers a request-direction phase (request headers,
   *     body or trailers)
   * @param streamId the stream's id, for the logs
   * @throws IllegalStateException under {@link MutationPolicy#REJECT}, naming the first offending
   *     header and the rule it breaks
   */
  ProcessingResponse check(ProcessingResponse response, boolean requestDirection, long streamId) {
    if (policy == MutationPolicy.OFF) {
      return response;
    }
    if (response.hasImmediateResponse()) {
      ImmediateResponse in = response.getImmediateResponse();
      ImmediateResponse out = checkImmediate(in, streamId);
      return out == in ? response : response.toBuilder().setImmediateResponse(out).build();
    }
    Phase phase = Phase.answeredBy(response);
    if (phase == null) {
      return response;
    }
    Direction direction = phase.direction();
    return switch (phase.kind()) {
      case HEADERS -> {
        HeadersResponse in = direction.headersResponse(response);
        HeadersResponse out = checkHeaders(in, requestDirection, streamId);
        yield out == in ? response : direction.set(response.toBuilder(), out).build();
      }
      case BODY -> {
        BodyResponse in = direction.bodyResponse(response);
        BodyResponse out = checkBody(in, requestDirection, streamId);
        yield out == in ? response : direction.set(response.toBuilder(), out).build();
      }
      case TRAILERS -> {
        TrailersResponse in = direction.trailersResponse(response);
        TrailersResponse out = checkTrailers(in, streamId);
        yield out == in ? response : direction.set(response.toBuilder(), out).build();
      }
    };
  }

  private HeadersResponse checkHeaders(
      HeadersResponse headers, boolean requestDirection, long streamId) {
    CommonResponse in = headers.getResponse();
    // Envoy lets :method change only when the headers response replaces the whole message.
    boolean replacing = in.getStatus() == ResponseStatus.CONTINUE_AND_REPLACE;
    CommonResponse out = checkCommon(in, requestDirection, replacing, streamId);
    return out == in ? headers : headers.toBuilder().setResponse(out).build();
  }

  private BodyResponse checkBody(BodyResponse body, boolean requestDirection, long streamId) {
    CommonResponse in = body.getResponse();
    CommonResponse out = checkCommon(in, requestDirection, false, streamId);
    return out == in ? body : body.toBuilder().setResponse(out).build();
  }

  private CommonResponse checkCommon(
      CommonResponse common, boolean requestDirection, boolean replacing, long streamId) {
    boolean stripRouteCache = !requestDirection && common.getClearRouteCache();
    HeaderMutation mutation = common.getHeaderMutation();
    HeaderMutation checked =
        common.hasHeaderMutation()
            ? checkMutation(mutation, "header_mutation", replacing, streamId)
            : mutation;
    if (!stripRouteCache && checked == mutation) {
      return common;
    }
    CommonResponse.Builder out = common.toBuilder();
    if (stripRouteCache) {
      warnRouteCache(streamId);
      out.clearClearRouteCache();
    }
    if (checked != mutation) {
      // Kept even when empty: Envoy honours clear_route_cache (and route_cache_action CLEAR) only
      // when the reply carries a header_mutation.
      out.setHeaderMutation(checked);
    }
    return out.build();
  }

  private TrailersResponse checkTrailers(TrailersResponse trailers, long streamId) {
    if (!trailers.hasHeaderMutation()) {
      return trailers;
    }
    HeaderMutation in = trailers.getHeaderMutation();
    HeaderMutation out = checkMutation(in, "header_mutation", false, streamId);
    return out == in ? trailers : trailers.toBuilder().setHeaderMutation(out).build();
  }

  private ImmediateResponse checkImmediate(ImmediateResponse immediate, long streamId) {
    if (!immediate.hasHeaders()) {
      return immediate;
    }
    HeaderMutation in = immediate.getHeaders();
    HeaderMutation out = checkMutation(in, "immediate_response.headers", false, streamId);
    return out == in ? immediate : immediate.toBuilder().setHeaders(out).build();
  }

  private void warnRouteCache(long streamId) {
    String message =
        "[{}] clear_route_cache on a response-direction reply: Envoy ignores it there, so it is"
            + " not sent";
    if (routeCacheWarned.compareAndSet(false, true)) {
      logger.warn(message, streamId);
    } else {
      logger.debug(message, streamId);
    }
  }

  /**
   * Returns {@code mutation} when it passes, a copy without the offending entries under DROP, or
   * throws under REJECT. {@code where} is the mutation's field path, for messages.
   */
  private HeaderMutation checkMutation(
      HeaderMutation mutation, String where, boolean replacing, long streamId) {
    int removeCount = mutation.getRemoveHeadersCount();
    int setCount = mutation.getSetHeadersCount();
    if (removeCount == 0 && setCount == 0) {
      return mutation;
    }
    if (policy == MutationPolicy.REJECT) {
      // Envoy checks the counts before any entry.
      rejectCount(where + ".remove_headers", removeCount);
      rejectCount(where + ".set_headers", setCount);
    }
    // Allocated at the first drop: most replies drop nothing.
    boolean[] droppedRemoves = NO_DROPS;
    for (int i = 0; i < removeCount; i++) {
      String key = mutation.getRemoveHeaders(i);
      HeaderRules.Violation violation = rules.checkRemove(key);
      if (violation != null) {
        dropOrReject(where + ".remove_headers", i, key, violation, streamId);
        if (droppedRemoves == NO_DROPS) {
          droppedRemoves = new boolean[removeCount];
        }
        droppedRemoves[i] = true;
      }
    }
    boolean[] droppedSets = NO_DROPS;
    for (int i = 0; i < setCount; i++) {
      HeaderValueOption option = mutation.getSetHeaders(i);
      HeaderRules.Violation violation = rules.checkSet(option, replacing);
      if (violation != null) {
        dropOrReject(
            where + ".set_headers",
            i,
            option.hasHeader() ? option.getHeader().getKey() : null,
            violation,
            streamId);
        if (droppedSets == NO_DROPS) {
          droppedSets = new boolean[setCount];
        }
        droppedSets[i] = true;
      }
    }
    boolean sizeLimited = profile != MutationProfile.ENVOY;
    if (droppedRemoves == NO_DROPS
        && droppedSets == NO_DROPS
        && removeCount <= MAX_ENTRIES
        && setCount <= MAX_ENTRIES
        && !(sizeLimited && mutation.getSerializedSize() > MAX_SERVICE_EXTENSIONS_BYTES)) {
      return mutation;
    }
    if (policy == MutationPolicy.REJECT) {
      // Only the size can bring REJECT here: the counts and the entries threw above.
      throw new IllegalStateException(
          where + ": " + mutation.getSerializedSize() + " bytes; " + TOO_BIG + " (policy REJECT)");
    }
    return rebuild(mutation, where, droppedRemoves, droppedSets, sizeLimited, streamId);
  }

  /** Builds the DROP result: the entries that passed, cut to Envoy's count and GCP's size. */
  private HeaderMutation rebuild(
      HeaderMutation mutation,
      String where,
      boolean[] droppedRemoves,
      boolean[] droppedSets,
      boolean sizeLimited,
      long streamId) {
    List<Integer> removes = new ArrayList<>();
    for (int i = 0; i < mutation.getRemoveHeadersCount(); i++) {
      if (droppedRemoves == NO_DROPS || !droppedRemoves[i]) {
        removes.add(i);
      }
    }
    List<Integer> sets = new ArrayList<>();
    for (int i = 0; i < mutation.getSetHeadersCount(); i++) {
      if (droppedSets == NO_DROPS || !droppedSets[i]) {
        sets.add(i);
      }
    }
    HeaderRules.Violation tooMany =
        new HeaderRules.Violation(HeaderRules.Rule.COUNT, "past the 100th entry; " + TOO_MANY);
    while (removes.size() > MAX_ENTRIES) {
      int i = removes.remove(removes.size() - 1);
      dropOrReject(where + ".remove_headers", i, mutation.getRemoveHeaders(i), tooMany, streamId);
    }
    while (sets.size() > MAX_ENTRIES) {
      int i = sets.remove(sets.size() - 1);
      dropOrReject(where + ".set_headers", i, setKey(mutation, i), tooMany, streamId);
    }
    if (sizeLimited) {
      long size = mutation.getUnknownFields().getSerializedSize();
      for (int i : removes) {
        size += CodedOutputStream.computeStringSize(2, mutation.getRemoveHeaders(i));
      }
      for (int i : sets) {
        size += CodedOutputStream.computeMessageSize(1, mutation.getSetHeaders(i));
      }
      // Set entries go first: a removal is small and often guards something sensitive.
      HeaderRules.Violation tooBig =
          new HeaderRules.Violation(HeaderRules.Rule.SIZE, "does not fit; " + TOO_BIG);
      while (size > MAX_SERVICE_EXTENSIONS_BYTES && !sets.isEmpty()) {
        int i = sets.remove(sets.size() - 1);
        size -= CodedOutputStream.computeMessageSize(1, mutation.getSetHeaders(i));
        dropOrReject(where + ".set_headers", i, setKey(mutation, i), tooBig, streamId);
      }
      while (size > MAX_SERVICE_EXTENSIONS_BYTES && !removes.isEmpty()) {
        int i = removes.remove(removes.size() - 1);
        size -= CodedOutputStream.computeStringSize(2, mutation.getRemoveHeaders(i));
        dropOrReject(where + ".remove_headers", i, mutation.getRemoveHeaders(i), tooBig, streamId);
      }
    }
    HeaderMutation.Builder out =
        HeaderMutation.newBuilder().setUnknownFields(mutation.getUnknownFields());
    for (int i : sets) {
      out.addSetHeaders(mutation.getSetHeaders(i));
    }
    for (int i : removes) {
      out.addRemoveHeaders(mutation.getRemoveHeaders(i));
    }
    return out.build();
  }

  private static @Nullable String setKey(HeaderMutation mutation, int index) {
    HeaderValueOption option = mutation.getSetHeaders(index);
    return option.hasHeader() ? option.getHeader().getKey() : null;
  }

  private static void rejectCount(String field, int count) {
    if (count > MAX_ENTRIES) {
      throw new IllegalStateException(
          field + ": " + count + " entries; " + TOO_MANY + " (policy REJECT)");
    }
  }

  /** Throws under REJECT; under DROP logs the drop, at warn once per rule and header name. */
  private void dropOrReject(
      String field,
      int index,
      @Nullable String key,
      HeaderRules.Violation violation,
      long streamId) {
    String location = field + "[" + index + "]" + (key == null ? "" : " " + quote(key));
    if (policy == MutationPolicy.REJECT) {
      throw new IllegalStateException(location + ": " + violation.reason() + " (policy REJECT)");
    }
    String id = violation.rule() + " " + (key == null ? "" : quote(Ascii.toLowerCase(key)));
    if (warned.size() < MAX_WARNED && warned.add(id)) {
      logger.warn("[{}] dropped {}: {} (policy DROP)", streamId, location, violation.reason());
    } else {
      logger.debug("[{}] dropped {}: {} (policy DROP)", streamId, location, violation.reason());
    }
  }

  /** Quotes {@code key} for a message: escaped, and cut when long, as it may be malformed. */
  static String quote(String key) {
    int end = Math.min(key.length(), MAX_QUOTED_CHARS);
    StringBuilder out = new StringBuilder(end + 24).append('"');
    for (int i = 0; i < end; i++) {
      char c = key.charAt(i);
      if (c == '"' || c == '\\') {
        out.append('\\').append(c);
      } else if (c < 0x20 || c >= 0x7f) {
        String hex = Integer.toHexString(c);
        out.append("\\u").append("0000", hex.length(), 4).append(hex);
      } else {
        out.append(c);
      }
    }
    out.append('"');
    if (end < key.length()) {
      out.append("... (").append(key.length()).append(" characters)");
    }
    return out.toString();
  }
}
