package dev.extproc.callout.bench;

import static com.google.common.truth.Truth.assertThat;

import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The load generator against servers that break the protocol: each fault is counted as the right
 * kind of error, the run ends on time, and the exit code says so.
 */
@Timeout(30)
class LoadGenBadServerTest {

  private static final ProcessingResponse RESPONSE_HEADERS =
      ProcessingResponse.newBuilder()
          .setResponseHeaders(HeadersResponse.getDefaultInstance())
          .build();
  private static final ProcessingResponse REQUEST_HEADERS =
      ProcessingResponse.newBuilder()
          .setRequestHeaders(HeadersResponse.getDefaultInstance())
          .build();

  @Test
  void wrongReplyType_countedAsTypeMismatch() throws Exception {
    LoadGenCommand run = runAgainst((request, replies) -> replies.onNext(RESPONSE_HEADERS));

    assertThat(run.exitCode()).isEqualTo(LoadGen.EXIT_ERRORS);
    long streams = run.count("streams");
    assertThat(streams).isGreaterThan(0);
    assertThat(run.count("type_mismatches")).isEqualTo(streams);
    assertThat(run.count("errors")).isEqualTo(streams);
    assertThat(run.count("ok")).isEqualTo(0);
    assertThat(run.json().getFieldsOrThrow("first_error").getStringValue())
        .isEqualTo("RESPONSE_HEADERS reply to a request_headers");
  }

  @Test
  void twoRepliesToOneMessage_countedAsTypeMismatch() throws Exception {
    LoadGenCommand run =
        runAgainst(
            (request, replies) -> {
              replies.onNext(REQUEST_HEADERS);
              replies.onNext(REQUEST_HEADERS);
            });

    assertThat(run.exitCode()).isEqualTo(LoadGen.EXIT_ERRORS);
    assertThat(run.count("type_mismatches")).isGreaterThan(0);
    assertThat(run.count("type_mismatches") + run.count("ok")).isEqualTo(run.count("streams"));
  }

  @Test
  void streamFailed_countedAsFailedStream() throws Exception {
    LoadGenCommand run =
        runAgainst(
            (request, replies) ->
                replies.onError(Status.INTERNAL.withDescription("boom").asRuntimeException()));

    assertThat(run.exitCode()).isEqualTo(LoadGen.EXIT_ERRORS);
    assertThat(run.count("failed_streams")).isEqualTo(run.count("streams"));
    assertThat(run.count("streams")).isGreaterThan(0);
    assertThat(run.json().getFieldsOrThrow("first_error").getStringValue())
        .isEqualTo("stream ended INTERNAL: boom");
  }

  @Test
  void noReply_countedAsTimeout_andTheRunStillEnds() throws Exception {
    long started = System.nanoTime();
    LoadGenCommand run = runAgainst((request, replies) -> {}, "--timeout", "200ms");

    assertThat(run.exitCode()).isEqualTo(LoadGen.EXIT_ERRORS);
    assertThat(run.count("timeouts")).isEqualTo(run.count("streams"));
    // Closed loop: the 4 streams in flight time out, and the next 4 start, every 200 ms.
    assertThat(run.count("streams")).isAtLeast(4);
    assertThat(run.json().getFieldsOrThrow("p99_us").getNumberValue()).isEqualTo(0.0);
    // Warm-up 0, window 0.5 s, drain at most one timeout: far less than a few seconds.
    assertThat(TimeUnit.NANOSECONDS.toSeconds(System.nanoTime() - started)).isLessThan(10);
  }

  @Test
  void noServer_failsFastWithAMessage() throws IOException {
    int port;
    try (ServerSocket free = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      port = free.getLocalPort();
    }
    LoadGenCommand run = LoadGenCommand.run("--target", "127.0.0.1:" + port, "--timeout", "300ms");

    assertThat(run.exitCode()).isEqualTo(LoadGen.EXIT_ERRORS);
    assertThat(run.stderr()).startsWith("loadgen: cannot connect to 127.0.0.1:" + port);
    assertThat(run.stdout()).isEmpty();
  }

  /** Runs 0.5 s of closed-loop {@code headers} load against a server answering with {@code how}. */
  private static LoadGenCommand runAgainst(
      BiConsumer<ProcessingRequest, StreamObserver<ProcessingResponse>> how, String... more)
      throws IOException, InterruptedException {
    Server server =
        NettyServerBuilder.forAddress(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0))
            .directExecutor()
            .addService(
                new ExternalProcessorGrpc.ExternalProcessorImplBase() {
                  @Override
                  public StreamObserver<ProcessingRequest> process(
                      StreamObserver<ProcessingResponse> replies) {
                    ((ServerCallStreamObserver<ProcessingResponse>) replies)
                        .setOnCancelHandler(() -> {});
                    return new StreamObserver<>() {
                      @Override
                      public void onNext(ProcessingRequest request) {
                        how.accept(request, replies);
                      }

                      @Override
                      public void onError(Throwable t) {}

                      @Override
                      public void onCompleted() {
                        replies.onCompleted();
                      }
                    };
                  }
                })
            .build()
            .start();
    try {
      String[] args = {
        "--target", "127.0.0.1:" + server.getPort(),
        "--concurrency", "4",
        "--warmup", "0s",
        "--duration", "500ms"
      };
      String[] all = new String[args.length + more.length];
      System.arraycopy(args, 0, all, 0, args.length);
      System.arraycopy(more, 0, all, args.length, more.length);
      return LoadGenCommand.run(all);
    } finally {
      server.shutdownNow();
      server.awaitTermination(5, TimeUnit.SECONDS);
    }
  }
}
