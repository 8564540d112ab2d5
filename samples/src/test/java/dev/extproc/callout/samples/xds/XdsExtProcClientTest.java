package dev.extproc.callout.samples.xds;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.Truth.assertWithMessage;
import static dev.extproc.callout.samples.xds.WireByNumber.field;
import static dev.extproc.callout.samples.xds.WireByNumber.flag;
import static dev.extproc.callout.samples.xds.WireByNumber.streamed;
import static dev.extproc.callout.samples.xds.WireByNumber.varint;
import static dev.extproc.callout.samples.xds.WireByNumber.windowSum;
import static dev.extproc.callout.samples.xds.WireByNumber.windowUpdate;
import static dev.extproc.callout.samples.xds.WireByNumber.withoutClientWindowUpdates;

import com.google.common.collect.Range;
import com.google.common.hash.Hashing;
import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.StringValue;
import com.google.protobuf.UnknownFieldSet;
import dev.extproc.callout.BodyTransformer;
import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.CalloutTools;
import dev.extproc.callout.testing.CalloutTester;
import io.envoyproxy.envoy.config.core.v3.HeaderMap;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode;
import io.envoyproxy.envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpTrailers;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.envoyproxy.envoy.service.ext_proc.v3.StreamedBodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.TrailersResponse;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptors;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.stream.IntStream;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Callouts behind a client we did not write: grpc-java's xDS ext_proc client filter (gRFC A93,
 * experimental in grpc-xds 1.85.1, on with {@code GRPC_EXPERIMENTAL_XDS_EXT_PROC_ON_CLIENT}),
 * configured by a management server in this test. Channels to {@code xds:///pass-through.test} and
 * {@code xds:///transforming.test} learn from LDS an {@code envoy.filters.http.ext_proc} filter
 * (request and response body mode GRPC, response trailers SEND) whose {@code grpc_service} is one
 * of two callouts, and from CDS and EDS the backend, a real grpc-java server ({@link EchoBackend}).
 * The pass-through callout has no hooks; the transforming one rewrites every gRPC message both ways
 * and sets a request header. Each callout's service is served by a gRPC server of this test with an
 * {@link ExtProcRecorder}, which shows what the client really sends.
 *
 * <p>Runs in a JVM of its own (the surefire execution {@code xds-ext-proc}, which sets the flag in
 * the environment): grpc-xds keeps the first bootstrap it reads for the life of the JVM.
 *
 * <p>Defects of grpc-xds 1.85.1 shape the calls. A call whose client-side descriptor is UNARY hangs
 * ({@link #unaryDescriptor_grpcXds185HoldsTheMessageUntilTheDeadline}), so the backend's unary
 * method is called through a descriptor of type BIDI_STREAMING (the same messages on the wire). And
 * now and then a call fails whatever the callout answers ({@link ClientDefect}; together about 1
 * call in 1,000 here): calls failing exactly so are retried (with a new call id), counted, and the
 * count is logged and bounded.
 */
@Tag(XdsExtProcClientTest.OWN_JVM)
class XdsExtProcClientTest {

  /** The JUnit tag of tests that need a JVM of their own with the ext_proc client filter on. */
  static final String OWN_JVM = "xds-ext-proc";

  private static final Logger logger = LoggerFactory.getLogger(XdsExtProcClientTest.class);

  private static final String EXT_PROC_FLAG = "GRPC_EXPERIMENTAL_XDS_EXT_PROC_ON_CLIENT";
  private static final String CLUSTER = "echo";

  /** {@code ProcessingMode.BodySendMode.GRPC}, which API 1.0.49 does not name. */
  private static final int GRPC_BODY_MODE = 5;

  private static final int KIB = 1024;
  private static final int MIB = 1024 * KIB;

  /** What the transforming callout appends to each request and each response message. */
  private static final String REQUEST_MARK = "|seen-by-callout-on-request";

  private static final String RESPONSE_MARK = "|seen-by-callout-on-response";

  private static final int SMALL_CALLS = 100;
  private static final int MAX_ATTEMPTS = 3;
  private static final AtomicInteger attempts = new AtomicInteger();
  private static final AtomicInteger retries = new AtomicInteger();
  private static final Map<ClientDefect, AtomicInteger> defects = new EnumMap<>(ClientDefect.class);
  private static final AtomicInteger nextCallId = new AtomicInteger();

  private static EchoBackend backend;
  private static XdsManagementServer xds;

  /** The two callouts, each with the channel whose ext_proc filter calls it. */
  enum Route {
    /** A callout with no hooks: every message passes unchanged. */
    PASS_THROUGH("pass-through.test", false),
    /** {@link Transforming}: each request and response message gets a mark appended. */
    TRANSFORMING("transforming.test", true);

    private final String authority;
    private final boolean transforms;

    Route(String authority, boolean transforms) {
      this.authority = authority;
      this.transforms = transforms;
    }

    /** The message that reaches the backend when the client sends {@code sent}. */
    String atBackend(String sent) {
      return transforms ? sent + REQUEST_MARK : sent;
    }

    /** The message the client receives when it sends {@code sent}. */
    String atClient(String sent) {
      String answered = EchoBackend.echo(atBackend(sent));
      return transforms ? answered + RESPONSE_MARK : answered;
    }

    List<String> atBackend(List<String> sent) {
      return sent.stream().map(this::atBackend).toList();
    }

    List<String> atClient(List<String> sent) {
      return sent.stream().map(this::atClient).toList();
    }
  }

  private static final Map<Route, RecordedCallout> callouts = new EnumMap<>(Route.class);
  private static final Map<Route, ManagedChannel> channels = new EnumMap<>(Route.class);

  @BeforeAll
  static void start() throws IOException {
    assertWithMessage(
            EXT_PROC_FLAG
                + " must be set in the environment: run this class through the surefire"
                + " execution "
                + OWN_JVM)
        .that(System.getenv(EXT_PROC_FLAG))
        .isEqualTo("true");
    backend = new EchoBackend();
    xds = new XdsManagementServer();
    callouts.put(Route.PASS_THROUGH, new RecordedCallout(new CalloutServer(calloutConfig()) {}));
    callouts.put(Route.TRANSFORMING, new RecordedCallout(new Transforming()));
    List<String> targets = new ArrayList<>();
    for (Route route : Route.values()) {
      String target = callouts.get(route).target();
      targets.add(target);
      xds.serveListener(route.authority, extProcFilter(target), CLUSTER);
    }
    xds.serveCluster(CLUSTER, backend.port());
    System.setProperty(
        XdsManagementServer.BOOTSTRAP_CONFIG, xds.bootstrap("ext-proc-test", targets));
    for (Route route : Route.values()) {
      channels.put(
          route,
          Grpc.newChannelBuilder("xds:///" + route.authority, InsecureChannelCredentials.create())
              .build());
    }
  }

  @AfterAll
  static void stop() throws InterruptedException {
    logger.info(
        "{} of {} call attempts failed with a grpc-xds 1.85.1 defect and were retried: {}",
        retries.get(),
        attempts.get(),
        defects);
    try {
      for (ManagedChannel channel : channels.values()) {
        channel.shutdownNow();
        channel.awaitTermination(10, TimeUnit.SECONDS);
      }
      for (RecordedCallout callout : callouts.values()) {
        callout.close();
      }
      if (backend != null) {
        backend.close();
      }
      if (xds != null) {
        xds.close();
      }
    } finally {
      System.clearProperty(XdsManagementServer.BOOTSTRAP_CONFIG);
    }
  }

  private static CalloutServerConfig calloutConfig() {
    return CalloutServerConfig.newBuilder().shutdownDrainDelay(Duration.ZERO).build();
  }

  /** The ext_proc filter grpc-xds accepts: body modes GRPC, trailers SEND, a GoogleGrpc target. */
  private static HttpFilter extProcFilter(String calloutTarget) {
    ExternalProcessor extProc =
        ExternalProcessor.newBuilder()
            .setGrpcService(XdsManagementServer.googleGrpc(calloutTarget))
            .setProcessingMode(
                ProcessingMode.newBuilder()
                    .setRequestHeaderMode(ProcessingMode.HeaderSendMode.SEND)
                    .setResponseHeaderMode(ProcessingMode.HeaderSendMode.SEND)
                    .setRequestBodyModeValue(GRPC_BODY_MODE)
                    .setResponseBodyModeValue(GRPC_BODY_MODE)
                    .setResponseTrailerMode(ProcessingMode.HeaderSendMode.SEND))
            .build();
    return HttpFilter.newBuilder()
        .setName("envoy.filters.http.ext_proc")
        .setTypedConfig(Any.pack(extProc))
        .build();
  }

  @ParameterizedTest
  @EnumSource(Route.class)
  void manySmallUnaryCalls_allComplete_backendAndClientSeeTheExpectedMessages(Route route)
      throws Exception {
    int retriedBefore = retries.get();
    int attemptsBefore = attempts.get();

    for (int i = 0; i < SMALL_CALLS; i++) {
      String sent = message(i, 100);
      Completed completed = withRetries(callId -> unary(route, callId, sent, null));

      assertThat(backend.call(completed.callId()).messages())
          .containsExactly(route.atBackend(sent));
      assertThat(completed.received()).containsExactly(route.atClient(sent));
      assertThat(closed(route, completed)).isEqualTo(Status.OK);
    }

    assertThat(xds.nacks()).isEmpty();
    // The client defects must stay rare: under 5% of the attempts.
    assertThat((retries.get() - retriedBefore) * 20).isLessThan(attempts.get() - attemptsBefore);
  }

  /**
   * What grpc-xds 1.85.1 sends for a unary call in GRPC body mode, and what the callout answers,
   * read back by field number. The client: the first message carries {@code protocol_config} {GRPC,
   * GRPC} and {@code flow_control_init} (field 12) with four windows of 65,536 bytes; metadata is
   * only what the call carries (no pseudo-headers), in {@code raw_value}; the message arrives as
   * one {@code HttpBody} with {@code end_of_stream} false, the half-close as a separate empty one
   * with {@code end_of_stream} and {@code end_of_stream_without_message} (field 3); the response's
   * message never sets {@code end_of_stream}, and an empty {@code response_trailers} ends the
   * stream; the bytes it forwarded upstream come back in {@code client_window_update} (field 13),
   * here riding on the next body message. The callout: a {@code streamed_response} per message,
   * then a {@code server_window_update} (field 14) granting its bytes, and the half-close echoed
   * with both flags.
   */
  @Test
  void smallUnaryCall_whatTheClientSendsAndTheCalloutAnswers() throws Exception {
    ByteString hello = StringValue.of("hello").toByteString();
    ByteString echo = StringValue.of(EchoBackend.echo("hello")).toByteString();

    Completed completed = withRetries(callId -> unary(Route.PASS_THROUGH, callId, "hello", null));

    ExtProcRecorder.Stream stream =
        callouts.get(Route.PASS_THROUGH).recorder().stream(completed.callId());
    assertThat(withoutClientWindowUpdates(stream.requests()))
        .containsExactly(
            ProcessingRequest.newBuilder()
                .setRequestHeaders(
                    CalloutTester.headers(EchoBackend.CALL_ID.name(), completed.callId()))
                .setProtocolConfig(
                    ProtocolConfiguration.newBuilder()
                        .setRequestBodyModeValue(GRPC_BODY_MODE)
                        .setResponseBodyModeValue(GRPC_BODY_MODE))
                .setUnknownFields(
                    field(
                        12,
                        UnknownFieldSet.newBuilder()
                            .addField(1, varint(65_536))
                            .addField(2, varint(65_536))
                            .addField(3, varint(65_536))
                            .addField(4, varint(65_536))
                            .build()))
                .build(),
            ProcessingRequest.newBuilder()
                .setRequestBody(HttpBody.newBuilder().setBody(hello))
                .build(),
            ProcessingRequest.newBuilder()
                .setRequestBody(
                    HttpBody.newBuilder().setEndOfStream(true).setUnknownFields(flag(3)))
                .build(),
            ProcessingRequest.newBuilder()
                .setResponseHeaders(
                    CalloutTester.headers(
                        "grpc-encoding", "identity",
                        "content-type", "application/grpc",
                        "grpc-accept-encoding", "gzip"))
                .build(),
            ProcessingRequest.newBuilder()
                .setResponseBody(HttpBody.newBuilder().setBody(echo))
                .build(),
            ProcessingRequest.newBuilder()
                .setResponseTrailers(
                    HttpTrailers.newBuilder().setTrailers(HeaderMap.getDefaultInstance()))
                .build())
        .inOrder();
    assertThat(windowSum(stream.requests(), 13, 1)).isEqualTo(hello.size());
    assertThat(stream.responses())
        .containsExactly(
            ProcessingResponse.newBuilder()
                .setRequestHeaders(HeadersResponse.getDefaultInstance())
                .build(),
            ProcessingResponse.newBuilder()
                .setRequestBody(streamed(StreamedBodyResponse.newBuilder().setBody(hello)))
                .build(),
            ProcessingResponse.newBuilder().setUnknownFields(windowUpdate(1, hello.size())).build(),
            ProcessingResponse.newBuilder()
                .setRequestBody(
                    streamed(
                        StreamedBodyResponse.newBuilder()
                            .setEndOfStream(true)
                            .setUnknownFields(flag(3))))
                .build(),
            ProcessingResponse.newBuilder()
                .setResponseHeaders(HeadersResponse.getDefaultInstance())
                .build(),
            ProcessingResponse.newBuilder()
                .setResponseBody(streamed(StreamedBodyResponse.newBuilder().setBody(echo)))
                .build(),
            ProcessingResponse.newBuilder().setUnknownFields(windowUpdate(2, echo.size())).build(),
            ProcessingResponse.newBuilder()
                .setResponseTrailers(TrailersResponse.getDefaultInstance())
                .build())
        .inOrder();
    assertThat(stream.closed().get(10, TimeUnit.SECONDS)).isEqualTo(Status.OK);
  }

  /**
   * Issue item 9 with a gRPC client: {@code addHeaderMutation} with no append action replaces the
   * call's {@code x-env} (grpc-java reads only {@code append_action}, whose default appends).
   */
  @Test
  void headerSetByTheCallout_replacesTheCallsValue_theBackendSeesOneValue() throws Exception {
    Completed completed =
        withRetries(callId -> unary(Route.TRANSFORMING, callId, "hello", "client"));

    assertThat(backend.call(completed.callId()).env()).containsExactly("callout");
    assertThat(completed.received()).containsExactly(Route.TRANSFORMING.atClient("hello"));
  }

  @ParameterizedTest
  @EnumSource(Route.class)
  void unaryCall_overOneMiBEachWay_completes_backendAndClientSeeTheExpectedMessages(Route route)
      throws Exception {
    String sent = message(0, 1_300_000);

    Completed completed = withRetries(callId -> unary(route, callId, sent, null));

    assertThat(fingerprints(backend.call(completed.callId()).messages()))
        .containsExactlyElementsIn(fingerprints(List.of(route.atBackend(sent))));
    assertThat(fingerprints(completed.received()))
        .containsExactlyElementsIn(fingerprints(List.of(route.atClient(sent))));
    assertThat(closed(route, completed)).isEqualTo(Status.OK);
    assertFlowControl(callouts.get(route).recorder().stream(completed.callId()));
  }

  @ParameterizedTest
  @EnumSource(Route.class)
  void bidiCall_manyMessagesOverOneMiBEachWay_completes_backendAndClientSeeTheExpectedMessages(
      Route route) throws Exception {
    List<String> sent = messages(40, 32 * KIB);

    Completed completed = withRetries(callId -> bidi(route, callId, sent));

    assertThat(fingerprints(backend.call(completed.callId()).messages()))
        .containsExactlyElementsIn(fingerprints(route.atBackend(sent)))
        .inOrder();
    assertThat(fingerprints(completed.received()))
        .containsExactlyElementsIn(fingerprints(route.atClient(sent)))
        .inOrder();
    assertThat(closed(route, completed)).isEqualTo(Status.OK);
    assertFlowControl(callouts.get(route).recorder().stream(completed.callId()));
  }

  /**
   * A grpc-xds 1.85.1 defect: a call whose client-side descriptor is UNARY (or SERVER_STREAMING)
   * hangs in GRPC request body mode. The filter forwards the message the callout returns only if
   * the upstream call is ready at that moment, else holds it (and the half-close behind it) until
   * the upstream call reports {@code onReady}, which grpc-java never reports for methods where the
   * client sends one message; the callout's reply comes right after its headers reply, before the
   * upstream stream exists. The backend sees the call's headers, never its message. Each call here
   * either completes with the expected message (a fixed client) or ends DEADLINE_EXCEEDED with no
   * message at the backend.
   */
  @Test
  void unaryDescriptor_grpcXds185HoldsTheMessageUntilTheDeadline() throws Exception {
    int held = 0;
    for (int i = 0; i < 2; i++) {
      String callId = "unary-descriptor-" + i;
      try {
        assertThat(call(Route.PASS_THROUGH, callId, EchoBackend.UNARY, List.of("hi"), null, 3))
            .containsExactly(Route.PASS_THROUGH.atClient("hi"));
      } catch (StatusRuntimeException e) {
        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
        assertThat(backend.call(callId).messages()).isEmpty();
        held++;
      }
    }
    logger.info("grpc-xds 1.85.1 held the message of {} of 2 calls with a UNARY descriptor", held);
  }

  /** How the callout closed the ext_proc stream of {@code call}. */
  private static Status closed(Route route, Completed call) throws Exception {
    return callouts.get(route).recorder().stream(call.callId()).closed().get(10, TimeUnit.SECONDS);
  }

  // ---- Calls and their retries ----

  /** A call that completed: the call id of its successful attempt and what the client received. */
  private record Completed(String callId, List<String> received) {}

  /** One attempt of a call, under {@code callId}; returns what the client received. */
  private interface Attempt {
    List<String> run(String callId) throws Exception;
  }

  /** The two ways grpc-xds 1.85.1 fails a call now and then, whatever the callout answers. */
  private enum ClientDefect {
    /**
     * {@code CANCELLED "Failed to read message."}, caused by an {@link AssertionError} ("Failed
     * executing read operation") in the filter, before it passes the response message on.
     */
    READ_MESSAGE_ASSERTION,
    /**
     * The filter held the callout's message for the upstream call's {@code onReady} and sends it
     * from that thread after taking it from its queue under its lock, while the thread handling the
     * callout's half-close echo finds the queue empty and half-closes the upstream call. Seen two
     * ways: the backend's unary handler ends the call {@code INTERNAL "Half-closed without a
     * request"} (the message never reached it), or the upstream call's framer breaks, {@code
     * CANCELLED "Failed to stream message"} caused by {@code INTERNAL "Failed to frame message"}
     * ({@code IllegalStateException: knownLengthPendingAllocation reached 0}).
     */
    HALF_CLOSE_RACES_HELD_MESSAGE;

    static @Nullable ClientDefect of(Status status, String callId) {
      if (status.getCode() == Status.Code.CANCELLED
          && "Failed to read message.".equals(status.getDescription())
          && status.getCause() instanceof AssertionError) {
        return READ_MESSAGE_ASSERTION;
      }
      if (status.getCode() == Status.Code.INTERNAL
          && "Half-closed without a request".equals(status.getDescription())
          && backend.call(callId).messages().isEmpty()) {
        return HALF_CLOSE_RACES_HELD_MESSAGE;
      }
      if (status.getCode() == Status.Code.CANCELLED
          && "Failed to stream message".equals(status.getDescription())
          && status.getCause() instanceof StatusRuntimeException framing
          && framing.getStatus().getCode() == Status.Code.INTERNAL
          && "Failed to frame message".equals(framing.getStatus().getDescription())) {
        return HALF_CLOSE_RACES_HELD_MESSAGE;
      }
      return null;
    }
  }

  /**
   * Runs {@code attempt} with a new call id until it completes, retrying only a {@link
   * ClientDefect}, at most {@value #MAX_ATTEMPTS} times.
   */
  private static Completed withRetries(Attempt attempt) throws Exception {
    for (int i = 1; ; i++) {
      String callId = "call-" + nextCallId.incrementAndGet();
      attempts.incrementAndGet();
      try {
        return new Completed(callId, attempt.run(callId));
      } catch (StatusRuntimeException e) {
        ClientDefect defect = ClientDefect.of(e.getStatus(), callId);
        if (defect == null || i == MAX_ATTEMPTS) {
          throw e;
        }
        retries.incrementAndGet();
        synchronized (defects) {
          defects.computeIfAbsent(defect, unused -> new AtomicInteger()).incrementAndGet();
        }
        logger.info(
            "retrying {} after grpc-xds's client defect {}: {}", callId, defect, e.getStatus());
      }
    }
  }

  /**
   * Calls the backend's unary method: one message with {@code x-call-id} and, unless null, {@code
   * x-env}, then the half-close. Through a client-side descriptor of type BIDI_STREAMING (the wire
   * is the same), because grpc-xds 1.85.1 hangs the call when it is UNARY ({@link
   * #unaryDescriptor_grpcXds185HoldsTheMessageUntilTheDeadline}).
   */
  private static List<String> unary(
      Route route, String callId, String message, @Nullable String env) throws Exception {
    return call(route, callId, EchoBackend.UNARY_AS_STREAMING, List.of(message), env, 30);
  }

  /** A bidirectional-streaming call of {@code messages}. */
  private static List<String> bidi(Route route, String callId, List<String> messages)
      throws Exception {
    return call(route, callId, EchoBackend.BIDI, messages, null, 30);
  }

  /**
   * A call of {@code method}: sends every message of {@code messages}, half-closes, and returns
   * every message received, once the call completed.
   */
  private static List<String> call(
      Route route,
      String callId,
      MethodDescriptor<StringValue, StringValue> method,
      List<String> messages,
      @Nullable String env,
      int deadlineSeconds)
      throws Exception {
    Metadata headers = new Metadata();
    headers.put(EchoBackend.CALL_ID, callId);
    if (env != null) {
      headers.put(EchoBackend.ENV, env);
    }
    ClientCall<StringValue, StringValue> call =
        ClientInterceptors.intercept(
                channels.get(route), MetadataUtils.newAttachHeadersInterceptor(headers))
            .newCall(
                method, CallOptions.DEFAULT.withDeadlineAfter(deadlineSeconds, TimeUnit.SECONDS));
    List<String> received = new ArrayList<>();
    CompletableFuture<List<String>> done = new CompletableFuture<>();
    call.start(
        new ClientCall.Listener<>() {
          @Override
          public void onMessage(StringValue message) {
            received.add(message.getValue());
            call.request(1);
          }

          @Override
          public void onClose(Status status, Metadata trailers) {
            if (status.isOk()) {
              done.complete(List.copyOf(received));
            } else {
              done.completeExceptionally(status.asRuntimeException(trailers));
            }
          }
        },
        new Metadata());
    call.request(1);
    for (String message : messages) {
      call.sendMessage(StringValue.of(message));
    }
    call.halfClose();
    try {
      return done.get(deadlineSeconds + 30L, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      throw e.getCause() instanceof StatusRuntimeException failed ? failed : e;
    }
  }

  /**
   * Flow control over a whole call, from the recorded stream: the callout granted (field 14)
   * exactly the body bytes it received per direction, and the client reported (field 13) at most
   * the body bytes the callout sent per direction, and some of them: the call went on past its
   * first windows of 64 KiB.
   */
  private static void assertFlowControl(ExtProcRecorder.Stream stream) {
    List<ProcessingRequest> requests = stream.requests();
    List<ProcessingResponse> responses = stream.responses();
    long requestBytesIn =
        requests.stream().mapToLong(r -> r.getRequestBody().getBody().size()).sum();
    long responseBytesIn =
        requests.stream().mapToLong(r -> r.getResponseBody().getBody().size()).sum();
    long requestBytesOut = streamedBytes(responses, ProcessingResponse::getRequestBody);
    long responseBytesOut = streamedBytes(responses, ProcessingResponse::getResponseBody);
    assertThat(requestBytesIn).isGreaterThan(MIB);
    assertThat(responseBytesIn).isGreaterThan(MIB);
    assertThat(windowSum(responses, 14, 1)).isEqualTo(requestBytesIn);
    assertThat(windowSum(responses, 14, 2)).isEqualTo(responseBytesIn);
    assertThat(windowSum(requests, 13, 1)).isIn(Range.openClosed(64L * KIB, requestBytesOut));
    assertThat(windowSum(requests, 13, 2)).isIn(Range.openClosed(64L * KIB, responseBytesOut));
  }

  private static long streamedBytes(
      List<ProcessingResponse> responses, Function<ProcessingResponse, BodyResponse> body) {
    return responses.stream()
        .mapToLong(
            r ->
                body.apply(r)
                    .getResponse()
                    .getBodyMutation()
                    .getStreamedResponse()
                    .getBody()
                    .size())
        .sum();
  }

  // ---- Messages ----

  /** Message {@code index} of exactly {@code length} characters, distinct from every other. */
  private static String message(int index, int length) {
    StringBuilder message = new StringBuilder(length).append('m').append(index).append(':');
    for (int i = 0; message.length() < length; i++) {
      message.append((char) ('a' + (index + i) % 26));
    }
    return message.toString();
  }

  private static List<String> messages(int count, int length) {
    return IntStream.range(0, count).mapToObj(i -> message(i, length)).toList();
  }

  /**
   * Each message as its length, SHA-256 and first characters: as exact as the messages, but a
   * failure stays readable when they are megabytes long.
   */
  private static List<String> fingerprints(List<String> messages) {
    return messages.stream()
        .map(
            message ->
                message.length()
                    + " chars, sha256 "
                    + Hashing.sha256().hashString(message, StandardCharsets.UTF_8)
                    + ", "
                    + message.substring(0, Math.min(24, message.length()))
                    + "...")
        .toList();
  }

  // ---- The callouts ----

  /**
   * Appends {@link #REQUEST_MARK} to every request message and {@link #RESPONSE_MARK} to every
   * response message (each a {@link StringValue}), and sets {@code x-env: callout} on the request.
   */
  private static final class Transforming extends CalloutServer {
    Transforming() {
      super(calloutConfig());
    }

    @Override
    protected HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
      ctx.transformRequestBody(appending(REQUEST_MARK));
      return CalloutTools.addHeaderMutation(List.of(Map.entry(EchoBackend.ENV.name(), "callout")));
    }

    @Override
    protected @Nullable HeadersResponse onResponseHeaders(HttpHeaders headers, CalloutContext ctx) {
      ctx.transformResponseBody(appending(RESPONSE_MARK));
      return null;
    }

    /** Rewrites each gRPC message, one {@link StringValue}, into one with {@code mark} appended. */
    private static BodyTransformer appending(String mark) {
      return (message, out) -> out.write(StringValue.of(parse(message) + mark).toByteString());
    }

    private static String parse(ByteString message) {
      try {
        return StringValue.parseFrom(message).getValue();
      } catch (InvalidProtocolBufferException e) {
        throw Status.INVALID_ARGUMENT
            .withDescription("not a StringValue: " + e.getMessage())
            .asRuntimeException();
      }
    }
  }
}
