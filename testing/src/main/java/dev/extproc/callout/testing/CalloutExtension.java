package dev.extproc.callout.testing;

import static java.util.Objects.requireNonNull;

import com.google.errorprone.annotations.CanIgnoreReturnValue;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import io.envoyproxy.envoy.service.auth.v3.CheckRequest;
import io.envoyproxy.envoy.service.auth.v3.CheckResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.TlsChannelCredentials;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.function.Function;
import java.util.function.Supplier;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A JUnit 5 extension that starts a callout and a {@link CalloutTester} driving it, and closes both
 * afterwards, streams still open included. Registered on a {@code static} field it serves the whole
 * test class (started before the first test, closed after the last); on an instance field it serves
 * one test method.
 *
 * <pre>{@code
 * @RegisterExtension
 * static final CalloutExtension<AddHeader> callout =
 *     CalloutExtension.inProcess(() -> new AddHeader(CalloutServerConfig.defaults()));
 *
 * @Test
 * void requestHeaders_addsHello() {
 *   CalloutTester.Stream stream = callout.newStream();
 *   ProcessingResponse reply = stream.requestHeaders(CalloutTester.headers(":path", "/"));
 *   assertThat(Replies.setHeaders(reply)).containsExactly("x-hello", "world");
 * }
 * }</pre>
 *
 * <p>{@link #inProcess} runs the callout's services in-process, without sockets; {@link #plaintext}
 * and {@link #tls} start the real server with only that gRPC listener on {@code 127.0.0.1}, port 0
 * (health through {@code grpc.health.v1} on it, no drain delay), and drive it over a socket: {@link
 * CalloutServer#plaintextAddress()} then says where it listens. Closing cancels the streams the
 * server has not closed, so the callout's {@link CalloutServer#close()} does not wait out its grace
 * period. Tests of one class may run concurrently on a class-wide extension, each on its own
 * streams.
 *
 * @param <T> the callout's class, for {@link #callout()}
 */
public final class CalloutExtension<T extends CalloutServer>
    implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback, AfterEachCallback {

  private enum Transport {
    IN_PROCESS,
    PLAINTEXT,
    TLS
  }

  private record Running<T extends CalloutServer>(
      T callout, CalloutTester tester, @Nullable ManagedChannel channel) {}

  private final Transport transport;
  private final Function<CalloutServerConfig, ? extends T> factory;
  private volatile Duration timeout = CalloutTester.DEFAULT_TIMEOUT;
  private volatile @Nullable Running<T> running;
  // The unique id of the class or method whose start started the callout, to close it at its end.
  private @Nullable String owner;

  private CalloutExtension(
      Transport transport, Function<CalloutServerConfig, ? extends T> factory) {
    this.transport = transport;
    this.factory = requireNonNull(factory, "callout");
  }

  /**
   * Runs the callout that {@code callout} creates in-process, with no sockets: its listeners and
   * TLS settings are not used.
   */
  public static <T extends CalloutServer> CalloutExtension<T> inProcess(
      Supplier<? extends T> callout) {
    requireNonNull(callout, "callout");
    return new CalloutExtension<>(Transport.IN_PROCESS, config -> callout.get());
  }

  /**
   * Starts the callout that {@code callout} creates from a configuration with only a plaintext gRPC
   * listener, on {@code 127.0.0.1} port 0, and drives it over a socket. To change other settings,
   * build on the configuration it gets: {@code config.toBuilder().streamedChunkSize(16).build()}.
   */
  public static <T extends CalloutServer> CalloutExtension<T> plaintext(
      Function<CalloutServerConfig, ? extends T> callout) {
    return new CalloutExtension<>(Transport.PLAINTEXT, callout);
  }

  /**
   * Like {@link #plaintext}, with only the TLS gRPC listener and its ephemeral self-signed
   * certificate, which the client trusts as Google Cloud load balancers do ({@link
   * TrustAllCertificates}).
   */
  public static <T extends CalloutServer> CalloutExtension<T> tls(
      Function<CalloutServerConfig, ? extends T> callout) {
    return new CalloutExtension<>(Transport.TLS, callout);
  }

  /**
   * Sets how long the tester waits for each reply (default {@link CalloutTester#DEFAULT_TIMEOUT});
   * applies from the next start.
   *
   * @return this
   * @throws IllegalArgumentException when {@code timeout} is not positive
   */
  @CanIgnoreReturnValue
  public CalloutExtension<T> timeout(Duration timeout) {
    if (timeout.compareTo(Duration.ZERO) <= 0) {
      throw new IllegalArgumentException("timeout: " + timeout + " (expected: > 0)");
    }
    this.timeout = timeout;
    return this;
  }

  /**
   * The running callout, to read its state or its listeners' addresses.
   *
   * @throws IllegalStateException outside the tests it serves
   */
  public T callout() {
    return running().callout();
  }

  /**
   * The tester driving the running callout.
   *
   * @throws IllegalStateException outside the tests it serves
   */
  public CalloutTester tester() {
    return running().tester();
  }

  /** Opens a stream with default body modes: {@link CalloutTester#newStream()}. */
  public CalloutTester.Stream newStream() {
    return tester().newStream();
  }

  /** Sends an ext_authz check and returns the decision: {@link CalloutTester#check}. */
  public CheckResponse check(CheckRequest request) {
    return tester().check(request);
  }

  /** Opens a network ext_proc connection: {@link CalloutTester#newNetworkStream()}. */
  public NetworkStream newNetworkStream() {
    return tester().newNetworkStream();
  }

  /** Opens a stream whose first message carries {@code protocolConfig}. */
  public CalloutTester.Stream newStream(ProtocolConfiguration protocolConfig) {
    return tester().newStream(protocolConfig);
  }

  /** Opens an observability-mode stream: {@link CalloutTester#newObservabilityStream()}. */
  public CalloutTester.Stream newObservabilityStream() {
    return tester().newObservabilityStream();
  }

  /** Starts the callout for the test class (static field). */
  @Override
  public void beforeAll(ExtensionContext context) throws IOException {
    startFor(context);
  }

  /** Starts the callout for the test method, unless it already runs for the whole class. */
  @Override
  public void beforeEach(ExtensionContext context) throws IOException {
    startFor(context);
  }

  /** Closes the callout started for the test method. */
  @Override
  public void afterEach(ExtensionContext context) {
    stopFor(context);
  }

  /** Closes the callout started for the test class. */
  @Override
  public void afterAll(ExtensionContext context) {
    stopFor(context);
  }

  private Running<T> running() {
    Running<T> current = running;
    if (current == null) {
      throw new IllegalStateException(
          "no callout running: register the CalloutExtension with @RegisterExtension and use it"
              + " from a test (or @BeforeEach) it serves");
    }
    return current;
  }

  // Nested classes inherit a static field's extension: their callbacks find it running already.
  private synchronized void startFor(ExtensionContext context) throws IOException {
    if (running == null) {
      running = start();
      owner = context.getUniqueId();
    }
  }

  private synchronized void stopFor(ExtensionContext context) {
    Running<T> current = running;
    if (current != null && context.getUniqueId().equals(owner)) {
      running = null;
      owner = null;
      stop(current);
    }
  }

  private Running<T> start() throws IOException {
    // No drain delay: no load balancer health-checks a test's server, so closing need not wait.
    CalloutServerConfig.Builder config =
        CalloutServerConfig.newBuilder().combinedHealthCheck().shutdownDrainDelay(Duration.ZERO);
    switch (transport) {
      case PLAINTEXT -> config.plaintextAddress("127.0.0.1:0").disableTls();
      case TLS -> config.secureAddress("127.0.0.1:0").disablePlaintext();
      case IN_PROCESS -> {}
    }
    T callout = requireNonNull(factory.apply(config.build()), "the callout factory returned null");
    ManagedChannel channel = null;
    try {
      if (transport == Transport.IN_PROCESS) {
        return new Running<>(callout, CalloutTester.of(callout, timeout), null);
      }
      callout.start();
      channel = channel(callout);
      return new Running<>(callout, CalloutTester.forChannel(channel, timeout), channel);
    } catch (IOException | RuntimeException e) {
      if (channel != null) {
        channel.shutdownNow();
      }
      callout.close();
      throw e;
    }
  }

  private ManagedChannel channel(CalloutServer callout) {
    InetSocketAddress address =
        (transport == Transport.TLS ? callout.secureAddress() : callout.plaintextAddress())
            .orElseThrow(() -> new IllegalStateException("the callout's listener is not running"));
    ChannelCredentials credentials =
        transport == Transport.TLS
            ? TlsChannelCredentials.newBuilder().trustManager(new TrustAllCertificates()).build()
            : InsecureChannelCredentials.create();
    ManagedChannelBuilder<?> channel =
        Grpc.newChannelBuilderForAddress("127.0.0.1", address.getPort(), credentials);
    if (transport == Transport.TLS) {
      channel.overrideAuthority("localhost");
    }
    return channel.build();
  }

  private static void stop(Running<?> running) {
    try {
      running.tester().close();
    } finally {
      ManagedChannel channel = running.channel();
      if (channel != null) {
        channel.shutdownNow();
      }
      running.callout().close();
    }
  }
}
