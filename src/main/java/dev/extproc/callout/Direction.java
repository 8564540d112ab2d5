package dev.extproc.callout;

import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.StreamedBodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.TrailersResponse;
import java.util.Optional;
import java.util.function.BiFunction;
import java.util.function.Function;
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;

/**
 * The two directions of an HTTP exchange, as ext_proc carries them: the request (decoding) and the
 * response (encoding). Everything that differs between them is here, each a field accessor of the
 * protos or the context, in one table, so the engine never branches on the direction itself.
 */
enum Direction {
  REQUEST(
      CalloutContext::requestBodyMode,
      CalloutContext::isGrpcRequestBody,
      CalloutContext::requestHeaders,
      ProcessingRequest::getRequestBody,
      new Replies(
          ProcessingResponse::getRequestHeaders,
          ProcessingResponse.Builder::setRequestHeaders,
          ProcessingResponse::getRequestBody,
          ProcessingResponse.Builder::setRequestBody,
          ProcessingResponse::getRequestTrailers,
          ProcessingResponse.Builder::setRequestTrailers)),
  RESPONSE(
      CalloutContext::responseBodyMode,
      CalloutContext::isGrpcResponseBody,
      CalloutContext::responseHeaders,
      ProcessingRequest::getResponseBody,
      new Replies(
          ProcessingResponse::getResponseHeaders,
          ProcessingResponse.Builder::setResponseHeaders,
          ProcessingResponse::getResponseBody,
          ProcessingResponse.Builder::setResponseBody,
          ProcessingResponse::getResponseTrailers,
          ProcessingResponse.Builder::setResponseTrailers));

  /** The reply fields of a direction: the getter and setter of each of its three replies. */
  private record Replies(
      Function<ProcessingResponse, HeadersResponse> headers,
      BiFunction<ProcessingResponse.Builder, HeadersResponse, ProcessingResponse.Builder>
          setHeaders,
      Function<ProcessingResponse, BodyResponse> body,
      BiFunction<ProcessingResponse.Builder, BodyResponse, ProcessingResponse.Builder> setBody,
      Function<ProcessingResponse, TrailersResponse> trailers,
      BiFunction<ProcessingResponse.Builder, TrailersResponse, ProcessingResponse.Builder>
          setTrailers) {}

  @SuppressWarnings("ImmutableEnumChecker") // method references, stateless
  private final Function<CalloutContext, BodySendMode> bodyMode;

  @SuppressWarnings("ImmutableEnumChecker")
  private final Predicate<CalloutContext> grpcBody;

  @SuppressWarnings("ImmutableEnumChecker")
  private final Function<CalloutContext, Optional<HttpHeaders>> headers;

  @SuppressWarnings("ImmutableEnumChecker")
  private final Function<ProcessingRequest, HttpBody> body;

  @SuppressWarnings("ImmutableEnumChecker")
  private final Replies replies;

  Direction(
      Function<CalloutContext, BodySendMode> bodyMode,
      Predicate<CalloutContext> grpcBody,
      Function<CalloutContext, Optional<HttpHeaders>> headers,
      Function<ProcessingRequest, HttpBody> body,
      Replies replies) {
    this.bodyMode = bodyMode;
    this.grpcBody = grpcBody;
    this.headers = headers;
    this.body = body;
    this.replies = replies;
  }

  /** The body mode Envoy announced for this direction. */
  BodySendMode bodyMode(CalloutContext ctx) {
    return bodyMode.apply(ctx);
  }

  /**
   * The number of the body mode Envoy announced for this direction (0, NONE, when it sent none):
   * GRPC (5) included, which {@link #bodyMode} reads as {@code UNRECOGNIZED}.
   */
  int announcedBodyModeValue(CalloutContext ctx) {
    return ctx.protocolConfig()
        .map(c -> this == REQUEST ? c.getRequestBodyModeValue() : c.getResponseBodyModeValue())
        .orElse(0);
  }

  /** A body reply of this direction carrying {@code streamed} as its {@code streamed_response}. */
  ProcessingResponse streamedReply(StreamedBodyResponse streamed) {
    BodyResponse response =
        BodyResponse.newBuilder()
            .setResponse(
                CommonResponse.newBuilder()
                    .setBodyMutation(BodyMutation.newBuilder().setStreamedResponse(streamed)))
            .build();
    return set(ProcessingResponse.newBuilder(), response).build();
  }

  /** Whether this direction's body is in GRPC mode, announced or switched by a mode override. */
  boolean isGrpc(CalloutContext ctx) {
    return grpcBody.test(ctx);
  }

  /** This direction's headers, once they arrived. */
  Optional<HttpHeaders> headers(CalloutContext ctx) {
    return headers.apply(ctx);
  }

  /** The body transformer a hook set for this direction, if any. */
  @Nullable BodyTransformer transformer(CalloutContext ctx) {
    return ctx.bodyTransformer(this);
  }

  /** The body chunk of a body message of this direction. */
  HttpBody body(ProcessingRequest request) {
    return body.apply(request);
  }

  HeadersResponse headersResponse(ProcessingResponse response) {
    return replies.headers().apply(response);
  }

  BodyResponse bodyResponse(ProcessingResponse response) {
    return replies.body().apply(response);
  }

  TrailersResponse trailersResponse(ProcessingResponse response) {
    return replies.trailers().apply(response);
  }

  /** Sets this direction's headers response on {@code reply}. */
  ProcessingResponse.Builder set(ProcessingResponse.Builder reply, HeadersResponse headers) {
    return replies.setHeaders().apply(reply, headers);
  }

  /** Sets this direction's body response on {@code reply}. */
  ProcessingResponse.Builder set(ProcessingResponse.Builder reply, BodyResponse body) {
    return replies.setBody().apply(reply, body);
  }

  /** Sets this direction's trailers response on {@code reply}. */
  ProcessingResponse.Builder set(ProcessingResponse.Builder reply, TrailersResponse trailers) {
    return replies.setTrailers().apply(reply, trailers);
  }
}
