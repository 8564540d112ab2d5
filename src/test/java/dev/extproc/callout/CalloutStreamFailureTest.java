package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.headers;

import dev.extproc.callout.internal.Clock;
import dev.extproc.callout.testing.CalloutTester;
import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The transport's answer to an exception out of the engine (a bug, not a hook's failure): the
 * stream ends INTERNAL at once and its end runs; before, the exception left the stream's event
 * queue marked busy, so nothing after it (the half-close included) ever ran and the stream hung.
 */
class CalloutStreamFailureTest {

  private final Clock clock = new Clock();
  private final ExecutorService hooks = Executors.newSingleThreadExecutor();
  private @Nullable Server server;
  private @Nullable ManagedChannel channel;

  @AfterEach
  void stop() {
    if (channel != null) {
      channel.shutdownNow();
    }
    if (server != null) {
      server.shutdownNow();
    }
    hooks.shutdownNow();
    clock.close();
  }

  @Test
  void protocolThatThrows_endsTheStreamInternal() throws IOException {
    AtomicReference<@Nullable Status> ended = new AtomicReference<>();
    StreamProtocol<ProcessingRequest> failing =
        new StreamProtocol<>() {
          @Override
          public void start() {}

          @Override
          public void onMessage(ProcessingRequest message) {
            throw new IllegalStateException("a bug in the engine");
          }

          @Override
          public void end(Status status) {
            ended.set(status);
          }
        };
    String name = InProcessServerBuilder.generateName();
    server =
        InProcessServerBuilder.forName(name)
            .directExecutor()
            .addService(
                CalloutStream.service(
                    ExternalProcessorGrpc.getServiceDescriptor(),
                    ExternalProcessorGrpc.getProcessMethod(),
                    new CalloutStream.Transport(
                        new StreamRegistry(0, Duration.ZERO, clock), hooks, false, false),
                    (ctx, sink) -> failing))
            .build()
            .start();
    channel = InProcessChannelBuilder.forName(name).directExecutor().build();
    CalloutTester.Stream stream = CalloutTester.forChannel(channel).newStream();

    stream.send(ProcessingRequest.newBuilder().setRequestHeaders(headers(":path", "/")).build());

    Status status = stream.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(status.getDescription())
        .isEqualTo("the engine failed: java.lang.IllegalStateException: a bug in the engine");
    assertThat(String.valueOf(ended.get()))
        .startsWith("Status{code=INTERNAL, description=the engine failed: ");
    assertThat(stream.received()).isEmpty();
  }
}
