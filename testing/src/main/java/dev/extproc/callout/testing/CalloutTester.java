package dev.extproc.callout.testing;

import static com.google.common.base.Preconditions.checkArgument;
import static java.util.Objects.requireNonNull;

import com.google.errorprone.annotations.CanIgnoreReturnValue;
import com.google.protobuf.ByteString;
import dev.extproc.callout.CalloutServer;
import io.envoyproxy.envoy.config.core.v3.HeaderMap;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.auth.v3.AuthorizationGrpc;
import io.envoyproxy.envoy.service.auth.v3.CheckRequest;
import io.envoyproxy.envoy.service.auth.v3.CheckResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpTrailers;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse.ResponseCase;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.grpc.Channel;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.jspecify.annotations.Nullable;

/**
 * Drives a callout the way Envoy does, for tests: one {@link Stream} per HTTP request, carrying its
 * request headers, body chunks, trailers, then the response's, and returning the exact protobuf
 * replies for assertions (read them with {@link Replies}).
 *
 * <pre>{@code
 * try (CalloutTester tester = CalloutTester.of(new AddHeader(CalloutServerConfig.defaults()))) {
 *   CalloutTester.Stream stream = tester.newStream();
 *   ProcessingResponse reply = stream.requestHeaders(CalloutTester.headers(":path", "/"));
 *   assertThat(Replies.setHeaders(reply)).containsExactly("x-hello", "world");
 *   assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
 * }
 * }</pre>
 *
 * <p>The same tester sends ext_authz checks ({@link #check}, one per HTTP request) and opens
 * network ext_proc connections ({@link #newNetworkStream}, one per TCP connection).
 *
 * <p>{@link #of} runs the callout's {@link CalloutServer#services()} in-process (no sockets, no
 * listeners); {@link #forChannel} drives any such server, yours or not, over a channel you own;
 * {@link CalloutExtension} does either for a JUnit 5 test class. Every wait is bounded by the
 * tester's {@link #timeout()} ({@link #DEFAULT_TIMEOUT} unless set) and fails with an {@link
 * AssertionError} that says what was missing and what arrived.
 */
public final class CalloutTester implements AutoCloseable {

  /** How long a stream waits by default for each reply, or for the server to close it: 10 s. */
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(10);

  private final Channel channel;
  private final @Nullable Server server;
  private final @Nullable ExecutorService executor;
  private final @Nullable OpenCalls calls;
  private final Duration timeout;
  // The request side of every stream and connection the server has not closed yet.
  private final Set<StreamObserver<?>> open = ConcurrentHashMap.newKeySet();

  private CalloutTester(
      Channel channel,
      @Nullable Server server,
      @Nullable ExecutorService executor,
      @Nullable OpenCalls calls,
      Duration timeout) {
    this.channel = channel;
    this.server = server;
    this.executor = executor;
    this.calls = calls;
    this.timeout = timeout;
  }

  /**
   * Runs every service of {@code callout} ({@link CalloutServer#services()}: ext_proc, ext_authz,
   * network ext_proc, whichever it implements) on an in-process server. Hooks run on the callout's
   * hook executor, as in production, so a hook may block. Its configuration's listeners and TLS are
   * not used. The tester does not close {@code callout}.
   */
  public static CalloutTester of(CalloutServer callout) {
    return newBuilder(callout).build();
  }

  /** Like {@link #of(CalloutServer)}, waiting at most {@code timeout} for each reply. */
  public static CalloutTester of(CalloutServer callout, Duration timeout) {
    return newBuilder(callout).timeout(timeout).build();
  }

  /**
   * Drives the ext_proc, ext_authz or network ext_proc server behind {@code channel}; the caller
   * keeps owning the channel.
   */
  public static CalloutTester forChannel(Channel channel) {
    return forChannel(channel, DEFAULT_TIMEOUT);
  }

  /** Like {@link #forChannel(Channel)}, waiting at most {@code timeout} for each reply. */
  public static CalloutTester forChannel(Channel channel, Duration timeout) {
    return new CalloutTester(
        requireNonNull(channel, "channel"), null, null, null, checked(timeout));
  }

  /** Starts a tester of every service of {@code callout}, run in-process. */
  public static Builder newBuilder(CalloutServer callout) {
    return new Builder(requireNonNull(callout, "callout").services());
  }

  /**
   * Starts a tester of any ext_proc, ext_authz or network ext_proc {@code service} run in-process:
   * a callout's {@link CalloutServer#service()} wrapped in {@link io.grpc.ServerInterceptors}, say.
   * Add more with {@link Builder#addService}.
   */
  public static Builder newBuilder(ServerServiceDefinition service) {
    return new Builder(List.of(requireNonNull(service, "service")));
  }

  /** How long a stream waits for each reply, or for the server to close it. */
  public Duration timeout() {
    return timeout;
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
    return open(requireNonNull(protocolConfig, "protocolConfig"));
  }

  /**
   * Opens a stream that marks every message {@code observability_mode} and sends no {@code
   * protocol_config}, as Envoy does in observability mode; use {@link Stream#send} or {@link
   * Stream#sendExpectingNoReply} and expect no reply.
   */
  public Stream newObservabilityStream() {
    return open(null);
  }

  private Stream open(@Nullable ProtocolConfiguration protocolConfig) {
    Stream stream = new Stream(protocolConfig);
    opened(stream.requests, stream.replies);
    return stream;
  }

  /**
   * Opens a network ext_proc connection ({@code NetworkExternalProcessor/Process}), as Envoy's
   * {@code network_ext_proc} filter does for each downstream TCP connection.
   */
  public NetworkStream newNetworkStream() {
    NetworkStream stream = new NetworkStream(this);
    opened(stream.requests(), stream.replies());
    return stream;
  }

  /**
   * Sends an ext_authz {@code Check} ({@code envoy.service.auth.v3.Authorization}), as Envoy's
   * {@code ext_authz} HTTP filter does once per request, with the tester's {@link #timeout()} as
   * the deadline, and returns the decision. Build the request with {@link #checkRequest} or {@link
   * #newCheckRequest}.
   *
   * @throws StatusRuntimeException when the call fails: with the status the server failed it with
   *     ({@code UNIMPLEMENTED} when the callout does not override {@code onCheck}, {@code INTERNAL}
   *     when the hook throws or contradicts itself), or {@code DEADLINE_EXCEEDED}
   */
  public CheckResponse check(CheckRequest request) {
    requireNonNull(request, "request");
    return AuthorizationGrpc.newBlockingStub(channel)
        .withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS)
        .check(request);
  }

  /**
   * Returns a {@code CheckRequest} shaped as Envoy's ext_authz HTTP filter sends it for an HTTP/1.1
   * request with {@code method}, {@code path} and the alternating header keys and values (see
   * {@link CheckRequestBuilder} for every field filled and its default).
   */
  public static CheckRequest checkRequest(
      String method, String path, String... headerKeysAndValues) {
    return newCheckRequest(method, path).headers(headerKeysAndValues).build();
  }

  /**
   * Starts a {@code CheckRequest} for {@code method} and {@code path}, for a source address, a body
   * or other headers: {@code newCheckRequest("POST", "/login").source("10.1.2.3",
   * 40000).body("user=a").build()}.
   */
  public static CheckRequestBuilder newCheckRequest(String method, String path) {
    return new CheckRequestBuilder(method, path);
  }

  /** Tracks a stream until the server closes it, so that {@link #close} can cancel it. */
  private void opened(StreamObserver<?> requests, ReplyQueue<?> replies) {
    open.add(requests);
    if (replies.isClosedByServer()) {
      open.remove(requests);
    }
  }

  /** Forgets a stream the server closed. */
  void closed(StreamObserver<?> requests) {
    open.remove(requests);
  }

  /** Resets a stream, as Envoy does when the HTTP request or the TCP connection goes away. */
  void cancel(StreamObserver<?> requests) {
    open.remove(requests);
    requests.onError(Status.CANCELLED.withDescription("cancelled by the test").asException());
  }

  Channel channel() {
    return channel;
  }

  /**
   * Cancels every stream the server has not closed yet, as Envoy does when the HTTP request goes
   * away, then stops the in-process server if this tester started one. Idempotent.
   */
  @Override
  public void close() {
    for (StreamObserver<?> requests : List.copyOf(open)) {
      cancel(requests);
    }
    open.clear();
    if (calls != null) {
      try {
        calls.awaitNone(timeout);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    if (channel instanceof ManagedChannel managed && server != null) {
      managed.shutdownNow();
    }
    if (server != null) {
      server.shutdownNow();
      try {
        server.awaitTermination(timeout.toMillis(), TimeUnit.MILLISECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    if (executor != null) {
      // Let the server's last callbacks (the cancellations above) reach the callout.
      executor.shutdown();
      try {
        if (!executor.awaitTermination(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
          executor.shutdownNow();
        }
      } catch (InterruptedException e) {
        executor.shutdownNow();
        Thread.currentThread().interrupt();
      }
    }
  }

  private static Duration checked(Duration timeout) {
    checkArgument(timeout.compareTo(Duration.ZERO) > 0, "timeout: %s (expected: > 0)", timeout);
    return timeout;
  }

  /** The end of a timeout message on a stream opened with {@code config}. */
  private static String hint(@Nullable ProtocolConfiguration config) {
    if (config == null) {
      return " (an observability stream gets no reply: use send)";
    }
    if (config.getRequestBodyMode() == BodySendMode.FULL_DUPLEX_STREAMED
        || config.getResponseBodyMode() == BodySendMode.FULL_DUPLEX_STREAMED) {
      return " (a FULL_DUPLEX_STREAMED body chunk may get no reply, or several later: use send"
          + " with awaitReplies, or requestBodyChunks / responseBodyChunks)";
    }
    return "";
  }

  /** Options of an in-process {@link CalloutTester}. Not thread-safe. */
  public static final class Builder {
    private final List<ServerServiceDefinition> services;
    private Duration timeout = DEFAULT_TIMEOUT;
    private boolean directExecutor;

    private Builder(List<ServerServiceDefinition> services) {
      this.services = new ArrayList<>(services);
    }

    /**
     * Serves {@code service} too: an ext_authz service beside an ext_proc one, say.
     *
     * @throws IllegalArgumentException when a service of that name is already served
     */
    @CanIgnoreReturnValue
    public Builder addService(ServerServiceDefinition service) {
      String name = requireNonNull(service, "service").getServiceDescriptor().getName();
      for (ServerServiceDefinition added : services) {
        checkArgument(
            !added.getServiceDescriptor().getName().equals(name),
            "service: %s (expected: not served yet)",
            name);
      }
      services.add(service);
      return this;
    }

    /**
     * Sets how long a stream waits for each reply, or for the server to close it (default {@link
     * #DEFAULT_TIMEOUT}).
     *
     * @throws IllegalArgumentException when {@code timeout} is not positive
     */
    @CanIgnoreReturnValue
    public Builder timeout(Duration timeout) {
      this.timeout = checked(requireNonNull(timeout, "timeout"));
      return this;
    }

    /**
     * Delivers messages to the service on the thread that sends them, instead of a thread pool: a
     * stream then replays the same way every time (hooks still run on the callout's hook executor).
     * A hook that blocks then blocks the test's thread.
     */
    @CanIgnoreReturnValue
    public Builder directExecutor() {
      this.directExecutor = true;
      return this;
    }

    /**
     * Starts the in-process server and returns the tester that stops it.
     *
     * @throws UncheckedIOException when the server cannot start
     */
    public CalloutTester build() {
      String name = InProcessServerBuilder.generateName();
      ExecutorService executor = directExecutor ? null : Executors.newCachedThreadPool();
      OpenCalls calls = new OpenCalls();
      InProcessServerBuilder builder = InProcessServerBuilder.forName(name);
      for (ServerServiceDefinition service : services) {
        builder.addService(ServerInterceptors.intercept(service, calls));
      }
      if (executor == null) {
        builder.directExecutor();
      } else {
        builder.executor(executor);
      }
      try {
        Server server = builder.build().start();
        ManagedChannel channel = InProcessChannelBuilder.forName(name).directExecutor().build();
        return new CalloutTester(channel, server, executor, calls, timeout);
      } catch (IOException e) {
        if (executor != null) {
          executor.shutdownNow();
        }
        throw new UncheckedIOException("cannot start the in-process server", e);
      }
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

  /**
   * One ext_proc stream, that is, one HTTP request. Not thread-safe: drive it from one thread.
   *
   * <p>The phase methods ({@link #requestHeaders} and the like) send a message and wait for exactly
   * one reply, which suits every body mode but FULL_DUPLEX_STREAMED, where a callout answers chunks
   * M:N (none while it holds a chunk back, several at once later), and observability mode, where it
   * answers nothing. For those, {@link #send} does not wait; {@link #awaitReplies}, {@link
   * #awaitRepliesUntil}, {@link #requestBodyChunks} and {@link #responseBodyChunks} wait for what
   * does come, and {@link #assertNoReply} checks that nothing does.
   */
  public final class Stream {
    private final @Nullable ProtocolConfiguration protocolConfig;
    private final ReplyQueue<ProcessingResponse> replies;
    private final StreamObserver<ProcessingRequest> requests;
    private boolean first = true;

    private Stream(@Nullable ProtocolConfiguration protocolConfig) {
      this.protocolConfig = protocolConfig;
      this.replies =
          new ReplyQueue<>(timeout, this::closedByServer, hint(protocolConfig), Replies::describe);
      this.requests = ExternalProcessorGrpc.newStub(channel).process(replies);
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

    /**
     * Sends {@code request} and returns the next reply.
     *
     * @throws IllegalStateException on an observability stream, which gets no reply
     * @throws AssertionError when the stream closes first, or no reply comes in time
     */
    public ProcessingResponse exchange(ProcessingRequest request) {
      if (protocolConfig == null) {
        throw new IllegalStateException(
            "an observability stream gets no reply: use send or sendExpectingNoReply");
      }
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

    /**
     * Sends {@code request_body} and returns the next reply. In FULL_DUPLEX_STREAMED mode a chunk
     * may get no reply: use {@link #requestBodyChunks} there.
     */
    public ProcessingResponse requestBody(HttpBody body) {
      return exchange(ProcessingRequest.newBuilder().setRequestBody(body).build());
    }

    /**
     * Sends {@code response_body} and returns the next reply. In FULL_DUPLEX_STREAMED mode a chunk
     * may get no reply: use {@link #responseBodyChunks} there.
     */
    public ProcessingResponse responseBody(HttpBody body) {
      return exchange(ProcessingRequest.newBuilder().setResponseBody(body).build());
    }

    /** Sends {@code request_trailers} and returns the next reply. */
    public ProcessingResponse requestTrailers(HttpTrailers trailers) {
      return exchange(ProcessingRequest.newBuilder().setRequestTrailers(trailers).build());
    }

    /** Sends {@code response_trailers} and returns the next reply. */
    public ProcessingResponse responseTrailers(HttpTrailers trailers) {
      return exchange(ProcessingRequest.newBuilder().setResponseTrailers(trailers).build());
    }

    /**
     * Sends a request body's {@code chunks} without waiting in between, and returns every reply not
     * yet returned once the server has answered up to the end of the body: in FULL_DUPLEX_STREAMED
     * mode, through the {@code streamed_response} marked {@code end_of_stream} however many replies
     * come before it; in other modes, through one reply per chunk. An {@code immediate_response}
     * ends the wait too.
     *
     * @throws IllegalArgumentException when no chunk is given or the last one does not end the body
     *     ({@code end_of_stream}); a body followed by trailers ends at the trailers instead: send
     *     them and use {@link #awaitRepliesUntil}
     * @throws AssertionError when the stream closes first, or a reply does not come in time
     */
    public List<ProcessingResponse> requestBodyChunks(HttpBody... chunks) {
      return bodyChunks(true, List.of(chunks));
    }

    /**
     * Like {@link #requestBodyChunks(HttpBody...)}, with chunks of UTF-8 {@code text}, the last one
     * marked {@code end_of_stream}.
     */
    public List<ProcessingResponse> requestBodyChunks(String... text) {
      return bodyChunks(true, chunks(text));
    }

    /** Like {@link #requestBodyChunks(HttpBody...)}, for the response body. */
    public List<ProcessingResponse> responseBodyChunks(HttpBody... chunks) {
      return bodyChunks(false, List.of(chunks));
    }

    /** Like {@link #requestBodyChunks(String...)}, for the response body. */
    public List<ProcessingResponse> responseBodyChunks(String... text) {
      return bodyChunks(false, chunks(text));
    }

    private List<HttpBody> chunks(String... text) {
      List<HttpBody> chunks = new ArrayList<>(text.length);
      for (int i = 0; i < text.length; i++) {
        chunks.add(body(text[i], i == text.length - 1));
      }
      return chunks;
    }

    private List<ProcessingResponse> bodyChunks(boolean request, List<HttpBody> chunks) {
      String phase = request ? "request_body" : "response_body";
      checkArgument(!chunks.isEmpty(), "no %s chunk to send", phase);
      checkArgument(
          chunks.get(chunks.size() - 1).getEndOfStream(),
          "the last %s chunk does not end the body (expected: end_of_stream)",
          phase);
      if (protocolConfig == null) {
        throw new IllegalStateException(
            "an observability stream gets no reply: use send or sendExpectingNoReply");
      }
      for (HttpBody chunk : chunks) {
        ProcessingRequest.Builder message = ProcessingRequest.newBuilder();
        send((request ? message.setRequestBody(chunk) : message.setResponseBody(chunk)).build());
      }
      BodySendMode mode =
          request ? protocolConfig.getRequestBodyMode() : protocolConfig.getResponseBodyMode();
      ResponseCase answer = request ? ResponseCase.REQUEST_BODY : ResponseCase.RESPONSE_BODY;
      if (mode == BodySendMode.FULL_DUPLEX_STREAMED) {
        return awaitRepliesUntil(
            reply ->
                reply.hasImmediateResponse()
                    || (reply.getResponseCase() == answer
                        && (request ? reply.getRequestBody() : reply.getResponseBody())
                            .getResponse()
                            .getBodyMutation()
                            .getStreamedResponse()
                            .getEndOfStream()));
      }
      int[] answered = {0};
      return awaitRepliesUntil(
          reply ->
              reply.hasImmediateResponse()
                  || (reply.getResponseCase() == answer && ++answered[0] == chunks.size()));
    }

    /**
     * Sends {@code request} and checks that no reply comes within {@code quiet}: for a message a
     * FULL_DUPLEX_STREAMED callout holds back, or one in observability mode. A reply that comes
     * later is caught by the next wait instead.
     *
     * @throws AssertionError naming the reply that came
     */
    public void sendExpectingNoReply(ProcessingRequest request, Duration quiet) {
      send(request);
      assertNoReply(quiet, "to " + Replies.describeRequest(request));
    }

    /**
     * Waits {@code quiet} and checks that no reply is unread or arrives meanwhile; returns early
     * when the server closes the stream.
     *
     * @throws AssertionError naming the reply
     */
    public void assertNoReply(Duration quiet) {
      assertNoReply(quiet, "within " + quiet);
    }

    private void assertNoReply(Duration quiet, String after) {
      checkArgument(!quiet.isNegative(), "quiet: %s (expected: >= 0)", quiet);
      replies.assertNone(quiet, after);
    }

    /**
     * Returns the next reply not yet returned, waiting for it.
     *
     * @throws AssertionError when the server closes the stream first, or none comes within the
     *     tester's {@link #timeout()}
     */
    public ProcessingResponse nextResponse() {
      return replies.next("a reply");
    }

    /**
     * Returns the next {@code n} replies not yet returned, waiting for each in turn: for messages
     * answered M:N.
     *
     * @throws AssertionError when the stream closes first, or a reply does not come in time
     */
    public List<ProcessingResponse> awaitReplies(int n) {
      checkArgument(n >= 0, "n: %s (expected: >= 0)", n);
      return replies.next(n, "a reply");
    }

    /**
     * Returns the replies not yet returned, up to and including the first that {@code last}
     * accepts, waiting for each in turn: {@code
     * awaitRepliesUntil(ProcessingResponse::hasRequestTrailers)} after a full-duplex body followed
     * by trailers, say.
     *
     * @throws AssertionError when the stream closes first, or a reply does not come in time
     */
    public List<ProcessingResponse> awaitRepliesUntil(Predicate<? super ProcessingResponse> last) {
      return replies.until(requireNonNull(last, "last"), "a reply");
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
      return replies.awaitClose();
    }

    private void closedByServer() {
      closed(requests);
    }

    /** Resets the stream, as Envoy does when the HTTP request goes away. */
    public void cancel() {
      CalloutTester.this.cancel(requests);
    }

    /** Every reply received so far, in order, whether returned already or not. */
    public List<ProcessingResponse> received() {
      return replies.received();
    }
  }
}
