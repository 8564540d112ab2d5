package dev.extproc.callout;

import com.google.common.base.Ascii;
import com.google.common.collect.ImmutableMap;
import com.google.common.collect.ImmutableSet;
import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
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
import java.util.Map;
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
  static final int MAX_HEADER_BYTES = 16384;

  /** Service Extensions' limit on the serialized header mutation of one reply, in bytes. */
  static final int MAX_SERVICE_EXTENSIONS_BYTES = 128 * 1024;

  // Bounds the memory spent remembering what was logged when a hook invents header names.
  private static final int MAX_WARNED = 1024;
  private static final int MAX_QUOTED_CHARS = 64;
  private static final boolean[] NO_DROPS = new boolean[0];

  private static final ImmutableSet<String> ROUTING_HEADERS =
      ImmutableSet.of("host", ":authority", ":method", ":scheme");
  // Envoy's default bootstrap header_prefix; Envoy matches it without a trailing dash.
  private static final String ENVOY_PREFIX = "x-envoy";

  // Google Cloud's never-mutable headers by lower-case name, spelled as its documentation does.
  private static final ImmutableMap<String, String> SERVICE_EXTENSIONS_NAMES =
      ImmutableMap.<String, String>builder()
          .put("x-user-ip", "X-user-IP")
          .put("cdn-loop", "CDN-Loop")
          .put("connection", "connection")
          .put("keep-alive", "keep-alive")
          .put("transfer-encoding", "transfer-encoding")
          .put("te", "te")
          .put("upgrade", "upgrade")
          .put("proxy-connection", "proxy-connection")
          .put("proxy-authenticate", "proxy-authenticate")
          .put("proxy-authorization", "proxy-authorization")
          .put("trailers", "trailers")
          .buildOrThrow();
  private static final ImmutableMap<String, String> SERVICE_EXTENSIONS_PREFIXES =
      ImmutableMap.of(
          "x-forwarded-", "X-Forwarded-*",
          "x-google-", "X-Google-*",
          "x-gfe-", "X-GFE-*",
          "x-amz-", "X-Amz-*");

  private static final boolean[] TOKEN_CHARS = new boolean[128];
  private static final boolean[] AUTHORITY_CHARS = new boolean[128];

  static {
    for (char c = '0'; c <= '9'; c++) {
      TOKEN_CHARS[c] = true;
      AUTHORITY_CHARS[c] = true;
    }
    for (char c = 'a'; c <= 'z'; c++) {
      TOKEN_CHARS[c] = true;
      TOKEN_CHARS[Ascii.toUpperCase(c)] = true;
      AUTHORITY_CHARS[c] = true;
      AUTHORITY_CHARS[Ascii.toUpperCase(c)] = true;
    }
    // RFC 9110 tchar.
    for (char c : "!#$%&'*+-.^_`|~".toCharArray()) {
      TOKEN_CHARS[c] = true;
    }
    // RFC 3986 authority: unreserved, sub-delims, pct-encoded, userinfo and IP-literal delimiters.
    for (char c : "-._~!$&'()*+,;=%:@[]".toCharArray()) {
      AUTHORITY_CHARS[c] = true;
    }
  }

  private static final String TOO_MANY =
      "Envoy fails the request with 500 above max_headers_count, 100 by default";
  private static final String TOO_BIG =
      "Service Extensions allow at most "
          + MAX_SERVICE_EXTENSIONS_BYTES
          + " bytes (128 KiB) of header mutations per reply";

  private static final Violation NO_HEADER =
      new Violation(Rule.NO_HEADER, "no header; Envoy skips the entry");
  private static final Violation EMPTY_KEY =
      new Violation(
          Rule.KEY_SIZE,
          "empty key; the ext_proc API requires 1 to " + MAX_HEADER_BYTES + " bytes");
  private static final Violation EMPTY_REMOVE_KEY =
      new Violation(Rule.KEY_SIZE, "empty key; there is nothing to remove");
  private static final Violation KEY_TOO_LONG =
      new Violation(
          Rule.KEY_SIZE,
          "key longer than " + MAX_HEADER_BYTES + " bytes, the ext_proc API's limit");
  private static final Violation INVALID_SET_KEY =
      new Violation(
          Rule.INVALID_CHARACTER,
          "invalid character in key; Envoy fails the request with 500"
              + " (\"Invalid character in set_headers mutation.\")");
  private static final Violation INVALID_REMOVE_KEY =
      new Violation(
          Rule.INVALID_CHARACTER,
          "invalid character in key; Envoy fails the request with 500"
              + " (\"Invalid character in remove_headers mutation.\")");
  private static final Violation INVALID_VALUE =
      new Violation(
          Rule.INVALID_CHARACTER,
          "NUL, CR or LF in raw_value; Envoy fails the request with 500"
              + " (\"Invalid character in set_headers mutation.\")");
  private static final Violation BOTH_VALUES =
      new Violation(
          Rule.VALUE_FIELDS, "both value and raw_value are set; Envoy fails the request with 500");
  private static final Violation VALUE_ONLY =
      new Violation(
          Rule.VALUE_FIELDS,
          "value without raw_value; Envoy reads only raw_value, so it would set an empty value");
  private static final Violation ROUTING =
      new Violation(
          Rule.ROUTING,
          "Envoy ignores mutations of host, :authority, :method and :scheme"
              + " unless mutation_rules.allow_all_routing is set");
  private static final Violation ENVOY_HEADER =
      new Violation(
          Rule.ENVOY_HEADER,
          "Envoy ignores mutations of x-envoy* headers unless mutation_rules.allow_envoy is set");
  private static final Violation REMOVE_SYSTEM =
      new Violation(
          Rule.REMOVE_SYSTEM,
          "Envoy never removes host or a pseudo-header, whatever mutation_rules say");
  private static final Violation APPEND_SYSTEM =
      new Violation(
          Rule.APPEND_SYSTEM, "Envoy ignores appends to pseudo-headers, which are single-valued");
  private static final Violation BAD_STATUS =
      new Violation(Rule.BAD_VALUE, "Envoy ignores a :status that is not a number of at least 200");
  private static final Violation BAD_AUTHORITY =
      new Violation(
          Rule.BAD_VALUE, "Envoy ignores a host or :authority that is not a valid authority");
  private static final Violation BAD_SCHEME =
      new Violation(Rule.BAD_VALUE, "Envoy ignores a :scheme other than http or https");

  private final MutationPolicy policy;
  private final MutationProfile profile;
  private final ImmutableSet<String> allowedNames;
  private final ImmutableSet<String> allowedPrefixes;
  private final Set<String> warned = ConcurrentHashMap.newKeySet();
  private final AtomicBoolean routeCacheWarned = new AtomicBoolean();

  /** Creates a guard for Envoy's default mutation rules, exempting no header. */
  MutationGuard(MutationPolicy policy, MutationProfile profile) {
    this(policy, profile, Set.of());
  }

  /**
   * Creates a guard; {@code allowedHeaders} names the headers the proxy's {@code mutation_rules}
   * let a callout mutate (such as {@code :authority} with {@code allow_all_routing}); a name ending
   * in {@code *} is a prefix ({@code x-envoy-*} for {@code allow_envoy}). They are exempt only from
   * Envoy's routing-header and {@code x-envoy} rules: no configuration lets Envoy remove {@code
   * host} or a pseudo-header, and Service Extensions' lists are fixed.
   */
  MutationGuard(MutationPolicy policy, MutationProfile profile, Set<String> allowedHeaders) {
    this.policy = policy;
    this.profile = profile;
    ImmutableSet.Builder<String> names = ImmutableSet.builder();
    ImmutableSet.Builder<String> prefixes = ImmutableSet.builder();
    for (String header : allowedHeaders) {
      String name = Ascii.toLowerCase(header);
      if (name.isEmpty() || name.equals("*")) {
        throw new IllegalArgumentException(
            "allowed header: \"" + header + "\" (expected: a header name, or a prefix and *)");
      }
      if (name.endsWith("*")) {
        prefixes.add(name.substring(0, name.length() - 1));
      } else {
        names.add(name);
      }
    }
    this.allowedNames = names.build();
    this.allowedPrefixes = prefixes.build();
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
    return switch (response.getResponseCase()) {
      case REQUEST_HEADERS -> {
        HeadersResponse in = response.getRequestHeaders();
        HeadersResponse out = checkHeaders(in, requestDirection, streamId);
        yield out == in ? response : response.toBuilder().setRequestHeaders(out).build();
      }
      case RESPONSE_HEADERS -> {
        HeadersResponse in = response.getResponseHeaders();
        HeadersResponse out = checkHeaders(in, requestDirection, streamId);
        yield out == in ? response : response.toBuilder().setResponseHeaders(out).build();
      }
      case REQUEST_BODY -> {
        BodyResponse in = response.getRequestBody();
        BodyResponse out = checkBody(in, requestDirection, streamId);
        yield out == in ? response : response.toBuilder().setRequestBody(out).build();
      }
      case RESPONSE_BODY -> {
        BodyResponse in = response.getResponseBody();
        BodyResponse out = checkBody(in, requestDirection, streamId);
        yield out == in ? response : response.toBuilder().setResponseBody(out).build();
      }
      case REQUEST_TRAILERS -> {
        TrailersResponse in = response.getRequestTrailers();
        TrailersResponse out = checkTrailers(in, streamId);
        yield out == in ? response : response.toBuilder().setRequestTrailers(out).build();
      }
      case RESPONSE_TRAILERS -> {
        TrailersResponse in = response.getResponseTrailers();
        TrailersResponse out = checkTrailers(in, streamId);
        yield out == in ? response : response.toBuilder().setResponseTrailers(out).build();
      }
      case IMMEDIATE_RESPONSE -> {
        ImmediateResponse in = response.getImmediateResponse();
        ImmediateResponse out = checkImmediate(in, streamId);
        yield out == in ? response : response.toBuilder().setImmediateResponse(out).build();
      }
      default -> response;
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
      Violation violation = checkRemove(key);
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
      Violation violation = checkSet(option, replacing);
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
    Violation tooMany = new Violation(Rule.COUNT, "past the 100th entry; " + TOO_MANY);
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
      Violation tooBig = new Violation(Rule.SIZE, "does not fit; " + TOO_BIG);
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

  private @Nullable Violation checkRemove(String key) {
    if (key.isEmpty()) {
      return EMPTY_REMOVE_KEY;
    }
    if (!isValidKey(key)) {
      return INVALID_REMOVE_KEY;
    }
    String name = Ascii.toLowerCase(key);
    if (name.charAt(0) == ':' || name.equals("host")) {
      return REMOVE_SYSTEM;
    }
    if (name.startsWith(ENVOY_PREFIX) && !isAllowed(name)) {
      return ENVOY_HEADER;
    }
    return checkServiceExtensions(name);
  }

  private @Nullable Violation checkSet(HeaderValueOption option, boolean replacing) {
    if (!option.hasHeader()) {
      return NO_HEADER;
    }
    HeaderValue header = option.getHeader();
    String key = header.getKey();
    if (key.isEmpty()) {
      return EMPTY_KEY;
    }
    // A valid key is ASCII, so its length in chars is its length in bytes.
    if (key.length() > MAX_HEADER_BYTES) {
      return KEY_TOO_LONG;
    }
    if (!isValidKey(key)) {
      return INVALID_SET_KEY;
    }
    ByteString raw = header.getRawValue();
    if (!header.getValue().isEmpty()) {
      return raw.isEmpty() ? VALUE_ONLY : BOTH_VALUES;
    }
    if (raw.size() > MAX_HEADER_BYTES) {
      return new Violation(
          Rule.VALUE_SIZE,
          "raw_value of "
              + raw.size()
              + " bytes; the ext_proc API allows at most "
              + MAX_HEADER_BYTES);
    }
    if (!isValidValue(raw)) {
      return INVALID_VALUE;
    }
    String name = Ascii.toLowerCase(key);
    // Envoy's own exception: CONTINUE_AND_REPLACE may change :method whatever the rules say.
    if (!(replacing && name.equals(":method"))) {
      Violation violation = checkEnvoySet(name, raw, isAppend(option));
      if (violation != null) {
        return violation;
      }
    }
    return checkServiceExtensions(name);
  }

  // Envoy reads only the deprecated append flag and ignores append_action (protocol.md 5.2).
  @SuppressWarnings("deprecation")
  private static boolean isAppend(HeaderValueOption option) {
    return option.hasAppend() && option.getAppend().getValue();
  }

  private @Nullable Violation checkEnvoySet(String name, ByteString raw, boolean append) {
    boolean allowed = isAllowed(name);
    if (!allowed && ROUTING_HEADERS.contains(name)) {
      return ROUTING;
    }
    if (append && name.charAt(0) == ':') {
      return APPEND_SYSTEM;
    }
    if (!allowed && name.startsWith(ENVOY_PREFIX)) {
      return ENVOY_HEADER;
    }
    return switch (name) {
      case "host", ":authority" -> isValidAuthority(raw) ? null : BAD_AUTHORITY;
      case ":scheme" -> isValidScheme(raw) ? null : BAD_SCHEME;
      case ":status" -> isValidStatus(raw) ? null : BAD_STATUS;
      default -> null;
    };
  }

  private @Nullable Violation checkServiceExtensions(String name) {
    if (profile == MutationProfile.ENVOY) {
      return null;
    }
    if (profile == MutationProfile.SERVICE_EXTENSIONS_TRAFFIC && ROUTING_HEADERS.contains(name)) {
      return new Violation(
          Rule.SERVICE_EXTENSIONS,
          "Service Extensions traffic extensions never let a callout mutate " + name);
    }
    String listed = SERVICE_EXTENSIONS_NAMES.get(name);
    if (listed == null && name.startsWith("x-")) {
      for (Map.Entry<String, String> prefix : SERVICE_EXTENSIONS_PREFIXES.entrySet()) {
        if (name.startsWith(prefix.getKey())) {
          listed = prefix.getValue();
          break;
        }
      }
    }
    return listed == null
        ? null
        : new Violation(
            Rule.SERVICE_EXTENSIONS, "Service Extensions never let a callout mutate " + listed);
  }

  private boolean isAllowed(String name) {
    if (allowedNames.contains(name)) {
      return true;
    }
    for (String prefix : allowedPrefixes) {
      if (name.startsWith(prefix)) {
        return true;
      }
    }
    return false;
  }

  /**
   * Whether Envoy accepts {@code key}: an RFC 9110 token, or {@code :} and a lower-case token (the
   * HTTP/2 rule Envoy applies to pseudo-headers).
   */
  private static boolean isValidKey(String key) {
    if (key.charAt(0) == ':') {
      if (key.length() == 1) {
        return false;
      }
      for (int i = 1; i < key.length(); i++) {
        char c = key.charAt(i);
        if (c >= 128 || !TOKEN_CHARS[c] || Ascii.isUpperCase(c)) {
          return false;
        }
      }
      return true;
    }
    for (int i = 0; i < key.length(); i++) {
      char c = key.charAt(i);
      if (c >= 128 || !TOKEN_CHARS[c]) {
        return false;
      }
    }
    return true;
  }

  /** Whether Envoy accepts {@code value}: anything but NUL, CR and LF. */
  private static boolean isValidValue(ByteString value) {
    for (int i = 0; i < value.size(); i++) {
      byte b = value.byteAt(i);
      if (b == 0 || b == '\r' || b == '\n') {
        return false;
      }
    }
    return true;
  }

  private static boolean isValidAuthority(ByteString value) {
    for (int i = 0; i < value.size(); i++) {
      byte b = value.byteAt(i);
      if (b < 0 || !AUTHORITY_CHARS[b]) {
        return false;
      }
    }
    return true;
  }

  private static boolean isValidScheme(ByteString value) {
    String scheme = value.toStringUtf8();
    return Ascii.equalsIgnoreCase(scheme, "http") || Ascii.equalsIgnoreCase(scheme, "https");
  }

  /** Whether {@code value} is a decimal number of at least 200 that fits Envoy's uint32. */
  private static boolean isValidStatus(ByteString value) {
    if (value.isEmpty() || value.size() > 10) {
      return false;
    }
    long status = 0;
    for (int i = 0; i < value.size(); i++) {
      byte b = value.byteAt(i);
      if (b < '0' || b > '9') {
        return false;
      }
      status = status * 10 + (b - '0');
    }
    return status >= 200 && status <= 0xFFFF_FFFFL;
  }

  /** Throws under REJECT; under DROP logs the drop, at warn once per rule and header name. */
  private void dropOrReject(
      String field, int index, @Nullable String key, Violation violation, long streamId) {
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

  /** The rules, for logging each (rule, header) once. */
  private enum Rule {
    NO_HEADER,
    KEY_SIZE,
    VALUE_SIZE,
    INVALID_CHARACTER,
    VALUE_FIELDS,
    ROUTING,
    ENVOY_HEADER,
    REMOVE_SYSTEM,
    APPEND_SYSTEM,
    BAD_VALUE,
    COUNT,
    SIZE,
    SERVICE_EXTENSIONS
  }

  /** A broken rule and the reason shown for it, which never includes a header's value. */
  private record Violation(Rule rule, String reason) {}
}
