package dev.extproc.callout.samples.blockip;

import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;

import com.google.protobuf.BoolValue;
import com.google.protobuf.ByteString;
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
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The {@code block-ip} row of spec/samples.md, over a real plaintext socket: each decision compared
 * field by field with the {@code CheckResponse} Envoy (or a gRPC client) gets.
 */
class BlockIpTest {

  @RegisterExtension
  static final CalloutExtension<BlockIp> callout = CalloutExtension.plaintext(BlockIp::new);

  private ManagedChannel channel;
  private AuthorizationGrpc.AuthorizationBlockingStub authz;

  @BeforeEach
  void connect() {
    InetSocketAddress address = callout.callout().plaintextAddress().orElseThrow();
    channel =
        Grpc.newChannelBuilderForAddress(
                address.getHostString(), address.getPort(), InsecureChannelCredentials.create())
            .build();
    authz = AuthorizationGrpc.newBlockingStub(channel);
  }

  @AfterEach
  void disconnect() throws InterruptedException {
    channel.shutdownNow();
    channel.awaitTermination(10, TimeUnit.SECONDS);
  }

  private CheckResponse check(CheckRequest request) {
    return authz.withDeadlineAfter(10, TimeUnit.SECONDS).check(request);
  }

  /** A request as Envoy sends it by default: headers in the {@code headers} map. */
  private static CheckRequest envoyRequest(String forwardedFor) {
    return request(
        AttributeContext.HttpRequest.newBuilder()
            .setMethod("GET")
            .setPath("/")
            .putHeaders(":path", "/")
            .putHeaders(BlockIp.FORWARDED_FOR, forwardedFor));
  }

  private static CheckRequest request(AttributeContext.HttpRequest.Builder http) {
    return CheckRequest.newBuilder()
        .setAttributes(
            AttributeContext.newBuilder()
                .setRequest(AttributeContext.Request.newBuilder().setHttp(http)))
        .build();
  }

  @SuppressWarnings("deprecation") // append: read by Envoy before append_action
  private static HeaderValueOption allowedHeader(String value) {
    return HeaderValueOption.newBuilder()
        .setHeader(HeaderValue.newBuilder().setKey("x-client-ip-allowed").setValue(value))
        .setAppend(BoolValue.of(false))
        .setAppendAction(HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD)
        .build();
  }

  private static final CheckResponse ALLOW =
      CheckResponse.newBuilder()
          .setStatus(com.google.rpc.Status.newBuilder().setCode(Status.Code.OK.value()))
          .setOkResponse(OkHttpResponse.newBuilder().addHeaders(allowedHeader("true")))
          .build();

  private static final CheckResponse DENY =
      CheckResponse.newBuilder()
          .setStatus(
              com.google.rpc.Status.newBuilder().setCode(Status.Code.PERMISSION_DENIED.value()))
          .setDeniedResponse(
              DeniedHttpResponse.newBuilder()
                  .setStatus(HttpStatus.newBuilder().setCode(StatusCode.Forbidden))
                  .addHeaders(allowedHeader("false")))
          .build();

  @ParameterizedTest
  @ValueSource(
      strings = {
        "203.0.113.7",
        "203.0.113.7, 10.0.0.5", // only the first entry, the client, counts
        "  192.0.2.1  ,10.0.0.1", // trimmed
        "10.0.1.5", // just outside 10.0.0.0/24
        "9.255.255.255",
        "2001:db8::1",
        "::1",
        "::ffff:192.0.2.1"
      })
  void check_publicOrOutsideTheBlockedRange_allows(String forwardedFor) {
    assertThat(check(envoyRequest(forwardedFor))).isEqualTo(ALLOW);
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "10.0.0.0",
        "10.0.0.5",
        "10.0.0.255",
        " 10.0.0.5 , 203.0.113.7",
        "::ffff:10.0.0.5" // the IPv4-mapped form of a blocked address
      })
  void check_addressInsideTenZeroZeroSlash24_denies(String forwardedFor) {
    assertThat(check(envoyRequest(forwardedFor))).isEqualTo(DENY);
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "",
        " , 203.0.113.7", // an empty first entry
        "localhost", // a host name is never looked up
        "example.com",
        "203.0.113",
        "203.0.113.256",
        "010.0.0.5", // leading zeros: octal to some parsers, so no address
        "[2001:db8::1]",
        "2001:db8::1:80:1:2:3:4",
        "fe80::1%eth0", // a zone index names a local interface
        "203.0.113.7:443",
        "unknown"
      })
  void check_firstEntryNotAnAddress_denies(String forwardedFor) {
    assertThat(check(envoyRequest(forwardedFor))).isEqualTo(DENY);
  }

  @Test
  void check_noForwardedForHeader_denies() {
    CheckRequest request =
        request(
            AttributeContext.HttpRequest.newBuilder()
                .setMethod("GET")
                .setPath("/")
                .putHeaders(":path", "/")
                .putHeaders("x-real-ip", "203.0.113.7"));

    assertThat(check(request)).isEqualTo(DENY);
  }

  @Test
  void check_emptyRequest_denies() {
    assertThat(check(CheckRequest.getDefaultInstance())).isEqualTo(DENY);
  }

  /**
   * A request as grpc-java's xDS ext_authz client filter (grpc-xds 1.85.1) sends it: {@code
   * request.time} and {@code request.http} only, with method POST, the gRPC path, size -1, protocol
   * HTTP/2 and the call's own metadata in {@code header_map}, each value in {@code raw_value}; no
   * {@code headers} map, no pseudo-headers, no peer addresses.
   */
  private static CheckRequest grpcClientRequest(String forwardedFor) {
    return request(
        AttributeContext.HttpRequest.newBuilder()
            .setMethod("POST")
            .setPath("/grpc.health.v1.Health/Check")
            .setSize(-1)
            .setProtocol("HTTP/2")
            .setHeaderMap(
                HeaderMap.newBuilder()
                    .addHeaders(
                        HeaderValue.newBuilder()
                            .setKey(BlockIp.FORWARDED_FOR)
                            .setRawValue(ByteString.copyFromUtf8(forwardedFor)))));
  }

  @Test
  void check_headerMapRawValueAsGrpcJavaSendsIt_decidesTheSame() {
    assertThat(check(grpcClientRequest("198.51.100.1"))).isEqualTo(ALLOW);
    assertThat(check(grpcClientRequest("2001:db8::7, 10.0.0.5"))).isEqualTo(ALLOW);
    assertThat(check(grpcClientRequest("10.0.0.5"))).isEqualTo(DENY);
    assertThat(check(grpcClientRequest("not-an-ip"))).isEqualTo(DENY);
  }

  @Test
  void check_headerMapValueAndMixedCaseKey_isRead() {
    CheckRequest request =
        request(
            AttributeContext.HttpRequest.newBuilder()
                .setHeaderMap(
                    HeaderMap.newBuilder()
                        .addHeaders(
                            HeaderValue.newBuilder()
                                .setKey("X-Forwarded-For")
                                .setValue("10.0.0.9"))));

    assertThat(check(request)).isEqualTo(DENY);
  }
}
