package dev.extproc.callout.samples.jwtauth;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.crypto.RSASSAVerifier;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.CalloutTools;
import dev.extproc.callout.samples.Json;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ImmediateResponse;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.X509EncodedKeySpec;
import java.text.ParseException;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * Lets through only requests that carry a valid RS256 JWT, and tells the upstream its claims.
 *
 * <p>The token is the last space-separated word of the first {@code authorization} header (key
 * compared case-insensitively). A valid token (RS256 signature by the configured public key, {@code
 * exp} in the future and {@code nbf} in the past when present) adds one {@code decoded-<claim>}
 * header per claim, in the token's order, and clears the route cache; claims that cannot be headers
 * (a name that is not an HTTP token, NUL, CR or LF in the value, over 16 KiB, past the 100th) are
 * left out, since Envoy would fail the request on them. A missing or invalid token gets an HTTP 401
 * immediate response with {@code www-authenticate: Bearer}: the request never reaches the upstream,
 * even behind a load balancer that fails open.
 */
public final class JwtAuth extends CalloutServer {

  /** The body of the 401 reply when no token is present. */
  public static final String MISSING = "No Authorization token found.";

  /** The body of the 401 reply when the token does not verify. */
  public static final String INVALID = "Authorization token is invalid.";

  /** What each forwarded claim's header name starts with. */
  public static final String PREFIX = "decoded-";

  /**
   * The most claims forwarded: Envoy fails a request whose reply sets more headers than its {@code
   * max_headers_count} (100 by default).
   */
  public static final int MAX_CLAIMS = 100;

  // The ext_proc API's limit on a header key or value, in bytes.
  private static final int MAX_HEADER_BYTES = 16384;
  private static final String TOKEN_SYMBOLS = "!#$%&'*+-.^_`|~";

  private static final Pattern PUBLIC_KEY =
      Pattern.compile("-----BEGIN PUBLIC KEY-----([^-]*)-----END PUBLIC KEY-----");
  private static final String TEST_KEY = "test-public-key.pem";

  private final RSASSAVerifier verifier;
  private final Clock clock;

  /** Creates the sample verifying tokens with {@code publicKey}. */
  public JwtAuth(CalloutServerConfig config, RSAPublicKey publicKey) {
    this(config, publicKey, Clock.systemUTC());
  }

  JwtAuth(CalloutServerConfig config, RSAPublicKey publicKey, Clock clock) {
    super(config);
    this.verifier = new RSASSAVerifier(publicKey);
    this.clock = clock;
  }

  /**
   * Reads an RSA public key from PEM ({@code -----BEGIN PUBLIC KEY-----}, as {@code openssl pkey
   * -pubout} writes it).
   *
   * @throws IllegalArgumentException when it is not one
   */
  public static RSAPublicKey readPublicKey(byte[] pem) {
    Matcher block = PUBLIC_KEY.matcher(new String(pem, StandardCharsets.US_ASCII));
    if (!block.find()) {
      throw new IllegalArgumentException("no '-----BEGIN PUBLIC KEY-----' block found");
    }
    try {
      byte[] der = Base64.getMimeDecoder().decode(block.group(1));
      return (RSAPublicKey)
          KeyFactory.getInstance("RSA").generatePublic(new X509EncodedKeySpec(der));
    } catch (IllegalArgumentException | GeneralSecurityException e) {
      throw new IllegalArgumentException("not an RSA public key: " + e.getMessage(), e);
    }
  }

  /**
   * Returns the bundled public key. FOR TESTS ONLY: its private half is in this repository's test
   * resources, so anyone can sign tokens it accepts.
   */
  public static RSAPublicKey bundledTestKey() {
    try (InputStream in = JwtAuth.class.getResourceAsStream(TEST_KEY)) {
      if (in == null) {
        throw new IllegalStateException("resource " + TEST_KEY + " is missing from the jar");
      }
      return readPublicKey(in.readAllBytes());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  protected @Nullable HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
    String authorization = authorization(headers);
    if (authorization.isBlank()) {
      ctx.respondImmediately(unauthorized(MISSING));
      return null;
    }
    String token = authorization.trim();
    Map<String, Object> claims = verify(token.substring(token.lastIndexOf(' ') + 1));
    if (claims == null) {
      ctx.respondImmediately(unauthorized(INVALID));
      return null;
    }
    List<Map.Entry<String, String>> decoded = new ArrayList<>();
    claims.forEach(
        (name, value) -> {
          String text = Json.text(value);
          if (decoded.size() < MAX_CLAIMS && isHeaderName(name) && isHeaderValue(text)) {
            decoded.add(Map.entry(PREFIX + name, text));
          }
        });
    return CalloutTools.clearRouteCache(CalloutTools.addHeaderMutation(decoded));
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

  private static String authorization(HttpHeaders headers) {
    for (HeaderValue header : headers.getHeaders().getHeadersList()) {
      if (header.getKey().toLowerCase(Locale.ROOT).equals("authorization")) {
        return CalloutTools.headerValue(header);
      }
    }
    return "";
  }

  private static ImmediateResponse unauthorized(String body) {
    return CalloutTools.headerImmediateResponse(
        401, List.of(Map.entry("www-authenticate", "Bearer")), body);
  }

  @SuppressWarnings("JavaUtilDate") // nimbus returns java.util.Date
  private static @Nullable Instant instant(@Nullable Date date) {
    return date == null ? null : date.toInstant();
  }

  /** Returns the token's claims in their order, or null when it does not verify. */
  private @Nullable Map<String, Object> verify(String token) {
    try {
      SignedJWT jwt = SignedJWT.parse(token);
      if (!JWSAlgorithm.RS256.equals(jwt.getHeader().getAlgorithm()) || !jwt.verify(verifier)) {
        return null;
      }
      JWTClaimsSet claims = jwt.getJWTClaimsSet(); // checks that exp and nbf are numbers
      Instant now = clock.instant();
      Instant expires = instant(claims.getExpirationTime());
      Instant notBefore = instant(claims.getNotBeforeTime());
      if ((expires != null && !now.isBefore(expires))
          || (notBefore != null && now.isBefore(notBefore))) {
        return null;
      }
      return jwt.getPayload().toJSONObject();
    } catch (ParseException | JOSEException | IllegalStateException e) {
      return null;
    }
  }
}
