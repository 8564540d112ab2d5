package dev.extproc.callout;

import static com.google.common.base.Preconditions.checkArgument;
import static java.util.Objects.requireNonNull;

import com.google.errorprone.annotations.CheckReturnValue;
import com.google.protobuf.BoolValue;
import com.google.protobuf.ByteString;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.envoyproxy.envoy.config.core.v3.HeaderMap;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption.HeaderAppendAction;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeaderMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ImmediateResponse;
import io.envoyproxy.envoy.type.v3.HttpStatus;
import io.envoyproxy.envoy.type.v3.StatusCode;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * Static helpers that build the replies hooks return and read what Envoy sent.
 *
 * <p>Header values are always written to {@code raw_value} (Envoy ignores {@code value} in
 * mutations) and read from {@code raw_value}, falling back to {@code value} for old proxies.
 * Arguments are checked at once: a bad one throws {@link IllegalArgumentException} showing it.
 */
public final class CalloutTools {

  /** The namespace Google Cloud's dynamic forwarding reads its selected endpoint from. */
  public static final String DYNAMIC_FORWARDING_NAMESPACE =
      "com.google.envoy.dynamic_forwarding.selected_endpoints";

  /** The message of {@link #denyCallout()}: {@value}. */
  public static final String DEFAULT_DENY_MESSAGE = "Callout DENIED.";

  private CalloutTools() {}

  // ---- Header mutations ----

  /**
   * Returns a headers reply that sets each {@code (key, value)} of {@code add}, overwriting any
   * value the header had, for Envoy and gRPC clients alike (see {@link #overwriteHeader}). Keys go
   * out exactly as given; Envoy lower-cases them, gRPC clients need them lower-case.
   */
  public static HeadersResponse addHeaderMutation(List<Map.Entry<String, String>> add) {
    return headersResponse(mutation(add, List.of(), null));
  }

  /** Returns a headers reply that sets {@code add} and removes {@code remove}. */
  public static HeadersResponse addHeaderMutation(
      List<Map.Entry<String, String>> add, List<String> remove) {
    return headersResponse(mutation(add, remove, null));
  }

  /**
   * Like {@link #addHeaderMutation(List, List)}, with {@code appendAction} on every set header (and
   * the matching {@code append}, where one exists, for Envoy).
   */
  public static HeadersResponse addHeaderMutation(
      List<Map.Entry<String, String>> add, List<String> remove, HeaderAppendAction appendAction) {
    return headersResponse(headerMutation(add, remove, appendAction));
  }

  /**
   * Returns a header mutation that sets {@code add} and removes {@code remove}; for trailers and
   * immediate responses, or to combine with other changes.
   */
  public static HeaderMutation headerMutation(
      List<Map.Entry<String, String>> add, List<String> remove) {
    return mutation(add, remove, null);
  }

  /** Like {@link #headerMutation(List, List)}, with {@code appendAction} on every set header. */
  public static HeaderMutation headerMutation(
      List<Map.Entry<String, String>> add, List<String> remove, HeaderAppendAction appendAction) {
    requireNonNull(appendAction, "appendAction");
    return mutation(add, remove, appendAction);
  }

  private static HeaderMutation mutation(
      List<Map.Entry<String, String>> add,
      List<String> remove,
      @Nullable HeaderAppendAction appendAction) {
    HeaderMutation.Builder mutation = HeaderMutation.newBuilder();
    for (Map.Entry<String, String> header : add) {
      mutation.addSetHeaders(headerWrite(header.getKey(), header.getValue(), appendAction));
    }
    for (String key : remove) {
      mutation.addRemoveHeaders(checkKey(key));
    }
    return mutation.build();
  }

  /**
   * The portable form of a header write: Envoy's ext_proc reads only the deprecated {@code append}
   * (unset means false: overwrite), gRPC clients only {@code append_action} (unset means {@code
   * APPEND_IF_EXISTS_OR_ADD}), so both are set to agree. No action means overwrite. {@code
   * ADD_IF_ABSENT} and {@code OVERWRITE_IF_EXISTS} have no {@code append} equivalent: they go out
   * as {@code append_action} alone, which Envoy reads as an overwrite.
   */
  @SuppressWarnings("deprecation") // `append` is deprecated, but it is all Envoy ext_proc reads
  private static HeaderValueOption headerWrite(
      String key, String value, @Nullable HeaderAppendAction appendAction) {
    HeaderAppendAction action =
        appendAction == null ? HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD : appendAction;
    HeaderValueOption.Builder option =
        HeaderValueOption.newBuilder().setHeader(header(key, value)).setAppendAction(action);
    switch (action) {
      case OVERWRITE_IF_EXISTS_OR_ADD -> option.setAppend(BoolValue.of(false));
      case APPEND_IF_EXISTS_OR_ADD -> option.setAppend(BoolValue.of(true));
      default -> {}
    }
    return option.build();
  }

  /** Returns a header with {@code value} in {@code raw_value} as UTF-8, {@code value} empty. */
  public static HeaderValue header(String key, String value) {
    checkArgument(value != null, "value of header %s: null (expected: a string)", key);
    return HeaderValue.newBuilder()
        .setKey(checkKey(key))
        .setRawValue(ByteString.copyFromUtf8(value))
        .build();
  }

  /**
   * Returns a header write that overwrites (or adds) {@code key} for every client: {@code
   * append=false}, which Envoy reads, and {@code OVERWRITE_IF_EXISTS_OR_ADD}, which gRPC clients
   * read. {@link #addHeaderMutation} writes each header this way.
   */
  public static HeaderValueOption overwriteHeader(String key, String value) {
    return headerWrite(key, value, HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD);
  }

  /**
   * Returns a header write that adds a value to {@code key} for every client: {@code append=true}
   * (Envoy) and {@code APPEND_IF_EXISTS_OR_ADD} (gRPC clients).
   */
  public static HeaderValueOption appendHeader(String key, String value) {
    return headerWrite(key, value, HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD);
  }

  /**
   * Returns a headers reply carrying {@code mutation} (built, for example, from {@link
   * #overwriteHeader} and {@link #appendHeader}).
   */
  public static HeadersResponse headersResponse(HeaderMutation mutation) {
    return HeadersResponse.newBuilder()
        .setResponse(CommonResponse.newBuilder().setHeaderMutation(mutation))
        .build();
  }

  /**
   * Returns a copy of {@code response} that also asks Envoy to recompute the route ({@code
   * clear_route_cache}), as a change to routing headers needs: {@code
   * clearRouteCache(addHeaderMutation(add, remove))}. Envoy honours it for request headers only;
   * the framework removes it, with a warning, from a response-headers reply.
   */
  public static HeadersResponse clearRouteCache(HeadersResponse response) {
    HeadersResponse.Builder copy = response.toBuilder();
    copy.getResponseBuilder().setClearRouteCache(true);
    return copy.build();
  }

  /**
   * Like {@link #clearRouteCache(HeadersResponse)}, for a body reply: {@code
   * clearRouteCache(addBodyMutation(body))}. Envoy honours it for the request body only.
   */
  public static BodyResponse clearRouteCache(BodyResponse response) {
    BodyResponse.Builder copy = response.toBuilder();
    copy.getResponseBuilder().setClearRouteCache(true);
    return copy.build();
  }

  private static String checkKey(@Nullable String key) {
    checkArgument(key != null && !key.isEmpty(), "header key: %s (expected: non-empty)", key);
    return key;
  }

  /**
   * Returns a headers reply with status {@code CONTINUE_AND_REPLACE}: Envoy applies {@code set},
   * replaces the body with {@code body} (even on a request that had none) and sends no more body or
   * trailers of this direction. Not allowed in FULL_DUPLEX_STREAMED and GRPC modes (the framework
   * refuses it there).
   */
  public static HeadersResponse continueAndReplace(
      List<Map.Entry<String, String>> set, ByteString body) {
    requireNonNull(body, "body");
    return HeadersResponse.newBuilder()
        .setResponse(
            CommonResponse.newBuilder()
                .setStatus(CommonResponse.ResponseStatus.CONTINUE_AND_REPLACE)
                .setHeaderMutation(mutation(set, List.of(), null))
                .setBodyMutation(BodyMutation.newBuilder().setBody(body)))
        .build();
  }

  // ---- Body mutations ----

  /** Returns a body reply that replaces the body (or this chunk) with {@code body} as UTF-8. */
  public static BodyResponse addBodyMutation(String body) {
    requireNonNull(body, "body");
    return addBodyMutation(ByteString.copyFromUtf8(body));
  }

  /** Returns a body reply that replaces the body (or this chunk) with {@code body}. */
  public static BodyResponse addBodyMutation(ByteString body) {
    requireNonNull(body, "body");
    return bodyResponse(BodyMutation.newBuilder().setBody(body).build());
  }

  /** Returns a body reply that empties the body (or this chunk). */
  public static BodyResponse clearBodyMutation() {
    return bodyResponse(BodyMutation.newBuilder().setClearBody(true).build());
  }

  private static BodyResponse bodyResponse(BodyMutation mutation) {
    return BodyResponse.newBuilder()
        .setResponse(CommonResponse.newBuilder().setBodyMutation(mutation))
        .build();
  }

  // ---- Reading what Envoy sent ----

  /**
   * Returns the value of the first header named exactly {@code key} (Envoy sends lower-case keys),
   * decoded as UTF-8 from {@code raw_value}, or from {@code value} when {@code raw_value} is empty.
   */
  public static Optional<String> headerValue(HttpHeaders headers, String key) {
    return headerValue(headers.getHeaders(), key);
  }

  /** Like {@link #headerValue(HttpHeaders, String)}, for a header map such as trailers. */
  public static Optional<String> headerValue(HeaderMap headers, String key) {
    int index = HeaderLookup.indexOf(headers, checkKey(key));
    return index < 0 ? Optional.empty() : Optional.of(headerValue(headers.getHeaders(index)));
  }

  /**
   * Returns one header's value decoded as UTF-8 from {@code raw_value}, or {@code value} when
   * {@code raw_value} is empty (old proxies).
   */
  public static String headerValue(HeaderValue header) {
    return header.getRawValue().isEmpty()
        ? header.getValue()
        : header.getRawValue().toString(StandardCharsets.UTF_8);
  }

  /** Returns whether a header named exactly {@code key} is present. */
  public static boolean headersContain(HttpHeaders headers, String key) {
    return HeaderLookup.indexOf(headers.getHeaders(), checkKey(key)) >= 0;
  }

  /** Returns whether a header named exactly {@code key} has exactly {@code value}. */
  public static boolean headersContain(HttpHeaders headers, String key, String value) {
    requireNonNull(value, "value");
    return HeaderLookup.contains(headers.getHeaders(), checkKey(key), value);
  }

  /** Returns whether the body bytes contain {@code text} encoded as UTF-8. */
  public static boolean bodyContains(HttpBody body, String text) {
    requireNonNull(text, "text");
    // A read-only view, not toByteArray(): a copy of the whole body per call showed in JMH.
    ByteBuffer haystack = body.getBody().asReadOnlyByteBuffer();
    byte[] needle = text.getBytes(StandardCharsets.UTF_8);
    int start = haystack.position();
    outer:
    for (int i = start; i <= haystack.limit() - needle.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (haystack.get(i + j) != needle[j]) {
          continue outer;
        }
      }
      return true;
    }
    return false;
  }

  // ---- Ending the exchange ----

  /**
   * Returns the exception that ends the stream with gRPC {@code PERMISSION_DENIED} and {@value
   * #DEFAULT_DENY_MESSAGE}; a hook throws it: {@code throw CalloutTools.denyCallout();}. Envoy then
   * treats the callout as failed: the end user gets a 500 (or the filter's {@code
   * status_on_error}), or the request continues unprocessed when {@code failure_mode_allow} is
   * true. To deny with an HTTP status the end user sees, use {@link #denyRequest(int, String)}.
   */
  @CheckReturnValue
  public static StatusRuntimeException denyCallout() {
    return denyCallout(DEFAULT_DENY_MESSAGE);
  }

  /** Like {@link #denyCallout()}, with {@code message} as the status description. */
  @CheckReturnValue
  public static StatusRuntimeException denyCallout(String message) {
    requireNonNull(message, "message");
    return Status.PERMISSION_DENIED.withDescription(message).asRuntimeException();
  }

  /**
   * Returns a local reply that denies the request with HTTP {@code httpStatus} and {@code body}
   * ({@code content-type: text/plain; charset=utf-8}), to pass to {@link
   * CalloutContext#respondImmediately}: {@code ctx.respondImmediately(CalloutTools.denyRequest(401,
   * "No token."))}. Envoy sends it to the client, and the request never reaches the upstream (when
   * a request-phase hook sends it). Unlike {@link #denyCallout()}, this works the same whatever
   * Envoy's {@code failure_mode_allow}.
   *
   * @throws IllegalArgumentException when {@code httpStatus} is outside 200..599
   */
  public static ImmediateResponse denyRequest(int httpStatus, String body) {
    requireNonNull(body, "body");
    return immediateResponse(
        httpStatus, List.of(Map.entry("content-type", "text/plain; charset=utf-8")), body);
  }

  /** Like {@link #denyRequest(int, String)}: HTTP 403 with body {@code Forbidden}. */
  public static ImmediateResponse denyRequest() {
    return denyRequest(403, "Forbidden");
  }

  /**
   * Returns a local reply with HTTP {@code httpStatus} and {@code headers}, no body; pass it to
   * {@link CalloutContext#respondImmediately}.
   */
  public static ImmediateResponse headerImmediateResponse(
      int httpStatus, List<Map.Entry<String, String>> headers) {
    return immediateResponse(httpStatus, headers, null);
  }

  /** Like {@link #headerImmediateResponse(int, List)}, with a UTF-8 {@code body}. */
  public static ImmediateResponse headerImmediateResponse(
      int httpStatus, List<Map.Entry<String, String>> headers, String body) {
    requireNonNull(body, "body");
    return immediateResponse(httpStatus, headers, body);
  }

  private static ImmediateResponse immediateResponse(
      int httpStatus, List<Map.Entry<String, String>> headers, @Nullable String body) {
    checkArgument(
        httpStatus >= 200 && httpStatus <= 599, "httpStatus: %s (expected: 200..599)", httpStatus);
    StatusCode code = StatusCode.forNumber(httpStatus);
    HttpStatus.Builder status = HttpStatus.newBuilder();
    if (code == null) {
      status.setCodeValue(httpStatus);
    } else {
      status.setCode(code);
    }
    ImmediateResponse.Builder response = ImmediateResponse.newBuilder().setStatus(status);
    if (!headers.isEmpty()) {
      response.setHeaders(mutation(headers, List.of(), null));
    }
    if (body != null) {
      response.setBody(ByteString.copyFromUtf8(body));
    }
    return response.build();
  }

  // ---- Dynamic metadata ----

  /**
   * Returns dynamic metadata with the string {@code values} under {@code namespace}, for {@link
   * CalloutContext#attachDynamicMetadata}: {@code {namespace: {key: value, ...}}}. Envoy keeps it
   * only when {@code namespace} is listed in its {@code metadata_options.receiving_namespaces}.
   */
  public static Struct dynamicMetadata(String namespace, Map<String, String> values) {
    checkArgument(
        namespace != null && !namespace.isEmpty(),
        "namespace: %s (expected: non-empty)",
        namespace);
    Struct.Builder fields = Struct.newBuilder();
    values.forEach(
        (key, value) -> fields.putFields(key, Value.newBuilder().setStringValue(value).build()));
    return Struct.newBuilder()
        .putFields(namespace, Value.newBuilder().setStructValue(fields).build())
        .build();
  }

  /**
   * Returns the dynamic metadata that makes Google Cloud's dynamic forwarding send the request to
   * {@code ip:port}: {@value #DYNAMIC_FORWARDING_NAMESPACE} {@code {primary: "ip:port"}}. Attach it
   * with {@link CalloutContext#attachDynamicMetadata}.
   */
  public static Struct buildDynamicForwardingMetadata(String ip, int port) {
    checkArgument(ip != null && !ip.isBlank(), "ip: %s (expected: an IP address)", ip);
    checkArgument(port >= 1 && port <= 65535, "port: %s (expected: 1..65535)", port);
    String host = ip.contains(":") && !ip.startsWith("[") ? "[" + ip + "]" : ip;
    Struct endpoint =
        Struct.newBuilder()
            .putFields("primary", Value.newBuilder().setStringValue(host + ":" + port).build())
            .build();
    return Struct.newBuilder()
        .putFields(
            DYNAMIC_FORWARDING_NAMESPACE, Value.newBuilder().setStructValue(endpoint).build())
        .build();
  }
}
