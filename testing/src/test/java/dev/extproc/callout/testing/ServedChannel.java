package dev.extproc.callout.testing;

import dev.extproc.callout.CalloutServer;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.IOException;

/** Every service of a callout on an in-process server the test runs, and a channel to it. */
final class ServedChannel implements AutoCloseable {
  private final Server server;
  private final ManagedChannel channel;

  ServedChannel(CalloutServer callout) throws IOException {
    String name = InProcessServerBuilder.generateName();
    InProcessServerBuilder builder = InProcessServerBuilder.forName(name).directExecutor();
    callout.services().forEach(builder::addService);
    this.server = builder.build().start();
    this.channel = InProcessChannelBuilder.forName(name).directExecutor().build();
  }

  ManagedChannel channel() {
    return channel;
  }

  @Override
  public void close() {
    channel.shutdownNow();
    try {
      server.shutdownNow().awaitTermination();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
