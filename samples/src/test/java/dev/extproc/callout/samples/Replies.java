package dev.extproc.callout.samples;

import com.google.protobuf.ByteString;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption.HeaderAppendAction;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeaderMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.StreamedBodyResponse;

/**
 * The replies of spec/samples.md, built field by field from the protobuf builders (never through
 * the helpers the samples use), in the spec's notation.
 */
public final class Replies {

  private Replies() {}

  /** {@code set{key: value}}: {@code raw_value} set, {@code value} empty, no append action. */
  public static HeaderValueOption set(String key, String value) {
    return HeaderValueOption.newBuilder()
        .setHeader(HeaderValue.newBuilder().setKey(key).setRawValue(ByteString.copyFromUtf8(value)))
        .build();
  }

  /** {@code set{key: value}} with {@code append_action}. */
  public static HeaderValueOption set(String key, String value, HeaderAppendAction action) {
    return set(key, value).toBuilder().setAppendAction(action).build();
  }

  /** A header mutation of the given sets and removals. */
  public static HeaderMutation mutation(HeaderValueOption[] sets, String... removes) {
    return HeaderMutation.newBuilder()
        .addAllSetHeaders(java.util.List.of(sets))
        .addAllRemoveHeaders(java.util.List.of(removes))
        .build();
  }

  /** The sets of a mutation. */
  public static HeaderValueOption[] sets(HeaderValueOption... sets) {
    return sets;
  }

  private static HeadersResponse headers(HeaderMutation mutation, boolean clearRouteCache) {
    return HeadersResponse.newBuilder()
        .setResponse(
            CommonResponse.newBuilder()
                .setHeaderMutation(mutation)
                .setClearRouteCache(clearRouteCache))
        .build();
  }

  /** A {@code request_headers} reply with {@code mutation}, and CRC when asked. */
  public static ProcessingResponse requestHeaders(HeaderMutation mutation, boolean crc) {
    return ProcessingResponse.newBuilder().setRequestHeaders(headers(mutation, crc)).build();
  }

  /** A {@code response_headers} reply with {@code mutation}. */
  public static ProcessingResponse responseHeaders(HeaderMutation mutation) {
    return ProcessingResponse.newBuilder().setResponseHeaders(headers(mutation, false)).build();
  }

  private static BodyResponse body(BodyMutation mutation) {
    return BodyResponse.newBuilder()
        .setResponse(CommonResponse.newBuilder().setBodyMutation(mutation))
        .build();
  }

  /** A {@code request_body} reply replacing the body with {@code body}. */
  public static ProcessingResponse requestBody(ByteString body) {
    return ProcessingResponse.newBuilder()
        .setRequestBody(body(BodyMutation.newBuilder().setBody(body).build()))
        .build();
  }

  /** A {@code response_body} reply replacing the body with {@code body}. */
  public static ProcessingResponse responseBody(ByteString body) {
    return ProcessingResponse.newBuilder()
        .setResponseBody(body(BodyMutation.newBuilder().setBody(body).build()))
        .build();
  }

  /**
   * A FULL_DUPLEX_STREAMED body reply: {@code body} as one {@code streamed_response} chunk of the
   * request body (or the response body), marked {@code end_of_stream} when asked.
   */
  public static ProcessingResponse streamed(boolean request, ByteString body, boolean endOfStream) {
    BodyResponse reply =
        body(
            BodyMutation.newBuilder()
                .setStreamedResponse(
                    StreamedBodyResponse.newBuilder().setBody(body).setEndOfStream(endOfStream))
                .build());
    ProcessingResponse.Builder response = ProcessingResponse.newBuilder();
    return (request ? response.setRequestBody(reply) : response.setResponseBody(reply)).build();
  }

  /** A {@code response_body} reply with {@code clear_body}. */
  public static ProcessingResponse responseBodyCleared() {
    return ProcessingResponse.newBuilder()
        .setResponseBody(body(BodyMutation.newBuilder().setClearBody(true).build()))
        .build();
  }

  /** "continue" for request headers: {@code request_headers = HeadersResponse{}}. */
  public static ProcessingResponse continueRequestHeaders() {
    return ProcessingResponse.newBuilder()
        .setRequestHeaders(HeadersResponse.getDefaultInstance())
        .build();
  }

  /** "continue" for response headers. */
  public static ProcessingResponse continueResponseHeaders() {
    return ProcessingResponse.newBuilder()
        .setResponseHeaders(HeadersResponse.getDefaultInstance())
        .build();
  }

  /** "continue" for a request body. */
  public static ProcessingResponse continueRequestBody() {
    return ProcessingResponse.newBuilder()
        .setRequestBody(BodyResponse.getDefaultInstance())
        .build();
  }

  /** "continue" for a response body. */
  public static ProcessingResponse continueResponseBody() {
    return ProcessingResponse.newBuilder()
        .setResponseBody(BodyResponse.getDefaultInstance())
        .build();
  }
}
