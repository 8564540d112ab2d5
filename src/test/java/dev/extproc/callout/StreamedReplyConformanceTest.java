package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.body;
import static dev.extproc.callout.testing.CalloutTester.headers;
import static dev.extproc.callout.testing.CalloutTester.headersEndOfStream;
import static java.util.Objects.requireNonNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.ByteString;
import com.google.protobuf.Struct;
import com.google.protobuf.UnknownFieldSet;
import dev.extproc.callout.testing.CalloutTester;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.envoyproxy.envoy.service.ext_proc.v3.StreamedBodyResponse;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.SubmissionPublisher;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Conformance cases 50-59: streamed immediate responses ({@code streamed_immediate_response}, field
 * 11) and request drain ({@code request_drain}, field 12), over real loopback sockets. Both fields
 * are newer than the API jar: the expected replies are built here by field number ({@link
 * UnknownFieldSet}), so the assertions do not trust the framework's own encoding of them.
 */
class StreamedReplyConformanceTest {

  private static final ProtocolConfiguration NONE = ProtocolConfiguration.getDefaultInstance();
  private static final ProtocolConfiguration FULL_DUPLEX = requestMode(4);
  private static final ProtocolConfiguration GRPC = requestMode(5);
  private static final ProtocolConfiguration BUFFERED = requestMode(2);
  private static final Duration QUIET = Duration.ofMillis(300);
  private static final HttpHeaders POST = headers(":method", "POST", ":path", "/v1/chat");
  private static final List<Map.Entry<String, String>> SSE =
      List.of(Map.entry("content-type", "text/event-stream"));

  /** Plaintext on a loopback port: the cases need real sockets, not TLS. */
  private static final CalloutServerConfig CONFIG =
      CalloutServerConfig.newBuilder()
          .plaintextAddress("127.0.0.1:0")
          .disableTls()
          .combinedHealthCheck()
          .shutdownDrainDelay(Duration.ZERO)
          .build();

  private static final ProcessingResponse CONTINUE_REQUEST_HEADERS =
      ProcessingResponse.newBuilder()
          .setRequestHeaders(HeadersResponse.getDefaultInstance())
          .build();

  private final List<AutoCloseable> cleanup = new ArrayList<>();

  @AfterEach
  void closeAll() throws Exception {
    for (AutoCloseable c : cleanup) {
      c.close();
    }
  }

  @Test
  void case50_streamedReplyFromTheHook_headersBodiesTrailersInOrder_thenOk() {
    CalloutTester.Stream stream =
        streamOf(
            (headers, ctx) -> {
              CalloutContext.StreamedResponse reply = ctx.respondStreaming(429, SSE);
              reply.write(utf8("event: error\n"));
              reply.write(ByteString.EMPTY); // nothing to send
              reply.write(utf8("data: slow down\n\n"));
              reply.end(List.of(Map.entry("x-reason", "quota")));
              return null;
            },
            NONE);
    stream.send(request(POST));

    assertThat(stream.awaitReplies(4))
        .containsExactly(
            replyHeaders(false, ":status", "429", "content-type", "text/event-stream"),
            replyBody("event: error\n", false),
            replyBody("data: slow down\n\n", false),
            replyPart(3, headers("x-reason", "quota").getHeaders().toByteString()))
        .inOrder();
    assertThat(stream.awaitClose().getCode()).isEqualTo(Status.Code.OK);
  }

  @Test
  void case51_streamedReplyAfterTheHookReturned_fromAnotherThread_writeAfterEndThrows()
      throws Exception {
    // With hooks on the pool and inline on the network thread: the end joins the stream's order.
    for (CalloutServerConfig.HookExecutor executor :
        List.of(CalloutServerConfig.HookExecutor.POOL, CalloutServerConfig.HookExecutor.INLINE)) {
      BlockingQueue<CalloutContext.StreamedResponse> started = new LinkedBlockingQueue<>();
      CalloutServer callout =
          server(
              (headers, ctx) -> {
                started.add(ctx.respondStreaming(200, SSE));
                return null;
              },
              CONFIG.toBuilder().hookExecutor(executor).build());
      CalloutTester.Stream stream = tester(callout).newStream(FULL_DUPLEX);
      stream.send(request(POST));
      assertThat(stream.nextResponse())
          .isEqualTo(replyHeaders(false, ":status", "200", "content-type", "text/event-stream"));
      CalloutContext.StreamedResponse reply = started.poll(10, TimeUnit.SECONDS);

      // The reply stays open after the hook returned; Envoy's later messages get no answer.
      stream.sendExpectingNoReply(
          ProcessingRequest.newBuilder().setRequestBody(body("ignored", true)).build(), QUIET);
      Thread writer =
          new Thread(
              () -> {
                reply.write(utf8("data: 1\n\n"));
                reply.end();
              });
      writer.start();
      writer.join();

      assertThat(stream.awaitReplies(2))
          .containsExactly(replyBody("data: 1\n\n", false), replyBody("", true))
          .inOrder();
      assertThat(stream.awaitClose().getCode()).isEqualTo(Status.Code.OK);
      IllegalStateException late =
          assertThrows(IllegalStateException.class, () -> reply.write(utf8("late")));
      assertThat(late).hasMessageThat().isEqualTo("the streamed response already ended");
      assertThat(stream.received()).hasSize(3);
    }
  }

  /**
   * Waits until the framework subscribed to {@code publisher}: it does once the reply's headers
   * went out, and a {@link SubmissionPublisher} drops what is submitted before anyone subscribed.
   */
  private static SubmissionPublisher<ByteString> subscribed(
      @Nullable SubmissionPublisher<ByteString> polled) throws InterruptedException {
    SubmissionPublisher<ByteString> publisher = requireNonNull(polled, "no publisher after 10 s");
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (!publisher.hasSubscribers()) {
      assertWithMessage("no subscriber after 10 s").that(System.nanoTime() < deadline).isTrue();
      Thread.sleep(1);
    }
    return publisher;
  }

  @Test
  void case52_streamedReplyFromAPublisher_itemsThenCompletion_failureEndsWithInternal()
      throws Exception {
    BlockingQueue<SubmissionPublisher<ByteString>> publishers = new LinkedBlockingQueue<>();
    CalloutServer callout =
        server(
            (headers, ctx) -> {
              SubmissionPublisher<ByteString> body = new SubmissionPublisher<>();
              publishers.add(body);
              ctx.respondStreaming(200, List.of(), body);
              return null;
            });
    CalloutTester tester = tester(callout);

    CalloutTester.Stream completed = tester.newStream(NONE);
    completed.send(request(POST));
    assertThat(completed.nextResponse()).isEqualTo(replyHeaders(false, ":status", "200"));
    SubmissionPublisher<ByteString> body = subscribed(publishers.poll(10, TimeUnit.SECONDS));
    body.submit(utf8("a"));
    body.submit(utf8("b"));
    body.close();
    assertThat(completed.awaitReplies(3))
        .containsExactly(replyBody("a", false), replyBody("b", false), replyBody("", true))
        .inOrder();
    assertThat(completed.awaitClose().getCode()).isEqualTo(Status.Code.OK);

    CalloutTester.Stream failed = tester.newStream(NONE);
    failed.send(request(POST));
    assertThat(failed.nextResponse()).isEqualTo(replyHeaders(false, ":status", "200"));
    publishers.poll(10, TimeUnit.SECONDS).closeExceptionally(new IOException("upstream gone"));
    Status status = failed.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(status.getDescription())
        .isEqualTo(
            "the streamed response's body publisher failed: java.io.IOException: upstream gone");
  }

  @Test
  void case53_streamedReplyEndedInTheHookWithoutBody_headersCarryEndOfStream_countedAsImmediate()
      throws Exception {
    CalloutServer callout =
        server(
            (headers, ctx) -> {
              ctx.respondStreaming(204, List.of(Map.entry("x-why", "empty"))).end();
              return null;
            },
            CONFIG.toBuilder().healthCheckAddress("127.0.0.1:0").build());
    CalloutTester.Stream stream = tester(callout).newStream(NONE);
    stream.send(request(POST));

    assertThat(stream.nextResponse())
        .isEqualTo(replyHeaders(true, ":status", "204", "x-why", "empty"));
    assertThat(stream.awaitClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(stream.received()).hasSize(1);
    HttpResponse<String> metrics =
        HttpClient.newHttpClient()
            .send(
                HttpRequest.newBuilder(
                        URI.create(
                            "http://127.0.0.1:"
                                + callout.healthCheckAddress().orElseThrow().getPort()
                                + "/metrics"))
                    .build(),
                HttpResponse.BodyHandlers.ofString());
    assertThat(metrics.body().lines())
        .contains("callout_immediate_responses_total{phase=\"request_headers\"} 1.0");
  }

  @Test
  void case54_streamedReplyRefused_outsideRequestHeaders_inBufferedMode_badStatus() {
    CalloutServer callout =
        new CalloutServer(CONFIG) {
          @Override
          protected @Nullable HeadersResponse onRequestHeaders(
              HttpHeaders headers, CalloutContext ctx) {
            String path = CalloutTools.headerValue(headers, ":path").orElse("");
            if (path.equals("/status")) {
              ctx.respondStreaming(199, List.of());
            } else if (path.equals("/drained")) {
              ctx.drainRequest();
              ctx.respondStreaming(200, List.of());
            } else if (!path.equals("/later")) {
              ctx.respondStreaming(200, List.of());
            }
            return null;
          }

          @Override
          protected @Nullable HeadersResponse onResponseHeaders(
              HttpHeaders headers, CalloutContext ctx) {
            ctx.respondStreaming(200, List.of());
            return null;
          }
        };
    CalloutTester tester = tester(callout);

    CalloutTester.Stream buffered = tester.newStream(BUFFERED);
    buffered.send(request(POST));
    assertThat(buffered.awaitClose().getDescription())
        .isEqualTo(
            "onRequestHeaders failed: java.lang.IllegalStateException: a streamed immediate"
                + " response needs request body mode NONE or FULL_DUPLEX_STREAMED (Envoy answers"
                + " 500 otherwise); Envoy announced BUFFERED");
    CalloutTester.Stream grpc = tester.newStream(GRPC);
    grpc.send(request(POST));
    assertThat(grpc.awaitClose().getDescription()).endsWith("; Envoy announced GRPC");

    CalloutTester.Stream badStatus = tester.newStream(NONE);
    badStatus.send(request(headers(":method", "GET", ":path", "/status")));
    Status status = badStatus.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(status.getDescription())
        .isEqualTo(
            "onRequestHeaders failed: java.lang.IllegalArgumentException: httpStatus: 199"
                + " (expected: 200..599)");

    CalloutTester.Stream drained = tester.newStream(FULL_DUPLEX);
    drained.send(request(headers(":method", "POST", ":path", "/drained")));
    assertThat(drained.awaitClose().getDescription())
        .isEqualTo(
            "onRequestHeaders failed: java.lang.IllegalStateException: a streamed response after"
                + " request_drain: the drain ends it");

    CalloutTester.Stream later = tester.newStream(NONE);
    later.requestHeaders(headersEndOfStream(":method", "GET", ":path", "/later"));
    later.send(
        ProcessingRequest.newBuilder().setResponseHeaders(headers(":status", "200")).build());
    assertThat(later.awaitClose().getDescription())
        .isEqualTo(
            "onResponseHeaders failed: java.lang.IllegalStateException: a streamed immediate"
                + " response answers only request_headers (Envoy's rule), not response_headers");
    assertThat(later.received()).hasSize(1);
  }

  @Test
  void case55_streamedReplyReplacesTheReturnedReply_keepsItsDynamicMetadata() {
    Struct returnedMetadata = CalloutTools.dynamicMetadata("returned", Map.of("k", "kept"));
    Struct attachedMetadata = CalloutTools.dynamicMetadata("attached", Map.of("k", "too"));
    CalloutServer callout =
        new CalloutServer(CONFIG) {
          @Override
          protected ProcessingResponse process(ProcessingRequest request, CalloutContext ctx) {
            ctx.attachDynamicMetadata(attachedMetadata);
            ctx.respondStreaming(403, List.of()).end(List.of());
            return ProcessingResponse.newBuilder()
                .setRequestHeaders(
                    CalloutTools.addHeaderMutation(List.of(Map.entry("x-not", "sent")), List.of()))
                .setDynamicMetadata(returnedMetadata)
                .build();
          }
        };
    CalloutTester.Stream stream = tester(callout).newStream(FULL_DUPLEX);

    assertThat(stream.exchange(request(POST)))
        .isEqualTo(
            replyHeaders(false, ":status", "403").toBuilder()
                .setDynamicMetadata(
                    returnedMetadata.toBuilder().putAllFields(attachedMetadata.getFieldsMap()))
                .build());
    assertThat(stream.nextResponse()).isEqualTo(replyPart(3, ByteString.EMPTY));
    assertThat(stream.awaitClose().getCode()).isEqualTo(Status.Code.OK);
  }

  @Test
  void case56_drainFromAResponseHook_transformerFlushedWithTheFlag_inFlightChunkEchoed_thenOk() {
    CalloutServer callout =
        new CalloutServer(CONFIG) {
          @Override
          protected @Nullable HeadersResponse onRequestHeaders(
              HttpHeaders headers, CalloutContext ctx) {
            ctx.transformRequestBody(BodyTransformer.whole(b -> utf8(b.toStringUtf8() + "!")));
            return null;
          }

          @Override
          protected @Nullable HeadersResponse onResponseHeaders(
              HttpHeaders headers, CalloutContext ctx) {
            ctx.drainRequest();
            return null;
          }
        };
    CalloutTester.Stream stream = tester(callout).newStream(FULL_DUPLEX);
    stream.requestHeaders(POST);
    stream.sendExpectingNoReply(chunk("ab", false), QUIET); // held by the transformer
    stream.send(
        ProcessingRequest.newBuilder().setResponseHeaders(headers(":status", "200")).build());

    assertThat(stream.awaitReplies(2))
        .containsExactly(
            ProcessingResponse.newBuilder()
                .setResponseHeaders(HeadersResponse.getDefaultInstance())
                .build(),
            withDrain(streamed("ab!", false)))
        .inOrder();
    // A chunk already on its way is echoed unchanged, not transformed; its end ends the stream.
    stream.send(chunk("cd", true));
    assertThat(stream.nextResponse()).isEqualTo(streamed("cd", true));
    assertThat(stream.awaitClose().getCode()).isEqualTo(Status.Code.OK);
  }

  @Test
  void case57_drainFromTheBodyHook_flagOnItsReply_echoUntilTheClientHalfCloses() {
    CalloutServer callout =
        new CalloutServer(CONFIG) {
          @Override
          protected @Nullable BodyResponse onRequestBody(HttpBody body, CalloutContext ctx) {
            ctx.drainRequest();
            return CalloutTools.addBodyMutation(
                body.getBody().toStringUtf8().toUpperCase(Locale.ROOT));
          }
        };
    CalloutTester.Stream stream = tester(callout).newStream(FULL_DUPLEX);
    stream.requestHeaders(POST);
    stream.send(chunk("x", false));
    assertThat(stream.nextResponse()).isEqualTo(withDrain(streamed("X", false)));
    stream.send(chunk("y", false));
    assertThat(stream.nextResponse()).isEqualTo(streamed("y", false));

    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
  }

  @Test
  void case58_drainInGrpcMode_flagOnTheHeadersReply_echoKeepsGrpcFlags_refusals() {
    CalloutTester tester = tester(server(StreamedReplyConformanceTest::drainOnHeaders));

    CalloutTester.Stream grpc = tester.newStream(GRPC);
    assertThat(grpc.exchange(request(POST))).isEqualTo(withDrain(CONTINUE_REQUEST_HEADERS));
    // The client's half-close in GRPC mode: an empty body with end_of_stream and field 3.
    HttpBody halfClose =
        HttpBody.newBuilder()
            .setEndOfStream(true)
            .setUnknownFields(
                UnknownFieldSet.newBuilder()
                    .addField(3, UnknownFieldSet.Field.newBuilder().addVarint(1).build())
                    .build())
            .build();
    grpc.send(ProcessingRequest.newBuilder().setRequestBody(halfClose).build());
    StreamedBodyResponse echo =
        StreamedBodyResponse.newBuilder()
            .setEndOfStream(true)
            .setUnknownFields(
                UnknownFieldSet.newBuilder()
                    .addField(3, UnknownFieldSet.Field.newBuilder().addVarint(1).build())
                    .build())
            .build();
    assertThat(grpc.nextResponse()).isEqualTo(streamedReply(echo));
    assertThat(grpc.awaitClose().getCode()).isEqualTo(Status.Code.OK);

    CalloutTester.Stream none = tester.newStream(NONE);
    none.send(request(POST));
    assertThat(none.awaitClose().getDescription())
        .isEqualTo(
            "onRequestHeaders failed: java.lang.IllegalStateException: request_drain needs request"
                + " body mode FULL_DUPLEX_STREAMED or GRPC; Envoy announced NONE");

    CalloutServer deferring =
        server(
            (headers, ctx) -> {
              ctx.deferHeadersReply();
              ctx.drainRequest();
              return null;
            });
    CalloutTester.Stream held = tester(deferring).newStream(FULL_DUPLEX);
    held.send(request(POST));
    assertThat(held.awaitClose().getDescription())
        .isEqualTo(
            "onRequestHeaders failed: java.lang.IllegalStateException: request_drain while the"
                + " request headers reply is deferred (deferHeadersReply): the drained body would"
                + " go out before it");
  }

  @Test
  void case59_drainWhenTheRequestBodyHadEnded_flagThenOkAtOnce() {
    CalloutTester.Stream stream =
        streamOf(StreamedReplyConformanceTest::drainOnHeaders, FULL_DUPLEX);
    stream.send(request(headersEndOfStream(":method", "GET", ":path", "/")));

    assertThat(stream.nextResponse()).isEqualTo(withDrain(CONTINUE_REQUEST_HEADERS));
    assertThat(stream.awaitClose().getCode()).isEqualTo(Status.Code.OK);
  }

  // ---- Servers and streams ----

  /** A request-headers hook that asks for a request drain. */
  private static @Nullable HeadersResponse drainOnHeaders(HttpHeaders headers, CalloutContext ctx) {
    ctx.drainRequest();
    return null;
  }

  /** A callout whose request-headers hook is {@code hook}. */
  private CalloutServer server(
      BiFunction<HttpHeaders, CalloutContext, @Nullable HeadersResponse> hook) {
    return server(hook, CONFIG);
  }

  private CalloutServer server(
      BiFunction<HttpHeaders, CalloutContext, @Nullable HeadersResponse> hook,
      CalloutServerConfig config) {
    return new CalloutServer(config) {
      @Override
      protected @Nullable HeadersResponse onRequestHeaders(
          HttpHeaders headers, CalloutContext ctx) {
        return hook.apply(headers, ctx);
      }
    };
  }

  private CalloutTester.Stream streamOf(
      BiFunction<HttpHeaders, CalloutContext, @Nullable HeadersResponse> hook,
      ProtocolConfiguration modes) {
    return tester(server(hook)).newStream(modes);
  }

  /** Starts {@code server} and connects a tester to it. */
  private CalloutTester tester(CalloutServer server) {
    try {
      server.start();
    } catch (IOException e) {
      throw new AssertionError(e);
    }
    cleanup.add(server);
    InetSocketAddress address = server.plaintextAddress().orElseThrow();
    ManagedChannel channel =
        Grpc.newChannelBuilderForAddress(
                address.getHostString(), address.getPort(), InsecureChannelCredentials.create())
            .build();
    cleanup.add(0, channel::shutdownNow);
    return CalloutTester.forChannel(channel);
  }

  // ---- Messages, the newer fields by number ----

  private static ProtocolConfiguration requestMode(int mode) {
    return ProtocolConfiguration.newBuilder()
        .setRequestBodyModeValue(mode)
        .setResponseBodyMode(BodySendMode.NONE)
        .build();
  }

  private static ProcessingRequest request(HttpHeaders headers) {
    return ProcessingRequest.newBuilder().setRequestHeaders(headers).build();
  }

  private static ProcessingRequest chunk(String text, boolean endOfStream) {
    return ProcessingRequest.newBuilder().setRequestBody(body(text, endOfStream)).build();
  }

  private static ByteString utf8(String text) {
    return ByteString.copyFromUtf8(text);
  }

  /** A {@code ProcessingResponse} whose field 11 holds {@code bytes} in its field {@code part}. */
  private static ProcessingResponse replyPart(int part, ByteString bytes) {
    UnknownFieldSet inner =
        UnknownFieldSet.newBuilder()
            .addField(part, UnknownFieldSet.Field.newBuilder().addLengthDelimited(bytes).build())
            .build();
    return ProcessingResponse.newBuilder()
        .setUnknownFields(
            UnknownFieldSet.newBuilder()
                .addField(
                    11,
                    UnknownFieldSet.Field.newBuilder()
                        .addLengthDelimited(inner.toByteString())
                        .build())
                .build())
        .build();
  }

  private static ProcessingResponse replyHeaders(boolean endOfStream, String... keysAndValues) {
    return replyPart(
        1, headers(keysAndValues).toBuilder().setEndOfStream(endOfStream).build().toByteString());
  }

  private static ProcessingResponse replyBody(String text, boolean endOfStream) {
    return replyPart(
        2,
        StreamedBodyResponse.newBuilder()
            .setBody(utf8(text))
            .setEndOfStream(endOfStream)
            .build()
            .toByteString());
  }

  private static ProcessingResponse streamed(String text, boolean endOfStream) {
    return streamedReply(
        StreamedBodyResponse.newBuilder().setBody(utf8(text)).setEndOfStream(endOfStream).build());
  }

  private static ProcessingResponse streamedReply(StreamedBodyResponse body) {
    return ProcessingResponse.newBuilder()
        .setRequestBody(
            BodyResponse.newBuilder()
                .setResponse(
                    CommonResponse.newBuilder()
                        .setBodyMutation(BodyMutation.newBuilder().setStreamedResponse(body))))
        .build();
  }

  /** {@code reply} with field 12, {@code request_drain}, true. */
  private static ProcessingResponse withDrain(ProcessingResponse reply) {
    return reply.toBuilder()
        .setUnknownFields(
            reply.getUnknownFields().toBuilder()
                .addField(12, UnknownFieldSet.Field.newBuilder().addVarint(1).build())
                .build())
        .build();
  }
}
