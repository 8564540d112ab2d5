package dev.extproc.callout.samples.redactbody;

import com.google.protobuf.ByteString;
import dev.extproc.callout.CalloutServerConfig;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.envoyproxy.envoy.service.ext_proc.v3.StreamedBodyResponse;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import io.grpc.stub.StreamObserver;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * Streams {@code args[0]} MiB of text in {@code args[1]}-byte chunks through {@link RedactBody} as
 * a FULL_DUPLEX_STREAMED response body, compares the output with the masked input as it arrives
 * (holding neither), and prints {@code OK bytes=N maxUsedHeap=M}; exits 1 on a mismatch. Run by
 * {@link RedactBodyMemoryTest} in a JVM with a small heap.
 */
public final class RedactBodyMemoryCheck {

  /** The repeated text: addresses inside, none across its edges, some non-ASCII. */
  static final String UNIT =
      "Dear customer, write to ann@example.com or to support+eu@mail.example.co.uk, not to"
          + " @nobody or to x@y. Grüße – the team, <team.lead@example.org>; ref 12345. ";

  private RedactBodyMemoryCheck() {}

  /** Runs the check. */
  public static void main(String[] args) throws Exception {
    byte[] unit = UNIT.getBytes(StandardCharsets.UTF_8);
    // Whole units only, so the masked output's length is known exactly.
    long total = Long.parseLong(args[0]) * 1024 * 1024 / unit.length * unit.length;
    int chunkSize = Integer.parseInt(args[1]);
    byte[] masked = EmailMasker.mask(ByteString.copyFrom(unit)).toByteArray();

    String name = InProcessServerBuilder.generateName();
    ExecutorService executor = Executors.newFixedThreadPool(2);
    Server server =
        InProcessServerBuilder.forName(name)
            .executor(executor)
            .addService(new RedactBody(CalloutServerConfig.defaults()).service())
            .build()
            .start();
    ManagedChannel channel = InProcessChannelBuilder.forName(name).build();

    Object lock = new Object();
    long[] received = {0};
    long[] maxUsed = {0};
    CompletableFuture<String> done = new CompletableFuture<>();
    StreamObserver<ProcessingRequest> requests =
        ExternalProcessorGrpc.newStub(channel)
            .process(
                new StreamObserver<>() {
                  @Override
                  public void onNext(ProcessingResponse reply) {
                    if (!reply.hasResponseBody()) {
                      return;
                    }
                    StreamedBodyResponse out =
                        reply
                            .getResponseBody()
                            .getResponse()
                            .getBodyMutation()
                            .getStreamedResponse();
                    ByteString body = out.getBody();
                    synchronized (lock) {
                      for (int i = 0; i < body.size(); i++) {
                        long at = received[0] + i;
                        if (body.byteAt(i) != masked[(int) (at % masked.length)]) {
                          done.complete("mismatch at output byte " + at);
                        }
                      }
                      received[0] += body.size();
                      lock.notifyAll();
                    }
                    Runtime runtime = Runtime.getRuntime();
                    maxUsed[0] = Math.max(maxUsed[0], runtime.totalMemory() - runtime.freeMemory());
                    if (out.getEndOfStream()) {
                      done.complete("end");
                    }
                  }

                  @Override
                  public void onError(Throwable t) {
                    done.complete("stream failed: " + Status.fromThrowable(t));
                  }

                  @Override
                  public void onCompleted() {
                    done.complete("closed before the end of the body");
                  }
                });
    requests.onNext(
        ProcessingRequest.newBuilder()
            .setProtocolConfig(
                ProtocolConfiguration.newBuilder()
                    .setResponseBodyMode(BodySendMode.FULL_DUPLEX_STREAMED))
            .setResponseHeaders(
                io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders.getDefaultInstance())
            .build());

    long sent = 0;
    byte[] chunk = new byte[chunkSize];
    while (sent < total && !done.isDone()) {
      int n = (int) Math.min(chunkSize, total - sent);
      for (int i = 0; i < n; i++) {
        chunk[i] = unit[(int) ((sent + i) % unit.length)];
      }
      sent += n;
      requests.onNext(
          ProcessingRequest.newBuilder()
              .setResponseBody(
                  HttpBody.newBuilder()
                      .setBody(ByteString.copyFrom(chunk, 0, n))
                      .setEndOfStream(sent == total))
              .build());
      // An application-level window of 1 MiB, as HTTP/2 flow control would impose.
      synchronized (lock) {
        while (!done.isDone() && expectedOutput(sent - 1024 * 1024, unit, masked) > received[0]) {
          lock.wait(100);
        }
      }
    }
    String result = done.get(60, TimeUnit.SECONDS);
    long expected = expectedOutput(total, unit, masked);
    requests.onCompleted();
    channel.shutdownNow();
    server.shutdownNow();
    executor.shutdownNow();
    if (!result.equals("end") || received[0] != expected) {
      System.out.println("FAILED " + result + " received=" + received[0] + " expected=" + expected);
      System.exit(1);
    }
    System.out.println("OK bytes=" + total + " maxUsedHeap=" + maxUsed[0]);
    System.exit(0);
  }

  /** How many output bytes {@code inputBytes} whole units of input become. */
  private static long expectedOutput(long inputBytes, byte[] unit, byte[] masked) {
    return inputBytes <= 0 ? 0 : (inputBytes / unit.length) * masked.length;
  }
}
