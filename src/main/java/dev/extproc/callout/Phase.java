package dev.extproc.callout;

import com.google.errorprone.annotations.Immutable;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest.RequestCase;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse.ResponseCase;
import io.envoyproxy.envoy.service.ext_proc.v3.TrailersResponse;
import java.util.Locale;
import org.jspecify.annotations.Nullable;

/**
 * The six ext_proc phases, as one table: each phase's direction and kind, the hook that handles it
 * and the reply that answers it. Nothing else in the engine switches over the six.
 */
enum Phase {
  REQUEST_HEADERS(
      Direction.REQUEST,
      Kind.HEADERS,
      "onRequestHeaders",
      (s, r, c) -> reply(Direction.REQUEST, s.onRequestHeaders(r.getRequestHeaders(), c))),
  RESPONSE_HEADERS(
      Direction.RESPONSE,
      Kind.HEADERS,
      "onResponseHeaders",
      (s, r, c) -> reply(Direction.RESPONSE, s.onResponseHeaders(r.getResponseHeaders(), c))),
  REQUEST_BODY(
      Direction.REQUEST,
      Kind.BODY,
      "onRequestBody",
      (s, r, c) -> reply(Direction.REQUEST, s.onRequestBody(r.getRequestBody(), c))),
  RESPONSE_BODY(
      Direction.RESPONSE,
      Kind.BODY,
      "onResponseBody",
      (s, r, c) -> reply(Direction.RESPONSE, s.onResponseBody(r.getResponseBody(), c))),
  REQUEST_TRAILERS(
      Direction.REQUEST,
      Kind.TRAILERS,
      "onRequestTrailers",
      (s, r, c) -> reply(Direction.REQUEST, s.onRequestTrailers(r.getRequestTrailers(), c))),
  RESPONSE_TRAILERS(
      Direction.RESPONSE,
      Kind.TRAILERS,
      "onResponseTrailers",
      (s, r, c) -> reply(Direction.RESPONSE, s.onResponseTrailers(r.getResponseTrailers(), c)));

  /** What a phase carries: headers, a body (or a chunk of it) or trailers. */
  enum Kind {
    HEADERS,
    BODY,
    TRAILERS
  }

  /** Calls a phase's hook and wraps what it returned; null when it returned null. */
  @Immutable
  private interface Hook {
    @Nullable ProcessingResponse call(
        CalloutServer server, ProcessingRequest request, CalloutContext ctx);
  }

  // By field number: the request oneof's cases are fields 2..7, the response oneof's 1..6.
  private static final @Nullable Phase[] BY_REQUEST_CASE = new Phase[8];
  private static final @Nullable Phase[] BY_RESPONSE_CASE = new Phase[8];

  static {
    for (Phase phase : values()) {
      BY_REQUEST_CASE[RequestCase.valueOf(phase.name()).getNumber()] = phase;
      BY_RESPONSE_CASE[phase.responseCase.getNumber()] = phase;
    }
  }

  private final Direction direction;
  private final Kind kind;
  private final String hookName;
  private final Hook hook;
  private final ResponseCase responseCase;
  private final String wireName;
  private final String processName;
  private final ProcessingResponse continueResponse;

  Phase(Direction direction, Kind kind, String hookName, Hook hook) {
    this.direction = direction;
    this.kind = kind;
    this.hookName = hookName;
    this.hook = hook;
    this.responseCase = ResponseCase.valueOf(name());
    this.wireName = name().toLowerCase(Locale.ROOT);
    this.processName = "process (" + wireName + ")";
    ProcessingResponse.Builder reply = ProcessingResponse.newBuilder();
    this.continueResponse =
        (switch (kind) {
              case HEADERS -> direction.set(reply, HeadersResponse.getDefaultInstance());
              case BODY -> direction.set(reply, BodyResponse.getDefaultInstance());
              case TRAILERS -> direction.set(reply, TrailersResponse.getDefaultInstance());
            })
            .build();
  }

  /** Returns the phase of {@code request}, or null when its {@code request} case is not set. */
  static @Nullable Phase of(ProcessingRequest request) {
    int number = request.getRequestCase().getNumber();
    return number < BY_REQUEST_CASE.length ? BY_REQUEST_CASE[number] : null;
  }

  /**
   * Returns the phase that {@code response} answers by its type, or null for an immediate response,
   * a standalone message or no response case.
   */
  static @Nullable Phase answeredBy(ProcessingResponse response) {
    int number = response.getResponseCase().getNumber();
    return number < BY_RESPONSE_CASE.length ? BY_RESPONSE_CASE[number] : null;
  }

  /** Runs this phase's hook on {@code server}: the default {@link CalloutServer#process}. */
  @Nullable ProcessingResponse callHook(
      CalloutServer server, ProcessingRequest request, CalloutContext ctx) {
    return hook.call(server, request, ctx);
  }

  Direction direction() {
    return direction;
  }

  Kind kind() {
    return kind;
  }

  /** The response case that answers this phase. */
  ResponseCase responseCase() {
    return responseCase;
  }

  /** The name of the hook that handles this phase. */
  String hookName() {
    return hookName;
  }

  /** How logs and statuses name an overridden {@link CalloutServer#process} for this phase. */
  String processName() {
    return processName;
  }

  /** The name of the message on the wire, such as {@code request_headers}. */
  String wireName() {
    return wireName;
  }

  /** The typed "continue unchanged" response for this phase. */
  ProcessingResponse continueResponse() {
    return continueResponse;
  }

  /** Whether Envoy accepts an {@code immediate_response} in reply to this phase. */
  boolean allowsImmediateResponse() {
    return kind != Kind.TRAILERS;
  }

  private static @Nullable ProcessingResponse reply(
      Direction direction, @Nullable HeadersResponse headers) {
    return headers == null ? null : direction.set(ProcessingResponse.newBuilder(), headers).build();
  }

  private static @Nullable ProcessingResponse reply(
      Direction direction, @Nullable BodyResponse body) {
    return body == null ? null : direction.set(ProcessingResponse.newBuilder(), body).build();
  }

  private static @Nullable ProcessingResponse reply(
      Direction direction, @Nullable TrailersResponse trailers) {
    return trailers == null
        ? null
        : direction.set(ProcessingResponse.newBuilder(), trailers).build();
  }
}
