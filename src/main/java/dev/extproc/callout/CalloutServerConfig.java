package dev.extproc.callout;

import static com.google.common.base.Preconditions.checkArgument;
import static java.util.Objects.requireNonNull;

import com.google.errorprone.annotations.CanIgnoreReturnValue;
import dev.extproc.callout.internal.ConfigParser;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * Immutable settings of a {@link CalloutServer}: its listeners, TLS material, gRPC limits, header
 * mutation checks, hook executor and shutdown grace period.
 *
 * <p>Build one with {@link #newBuilder()}, or from command line flags and environment variables
 * with {@link #fromArgs(String[], Map)} (flags win over environment variables, which win over the
 * defaults). {@link #usage()} lists every flag with its variable and default.
 */
public final class CalloutServerConfig {

  /** Default TLS gRPC listener: {@value}. */
  public static final String DEFAULT_SECURE_ADDRESS = "0.0.0.0:8443";

  /** Default plaintext (h2c) gRPC listener: {@value}. */
  public static final String DEFAULT_PLAINTEXT_ADDRESS = "0.0.0.0:8080";

  /** Default HTTP health check listener: {@value}. */
  public static final String DEFAULT_HEALTH_CHECK_ADDRESS = "0.0.0.0:8000";

  /**
   * Default largest inbound gRPC message, in bytes: {@value} (16 MiB). A BUFFERED body arrives as
   * one message, so this must exceed the load balancer's body buffer limit plus the headers.
   */
  public static final int DEFAULT_MAX_INBOUND_MESSAGE_SIZE = 16 * 1024 * 1024;

  /**
   * Default most a {@link BodyTransformer} may hold back of one body, in bytes: {@value} (8 MiB).
   */
  public static final int DEFAULT_MAX_BUFFERED_BODY_SIZE = 8 * 1024 * 1024;

  /**
   * Default largest {@code streamed_response} chunk sent in FULL_DUPLEX_STREAMED mode, in bytes:
   * {@value} (64 KiB, Envoy's recommendation).
   */
  public static final int DEFAULT_STREAMED_CHUNK_SIZE = 64 * 1024;

  /**
   * Default limit of open ext_proc streams across the whole server: {@value} (no limit). Each Envoy
   * already caps its streams to one cluster (circuit breaker {@code max_requests}, 1024 by
   * default), and the right server-wide number depends on the hooks' memory and time.
   */
  public static final int DEFAULT_MAX_CONCURRENT_STREAMS = 0;

  /** Default number of threads in the {@link HookExecutor#POOL} hook executor: {@value}. */
  public static final int DEFAULT_HOOK_THREADS = 200;

  /** Default interval between checks of the certificate files for a new pair: 60 s. */
  public static final Duration DEFAULT_CERTIFICATE_REFRESH_INTERVAL = Duration.ofSeconds(60);

  /**
   * Default shortest interval between client keepalive pings the server tolerates: 5 s, half the 10
   * s interval recommended for Envoy, so that timer jitter never earns a ping strike (grpc-java
   * closes the connection with {@code too_many_pings} after two).
   */
  public static final Duration DEFAULT_PERMIT_KEEPALIVE_TIME = Duration.ofSeconds(5);

  /**
   * Default longest a hook may run for one message: 10 s, the longest message timeout Service
   * Extensions accepts, so the deadline never ends a stream that a load balancer with a default or
   * longer timeout would still wait for, while a hook that blocks forever still gives its thread
   * back. Set it just below the load balancer's message timeout for an earlier, clearer failure.
   */
  public static final Duration DEFAULT_HOOK_DEADLINE = Duration.ofSeconds(10);

  /**
   * Default time without any frame from a client after which the server pings it: 30 s. A client
   * that vanished without closing (a killed proxy, a dropped route) is found within this plus
   * {@link #DEFAULT_KEEPALIVE_TIMEOUT}, and its streams end; one 17-byte PING per idle connection
   * every 30 s costs nothing, and Envoy answers pings at any rate.
   */
  public static final Duration DEFAULT_KEEPALIVE_TIME = Duration.ofSeconds(30);

  /**
   * Default time a keepalive ping may go unanswered before the connection is closed and its streams
   * cancelled: 10 s, far above any round trip to a proxy in the same region.
   */
  public static final Duration DEFAULT_KEEPALIVE_TIMEOUT = Duration.ofSeconds(10);

  /** Default time in-flight streams get to finish after {@link CalloutServer#close()}: 30 s. */
  public static final Duration DEFAULT_SHUTDOWN_GRACE_PERIOD = Duration.ofSeconds(30);

  /**
   * Default time health reports draining while the listeners still accept and serve new streams,
   * before the grace period: 15 s, so that a load balancer that learns of the drain from its health
   * checks has stopped choosing this server before it refuses anything. A load balancer takes
   * interval x unhealthy threshold to mark a backend down after its first failed check:
   *
   * <ul>
   *   <li>Google Cloud health checks (Service Extensions backends), by default 5 s x 2 = 10 s;
   *   <li>Envoy active health checking ({@code deploy/envoy}: 5 s x 2), which also marks a host
   *       down at its first 503, so one interval, 5 s;
   *   <li>Kubernetes readiness ({@code deploy/kubernetes}: 5 s x 1 = 5 s), while the terminating
   *       pod leaves the Service's endpoints at once and proxies learn of it within a few seconds.
   * </ul>
   *
   * <p>The slowest, 10 s, plus one more 5 s interval for probers that are out of phase and for the
   * verdict to reach every proxy of the load balancer: 15 s. Set it to interval x unhealthy
   * threshold + one interval of your own load balancer, and to {@link Duration#ZERO} in tests and
   * local runs, where {@link CalloutServer#close()} would otherwise wait that long.
   */
  public static final Duration DEFAULT_SHUTDOWN_DRAIN_DELAY = Duration.ofSeconds(15);

  /** Where hooks run. */
  public enum HookExecutor {
    /**
     * A bounded pool of platform threads ({@link CalloutServerConfig#hookThreads()}); hooks may
     * block without stalling other streams until every thread is busy. The default.
     */
    POOL,
    /**
     * One virtual thread per task (JDK 21 or newer); hooks may block freely. Refused at start on
     * older JDKs.
     */
    VIRTUAL,
    /**
     * On the network thread that received the message: the cheapest, for hooks that never block. A
     * blocking hook stalls every stream of its connection.
     */
    INLINE
  }

  /**
   * What to do with a header mutation that Envoy or the load balancer would reject or ignore.
   *
   * <p>Envoy ignores most disallowed mutations silently (only a counter moves) and fails the
   * request with 500 for malformed ones; either way the callout's author rarely finds out. The
   * framework checks every reply before sending it, following a {@link MutationProfile}.
   */
  public enum MutationPolicy {
    /**
     * The reply is not sent: the hook fails with an {@link IllegalStateException} naming the header
     * and the rule, and the stream ends with {@code INTERNAL}. The default.
     */
    REJECT,
    /**
     * Each offending entry is removed from the reply and logged at warn (the header's name, never
     * its value); the rest of the reply is sent.
     */
    DROP,
    /** No checks: replies are sent as the hooks built them. */
    OFF
  }

  /** Which proxy's rules header mutations are checked against; see {@link MutationPolicy}. */
  public enum MutationProfile {
    /**
     * Envoy with the ext_proc filter's {@code mutation_rules} unset: {@code host}, {@code
     * :authority}, {@code :method}, {@code :scheme} and {@code x-envoy*} headers are not mutable,
     * pseudo-headers and {@code host} cannot be removed, pseudo-headers cannot be appended to, and
     * malformed or oversized mutations fail the request.
     */
    ENVOY,
    /**
     * A Google Cloud Service Extensions callout other than a traffic extension (route,
     * authorization): {@link #ENVOY}'s rules, plus the headers the load balancer never lets a
     * callout mutate ({@code X-Forwarded-*}, {@code X-Google-*}, hop-by-hop headers and so on) and
     * at most 128 KiB of header mutations per reply.
     */
    SERVICE_EXTENSIONS,
    /**
     * A Google Cloud Service Extensions traffic extension: {@link #SERVICE_EXTENSIONS}' rules, plus
     * {@code :method}, {@code :authority}, {@code :scheme} and {@code host} are never mutable.
     */
    SERVICE_EXTENSIONS_TRAFFIC
  }

  private final ConfigValues values;

  private CalloutServerConfig(Builder b) {
    values = b.values.copy();
    values.allowedMutationHeaders = Set.copyOf(values.allowedMutationHeaders);
  }

  /** Returns a builder holding the defaults. */
  public static Builder newBuilder() {
    return new Builder();
  }

  /** Returns the default configuration. */
  public static CalloutServerConfig defaults() {
    return newBuilder().build();
  }

  /**
   * Parses command line flags over environment variables over the defaults.
   *
   * @param args flags such as {@code --plaintext-address 127.0.0.1:8080}; {@code --flag=value} is
   *     accepted too
   * @param env environment variables, usually {@link System#getenv()}; only {@code CALLOUT_*} keys
   *     are read
   * @throws IllegalArgumentException naming the flag or variable, for an unknown flag or a bad
   *     value
   * @throws IllegalStateException when the settings contradict each other (see {@link
   *     Builder#build()})
   */
  public static CalloutServerConfig fromArgs(String[] args, Map<String, String> env) {
    return ConfigParser.parse(args, env).build();
  }

  /** Returns the flag reference printed by {@code --help}: one line per flag. */
  public static String usage() {
    return ConfigParser.usage();
  }

  /** Returns a builder that starts from these settings. */
  public Builder toBuilder() {
    return new Builder(this);
  }

  /** The TLS gRPC listener's address; empty when TLS is disabled. */
  public Optional<InetSocketAddress> secureAddress() {
    return Optional.ofNullable(values.secureAddress);
  }

  /** The plaintext gRPC listener's address; empty when it is disabled. */
  public Optional<InetSocketAddress> plaintextAddress() {
    return Optional.ofNullable(values.plaintextAddress);
  }

  /**
   * The HTTP health check listener's address; empty in combined mode, where health is served only
   * by {@code grpc.health.v1} on the gRPC listeners.
   */
  public Optional<InetSocketAddress> healthCheckAddress() {
    return Optional.ofNullable(values.healthCheckAddress);
  }

  /** Whether the health check listener speaks HTTPS (with the TLS listener's certificate). */
  public boolean isSecureHealthCheck() {
    return values.secureHealthCheck;
  }

  /**
   * Whether the health check listener serves Prometheus metrics at {@code /metrics} (the default);
   * in combined health check mode there is no such listener, so no metrics either.
   */
  public boolean isMetricsEnabled() {
    return values.metricsEnabled;
  }

  /** The PEM certificate chain file; empty when bytes or an ephemeral certificate are used. */
  public Optional<Path> certChainPath() {
    return Optional.ofNullable(values.certChainPath);
  }

  /** The PEM (PKCS#8) private key file; empty when bytes or an ephemeral certificate are used. */
  public Optional<Path> privateKeyPath() {
    return Optional.ofNullable(values.privateKeyPath);
  }

  /**
   * The PEM CA certificates that client certificates must chain to (mutual TLS); empty when the TLS
   * listener accepts any client.
   */
  public Optional<Path> clientCaPath() {
    return Optional.ofNullable(values.clientCaPath);
  }

  /**
   * How often the certificate files ({@link #certChainPath()}, {@link #privateKeyPath()}) are
   * checked for a new pair, which new connections then get; zero turns reloading off.
   */
  public Duration certificateRefreshInterval() {
    return values.certificateRefreshInterval;
  }

  /** Whether a certificate was configured, by path or bytes; if not, one is generated at start. */
  boolean hasCertificate() {
    return values.certChainPath != null || values.certChainPem != null;
  }

  byte @Nullable [] certChainPem() {
    return values.certChainPem == null ? null : values.certChainPem.clone();
  }

  byte @Nullable [] privateKeyPem() {
    return values.privateKeyPem == null ? null : values.privateKeyPem.clone();
  }

  /** The largest inbound gRPC message in bytes; larger ones end the stream RESOURCE_EXHAUSTED. */
  public int maxInboundMessageSize() {
    return values.maxInboundMessageSize;
  }

  /**
   * The most ext_proc streams open at once across the server (every listener and connection); a
   * stream over it is refused with {@code RESOURCE_EXHAUSTED}. Zero means no limit.
   */
  public int maxConcurrentStreams() {
    return values.maxConcurrentStreams;
  }

  /**
   * The most a {@link BodyTransformer} may hold back of one body, and the most body output held for
   * a deferred headers reply ({@link CalloutContext#deferHeadersReply}), in bytes.
   */
  public int maxBufferedBodySize() {
    return values.maxBufferedBodySize;
  }

  /** The largest {@code streamed_response} chunk sent in FULL_DUPLEX_STREAMED mode, in bytes. */
  public int streamedChunkSize() {
    return values.streamedChunkSize;
  }

  /** The shortest interval between client keepalive pings tolerated, with or without calls. */
  public Duration permitKeepAliveTime() {
    return values.permitKeepAliveTime;
  }

  /**
   * How long a connection may stay without any frame from the client before the server pings it;
   * zero turns server pings off.
   */
  public Duration keepAliveTime() {
    return values.keepAliveTime;
  }

  /** How long a server ping may go unanswered before the connection and its streams are closed. */
  public Duration keepAliveTimeout() {
    return values.keepAliveTimeout;
  }

  /** What happens to a header mutation the proxy would reject or ignore (default REJECT). */
  public MutationPolicy mutationPolicy() {
    return values.mutationPolicy;
  }

  /** Whose rules header mutations are checked against (default ENVOY). */
  public MutationProfile mutationProfile() {
    return values.mutationProfile;
  }

  /**
   * The routing and {@code x-envoy*} headers the proxy's {@code mutation_rules} let callouts mutate
   * (lower case; a trailing {@code *} is a prefix); empty by default, as in Envoy.
   */
  public Set<String> allowedMutationHeaders() {
    return values.allowedMutationHeaders;
  }

  /** Where hooks run. */
  public HookExecutor hookExecutor() {
    return values.hookExecutor;
  }

  /** Threads of the {@link HookExecutor#POOL} executor. */
  public int hookThreads() {
    return values.hookThreads;
  }

  /**
   * How long a hook may run for one message before its stream ends with {@code DEADLINE_EXCEEDED}
   * and its thread is interrupted; {@link Duration#ZERO} for no limit.
   */
  public Duration hookDeadline() {
    return values.hookDeadline;
  }

  /** How long in-flight streams may run on after {@link CalloutServer#close()} begins. */
  public Duration shutdownGracePeriod() {
    return values.shutdownGracePeriod;
  }

  /**
   * How long {@link CalloutServer#close()} keeps the listeners accepting streams after health has
   * turned NOT_SERVING (HTTP 503), so that load balancers that learn of the drain only from health
   * checks stop choosing this server before it refuses them. The grace period follows.
   */
  public Duration shutdownDrainDelay() {
    return values.shutdownDrainDelay;
  }

  /** Shows the effective settings; never key material. */
  @Override
  public String toString() {
    return ConfigDescription.of(this);
  }

  /** Builds a {@link CalloutServerConfig}; every setter checks its argument at once. */
  public static final class Builder {
    private final ConfigValues values;

    private Builder() {
      values = new ConfigValues();
    }

    private Builder(CalloutServerConfig c) {
      values = c.values.copy();
    }

    /**
     * Enables the TLS gRPC listener on {@code HOST:PORT} (default {@value
     * #DEFAULT_SECURE_ADDRESS}).
     */
    @CanIgnoreReturnValue
    public Builder secureAddress(String hostPort) {
      values.secureAddress = ListenerAddresses.parse(hostPort);
      return this;
    }

    /** Disables the TLS gRPC listener. */
    @CanIgnoreReturnValue
    public Builder disableTls() {
      values.secureAddress = null;
      return this;
    }

    /**
     * Enables the plaintext gRPC listener on {@code HOST:PORT} (default {@value
     * #DEFAULT_PLAINTEXT_ADDRESS}).
     */
    @CanIgnoreReturnValue
    public Builder plaintextAddress(String hostPort) {
      values.plaintextAddress = ListenerAddresses.parse(hostPort);
      return this;
    }

    /** Disables the plaintext gRPC listener. */
    @CanIgnoreReturnValue
    public Builder disablePlaintext() {
      values.plaintextAddress = null;
      return this;
    }

    /**
     * Serves HTTP health checks on {@code HOST:PORT} (default {@value
     * #DEFAULT_HEALTH_CHECK_ADDRESS}).
     */
    @CanIgnoreReturnValue
    public Builder healthCheckAddress(String hostPort) {
      values.healthCheckAddress = ListenerAddresses.parse(hostPort);
      return this;
    }

    /** Serves health only through {@code grpc.health.v1} on the gRPC listeners: no HTTP port. */
    @CanIgnoreReturnValue
    public Builder combinedHealthCheck() {
      values.healthCheckAddress = null;
      return this;
    }

    /** Serves the HTTP health check over HTTPS with the TLS listener's certificate. */
    @CanIgnoreReturnValue
    public Builder secureHealthCheck(boolean secure) {
      values.secureHealthCheck = secure;
      return this;
    }

    /**
     * Turns off Prometheus metrics: no {@code /metrics} on the health check listener (404) and no
     * instrumentation of the streams.
     */
    @CanIgnoreReturnValue
    public Builder disableMetrics() {
      values.metricsEnabled = false;
      return this;
    }

    /**
     * Uses a PEM certificate chain and PEM PKCS#8 private key from files, read at start. Without a
     * certificate an ephemeral self-signed one is generated at start.
     */
    @CanIgnoreReturnValue
    public Builder certificate(Path certChain, Path privateKey) {
      values.certChainPath = requireNonNull(certChain, "certChain");
      values.privateKeyPath = requireNonNull(privateKey, "privateKey");
      values.certChainPem = null;
      values.privateKeyPem = null;
      return this;
    }

    /** Uses a PEM certificate chain and PEM PKCS#8 private key given as bytes. */
    @CanIgnoreReturnValue
    public Builder certificate(byte[] certChainPem, byte[] privateKeyPem) {
      checkArgument(certChainPem.length > 0, "certChainPem: empty (expected: PEM bytes)");
      checkArgument(privateKeyPem.length > 0, "privateKeyPem: empty (expected: PEM bytes)");
      values.certChainPem = certChainPem.clone();
      values.privateKeyPem = privateKeyPem.clone();
      values.certChainPath = null;
      values.privateKeyPath = null;
      return this;
    }

    /**
     * Requires clients of the TLS listener to present a certificate that chains to one of the PEM
     * CA certificates in {@code caCertificates} (mutual TLS); read at start. Others are refused at
     * the handshake.
     */
    @CanIgnoreReturnValue
    public Builder clientCaPath(Path caCertificates) {
      values.clientCaPath = requireNonNull(caCertificates, "caCertificates");
      return this;
    }

    /**
     * Sets how often the certificate files are checked for a new pair (default 60 s); {@code
     * Duration.ZERO} turns reloading off.
     */
    @CanIgnoreReturnValue
    public Builder certificateRefreshInterval(Duration interval) {
      checkArgument(
          !interval.isNegative(), "certificateRefreshInterval: %s (expected: >= 0)", interval);
      values.certificateRefreshInterval = interval;
      return this;
    }

    /** Sets the largest inbound message in bytes (default 16 MiB). */
    @CanIgnoreReturnValue
    public Builder maxInboundMessageSize(int bytes) {
      checkArgument(bytes > 0, "maxInboundMessageSize: %s (expected: > 0)", bytes);
      values.maxInboundMessageSize = bytes;
      return this;
    }

    /**
     * Sets the most ext_proc streams open at once across the server (default 0: no limit); a stream
     * over it is refused with {@code RESOURCE_EXHAUSTED}.
     */
    @CanIgnoreReturnValue
    public Builder maxConcurrentStreams(int streams) {
      checkArgument(streams >= 0, "maxConcurrentStreams: %s (expected: >= 0)", streams);
      values.maxConcurrentStreams = streams;
      return this;
    }

    /**
     * Sets the most a {@link BodyTransformer} may hold back of one body, and the most body output
     * held for a deferred headers reply (default 8 MiB).
     */
    @CanIgnoreReturnValue
    public Builder maxBufferedBodySize(int bytes) {
      checkArgument(bytes > 0, "maxBufferedBodySize: %s (expected: > 0)", bytes);
      values.maxBufferedBodySize = bytes;
      return this;
    }

    /** Sets the largest {@code streamed_response} chunk (default 64 KiB). */
    @CanIgnoreReturnValue
    public Builder streamedChunkSize(int bytes) {
      checkArgument(bytes > 0, "streamedChunkSize: %s (expected: > 0)", bytes);
      values.streamedChunkSize = bytes;
      return this;
    }

    /** Sets the shortest client keepalive ping interval tolerated (default 5 s). */
    @CanIgnoreReturnValue
    public Builder permitKeepAliveTime(Duration interval) {
      checkArgument(!interval.isNegative(), "permitKeepAliveTime: %s (expected: >= 0)", interval);
      values.permitKeepAliveTime = interval;
      return this;
    }

    /**
     * Sets how long a connection may stay without any frame from the client before the server pings
     * it (default 30 s); {@code Duration.ZERO} turns server pings off.
     */
    @CanIgnoreReturnValue
    public Builder keepAliveTime(Duration interval) {
      checkArgument(!interval.isNegative(), "keepAliveTime: %s (expected: >= 0)", interval);
      values.keepAliveTime = interval;
      return this;
    }

    /**
     * Sets how long a server ping may go unanswered before the connection closes (default 10 s).
     */
    @CanIgnoreReturnValue
    public Builder keepAliveTimeout(Duration timeout) {
      checkArgument(
          !timeout.isNegative() && !timeout.isZero(),
          "keepAliveTimeout: %s (expected: > 0)",
          timeout);
      values.keepAliveTimeout = timeout;
      return this;
    }

    /** Chooses what happens to a mutation the proxy would reject or ignore (default REJECT). */
    @CanIgnoreReturnValue
    public Builder mutationPolicy(MutationPolicy policy) {
      values.mutationPolicy = requireNonNull(policy, "mutationPolicy");
      return this;
    }

    /** Chooses whose rules header mutations are checked against (default ENVOY). */
    @CanIgnoreReturnValue
    public Builder mutationProfile(MutationProfile profile) {
      values.mutationProfile = requireNonNull(profile, "mutationProfile");
      return this;
    }

    /**
     * Declares routing or {@code x-envoy*} headers the proxy lets callouts mutate (its {@code
     * mutation_rules}, e.g. {@code allow_all_routing} for {@code :authority}); case-insensitive, a
     * trailing {@code *} is a prefix.
     */
    @CanIgnoreReturnValue
    public Builder allowMutationOf(String... headers) {
      for (String header : headers) {
        checkArgument(
            header != null && !header.isBlank(), "header: %s (expected: a header name)", header);
        values.allowedMutationHeaders.add(header.trim().toLowerCase(java.util.Locale.ROOT));
      }
      return this;
    }

    /** Chooses where hooks run (default {@link HookExecutor#POOL}). */
    @CanIgnoreReturnValue
    public Builder hookExecutor(HookExecutor executor) {
      values.hookExecutor = requireNonNull(executor, "hookExecutor");
      return this;
    }

    /** Sets the {@link HookExecutor#POOL} size (default {@value #DEFAULT_HOOK_THREADS}). */
    @CanIgnoreReturnValue
    public Builder hookThreads(int threads) {
      checkArgument(threads > 0, "hookThreads: %s (expected: > 0)", threads);
      values.hookThreads = threads;
      return this;
    }

    /**
     * Sets how long a hook may run for one message (default 10 s; {@link Duration#ZERO}: no limit).
     * Past it the stream ends with {@code DEADLINE_EXCEEDED}, the hook's thread is interrupted and
     * whatever the hook returns later is dropped.
     */
    @CanIgnoreReturnValue
    public Builder hookDeadline(Duration deadline) {
      checkArgument(!deadline.isNegative(), "hookDeadline: %s (expected: >= 0)", deadline);
      values.hookDeadline = deadline;
      return this;
    }

    /** Sets how long in-flight streams may run on during shutdown (default 30 s). */
    @CanIgnoreReturnValue
    public Builder shutdownGracePeriod(Duration period) {
      checkArgument(!period.isNegative(), "shutdownGracePeriod: %s (expected: >= 0)", period);
      values.shutdownGracePeriod = period;
      return this;
    }

    /**
     * Sets how long health reports draining while the listeners still accept streams, before the
     * grace period begins (default {@link #DEFAULT_SHUTDOWN_DRAIN_DELAY}, 15 s; {@link
     * Duration#ZERO} in tests); see {@link CalloutServerConfig#shutdownDrainDelay()}.
     */
    @CanIgnoreReturnValue
    public Builder shutdownDrainDelay(Duration delay) {
      checkArgument(!delay.isNegative(), "shutdownDrainDelay: %s (expected: >= 0)", delay);
      values.shutdownDrainDelay = delay;
      return this;
    }

    /**
     * Returns the configuration.
     *
     * @throws IllegalStateException when both gRPC listeners are disabled, when HTTPS health checks
     *     are asked for in combined mode, or when two listeners share a port
     */
    public CalloutServerConfig build() {
      ListenerAddresses.check(
          values.secureAddress,
          values.plaintextAddress,
          values.healthCheckAddress,
          values.clientCaPath != null,
          values.secureHealthCheck);
      return new CalloutServerConfig(this);
    }
  }
}
