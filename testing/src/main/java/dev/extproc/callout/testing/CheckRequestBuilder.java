package dev.extproc.callout.testing;

import static com.google.common.base.Preconditions.checkArgument;
import static java.util.Objects.requireNonNull;

import com.google.errorprone.annotations.CanIgnoreReturnValue;
import com.google.protobuf.ByteString;
import com.google.protobuf.Timestamp;
import io.envoyproxy.envoy.config.core.v3.Address;
import io.envoyproxy.envoy.config.core.v3.SocketAddress;
import io.envoyproxy.envoy.service.auth.v3.AttributeContext;
import io.envoyproxy.envoy.service.auth.v3.AttributeContext.HttpRequest;
import io.envoyproxy.envoy.service.auth.v3.AttributeContext.Peer;
import io.envoyproxy.envoy.service.auth.v3.CheckRequest;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;
import org.jspecify.annotations.Nullable;

/**
 * Builds an ext_authz {@code CheckRequest} shaped as Envoy's {@code ext_authz} HTTP filter sends it
 * for one HTTP/1.1 request; start one with {@link CalloutTester#newCheckRequest}. Not thread-safe.
 *
 * <p>Fields filled, all under {@code attributes}:
 *
 * <ul>
 *   <li>{@code request.http}: {@code id} (Envoy's stream id, a decimal number; {@link #id}), {@code
 *       method}, {@code path} (with any query), {@code host} (the {@code :authority}, default
 *       {@value #DEFAULT_AUTHORITY}; a {@code host} or {@code :authority} header given sets it),
 *       {@code scheme} (default {@code http}), {@code protocol} ({@code HTTP/1.1}), {@code size}
 *       (the {@code content-length} header given, else -1), and {@code headers}: a map with
 *       lower-case keys holding the pseudo-headers {@code :authority}, {@code :method}, {@code
 *       :path} and {@code :scheme}, {@code x-forwarded-proto} and {@code x-request-id} (a random
 *       UUID) as Envoy's connection manager adds them before any filter runs, then the headers
 *       given, a repeated key merged into one comma-separated value.
 *   <li>{@code request.http.body} (UTF-8, {@link #body}) or {@code raw_body} (bytes, {@link
 *       #rawBody}, Envoy's {@code pack_as_bytes}) only when a body is given, as with Envoy's {@code
 *       with_request_body}; the headers then also hold {@code x-envoy-auth-partial-body: false}.
 *   <li>{@code request.time}: when the request came, now by default ({@link #time}).
 *   <li>{@code source.address.socket_address}: the client's {@code address} and {@code port_value}
 *       (default {@value #DEFAULT_SOURCE_ADDRESS}:{@value #DEFAULT_SOURCE_PORT}; {@link #source});
 *       {@code destination.address.socket_address} likewise for Envoy's listener (default {@value
 *       #DEFAULT_DESTINATION_ADDRESS}:{@value #DEFAULT_DESTINATION_PORT}; {@link #destination}).
 * </ul>
 *
 * <p>Not filled, as by an Envoy without the options that fill them: {@code header_map} ({@code
 * encode_raw_headers}), peer {@code principal}, {@code certificate} and {@code service} (TLS
 * peers), {@code context_extensions} (per-route settings), {@code metadata_context}, {@code
 * route_metadata_context} and {@code tls_session}.
 */
public final class CheckRequestBuilder {

  /** The {@code :authority} when none is given: {@value}. */
  public static final String DEFAULT_AUTHORITY = "localhost";

  /** The client's address when none is given: {@value}. */
  public static final String DEFAULT_SOURCE_ADDRESS = "127.0.0.1";

  /** The client's port when none is given: {@value}. */
  public static final int DEFAULT_SOURCE_PORT = 40000;

  /** Envoy's listener address when none is given: {@value}. */
  public static final String DEFAULT_DESTINATION_ADDRESS = "127.0.0.1";

  /** Envoy's listener port when none is given: {@value}. */
  public static final int DEFAULT_DESTINATION_PORT = 10000;

  private static final AtomicLong streamIds = new AtomicLong();

  private final String method;
  private final String path;
  private final Map<String, String> headers = new LinkedHashMap<>();
  private String authority = DEFAULT_AUTHORITY;
  private String scheme = "http";
  private String id = Long.toString(streamIds.incrementAndGet());
  private @Nullable Instant time;
  private Address source = address(DEFAULT_SOURCE_ADDRESS, DEFAULT_SOURCE_PORT);
  private Address destination = address(DEFAULT_DESTINATION_ADDRESS, DEFAULT_DESTINATION_PORT);
  private @Nullable String body;
  private @Nullable ByteString rawBody;

  CheckRequestBuilder(String method, String path) {
    checkArgument(!method.isEmpty(), "method: empty (expected: GET, POST...)");
    checkArgument(path.startsWith("/"), "path: %s (expected: starting with /)", path);
    this.method = method;
    this.path = path;
  }

  /**
   * Adds a request header; its key is lower-cased, and a repeated key gets the value appended after
   * a comma. {@code host} or {@code :authority} sets the {@link #authority}, {@code :scheme} the
   * {@link #scheme}.
   *
   * @throws IllegalArgumentException for {@code :method}, {@code :path} or another pseudo-header
   */
  @CanIgnoreReturnValue
  public CheckRequestBuilder header(String key, String value) {
    String name = key.toLowerCase(Locale.ROOT);
    requireNonNull(value, "value");
    switch (name) {
      case "host", ":authority" -> {
        return authority(value);
      }
      case ":scheme" -> {
        return scheme(value);
      }
      default ->
          checkArgument(
              !name.startsWith(":"),
              "key: %s (expected: a header; the method and path are given apart)",
              key);
    }
    headers.merge(name, value, (old, added) -> old + "," + added);
    return this;
  }

  /** Adds request headers from alternating keys and values, as {@link #header} does. */
  @CanIgnoreReturnValue
  public CheckRequestBuilder headers(String... keysAndValues) {
    checkArgument(
        keysAndValues.length % 2 == 0,
        "keysAndValues: %s strings (expected: an even number)",
        keysAndValues.length);
    for (int i = 0; i < keysAndValues.length; i += 2) {
      header(keysAndValues[i], keysAndValues[i + 1]);
    }
    return this;
  }

  /** Sets the {@code :authority}, and so {@code host} (default {@value #DEFAULT_AUTHORITY}). */
  @CanIgnoreReturnValue
  public CheckRequestBuilder authority(String authority) {
    this.authority = requireNonNull(authority, "authority");
    return this;
  }

  /** Sets the {@code :scheme}, {@code scheme} and {@code x-forwarded-proto} (default http). */
  @CanIgnoreReturnValue
  public CheckRequestBuilder scheme(String scheme) {
    this.scheme = requireNonNull(scheme, "scheme");
    return this;
  }

  /** Sets {@code id} (default: a number unique in this JVM). */
  @CanIgnoreReturnValue
  public CheckRequestBuilder id(String id) {
    this.id = requireNonNull(id, "id");
    return this;
  }

  /** Sets {@code request.time} (default: when {@link #build} runs). */
  @CanIgnoreReturnValue
  public CheckRequestBuilder time(Instant time) {
    this.time = requireNonNull(time, "time");
    return this;
  }

  /**
   * Sets the client's address and port ({@code source}).
   *
   * @throws IllegalArgumentException when {@code port} is not 0..65535
   */
  @CanIgnoreReturnValue
  public CheckRequestBuilder source(String address, int port) {
    this.source = address(address, port);
    return this;
  }

  /**
   * Sets the address and port of Envoy's listener ({@code destination}).
   *
   * @throws IllegalArgumentException when {@code port} is not 0..65535
   */
  @CanIgnoreReturnValue
  public CheckRequestBuilder destination(String address, int port) {
    this.destination = address(address, port);
    return this;
  }

  /** Sends {@code body} in {@code body}, as Envoy does with {@code with_request_body}. */
  @CanIgnoreReturnValue
  public CheckRequestBuilder body(String body) {
    this.body = requireNonNull(body, "body");
    this.rawBody = null;
    return this;
  }

  /** Sends {@code body} in {@code raw_body}, as Envoy does with {@code pack_as_bytes}. */
  @CanIgnoreReturnValue
  public CheckRequestBuilder rawBody(ByteString body) {
    this.rawBody = requireNonNull(body, "body");
    this.body = null;
    return this;
  }

  /** Returns the request. */
  public CheckRequest build() {
    Map<String, String> all = new LinkedHashMap<>();
    all.put(":authority", authority);
    all.put(":path", path);
    all.put(":method", method);
    all.put(":scheme", scheme);
    all.put("x-forwarded-proto", scheme);
    all.put("x-request-id", UUID.randomUUID().toString());
    all.putAll(headers);
    HttpRequest.Builder http =
        HttpRequest.newBuilder()
            .setId(id)
            .setMethod(method)
            .setPath(path)
            .setHost(authority)
            .setScheme(scheme)
            .setProtocol("HTTP/1.1")
            .setSize(size(headers.get("content-length")));
    if (body != null) {
      http.setBody(body);
      all.put("x-envoy-auth-partial-body", "false");
    } else if (rawBody != null) {
      http.setRawBody(rawBody);
      all.put("x-envoy-auth-partial-body", "false");
    }
    Instant when = time != null ? time : Instant.now();
    return CheckRequest.newBuilder()
        .setAttributes(
            AttributeContext.newBuilder()
                .setSource(Peer.newBuilder().setAddress(source))
                .setDestination(Peer.newBuilder().setAddress(destination))
                .setRequest(
                    AttributeContext.Request.newBuilder()
                        .setTime(
                            Timestamp.newBuilder()
                                .setSeconds(when.getEpochSecond())
                                .setNanos(when.getNano()))
                        .setHttp(http.putAllHeaders(all))))
        .build();
  }

  private static long size(@Nullable String contentLength) {
    if (contentLength == null) {
      return -1;
    }
    try {
      return Long.parseLong(contentLength.trim());
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  private static Address address(String address, int port) {
    requireNonNull(address, "address");
    checkArgument(port >= 0 && port <= 65535, "port: %s (expected: 0..65535)", port);
    return Address.newBuilder()
        .setSocketAddress(SocketAddress.newBuilder().setAddress(address).setPortValue(port))
        .build();
  }
}
