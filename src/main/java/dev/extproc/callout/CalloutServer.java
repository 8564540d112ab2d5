package dev.extproc.callout;

import static java.util.Objects.requireNonNull;

import dev.extproc.callout.internal.CommandLine;
import dev.extproc.callout.internal.HookExecutors;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpTrailers;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.TrailersResponse;
import io.grpc.Grpc;
import io.grpc.MethodDescriptor;
import io.grpc.ServerCall;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.Executor;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An Envoy ext_proc callout server: subclass it, override the hooks of the phases you care about,
 * and {@link #run()} it.
 *
 * <pre>{@code
 * public final class AddHeader extends CalloutServer {
 *   AddHeader(CalloutServerConfig config) { super(config); }
 *
 *   @Override
 *   protected HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
 *     return CalloutTools.addHeaderMutation(List.of(Map.entry("x-hello", "world")));
 *   }
 *
 *   public static void main(String[] args) {
 *     CalloutServer.launch(args, AddHeader::new);
 *   }
 * }
 * }</pre>
 *
 * <p>Envoy opens one stream per HTTP request and sends that request's headers, bodies and trailers,
 * then the response's. Each message reaches the hook of its phase; the hook's return value becomes
 * the reply, and {@code null} (or a hook left alone) continues unchanged. The framework always
 * sends exactly one reply of the matching type per message, in order, and never one in
 * observability mode or after an immediate response.
 *
 * <p><b>Threads.</b> One instance serves every stream, so hooks must be stateless or thread-safe;
 * per-request state belongs in the {@link CalloutContext}. The hooks of one stream run one at a
 * time in message order; hooks of different streams run concurrently on the configured {@link
 * CalloutServerConfig.HookExecutor}.
 *
 * <p><b>Errors.</b> A hook that throws {@link io.grpc.StatusRuntimeException} ends the stream with
 * that status (see {@link CalloutTools#denyCallout()}); any other exception ends it with {@code
 * INTERNAL} naming the hook, logged once. What the load balancer then does is its failure mode: a
 * local 500 reply, or the request unprocessed when it fails open.
 */
public abstract class CalloutServer implements AutoCloseable {
  private static final Logger logger = LoggerFactory.getLogger(CalloutServer.class);

  /**
   * How long hooks get to return once their streams are cancelled at the end of a drain: a shutdown
   * takes at most the drain delay, the grace period and this, which is what a container's
   * termination grace period must cover.
   */
  public static final Duration HOOKS_RETURN_TIMEOUT = Duration.ofSeconds(1);

  private final CalloutServerConfig config;
  private final boolean overridesProcess;
  private final boolean overridesStreamStart;
  private final boolean overridesStreamEnd;
  private final MutationGuard guard;
  private final HookWatchdog watchdog;
  private final CalloutMetrics metrics;
  private final AtomicLong streamIds = new AtomicLong();
  private final StreamLimit streams;
  private final Object lock = new Object();
  private @Nullable Listeners listeners;
  private boolean closed;
  private boolean hookExecutorCreated;
  private @Nullable ExecutorService hookExecutor;

  /** Creates a callout with the default configuration. */
  protected CalloutServer() {
    this(CalloutServerConfig.defaults());
  }

  /** Creates a callout with {@code config}. */
  protected CalloutServer(CalloutServerConfig config) {
    this.config = requireNonNull(config, "config");
    this.watchdog = new HookWatchdog(config.hookDeadline());
    this.streams = new StreamLimit(config.maxConcurrentStreams());
    this.overridesProcess =
        declares(getClass(), "process", ProcessingRequest.class, CalloutContext.class);
    this.overridesStreamStart = declares(getClass(), "onStreamStart", CalloutContext.class);
    this.overridesStreamEnd =
        declares(getClass(), "onStreamEnd", CalloutContext.class, Status.class);
    this.guard =
        new MutationGuard(
            config.mutationPolicy(), config.mutationProfile(), config.allowedMutationHeaders());
    this.metrics = CalloutMetrics.create(config);
  }

  /**
   * Parses {@code args} and the environment, builds the server with {@code factory}, starts it and
   * blocks until it has shut down; for a callout's {@code main} method. {@code --help} prints the
   * flags and exits 0; a bad flag or value prints one line naming it and exits 2; a failed start
   * exits 1. SIGTERM and SIGINT drain the server (see {@link #close()}), then the process exits 0.
   */
  public static void launch(
      String[] args, Function<CalloutServerConfig, ? extends CalloutServer> factory) {
    CommandLine.launch(args, System.getenv(), factory);
  }

  /** Returns this server's configuration. */
  public final CalloutServerConfig config() {
    return config;
  }

  // ---- Hooks ----

  /**
   * Called for each {@code request_headers} message, once per HTTP request.
   *
   * @return the reply (see {@link CalloutTools#addHeaderMutation}), or {@code null} to continue
   *     unchanged
   */
  protected @Nullable HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
    return null;
  }

  /**
   * Called for each {@code response_headers} message. {@link CalloutContext#requestHeaders()} holds
   * the request's headers.
   *
   * @return the reply, or {@code null} to continue unchanged
   */
  protected @Nullable HeadersResponse onResponseHeaders(HttpHeaders headers, CalloutContext ctx) {
    return null;
  }

  /**
   * Called for each {@code request_body} message: the whole body, or one chunk of it, depending on
   * Envoy's body mode.
   *
   * @return the reply (see {@link CalloutTools#addBodyMutation}), or {@code null} to continue
   *     unchanged
   */
  protected @Nullable BodyResponse onRequestBody(HttpBody body, CalloutContext ctx) {
    return null;
  }

  /**
   * Called for each {@code response_body} message.
   *
   * @return the reply, or {@code null} to continue unchanged
   */
  protected @Nullable BodyResponse onResponseBody(HttpBody body, CalloutContext ctx) {
    return null;
  }

  /**
   * Called for {@code request_trailers}, sent only when Envoy's trailer mode is SEND and the
   * request has trailers. Immediate responses are not allowed here.
   *
   * @return the reply, or {@code null} to continue unchanged
   */
  protected @Nullable TrailersResponse onRequestTrailers(
      HttpTrailers trailers, CalloutContext ctx) {
    return null;
  }

  /**
   * Called for {@code response_trailers}. Immediate responses are not allowed here.
   *
   * @return the reply, or {@code null} to continue unchanged
   */
  protected @Nullable TrailersResponse onResponseTrailers(
      HttpTrailers trailers, CalloutContext ctx) {
    return null;
  }

  /**
   * Called when a stream opens, before its first message. Throwing ends the stream as a hook
   * failure does.
   */
  protected void onStreamStart(CalloutContext ctx) {}

  /**
   * Called once when a stream ends: {@code OK} after Envoy half-closed it, {@code CANCELLED} when
   * Envoy reset it, or the status a hook ended it with. Exceptions are logged and ignored.
   */
  protected void onStreamEnd(CalloutContext ctx, Status status) {}

  /**
   * The escape hatch: sees every message with its raw fields and returns the raw reply. The default
   * calls the hook of the message's phase. An override must return a response of the message's type
   * (or {@code immediate_response} where Envoy allows one), or {@code null} to continue unchanged;
   * anything else ends the stream with {@code INTERNAL}.
   */
  protected @Nullable ProcessingResponse process(ProcessingRequest request, CalloutContext ctx) {
    ProcessingResponse.Builder reply = ProcessingResponse.newBuilder();
    switch (request.getRequestCase()) {
      case REQUEST_HEADERS -> {
        HeadersResponse r = onRequestHeaders(request.getRequestHeaders(), ctx);
        return r == null ? null : reply.setRequestHeaders(r).build();
      }
      case RESPONSE_HEADERS -> {
        HeadersResponse r = onResponseHeaders(request.getResponseHeaders(), ctx);
        return r == null ? null : reply.setResponseHeaders(r).build();
      }
      case REQUEST_BODY -> {
        BodyResponse r = onRequestBody(request.getRequestBody(), ctx);
        return r == null ? null : reply.setRequestBody(r).build();
      }
      case RESPONSE_BODY -> {
        BodyResponse r = onResponseBody(request.getResponseBody(), ctx);
        return r == null ? null : reply.setResponseBody(r).build();
      }
      case REQUEST_TRAILERS -> {
        TrailersResponse r = onRequestTrailers(request.getRequestTrailers(), ctx);
        return r == null ? null : reply.setRequestTrailers(r).build();
      }
      case RESPONSE_TRAILERS -> {
        TrailersResponse r = onResponseTrailers(request.getResponseTrailers(), ctx);
        return r == null ? null : reply.setResponseTrailers(r).build();
      }
      default -> {
        return null;
      }
    }
  }

  // ---- Lifecycle ----

  /**
   * Returns the {@code envoy.service.ext_proc.v3.ExternalProcessor} service backed by this
   * callout's hooks, to add to a gRPC server you run yourself (or an in-process test server).
   */
  public final ServerServiceDefinition service() {
    Executor executor = hookExecutor();
    MethodDescriptor<ProcessingRequest, ProcessingResponse> process =
        SizeCheckedRequests.processMethod(config.maxInboundMessageSize());
    return ServerServiceDefinition.builder(SizeCheckedRequests.service(process))
        .addMethod(
            process,
            (call, headers) -> {
              if (!streams.admit(call)) {
                return new ServerCall.Listener<>() {};
              }
              try {
                CalloutContext ctx =
                    new CalloutContext(
                        streamIds.incrementAndGet(),
                        call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR),
                        io.grpc.Context.current());
                CalloutStream stream = new CalloutStream(this, call, ctx, executor);
                stream.start();
                return stream;
              } catch (RuntimeException | Error e) {
                streams.release();
                throw e;
              }
            })
        .build();
  }

  /**
   * The executor hooks run on, created on first use as the configuration says; {@code null} when
   * hooks run inline on the thread that delivers the message.
   *
   * @throws IllegalStateException for virtual threads on a JDK without them
   */
  private @Nullable Executor hookExecutor() {
    synchronized (lock) {
      if (!hookExecutorCreated) {
        hookExecutor = HookExecutors.create(config);
        hookExecutorCreated = true;
      }
      return hookExecutor;
    }
  }

  /**
   * Binds every enabled listener, or none: on failure, whatever was bound is released and the
   * exception says which listener failed and why. Certificates are read (or generated) here.
   *
   * @return this
   * @throws IOException when a listener cannot bind or the TLS material cannot be used
   * @throws IllegalStateException when already started or closed
   */
  public final CalloutServer start() throws IOException {
    synchronized (lock) {
      if (closed || listeners != null) {
        throw new IllegalStateException(closed ? "server is closed" : "server already started");
      }
      listeners = Listeners.start(config, service(), metrics.registry());
    }
    return this;
  }

  /**
   * Drains and stops the server: health turns NOT_SERVING (HTTP 503) first; after {@link
   * CalloutServerConfig#shutdownDrainDelay()} (none by default), during which streams are still
   * accepted, the gRPC listeners stop accepting streams (HTTP/2 GOAWAY) and end health Watch
   * streams; in-flight streams get {@link CalloutServerConfig#shutdownGracePeriod()} to finish, and
   * those still open then are cancelled, their hooks getting 1 s more to return; then everything is
   * released. Returns once stopped. Idempotent; safe to call from any thread.
   */
  @Override
  public final void close() {
    Listeners running;
    synchronized (lock) {
      closed = true;
      running = listeners;
    }
    if (running != null) {
      running.close(config.shutdownDrainDelay(), config.shutdownGracePeriod(), this::stopHooks);
    } else {
      stopHooks();
    }
  }

  /**
   * Once every stream has ended: lets hooks still running (their streams were cancelled at the end
   * of the grace period) return, and the {@code onStreamEnd} calls queued behind them run, for up
   * to {@link #HOOKS_RETURN_TIMEOUT}; then interrupts what still runs.
   */
  private void stopHooks() {
    watchdog.close();
    ExecutorService executor;
    synchronized (lock) {
      executor = hookExecutor;
    }
    if (executor == null) {
      return;
    }
    executor.shutdown();
    try {
      if (!executor.awaitTermination(HOOKS_RETURN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
        logger.warn(
            "hooks still running {} after their streams ended: interrupting them",
            HOOKS_RETURN_TIMEOUT);
        executor.shutdownNow();
      }
    } catch (InterruptedException e) {
      executor.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }

  /**
   * Blocks until the server has been closed and every listener has stopped; returns at once if it
   * was never started.
   */
  public final void awaitTermination() throws InterruptedException {
    Listeners running;
    synchronized (lock) {
      running = listeners;
    }
    if (running != null) {
      running.awaitTermination();
    }
  }

  /** Like {@link #awaitTermination()}, for at most {@code timeout}; returns whether it stopped. */
  public final boolean awaitTermination(Duration timeout) throws InterruptedException {
    Listeners running;
    synchronized (lock) {
      running = listeners;
    }
    return running == null || running.awaitTermination(timeout);
  }

  /** Starts the server, drains it when the JVM shuts down, and blocks until it has stopped. */
  public final void run() throws IOException, InterruptedException {
    start();
    closeOnJvmShutdown();
    awaitTermination();
  }

  /**
   * Registers a JVM shutdown hook that calls {@link #close()}, so SIGTERM drains the server.
   *
   * @return this
   */
  public final CalloutServer closeOnJvmShutdown() {
    Runtime.getRuntime().addShutdownHook(new Thread(this::close, "callout-shutdown"));
    return this;
  }

  /** The bound address of the plaintext gRPC listener while running. */
  public final Optional<InetSocketAddress> plaintextAddress() {
    return running().flatMap(Listeners::plaintextAddress);
  }

  /** The bound address of the TLS gRPC listener while running. */
  public final Optional<InetSocketAddress> secureAddress() {
    return running().flatMap(Listeners::secureAddress);
  }

  /** The bound address of the HTTP health check listener while running. */
  public final Optional<InetSocketAddress> healthCheckAddress() {
    return running().flatMap(Listeners::healthCheckAddress);
  }

  private Optional<Listeners> running() {
    synchronized (lock) {
      return Optional.ofNullable(listeners);
    }
  }

  /** The ext_proc streams open now, across every listener of {@link #service()}. */
  int openStreams() {
    return streams.open();
  }

  MutationGuard guard() {
    return guard;
  }

  HookWatchdog watchdog() {
    return watchdog;
  }

  StreamLimit streamLimit() {
    return streams;
  }

  CalloutMetrics metrics() {
    return metrics;
  }

  boolean overridesProcess() {
    return overridesProcess;
  }

  boolean overridesStreamStart() {
    return overridesStreamStart;
  }

  boolean overridesStreamEnd() {
    return overridesStreamEnd;
  }

  /** Whether a subclass between {@code type} and this class declares the given method. */
  private static boolean declares(Class<?> type, String name, Class<?>... parameterTypes) {
    for (Class<?> c = type; c != null && c != CalloutServer.class; c = c.getSuperclass()) {
      for (java.lang.reflect.Method method : c.getDeclaredMethods()) {
        if (method.getName().equals(name)
            && java.util.Arrays.equals(method.getParameterTypes(), parameterTypes)) {
          return true;
        }
      }
    }
    return false;
  }
}
