package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.ByteString;
import com.google.protobuf.Message;
import com.google.protobuf.Struct;
import com.google.protobuf.TextFormat;
import io.envoyproxy.envoy.config.core.v3.HeaderMap;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption.HeaderAppendAction;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeaderMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ImmediateResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.AbstractMap.SimpleEntry;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class CalloutToolsTest {

  /** How a set header is written with no action, or with OVERWRITE_IF_EXISTS_OR_ADD. */
  private static final String OVERWRITE =
      "append { value: false } append_action: OVERWRITE_IF_EXISTS_OR_ADD";

  private static Message parse(String text, Message.Builder builder)
      throws TextFormat.ParseException {
    TextFormat.merge(text, builder);
    return builder.build();
  }

  @Test
  void addHeaderMutation_setRemoveAndClearRouteCache_writesRawValueOnly() throws Exception {
    HeadersResponse response =
        CalloutTools.clearRouteCache(
            CalloutTools.addHeaderMutation(
                List.of(Map.entry("header-request", "request"), Map.entry("x-two", "é")),
                List.of("foo")));

    assertThat(response)
        .isEqualTo(
            parse(
                "response { header_mutation {"
                    + " set_headers { header { key: 'header-request' raw_value: 'request' } "
                    + OVERWRITE
                    + " }"
                    + " set_headers { header { key: 'x-two' raw_value: '\\303\\251' } "
                    + OVERWRITE
                    + " }"
                    + " remove_headers: 'foo' } clear_route_cache: true }",
                HeadersResponse.newBuilder()));
    assertThat(response.getResponse().getHeaderMutation().getSetHeaders(0).getHeader().getValue())
        .isEmpty();
  }

  @Test
  void addHeaderMutation_withoutClearRouteCache_leavesItUnset() throws Exception {
    assertThat(CalloutTools.addHeaderMutation(List.of(Map.entry("a", "1"))))
        .isEqualTo(
            parse(
                "response { header_mutation { set_headers { header { key: 'a' raw_value: '1' } "
                    + OVERWRITE
                    + " }"
                    + " } }",
                HeadersResponse.newBuilder()));
    assertThat(CalloutTools.addHeaderMutation(List.of(), List.of("b")))
        .isEqualTo(
            parse(
                "response { header_mutation { remove_headers: 'b' } }",
                HeadersResponse.newBuilder()));
  }

  @Test
  void addHeaderMutation_appendAction_setOnEveryHeader() throws Exception {
    assertThat(
            CalloutTools.addHeaderMutation(
                List.of(Map.entry("a", "1"), Map.entry("b", "2")),
                List.of(),
                HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD))
        .isEqualTo(
            parse(
                "response { header_mutation {"
                    + " set_headers { header { key: 'a' raw_value: '1' }"
                    + " "
                    + OVERWRITE
                    + " }"
                    + " set_headers { header { key: 'b' raw_value: '2' }"
                    + " "
                    + OVERWRITE
                    + " } } }",
                HeadersResponse.newBuilder()));
  }

  @Test
  void overwriteAndAppendHeader_portableEncodingForEnvoyAndGrpcClients() throws Exception {
    assertThat(
            CalloutTools.clearRouteCache(
                CalloutTools.headersResponse(
                    HeaderMutation.newBuilder()
                        .addSetHeaders(CalloutTools.overwriteHeader("x-a", "1"))
                        .addSetHeaders(CalloutTools.appendHeader("x-a", "2"))
                        .build())))
        .isEqualTo(
            parse(
                "response { header_mutation {"
                    + " set_headers { header { key: 'x-a' raw_value: '1' } "
                    + OVERWRITE
                    + " }"
                    + " set_headers { header { key: 'x-a' raw_value: '2' } append { value: true }"
                    + " append_action: APPEND_IF_EXISTS_OR_ADD } } clear_route_cache: true }",
                HeadersResponse.newBuilder()));
  }

  @Test
  void headerMutation_withOrWithoutAppendAction_setsAndRemoves() throws Exception {
    assertThat(CalloutTools.headerMutation(List.of(Map.entry("a", "1")), List.of("b")))
        .isEqualTo(
            parse(
                "set_headers { header { key: 'a' raw_value: '1' } "
                    + OVERWRITE
                    + " } remove_headers: 'b'",
                HeaderMutation.newBuilder()));
    assertThat(
            CalloutTools.headerMutation(
                List.of(Map.entry("a", "1")), List.of(), HeaderAppendAction.ADD_IF_ABSENT))
        .isEqualTo(
            parse(
                "set_headers { header { key: 'a' raw_value: '1' } append_action: ADD_IF_ABSENT }",
                HeaderMutation.newBuilder()));
  }

  @Test
  void clearRouteCache_headersOrBodyReply_returnsCopyWithTheFlag() throws Exception {
    HeadersResponse headers = CalloutTools.addHeaderMutation(List.of(Map.entry("a", "1")));
    BodyResponse body = CalloutTools.addBodyMutation("x");

    assertThat(CalloutTools.clearRouteCache(headers))
        .isEqualTo(
            parse(
                "response { header_mutation { set_headers { header { key: 'a' raw_value: '1' } "
                    + OVERWRITE
                    + " }"
                    + " } clear_route_cache: true }",
                HeadersResponse.newBuilder()));
    assertThat(CalloutTools.clearRouteCache(body))
        .isEqualTo(
            parse(
                "response { body_mutation { body: 'x' } clear_route_cache: true }",
                BodyResponse.newBuilder()));
    assertThat(CalloutTools.clearRouteCache(HeadersResponse.getDefaultInstance()))
        .isEqualTo(parse("response { clear_route_cache: true }", HeadersResponse.newBuilder()));
    assertThat(headers.getResponse().getClearRouteCache()).isFalse();
    assertThat(body.getResponse().getClearRouteCache()).isFalse();
  }

  @Test
  void addHeaderMutation_nullOrEmptyKey_throwsShowingIt() {
    IllegalArgumentException nullKey =
        assertThrows(
            IllegalArgumentException.class,
            () -> CalloutTools.addHeaderMutation(List.of(new SimpleEntry<>(null, "v"))));
    assertThat(nullKey).hasMessageThat().isEqualTo("header key: null (expected: non-empty)");

    IllegalArgumentException emptyRemove =
        assertThrows(
            IllegalArgumentException.class,
            () -> CalloutTools.addHeaderMutation(List.of(), List.of("")));
    assertThat(emptyRemove).hasMessageThat().isEqualTo("header key:  (expected: non-empty)");

    IllegalArgumentException nullValue =
        assertThrows(
            IllegalArgumentException.class,
            () -> CalloutTools.addHeaderMutation(List.of(new SimpleEntry<>("k", null))));
    assertThat(nullValue)
        .hasMessageThat()
        .isEqualTo("value of header k: null (expected: a string)");
  }

  @Test
  void addBodyMutation_stringBytesAndClearRouteCache() throws Exception {
    assertThat(CalloutTools.addBodyMutation("replaced-body"))
        .isEqualTo(
            parse(
                "response { body_mutation { body: 'replaced-body' } }", BodyResponse.newBuilder()));
    assertThat(CalloutTools.addBodyMutation(ByteString.copyFrom(new byte[] {(byte) 0xff, 0})))
        .isEqualTo(
            parse("response { body_mutation { body: '\\377\\000' } }", BodyResponse.newBuilder()));
    assertThat(
            CalloutTools.clearRouteCache(
                CalloutTools.addBodyMutation(ByteString.copyFromUtf8("x"))))
        .isEqualTo(
            parse(
                "response { body_mutation { body: 'x' } clear_route_cache: true }",
                BodyResponse.newBuilder()));
  }

  @Test
  void clearBodyMutation_setsClearBody() throws Exception {
    assertThat(CalloutTools.clearBodyMutation())
        .isEqualTo(
            parse("response { body_mutation { clear_body: true } }", BodyResponse.newBuilder()));
    assertThat(CalloutTools.clearRouteCache(CalloutTools.clearBodyMutation()))
        .isEqualTo(
            parse(
                "response { body_mutation { clear_body: true } clear_route_cache: true }",
                BodyResponse.newBuilder()));
  }

  private static HttpHeaders headers(HeaderValue... values) {
    return HttpHeaders.newBuilder()
        .setHeaders(HeaderMap.newBuilder().addAllHeaders(List.of(values)))
        .build();
  }

  @Test
  void headerValue_readsRawValueThenFallsBackToValue() {
    HttpHeaders headers =
        headers(
            HeaderValue.newBuilder()
                .setKey(":authority")
                .setRawValue(ByteString.copyFromUtf8("m.example.com"))
                .build(),
            HeaderValue.newBuilder().setKey("legacy").setValue("old-proxy").build(),
            HeaderValue.newBuilder()
                .setKey("dup")
                .setRawValue(ByteString.copyFromUtf8("1"))
                .build(),
            HeaderValue.newBuilder()
                .setKey("dup")
                .setRawValue(ByteString.copyFromUtf8("2"))
                .build());

    assertThat(CalloutTools.headerValue(headers, ":authority")).hasValue("m.example.com");
    assertThat(CalloutTools.headerValue(headers, "legacy")).hasValue("old-proxy");
    assertThat(CalloutTools.headerValue(headers, "dup")).hasValue("1");
    assertThat(CalloutTools.headerValue(headers, "missing")).isEmpty();
    assertThat(CalloutTools.headerValue(headers, "LEGACY")).isEmpty();
    assertThat(CalloutTools.headerValue(headers.getHeaders(), "legacy")).hasValue("old-proxy");
  }

  @Test
  void headersContain_keyAndOptionalValue() {
    HttpHeaders headers =
        headers(
            HeaderValue.newBuilder()
                .setKey("mock")
                .setRawValue(ByteString.copyFromUtf8("yes"))
                .build(),
            HeaderValue.newBuilder().setKey("legacy").setValue("v").build(),
            CalloutTools.header("dup", "1"),
            CalloutTools.header("dup", "2"));

    assertThat(CalloutTools.headersContain(headers, "mock")).isTrue();
    assertThat(CalloutTools.headersContain(headers, "bad-header")).isFalse();
    assertThat(CalloutTools.headersContain(headers, "mock", "yes")).isTrue();
    assertThat(CalloutTools.headersContain(headers, "mock", "no")).isFalse();
    assertThat(CalloutTools.headersContain(headers, "legacy", "v")).isTrue();
    assertThat(CalloutTools.headersContain(headers, "dup", "2")).isTrue();
    assertThat(CalloutTools.headersContain(headers, "dup", "3")).isFalse();
    assertThat(CalloutTools.headersContain(headers, "DUP")).isFalse();
  }

  @Test
  void bodyContains_matchesUtf8BytesAnywhereEvenInBinaryBodies() {
    HttpBody body =
        HttpBody.newBuilder()
            .setBody(
                ByteString.copyFrom(
                    new byte[] {(byte) 0xff, 'b', 'a', 'd', '-', 'b', 'o', 'd', 'y'}))
            .build();

    assertThat(CalloutTools.bodyContains(body, "bad-body")).isTrue();
    assertThat(CalloutTools.bodyContains(body, "mock")).isFalse();
    assertThat(CalloutTools.bodyContains(body, "")).isTrue();
    assertThat(CalloutTools.bodyContains(HttpBody.getDefaultInstance(), "x")).isFalse();
  }

  @Test
  void bodyContains_sliceOfALargerBuffer_looksOnlyInsideTheSlice() {
    HttpBody slice =
        HttpBody.newBuilder().setBody(ByteString.copyFromUtf8("abcdef").substring(1, 4)).build();

    assertThat(CalloutTools.bodyContains(slice, "bcd")).isTrue();
    assertThat(CalloutTools.bodyContains(slice, "d")).isTrue();
    assertThat(CalloutTools.bodyContains(slice, "abc")).isFalse();
    assertThat(CalloutTools.bodyContains(slice, "cde")).isFalse();
    assertThat(CalloutTools.bodyContains(slice, "bcde")).isFalse();
  }

  @Test
  void denyCallout_permissionDeniedWithDefaultOrGivenMessage() {
    StatusRuntimeException deny = CalloutTools.denyCallout();
    assertThat(deny.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(deny.getStatus().getDescription()).isEqualTo("Callout DENIED.");

    assertThat(CalloutTools.denyCallout("nope").getStatus().getDescription()).isEqualTo("nope");
  }

  @Test
  void denyRequest_statusAndBody_plainTextImmediateResponse() throws Exception {
    assertThat(CalloutTools.denyRequest(401, "No token."))
        .isEqualTo(
            parse(
                "status { code: Unauthorized } headers { set_headers { header {"
                    + " key: 'content-type' raw_value: 'text/plain; charset=utf-8' } "
                    + OVERWRITE
                    + " } }"
                    + " body: 'No token.'",
                ImmediateResponse.newBuilder()));
    assertThat(CalloutTools.denyRequest())
        .isEqualTo(
            parse(
                "status { code: Forbidden } headers { set_headers { header {"
                    + " key: 'content-type' raw_value: 'text/plain; charset=utf-8' } "
                    + OVERWRITE
                    + " } }"
                    + " body: 'Forbidden'",
                ImmediateResponse.newBuilder()));
  }

  @Test
  void denyRequest_statusOutOfRange_throwsShowingIt() {
    IllegalArgumentException low =
        assertThrows(IllegalArgumentException.class, () -> CalloutTools.denyRequest(100, "x"));
    assertThat(low).hasMessageThat().isEqualTo("httpStatus: 100 (expected: 200..599)");
    IllegalArgumentException high =
        assertThrows(IllegalArgumentException.class, () -> CalloutTools.denyRequest(600, "x"));
    assertThat(high).hasMessageThat().isEqualTo("httpStatus: 600 (expected: 200..599)");
  }

  @Test
  void headerImmediateResponse_statusHeadersAndOptionalBody() throws Exception {
    assertThat(
            CalloutTools.headerImmediateResponse(
                301, List.of(Map.entry("Location", "http://service-extensions.com/redirect"))))
        .isEqualTo(
            parse(
                "status { code: MovedPermanently } headers { set_headers { header {"
                    + " key: 'Location' raw_value: 'http://service-extensions.com/redirect' } "
                    + OVERWRITE
                    + " } }",
                ImmediateResponse.newBuilder()));
    assertThat(
            CalloutTools.headerImmediateResponse(
                401, List.of(Map.entry("www-authenticate", "Bearer")), "No token."))
        .isEqualTo(
            parse(
                "status { code: Unauthorized } headers { set_headers { header {"
                    + " key: 'www-authenticate' raw_value: 'Bearer' } "
                    + OVERWRITE
                    + " } } body: 'No token.'",
                ImmediateResponse.newBuilder()));
    // A code Envoy's enum does not name is still sent as its number.
    assertThat(CalloutTools.headerImmediateResponse(299, List.of()).getStatus().getCodeValue())
        .isEqualTo(299);
  }

  @Test
  void headerImmediateResponse_statusOutOfRange_throwsShowingIt() {
    IllegalArgumentException low =
        assertThrows(
            IllegalArgumentException.class,
            () -> CalloutTools.headerImmediateResponse(199, List.of()));
    assertThat(low).hasMessageThat().isEqualTo("httpStatus: 199 (expected: 200..599)");
    IllegalArgumentException high =
        assertThrows(
            IllegalArgumentException.class,
            () -> CalloutTools.headerImmediateResponse(600, List.of(), "x"));
    assertThat(high).hasMessageThat().isEqualTo("httpStatus: 600 (expected: 200..599)");
  }

  @Test
  void buildDynamicForwardingMetadata_primaryIpPort() throws Exception {
    assertThat(CalloutTools.buildDynamicForwardingMetadata("10.1.10.2", 80))
        .isEqualTo(
            parse(
                "fields { key: 'com.google.envoy.dynamic_forwarding.selected_endpoints'"
                    + " value { struct_value { fields { key: 'primary'"
                    + " value { string_value: '10.1.10.2:80' } } } } }",
                Struct.newBuilder()));
    assertThat(
            CalloutTools.buildDynamicForwardingMetadata("2001:db8::1", 8080)
                .getFieldsOrThrow(CalloutTools.DYNAMIC_FORWARDING_NAMESPACE)
                .getStructValue()
                .getFieldsOrThrow("primary")
                .getStringValue())
        .isEqualTo("[2001:db8::1]:8080");
  }

  @Test
  void dynamicMetadata_stringValuesUnderTheNamespace() throws Exception {
    assertThat(CalloutTools.dynamicMetadata("my.ns", Map.of("k", "v")))
        .isEqualTo(
            parse(
                "fields { key: 'my.ns' value { struct_value { fields { key: 'k'"
                    + " value { string_value: 'v' } } } } }",
                Struct.newBuilder()));
    assertThat(
            assertThrows(
                IllegalArgumentException.class, () -> CalloutTools.dynamicMetadata("", Map.of())))
        .hasMessageThat()
        .isEqualTo("namespace:  (expected: non-empty)");
  }

  @Test
  void buildDynamicForwardingMetadata_badPortOrIp_throwsShowingIt() {
    assertThat(
            assertThrows(
                IllegalArgumentException.class,
                () -> CalloutTools.buildDynamicForwardingMetadata("10.0.0.1", 0)))
        .hasMessageThat()
        .isEqualTo("port: 0 (expected: 1..65535)");
    assertThat(
            assertThrows(
                IllegalArgumentException.class,
                () -> CalloutTools.buildDynamicForwardingMetadata("10.0.0.1", 65536)))
        .hasMessageThat()
        .isEqualTo("port: 65536 (expected: 1..65535)");
    assertThat(
            assertThrows(
                IllegalArgumentException.class,
                () -> CalloutTools.buildDynamicForwardingMetadata(" ", 80)))
        .hasMessageThat()
        .isEqualTo("ip:   (expected: an IP address)");
  }
}
