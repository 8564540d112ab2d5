package dev.extproc.callout;

import com.google.common.base.Ascii;
import com.google.common.collect.ImmutableMap;
import com.google.common.collect.ImmutableSet;
import com.google.protobuf.ByteString;
import dev.extproc.callout.CalloutServerConfig.MutationProfile;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import java.util.Map;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * The per-header rules of a {@link MutationProfile}: what Envoy (with its mutation_rules unset, but
 * for the headers declared allowed) and Google Cloud Service Extensions reject or silently ignore
 * in one {@code set_headers} or {@code remove_headers} entry. {@link MutationGuard} walks the
 * replies and applies the policy. Header names are matched case-insensitively; reasons never
 * include a header's value. Immutable and thread-safe.
 */
final class HeaderRules {

  /** The ext_proc API's limit on a header key and on a header value, in bytes. */
  static final int MAX_HEADER_BYTES = 16384;

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

  private final MutationProfile profile;
  private final ImmutableSet<String> allowedNames;
  private final ImmutableSet<String> allowedPrefixes;

  /**
   * Creates the rules of {@code profile}; {@code allowedHeaders} names the headers the proxy's
   * {@code mutation_rules} let a callout mutate (such as {@code :authority} with {@code
   * allow_all_routing}); a name ending in {@code *} is a prefix ({@code x-envoy-*} for {@code
   * allow_envoy}). They are exempt only from Envoy's routing-header and {@code x-envoy} rules: no
   * configuration lets Envoy remove {@code host} or a pseudo-header, and Service Extensions' lists
   * are fixed.
   */
  HeaderRules(MutationProfile profile, Set<String> allowedHeaders) {
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

  /** Returns the rule removing {@code key} breaks, or null. */
  @Nullable Violation checkRemove(String key) {
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

  /**
   * Returns the rule setting {@code option} breaks, or null; {@code replacing} is whether the reply
   * is a CONTINUE_AND_REPLACE, which may change {@code :method}.
   */
  @Nullable Violation checkSet(HeaderValueOption option, boolean replacing) {
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

  /** The rules, for logging each (rule, header) once. */
  enum Rule {
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
  record Violation(Rule rule, String reason) {}
}
