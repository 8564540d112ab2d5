package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static java.util.Objects.requireNonNull;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnknownFieldSet;
import dev.extproc.callout.internal.Clock;
import dev.extproc.callout.testing.CalloutTester;
import dev.extproc.callout.testing.Replies;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeaderMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpTrailers;
import io.envoyproxy.envoy.service.ext_proc.v3.ImmediateResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.grpc.Context;
import io.grpc.Metadata;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiFunction;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The protocol core on its own: message sequences in, the exact replies and closes out, with no
 * gRPC call, thread or socket.
 */
final class StreamCoreTest {

  /** The watchdog's clock, as the server would own it; closed after each test. */
  private final Clock clock = new Clock();

  @AfterEach
  void closeClock() {
    clock.close();
  }

  /** Records what the core sends and how it closes the stream. */
  private static final class Sink implements StreamSink<ProcessingResponse> {
    final List<ProcessingResponse> sent = new ArrayList<>();
    final List<Status> closes = new ArrayList<>();
    int hooks;
    boolean inTime = true;

    @Override
    public void send(ProcessingResponse reply) {
      sent.add(reply);
    }

    @Override
    public void sendStandalone(ProcessingResponse message) {
      sent.add(message);
    }

    @Override
    public void close(Status status, @Nullable Metadata trailers) {
      closes.add(status);
    }

    @Override
    public long hookStarted(String hook) {
      hooks++;
      return System.nanoTime();
    }

    @Override
    public boolean hookReturned() {
      return inTime;
    }
  }

  /** A callout whose every phase runs {@link #reply}; null continues. */
  private static final class Callout extends CalloutServer {
    BiFunction<ProcessingRequest, CalloutContext, @Nullable ProcessingResponse> reply =
        (request, ctx) -> null;
    int starts;

    Callout(CalloutServerConfig config) {
      super(config);
    }

    @Override
    protected @Nullable ProcessingResponse process(ProcessingRequest request, CalloutContext ctx) {
      return reply.apply(request, ctx);
    }

    @Override
    protected void onStreamStart(CalloutContext ctx) {
      starts++;
      if (ctx.streamId() < 0) {
        throw new IllegalStateException("negative id");
      }
    }
  }

  private final Callout callout =
      new Callout(CalloutServerConfig.newBuilder().streamedChunkSize(4).build());
  private final Sink sink = new Sink();
  private final Context.CancellableContext grpcContext = Context.ROOT.withCancellation();
  private final StreamCore core = core(1);

  private StreamCore core(long id) {
    StreamCore.Shared shared =
        new StreamCore.Shared(
            callout,
            new MutationGuard(
                callout.config().mutationPolicy(), callout.config().mutationProfile()),
            CalloutMetrics.OFF,
            new StreamRegistry(0, Duration.ZERO, clock),
            null,
            false,
            false,
            false);
    CalloutContext ctx = new CalloutContext(id, null, grpcContext);
    ctx.standaloneSender(sink);
    return new StreamCore(shared, ctx, sink);
  }

  private static ProcessingRequest requestHeaders(String... keysAndValues) {
    return ProcessingRequest.newBuilder()
        .setRequestHeaders(CalloutTester.headers(keysAndValues))
        .build();
  }

  private static ProcessingRequest requestBody(String text, boolean endOfStream) {
    return ProcessingRequest.newBuilder()
        .setRequestBody(CalloutTester.body(text, endOfStream))
        .build();
  }

  private static ProcessingRequest withModes(
      ProcessingRequest request, BodySendMode requestMode, BodySendMode responseMode) {
    return request.toBuilder()
        .setProtocolConfig(
            ProtocolConfiguration.newBuilder()
                .setRequestBodyMode(requestMode)
                .setResponseBodyMode(responseMode))
        .build();
  }

  private static List<ProcessingRequest> allSixPhases() {
    return List.of(
        requestHeaders(":path", "/"),
        requestBody("a", true),
        ProcessingRequest.newBuilder()
            .setRequestTrailers(HttpTrailers.getDefaultInstance())
            .build(),
        ProcessingRequest.newBuilder()
            .setResponseHeaders(CalloutTester.headers(":status", "200"))
            .build(),
        ProcessingRequest.newBuilder().setResponseBody(CalloutTester.body("b", true)).build(),
        ProcessingRequest.newBuilder()
            .setResponseTrailers(HttpTrailers.getDefaultInstance())
            .build());
  }

  @Test
  void everyPhase_hookContinues_oneTypedReplyEach_inOrder() {
    for (ProcessingRequest request : allSixPhases()) {
      core.onMessage(request);
    }

    List<ProcessingResponse> expected = new ArrayList<>();
    for (ProcessingRequest request : allSixPhases()) {
      expected.add(requireNonNull(Phase.of(request)).continueResponse());
    }
    assertThat(sink.sent).containsExactlyElementsIn(expected).inOrder();
    assertThat(sink.closes).isEmpty();
    assertThat(sink.hooks).isEqualTo(6);
  }

  @Test
  void messageWithoutCase_noHookNoReply() {
    core.onMessage(ProcessingRequest.getDefaultInstance());

    assertThat(sink.sent).isEmpty();
    assertThat(sink.hooks).isEqualTo(0);
    assertThat(sink.closes).isEmpty();
  }

  @Test
  void hookReturnsOtherType_closesInternal_sendsNothing() {
    callout.reply =
        (request, ctx) ->
            ProcessingResponse.newBuilder()
                .setResponseHeaders(HeadersResponse.getDefaultInstance())
                .build();

    core.onMessage(requestHeaders());

    assertThat(sink.sent).isEmpty();
    assertThat(sink.closes).hasSize(1);
    assertThat(sink.closes.get(0).getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(sink.closes.get(0).getDescription())
        .isEqualTo(
            "onRequestHeaders failed: java.lang.IllegalStateException: returned response_headers"
                + " in reply to request_headers (expected: request_headers or"
                + " immediate_response)");
  }

  @Test
  void hookThrowsStatus_closesWithIt() {
    callout.reply =
        (request, ctx) -> {
          throw Status.PERMISSION_DENIED.withDescription("no").asRuntimeException();
        };

    core.onMessage(requestHeaders());

    assertThat(sink.sent).isEmpty();
    assertThat(sink.closes.get(0).getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(sink.closes.get(0).getDescription()).isEqualTo("no");
  }

  @Test
  void immediateResponse_sentAlone_laterMessagesIgnored() {
    ImmediateResponse deny = CalloutTools.denyRequest(403, "go away");
    callout.reply =
        (request, ctx) -> {
          ctx.respondImmediately(deny);
          return null;
        };

    core.onMessage(requestHeaders());
    core.onMessage(requestBody("x", true));

    assertThat(sink.sent)
        .containsExactly(ProcessingResponse.newBuilder().setImmediateResponse(deny).build());
    assertThat(sink.hooks).isEqualTo(1);
    assertThat(sink.closes).isEmpty();
  }

  @Test
  void immediateResponseMidBody_nothingForLaterChunks() {
    ImmediateResponse deny = CalloutTools.denyRequest(413, "too big");
    callout.reply =
        (request, ctx) -> {
          if (request.hasRequestBody() && !request.getRequestBody().getEndOfStream()) {
            ctx.respondImmediately(deny);
          }
          return null;
        };

    core.onMessage(requestHeaders());
    core.onMessage(requestBody("1", false));
    core.onMessage(requestBody("2", true));

    assertThat(sink.sent)
        .containsExactly(
            Phase.REQUEST_HEADERS.continueResponse(),
            ProcessingResponse.newBuilder().setImmediateResponse(deny).build())
        .inOrder();
  }

  @Test
  void observabilityMode_hooksRun_nothingSent() {
    callout.reply =
        (request, ctx) ->
            ProcessingResponse.newBuilder()
                .setRequestHeaders(CalloutTools.addHeaderMutation(List.of()))
                .build();

    for (ProcessingRequest request : allSixPhases()) {
      core.onMessage(request.toBuilder().setObservabilityMode(true).build());
    }

    assertThat(sink.hooks).isEqualTo(6);
    assertThat(sink.sent).isEmpty();
  }

  @Test
  void cancelledWhileHookRan_replyDropped() {
    callout.reply =
        (request, ctx) -> {
          grpcContext.cancel(null);
          return null;
        };

    core.onMessage(requestHeaders());

    assertThat(sink.hooks).isEqualTo(1);
    assertThat(sink.sent).isEmpty();
    assertThat(sink.closes).isEmpty();
  }

  @Test
  void extendMessageTimeout_standaloneMessageBeforeTheReply() {
    callout.reply =
        (request, ctx) -> {
          ctx.extendMessageTimeout(Duration.ofSeconds(2));
          return null;
        };

    core.onMessage(requestHeaders());

    assertThat(sink.sent)
        .containsExactly(
            ProcessingResponse.newBuilder()
                .setOverrideMessageTimeout(com.google.protobuf.Duration.newBuilder().setSeconds(2))
                .build(),
            Phase.REQUEST_HEADERS.continueResponse())
        .inOrder();
  }

  @Test
  void hookOvertakenByWatchdog_replyAndFailureDropped() {
    sink.inTime = false;
    callout.reply =
        (request, ctx) -> {
          throw new IllegalStateException("too late to matter");
        };

    core.onMessage(requestHeaders());

    assertThat(sink.sent).isEmpty();
    assertThat(sink.closes).isEmpty();
  }

  @Test
  void oversizedMessage_closesResourceExhausted_noHook() {
    ProcessingRequest marker =
        ProcessingRequest.newBuilder()
            .setUnknownFields(
                UnknownFieldSet.newBuilder()
                    .addField(
                        SizeCheckedRequests.SIZE_FIELD,
                        UnknownFieldSet.Field.newBuilder().addVarint(9_000_000).build())
                    .build())
            .build();

    core.onMessage(marker);

    assertThat(sink.hooks).isEqualTo(0);
    assertThat(sink.closes.get(0).getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(sink.closes.get(0).getDescription())
        .isEqualTo(
            "message of 9000000 bytes exceeds the inbound limit of "
                + callout.config().maxInboundMessageSize()
                + " bytes (--max-inbound-message-size)");
  }

  @Test
  void mutationGuard_envoyHeader_closesInternal() {
    callout.reply =
        (request, ctx) ->
            ProcessingResponse.newBuilder()
                .setRequestHeaders(
                    CalloutTools.addHeaderMutation(List.of(java.util.Map.entry("x-envoy-a", "1"))))
                .build();

    core.onMessage(requestHeaders());

    assertThat(sink.sent).isEmpty();
    assertThat(sink.closes.get(0).getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(sink.closes.get(0).getDescription()).contains("x-envoy-a");
  }

  @Test
  void bufferedBodyReplaced_contentLengthSetToNewLength() {
    callout.reply =
        (request, ctx) ->
            request.hasRequestBody()
                ? ProcessingResponse.newBuilder()
                    .setRequestBody(CalloutTools.addBodyMutation("123456789"))
                    .build()
                : null;

    core.onMessage(
        withModes(requestHeaders("content-length", "5"), BodySendMode.BUFFERED, BodySendMode.NONE));
    core.onMessage(requestBody("12345", true));

    HeaderValueOption contentLength = Replies.set("content-length", "9");
    assertThat(sink.sent.get(1))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setRequestBody(
                    BodyResponse.newBuilder()
                        .setResponse(
                            CommonResponse.newBuilder()
                                .setHeaderMutation(
                                    HeaderMutation.newBuilder().addSetHeaders(contentLength))
                                .setBodyMutation(
                                    BodyMutation.newBuilder()
                                        .setBody(ByteString.copyFromUtf8("123456789")))))
                .build());
  }

  @Test
  void modeOverride_onHeadersReply_bothBodyModesSet() {
    callout.reply =
        (request, ctx) -> {
          if (request.hasRequestHeaders()) {
            ctx.overrideMode(m -> m.setResponseBodyMode(BodySendMode.NONE));
          }
          return null;
        };

    core.onMessage(withModes(requestHeaders(), BodySendMode.STREAMED, BodySendMode.BUFFERED));

    assertThat(sink.sent)
        .containsExactly(
            Phase.REQUEST_HEADERS.continueResponse().toBuilder()
                .setModeOverride(
                    ProcessingMode.newBuilder()
                        .setRequestBodyMode(BodySendMode.STREAMED)
                        .setResponseBodyMode(BodySendMode.NONE))
                .build());
  }

  @Test
  void fullDuplex_chunksSplitAtChunkSize_onlyLastMarked() {
    core.onMessage(
        withModes(requestHeaders(), BodySendMode.FULL_DUPLEX_STREAMED, BodySendMode.NONE));
    core.onMessage(requestBody("abcdef", false));
    core.onMessage(requestBody("gh", true));

    assertThat(sink.sent)
        .containsExactly(
            Phase.REQUEST_HEADERS.continueResponse(),
            streamed("abcd", false),
            streamed("ef", false),
            streamed("gh", true))
        .inOrder();
  }

  @Test
  void fullDuplex_trailersEndTheBody_unmarked_thenTrailersReply() {
    core.onMessage(
        withModes(requestHeaders(), BodySendMode.FULL_DUPLEX_STREAMED, BodySendMode.NONE));
    core.onMessage(requestBody("ab", false));
    core.onMessage(
        ProcessingRequest.newBuilder()
            .setRequestTrailers(HttpTrailers.getDefaultInstance())
            .build());
    core.onMessage(requestBody("late", true));

    assertThat(sink.sent)
        .containsExactly(
            Phase.REQUEST_HEADERS.continueResponse(),
            streamed("ab", false),
            Phase.REQUEST_TRAILERS.continueResponse())
        .inOrder();
    assertThat(sink.closes.get(0).getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
  }

  @Test
  void fullDuplex_continueAndReplace_closesInternal() {
    callout.reply =
        (request, ctx) ->
            ProcessingResponse.newBuilder()
                .setRequestHeaders(
                    HeadersResponse.newBuilder()
                        .setResponse(
                            CommonResponse.newBuilder()
                                .setStatus(CommonResponse.ResponseStatus.CONTINUE_AND_REPLACE)))
                .build();

    core.onMessage(
        withModes(requestHeaders(), BodySendMode.FULL_DUPLEX_STREAMED, BodySendMode.NONE));

    assertThat(sink.sent).isEmpty();
    assertThat(sink.closes.get(0).getDescription())
        .endsWith("CONTINUE_AND_REPLACE is not allowed in FULL_DUPLEX_STREAMED body mode");
  }

  @Test
  void interleavedDirections_eachReplyMatchesItsDirection() {
    core.onMessage(withModes(requestHeaders(), BodySendMode.STREAMED, BodySendMode.NONE));
    core.onMessage(requestBody("1", false));
    core.onMessage(
        ProcessingRequest.newBuilder()
            .setResponseHeaders(HttpHeaders.getDefaultInstance())
            .build());
    core.onMessage(requestBody("2", true));

    assertThat(sink.sent)
        .containsExactly(
            Phase.REQUEST_HEADERS.continueResponse(),
            Phase.REQUEST_BODY.continueResponse(),
            Phase.RESPONSE_HEADERS.continueResponse(),
            Phase.REQUEST_BODY.continueResponse())
        .inOrder();
  }

  @Test
  void start_onStreamStartThrows_closesInternal() {
    StreamCore negative = core(-1);

    negative.start();

    assertThat(callout.starts).isEqualTo(1);
    assertThat(sink.closes.get(0).getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(sink.closes.get(0).getDescription())
        .isEqualTo("onStreamStart failed: java.lang.IllegalStateException: negative id");
  }

  private static ProcessingResponse streamed(String body, boolean endOfStream) {
    return FullDuplexBodyTest.streamed(Direction.REQUEST, body, endOfStream);
  }
}
