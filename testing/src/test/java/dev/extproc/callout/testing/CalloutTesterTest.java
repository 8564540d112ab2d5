package dev.extproc.callout.testing;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.headers;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutTools;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.ForwardingServerCall.SimpleForwardingServerCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.inprocess.InProcessChannelBuilder;
import io.grpc.inprocess.InProcessServerBuilder;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The tester's waits, their configurable bound, and what closing it does to open streams. */
@Timeout(value = 8, unit = SECONDS)
class CalloutTesterTest {

  private static final Duration SHORT = Duration.ofMillis(200);

  /** Adds {@code x-hello: world}; blocks request headers with {@code :path /block} on a latch. */
  private static final class Hello extends CalloutServer {
    final CountDownLatch release = new CountDownLatch(1);
    final BlockingQueue<Status.Code> ended = new LinkedBlockingQueue<>();

    @Override
    protected HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
      if (CalloutTools.headersContain(headers, ":path", "/block")) {
        try {
          release.await(10, SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      return CalloutTools.addHeaderMutation(List.of(Map.entry("x-hello", "world")));
    }

    @Override
    protected void onStreamEnd(CalloutContext ctx, Status status) {
      ended.add(status.getCode());
    }
  }

  private static ProcessingRequest requestHeaders(String path) {
    return ProcessingRequest.newBuilder().setRequestHeaders(headers(":path", path)).build();
  }

  @Test
  void of_noTimeoutGiven_waitsTheDefaultTenSeconds() {
    try (Hello callout = new Hello();
        CalloutTester tester = CalloutTester.of(callout)) {
      assertThat(tester.timeout()).isEqualTo(Duration.ofSeconds(10));
      assertThat(CalloutTester.DEFAULT_TIMEOUT).isEqualTo(Duration.ofSeconds(10));
    }
  }

  @Test
  void of_timeoutGiven_boundsEveryWait() {
    try (Hello callout = new Hello();
        CalloutTester tester = CalloutTester.of(callout, SHORT)) {
      CalloutTester.Stream stream = tester.newStream();
      try {
        AssertionError reply =
            assertThrows(AssertionError.class, () -> stream.exchange(requestHeaders("/block")));
        AssertionError close = assertThrows(AssertionError.class, stream::awaitClose);
        AssertionError replies = assertThrows(AssertionError.class, () -> stream.awaitReplies(1));

        assertThat(reply)
            .hasMessageThat()
            .isEqualTo("waited PT0.2S for a reply; no reply received on this stream");
        assertThat(close).hasMessageThat().startsWith("waited PT0.2S for the stream to close");
        assertThat(replies).hasMessageThat().startsWith("waited PT0.2S for a reply (1 of 1,");
      } finally {
        callout.release.countDown();
      }
      assertThat(Replies.setHeaders(stream.nextResponse())).containsExactly("x-hello", "world");
    }
  }

  @Test
  void newBuilder_timeoutNotPositive_refused() {
    try (Hello callout = new Hello()) {
      CalloutTester.Builder builder = CalloutTester.newBuilder(callout);

      IllegalArgumentException zero =
          assertThrows(IllegalArgumentException.class, () -> builder.timeout(Duration.ZERO));
      IllegalArgumentException negative =
          assertThrows(
              IllegalArgumentException.class,
              () -> CalloutTester.of(callout, Duration.ofMillis(-1)));

      assertThat(zero).hasMessageThat().isEqualTo("timeout: PT0S (expected: > 0)");
      assertThat(negative).hasMessageThat().isEqualTo("timeout: PT-0.001S (expected: > 0)");
    }
  }

  @Test
  void forChannel_timeoutGiven_boundsTheWaitOnThatChannel() throws Exception {
    String name = InProcessServerBuilder.generateName();
    try (Hello callout = new Hello()) {
      Server server =
          InProcessServerBuilder.forName(name).addService(callout.service()).build().start();
      ManagedChannel channel = InProcessChannelBuilder.forName(name).directExecutor().build();
      try (CalloutTester tester = CalloutTester.forChannel(channel, SHORT)) {
        CalloutTester.Stream stream = tester.newStream();

        assertThat(tester.timeout()).isEqualTo(SHORT);
        assertThrows(AssertionError.class, () -> stream.exchange(requestHeaders("/block")));
      } finally {
        callout.release.countDown();
        channel.shutdownNow();
        server.shutdownNow();
      }
    }
  }

  @Test
  void newBuilder_interceptedServiceOnDirectExecutor_seesEveryReply() {
    BlockingQueue<Status.Code> closes = new LinkedBlockingQueue<>();
    ServerInterceptor recorder =
        new ServerInterceptor() {
          @Override
          public <Q, R> ServerCall.Listener<Q> interceptCall(
              ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
            return next.startCall(
                new SimpleForwardingServerCall<Q, R>(call) {
                  @Override
                  public void close(Status status, Metadata trailers) {
                    closes.add(status.getCode());
                    super.close(status, trailers);
                  }
                },
                headers);
          }
        };
    try (Hello callout = new Hello();
        CalloutTester tester =
            CalloutTester.newBuilder(ServerInterceptors.intercept(callout.service(), recorder))
                .directExecutor()
                .timeout(Duration.ofSeconds(5))
                .build()) {
      CalloutTester.Stream stream = tester.newStream();

      assertThat(stream.exchange(requestHeaders("/")))
          .isEqualTo(
              Replies.requestHeaders(
                  Replies.mutation(Replies.sets(Replies.set("x-hello", "world"))), false));
      assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
      assertThat(closes).containsExactly(Status.Code.OK);
    }
  }

  @Test
  void close_streamsStillOpen_cancelsThemSoTheCalloutSeesTheirEnd() throws Exception {
    try (Hello callout = new Hello()) {
      CalloutTester tester = CalloutTester.of(callout);
      CalloutTester.Stream open = tester.newStream();
      open.exchange(requestHeaders("/"));
      CalloutTester.Stream done = tester.newStream();
      done.exchange(requestHeaders("/"));
      assertThat(done.halfClose().getCode()).isEqualTo(Status.Code.OK);
      assertThat(callout.ended.poll(5, SECONDS)).isEqualTo(Status.Code.OK);

      tester.close();

      assertThat(callout.ended.poll(5, SECONDS)).isEqualTo(Status.Code.CANCELLED);
      assertThat(open.awaitClose().getCode()).isEqualTo(Status.Code.CANCELLED);
      tester.close(); // idempotent
    }
  }

  @Test
  void nextResponse_streamClosedFirst_failsNamingTheStatusAndTheLastReply() {
    CalloutServer failing =
        new CalloutServer() {
          @Override
          protected @Nullable HeadersResponse onResponseHeaders(
              HttpHeaders headers, CalloutContext ctx) {
            throw Status.PERMISSION_DENIED.withDescription("no").asRuntimeException();
          }
        };
    try (failing;
        CalloutTester tester = CalloutTester.of(failing)) {
      CalloutTester.Stream stream = tester.newStream();
      ProcessingResponse first = stream.requestHeaders(headers(":path", "/"));

      AssertionError closed =
          assertThrows(
              AssertionError.class, () -> stream.responseHeaders(headers(":status", "200")));
      AssertionError again = assertThrows(AssertionError.class, stream::nextResponse);

      assertThat(first).isEqualTo(Replies.continueRequestHeaders());
      assertThat(closed)
          .hasMessageThat()
          .isEqualTo(
              "stream closed with Status{code=PERMISSION_DENIED, description=no, cause=null}"
                  + " instead of a reply; 1 reply received on this stream, the last: a"
                  + " request_headers reply: request_headers { }");
      assertThat(again).hasMessageThat().startsWith("stream already closed with Status{code=PER");
      assertThat(stream.received()).containsExactly(first);
    }
  }
}
