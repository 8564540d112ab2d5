package dev.extproc.callout.bench;

import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Holds many ext_proc streams open at once, as Envoy does for requests whose upstream is slow:
 * opens {@code STREAMS} streams spread over {@code --connections} connections, sends each the
 * request headers of a {@code GET}, waits until every stream has its reply, prints one line, and
 * keeps them all open for {@code HOLD_SECONDS} (or until the process is stopped); then cancels
 * them. bench/streams.sh reads the server's memory in between.
 *
 * <pre>
 * java -cp target/callout-bench.jar dev.extproc.callout.bench.OpenStreams 10000 600 \
 *     --target 127.0.0.1:8080 --connections 10
 * </pre>
 *
 * The flags after the two numbers are the load generator's ({@code --target}, {@code
 * --connections}, {@code --tls}, {@code --timeout}...); the others are ignored.
 */
public final class OpenStreams {

  private OpenStreams() {}

  /** Opens the streams, holds them, and exits 0 (1 when a stream failed, 2 for bad arguments). */
  public static void main(String[] args) throws InterruptedException {
    System.exit(run(args, System.out));
  }

  static int run(String[] args, PrintStream out) throws InterruptedException {
    if (args.length < 2) {
      out.println("usage: OpenStreams STREAMS HOLD_SECONDS [load generator flags]");
      return LoadGen.EXIT_USAGE;
    }
    int streams = Integer.parseInt(args[0]);
    long holdSeconds = Long.parseLong(args[1]);
    LoadOptions options = LoadOptions.parse(Arrays.copyOfRange(args, 2, args.length));
    ProcessingRequest headers =
        new EnvoyMessages(List.of(), 0, 1)
            .requestHeaders(false, ProtocolConfiguration.getDefaultInstance());
    Connections connections = Connections.open(options);
    List<Connections.Connection> channels = connections.list();
    CountDownLatch answered = new CountDownLatch(streams);
    AtomicInteger failed = new AtomicInteger();
    List<StreamObserver<ProcessingRequest>> open = new ArrayList<>(streams);
    try {
      for (int i = 0; i < streams; i++) {
        ExternalProcessorGrpc.ExternalProcessorStub stub =
            ExternalProcessorGrpc.newStub(channels.get(i % channels.size()).channel());
        StreamObserver<ProcessingRequest> requests =
            stub.process(
                new StreamObserver<ProcessingResponse>() {
                  @Override
                  public void onNext(ProcessingResponse reply) {
                    answered.countDown();
                  }

                  @Override
                  public void onError(Throwable t) {
                    failed.incrementAndGet();
                    answered.countDown();
                  }

                  @Override
                  public void onCompleted() {}
                });
        requests.onNext(headers);
        open.add(requests);
      }
      if (!answered.await(options.timeout().toMillis() + 60_000, TimeUnit.MILLISECONDS)) {
        out.println("timed out: " + answered.getCount() + " streams without a reply");
        return LoadGen.EXIT_ERRORS;
      }
      out.println(
          "open: "
              + (streams - failed.get())
              + " streams answered and held open, "
              + failed.get()
              + " failed");
      out.flush();
      Thread.sleep(TimeUnit.SECONDS.toMillis(holdSeconds));
      return failed.get() == 0 ? 0 : LoadGen.EXIT_ERRORS;
    } finally {
      for (StreamObserver<ProcessingRequest> requests : open) {
        requests.onError(Status.CANCELLED.asRuntimeException());
      }
      connections.close();
    }
  }
}
