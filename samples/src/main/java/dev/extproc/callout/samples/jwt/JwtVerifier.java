package dev.extproc.callout.samples.jwt;

import com.google.errorprone.annotations.CanIgnoreReturnValue;
import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.crypto.RSASSAVerifier;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import dev.extproc.callout.CalloutTools;
import io.envoyproxy.envoy.config.core.v3.HeaderMap;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.X509EncodedKeySpec;
import java.text.ParseException;
import java.time.Clock;
import java.time.Instant;
import java.util.Base64;
import java.util.Date;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.jspecify.annotations.Nullable;

/**
 * Verifies the RS256 JWT of a request's {@code authorization} header. Immutable and thread-safe, so
 * one instance serves every stream.
 *
 * <p>The token is the last space-separated word of the first header whose lower-cased key is {@code
 * authorization}. It is valid when its header says {@code RS256}, its signature verifies with the
 * public key, {@code exp} (if present) is in the future, {@code nbf} (if present) is not, and a
 * token that carries an {@code aud} claim (a string or an array of strings, RFC 7519) names the
 * configured {@linkplain Builder#audience(String) audience}: with no audience configured, a token
 * with {@code aud} is invalid, since it was minted for some other service. A token without {@code
 * aud} is not checked for an audience.
 *
 * <pre>{@code
 * JwtVerifier verifier = JwtVerifier.newBuilder(JwtVerifier.readPublicKey(pem))
 *     .audience("orders-api")
 *     .build();
 * JwtVerification result = verifier.verifyAuthorization(headers.getHeaders());
 * }</pre>
 */
public final class JwtVerifier {

  /** The body of a 401 reply when the request carries no token. */
  public static final String NO_TOKEN = "No Authorization token found.";

  /** The body of a 401 reply when the token does not verify. */
  public static final String INVALID_TOKEN = "Authorization token is invalid.";

  private static final String AUTHORIZATION = "authorization";
  private static final String AUDIENCE_CLAIM = "aud";
  private static final Pattern PUBLIC_KEY =
      Pattern.compile("-----BEGIN PUBLIC KEY-----([^-]*)-----END PUBLIC KEY-----");

  private final RSASSAVerifier verifier;
  private final @Nullable String audience;
  private final Clock clock;

  private JwtVerifier(Builder builder) {
    this.verifier = new RSASSAVerifier(builder.publicKey);
    this.audience = builder.audience;
    this.clock = builder.clock;
  }

  /** Returns a builder for a verifier that checks signatures with {@code publicKey}. */
  public static Builder newBuilder(RSAPublicKey publicKey) {
    return new Builder(publicKey);
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

  /** The audience a token's {@code aud} claim must name; empty when none is configured. */
  public Optional<String> audience() {
    return Optional.ofNullable(audience);
  }

  /**
   * Verifies the token of the first {@code authorization} header (key compared lower-cased, value
   * from {@code raw_value}, falling back to {@code value}), as ext_proc and ext_authz's {@code
   * header_map} carry headers.
   */
  public JwtVerification verifyAuthorization(HeaderMap headers) {
    for (HeaderValue header : headers.getHeadersList()) {
      if (header.getKey().toLowerCase(Locale.ROOT).equals(AUTHORIZATION)) {
        return verifyAuthorizationHeader(CalloutTools.headerValue(header));
      }
    }
    return JwtVerification.missing();
  }

  /**
   * Verifies the token of the first {@code authorization} entry of {@code headers} (key compared
   * lower-cased, in the map's iteration order), as ext_authz's {@code headers} map carries them.
   */
  public JwtVerification verifyAuthorization(Map<String, String> headers) {
    for (Map.Entry<String, String> header : headers.entrySet()) {
      if (header.getKey().toLowerCase(Locale.ROOT).equals(AUTHORIZATION)) {
        return verifyAuthorizationHeader(header.getValue());
      }
    }
    return JwtVerification.missing();
  }

  /**
   * Verifies the token in the value of a present {@code authorization} header: its last
   * space-separated word. An empty or blank value holds no token and is {@linkplain
   * JwtVerification.Outcome#INVALID invalid}, not missing.
   */
  public JwtVerification verifyAuthorizationHeader(String value) {
    String trimmed = value.trim();
    if (trimmed.isEmpty()) {
      return JwtVerification.invalid();
    }
    return verify(trimmed.substring(trimmed.lastIndexOf(' ') + 1));
  }

  /** Verifies a compact token ({@code header.payload.signature}). */
  public JwtVerification verify(String token) {
    try {
      SignedJWT jwt = SignedJWT.parse(token);
      if (!JWSAlgorithm.RS256.equals(jwt.getHeader().getAlgorithm()) || !jwt.verify(verifier)) {
        return JwtVerification.invalid();
      }
      // Checks that exp and nbf are numbers and aud a string or an array of strings.
      JWTClaimsSet claims = jwt.getJWTClaimsSet();
      Map<String, @Nullable Object> payload = jwt.getPayload().toJSONObject();
      if (payload == null || !isCurrent(claims) || !isForUs(claims, payload)) {
        return JwtVerification.invalid();
      }
      return JwtVerification.valid(payload);
    } catch (ParseException | JOSEException | IllegalStateException e) {
      return JwtVerification.invalid();
    }
  }

  private boolean isCurrent(JWTClaimsSet claims) {
    Instant now = clock.instant();
    Instant expires = instant(claims.getExpirationTime());
    Instant notBefore = instant(claims.getNotBeforeTime());
    return (expires == null || now.isBefore(expires))
        && (notBefore == null || !now.isBefore(notBefore));
  }

  /** Whether a token that carries {@code aud} (even null or empty) names our audience. */
  private boolean isForUs(JWTClaimsSet claims, Map<String, @Nullable Object> payload) {
    if (!payload.containsKey(AUDIENCE_CLAIM)) {
      return true;
    }
    return audience != null && claims.getAudience().contains(audience);
  }

  @SuppressWarnings("JavaUtilDate") // nimbus returns java.util.Date
  private static @Nullable Instant instant(@Nullable Date date) {
    return date == null ? null : date.toInstant();
  }

  /** Shows the audience; never key material. */
  @Override
  public String toString() {
    return "JwtVerifier{audience=" + audience + "}";
  }

  /** Builds a {@link JwtVerifier}; get one from {@link JwtVerifier#newBuilder}. */
  public static final class Builder {
    private final RSAPublicKey publicKey;
    private @Nullable String audience;
    private Clock clock = Clock.systemUTC();

    private Builder(RSAPublicKey publicKey) {
      this.publicKey = Objects.requireNonNull(publicKey, "publicKey");
    }

    /**
     * The audience a token's {@code aud} claim must name, if it has one. Without it, tokens that
     * carry {@code aud} are invalid.
     *
     * @return this
     * @throws IllegalArgumentException for a blank audience
     */
    @CanIgnoreReturnValue
    public Builder audience(String audience) {
      if (audience.isBlank()) {
        throw new IllegalArgumentException("audience: blank (expected: a name such as my-api)");
      }
      this.audience = audience;
      return this;
    }

    /**
     * The clock {@code exp} and {@code nbf} are compared with; the system's UTC clock by default.
     *
     * @return this
     */
    @CanIgnoreReturnValue
    public Builder clock(Clock clock) {
      this.clock = Objects.requireNonNull(clock, "clock");
      return this;
    }

    /** Returns the verifier. */
    public JwtVerifier build() {
      return new JwtVerifier(this);
    }
  }
}
