package dev.extproc.callout.samples;

import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.testing.CalloutTester;
import dev.extproc.callout.testing.TrustAllCertificates;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.TlsChannelCredentials;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.function.Function;

/**
 * A sample running on a loopback port, driven over a real socket by a client that sends what Envoy
 * sends: the way every sample test talks to its sample.
 */
public final class SampleServer implements AutoCloseable {

  private final CalloutServer server;
  private final ManagedChannel channel;
  private final CalloutTester tester;

  private SampleServer(CalloutServer server, ManagedChannel channel) {
    this.server = server;
    this.channel = channel;
    this.tester = CalloutTester.forChannel(channel);
  }

  private static CalloutServer started(CalloutServer server) {
    try {
      server.start();
      return server;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Starts the sample with only a plaintext gRPC listener on 127.0.0.1 and connects to it. */
  public static SampleServer plaintext(
      Function<CalloutServerConfig, ? extends CalloutServer> sample) {
    CalloutServer server =
        started(
            sample.apply(
                CalloutServerConfig.newBuilder()
                    .plaintextAddress("127.0.0.1:0")
                    .disableTls()
                    .combinedHealthCheck()
                    .shutdownDrainDelay(Duration.ZERO)
                    .build()));
    InetSocketAddress address = server.plaintextAddress().orElseThrow();
    return new SampleServer(
        server,
        Grpc.newChannelBuilderForAddress(
                "127.0.0.1", address.getPort(), InsecureChannelCredentials.create())
            .build());
  }

  /**
   * Starts the sample with only a TLS gRPC listener (ephemeral certificate) on 127.0.0.1 and
   * connects to it, trusting any certificate as Google Cloud load balancers do by default.
   */
  public static SampleServer tls(Function<CalloutServerConfig, ? extends CalloutServer> sample) {
    CalloutServer server =
        started(
            sample.apply(
                CalloutServerConfig.newBuilder()
                    .secureAddress("127.0.0.1:0")
                    .disablePlaintext()
                    .combinedHealthCheck()
                    .shutdownDrainDelay(Duration.ZERO)
                    .build()));
    InetSocketAddress address = server.secureAddress().orElseThrow();
    return new SampleServer(
        server,
        Grpc.newChannelBuilderForAddress(
                "127.0.0.1",
                address.getPort(),
                TlsChannelCredentials.newBuilder().trustManager(new TrustAllCertificates()).build())
            .overrideAuthority("localhost")
            .build());
  }

  /** Opens a stream (one HTTP request) whose first message carries default body modes. */
  public CalloutTester.Stream newStream() {
    return tester.newStream();
  }

  /** Opens a stream whose first message carries {@code protocolConfig}. */
  public CalloutTester.Stream newStream(ProtocolConfiguration protocolConfig) {
    return tester.newStream(protocolConfig);
  }

  @Override
  public void close() {
    channel.shutdownNow();
    server.close();
  }
}
