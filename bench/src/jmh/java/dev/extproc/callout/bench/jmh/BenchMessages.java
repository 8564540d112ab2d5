package dev.extproc.callout.bench.jmh;

import com.google.protobuf.ByteString;
import io.envoyproxy.envoy.config.core.v3.HeaderMap;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import java.util.Arrays;

/** What Envoy sends for one ordinary HTTP request, as the benchmarks feed it to the engine. */
final class BenchMessages {

  private static final String[][] REQUEST_HEADERS = {
    {":authority", "api.example.com"},
    {":path", "/v1/items/42?view=full"},
    {":method", "GET"},
    {":scheme", "https"},
    {"user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"},
    {"accept", "application/json"},
    {"accept-encoding", "gzip, deflate, br"},
    {"x-forwarded-for", "203.0.113.7"},
    {"x-forwarded-proto", "https"},
    {"x-request-id", "5f0c6f5e-8a1b-4c47-9a0e-1d2b3c4d5e6f"},
  };

  private static final String[][] RESPONSE_HEADERS = {
    {":status", "200"},
    {"content-type", "application/json"},
    {"content-length", "1234"},
    {"date", "Sun, 22 Nov 2026 10:00:00 GMT"},
    {"server", "envoy"},
    {"x-envoy-upstream-service-time", "3"},
  };

  private BenchMessages() {}

  /**
   * Request headers as Envoy sends them (values in {@code raw_value}): the usual ten, then {@code
   * x-extra-N} up to {@code count}.
   */
  static HttpHeaders requestHeaders(int count) {
    String[][] headers = new String[count][];
    for (int i = 0; i < count; i++) {
      headers[i] =
          i < REQUEST_HEADERS.length
              ? REQUEST_HEADERS[i]
              : new String[] {"x-extra-" + i, "value-" + i};
    }
    return headers(headers);
  }

  /** The key of the last header of {@link #requestHeaders(int) requestHeaders(count)}. */
  static String lastRequestHeaderKey(int count) {
    return requestHeaders(count).getHeaders().getHeaders(count - 1).getKey();
  }

  /** A request_headers message with ten headers, announcing {@code requestBodyMode}. */
  static ProcessingRequest requestHeadersMessage(BodySendMode requestBodyMode) {
    return ProcessingRequest.newBuilder()
        .setRequestHeaders(requestHeaders(REQUEST_HEADERS.length))
        .setProtocolConfig(
            ProtocolConfiguration.newBuilder()
                .setRequestBodyMode(requestBodyMode)
                .setResponseBodyMode(BodySendMode.NONE))
        .build();
  }

  /** A response_headers message with six headers. */
  static ProcessingRequest responseHeadersMessage() {
    return ProcessingRequest.newBuilder().setResponseHeaders(headers(RESPONSE_HEADERS)).build();
  }

  /** A request_body message carrying {@code size} bytes, not the last chunk. */
  static ProcessingRequest requestBodyMessage(int size) {
    byte[] bytes = new byte[size];
    Arrays.fill(bytes, (byte) 'a');
    return ProcessingRequest.newBuilder()
        .setRequestBody(HttpBody.newBuilder().setBody(ByteString.copyFrom(bytes)))
        .build();
  }

  private static HttpHeaders headers(String[][] headers) {
    HeaderMap.Builder map = HeaderMap.newBuilder();
    for (String[] header : headers) {
      map.addHeaders(
          HeaderValue.newBuilder()
              .setKey(header[0])
              .setRawValue(ByteString.copyFromUtf8(header[1])));
    }
    return HttpHeaders.newBuilder().setHeaders(map).build();
  }
}
