package dev.extproc.callout.samples.jwtauth;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.headers;
import static dev.extproc.callout.testing.Replies.mutation;
import static dev.extproc.callout.testing.Replies.set;
import static dev.extproc.callout.testing.Replies.sets;

import com.google.protobuf.ByteString;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jose.crypto.RSASSASigner;
import dev.extproc.callout.samples.jwt.JwtVerification;
import dev.extproc.callout.samples.jwt.JwtVerifier;
import dev.extproc.callout.testing.CalloutExtension;
import dev.extproc.callout.testing.Replies;
import io.envoyproxy.envoy.config.core.v3.HeaderMap;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.service.ext_proc.v3.HeaderMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ImmediateResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.type.v3.HttpStatus;
import io.envoyproxy.envoy.type.v3.StatusCode;
import java.nio.charset.StandardCharsets;
import java.security.KeyPairGenerator;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Base64;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Every row of spec/samples.md for {@code jwt-auth}, and every way a token can be bad. */
class JwtAuthTest {

  private static final Instant NOW = Instant.parse("2026-11-22T12:00:00Z");
  private static final long NOW_SECONDS = NOW.getEpochSecond();

  private static final String AUDIENCE = "orders-api";

  /** Without --jwt-audience. */
  @RegisterExtension
  final CalloutExtension<JwtAuth> sample =
      CalloutExtension.plaintext(config -> new JwtAuth(config, verifier().build()));

  /** With --jwt-audience orders-api. */
  @RegisterExtension
  final CalloutExtension<JwtAuth> withAudience =
      CalloutExtension.plaintext(
          config -> new JwtAuth(config, verifier().audience(AUDIENCE).build()));

  private static JwtVerifier.Builder verifier() {
    return JwtVerifier.newBuilder(TestTokens.publicKey()).clock(Clock.fixed(NOW, ZoneOffset.UTC));
  }

  private ProcessingResponse replyFor(String authorizationKey, String value) {
    return replyFor(sample, authorizationKey, value);
  }

  private static ProcessingResponse replyFor(
      CalloutExtension<JwtAuth> server, String authorizationKey, String value) {
    return server.newStream().requestHeaders(headers(":path", "/", authorizationKey, value));
  }

  private static ProcessingResponse valid(String... decoded) {
    HeaderMutation.Builder mutation = HeaderMutation.newBuilder();
    for (int i = 0; i < decoded.length; i += 2) {
      mutation.addSetHeaders(set(decoded[i], decoded[i + 1]));
    }
    return Replies.requestHeaders(mutation.build(), true);
  }

  private static ProcessingResponse unauthorized(String body) {
    return ProcessingResponse.newBuilder()
        .setImmediateResponse(
            ImmediateResponse.newBuilder()
                .setStatus(HttpStatus.newBuilder().setCode(StatusCode.Unauthorized))
                .setHeaders(mutation(sets(set("www-authenticate", "Bearer"))))
                .setBody(ByteString.copyFromUtf8(body)))
        .build();
  }

  @Test
  void validToken_decodedClaimsInTokenOrder_thenClearRouteCache() throws Exception {
    String token =
        TestTokens.rs256(
            "{\"sub\":\"1234567890\",\"name\":\"John Doe\",\"admin\":true,\"iat\":1516239022,"
                + "\"exp\":"
                + (NOW_SECONDS + 60)
                + ",\"ratio\":1.5,\"roles\":[\"a\",\"b\"],\"verified\":false}");

    assertThat(replyFor("authorization", "Bearer " + token))
        .isEqualTo(
            Replies.requestHeaders(
                HeaderMutation.newBuilder()
                    .addSetHeaders(set("decoded-sub", "1234567890"))
                    .addSetHeaders(set("decoded-name", "John Doe"))
                    .addSetHeaders(set("decoded-admin", "true"))
                    .addSetHeaders(set("decoded-iat", "1516239022"))
                    .addSetHeaders(set("decoded-exp", String.valueOf(NOW_SECONDS + 60)))
                    .addSetHeaders(set("decoded-ratio", "1.5"))
                    .addSetHeaders(set("decoded-roles", "[\"a\",\"b\"]"))
                    .addSetHeaders(set("decoded-verified", "false"))
                    .build(),
                true));
  }

  @Test
  void validToken_claimsThatCannotBeHeaders_areLeftOut() {
    // Found by the fuzz test: each of these made the reply one Envoy rejects (INTERNAL before).
    String token =
        TestTokens.rs256(
            "{\"sub\":\"x\",\"bad name\":\"v\",\"\":\"empty\",\"caf\u00e9\":\"v\","
                + "\"multi\":\"a\\nb\",\"nul\":\"a\\u0000b\",\"long\":\""
                + "x".repeat(16385)
                + "\",\"ok\":\"y\"}");

    assertThat(replyFor("authorization", "Bearer " + token))
        .isEqualTo(
            Replies.requestHeaders(
                mutation(sets(set("decoded-sub", "x"), set("decoded-ok", "y"))), true));
  }

  @Test
  void validToken_claimsAfterTheHundredth_areLeftOut() {
    StringBuilder claims = new StringBuilder("{");
    HeaderMutation.Builder expected = HeaderMutation.newBuilder();
    for (int i = 0; i < JwtVerification.MAX_CLAIMS + 5; i++) {
      claims.append(i == 0 ? "" : ",").append("\"c").append(i).append("\":").append(i);
      if (i < JwtVerification.MAX_CLAIMS) {
        expected.addSetHeaders(set("decoded-c" + i, String.valueOf(i)));
      }
    }
    String token = TestTokens.rs256(claims.append('}').toString());

    assertThat(replyFor("authorization", "Bearer " + token))
        .isEqualTo(Replies.requestHeaders(expected.build(), true));
  }

  @Test
  void headerKeyAnyCase_lastWordIsTheToken() throws Exception {
    String token = TestTokens.rs256("{\"sub\":\"x\"}");
    ProcessingResponse expected =
        Replies.requestHeaders(mutation(sets(set("decoded-sub", "x"))), true);

    assertThat(replyFor("Authorization", "Bearer " + token)).isEqualTo(expected);
    assertThat(replyFor("AUTHORIZATION", token)).isEqualTo(expected);
    assertThat(replyFor("authorization", "Bearer  extra " + token)).isEqualTo(expected);
  }

  @Test
  void tokenOnlyInLegacyValue_isRead() throws Exception {
    HttpHeaders legacy =
        HttpHeaders.newBuilder()
            .setHeaders(
                HeaderMap.newBuilder()
                    .addHeaders(
                        HeaderValue.newBuilder()
                            .setKey("authorization")
                            .setValue("Bearer " + TestTokens.rs256("{\"sub\":\"y\"}"))))
            .build();

    assertThat(sample.newStream().requestHeaders(legacy))
        .isEqualTo(Replies.requestHeaders(mutation(sets(set("decoded-sub", "y"))), true));
  }

  @Test
  void missingHeader_401NoToken() {
    assertThat(sample.newStream().requestHeaders(headers(":path", "/")))
        .isEqualTo(unauthorized("No Authorization token found."));
    assertThat(withAudience.newStream().requestHeaders(headers(":path", "/")))
        .isEqualTo(unauthorized("No Authorization token found."));
  }

  @Test
  void headerPresentButHoldingNoToken_401Invalid() {
    for (String value : new String[] {"", " ", "   ", "Bearer", "Bearer ", "Bearer  "}) {
      assertWithMessage("authorization: '%s'", value)
          .that(replyFor("authorization", value))
          .isEqualTo(unauthorized("Authorization token is invalid."));
    }
    // Also when only the legacy value field is there, and empty.
    HttpHeaders emptyLegacy =
        HttpHeaders.newBuilder()
            .setHeaders(
                HeaderMap.newBuilder()
                    .addHeaders(HeaderValue.newBuilder().setKey("authorization").setValue("")))
            .build();
    assertThat(sample.newStream().requestHeaders(emptyLegacy))
        .isEqualTo(unauthorized("Authorization token is invalid."));
  }

  @Test
  void audience_tokenWithoutAud_isValidWithOrWithoutTheFlag() {
    String token = TestTokens.rs256("{\"sub\":\"x\"}");

    assertThat(replyFor("authorization", "Bearer " + token)).isEqualTo(valid("decoded-sub", "x"));
    assertThat(replyFor(withAudience, "authorization", "Bearer " + token))
        .isEqualTo(valid("decoded-sub", "x"));
  }

  @Test
  void audience_namingTheConfiguredOne_asStringOrInArray_isValid() {
    String string = TestTokens.rs256("{\"sub\":\"x\",\"aud\":\"orders-api\"}");
    String array = TestTokens.rs256("{\"sub\":\"x\",\"aud\":[\"billing\",\"orders-api\"]}");

    assertThat(replyFor(withAudience, "authorization", "Bearer " + string))
        .isEqualTo(valid("decoded-sub", "x", "decoded-aud", "orders-api"));
    assertThat(replyFor(withAudience, "authorization", "Bearer " + array))
        .isEqualTo(valid("decoded-sub", "x", "decoded-aud", "[\"billing\",\"orders-api\"]"));
  }

  @Test
  void audience_otherOrMalformed_401Invalid() {
    for (String aud :
        new String[] {
          "\"billing\"",
          "[\"billing\",\"shipping\"]",
          "[]",
          "\"\"",
          "\"ORDERS-API\"",
          "\"orders-api \"",
          "null",
          "42",
          "{\"orders-api\":true}",
          "[\"orders-api\",42]",
        }) {
      String token = TestTokens.rs256("{\"sub\":\"x\",\"aud\":" + aud + "}");
      assertWithMessage("aud %s", aud)
          .that(replyFor(withAudience, "authorization", "Bearer " + token))
          .isEqualTo(unauthorized("Authorization token is invalid."));
    }
  }

  @Test
  void audience_anyAudWithoutTheFlag_401Invalid() {
    // A token minted for some service: without --jwt-audience none is ours.
    for (String aud : new String[] {"\"orders-api\"", "[\"orders-api\"]", "[]"}) {
      String token = TestTokens.rs256("{\"sub\":\"x\",\"aud\":" + aud + "}");
      assertWithMessage("aud %s", aud)
          .that(replyFor("authorization", "Bearer " + token))
          .isEqualTo(unauthorized("Authorization token is invalid."));
    }
  }

  @Test
  void badTokens_401Invalid() throws Exception {
    KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
    generator.initialize(2048);
    String otherKey =
        TestTokens.sign(
            new RSASSASigner(generator.generateKeyPair().getPrivate()),
            JWSAlgorithm.RS256,
            "{\"sub\":\"x\"}");
    String hs256 =
        TestTokens.sign(new MACSigner(new byte[32]), JWSAlgorithm.HS256, "{\"sub\":\"x\"}");
    String rs512 =
        TestTokens.sign(
            new RSASSASigner(TestTokens.privateKey()), JWSAlgorithm.RS512, "{\"sub\":\"x\"}");
    String valid = TestTokens.rs256("{\"sub\":\"x\"}");
    String[] parts = valid.split("\\.", -1);
    String none =
        Base64.getUrlEncoder()
                .withoutPadding()
                .encodeToString("{\"alg\":\"none\"}".getBytes(StandardCharsets.UTF_8))
            + "."
            + parts[1]
            + ".";
    String tampered =
        parts[0]
            + "."
            + TestTokens.rs256("{\"sub\":\"admin\"}").split("\\.", -1)[1]
            + "."
            + parts[2];

    for (String token :
        new String[] {
          "garbage",
          "a.b.c",
          otherKey,
          hs256,
          rs512,
          none,
          tampered,
          TestTokens.rs256("{\"sub\":\"x\",\"exp\":" + (NOW_SECONDS - 1) + "}"),
          TestTokens.rs256("{\"sub\":\"x\",\"exp\":" + NOW_SECONDS + "}"),
          TestTokens.rs256("{\"sub\":\"x\",\"nbf\":" + (NOW_SECONDS + 1) + "}"),
          TestTokens.rs256("{\"sub\":\"x\",\"exp\":\"tomorrow\"}"),
        }) {
      assertThat(replyFor("authorization", "Bearer " + token))
          .isEqualTo(unauthorized("Authorization token is invalid."));
    }
  }

  @Test
  void notBeforeReached_andExpiryAhead_areValid() throws Exception {
    assertThat(
            replyFor(
                "authorization",
                "Bearer "
                    + TestTokens.rs256(
                        "{\"nbf\":" + NOW_SECONDS + ",\"exp\":" + (NOW_SECONDS + 1) + "}")))
        .isEqualTo(
            Replies.requestHeaders(
                mutation(
                    sets(
                        set("decoded-nbf", String.valueOf(NOW_SECONDS)),
                        set("decoded-exp", String.valueOf(NOW_SECONDS + 1)))),
                true));
  }
}
