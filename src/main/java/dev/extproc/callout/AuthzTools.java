package dev.extproc.callout;

import com.google.protobuf.BoolValue;
import com.google.protobuf.ByteString;
import com.google.protobuf.Struct;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption.HeaderAppendAction;
import io.envoyproxy.envoy.config.core.v3.QueryParameter;
import io.envoyproxy.envoy.service.auth.v3.AttributeContext;
import io.envoyproxy.envoy.service.auth.v3.CheckRequest;
import io.envoyproxy.envoy.service.auth.v3.CheckResponse;
import io.envoyproxy.envoy.service.auth.v3.DeniedHttpResponse;
import io.envoyproxy.envoy.service.auth.v3.OkHttpResponse;
import io.envoyproxy.envoy.type.v3.HttpStatus;
import io.grpc.Status;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.Optional;

/**
 * Decisions and request readers for {@link CalloutServer#onCheck ext_authz callouts}.
 *
 * <p>Envoy decides from {@code CheckResponse.status} alone: code 0 (OK) allows, any other code
 * denies, so every decision built here carries the status that matches it ({@code
 * PERMISSION_DENIED} for a denial unless you choose another). Envoy and grpc-java read ext_authz
 * header values from {@code value} (never {@code raw_value}, unlike ext_proc), and a header option
 * whose {@code append} is unset falls back to {@code append_action}, whose default appends: every
 * header written here sets both, consistently.
 *
 * <pre>{@code
 * return AuthzTools.allow().setHeader("x-user", user).removeHeader("cookie").build();
 * return AuthzTools.deny(403).header("x-reason", "blocked").body("Forbidden").build();
 * }</pre>
 */
public final class AuthzTools {
  private AuthzTools() {}

  /** Starts an allow decision: status OK with an {@code ok_response}. */
  public static Allow allow() {
    return new Allow();
  }

  /**
   * Starts a deny decision with HTTP status {@code httpStatus} (Envoy answers 403 when a denial has
   * none) and gRPC status {@code PERMISSION_DENIED}.
   */
  public static Deny deny(int httpStatus) {
    return new Deny(httpStatus);
  }

  /**
   * The first value of header {@code name} (compared lower-cased) from the request's {@code
   * headers} map or, when Envoy (or a gRPC client) sends raw headers, its {@code header_map}
   * ({@code raw_value}, else {@code value}).
   */
  public static Optional<String> header(CheckRequest request, String name) {
    AttributeContext.HttpRequest http = request.getAttributes().getRequest().getHttp();
    String key = name.toLowerCase(Locale.ROOT);
    String value = http.getHeadersMap().get(key);
    if (value != null) {
      return Optional.of(value);
    }
    for (HeaderValue header : http.getHeaderMap().getHeadersList()) {
      if (header.getKey().toLowerCase(Locale.ROOT).equals(key)) {
        return Optional.of(
            header.getRawValue().isEmpty()
                ? header.getValue()
                : header.getRawValue().toStringUtf8());
      }
    }
    return Optional.empty();
  }

  /** The request's path, with its query string if it has one (empty when Envoy sent none). */
  public static String path(CheckRequest request) {
    return request.getAttributes().getRequest().getHttp().getPath();
  }

  /**
   * The downstream client's IP address as Envoy saw it ({@code attributes.source}), when Envoy sent
   * one; gRPC clients send none.
   */
  public static Optional<String> sourceAddress(CheckRequest request) {
    String address =
        request.getAttributes().getSource().getAddress().getSocketAddress().getAddress();
    return address.isEmpty() ? Optional.empty() : Optional.of(address);
  }

  /**
   * The request body Envoy buffered for the check ({@code with_request_body}): {@code raw_body}
   * when it sent bytes, else {@code body} as UTF-8; empty when it sent none.
   */
  public static ByteString body(CheckRequest request) {
    AttributeContext.HttpRequest http = request.getAttributes().getRequest().getHttp();
    return http.getRawBody().isEmpty()
        ? ByteString.copyFrom(http.getBody(), StandardCharsets.UTF_8)
        : http.getRawBody();
  }

  // append is deprecated in favour of append_action, yet Envoy's ext_authz client reads it first.
  @SuppressWarnings("deprecation")
  private static HeaderValueOption headerOption(String name, String value, boolean append) {
    return HeaderValueOption.newBuilder()
        .setHeader(HeaderValue.newBuilder().setKey(name).setValue(value))
        .setAppend(BoolValue.of(append))
        .setAppendAction(
            append
                ? HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD
                : HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD)
        .build();
  }

  /** An allow decision under construction; {@link #build()} gives the {@code CheckResponse}. */
  public static final class Allow {
    private final OkHttpResponse.Builder ok = OkHttpResponse.newBuilder();
    private final CheckResponse.Builder response = CheckResponse.newBuilder();

    private Allow() {}

    /** Sets header {@code name} on the upstream request, replacing any value it had. */
    public Allow setHeader(String name, String value) {
      ok.addHeaders(headerOption(name, value, false));
      return this;
    }

    /** Adds a value to header {@code name} of the upstream request, keeping the ones it had. */
    public Allow appendHeader(String name, String value) {
      ok.addHeaders(headerOption(name, value, true));
      return this;
    }

    /** Removes header {@code name} from the upstream request (not pseudo-headers or host). */
    public Allow removeHeader(String name) {
      ok.addHeadersToRemove(name);
      return this;
    }

    /** Adds header {@code name} to the response the client eventually gets. */
    public Allow addResponseHeader(String name, String value) {
      ok.addResponseHeadersToAdd(headerOption(name, value, true));
      return this;
    }

    /** Sets query parameter {@code name} of the upstream request, replacing any value it had. */
    public Allow setQueryParameter(String name, String value) {
      ok.addQueryParametersToSet(QueryParameter.newBuilder().setKey(name).setValue(value));
      return this;
    }

    /** Removes query parameter {@code name} from the upstream request. */
    public Allow removeQueryParameter(String name) {
      ok.addQueryParametersToRemove(name);
      return this;
    }

    /** Emits {@code metadata} as the ext_authz filter's dynamic metadata. */
    public Allow dynamicMetadata(Struct metadata) {
      response.setDynamicMetadata(metadata);
      return this;
    }

    /** The decision: status OK and the {@code ok_response}. */
    public CheckResponse build() {
      return response
          .setStatus(com.google.rpc.Status.newBuilder().setCode(Status.Code.OK.value()))
          .setOkResponse(ok)
          .build();
    }
  }

  /** A deny decision under construction; {@link #build()} gives the {@code CheckResponse}. */
  public static final class Deny {
    private final DeniedHttpResponse.Builder denied = DeniedHttpResponse.newBuilder();
    private final CheckResponse.Builder response = CheckResponse.newBuilder();
    private Status.Code code = Status.Code.PERMISSION_DENIED;
    private String message = "";

    private Deny(int httpStatus) {
      if (httpStatus < 200 || httpStatus > 599) {
        throw new IllegalArgumentException("httpStatus: " + httpStatus + " (expected: 200..599)");
      }
      denied.setStatus(HttpStatus.newBuilder().setCodeValue(httpStatus));
    }

    /**
     * The gRPC status code of the decision, {@code PERMISSION_DENIED} unless set (for example
     * {@code UNAUTHENTICATED}); never OK, which Envoy would read as an allow.
     */
    public Deny grpcStatus(Status.Code code, String message) {
      if (code == Status.Code.OK) {
        throw new IllegalArgumentException("a denial with status OK is an allow to Envoy");
      }
      this.code = code;
      this.message = message;
      return this;
    }

    /** Sets header {@code name} on the denial the client gets. */
    public Deny header(String name, String value) {
      denied.addHeaders(headerOption(name, value, false));
      return this;
    }

    /** The body of the denial the client gets. */
    public Deny body(String body) {
      denied.setBody(body);
      return this;
    }

    /** Emits {@code metadata} as the ext_authz filter's dynamic metadata. */
    public Deny dynamicMetadata(Struct metadata) {
      response.setDynamicMetadata(metadata);
      return this;
    }

    /** The decision: the non-OK status and the {@code denied_response}. */
    public CheckResponse build() {
      return response
          .setStatus(com.google.rpc.Status.newBuilder().setCode(code.value()).setMessage(message))
          .setDeniedResponse(denied)
          .build();
    }
  }
}
