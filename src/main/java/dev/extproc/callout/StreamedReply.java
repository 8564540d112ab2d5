package dev.extproc.callout;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.ByteString;
import com.google.protobuf.Struct;
import dev.extproc.callout.internal.wire.NewerFields;
import dev.extproc.callout.internal.wire.ProcessingResponseFields;
import dev.extproc.callout.internal.wire.StreamedImmediateResponse;
import io.envoyproxy.envoy.config.core.v3.HeaderMap;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.StreamedBodyResponse;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Flow;
import org.jspecify.annotations.Nullable;

/**
 * A streamed local reply ({@code streamed_immediate_response}, Envoy 1.37+): its {@code
 * headers_response} answers {@code request_headers}, then {@code body_response}s and optional
 * {@code trailers_response} follow as the callout writes them, and the stream ends OK with the
 * reply.
 *
 * <p>Until the request-headers hook returned, what is written is held here, since the headers
 * message goes out as that hook's reply ({@link #first}); {@link StreamCore} then calls {@link
 * #open}, which sends what was held, and from then on each write goes out at once as a standalone
 * message ({@link StreamSink#sendStandalone}, safe from any thread). The end closes the stream OK
 * through the stream's own event order ({@link StreamSink#runInOrder}). Thread-safe: every method
 * locks this object, which is only ever taken before the transport's lock, never after it.
 */
final class StreamedReply implements CalloutContext.StreamedResponse {
  private final HttpHeaders headers;
  private final List<ProcessingResponse> held = new ArrayList<>();
  private @Nullable StreamSink<ProcessingResponse> sink; // set by open; null while held
  private boolean observed; // observability mode: nothing is sent
  private boolean ended;
  private boolean endsWithHeaders; // ended before anything was written: headers end_of_stream
  private Flow.@Nullable Publisher<ByteString> publisher;
  // Set when the stream ended (by any path): later writes are dropped. Read without the lock,
  // since the transport may end the stream while holding its own lock.
  private volatile boolean abandoned;

  private StreamedReply(HttpHeaders headers) {
    this.headers = headers;
  }

  /**
   * A reply of {@code httpStatus} with {@code headers}, checked as {@link
   * CalloutContext#respondStreaming} documents.
   *
   * @throws IllegalArgumentException for a status outside 200..599 or a pseudo-header
   */
  static StreamedReply of(int httpStatus, List<Map.Entry<String, String>> headers) {
    requireNonNull(headers, "headers");
    if (httpStatus < 200 || httpStatus > 599) {
      throw new IllegalArgumentException("httpStatus: " + httpStatus + " (expected: 200..599)");
    }
    HeaderMap.Builder map = HeaderMap.newBuilder().addHeaders(header(":status", "" + httpStatus));
    for (Map.Entry<String, String> header : headers) {
      String key = requireNonNull(header.getKey(), "header name");
      if (key.startsWith(":")) {
        throw new IllegalArgumentException(
            "header " + key + ": pseudo-headers are not allowed (:status is set from httpStatus)");
      }
      map.addHeaders(header(key, requireNonNull(header.getValue(), key)));
    }
    return new StreamedReply(HttpHeaders.newBuilder().setHeaders(map).build());
  }

  /**
   * Refuses a streamed reply where Envoy does not take one.
   *
   * @throws IllegalStateException outside the request-headers hook, when the request body mode
   *     ({@code requestBodyMode}, by number) is not NONE or FULL_DUPLEX_STREAMED, or when the phase
   *     already has a local reply
   */
  static void check(Phase current, int requestBodyMode, boolean answered) {
    if (current != Phase.REQUEST_HEADERS) {
      throw new IllegalStateException(
          "a streamed immediate response answers only request_headers (Envoy's rule), not "
              + current.wireName());
    }
    if (requestBodyMode != BodySendMode.NONE_VALUE
        && requestBodyMode != BodySendMode.FULL_DUPLEX_STREAMED_VALUE) {
      throw new IllegalStateException(
          "a streamed immediate response needs request body mode NONE or FULL_DUPLEX_STREAMED"
              + " (Envoy answers 500 otherwise); Envoy announced "
              + modeName(requestBodyMode));
    }
    if (answered) {
      throw new IllegalStateException(
          "this phase already answers with an immediate or streamed response");
    }
  }

  /** The name of body mode {@code value}, GRPC included (API 1.0.49 has no constant for it). */
  static String modeName(int value) {
    BodySendMode mode = BodySendMode.forNumber(value);
    if (mode != null) {
      return mode.name();
    }
    return value == NewerFields.GRPC_BODY_MODE ? "GRPC" : "body mode " + value;
  }

  private static HeaderValue header(String key, String value) {
    return HeaderValue.newBuilder().setKey(key).setRawValue(ByteString.copyFromUtf8(value)).build();
  }

  /** Streams the body from {@code body} once the headers went out; see {@link #open}. */
  synchronized void bodyFrom(Flow.Publisher<ByteString> body) {
    publisher = requireNonNull(body, "body");
  }

  /**
   * The reply to {@code request_headers}, replacing what the hook {@code returned}: the headers
   * message, carrying the dynamic metadata the hook attached and returned, with {@code
   * end_of_stream} if the reply already ended without a body.
   */
  synchronized ProcessingResponse first(@Nullable ProcessingResponse returned, CalloutContext ctx) {
    Struct metadata = ctx.dynamicMetadata();
    if (returned != null && returned.hasDynamicMetadata()) {
      metadata = PhaseReply.merge(returned.getDynamicMetadata(), metadata);
    }
    HttpHeaders first =
        endsWithHeaders ? headers.toBuilder().setEndOfStream(true).build() : headers;
    ProcessingResponse.Builder reply =
        message(StreamedImmediateResponse.newBuilder().setHeadersResponse(first).build());
    if (metadata != null) {
      reply.setDynamicMetadata(metadata);
    }
    return reply.build();
  }

  /**
   * The headers went out (or, with {@code observed}, would have): sends what was held, subscribes
   * to the body publisher if there is one, and closes the stream OK when the reply already ended.
   */
  void open(StreamSink<ProcessingResponse> sink, boolean observed) {
    Flow.@Nullable Publisher<ByteString> body;
    boolean close;
    synchronized (this) {
      this.sink = sink;
      this.observed = observed;
      if (!observed) {
        held.forEach(sink::sendStandalone);
      }
      held.clear();
      body = publisher;
      close = ended;
    }
    if (close) {
      sink.close(Status.OK, null);
    } else if (body != null) {
      body.subscribe(new BodySubscriber());
    }
  }

  /** The stream ended: what is written from now on is dropped. */
  void abandon() {
    abandoned = true;
  }

  @Override
  public void write(ByteString chunk) {
    requireNonNull(chunk, "chunk");
    synchronized (this) {
      checkOpen();
      if (!chunk.isEmpty()) {
        emit(body(chunk, false));
      }
    }
  }

  @Override
  public void end() {
    finish(null);
  }

  @Override
  public void end(List<Map.Entry<String, String>> trailers) {
    requireNonNull(trailers, "trailers");
    HeaderMap.Builder map = HeaderMap.newBuilder();
    trailers.forEach(t -> map.addHeaders(header(t.getKey(), t.getValue())));
    finish(map.build());
  }

  private void finish(@Nullable HeaderMap trailers) {
    StreamSink<ProcessingResponse> closing;
    synchronized (this) {
      checkOpen();
      ended = true;
      closing = sink;
      if (trailers != null) {
        emit(
            message(StreamedImmediateResponse.newBuilder().setTrailersResponse(trailers).build())
                .build());
      } else if (closing == null && held.isEmpty()) {
        endsWithHeaders = true;
      } else {
        emit(body(ByteString.EMPTY, true));
      }
    }
    if (closing != null) {
      // In the stream's event order: the hook that called this (if any) has returned by then.
      closing.runInOrder(() -> closing.close(Status.OK, null));
    }
  }

  private void checkOpen() {
    if (ended) {
      throw new IllegalStateException("the streamed response already ended");
    }
  }

  /** Sends {@code message} now, or holds it until {@link #open}. */
  private void emit(ProcessingResponse message) {
    if (abandoned || observed) {
      return;
    }
    if (sink == null) {
      held.add(message);
    } else {
      sink.sendStandalone(message);
    }
  }

  private static ProcessingResponse body(ByteString data, boolean endOfStream) {
    return message(
            StreamedImmediateResponse.newBuilder()
                .setBodyResponse(
                    StreamedBodyResponse.newBuilder().setBody(data).setEndOfStream(endOfStream))
                .build())
        .build();
  }

  private static ProcessingResponse.Builder message(StreamedImmediateResponse part) {
    return NewerFields.merge(
        ProcessingResponse.newBuilder(),
        ProcessingResponseFields.newBuilder().setStreamedImmediateResponse(part).build());
  }

  /**
   * Writes each item of the body publisher, one requested at a time, and ends the reply when it
   * completes; a failure ends the stream with {@code INTERNAL} (Envoy then resets the client's
   * stream, the reply being cut short).
   */
  private final class BodySubscriber implements Flow.Subscriber<ByteString> {
    private Flow.@Nullable Subscription subscription;

    @Override
    public void onSubscribe(Flow.Subscription s) {
      subscription = s;
      s.request(1);
    }

    @Override
    public void onNext(ByteString item) {
      Flow.Subscription s = requireNonNull(subscription);
      if (abandoned) {
        s.cancel();
        return;
      }
      write(item);
      s.request(1);
    }

    @Override
    public void onError(Throwable failure) {
      StreamSink<ProcessingResponse> closing;
      synchronized (StreamedReply.this) {
        ended = true;
        closing = requireNonNull(sink);
      }
      closing.runInOrder(
          () ->
              closing.close(
                  Status.INTERNAL
                      .withDescription("the streamed response's body publisher failed: " + failure)
                      .withCause(failure),
                  null));
    }

    @Override
    public void onComplete() {
      end();
    }
  }
}
