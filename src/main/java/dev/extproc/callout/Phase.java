package dev.extproc.callout;

import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse.ResponseCase;
import io.envoyproxy.envoy.service.ext_proc.v3.TrailersResponse;
import org.jspecify.annotations.Nullable;

/** The six ext_proc phases: what each expects in reply and which hook handles it. */
enum Phase {
  REQUEST_HEADERS(
      ResponseCase.REQUEST_HEADERS,
      "onRequestHeaders",
      ProcessingResponse.newBuilder().setRequestHeaders(HeadersResponse.getDefaultInstance())),
  RESPONSE_HEADERS(
      ResponseCase.RESPONSE_HEADERS,
      "onResponseHeaders",
      ProcessingResponse.newBuilder().setResponseHeaders(HeadersResponse.getDefaultInstance())),
  REQUEST_BODY(
      ResponseCase.REQUEST_BODY,
      "onRequestBody",
      ProcessingResponse.newBuilder().setRequestBody(BodyResponse.getDefaultInstance())),
  RESPONSE_BODY(
      ResponseCase.RESPONSE_BODY,
      "onResponseBody",
      ProcessingResponse.newBuilder().setResponseBody(BodyResponse.getDefaultInstance())),
  REQUEST_TRAILERS(
      ResponseCase.REQUEST_TRAILERS,
      "onRequestTrailers",
      ProcessingResponse.newBuilder().setRequestTrailers(TrailersResponse.getDefaultInstance())),
  RESPONSE_TRAILERS(
      ResponseCase.RESPONSE_TRAILERS,
      "onResponseTrailers",
      ProcessingResponse.newBuilder().setResponseTrailers(TrailersResponse.getDefaultInstance()));

  private final ResponseCase responseCase;
  private final String hookName;
  private final ProcessingResponse continueResponse;

  Phase(ResponseCase responseCase, String hookName, ProcessingResponse.Builder continueResponse) {
    this.responseCase = responseCase;
    this.hookName = hookName;
    this.continueResponse = continueResponse.build();
  }

  /** Returns the phase of {@code request}, or null when its {@code request} case is not set. */
  static @Nullable Phase of(ProcessingRequest request) {
    return switch (request.getRequestCase()) {
      case REQUEST_HEADERS -> REQUEST_HEADERS;
      case RESPONSE_HEADERS -> RESPONSE_HEADERS;
      case REQUEST_BODY -> REQUEST_BODY;
      case RESPONSE_BODY -> RESPONSE_BODY;
      case REQUEST_TRAILERS -> REQUEST_TRAILERS;
      case RESPONSE_TRAILERS -> RESPONSE_TRAILERS;
      default -> null;
    };
  }

  /** The response case that answers this phase. */
  ResponseCase responseCase() {
    return responseCase;
  }

  /** The name of the hook that handles this phase. */
  String hookName() {
    return hookName;
  }

  /** The name of the message on the wire, such as {@code request_headers}. */
  String wireName() {
    return responseCase.name().toLowerCase(java.util.Locale.ROOT);
  }

  /** The typed "continue unchanged" response for this phase. */
  ProcessingResponse continueResponse() {
    return continueResponse;
  }

  /** Whether Envoy accepts an {@code immediate_response} in reply to this phase. */
  boolean allowsImmediateResponse() {
    return this != REQUEST_TRAILERS && this != RESPONSE_TRAILERS;
  }

  /** Whether this phase belongs to the request (decoding) direction. */
  boolean isRequestDirection() {
    return this == REQUEST_HEADERS || this == REQUEST_BODY || this == REQUEST_TRAILERS;
  }
}
