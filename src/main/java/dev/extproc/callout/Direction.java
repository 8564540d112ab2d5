package dev.extproc.callout;

import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.TrailersResponse;
import java.util.Optional;
import org.jspecify.annotations.Nullable;

/**
 * The two directions of an HTTP exchange, as ext_proc carries them: the request (decoding) and the
 * response (encoding). Everything that differs between them is here, each a field accessor of the
 * protos or the context, so the engine never branches on the direction itself.
 */
enum Direction {
  REQUEST {
    @Override
    BodySendMode bodyMode(CalloutContext ctx) {
      return ctx.requestBodyMode();
    }

    @Override
    Optional<HttpHeaders> headers(CalloutContext ctx) {
      return ctx.requestHeaders();
    }

    @Override
    HttpBody body(ProcessingRequest request) {
      return request.getRequestBody();
    }

    @Override
    HeadersResponse headersResponse(ProcessingResponse response) {
      return response.getRequestHeaders();
    }

    @Override
    BodyResponse bodyResponse(ProcessingResponse response) {
      return response.getRequestBody();
    }

    @Override
    TrailersResponse trailersResponse(ProcessingResponse response) {
      return response.getRequestTrailers();
    }

    @Override
    ProcessingResponse.Builder set(ProcessingResponse.Builder reply, HeadersResponse headers) {
      return reply.setRequestHeaders(headers);
    }

    @Override
    ProcessingResponse.Builder set(ProcessingResponse.Builder reply, BodyResponse body) {
      return reply.setRequestBody(body);
    }

    @Override
    ProcessingResponse.Builder set(ProcessingResponse.Builder reply, TrailersResponse trailers) {
      return reply.setRequestTrailers(trailers);
    }
  },

  RESPONSE {
    @Override
    BodySendMode bodyMode(CalloutContext ctx) {
      return ctx.responseBodyMode();
    }

    @Override
    Optional<HttpHeaders> headers(CalloutContext ctx) {
      return ctx.responseHeaders();
    }

    @Override
    HttpBody body(ProcessingRequest request) {
      return request.getResponseBody();
    }

    @Override
    HeadersResponse headersResponse(ProcessingResponse response) {
      return response.getResponseHeaders();
    }

    @Override
    BodyResponse bodyResponse(ProcessingResponse response) {
      return response.getResponseBody();
    }

    @Override
    TrailersResponse trailersResponse(ProcessingResponse response) {
      return response.getResponseTrailers();
    }

    @Override
    ProcessingResponse.Builder set(ProcessingResponse.Builder reply, HeadersResponse headers) {
      return reply.setResponseHeaders(headers);
    }

    @Override
    ProcessingResponse.Builder set(ProcessingResponse.Builder reply, BodyResponse body) {
      return reply.setResponseBody(body);
    }

    @Override
    ProcessingResponse.Builder set(ProcessingResponse.Builder reply, TrailersResponse trailers) {
      return reply.setResponseTrailers(trailers);
    }
  };

  /** The body mode Envoy announced for this direction. */
  abstract BodySendMode bodyMode(CalloutContext ctx);

  /** This direction's headers, once they arrived. */
  abstract Optional<HttpHeaders> headers(CalloutContext ctx);

  /** The body transformer a hook set for this direction, if any. */
  final @Nullable BodyTransformer transformer(CalloutContext ctx) {
    return ctx.bodyTransformer(this);
  }

  /** The body chunk of a body message of this direction. */
  abstract HttpBody body(ProcessingRequest request);

  abstract HeadersResponse headersResponse(ProcessingResponse response);

  abstract BodyResponse bodyResponse(ProcessingResponse response);

  abstract TrailersResponse trailersResponse(ProcessingResponse response);

  /** Sets this direction's headers response on {@code reply}. */
  abstract ProcessingResponse.Builder set(ProcessingResponse.Builder reply, HeadersResponse headers);

  /** Sets this direction's body response on {@code reply}. */
  abstract ProcessingResponse.Builder set(ProcessingResponse.Builder reply, BodyResponse body);

  /** Sets this direction's trailers response on {@code reply}. */
  abstract ProcessingResponse.Builder set(
      ProcessingResponse.Builder reply, TrailersResponse trailers);
}
