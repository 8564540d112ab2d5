package dev.extproc.callout.bench;

import com.google.protobuf.ByteString;
import io.envoyproxy.envoy.config.core.v3.HeaderMap;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.Metadata;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The ext_proc messages Envoy sends for one HTTP request, as Envoy fills them: lower-case header
 * keys with the value in {@code raw_value}, pseudo-headers first, an (empty) {@code
 * metadata_context} on every message, {@code protocol_config} on the first one only. Built once and
 * shared by every stream: the load generator sends the same bytes each time (including a fixed
 * {@code x-request-id}, which Envoy would vary).
 */
final class EnvoyMessages {

  private static final Metadata NO_FORWARDED_METADATA = Metadata.getDefaultInstance();
  private static final String REQUEST_ID = "7b2c1c9e-3f0a-4d55-9a51-2f1b6a4c8e10";

  private final List<Map.Entry<String, String>> customHeaders;
  private final int bodySize;
  private final int chunks;

  /**
   * @param customHeaders request headers that replace the default of the same name or are added
   * @param bodySize bytes of each body (request and response) in the body scenarios
   * @param chunks how many messages each body is cut into
   */
  EnvoyMessages(List<Map.Entry<String, String>> customHeaders, int bodySize, int chunks) {
    this.customHeaders = List.copyOf(customHeaders);
    this.bodySize = bodySize;
    this.chunks = chunks;
  }

  /** Whether the body scenarios send a body at all ({@code --body-size 0}: headers only). */
  boolean hasBody() {
    return bodySize > 0;
  }

  /**
   * The first message of a stream: the request's headers ({@code GET} without a body, {@code POST}
   * with {@code content-length} otherwise), with {@code protocol_config}.
   */
  ProcessingRequest requestHeaders(boolean withBody, ProtocolConfiguration protocolConfig) {
    Map<String, String> headers = new LinkedHashMap<>();
    headers.put(":authority", "example.com");
    headers.put(":path", "/");
    headers.put(":method", withBody ? "POST" : "GET");
    headers.put(":scheme", "http");
    headers.put("user-agent", "curl/8.5.0");
    headers.put("accept", "*/*");
    if (withBody) {
      headers.put("content-length", Integer.toString(bodySize));
      headers.put("content-type", "application/octet-stream");
    }
    headers.put("x-forwarded-proto", "http");
    headers.put("x-request-id", REQUEST_ID);
    for (Map.Entry<String, String> header : customHeaders) {
      headers.put(header.getKey().toLowerCase(Locale.ROOT), header.getValue());
    }
    return message()
        .setRequestHeaders(httpHeaders(headers, !withBody))
        .setProtocolConfig(protocolConfig)
        .build();
  }

  /**
   * The response's headers: {@code 200} with a {@code content-length} body ({@code bodySize} bytes
   * with a body, a short text otherwise, which no body mode sends).
   */
  ProcessingRequest responseHeaders(boolean withBody) {
    Map<String, String> headers = new LinkedHashMap<>();
    headers.put(":status", "200");
    headers.put("content-type", withBody ? "application/octet-stream" : "text/plain");
    headers.put("content-length", withBody ? Integer.toString(bodySize) : "13");
    headers.put("date", "Sun, 22 Nov 2026 12:00:00 GMT");
    headers.put("x-envoy-upstream-service-time", "1");
    return message().setResponseHeaders(httpHeaders(headers, false)).build();
  }

  /** The request body in {@code chunks} messages, the last one marked {@code end_of_stream}. */
  List<ProcessingRequest> requestBody() {
    List<ProcessingRequest> messages = new ArrayList<>();
    for (HttpBody chunk : bodyChunks()) {
      messages.add(message().setRequestBody(chunk).build());
    }
    return messages;
  }

  /** The response body in {@code chunks} messages, the last one marked {@code end_of_stream}. */
  List<ProcessingRequest> responseBody() {
    List<ProcessingRequest> messages = new ArrayList<>();
    for (HttpBody chunk : bodyChunks()) {
      messages.add(message().setResponseBody(chunk).build());
    }
    return messages;
  }

  private List<HttpBody> bodyChunks() {
    byte[] filler = new byte[bodySize / chunks + bodySize % chunks];
    Arrays.fill(filler, (byte) 'x');
    ByteString body = ByteString.copyFrom(filler);
    int size = bodySize / chunks;
    List<HttpBody> bodies = new ArrayList<>();
    for (int i = 0; i < chunks; i++) {
      boolean last = i == chunks - 1;
      bodies.add(
          HttpBody.newBuilder()
              .setBody(last ? body : body.substring(0, size))
              .setEndOfStream(last)
              .build());
    }
    return bodies;
  }

  private static ProcessingRequest.Builder message() {
    return ProcessingRequest.newBuilder().setMetadataContext(NO_FORWARDED_METADATA);
  }

  private static HttpHeaders httpHeaders(Map<String, String> headers, boolean endOfStream) {
    HeaderMap.Builder map = HeaderMap.newBuilder();
    headers.forEach(
        (key, value) ->
            map.addHeaders(
                HeaderValue.newBuilder()
                    .setKey(key)
                    .setRawValue(ByteString.copyFrom(value, StandardCharsets.UTF_8))));
    return HttpHeaders.newBuilder().setHeaders(map).setEndOfStream(endOfStream).build();
  }
}
