package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;

import dev.extproc.callout.testing.CalloutTester;
import io.envoyproxy.envoy.service.ext_proc.v3.ExternalProcessorGrpc;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Many streams at once, and the server-wide limit on open streams, over real sockets. */
class ConcurrentStreamsTest {

  private final List<FaultServer> servers = new ArrayList<>();

  private FaultServer started(CalloutServerConfig config) throws IOException {
    FaultServer server = FaultServer.start(config);
    servers.add(server);
    server.assertServesNewStreams();
    return server;
  }

  @AfterEach
  void stop() {
    servers.forEach(FaultServer::stop);
  }

  /** One stream's replies and close, recorded on the network thread; no per-stream waiting. */
  private static final class Recorder implements StreamObserver<ProcessingResponse> {
    private final CountDownLatch replied;
    private final CountDownLatch closed;
    final List<ProcessingResponse> replies = new ArrayList<>(1);
    volatile @Nullable Status status;

    Recorder(CountDownLatch replied, CountDownLatch closed) {
      this.replied = replied;
      this.closed = closed;
    }

    @Override
    public void onNext(ProcessingResponse reply) {
      replies.add(reply);
      replied.countDown();
    }

    @Override
    public void onError(Throwable t) {
      status = Status.fromThrowable(t);
      closed.countDown();
    }

    @Override
    public void onCompleted() {
      status = Status.OK;
      closed.countDown();
    }
  }

  @Test
  void tenThousandConcurrentStreamsOnOneConnection_eachAnswered_thenBackToBaseline()
      throws Exception {
    FaultServer server = started(FaultServer.loopback().disableTls().combinedHealthCheck().build());
    FaultServer.Baseline baseline = server.baseline();
    ExternalProcessorGrpc.ExternalProcessorStub stub =
        ExternalProcessorGrpc.newStub(server.plaintextChannel()); // one connection
    int count = 10_000;
    CountDownLatch replied = new CountDownLatch(count);
    CountDownLatch closed = new CountDownLatch(count);
    List<Recorder> recorders = new ArrayList<>(count);
    List<StreamObserver<ProcessingRequest>> streams = new ArrayList<>(count);
    long start = System.nanoTime();

    for (int i = 0; i < count; i++) {
      Recorder recorder = new Recorder(replied, closed);
      StreamObserver<ProcessingRequest> stream = stub.process(recorder);
      stream.onNext(FaultServer.requestHeaders());
      recorders.add(recorder);
      streams.add(stream);
    }
    assertThat(replied.await(60, TimeUnit.SECONDS)).isTrue();
    long answered = System.nanoTime();
    assertThat(server.openStreams()).isEqualTo(count); // all open at once
    assertThat(server.peers()).hasSize(2); // the first check's connection, and this one
    streams.forEach(StreamObserver::onCompleted);
    assertThat(closed.await(60, TimeUnit.SECONDS)).isTrue();
    System.out.printf(
        "10,000 streams on one connection: opened and answered in %d ms, closed in %d ms%n",
        (answered - start) / 1_000_000, (System.nanoTime() - answered) / 1_000_000);

    for (Recorder recorder : recorders) {
      assertThat(recorder.replies).containsExactly(FaultServer.REPLY);
      assertThat(recorder.status).isEqualTo(Status.OK);
    }
    server.assertBackTo(baseline);
    assertThat(server.endings())
        .containsExactlyElementsIn(Collections.nCopies(count + 1, Status.Code.OK));
    server.assertServesNewStreams();
  }

  private static Status refused(ManagedChannel channel) {
    CalloutTester.Stream stream = CalloutTester.forChannel(channel).newStream();
    stream.send(FaultServer.requestHeaders());
    Status status = stream.awaitClose();
    assertThat(stream.received()).isEmpty();
    return status;
  }

  @Test
  void maxConcurrentStreamsExceeded_refusedResourceExhausted_othersCarryOn() throws Exception {
    FaultServer server =
        started(
            FaultServer.loopback()
                .disableTls()
                .combinedHealthCheck()
                .maxConcurrentStreams(3)
                .build());
    FaultServer.Baseline baseline = server.baseline();
    ManagedChannel first = server.plaintextChannel();
    ManagedChannel second = server.plaintextChannel();
    CalloutTester.Stream a = FaultServer.openStream(first);
    CalloutTester.Stream b = FaultServer.openStream(first);
    CalloutTester.Stream c = FaultServer.openStream(second);

    // The limit is server-wide: a fourth stream is refused on either connection.
    for (ManagedChannel channel : List.of(first, second)) {
      Status status = refused(channel);
      assertThat(status.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
      assertThat(status.getDescription())
          .isEqualTo("3 streams already open (--max-concurrent-streams)");
    }
    assertThat(server.openStreams()).isEqualTo(3);

    // The open streams carry on, and once one ends a new one is admitted.
    assertThat(a.requestHeaders(FaultServer.requestHeaders().getRequestHeaders()))
        .isEqualTo(FaultServer.REPLY);
    assertThat(a.halfClose().getCode()).isEqualTo(Status.Code.OK);
    FaultServer.awaitTrue(() -> server.openStreams() == 2, () -> "open " + server.openStreams());
    CalloutTester.Stream d = FaultServer.openStream(second);
    for (CalloutTester.Stream stream : List.of(b, c, d)) {
      assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
    }
    server.assertBackTo(baseline);
    // Refused streams never reached the hooks: five streams started, five ended OK.
    assertThat(server.endings()).containsExactlyElementsIn(Collections.nCopies(5, Status.Code.OK));
    server.assertServesNewStreams();
  }
}
