package dev.extproc.callout.bench;

import dev.extproc.callout.internal.TrustAllCertificates;
import io.grpc.ChannelCredentials;
import io.grpc.ConnectivityState;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.TlsChannelCredentials;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The load generator's HTTP/2 connections: one Netty channel each (epoll where the platform has
 * it), callbacks run on the transport thread ({@code directExecutor}), no message size limit (as
 * Envoy's default), no keepalive pings (as Envoy's default).
 */
final class Connections {

  private Connections() {}

  /** Opens {@code options.connections()} channels to the target and waits until each is ready. */
  static List<ManagedChannel> open(LoadOptions options) throws InterruptedException {
    ChannelCredentials credentials = credentials(options);
    List<ManagedChannel> channels = new ArrayList<>();
    for (int i = 0; i < options.connections(); i++) {
      NettyChannelBuilder builder =
          NettyChannelBuilder.forAddress(
                  options.target().getHost(), options.target().getPort(), credentials)
              .directExecutor()
              .maxInboundMessageSize(Integer.MAX_VALUE);
      if (options.authority() != null) {
        builder.overrideAuthority(options.authority());
      }
      channels.add(builder.build());
    }
    try {
      for (ManagedChannel channel : channels) {
        awaitReady(channel, options);
      }
    } catch (RuntimeException | InterruptedException e) {
      close(channels);
      throw e;
    }
    return channels;
  }

  /** Closes {@code channels}, cancelling whatever is still running on them. */
  static void close(List<ManagedChannel> channels) throws InterruptedException {
    for (ManagedChannel channel : channels) {
      channel.shutdownNow();
    }
    for (ManagedChannel channel : channels) {
      channel.awaitTermination(5, TimeUnit.SECONDS);
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
