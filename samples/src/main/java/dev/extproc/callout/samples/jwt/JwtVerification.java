package dev.extproc.callout.samples.jwt;

import dev.extproc.callout.samples.Json;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * What {@link JwtVerifier} found: a valid token with its claims, no token, or an invalid one.
 * Immutable.
 */
public final class JwtVerification {

  /** The three outcomes of a verification. */
  public enum Outcome {
    /** The token verified: signature, algorithm, {@code exp}, {@code nbf} and {@code aud}. */
    VALID,
    /** The request carries no {@code authorization} header. */
    MISSING,
    /** An {@code authorization} header is present but holds no token, or a token that fails. */
    INVALID
  }

  /** What each forwarded claim's header name starts with. */
  public static final String PREFIX = "decoded-";

  /**
   * The most claims {@link #decodedHeaders()} forwards: Envoy fails a request whose reply sets more
   * headers than its {@code max_headers_count} (100 by default).
   */
  public static final int MAX_CLAIMS = 100;

  // The ext_proc API's limit on a header key or value, in bytes.
  private static final int MAX_HEADER_BYTES = 16384;
  private static final String TOKEN_SYMBOLS = "!#$%&'*+-.^_`|~";

  private static final JwtVerification MISSING = new JwtVerification(Outcome.MISSING, Map.of());
  private static final JwtVerification INVALID = new JwtVerification(Outcome.INVALID, Map.of());

  private final Outcome outcome;
  private final Map<String, @Nullable Object> claims;

  private JwtVerification(Outcome outcome, Map<String, @Nullable Object> claims) {
    this.outcome = outcome;
    this.claims = claims;
  }

  static JwtVerification missing() {
    return MISSING;
  }

  static JwtVerification invalid() {
    return INVALID;
  }

  static JwtVerification valid(Map<String, @Nullable Object> claims) {
    return new JwtVerification(
        Outcome.VALID, Collections.unmodifiableMap(new LinkedHashMap<>(claims)));
  }

  /** Whether the token was valid, missing or invalid. */
  public Outcome outcome() {
    return outcome;
  }

  /** Whether the token was valid. */
  public boolean isValid() {
    return outcome == Outcome.VALID;
  }

  /**
   * The valid token's claims in the token's order, as JSON gave them: {@code String}, {@code
   * Boolean}, {@code Long} (whole numbers), {@code Double}, {@code List<Object>}, {@code
   * Map<String, Object>}, or null for a JSON {@code null}. Unmodifiable; empty unless {@link
   * #isValid()}.
   */
  public Map<String, @Nullable Object> claims() {
    return claims;
  }

  /**
   * The claims as request headers: one {@code decoded-<claim>} per claim in the token's order, a
   * string as it is and anything else as JSON ({@code true}, {@code 42}, {@code ["a","b"]}). A
   * claim that cannot be a header is left out, since Envoy would fail the request on it: a name
   * that is not an HTTP token (RFC 9110), a value with NUL, CR or LF, a name or value over 16 KiB,
   * any claim after the {@value #MAX_CLAIMS}th. Empty unless {@link #isValid()}.
   */
  public List<Map.Entry<String, String>> decodedHeaders() {
    List<Map.Entry<String, String>> headers = new ArrayList<>();
    claims.forEach(
        (name, value) -> {
          String text = Json.text(value);
          if (headers.size() < MAX_CLAIMS && isHeaderName(name) && isHeaderValue(text)) {
            headers.add(Map.entry(PREFIX + name, text));
          }
        });
    return Collections.unmodifiableList(headers);
  }

  /**
   * Whether {@code decoded-<name>} is a header name (an RFC 9110 token), and short enough. A signed
   * token may name a claim anything; Envoy fails the request on a bad header name.
   */
  static boolean isHeaderName(String name) {
    if (name.isEmpty() || PREFIX.length() + name.length() > MAX_HEADER_BYTES) {
      return false;
    }
    for (int i = 0; i < name.length(); i++) {
      char c = name.charAt(i);
      if (!((c >= 'a' && c <= 'z')
          || (c >= 'A' && c <= 'Z')
          || (c >= '0' && c <= '9')
          || TOKEN_SYMBOLS.indexOf(c) >= 0)) {
        return false;
      }
    }
    return true;
  }

  /** Whether {@code text} can be a header value: no NUL, CR or LF, and short enough. */
  static boolean isHeaderValue(String text) {
    return text.getBytes(StandardCharsets.UTF_8).length <= MAX_HEADER_BYTES
        && text.indexOf('\0') < 0
        && text.indexOf('\r') < 0
        && text.indexOf('\n') < 0;
  }

  /** The outcome and, for a valid token, the claim names; never claim values. */
  @Override
  public String toString() {
    return isValid() ? outcome + " " + claims.keySet() : outcome.toString();
  }
}
