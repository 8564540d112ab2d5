package dev.extproc.callout;

import io.grpc.Server;
import io.grpc.ServerCredentials;
import io.grpc.ServerServiceDefinition;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * Binds one gRPC listener of a {@link CalloutServer} (plaintext or TLS, serving ext_proc, {@code
 * grpc.health.v1} and reflection) with the configured transport limits. Its address resolution and
 * bind failures, which name the listener, serve the HTTP health listener too.
 */
final class GrpcListener {

  /**
   * Time a new connection gets to finish its TLS handshake and send the HTTP/2 preface before it is
   * closed: 10 s, Netty's TLS handshake timeout, applied to plaintext connections too (grpc-java's
   * own default is 120 s). A proxy does both within milliseconds of connecting.
   */
  static final Duration HANDSHAKE_TIMEOUT = Duration.ofSeconds(10);

  private GrpcListener() {}

  /** Binds and starts the listener {@code name} on {@code configured}. */
  static Server bind(
      String name,
      InetSocketAddress configured,
      ServerCredentials credentials,
      CalloutServerConfig config,
      List<ServerServiceDefinition> services,
      ServerServiceDefinition healthService)
      throws IOException {
    InetSocketAddress address = resolve(name, configured);
    NettyServerBuilder builder =
        NettyServerBuilder.forAddress(address, credentials)
            .maxInboundMessageSize(transportMessageLimit(config.maxInboundMessageSize()))
            .permitKeepAliveTime(config.permitKeepAliveTime().toNanos(), TimeUnit.NANOSECONDS)
            .permitKeepAliveWithoutCalls(true)
            .keepAliveTime(keepAliveNanos(config.keepAliveTime()), TimeUnit.NANOSECONDS)
            .keepAliveTimeout(config.keepAliveTimeout().toNanos(), TimeUnit.NANOSECONDS)
            .handshakeTimeout(HANDSHAKE_TIMEOUT.toNanos(), TimeUnit.NANOSECONDS)
            .addService(healthService)
            .addService(ProtoReflectionServiceV1.newInstance());
    for (ServerServiceDefinition service : services) {
      builder.addService(service);
    }
    // The network thread delivers every callback; CalloutStream hands only the hooks to the hook
    // executor, which saves a thread switch for each callback that runs no user code.
    builder.directExecutor();
    try {
      return builder.build().start();
    } catch (IOException e) {
      throw bindFailure(name, address, e);
    }
  }

  /** Server ping interval for grpc-java, where an unreasonably large value turns pings off. */
  private static long keepAliveNanos(Duration time) {
    return time.isZero() ? Long.MAX_VALUE : time.toNanos();
  }

  /**
   * The transport's message limit: above the configured one (which each stream enforces itself,
   * with a RESOURCE_EXHAUSTED that names it), yet bounded, so no message can grow without limit.
   */
  static int transportMessageLimit(int configured) {
    return (int) Math.min(Integer.MAX_VALUE, (long) configured + Math.max(configured, 1 << 20));
  }

  /** Resolves the host of a configured listener address, or fails naming the listener. */
  static InetSocketAddress resolve(String name, InetSocketAddress configured) throws IOException {
    InetSocketAddress resolved =
        new InetSocketAddress(configured.getHostString(), configured.getPort());
    if (resolved.isUnresolved()) {
      throw new IOException(
          "cannot bind the " + name + " listener: unknown host " + configured.getHostString());
    }
    return resolved;
  }

  /** The exception for a listener that could not bind, with the root cause's message. */
  static IOException bindFailure(String name, InetSocketAddress address, IOException e) {
    Throwable cause = e;
    while (cause.getCause() != null) {
      cause = cause.getCause();
    }
    return new IOException(
        "cannot bind the "
            + name
            + " listener to "
            + address.getHostString()
            + ":"
            + address.getPort()
            + ": "
            + cause.getMessage(),
        e);
  }

  /** The address a started listener is bound to; empty for none. */
  static Optional<InetSocketAddress> boundAddress(@Nullable Server server) {
    if (server == null || server.getListenSockets().isEmpty()) {
      return Optional.empty();
    }
    SocketAddress address = server.getListenSockets().get(0);
    return address instanceof InetSocketAddress inet ? Optional.of(inet) : Optional.empty();
  }
}
