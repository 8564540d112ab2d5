package dev.extproc.callout.samples.jwt;

import static com.google.common.truth.Truth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.extproc.callout.samples.jwt.JwtVerification.Outcome;
import dev.extproc.callout.samples.jwtauth.TestTokens;
import io.envoyproxy.envoy.config.core.v3.HeaderMap;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The verifier on its own, as an ext_authz sample uses it: typed claims, both header forms, and the
 * outcomes. {@code JwtAuthTest} drives every token rule through the jwt-auth sample.
 */
class JwtVerifierTest {

  private static final Instant NOW = Instant.parse("2026-11-22T12:00:00Z");

  private final JwtVerifier verifier =
      JwtVerifier.newBuilder(TestTokens.publicKey())
          .audience("orders-api")
          .clock(Clock.fixed(NOW, ZoneOffset.UTC))
          .build();

  @Test
  void verify_validToken_claimsInTokenOrderWithJsonTypes() {
    JwtVerification result =
        verifier.verify(
            TestTokens.rs256(
                "{\"sub\":\"alice\",\"iat\":1516239022,\"ratio\":1.5,\"admin\":true,"
                    + "\"roles\":[\"a\",1],\"org\":{\"id\":7},\"nothing\":null,"
                    + "\"aud\":\"orders-api\"}"));

    assertThat(result.outcome()).isEqualTo(Outcome.VALID);
    assertThat(result.isValid()).isTrue();
    Map<String, Object> expected = new LinkedHashMap<>();
    expected.put("sub", "alice");
    expected.put("iat", 1516239022L);
    expected.put("ratio", 1.5);
    expected.put("admin", true);
    expected.put("roles", List.of("a", 1L));
    expected.put("org", Map.of("id", 7L));
    expected.put("nothing", null);
    expected.put("aud", "orders-api");
    assertThat(result.claims()).containsExactlyEntriesIn(expected).inOrder();
    assertThat(new ArrayList<>(result.decodedHeaders()))
        .containsExactly(
            Map.entry("decoded-sub", "alice"),
            Map.entry("decoded-iat", "1516239022"),
            Map.entry("decoded-ratio", "1.5"),
            Map.entry("decoded-admin", "true"),
            Map.entry("decoded-roles", "[\"a\",1]"),
            Map.entry("decoded-org", "{\"id\":7}"),
            Map.entry("decoded-nothing", "null"),
            Map.entry("decoded-aud", "orders-api"))
        .inOrder();
    assertThat(result.toString())
        .isEqualTo("VALID [sub, iat, ratio, admin, roles, org, nothing, aud]");
  }

  @Test
  void verify_invalidToken_noClaims() {
    JwtVerification result = verifier.verify("a.b.c");

    assertThat(result.outcome()).isEqualTo(Outcome.INVALID);
    assertThat(result.isValid()).isFalse();
    assertThat(result.claims()).isEmpty();
    assertThat(result.decodedHeaders()).isEmpty();
    assertThat(result.toString()).isEqualTo("INVALID");
  }

  @Test
  void verifyAuthorization_headersMap_asExtAuthzSendsThem() {
    String token = TestTokens.rs256("{\"sub\":\"x\"}");

    assertThat(verifier.verifyAuthorization(Map.of("Authorization", "Bearer " + token)).outcome())
        .isEqualTo(Outcome.VALID);
    assertThat(verifier.verifyAuthorization(Map.of(":path", "/")).outcome())
        .isEqualTo(Outcome.MISSING);
    assertThat(verifier.verifyAuthorization(Map.of("authorization", "")).outcome())
        .isEqualTo(Outcome.INVALID);
    assertThat(verifier.verifyAuthorization(Map.of("authorization", "Bearer")).outcome())
        .isEqualTo(Outcome.INVALID);
  }

  @Test
  void verifyAuthorization_headerMap_firstAuthorizationHeaderCounts() {
    String token = TestTokens.rs256("{\"sub\":\"x\"}");
    HeaderMap headers =
        HeaderMap.newBuilder()
            .addHeaders(HeaderValue.newBuilder().setKey(":path").setValue("/"))
            .addHeaders(HeaderValue.newBuilder().setKey("authorization").setValue("Bearer nope"))
            .addHeaders(
                HeaderValue.newBuilder().setKey("authorization").setValue("Bearer " + token))
            .build();

    assertThat(verifier.verifyAuthorization(headers).outcome()).isEqualTo(Outcome.INVALID);
    assertThat(verifier.verifyAuthorization(HeaderMap.getDefaultInstance()).outcome())
        .isEqualTo(Outcome.MISSING);
  }

  @Test
  void builder_audience_blankIsRefusedAndShownByAudience() {
    assertThat(
            assertThrows(
                    IllegalArgumentException.class,
                    () -> JwtVerifier.newBuilder(TestTokens.publicKey()).audience(" "))
                .getMessage())
        .isEqualTo("audience: blank (expected: a name such as my-api)");
    assertThat(verifier.audience()).hasValue("orders-api");
    assertThat(JwtVerifier.newBuilder(TestTokens.publicKey()).build().audience()).isEmpty();
    assertThat(verifier.toString()).isEqualTo("JwtVerifier{audience=orders-api}");
  }

  @Test
  void readPublicKey_rejectsWhatIsNotAnRsaPublicKey() {
    assertThat(
            assertThrows(
                    IllegalArgumentException.class,
                    () -> JwtVerifier.readPublicKey("nothing".getBytes(StandardCharsets.US_ASCII)))
                .getMessage())
        .isEqualTo("no '-----BEGIN PUBLIC KEY-----' block found");
    assertThat(
            assertThrows(
                    IllegalArgumentException.class,
                    () ->
                        JwtVerifier.readPublicKey(
                            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"
                                .getBytes(StandardCharsets.US_ASCII)))
                .getMessage())
        .startsWith("not an RSA public key");
    assertThat(TestTokens.publicKey().getModulus().bitLength()).isEqualTo(2048);
  }
}
