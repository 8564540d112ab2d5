package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.body;
import static dev.extproc.callout.testing.CalloutTester.headers;
import static dev.extproc.callout.testing.CalloutTester.trailers;

import com.google.protobuf.BoolValue;
import com.google.protobuf.ByteString;
import com.google.protobuf.Struct;
import com.google.protobuf.UnknownFieldSet;
import com.google.protobuf.Value;
import dev.extproc.callout.CalloutServerConfig.MutationPolicy;
import dev.extproc.callout.testing.CalloutTester;
import io.envoyproxy.envoy.config.core.v3.HeaderValue;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption.HeaderAppendAction;
import io.envoyproxy.envoy.config.core.v3.Metadata;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.HeaderSendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeaderMutation;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpTrailers;
import io.envoyproxy.envoy.service.ext_proc.v3.ImmediateResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.ProtocolConfiguration;
import io.envoyproxy.envoy.service.ext_proc.v3.TrailersResponse;
import io.envoyproxy.envoy.type.v3.HttpStatus;
import io.envoyproxy.envoy.type.v3.StatusCode;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Drives the stream engine in-process, exactly as Envoy would, and checks the exact replies. */
class CalloutServerTest {

  private final List<CalloutTester> testers = new ArrayList<>();
  private final List<Status.Code> ended = Collections.synchronizedList(new ArrayList<>());

  @AfterEach
  void closeTesters() {
    testers.forEach(CalloutTester::close);
  }

  private CalloutTester tester(CalloutServer callout) {
    CalloutTester tester = CalloutTester.of(callout);
    testers.add(tester);
    return tester;
  }

  /** A callout that records every stream end, and otherwise leaves every hook alone. */
  private class Recording extends CalloutServer {
    @Override
    protected void onStreamEnd(CalloutContext ctx, Status status) {
      ended.add(status.getCode());
    }
  }

  private static ProcessingRequest requestBodyMessage(String text, boolean endOfStream) {
    return ProcessingRequest.newBuilder().setRequestBody(body(text, endOfStream)).build();
  }

  @Test
  void everyPhase_hooksNotOverridden_repliesTypedContinue() {
    CalloutTester.Stream stream = tester(new Recording()).newStream();

    assertThat(stream.requestHeaders(headers(":path", "/")))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setRequestHeaders(HeadersResponse.getDefaultInstance())
                .build());
    assertThat(stream.requestBody(body("a", false)))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setRequestBody(BodyResponse.getDefaultInstance())
                .build());
    assertThat(stream.requestTrailers(trailers("t", "1")))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setRequestTrailers(TrailersResponse.getDefaultInstance())
                .build());
    assertThat(stream.responseHeaders(headers(":status", "200")))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setResponseHeaders(HeadersResponse.getDefaultInstance())
                .build());
    assertThat(stream.responseBody(body("b", false)))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setResponseBody(BodyResponse.getDefaultInstance())
                .build());
    assertThat(stream.responseTrailers(trailers("t", "2")))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setResponseTrailers(TrailersResponse.getDefaultInstance())
                .build());
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(stream.received()).hasSize(6);
    assertThat(ended).containsExactly(Status.Code.OK);
  }

  @Test
  void everyHook_returnsReply_sentInTheMatchingCase() {
    HeadersResponse reqHeaders = CalloutTools.addHeaderMutation(List.of(Map.entry("a", "1")));
    HeadersResponse respHeaders = CalloutTools.addHeaderMutation(List.of(Map.entry("b", "2")));
    BodyResponse reqBody = CalloutTools.addBodyMutation("req");
    BodyResponse respBody = CalloutTools.clearBodyMutation();
    TrailersResponse reqTrailers =
        TrailersResponse.newBuilder()
            .setHeaderMutation(HeaderMutation.newBuilder().addRemoveHeaders("x"))
            .build();
    TrailersResponse respTrailers =
        TrailersResponse.newBuilder()
            .setHeaderMutation(HeaderMutation.newBuilder().addRemoveHeaders("y"))
            .build();
    CalloutServer callout =
        new CalloutServer() {
          @Override
          protected HeadersResponse onRequestHeaders(HttpHeaders h, CalloutContext ctx) {
            return reqHeaders;
          }

          @Override
          protected HeadersResponse onResponseHeaders(HttpHeaders h, CalloutContext ctx) {
            return respHeaders;
          }

          @Override
          protected BodyResponse onRequestBody(HttpBody b, CalloutContext ctx) {
            return reqBody;
          }

          @Override
          protected BodyResponse onResponseBody(HttpBody b, CalloutContext ctx) {
            return respBody;
          }

          @Override
          protected TrailersResponse onRequestTrailers(HttpTrailers t, CalloutContext ctx) {
            return reqTrailers;
          }

          @Override
          protected TrailersResponse onResponseTrailers(HttpTrailers t, CalloutContext ctx) {
            return respTrailers;
          }
        };
    CalloutTester.Stream stream = tester(callout).newStream();

    assertThat(stream.requestHeaders(headers(":path", "/")))
        .isEqualTo(ProcessingResponse.newBuilder().setRequestHeaders(reqHeaders).build());
    assertThat(stream.requestBody(body("x", false)))
        .isEqualTo(ProcessingResponse.newBuilder().setRequestBody(reqBody).build());
    assertThat(stream.requestTrailers(trailers("t", "1")))
        .isEqualTo(ProcessingResponse.newBuilder().setRequestTrailers(reqTrailers).build());
    assertThat(stream.responseHeaders(headers(":status", "200")))
        .isEqualTo(ProcessingResponse.newBuilder().setResponseHeaders(respHeaders).build());
    assertThat(stream.responseBody(body("y", false)))
        .isEqualTo(ProcessingResponse.newBuilder().setResponseBody(respBody).build());
    assertThat(stream.responseTrailers(trailers("t", "2")))
        .isEqualTo(ProcessingResponse.newBuilder().setResponseTrailers(respTrailers).build());
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
  }

  @Test
  void requestHeaders_hookReturnsNull_repliesTypedContinue() {
    CalloutServer callout =
        new CalloutServer() {
          @Override
          protected @Nullable HeadersResponse onRequestHeaders(HttpHeaders h, CalloutContext c) {
            return null;
          }
        };
    CalloutTester.Stream stream = tester(callout).newStream();

    assertThat(stream.requestHeaders(headers(":path", "/")))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setRequestHeaders(HeadersResponse.getDefaultInstance())
                .build());
  }

  @Test
  void requestHeaders_respondImmediately_sendsItAndIgnoresLaterMessages() {
    AtomicInteger hookCalls = new AtomicInteger();
    ImmediateResponse denied =
        CalloutTools.headerImmediateResponse(403, List.of(Map.entry("x-why", "no")), "denied");
    CalloutServer callout =
        new Recording() {
          @Override
          protected HeadersResponse onRequestHeaders(HttpHeaders h, CalloutContext ctx) {
            hookCalls.incrementAndGet();
            ctx.respondImmediately(denied);
            return CalloutTools.addHeaderMutation(List.of(Map.entry("ignored", "yes")));
          }

          @Override
          protected @Nullable BodyResponse onRequestBody(HttpBody b, CalloutContext ctx) {
            hookCalls.incrementAndGet();
            return null;
          }
        };
    CalloutTester.Stream stream = tester(callout).newStream();

    assertThat(stream.requestHeaders(headers(":path", "/")))
        .isEqualTo(ProcessingResponse.newBuilder().setImmediateResponse(denied).build());
    stream.send(requestBodyMessage("late", true));
    stream.send(
        ProcessingRequest.newBuilder().setResponseHeaders(headers(":status", "200")).build());

    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(stream.received()).hasSize(1);
    assertThat(hookCalls.get()).isEqualTo(1);
  }

  @Test
  @SuppressWarnings("deprecation") // setAppend: the field Envoy reads
  void requestHeaders_respondImmediatelyWithDenyRequest_sendsTheHttpDenial() {
    CalloutServer callout =
        new Recording() {
          @Override
          protected @Nullable HeadersResponse onRequestHeaders(HttpHeaders h, CalloutContext ctx) {
            if (!CalloutTools.headersContain(h, "authorization")) {
              ctx.respondImmediately(CalloutTools.denyRequest(401, "No token."));
            }
            return null;
          }
        };
    CalloutTester.Stream stream = tester(callout).newStream();

    assertThat(stream.requestHeaders(headers(":path", "/")))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setImmediateResponse(
                    ImmediateResponse.newBuilder()
                        .setStatus(HttpStatus.newBuilder().setCode(StatusCode.Unauthorized))
                        .setHeaders(
                            HeaderMutation.newBuilder()
                                .addSetHeaders(
                                    HeaderValueOption.newBuilder()
                                        .setHeader(
                                            HeaderValue.newBuilder()
                                                .setKey("content-type")
                                                .setRawValue(
                                                    ByteString.copyFromUtf8(
                                                        "text/plain; charset=utf-8")))
                                        .setAppend(BoolValue.of(false))
                                        .setAppendAction(
                                            HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD)))
                        .setBody(ByteString.copyFromUtf8("No token.")))
                .build());
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(ended).containsExactly(Status.Code.OK);
  }

  @Test
  void requestBody_processReturnsImmediateResponse_isAccepted() {
    ImmediateResponse tooLarge = CalloutTools.headerImmediateResponse(413, List.of());
    CalloutServer callout =
        new CalloutServer() {
          @Override
          protected ProcessingResponse process(ProcessingRequest request, CalloutContext ctx) {
            return ProcessingResponse.newBuilder().setImmediateResponse(tooLarge).build();
          }
        };
    CalloutTester.Stream stream = tester(callout).newStream();
    stream.send(ProcessingRequest.newBuilder().setRequestHeaders(headers(":path", "/")).build());

    assertThat(stream.nextResponse())
        .isEqualTo(ProcessingResponse.newBuilder().setImmediateResponse(tooLarge).build());
  }

  @Test
  void requestTrailers_respondImmediately_endsStreamWithInternalNamingTheHook() {
    CalloutServer callout =
        new Recording() {
          @Override
          protected @Nullable TrailersResponse onRequestTrailers(
              HttpTrailers t, CalloutContext ctx) {
            ctx.respondImmediately(CalloutTools.headerImmediateResponse(403, List.of()));
            return null;
          }
        };
    CalloutTester.Stream stream = tester(callout).newStream();
    stream.send(ProcessingRequest.newBuilder().setRequestTrailers(trailers("t", "1")).build());

    Status status = stream.awaitClose();

    assertThat(status.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(status.getDescription())
        .isEqualTo(
            "onRequestTrailers failed: java.lang.IllegalStateException: immediate_response is not"
                + " allowed in reply to request_trailers");
    assertThat(stream.received()).isEmpty();
    assertThat(ended).containsExactly(Status.Code.INTERNAL);
  }

  @Test
  void respondImmediately_statusBelow200_endsStreamWithInternal() {
    ImmediateResponse bad =
        ImmediateResponse.newBuilder()
            .setStatus(HttpStatus.newBuilder().setCode(StatusCode.Continue))
            .build();
    CalloutServer callout =
        new CalloutServer() {
          @Override
          protected @Nullable HeadersResponse onRequestHeaders(HttpHeaders h, CalloutContext c) {
            c.respondImmediately(bad);
            return null;
          }
        };
    CalloutTester.Stream stream = tester(callout).newStream();
    stream.send(ProcessingRequest.newBuilder().setRequestHeaders(headers(":path", "/")).build());

    Status status = stream.awaitClose();

    assertThat(status.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(status.getDescription()).contains("httpStatus: 100 (expected: 200..599)");
  }

  @Test
  void requestHeaders_attachDynamicMetadata_mergedIntoReply() {
    Struct forwarding = CalloutTools.buildDynamicForwardingMetadata("10.1.10.2", 80);
    Struct other =
        Struct.newBuilder()
            .putFields(
                "my.ns",
                Value.newBuilder()
                    .setStructValue(
                        Struct.newBuilder()
                            .putFields("k", Value.newBuilder().setStringValue("v").build()))
                    .build())
            .build();
    CalloutServer callout =
        new CalloutServer() {
          @Override
          protected @Nullable HeadersResponse onRequestHeaders(HttpHeaders h, CalloutContext c) {
            c.attachDynamicMetadata(forwarding);
            c.attachDynamicMetadata(other);
            return null;
          }
        };
    CalloutTester.Stream stream = tester(callout).newStream();

    assertThat(stream.requestHeaders(headers(":path", "/")))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setRequestHeaders(HeadersResponse.getDefaultInstance())
                .setDynamicMetadata(forwarding.toBuilder().putAllFields(other.getFieldsMap()))
                .build());
    // Metadata belongs to its phase: the next reply carries none.
    assertThat(stream.responseHeaders(headers(":status", "200")).hasDynamicMetadata()).isFalse();
  }

  @Test
  void requestHeaders_hookThrowsStatusRuntimeException_endsStreamWithThatStatus() {
    CalloutServer callout =
        new Recording() {
          @Override
          protected HeadersResponse onRequestHeaders(HttpHeaders h, CalloutContext ctx) {
            throw CalloutTools.denyCallout();
          }
        };
    CalloutTester.Stream stream = tester(callout).newStream();
    stream.send(ProcessingRequest.newBuilder().setRequestHeaders(headers(":path", "/")).build());

    Status status = stream.awaitClose();

    assertThat(status.getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
    assertThat(status.getDescription()).isEqualTo("Callout DENIED.");
    assertThat(stream.received()).isEmpty();
  }

  @Test
  void requestBody_hookThrows_closesStreamWithInternalOnceAndIgnoresTheRest() {
    AtomicInteger bodyCalls = new AtomicInteger();
    CalloutServer callout =
        new Recording() {
          @Override
          protected BodyResponse onRequestBody(HttpBody b, CalloutContext ctx) {
            bodyCalls.incrementAndGet();
            throw new IllegalStateException("boom");
          }
        };
    CalloutTester.Stream stream = tester(callout).newStream();
    stream.requestHeaders(headers(":path", "/"));
    stream.send(requestBodyMessage("one", false));
    stream.send(requestBodyMessage("two", true));

    Status status = stream.awaitClose();

    assertThat(status.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(status.getDescription())
        .isEqualTo("onRequestBody failed: java.lang.IllegalStateException: boom");
    assertThat(stream.received()).hasSize(1);
    assertThat(bodyCalls.get()).isEqualTo(1);
    assertThat(ended).containsExactly(Status.Code.INTERNAL);
  }

  @Test
  void process_returnsMismatchedCase_endsStreamWithInternalNamingProcess() {
    CalloutServer callout =
        new CalloutServer() {
          @Override
          protected ProcessingResponse process(ProcessingRequest request, CalloutContext ctx) {
            return ProcessingResponse.newBuilder()
                .setResponseHeaders(HeadersResponse.getDefaultInstance())
                .build();
          }
        };
    CalloutTester.Stream stream = tester(callout).newStream();
    stream.send(ProcessingRequest.newBuilder().setRequestHeaders(headers(":path", "/")).build());

    Status status = stream.awaitClose();

    assertThat(status.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(status.getDescription())
        .isEqualTo(
            "process (request_headers) failed: java.lang.IllegalStateException: returned"
                + " response_headers in reply to request_headers (expected: request_headers or"
                + " immediate_response)");
  }

  @Test
  void process_returnsEmptyResponse_endsStreamWithInternal() {
    CalloutServer callout =
        new CalloutServer() {
          @Override
          protected ProcessingResponse process(ProcessingRequest request, CalloutContext ctx) {
            return ProcessingResponse.getDefaultInstance();
          }
        };
    CalloutTester.Stream stream = tester(callout).newStream();
    stream.send(ProcessingRequest.newBuilder().setResponseTrailers(trailers()).build());

    Status status = stream.awaitClose();

    assertThat(status.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(status.getDescription())
        .contains(
            "returned a ProcessingResponse with no response case in reply to response_trailers"
                + " (expected: response_trailers)");
  }

  @Test
  void observabilityMode_hooksRunButNothingIsSent() {
    AtomicInteger hookCalls = new AtomicInteger();
    CalloutServer callout =
        new Recording() {
          @Override
          protected HeadersResponse onRequestHeaders(HttpHeaders h, CalloutContext ctx) {
            assertThat(ctx.isObservabilityMode()).isTrue();
            assertThat(ctx.protocolConfig()).isEmpty();
            hookCalls.incrementAndGet();
            ctx.respondImmediately(CalloutTools.headerImmediateResponse(403, List.of()));
            return CalloutTools.addHeaderMutation(List.of(Map.entry("a", "b")));
          }

          @Override
          protected BodyResponse onRequestBody(HttpBody b, CalloutContext ctx) {
            hookCalls.incrementAndGet();
            return CalloutTools.addBodyMutation("x");
          }
        };
    CalloutTester.Stream stream = tester(callout).newObservabilityStream();
    stream.send(ProcessingRequest.newBuilder().setRequestHeaders(headers(":path", "/")).build());
    stream.send(requestBodyMessage("body", true));

    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(stream.received()).isEmpty();
    assertThat(hookCalls.get()).isEqualTo(2);
    assertThat(ended).containsExactly(Status.Code.OK);
  }

  @Test
  void messageWithoutRequestCase_getsNoReplyAndStreamStaysHealthy() {
    CalloutTester.Stream stream = tester(new Recording()).newStream();
    stream.send(ProcessingRequest.getDefaultInstance());
    // A future flow-control message: only unknown field 13 (client_window_update).
    stream.send(
        ProcessingRequest.newBuilder()
            .setUnknownFields(
                UnknownFieldSet.newBuilder()
                    .addField(
                        13,
                        UnknownFieldSet.Field.newBuilder()
                            .addLengthDelimited(ByteString.copyFrom(new byte[] {8, 1}))
                            .build())
                    .build())
            .build());

    assertThat(stream.requestHeaders(headers(":path", "/")))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setRequestHeaders(HeadersResponse.getDefaultInstance())
                .build());
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
    assertThat(stream.received()).hasSize(1);
  }

  @Test
  void streamedChunks_sentPipelined_repliesInOrder() {
    CalloutServer callout =
        new CalloutServer() {
          @Override
          protected BodyResponse onRequestBody(HttpBody b, CalloutContext ctx) {
            return CalloutTools.addBodyMutation(
                b.getBody().toStringUtf8().toUpperCase(java.util.Locale.ROOT));
          }
        };
    CalloutTester.Stream stream =
        tester(callout)
            .newStream(
                ProtocolConfiguration.newBuilder()
                    .setRequestBodyMode(BodySendMode.STREAMED)
                    .build());
    stream.send(ProcessingRequest.newBuilder().setRequestHeaders(headers(":path", "/")).build());
    for (int i = 0; i < 50; i++) {
      stream.send(requestBodyMessage("chunk" + i, i == 49));
    }

    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
    List<ProcessingResponse> replies = stream.received();
    assertThat(replies).hasSize(51);
    assertThat(replies.get(0).hasRequestHeaders()).isTrue();
    for (int i = 0; i < 50; i++) {
      assertThat(replies.get(i + 1))
          .isEqualTo(
              ProcessingResponse.newBuilder()
                  .setRequestBody(CalloutTools.addBodyMutation("CHUNK" + i))
                  .build());
    }
  }

  @Test
  void blockingHook_doesNotStallOtherStreams() throws Exception {
    CountDownLatch release = new CountDownLatch(1);
    CalloutServer callout =
        new CalloutServer() {
          @Override
          protected @Nullable HeadersResponse onRequestHeaders(HttpHeaders h, CalloutContext c) {
            if (CalloutTools.headersContain(h, "x-block")) {
              try {
                release.await(10, TimeUnit.SECONDS);
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            }
            return null;
          }
        };
    CalloutTester tester = tester(callout);
    CalloutTester.Stream blocked = tester.newStream();
    blocked.send(ProcessingRequest.newBuilder().setRequestHeaders(headers("x-block", "1")).build());

    CalloutTester.Stream other = tester.newStream();
    assertThat(other.requestHeaders(headers(":path", "/")).hasRequestHeaders()).isTrue();
    assertThat(blocked.received()).isEmpty();

    release.countDown();
    assertThat(blocked.nextResponse().hasRequestHeaders()).isTrue();
  }

  @Test
  void context_carriesStateHeadersAttributesAndMetadataAcrossPhases() {
    CalloutContext.Key<String> pathKey = CalloutContext.Key.of("path");
    Struct requestAttrs =
        Struct.newBuilder()
            .putFields("request.path", Value.newBuilder().setStringValue("/a").build())
            .build();
    Struct responseAttrs =
        Struct.newBuilder()
            .putFields("response.code", Value.newBuilder().setNumberValue(200).build())
            .build();
    Metadata metadata =
        Metadata.newBuilder()
            .putFilterMetadata(
                "com.google.x",
                Struct.newBuilder()
                    .putFields("k", Value.newBuilder().setStringValue("v").build())
                    .build())
            .build();
    List<String> seen = Collections.synchronizedList(new ArrayList<>());
    CalloutServer callout =
        new CalloutServer() {
          @Override
          protected @Nullable HeadersResponse onRequestHeaders(HttpHeaders h, CalloutContext c) {
            c.put(pathKey, CalloutTools.headerValue(h, ":path").orElseThrow());
            seen.add("stream " + c.streamId() + " peer " + c.peerAddress().isPresent());
            seen.add("mode " + c.protocolConfig().orElseThrow().getRequestBodyMode());
            seen.add("reqAttrs " + c.requestAttributes().keySet());
            seen.add("meta " + c.metadataContext().getFilterMetadataMap().keySet());
            seen.add("attr " + c.requestAttribute("request.path").orElseThrow().getStringValue());
            seen.add(
                "ns " + c.forwardedMetadata("com.google.x").orElseThrow().getFieldsMap().keySet());
            seen.add("absent " + c.forwardedMetadata("other").isPresent());
            return null;
          }

          @Override
          protected @Nullable HeadersResponse onResponseHeaders(HttpHeaders h, CalloutContext c) {
            seen.add("path " + c.get(pathKey).orElse("none"));
            seen.add(
                "requestHeaders "
                    + CalloutTools.headerValue(c.requestHeaders().orElseThrow(), ":path")
                        .orElseThrow());
            seen.add("reqAttrs " + c.requestAttributes().keySet());
            seen.add("respAttrs " + c.responseAttributes().keySet());
            seen.add("code " + c.responseAttribute("response.code").orElseThrow().getNumberValue());
            seen.add("mode " + c.protocolConfig().orElseThrow().getRequestBodyMode());
            return null;
          }
        };
    CalloutTester.Stream stream =
        tester(callout)
            .newStream(
                ProtocolConfiguration.newBuilder()
                    .setRequestBodyMode(BodySendMode.BUFFERED)
                    .build());
    stream.exchange(
        ProcessingRequest.newBuilder()
            .setRequestHeaders(headers(":path", "/a"))
            .putAttributes("envoy.filters.http.ext_proc", requestAttrs)
            .setMetadataContext(metadata)
            .build());
    stream.exchange(
        ProcessingRequest.newBuilder()
            .setResponseHeaders(headers(":status", "200"))
            .putAttributes("envoy.filters.http.ext_proc", responseAttrs)
            .build());

    assertThat(seen)
        .containsExactly(
            "stream 1 peer true",
            "mode BUFFERED",
            "reqAttrs [envoy.filters.http.ext_proc]",
            "meta [com.google.x]",
            "attr /a",
            "ns [k]",
            "absent false",
            "path /a",
            "requestHeaders /a",
            "reqAttrs [envoy.filters.http.ext_proc]",
            "respAttrs [envoy.filters.http.ext_proc]",
            "code 200.0",
            "mode BUFFERED")
        .inOrder();
  }

  @Test
  void contextActions_outsideHook_throwIllegalState() {
    CalloutContext ctx = new CalloutContext(1, null, io.grpc.Context.ROOT);

    IllegalStateException e =
        org.junit.jupiter.api.Assertions.assertThrows(
            IllegalStateException.class,
            () -> ctx.attachDynamicMetadata(Struct.getDefaultInstance()));

    assertThat(e).hasMessageThat().contains("only a hook may call this");
  }

  @Test
  void overrideMode_calledTwiceInOnePhase_accumulatesForThatPhaseOnly() {
    CalloutServer callout =
        new CalloutServer() {
          @Override
          protected @Nullable HeadersResponse onRequestHeaders(HttpHeaders h, CalloutContext c) {
            c.overrideMode(mode -> mode.setResponseBodyMode(BodySendMode.NONE));
            c.overrideMode(mode -> mode.setResponseTrailerMode(HeaderSendMode.SEND));
            return null;
          }
        };
    CalloutTester.Stream stream =
        tester(callout)
            .newStream(
                ProtocolConfiguration.newBuilder()
                    .setRequestBodyMode(BodySendMode.STREAMED)
                    .setResponseBodyMode(BodySendMode.BUFFERED)
                    .build());

    assertThat(stream.requestHeaders(headers(":path", "/")))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setRequestHeaders(HeadersResponse.getDefaultInstance())
                .setModeOverride(
                    ProcessingMode.newBuilder()
                        .setRequestBodyMode(BodySendMode.STREAMED)
                        .setResponseBodyMode(BodySendMode.NONE)
                        .setResponseTrailerMode(HeaderSendMode.SEND))
                .build());
    assertThat(stream.responseHeaders(headers(":status", "200")))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setResponseHeaders(HeadersResponse.getDefaultInstance())
                .build());
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
  }

  /** Sets {@code x-envoy-foo} and {@code ok} on request headers. */
  private static class EnvoyHeaderCallout extends CalloutServer {
    EnvoyHeaderCallout(CalloutServerConfig config) {
      super(config);
    }

    @Override
    protected HeadersResponse onRequestHeaders(HttpHeaders h, CalloutContext ctx) {
      return CalloutTools.clearRouteCache(
          CalloutTools.addHeaderMutation(
              List.of(Map.entry("x-envoy-foo", "1"), Map.entry("ok", "2"))));
    }
  }

  @Test
  void mutationGuard_reject_endsStreamWithInternalNamingTheHeader() {
    CalloutTester.Stream stream =
        tester(new EnvoyHeaderCallout(CalloutServerConfig.defaults())).newStream();
    stream.send(ProcessingRequest.newBuilder().setRequestHeaders(headers(":path", "/")).build());

    Status status = stream.awaitClose();

    assertThat(status.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(status.getDescription()).contains("\"x-envoy-foo\"");
    assertThat(status.getDescription()).doesNotContain("\"ok\"");
  }

  @Test
  void mutationGuard_dropOrAllowed_sendsTheRest() {
    CalloutTester.Stream dropped =
        tester(
                new EnvoyHeaderCallout(
                    CalloutServerConfig.newBuilder().mutationPolicy(MutationPolicy.DROP).build()))
            .newStream();
    assertThat(dropped.requestHeaders(headers(":path", "/")))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setRequestHeaders(
                    CalloutTools.clearRouteCache(
                        CalloutTools.addHeaderMutation(List.of(Map.entry("ok", "2")))))
                .build());

    CalloutTester.Stream allowed =
        tester(
                new EnvoyHeaderCallout(
                    CalloutServerConfig.newBuilder().allowMutationOf("x-envoy-foo").build()))
            .newStream();
    assertThat(allowed.requestHeaders(headers(":path", "/")).getRequestHeaders())
        .isEqualTo(
            CalloutTools.clearRouteCache(
                CalloutTools.addHeaderMutation(
                    List.of(Map.entry("x-envoy-foo", "1"), Map.entry("ok", "2")))));
  }

  @Test
  void onStreamStart_throws_endsStreamWithInternal() {
    CalloutServer callout =
        new Recording() {
          @Override
          protected void onStreamStart(CalloutContext ctx) {
            throw new IllegalArgumentException("no");
          }
        };
    CalloutTester.Stream stream = tester(callout).newStream();
    stream.send(ProcessingRequest.newBuilder().setRequestHeaders(headers(":path", "/")).build());

    Status status = stream.awaitClose();

    assertThat(status.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(status.getDescription())
        .isEqualTo("onStreamStart failed: java.lang.IllegalArgumentException: no");
    assertThat(ended).containsExactly(Status.Code.INTERNAL);
  }
}
