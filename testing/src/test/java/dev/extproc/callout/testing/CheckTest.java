package dev.extproc.callout.testing;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.checkRequest;
import static dev.extproc.callout.testing.CalloutTester.headers;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.ByteString;
import com.google.protobuf.Timestamp;
import com.google.rpc.Code;
import dev.extproc.callout.AuthzTools;
import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutTools;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.service.auth.v3.AttributeContext;
import io.envoyproxy.envoy.service.auth.v3.AttributeContext.HttpRequest;
import io.envoyproxy.envoy.service.auth.v3.AttributeContext.Peer;
import io.envoyproxy.envoy.service.auth.v3.CheckRequest;
import io.envoyproxy.envoy.service.auth.v3.CheckResponse;
import io.envoyproxy.envoy.service.auth.v3.DeniedHttpResponse;
import io.envoyproxy.envoy.service.auth.v3.OkHttpResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.type.v3.HttpStatus;
import io.envoyproxy.envoy.type.v3.StatusCode;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** ext_authz through the tester: decisions, failures, the request shape, and ext_proc beside. */
@Timeout(value = 8, unit = SECONDS)
class CheckTest {

  /**
   * Allows {@code /public} adding {@code x-user: alice}; denies the rest with 403; throws on {@code
   * /boom}; contradicts itself on {@code /liar}. Its ext_proc side adds {@code x-hello: world}.
   */
  private static final class Gate extends CalloutServer {
    @Override
    protected @Nullable CheckResponse onCheck(CheckRequest request, CalloutContext ctx) {
      String path = AuthzTools.path(request);
      return switch (path) {
        case "/public" -> AuthzTools.allow().setHeader("x-user", "alice").build();
        case "/boom" -> throw new IllegalStateException("boom");
        case "/liar" ->
            CheckResponse.newBuilder()
                .setStatus(com.google.rpc.Status.newBuilder().setCode(Code.OK_VALUE))
                .setDeniedResponse(DeniedHttpResponse.getDefaultInstance())
                .build();
        case "/free" -> null;
        default -> AuthzTools.deny(403).body("no").build();
      };
    }

    @Override
    protected HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
      return CalloutTools.addHeaderMutation(List.of(Map.entry("x-hello", "world")));
    }
  }

  @Test
  @SuppressWarnings("deprecation") // AuthzTools sets append too, which older Envoys read
  void check_allowed_returnsOkResponseWithTheHeader() {
    try (Gate gate = new Gate();
        CalloutTester tester = CalloutTester.of(gate)) {
      CheckResponse response = tester.check(checkRequest("GET", "/public"));

      assertThat(response)
          .isEqualTo(
              CheckResponse.newBuilder()
                  .setStatus(com.google.rpc.Status.newBuilder().setCode(Code.OK_VALUE))
                  .setOkResponse(
                      OkHttpResponse.newBuilder()
                          .addHeaders(
                              HeaderValueOption.newBuilder()
                                  .setHeader(
                                      HeaderValue.newBuilder().setKey("x-user").setValue("alice"))
                                  .setAppend(com.google.protobuf.BoolValue.of(false))
                                  .setAppendAction(
                                      HeaderValueOption.HeaderAppendAction
                                          .OVERWRITE_IF_EXISTS_OR_ADD)))
                  .build());
    }
  }

  @Test
  void check_nullDecision_allowsWithAnEmptyOkResponse() {
    try (Gate gate = new Gate();
        CalloutTester tester = CalloutTester.of(gate)) {
      CheckResponse response = tester.check(checkRequest("GET", "/free"));

      assertThat(response.getStatus().getCode()).isEqualTo(Code.OK_VALUE);
      assertThat(response.hasDeniedResponse()).isFalse();
    }
  }

  @Test
  void check_denied_returnsDeniedResponse() {
    try (Gate gate = new Gate();
        CalloutTester tester = CalloutTester.of(gate)) {
      CheckResponse response = tester.check(checkRequest("POST", "/admin", "x-a", "b"));

      assertThat(response)
          .isEqualTo(
              CheckResponse.newBuilder()
                  .setStatus(
                      com.google.rpc.Status.newBuilder().setCode(Code.PERMISSION_DENIED_VALUE))
                  .setDeniedResponse(
                      DeniedHttpResponse.newBuilder()
                          .setStatus(HttpStatus.newBuilder().setCode(StatusCode.Forbidden))
                          .setBody("no"))
                  .build());
    }
  }

  @Test
  void check_hookThrows_failsWithInternal() {
    try (Gate gate = new Gate();
        CalloutTester tester = CalloutTester.of(gate)) {
      StatusRuntimeException e =
          assertThrows(
              StatusRuntimeException.class, () -> tester.check(checkRequest("GET", "/boom")));

      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INTERNAL);
    }
  }

  @Test
  void check_contradictingDecision_failsWithInternal() {
    try (Gate gate = new Gate();
        CalloutTester tester = CalloutTester.of(gate)) {
      StatusRuntimeException e =
          assertThrows(
              StatusRuntimeException.class, () -> tester.check(checkRequest("GET", "/liar")));

      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INTERNAL);
    }
  }

  @Test
  void of_calloutWithBothServices_drivesExtProcAndExtAuthz() {
    try (Gate gate = new Gate();
        CalloutTester tester = CalloutTester.of(gate)) {
      CalloutTester.Stream stream = tester.newStream();
      assertThat(Replies.setHeaders(stream.requestHeaders(headers(":path", "/"))))
          .containsExactly("x-hello", "world");
      assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);

      assertThat(tester.check(checkRequest("GET", "/public")).hasOkResponse()).isTrue();
    }
  }

  @Test
  void newBuilder_addService_servesSeveralDefinitions() {
    try (Gate gate = new Gate();
        CalloutTester tester =
            CalloutTester.newBuilder(gate.services().get(0))
                .addService(gate.services().get(1))
                .build()) {
      assertThat(tester.check(checkRequest("GET", "/public")).hasOkResponse()).isTrue();
      assertThat(tester.newStream().requestHeaders(headers(":path", "/")).hasRequestHeaders())
          .isTrue();
    }
  }

  @Test
  void newBuilder_sameServiceTwice_throws() {
    try (Gate gate = new Gate()) {
      CalloutTester.Builder builder = CalloutTester.newBuilder(gate.services().get(0));

      assertThrows(
          IllegalArgumentException.class, () -> builder.addService(gate.services().get(0)));
    }
  }

  @Test
  void forChannel_checksTheServerBehindIt() throws Exception {
    try (Gate gate = new Gate();
        ServedChannel served = new ServedChannel(gate);
        CalloutTester tester = CalloutTester.forChannel(served.channel())) {
      assertThat(tester.check(checkRequest("GET", "/admin")).hasDeniedResponse()).isTrue();
    }
  }

  @Test
  void check_calloutWithoutOnCheck_failsWithUnimplemented() {
    CalloutServer plain =
        new CalloutServer() {
          @Override
          protected HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
            return HeadersResponse.getDefaultInstance();
          }
        };
    try (plain;
        CalloutTester tester = CalloutTester.of(plain)) {
      StatusRuntimeException e =
          assertThrows(StatusRuntimeException.class, () -> tester.check(checkRequest("GET", "/")));

      assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNIMPLEMENTED);
    }
  }

  @Test
  void newCheckRequest_everyOption_fillsTheFieldsEnvoyFills() {
    Instant when = Instant.ofEpochSecond(1_700_000_000L, 5);
    CheckRequest request =
        CalloutTester.newCheckRequest("POST", "/login?next=%2F")
            .headers("Host", "api.example.com", "Content-Length", "6", "X-A", "1", "x-a", "2")
            .scheme("https")
            .id("42")
            .time(when)
            .source("10.1.2.3", 51000)
            .destination("10.0.0.9", 8443)
            .body("user=a")
            .build();

    HttpRequest http = request.getAttributes().getRequest().getHttp();
    String requestId = http.getHeadersOrThrow("x-request-id");
    assertThat(request)
        .isEqualTo(
            CheckRequest.newBuilder()
                .setAttributes(
                    AttributeContext.newBuilder()
                        .setSource(peer("10.1.2.3", 51000))
                        .setDestination(peer("10.0.0.9", 8443))
                        .setRequest(
                            AttributeContext.Request.newBuilder()
                                .setTime(
                                    Timestamp.newBuilder().setSeconds(1_700_000_000L).setNanos(5))
                                .setHttp(
                                    HttpRequest.newBuilder()
                                        .setId("42")
                                        .setMethod("POST")
                                        .setPath("/login?next=%2F")
                                        .setHost("api.example.com")
                                        .setScheme("https")
                                        .setProtocol("HTTP/1.1")
                                        .setSize(6)
                                        .setBody("user=a")
                                        .putHeaders(":authority", "api.example.com")
                                        .putHeaders(":path", "/login?next=%2F")
                                        .putHeaders(":method", "POST")
                                        .putHeaders(":scheme", "https")
                                        .putHeaders("x-forwarded-proto", "https")
                                        .putHeaders("x-request-id", requestId)
                                        .putHeaders("content-length", "6")
                                        .putHeaders("x-a", "1,2")
                                        .putHeaders("x-envoy-auth-partial-body", "false"))))
                .build());
    assertThat(AuthzTools.sourceAddress(request)).hasValue("10.1.2.3");
    assertThat(AuthzTools.header(request, "X-A")).hasValue("1,2");
  }

  @Test
  void checkRequest_defaults_localhostHttpNoBody() {
    CheckRequest request = checkRequest("GET", "/");

    HttpRequest http = request.getAttributes().getRequest().getHttp();
    assertThat(http.getHost()).isEqualTo("localhost");
    assertThat(http.getScheme()).isEqualTo("http");
    assertThat(http.getSize()).isEqualTo(-1);
    assertThat(http.getBody()).isEmpty();
    assertThat(http.getHeadersMap()).doesNotContainKey("x-envoy-auth-partial-body");
    assertThat(request.getAttributes().getSource()).isEqualTo(peer("127.0.0.1", 40000));
    assertThat(request.getAttributes().getDestination()).isEqualTo(peer("127.0.0.1", 10000));
    assertThat(request.getAttributes().getRequest().hasTime()).isTrue();
  }

  @Test
  void newCheckRequest_rawBody_packsAsBytes() {
    CheckRequest request =
        CalloutTester.newCheckRequest("PUT", "/blob")
            .rawBody(ByteString.copyFrom(new byte[] {0, 1}))
            .build();

    HttpRequest http = request.getAttributes().getRequest().getHttp();
    assertThat(http.getRawBody()).isEqualTo(ByteString.copyFrom(new byte[] {0, 1}));
    assertThat(http.getBody()).isEmpty();
    assertThat(AuthzTools.body(request)).isEqualTo(ByteString.copyFrom(new byte[] {0, 1}));
  }

  @Test
  void newCheckRequest_badArguments_throw() {
    assertThrows(IllegalArgumentException.class, () -> checkRequest("GET", "/", ":path", "/other"));
    assertThrows(IllegalArgumentException.class, () -> checkRequest("GET", "/", "odd"));
    assertThrows(IllegalArgumentException.class, () -> checkRequest("GET", "no-slash"));
    assertThrows(
        IllegalArgumentException.class,
        () -> CalloutTester.newCheckRequest("GET", "/").source("10.0.0.1", 70000));
  }

  private static Peer peer(String address, int port) {
    return Peer.newBuilder()
        .setAddress(
            Address.newBuilder()
                .setSocketAddress(
                    SocketAddress.newBuilder().setAddress(address).setPortValue(port)))
        .build();
  }
}
