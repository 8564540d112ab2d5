package dev.extproc.callout.bench;

import dev.extproc.callout.testing.TrustAllCertificates;
import io.grpc.ChannelCredentials;
import io.grpc.ConnectivityState;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.TlsChannelCredentials;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.channel.EventLoop;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.IoHandlerFactory;
import io.grpc.netty.shaded.io.netty.channel.MultiThreadIoEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.Epoll;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollIoHandler;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.nio.NioIoHandler;
import io.grpc.netty.shaded.io.netty.channel.socket.nio.NioSocketChannel;
import io.grpc.netty.shaded.io.netty.util.concurrent.DefaultThreadFactory;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The load generator's HTTP/2 connections: one Netty channel each on an event loop of its own (one
 * thread; epoll where the platform has it), callbacks run on that transport thread ({@code
 * directExecutor}), no retries (as Envoy's ext_proc client; gRPC's retry support buffers every
 * message of every call for a possible retry), no message size limit (as Envoy's default), no
 * keepalive pings (as Envoy's default). Knowing each connection's event loop lets the open loop
 * start streams on it, so a stream's start and first messages are written and flushed together,
 * with no cross-thread wake-up.
 */
final class Connections {

  /**
   * One connection.
   *
   * @param channel the gRPC channel (one HTTP/2 connection)
   * @param loop the event loop the connection's I/O and callbacks run on
   */
  record Connection(ManagedChannel channel, EventLoop loop) {}

  private final List<Connection> connections;
  private final List<EventLoopGroup> groups;

  private Connections(List<Connection> connections, List<EventLoopGroup> groups) {
    this.connections = List.copyOf(connections);
    this.groups = List.copyOf(groups);
  }

  /** The connections, in the order opened. */
  List<Connection> list() {
    return connections;
  }

  /** Opens {@code options.connections()} channels to the target and waits until each is ready. */
  static Connections open(LoadOptions options) throws InterruptedException {
    ChannelCredentials credentials = credentials(options);
    boolean epoll = Epoll.isAvailable();
    IoHandlerFactory io = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
    List<Connection> connections = new ArrayList<>();
    List<EventLoopGroup> groups = new ArrayList<>();
    try {
      for (int i = 0; i < options.connections(); i++) {
        EventLoopGroup group =
            new MultiThreadIoEventLoopGroup(
                1, new DefaultThreadFactory("loadgen-io-" + i, true), io);
        groups.add(group);
        NettyChannelBuilder builder =
            NettyChannelBuilder.forAddress(
                    options.target().getHost(), options.target().getPort(), credentials)
                .eventLoopGroup(group)
                .channelType(epoll ? EpollSocketChannel.class : NioSocketChannel.class)
                .directExecutor()
                .disableRetry()
                .maxInboundMessageSize(Integer.MAX_VALUE);
        if (options.authority() != null) {
          builder.overrideAuthority(options.authority());
        }
        connections.add(new Connection(builder.build(), group.next()));
      }
      Connections opened = new Connections(connections, groups);
      for (Connection connection : connections) {
        awaitReady(connection.channel(), options);
      }
      return opened;
    } catch (RuntimeException | InterruptedException e) {
      new Connections(connections, groups).close();
      throw e;
    }
  }

  /** Closes the channels, cancelling whatever still runs on them, then their event loops. */
  void close() throws InterruptedException {
    for (Connection connection : connections) {
      connection.channel().shutdownNow();
    }
    for (Connection connection : connections) {
      connection.channel().awaitTermination(5, TimeUnit.SECONDS);
    }
    for (EventLoopGroup group : groups) {
      var unused = group.shutdownGracefully(0, 5, TimeUnit.SECONDS); // awaited below
    }
    for (EventLoopGroup group : groups) {
      group.awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  private static ChannelCredentials credentials(LoadOptions options) {
    if (!options.tls()) {
      return InsecureChannelCredentials.create();
    }
    TlsChannelCredentials.Builder tls = TlsChannelCredentials.newBuilder();
    Path ca = options.ca();
    if (options.insecure()) {
      tls.trustManager(new TrustAllCertificates());
    } else if (ca != null) {
      try {
        tls.trustManager(ca.toFile());
      } catch (IOException e) {
        throw new UncheckedIOException("--ca=" + ca + ": cannot read it", e);
      }
    }
    return tls.build();
  }

  private static void awaitReady(ManagedChannel channel, LoadOptions options)
      throws InterruptedException {
    Duration wait = options.timeout();
    long deadline = System.nanoTime() + wait.toNanos();
    ConnectivityState state = channel.getState(true);
    while (state != ConnectivityState.READY) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException(
            "cannot connect to "
                + options.target()
                + " within "
                + wait.toMillis()
                + " ms (connection "
                + state
                + (options.tls() ? "; check --tls, --ca, --insecure and --authority)" : ")"));
      }
      Thread.sleep(5);
      state = channel.getState(true);
    }
  }
}
