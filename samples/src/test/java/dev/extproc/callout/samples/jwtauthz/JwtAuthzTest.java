package dev.extproc.callout.samples.jwtauthz;

import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;

import com.google.protobuf.BoolValue;
import dev.extproc.callout.samples.jwt.JwtVerifier;
import dev.extproc.callout.samples.jwtauth.TestTokens;
import dev.extproc.callout.testing.CalloutExtension;
import io.envoyproxy.envoy.config.core.v3.HeaderMap;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption.HeaderAppendAction;
import io.envoyproxy.envoy.service.auth.v3.AttributeContext;
import io.envoyproxy.envoy.service.auth.v3.AuthorizationGrpc;
import io.envoyproxy.envoy.service.auth.v3.CheckRequest;
import io.envoyproxy.envoy.service.auth.v3.CheckResponse;
import io.envoyproxy.envoy.service.auth.v3.DeniedHttpResponse;
import io.envoyproxy.envoy.service.auth.v3.OkHttpResponse;
import io.envoyproxy.envoy.type.v3.HttpStatus;
import io.envoyproxy.envoy.type.v3.StatusCode;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Every clause of spec/samples.md for {@code jwt-authz}, over a real plaintext socket with the
 * generated {@code Authorization} stub, comparing each {@code CheckResponse} field by field.
 */
class JwtAuthzTest {

  private static final Instant NOW = Instant.parse("2026-11-22T12:00:00Z");
  private static final long NOW_SECONDS = NOW.getEpochSecond();
  private static final String AUDIENCE = "orders-api";

  /** Without --jwt-audience. */
  @RegisterExtension
  final CalloutExtension<JwtAuthz> sample =
      CalloutExtension.plaintext(config -> new JwtAuthz(config, verifier().build()));

  /** With --jwt-audience orders-api. */
  @RegisterExtension
  final CalloutExtension<JwtAuthz> withAudience =
      CalloutExtension.plaintext(
          config -> new JwtAuthz(config, verifier().audience(AUDIENCE).build()));

  private final List<ManagedChannel> channels = new ArrayList<>();

  private static JwtVerifier.Builder verifier() {
    return JwtVerifier.newBuilder(TestTokens.publicKey()).clock(Clock.fixed(NOW, ZoneOffset.UTC));
  }

  @AfterEach
  void closeChannels() throws InterruptedException {
    for (ManagedChannel channel : channels) {
      channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
    }
  }

  private CheckResponse check(CalloutExtension<JwtAuthz> server, CheckRequest request) {
    InetSocketAddress address = server.callout().plaintextAddress().orElseThrow();
    ManagedChannel channel =
        Grpc.newChannelBuilderForAddress(
                address.getHostString(), address.getPort(), InsecureChannelCredentials.create())
            .build();
    channels.add(channel);
    return AuthorizationGrpc.newBlockingStub(channel)
        .withDeadlineAfter(10, TimeUnit.SECONDS)
        .check(request);
  }

  /** A check as Envoy sends it: headers in the {@code headers} map, lower-case keys. */
  private static CheckRequest envoyCheck(String... keysAndValues) {
    AttributeContext.HttpRequest.Builder http =
        AttributeContext.HttpRequest.newBuilder().setMethod("GET").setPath("/orders");
    for (int i = 0; i < keysAndValues.length; i += 2) {
      http.putHeaders(keysAndValues[i], keysAndValues[i + 1]);
    }
    return request(http);
  }

  /** A check as gRPC's ext_authz client sends it: raw headers in {@code header_map}. */
  private static CheckRequest rawHeadersCheck(String key, String value) {
    HeaderMap headers =
        HeaderMap.newBuilder()
            .addHeaders(HeaderValue.newBuilder().setKey(":path").setRawValue(bytes("/orders")))
            .addHeaders(HeaderValue.newBuilder().setKey(key).setRawValue(bytes(value)))
            .build();
    return request(
        AttributeContext.HttpRequest.newBuilder().setMethod("POST").setHeaderMap(headers));
  }

  private static com.google.protobuf.ByteString bytes(String text) {
    return com.google.protobuf.ByteString.copyFrom(text, StandardCharsets.UTF_8);
  }

  private static CheckRequest request(AttributeContext.HttpRequest.Builder http) {
    return CheckRequest.newBuilder()
        .setAttributes(
            AttributeContext.newBuilder()
                .setRequest(AttributeContext.Request.newBuilder().setHttp(http)))
        .build();
  }

  /** A header option that replaces the header, in both of the fields Envoy reads. */
  private static HeaderValueOption overwrite(String key, String value) {
    @SuppressWarnings("deprecation") // append: Envoy's ext_authz client reads it first
    HeaderValueOption option =
        HeaderValueOption.newBuilder()
            .setHeader(HeaderValue.newBuilder().setKey(key).setValue(value))
            .setAppend(BoolValue.of(false))
            .setAppendAction(HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD)
            .build();
    return option;
  }

  private static CheckResponse allowed(String... decoded) {
    OkHttpResponse.Builder ok = OkHttpResponse.newBuilder();
    for (int i = 0; i < decoded.length; i += 2) {
      ok.addHeaders(overwrite(decoded[i], decoded[i + 1]));
    }
    return CheckResponse.newBuilder()
        .setStatus(com.google.rpc.Status.newBuilder().setCode(Status.Code.OK.value()))
        .setOkResponse(ok)
        .build();
  }

  private static CheckResponse unauthenticated(String body) {
    return CheckResponse.newBuilder()
        .setStatus(
            com.google.rpc.Status.newBuilder()
                .setCode(Status.Code.UNAUTHENTICATED.value())
                .setMessage(body))
        .setDeniedResponse(
            DeniedHttpResponse.newBuilder()
                .setStatus(HttpStatus.newBuilder().setCode(StatusCode.Unauthorized))
                .addHeaders(overwrite("www-authenticate", "Bearer"))
                .setBody(body))
        .build();
  }

  @Test
  void validToken_allowsWithOneUpstreamHeaderPerClaim_inTokenOrder() {
    String token =
        TestTokens.rs256(
            "{\"sub\":\"1234567890\",\"name\":\"John Doe\",\"admin\":true,\"iat\":1516239022,"
                + "\"exp\":"
                + (NOW_SECONDS + 60)
                + "}");

    assertThat(check(sample, envoyCheck(":path", "/orders", "authorization", "Bearer " + token)))
        .isEqualTo(
            allowed(
                "decoded-sub", "1234567890",
                "decoded-name", "John Doe",
                "decoded-admin", "true",
                "decoded-iat", "1516239022",
                "decoded-exp", String.valueOf(NOW_SECONDS + 60)));
  }

  @Test
  void validToken_inGrpcClientsRawHeaderMap_isReadToo() {
    String token = TestTokens.rs256("{\"sub\":\"alice\"}");

    assertThat(check(sample, rawHeadersCheck("Authorization", "Bearer " + token)))
        .isEqualTo(allowed("decoded-sub", "alice"));
  }

  @Test
  void missingHeader_deniesUnauthenticated_noTokenFound() {
    CheckResponse expected = unauthenticated("No Authorization token found.");

    assertThat(check(sample, envoyCheck(":path", "/orders"))).isEqualTo(expected);
    assertThat(check(sample, rawHeadersCheck("x-other", "Bearer x"))).isEqualTo(expected);
  }

  @Test
  void emptyOrBlankHeader_deniesUnauthenticated_tokenInvalid() {
    CheckResponse expected = unauthenticated("Authorization token is invalid.");

    assertThat(check(sample, envoyCheck("authorization", ""))).isEqualTo(expected);
    assertThat(check(sample, envoyCheck("authorization", "   "))).isEqualTo(expected);
    assertThat(check(sample, rawHeadersCheck("authorization", ""))).isEqualTo(expected);
  }

  @Test
  void invalidToken_deniesUnauthenticated_tokenInvalid() {
    CheckResponse expected = unauthenticated("Authorization token is invalid.");
    String expired = TestTokens.rs256("{\"sub\":\"alice\",\"exp\":" + (NOW_SECONDS - 1) + "}");
    String notYet = TestTokens.rs256("{\"sub\":\"alice\",\"nbf\":" + (NOW_SECONDS + 60) + "}");
    String tampered = TestTokens.rs256("{\"sub\":\"alice\"}").replaceFirst("\\.[^.]+\\.", ".e30.");

    for (String value :
        List.of(
            "Bearer nope",
            "Bearer " + expired,
            "Bearer " + notYet,
            "Bearer " + tampered,
            "Bearer")) {
      assertThat(check(sample, envoyCheck("authorization", value))).isEqualTo(expected);
    }
  }

  @Test
  void audience_tokenForAnotherService_isInvalid_tokenForOurs_isAllowed() {
    String forOthers = TestTokens.rs256("{\"sub\":\"alice\",\"aud\":\"billing-api\"}");
    String forUs = TestTokens.rs256("{\"sub\":\"alice\",\"aud\":\"" + AUDIENCE + "\"}");
    CheckResponse invalid = unauthenticated("Authorization token is invalid.");

    assertThat(check(withAudience, envoyCheck("authorization", "Bearer " + forOthers)))
        .isEqualTo(invalid);
    // Without --jwt-audience, any token that names an audience is for some other service.
    assertThat(check(sample, envoyCheck("authorization", "Bearer " + forUs))).isEqualTo(invalid);
    assertThat(check(withAudience, envoyCheck("authorization", "Bearer " + forUs)))
        .isEqualTo(allowed("decoded-sub", "alice", "decoded-aud", AUDIENCE));
  }
}
