package dev.extproc.callout;

import static com.google.common.base.Preconditions.checkArgument;
import static java.util.Objects.requireNonNull;

import com.google.errorprone.annotations.CanIgnoreReturnValue;
import com.google.protobuf.ByteString;
import dev.extproc.callout.internal.Clock;
import dev.extproc.callout.internal.CommandLine;
import dev.extproc.callout.internal.Durations;
import dev.extproc.callout.internal.Sizes;
import io.envoyproxy.envoy.service.auth.v3.CheckRequest;
import io.envoyproxy.envoy.service.auth.v3.CheckResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpTrailers;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.TrailersResponse;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.BiFunction;
import java.util.function.Function;
import org.jspecify.annotations.Nullable;

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
  // No static logger: launcher() initialises this class, and must not start logging before the
  // application's factory has read its flags (the runnable jar picks its log format from one).

  /**
   * How long hooks get to return once their streams are cancelled at the end of a drain: a shutdown
   * takes at most the drain delay, the grace period and this, which is what a container's
   * termination grace period must cover.
   */
  public static final Duration HOOKS_RETURN_TIMEOUT = Duration.ofSeconds(1);

  private final CalloutServerConfig config;
  private final CalloutServices services;
  private final StreamRegistry streams;
  private final CalloutMetrics metrics;
  private final ServerLifecycle lifecycle;

  /** Creates a callout with the default configuration. */
  protected CalloutServer() {
    this(CalloutServerConfig.defaults());
  }

  /** Creates a callout with {@code config}. */
  // CalloutServices keeps `this` and reads only its class (which hooks it declares), never its
  // state, so an escape before the subclass's fields are set is harmless.
  @SuppressWarnings("this-escape")
  protected CalloutServer(CalloutServerConfig config) {
    this.config = requireNonNull(config, "config");
    Clock clock = new Clock();
    this.streams = new StreamRegistry(config.maxConcurrentStreams(), config.hookDeadline(), clock);
    this.services = new CalloutServices(this, config);
    this.metrics = CalloutMetrics.create(config, streams::open);
    this.lifecycle = new ServerLifecycle(config, streams, clock);
  }

  /**
   * Parses {@code args} and the environment, builds the server with {@code factory}, starts it and
   * blocks until it has shut down; for a callout's {@code main} method. {@code --help} prints the
   * flags and exits 0; an unknown flag or a bad value prints one line naming it and exits 2; a
   * failed start exits 1. SIGTERM and SIGINT drain the server (see {@link #close()}), then the
   * process exits 0. The same as {@code launcher("callout").launch(args, ...)}: see {@link
   * #launcher(String)} to add flags of your own.
   */
  public static void launch(
      String[] args, Function<CalloutServerConfig, ? extends CalloutServer> factory) {
    launcher(Launcher.DEFAULT_PROGRAM_NAME).launch(args, (config, flags) -> factory.apply(config));
  }

  /**
   * Returns a launcher whose {@code --help} starts {@code Usage: PROGRAM_NAME [flags]}, for a
   * callout's {@code main} method that takes flags of its own besides the framework's.
   *
   * @param programName how the callout is run, such as {@code my-callout} or {@code java -jar
   *     my-callout.jar}; error lines start with its last word ({@code my-callout: })
   * @throws IllegalArgumentException when {@code programName} is blank
   */
  public static Launcher launcher(String programName) {
    return new Launcher(programName);
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
   * Envoy reset it, or the status a hook ended it with. Exceptions are logged and ignored. Runs for
   * ext_proc streams and network ext_proc connections, not for ext_authz checks.
   */
  protected void onStreamEnd(CalloutContext ctx, Status status) {}

  /**
   * The escape hatch: sees every message with its raw fields and returns the raw reply. The default
   * calls the hook of the message's phase. An override must return a response of the message's type
   * (or {@code immediate_response} where Envoy allows one), or {@code null} to continue unchanged;
   * anything else ends the stream with {@code INTERNAL}.
   */
  protected @Nullable ProcessingResponse process(ProcessingRequest request, CalloutContext ctx) {
    Phase phase = Phase.of(request);
    return phase == null ? null : phase.callHook(this, request, ctx);
  }

  // ---- Other services ----

  /**
   * Decides an ext_authz {@code Check} ({@code envoy.service.auth.v3.Authorization}: Envoy's {@code
   * ext_authz} filter, Service Extensions authorization extensions with {@code wireFormat:
   * EXT_AUTHZ_GRPC}, gRPC's xDS ext_authz client filter); served only when a subclass overrides
   * this. It runs like an ext_proc hook (hook executor, deadline, {@code ctx} with the peer, an id
   * and cancellation), and fails the same way: Envoy then applies {@code failure_mode_allow}.
   *
   * @return the decision, built with {@link AuthzTools}; {@code null} allows the request unchanged
   */
  protected @Nullable CheckResponse onCheck(CheckRequest request, CalloutContext ctx) {
    return null;
  }

  /**
   * Sees the bytes a network ext_proc connection read from its client ({@code
   * envoy.service.network_ext_proc.v3.NetworkExternalProcessor}: Envoy's {@code network_ext_proc}
   * filter, Service Extensions TCP extensions), one call per message, in order; served only when a
   * subclass overrides this or {@link #onWriteData}. {@code ctx} lasts as long as the connection:
   * keep its state there, and close it with {@link CalloutContext#closeConnection()}.
   *
   * @param endOfStream whether the client half-closed after these bytes
   * @return the bytes to send on instead; {@code null} passes {@code data} on unchanged
   */
  protected @Nullable ByteString onReadData(
      ByteString data, boolean endOfStream, CalloutContext ctx) {
    return null;
  }

  /**
   * Sees the bytes a network ext_proc connection is about to write to its client (what the upstream
   * sent), as {@link #onReadData} does for the other direction.
   *
   * @param endOfStream whether the upstream half-closed after these bytes
   * @return the bytes to send on instead; {@code null} passes {@code data} on unchanged
   */
  protected @Nullable ByteString onWriteData(
      ByteString data, boolean endOfStream, CalloutContext ctx) {
    return null;
  }

  // ---- Lifecycle ----

  /**
   * The services this callout implements, which {@link #start()} serves (or to add to a gRPC server
   * you run yourself): ext_authz's {@code Authorization} when the subclass overrides {@link
   * #onCheck}, network ext_proc's {@code NetworkExternalProcessor} when it overrides {@link
   * #onReadData} or {@link #onWriteData}, and ext_proc's {@link #service()} when it overrides an
   * ext_proc hook or {@link #process}, or neither of the others.
   */
  public final List<ServerServiceDefinition> services() {
    return services.list(metrics, streams, lifecycle.hookExecutor());
  }

  /**
   * Returns the {@code envoy.service.ext_proc.v3.ExternalProcessor} service backed by this
   * callout's hooks, to add to a gRPC server you run yourself (or an in-process test server).
   */
  public final ServerServiceDefinition service() {
    return services.processor(metrics, streams, lifecycle.hookExecutor());
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
    lifecycle.start(this::services, metrics.registry());
    return this;
  }

  /**
   * Drains and stops the server: health turns NOT_SERVING (HTTP 503) first; after {@link
   * CalloutServerConfig#shutdownDrainDelay()} (15 s by default), during which streams are still
   * accepted, the gRPC listeners stop accepting streams (HTTP/2 GOAWAY) and end health Watch
   * streams; in-flight streams get {@link CalloutServerConfig#shutdownGracePeriod()} to finish, and
   * those still open then are cancelled, their hooks getting 1 s more to return; then everything is
   * released. Returns once stopped. Idempotent; safe to call from any thread.
   *
   * <p>With the default drain delay this takes at least 15 s on a started server: the safe choice
   * for a server behind a load balancer, whichever way it is stopped. Tests and local runs set
   * {@code shutdownDrainDelay(Duration.ZERO)} to close at once.
   */
  @Override
  public final void close() {
    lifecycle.close();
  }

  /**
   * Blocks until the server has been closed and every listener has stopped; returns at once if it
   * was never started.
   */
  public final void awaitTermination() throws InterruptedException {
    lifecycle.awaitTermination();
  }

  /** Like {@link #awaitTermination()}, for at most {@code timeout}; returns whether it stopped. */
  public final boolean awaitTermination(Duration timeout) throws InterruptedException {
    return lifecycle.awaitTermination(timeout);
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
    return lifecycle.running().flatMap(Listeners::plaintextAddress);
  }

  /** The bound address of the TLS gRPC listener while running. */
  public final Optional<InetSocketAddress> secureAddress() {
    return lifecycle.running().flatMap(Listeners::secureAddress);
  }

  /** The bound address of the HTTP health check listener while running. */
  public final Optional<InetSocketAddress> healthCheckAddress() {
    return lifecycle.running().flatMap(Listeners::healthCheckAddress);
  }

  /** The ext_proc streams open now, across every listener of {@link #service()}. */
  int openStreams() {
    return streams.open();
  }

  CalloutMetrics metrics() {
    return metrics;
  }

  /**
   * The command line of a callout's {@code main} method: the framework's flags (see {@link
   * CalloutServerConfig#usage()}) plus flags of the application's own, each with its environment
   * variable. Get one from {@link CalloutServer#launcher(String)}.
   *
   * <pre>{@code
   * public static void main(String[] args) {
   *   CalloutServer.launcher("api-key-check")
   *       .flag("--key-header", "API_KEY_HEADER", "NAME", "header with the key", "x-api-key")
   *       .optionalFlag("--keys-file", "API_KEYS_FILE", "PATH", "accepted keys", "any key")
   *       .launch(args, (config, flags) -> new ApiKeyCheck(
   *           config,
   *           flags.value("--key-header").orElseThrow(),
   *           flags.value("--keys-file", ApiKeyCheck::readKeys).orElse(Set.of())));
   * }
   * }</pre>
   *
   * <p>An application's flag takes a value, as {@code --flag VALUE} or {@code --flag=VALUE}; the
   * flag wins over its variable, which wins over the default, as for the framework's flags. {@code
   * --help} lists the application's flags and {@linkplain #helpNote notes} above the framework's.
   *
   * <p>{@link #launch} and {@link #run} refuse an unknown flag, a missing or bad value and an
   * {@link IllegalArgumentException} thrown by the factory with one line and exit code 2; {@link
   * Flags#value(String, Function)} gives such exceptions a message naming the flag. Nothing is
   * logged before the factory returns, so it may set up logging from a flag. {@link #parse} only
   * parses, and leaves the arguments nobody declared to the application.
   *
   * <p>Not thread-safe: declare the flags, then launch, on one thread.
   */
  public static final class Launcher {

    /** The program name of {@link CalloutServer#launch}: {@value}. */
    static final String DEFAULT_PROGRAM_NAME = "callout";

    private final CommandLine commandLine;

    private Launcher(String programName) {
      this.commandLine = new CommandLine(programName);
    }

    /**
     * Declares a flag with a default, which {@link Flags#value(String)} then always has.
     *
     * @param flag the flag, such as {@code --key-header}
     * @param env its environment variable, such as {@code API_KEY_HEADER}
     * @param valueName what {@code --help} calls its value, such as {@code NAME} or {@code PATH}
     * @param help what it sets, for {@code --help}
     * @param defaultValue the value when neither the flag nor the variable is given
     * @return this
     * @throws IllegalArgumentException for a flag not spelt {@code --lower-case-name}, a flag or
     *     variable the framework or an earlier call took, or a blank argument
     */
    @CanIgnoreReturnValue
    public Launcher flag(
        String flag, String env, String valueName, String help, String defaultValue) {
      commandLine.addFlag(flag, env, valueName, help, defaultValue, defaultValue);
      return this;
    }

    /**
     * Declares a flag without a default: {@link Flags#value(String)} is empty unless the flag or
     * the variable is given.
     *
     * @param whenAbsent what happens without it, shown by {@code --help} as the default (such as
     *     {@code any key})
     * @return this
     * @throws IllegalArgumentException as {@link #flag} does
     */
    @CanIgnoreReturnValue
    public Launcher optionalFlag(
        String flag, String env, String valueName, String help, String whenAbsent) {
      commandLine.addFlag(flag, env, valueName, help, null, whenAbsent);
      return this;
    }

    /**
     * Adds a paragraph to {@code --help}, after the application's flags (such as the values a flag
     * accepts).
     *
     * @return this
     */
    @CanIgnoreReturnValue
    public Launcher helpNote(String paragraph) {
      commandLine.addNote(paragraph);
      return this;
    }

    /**
     * Returns the {@code --help} text: the usage line, the application's flags and notes, then the
     * framework's flags.
     */
    public String usage() {
      return commandLine.usage();
    }

    /**
     * Parses a duration with the syntax of the framework's duration flags ({@code --hook-deadline},
     * {@code --shutdown-grace-period}...), for an application's own flags: {@code
     * flags.value("--timeout", Launcher::duration)}. Accepts a whole number followed by {@code ms},
     * {@code s}, {@code m} or {@code h} ({@code 500ms}, {@code 30s}), an ISO-8601 duration ({@code
     * PT30S}), or a bare {@code 0}; case and surrounding blanks are ignored.
     *
     * @throws IllegalArgumentException for anything else ({@code not a duration (expected: e.g.
     *     500ms, 30s, 2m)}), or a negative duration
     */
    public static Duration duration(String value) {
      return Durations.parse(value);
    }

    /**
     * Parses a byte size with the syntax of the framework's size flags ({@code
     * --max-inbound-message-size}, {@code --streamed-chunk-size}...), for an application's own
     * flags: {@code flags.value("--max-body", Launcher::size)}. Accepts a whole number of bytes,
     * optionally followed by {@code KiB} or {@code MiB} ({@code 65536}, {@code 64KiB}, {@code
     * 1MiB}).
     *
     * @return the number of bytes
     * @throws IllegalArgumentException for anything else ({@code not a size (expected: BYTES, NKiB
     *     or NMiB)}), a negative size, or 2 GiB and more
     */
    public static int size(String value) {
      int bytes = Sizes.parse(value);
      checkArgument(bytes >= 0, "negative size (expected: >= 0)");
      return bytes;
    }

    /**
     * Parses the declared flags and the framework's over their variables over the defaults, and
     * returns them with every other argument, for an application that handles those itself. Neither
     * prints nor exits; {@code --help} is left in {@link Flags#remaining()} too.
     *
     * @param env environment variables, usually {@link System#getenv()}
     * @throws IllegalArgumentException naming the flag or variable, for a missing or bad value
     * @throws IllegalStateException when the framework's settings contradict each other (see {@link
     *     CalloutServerConfig.Builder#build()})
     */
    public Flags parse(String[] args, Map<String, String> env) {
      return new Flags(commandLine, commandLine.parse(args, env));
    }

    /**
     * Parses {@code args} and the environment, builds the server with {@code factory}, starts it,
     * blocks until it has drained on SIGTERM or SIGINT, and exits the JVM with the exit code of
     * {@link #run}.
     */
    public void launch(
        String[] args, BiFunction<CalloutServerConfig, Flags, ? extends CalloutServer> factory) {
      System.exit(run(args, System.getenv(), System.out, System.err, factory));
    }

    /**
     * Does what {@link #launch} does, but returns the exit code instead of exiting: 0 after {@code
     * --help} (printed to {@code out}) or a drain; 2 for an unknown flag, a missing or bad value,
     * or an {@link IllegalArgumentException} from {@code factory}, with one line on {@code err}; 1
     * when the server could not start.
     *
     * @param env environment variables, usually {@link System#getenv()}
     */
    public int run(
        String[] args,
        Map<String, String> env,
        PrintStream out,
        PrintStream err,
        BiFunction<CalloutServerConfig, Flags, ? extends CalloutServer> factory) {
      return commandLine.run(
          args,
          env,
          out,
          err,
          parsed -> factory.apply(parsed.config(), new Flags(commandLine, parsed)));
    }

    /** The parsed command line: the framework's settings, the declared flags and the rest. */
    public static final class Flags {
      private final CommandLine commandLine;
      private final CommandLine.Parsed parsed;

      private Flags(CommandLine commandLine, CommandLine.Parsed parsed) {
        this.commandLine = commandLine;
        this.parsed = parsed;
      }

      /** The framework's settings, from its flags, their variables and the defaults. */
      public CalloutServerConfig config() {
        return parsed.config();
      }

      /**
       * Returns a declared flag's value: from the flag, else its variable, else its default; empty
       * for an {@linkplain Launcher#optionalFlag optional flag} given neither way.
       *
       * @throws IllegalArgumentException when {@code flag} was not declared
       */
      public Optional<String> value(String flag) {
        return commandLine.value(parsed, flag, value -> value);
      }

      /**
       * Returns a declared flag's value converted by {@code parser}, as {@link #value(String)}
       * does. An {@link IllegalArgumentException} from {@code parser} comes out with its message
       * prefixed by where the value came from ({@code --key-header=x: ...} or {@code
       * API_KEY_HEADER=x: ...}), the line {@link #run} prints.
       *
       * @throws IllegalArgumentException when {@code flag} was not declared, or {@code parser}
       *     rejects the value
       */
      public <T> Optional<T> value(String flag, Function<String, ? extends T> parser) {
        return commandLine.value(parsed, flag, parser);
      }

      /**
       * The arguments that are neither declared flags nor the framework's, in order (a value after
       * an unknown flag included); always empty under {@link Launcher#run}, which refuses them.
       */
      public List<String> remaining() {
        return parsed.remaining();
      }
    }
  }
}
