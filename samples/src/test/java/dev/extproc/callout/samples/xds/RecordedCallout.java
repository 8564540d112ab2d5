package dev.extproc.callout.samples.xds;

import dev.extproc.callout.CalloutServer;
import io.grpc.InsecureServerCredentials;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;

/**
 * A callout's ext_proc service ({@link CalloutServer#service()}) on a gRPC server of the test, on
 * {@code 127.0.0.1}, port 0, behind an {@link ExtProcRecorder}: the test's own server rather than
 * {@link CalloutServer#start()}, so that every message in and out is recorded. It takes the
 * callout's {@code maxInboundMessageSize}.
 */
final class RecordedCallout {
  private final CalloutServer callout;
  private final ExtProcRecorder recorder = new ExtProcRecorder();
  private final Server server;

  RecordedCallout(CalloutServer callout) throws IOException {
    this.callout = callout;
    server =
        NettyServerBuilder.forAddress(
                new InetSocketAddress(XdsManagementServer.LOOPBACK, 0),
                InsecureServerCredentials.create())
            .maxInboundMessageSize(callout.config().maxInboundMessageSize())
            .addService(ServerInterceptors.intercept(callout.service(), recorder))
            .build()
            .start();
  }

  /** The target URI a filter's {@code GoogleGrpc} names this callout by. */
  String target() {
    return XdsManagementServer.loopbackTarget(server.getPort());
  }

  ExtProcRecorder recorder() {
    return recorder;
  }

  /** Stops the server at once, then the callout. */
  void close() throws InterruptedException {
    server.shutdownNow();
    server.awaitTermination(10, TimeUnit.SECONDS);
    callout.close();
  }
}
