package dev.extproc.callout.testing;

import static com.google.common.base.Preconditions.checkArgument;
import static java.util.Objects.requireNonNull;

import com.google.protobuf.ByteString;
import dev.extproc.callout.CalloutServer;
import io.envoyproxy.envoy.config.core.v3.HeaderMap;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpTrailers;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.grpc.Channel;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * Drives a callout the way Envoy does, for tests: one {@link Stream} per HTTP request, carrying its
 * request headers, body chunks, trailers, then the response's, and returning the exact protobuf
 * replies for assertions.
 *
 * <pre>{@code
 * try (CalloutTester tester = CalloutTester.of(new AddHeader(CalloutServerConfig.defaults()))) {
 *   CalloutTester.Stream stream = tester.newStream();
 *   ProcessingResponse reply = stream.requestHeaders(CalloutTester.headers(":path", "/"));
 *   assertEquals(Status.Code.OK, stream.halfClose().getCode());
 * }
 * }</pre>
 *
 * <p>{@link #of} runs the callout's {@link CalloutServer#service()} in-process (no sockets, no
 * listeners); {@link #forChannel} drives any ext_proc server, yours or not, over a channel you own.
 * Every wait is bounded by {@link #DEFAULT_TIMEOUT} and fails with an {@link AssertionError} that
 * says what was missing.
 */
public final class CalloutTester implements AutoCloseable {

  /** How long a stream waits for a reply or for the server to close it. */
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);

  private final Channel channel;
  private final @Nullable Server server;
  private final @Nullable ExecutorService executor;

  private CalloutTester(
      Channel channel, @Nullable Server server, @Nullable ExecutorService executor) {
    this.channel = channel;
    this.server = server;
    this.executor = executor;
  }

  /**
   * Runs {@code callout}'s ext_proc service on an in-process server. Hooks run on a thread pool, as
   * in production, so a hook may block. Its configuration (listeners, TLS) is not used.
   */
  public static CalloutTester of(CalloutServer callout) {
    String name = InProcessServerBuilder.generateName();
    ExecutorService executor = Executors.newCachedThreadPool();
    try {
      Server server =
          InProcessServerBuilder.forName(name)
              .executor(executor)
              .addService(callout.service())
              .build()
              .start();
      ManagedChannel channel = InProcessChannelBuilder.forName(name).directExecutor().build();
      return new CalloutTester(channel, server, executor);
    } catch (IOException e) {
      executor.shutdownNow();
      throw new UncheckedIOException("cannot start the in-process server", e);
    }
  }

  /** Drives the ext_proc server behind {@code channel}; the caller keeps owning the channel. */
  public static CalloutTester forChannel(Channel channel) {
    return new CalloutTester(requireNonNull(channel, "channel"), null, null);
  }

  /**
   * Opens a stream whose first message carries a default {@code protocol_config} (body modes NONE),
   * as Envoy sends it.
   */
  public Stream newStream() {
    return newStream(ProtocolConfiguration.getDefaultInstance());
  }

  /** Opens a stream whose first message carries {@code protocolConfig}. */
  public Stream newStream(ProtocolConfiguration protocolConfig) {
    return new Stream(requireNonNull(protocolConfig, "protocolConfig"));
  }

  /**
   * Opens a stream that marks every message {@code observability_mode} and sends no {@code
   * protocol_config}, as Envoy does in observability mode; use {@link Stream#send} and expect no
   * reply.
   */
  public Stream newObservabilityStream() {
    return new Stream(null);
  }

  /** Stops the in-process server, if this tester started one. */
  @Override
  public void close() {
    if (channel instanceof ManagedChannel managed && server != null) {
      managed.shutdownNow();
    }
    if (server != null) {
      server.shutdownNow();
      try {
        server.awaitTermination(DEFAULT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    if (executor != null) {
      executor.shutdownNow();
    }
  }

  // ---- Message builders ----

  /**
   * Returns request or response headers from alternating keys and values, each value in {@code
   * raw_value} as Envoy sends it, with {@code end_of_stream} false.
   */
  public static HttpHeaders headers(String... keysAndValues) {
    return HttpHeaders.newBuilder().setHeaders(headerMap(keysAndValues)).build();
  }

  /** Like {@link #headers}, with {@code end_of_stream} true: no body follows. */
  public static HttpHeaders headersEndOfStream(String... keysAndValues) {
    return headers(keysAndValues).toBuilder().setEndOfStream(true).build();
  }

  /** Returns a body message (or chunk) holding {@code text} as UTF-8. */
  public static HttpBody body(String text, boolean endOfStream) {
    return HttpBody.newBuilder()
        .setBody(ByteString.copyFromUtf8(text))
        .setEndOfStream(endOfStream)
        .build();
  }

  /** Returns trailers from alternating keys and values. */
  public static HttpTrailers trailers(String... keysAndValues) {
    return HttpTrailers.newBuilder().setTrailers(headerMap(keysAndValues)).build();
  }

  private static HeaderMap headerMap(String... keysAndValues) {
    checkArgument(
        keysAndValues.length % 2 == 0,
        "keysAndValues: %s strings (expected: an even number)",
        keysAndValues.length);
    HeaderMap.Builder map = HeaderMap.newBuilder();
    for (int i = 0; i < keysAndValues.length; i += 2) {
      map.addHeaders(
          HeaderValue.newBuilder()
              .setKey(keysAndValues[i])
              .setRawValue(ByteString.copyFromUtf8(keysAndValues[i + 1])));
    }
    return map.build();
  }

  /** One ext_proc stream, that is, one HTTP request. Not thread-safe. */
  public final class Stream {
    private final @Nullable ProtocolConfiguration protocolConfig;
    private final StreamObserver<ProcessingRequest> requests;
    private final BlockingQueue<Object> events = new LinkedBlockingQueue<>();
    private final Deque<ProcessingResponse> unread = new ArrayDeque<>();
    private final List<ProcessingResponse> received =
        Collections.synchronizedList(new ArrayList<>());
    private boolean first = true;
    private @Nullable Status closeStatus;

    private Stream(@Nullable ProtocolConfiguration protocolConfig) {
      this.protocolConfig = protocolConfig;
      this.requests =
          ExternalProcessorGrpc.newStub(channel)
              .process(
                  new StreamObserver<ProcessingResponse>() {
                    @Override
                    public void onNext(ProcessingResponse response) {
                      received.add(response);
                      events.add(response);
                    }

                    @Override
                    public void onError(Throwable t) {
                      events.add(Status.fromThrowable(t));
                    }

                    @Override
                    public void onCompleted() {
                      events.add(Status.OK);
                    }
                  });
    }

    /**
     * Sends {@code request} without waiting for a reply. The first message of a stream gets the
     * stream's {@code protocol_config} unless it has one; every message of an observability stream
     * gets {@code observability_mode}.
     */
    public void send(ProcessingRequest request) {
      ProcessingRequest.Builder message = request.toBuilder();
      if (protocolConfig == null) {
        message.setObservabilityMode(true);
      } else if (first && !request.hasProtocolConfig()) {
        message.setProtocolConfig(protocolConfig);
      }
      first = false;
      requests.onNext(message.build());
    }

    /** Sends {@code request} and returns the next reply. */
    public ProcessingResponse exchange(ProcessingRequest request) {
      send(request);
      return nextResponse();
    }

    /** Sends {@code request_headers} and returns the reply. */
    public ProcessingResponse requestHeaders(HttpHeaders headers) {
      return exchange(ProcessingRequest.newBuilder().setRequestHeaders(headers).build());
    }

    /** Sends {@code response_headers} and returns the reply. */
    public ProcessingResponse responseHeaders(HttpHeaders headers) {
      return exchange(ProcessingRequest.newBuilder().setResponseHeaders(headers).build());
    }

    /** Sends {@code request_body} and returns the reply. */
    public ProcessingResponse requestBody(HttpBody body) {
      return exchange(ProcessingRequest.newBuilder().setRequestBody(body).build());
    }

    /** Sends {@code response_body} and returns the reply. */
    public ProcessingResponse responseBody(HttpBody body) {
      return exchange(ProcessingRequest.newBuilder().setResponseBody(body).build());
    }

    /** Sends {@code request_trailers} and returns the reply. */
    public ProcessingResponse requestTrailers(HttpTrailers trailers) {
      return exchange(ProcessingRequest.newBuilder().setRequestTrailers(trailers).build());
    }

    /** Sends {@code response_trailers} and returns the reply. */
    public ProcessingResponse responseTrailers(HttpTrailers trailers) {
      return exchange(ProcessingRequest.newBuilder().setResponseTrailers(trailers).build());
    }

    /**
     * Returns the next reply not yet returned.
     *
     * @throws AssertionError when the server closes the stream first, or none comes within {@link
     *     #DEFAULT_TIMEOUT}
     */
    public ProcessingResponse nextResponse() {
      ProcessingResponse response = unread.pollFirst();
      if (response != null) {
        return response;
      }
      if (closeStatus != null) {
        throw new AssertionError("stream already closed with " + closeStatus);
      }
      Object event = take("a reply");
      if (event instanceof Status status) {
        closeStatus = status;
        throw new AssertionError("stream closed with " + closeStatus + " instead of replying");
      }
      return (ProcessingResponse) event;
    }

    /**
     * Half-closes the stream, as Envoy does when it needs nothing more, and returns the status the
     * server closes it with. Replies sent before the close stay readable.
     */
    public Status halfClose() {
      requests.onCompleted();
      return awaitClose();
    }

    /** Waits for the server to close the stream and returns its status. */
    public Status awaitClose() {
      while (closeStatus == null) {
        Object event = take("the stream to close");
        if (event instanceof Status status) {
          closeStatus = status;
        } else {
          unread.addLast((ProcessingResponse) event);
        }
      }
      return closeStatus;
    }

    /** Resets the stream, as Envoy does when the HTTP request goes away. */
    public void cancel() {
      requests.onError(Status.CANCELLED.withDescription("cancelled by the test").asException());
    }

    /** Every reply received so far, in order. */
    public List<ProcessingResponse> received() {
      synchronized (received) {
        return List.copyOf(received);
      }
    }

    private Object take(String what) {
      try {
        Object event = events.poll(DEFAULT_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        if (event == null) {
          throw new AssertionError("waited " + DEFAULT_TIMEOUT + " for " + what);
        }
        return event;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted while waiting for " + what, e);
      }
    }
  }
}
