package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static com.google.common.truth.extensions.proto.ProtoTruth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.body;
import static dev.extproc.callout.testing.CalloutTester.headers;
import static dev.extproc.callout.testing.CalloutTester.headersEndOfStream;
import static dev.extproc.callout.testing.CalloutTester.trailers;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.Duration;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.StringValue;
import com.google.protobuf.Struct;
import com.google.protobuf.UnknownFieldSet;
import com.google.protobuf.Value;
import dev.extproc.callout.testing.CalloutExtension;
import dev.extproc.callout.testing.CalloutTester;
import dev.extproc.callout.testing.Replies;
import io.envoyproxy.envoy.config.core.v3.Metadata;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.CommonResponse;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Conformance cases 60 to 69: the deferred headers reply of FULL_DUPLEX_STREAMED mode, {@code
 * content-length} in every body mode, typed dynamic metadata out and in, and attributes in both
 * clients' layouts (README, "Protocol"). Each case drives the real server over a loopback socket
 * exactly as Envoy (or grpc-java's proxyless client) would and asserts the exact replies; the newer
 * field {@code typed_dynamic_metadata} (13) is read back by number with {@link UnknownFieldSet},
 * never through the framework's own overlay classes.
 *
 * <p>One callout serves every case: its hooks pick their behaviour from the request's {@code
 * :path}.
 */
class BodyLengthAndMetadataConformanceTest {

  /** The body bound of the callout under test (--max-buffered-body-size). */
  private static final int BOUND = 1024;

  private static final List<Object> seen = Collections.synchronizedList(new ArrayList<>());

  @RegisterExtension
  static final CalloutExtension<Scenarios> callout =
      CalloutExtension.plaintext(
          config -> new Scenarios(config.toBuilder().maxBufferedBodySize(BOUND).build()));

  @BeforeEach
  void clearSeen() {
    seen.clear();
  }

  /** The callout: what each hook does depends on the request's {@code :path}. */
  static final class Scenarios extends CalloutServer {
    Scenarios(CalloutServerConfig config) {
      super(config);
    }

    private static String path(CalloutContext ctx) {
      return ctx.requestHeaders().flatMap(h -> CalloutTools.headerValue(h, ":path")).orElse("");
    }

    @Override
    protected @Nullable HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
      switch (path(ctx)) {
        case "/defer-transform" -> {
          ctx.deferHeadersReply();
          ctx.transformRequestBody(
              new BodyTransformer() {
                @Override
                public void onChunk(ByteString chunk, Sink out) {
                  out.write(ByteString.copyFromUtf8(chunk.toStringUtf8().toUpperCase(Locale.ROOT)));
                }

                @Override
                public void onEnd(Sink out) {
                  out.write(ByteString.copyFromUtf8("!"));
                  ctx.mutateDeferredHeaders(set("x-body-checked", "yes"));
                }
              });
          return headersReply(set("x-decided", "early"));
        }
        case "/defer", "/over-bound", "/defer-typed" -> {
          if (path(ctx).equals("/defer-typed")) {
            ctx.attachTypedMetadata("ns.headers", StringValue.of("held"));
          }
          ctx.deferHeadersReply();
          return null;
        }
        case "/transform", "/transform-own-length" -> {
          ctx.transformRequestBody(BodyTransformer.whole(b -> b.concat(b)));
          return path(ctx).equals("/transform") ? null : headersReply(set("content-length", "8"));
        }
        case "/typed" -> {
          ctx.attachTypedMetadata("ns.a", StringValue.of("first"));
          ctx.attachTypedMetadata("ns.b", Any.pack(Duration.newBuilder().setSeconds(7).build()));
          ctx.attachTypedMetadata("ns.a", StringValue.of("second"));
          return null;
        }
        case "/typed-deny" -> {
          ctx.attachTypedMetadata("ns.deny", StringValue.of("why"));
          ctx.respondImmediately(
              ImmediateResponse.newBuilder()
                  .setStatus(HttpStatus.newBuilder().setCode(StatusCode.Forbidden))
                  .build());
          return null;
        }
        case "/typed-fds" -> {
          ctx.transformRequestBody(
              new BodyTransformer() {
                private ByteString held = ByteString.EMPTY;

                @Override
                public void onChunk(ByteString chunk, Sink out) {
                  ctx.attachTypedMetadata("ns.chunk", StringValue.of(chunk.toStringUtf8()));
                  held = held.concat(chunk);
                }

                @Override
                public void onEnd(Sink out) {
                  out.write(held);
                }
              });
          return null;
        }
        case "/forwarded" -> {
          seen.add(ctx.forwardedTypedMetadata("ns.in"));
          seen.add(ctx.forwardedTypedMetadata("ns.in", StringValue.class));
          seen.add(ctx.forwardedTypedMetadata("ns.absent", StringValue.class));
          try {
            ctx.forwardedTypedMetadata("ns.in", Duration.class);
          } catch (IllegalArgumentException e) {
            seen.add(e.getMessage());
          }
          return null;
        }
        case "/attributes" -> {
          for (String name : List.of("request.path", "request.method", "request.headers", "x")) {
            seen.add(ctx.requestAttribute(name));
          }
          return null;
        }
        default -> {
          if (path(ctx).startsWith("/defer-")) {
            ctx.deferHeadersReply(); // refused outside FULL_DUPLEX_STREAMED
          }
          return null;
        }
      }
    }

    @Override
    protected @Nullable BodyResponse onRequestBody(HttpBody body, CalloutContext ctx) {
      switch (path(ctx)) {
        case "/replace" -> {
          return CalloutTools.addBodyMutation(body.getBody().concat(body.getBody()));
        }
        case "/replace-remove-length" -> {
          BodyResponse replaced = CalloutTools.addBodyMutation("x");
          return replaced.toBuilder()
              .setResponse(
                  replaced.getResponse().toBuilder()
                      .setHeaderMutation(
                          HeaderMutation.newBuilder().addRemoveHeaders("content-length")))
              .build();
        }
        case "/mutate-unheld" -> {
          ctx.mutateDeferredHeaders(set("x-late", "1"));
          return null;
        }
        default -> {
          return null;
        }
      }
    }

    @Override
    protected @Nullable HeadersResponse onResponseHeaders(HttpHeaders headers, CalloutContext ctx) {
      if (path(ctx).equals("/defer-response")) {
        ctx.deferHeadersReply();
      }
      return null;
    }

    @Override
    protected @Nullable BodyResponse onResponseBody(HttpBody body, CalloutContext ctx) {
      if (!path(ctx).equals("/defer-response")) {
        return null;
      }
      if (body.getBody().toStringUtf8().equals("a")) {
        ctx.mutateDeferredHeaders(HeaderMutation.newBuilder().addRemoveHeaders("etag").build());
      }
      return CalloutTools.addBodyMutation("[" + body.getBody().toStringUtf8() + "]");
    }

    @Override
    protected @Nullable TrailersResponse onResponseTrailers(
        HttpTrailers trailers, CalloutContext ctx) {
      return TrailersResponse.newBuilder().setHeaderMutation(set("x-t", "1")).build();
    }
  }

  // ---- Messages ----

  private static final ProtocolConfiguration FULL_DUPLEX = modes(BodySendMode.FULL_DUPLEX_STREAMED);
  private static final ProtocolConfiguration STREAMED = modes(BodySendMode.STREAMED);
  private static final ProtocolConfiguration BUFFERED = modes(BodySendMode.BUFFERED);

  private static ProtocolConfiguration modes(BodySendMode mode) {
    return ProtocolConfiguration.newBuilder()
        .setRequestBodyMode(mode)
        .setResponseBodyMode(mode)
        .build();
  }

  private static HeaderMutation set(String key, String value) {
    return HeaderMutation.newBuilder().addSetHeaders(Replies.set(key, value)).build();
  }

  private static ProcessingResponse streamed(boolean request, String text, boolean eos) {
    return Replies.streamed(request, ByteString.copyFromUtf8(text), eos);
  }

  private static final ProcessingResponse CONTINUE_REQUEST_HEADERS =
      Replies.continueRequestHeaders();

  private static HeadersResponse headersReply(HeaderMutation mutation) {
    return HeadersResponse.newBuilder()
        .setResponse(CommonResponse.newBuilder().setHeaderMutation(mutation))
        .build();
  }

  private static ProcessingRequest requestHeaders(HttpHeaders headers) {
    return ProcessingRequest.newBuilder().setRequestHeaders(headers).build();
  }

  private static ProcessingRequest requestChunk(String text, boolean endOfStream) {
    return ProcessingRequest.newBuilder().setRequestBody(body(text, endOfStream)).build();
  }

  private static ProcessingRequest responseChunk(String text, boolean endOfStream) {
    return ProcessingRequest.newBuilder().setResponseBody(body(text, endOfStream)).build();
  }

  /** A request body reply replacing the body with {@code text} and mutating the headers. */
  private static ProcessingResponse replacedBody(String text, HeaderMutation mutation) {
    ProcessingResponse.Builder reply =
        Replies.requestBody(ByteString.copyFromUtf8(text)).toBuilder();
    reply.getRequestBodyBuilder().getResponseBuilder().setHeaderMutation(mutation);
    return reply.build();
  }

  /**
   * {@code typed_dynamic_metadata} (field 13, {@code map<string, Any>}) of {@code reply}, decoded
   * by number: each map entry is a message with the key in field 1 and the {@code Any} in field 2.
   */
  private static Map<String, Any> typedMetadataByNumber(ProcessingResponse reply)
      throws InvalidProtocolBufferException {
    Map<String, Any> metadata = new LinkedHashMap<>();
    UnknownFieldSet.Field field = reply.getUnknownFields().getField(13);
    for (ByteString entry : field.getLengthDelimitedList()) {
      UnknownFieldSet parsed = UnknownFieldSet.parseFrom(entry);
      String key = parsed.getField(1).getLengthDelimitedList().get(0).toStringUtf8();
      metadata.put(key, Any.parseFrom(parsed.getField(2).getLengthDelimitedList().get(0)));
    }
    return metadata;
  }

  /** {@code reply} without its unknown fields, for comparing what API 1.0.49 declares. */
  private static ProcessingResponse declaredFields(ProcessingResponse reply) {
    return reply.toBuilder().setUnknownFields(UnknownFieldSet.getDefaultInstance()).build();
  }

  // ---- Deferred headers reply (FULL_DUPLEX_STREAMED) ----

  @Test
  void case60_deferredHeaders_headersReplyFirstWithContentLengthThenBody() {
    CalloutTester.Stream stream = callout.newStream(FULL_DUPLEX);
    stream.send(
        requestHeaders(
            headers(":method", "POST", ":path", "/defer-transform", "content-length", "10")));
    stream.send(requestChunk("hello", false));
    stream.send(requestChunk("world", true));

    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
    // Nothing went out before the body ended: the headers reply comes first, with the header the
    // transformer added at the end and content-length of the 11 bytes sent on, then the body.
    assertThat(stream.received())
        .containsExactly(
            Replies.requestHeaders(
                Replies.mutation(
                    Replies.sets(
                        Replies.set("x-decided", "early"),
                        Replies.set("x-body-checked", "yes"),
                        Replies.set("content-length", "11"))),
                false),
            streamed(true, "HELLOWORLD!", true))
        .inOrder();
  }

  @Test
  void case61_deferredResponseHeaders_withTrailers_headersBodyTrailersInOrder() {
    CalloutTester.Stream stream = callout.newStream(FULL_DUPLEX);
    assertThat(
            stream.requestHeaders(headersEndOfStream(":method", "GET", ":path", "/defer-response")))
        .isEqualTo(CONTINUE_REQUEST_HEADERS);
    stream.send(
        ProcessingRequest.newBuilder()
            .setResponseHeaders(headers(":status", "200", "content-length", "2", "etag", "\"v1\""))
            .build());
    stream.send(responseChunk("a", false));
    stream.send(responseChunk("b", false));
    stream.send(
        ProcessingRequest.newBuilder().setResponseTrailers(trailers("grpc-status", "0")).build());

    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
    // The body hook's per-chunk output is held, then sent after the headers reply, unmarked (the
    // trailers end the body), then the trailers reply.
    assertThat(stream.received())
        .containsExactly(
            CONTINUE_REQUEST_HEADERS,
            Replies.responseHeaders(
                Replies.mutation(Replies.sets(Replies.set("content-length", "6")), "etag")),
            streamed(false, "[a][b]", false),
            ProcessingResponse.newBuilder()
                .setResponseTrailers(
                    TrailersResponse.newBuilder().setHeaderMutation(set("x-t", "1")))
                .build())
        .inOrder();
  }

  @Test
  void case62_deferredHeaders_bodyOverTheBound_resourceExhaustedNamingTheFlag() {
    CalloutTester.Stream stream = callout.newStream(FULL_DUPLEX);
    stream.send(requestHeaders(headers(":method", "POST", ":path", "/over-bound")));
    String half = "x".repeat(BOUND / 2);
    stream.send(requestChunk(half, false));
    stream.send(requestChunk(half, false)); // exactly the bound: still held
    stream.send(requestChunk("y", false)); // one byte over

    Status status = stream.awaitClose();
    assertThat(status.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
    assertThat(status.getDescription())
        .isEqualTo(
            "request body larger than the 1024 bytes held back for a deferred headers reply"
                + " (--max-buffered-body-size)");
    assertThat(stream.received()).isEmpty();
  }

  @Test
  void case63_deferHeadersReply_noBodyAnsweredAtOnce_refusedOutsideFullDuplex() {
    // Headers that end the stream: no body will come, so the reply goes at once.
    CalloutTester.Stream noBody = callout.newStream(FULL_DUPLEX);
    assertThat(noBody.requestHeaders(headersEndOfStream(":method", "GET", ":path", "/defer")))
        .isEqualTo(CONTINUE_REQUEST_HEADERS);
    assertThat(noBody.halfClose().getCode()).isEqualTo(Status.Code.OK);

    // Another body mode: the hook's call throws, naming the mode, and the stream ends INTERNAL.
    CalloutTester.Stream streamed = callout.newStream(STREAMED);
    streamed.send(requestHeaders(headers(":method", "POST", ":path", "/defer-streamed")));
    Status refused = streamed.awaitClose();
    assertThat(refused.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(refused.getDescription())
        .isEqualTo(
            "onRequestHeaders failed: java.lang.IllegalStateException: deferring the"
                + " request_headers reply needs body mode FULL_DUPLEX_STREAMED (the request body"
                + " mode is STREAMED)");

    // GRPC (5), which API 1.0.49 reads as UNRECOGNIZED, is named as GRPC.
    CalloutTester.Stream grpc =
        callout.newStream(
            ProtocolConfiguration.newBuilder()
                .setRequestBodyModeValue(5)
                .setResponseBodyModeValue(5)
                .build());
    grpc.send(requestHeaders(headers(":method", "POST", ":path", "/defer-grpc")));
    assertThat(grpc.awaitClose().getDescription()).endsWith("(the request body mode is GRPC)");

    // Adding to a held reply when none is held: refused, naming what to do.
    CalloutTester.Stream unheld = callout.newStream(FULL_DUPLEX);
    assertThat(unheld.requestHeaders(headers(":method", "POST", ":path", "/mutate-unheld")))
        .isEqualTo(CONTINUE_REQUEST_HEADERS);
    unheld.send(requestChunk("a", true));
    Status notHeld = unheld.awaitClose();
    assertThat(notHeld.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(notHeld.getDescription())
        .isEqualTo(
            "onRequestBody failed: java.lang.IllegalStateException: no request headers reply is"
                + " held (in request_body): call deferHeadersReply() in the headers hook, and"
                + " mutate it before the body ends");
  }

  // ---- content-length in every body mode ----

  @Test
  void case64_contentLength_fullDuplexTransformer_removedFromHeadersReplyUnlessTheHookSetIt() {
    // A transformer may change the length and the headers reply goes before the body: removed.
    CalloutTester.Stream removed = callout.newStream(FULL_DUPLEX);
    assertThat(
            removed.requestHeaders(
                headers(":method", "POST", ":path", "/transform", "content-length", "4")))
        .isEqualTo(
            Replies.requestHeaders(Replies.mutation(Replies.sets(), "content-length"), false));
    assertThat(removed.exchange(requestChunk("abcd", true)))
        .isEqualTo(streamed(true, "abcdabcd", true));
    assertThat(removed.halfClose().getCode()).isEqualTo(Status.Code.OK);

    // The hook declared the length itself: left as it is.
    CalloutTester.Stream own = callout.newStream(FULL_DUPLEX);
    assertThat(
            own.requestHeaders(
                headers(
                    ":method", "POST", ":path", "/transform-own-length", "content-length", "4")))
        .isEqualTo(Replies.requestHeaders(set("content-length", "8"), false));
    assertThat(own.halfClose().getCode()).isEqualTo(Status.Code.OK);

    // No content-length (chunked, or HTTP/2 without one), or no body: nothing to remove.
    CalloutTester.Stream none = callout.newStream(FULL_DUPLEX);
    assertThat(none.requestHeaders(headers(":method", "POST", ":path", "/transform")))
        .isEqualTo(CONTINUE_REQUEST_HEADERS);
    assertThat(none.halfClose().getCode()).isEqualTo(Status.Code.OK);
    CalloutTester.Stream noBody = callout.newStream(FULL_DUPLEX);
    assertThat(
            noBody.requestHeaders(
                headersEndOfStream(":method", "GET", ":path", "/transform", "content-length", "0")))
        .isEqualTo(CONTINUE_REQUEST_HEADERS);
    assertThat(noBody.halfClose().getCode()).isEqualTo(Status.Code.OK);
  }

  @Test
  void case65_contentLength_streamedAndFullDuplexBodyHook_leftToEnvoy() {
    // STREAMED: the headers reply leaves before any chunk, and Envoy removes content-length itself
    // (unless allow_content_length_header): the framework writes nothing about it.
    CalloutTester.Stream streamed = callout.newStream(STREAMED);
    assertThat(
            streamed.requestHeaders(
                headers(":method", "POST", ":path", "/replace", "content-length", "2")))
        .isEqualTo(CONTINUE_REQUEST_HEADERS);
    assertThat(streamed.requestBody(body("ab", true)))
        .isEqualTo(Replies.requestBody(ByteString.copyFromUtf8("abab")));
    assertThat(streamed.halfClose().getCode()).isEqualTo(Status.Code.OK);

    // FULL_DUPLEX_STREAMED with a body hook that changes the length, headers not deferred: the
    // framework cannot know before the body, so the headers reply is left as the hook returned it.
    CalloutTester.Stream hook = callout.newStream(FULL_DUPLEX);
    assertThat(
            hook.requestHeaders(
                headers(":method", "POST", ":path", "/replace", "content-length", "2")))
        .isEqualTo(CONTINUE_REQUEST_HEADERS);
    assertThat(hook.exchange(requestChunk("ab", true))).isEqualTo(streamed(true, "abab", true));
    assertThat(hook.halfClose().getCode()).isEqualTo(Status.Code.OK);
  }

  @Test
  void case66_contentLength_buffered_setInTheBodyReplyUnlessTheHookSetOrRemovedIt() {
    CalloutTester.Stream changed = callout.newStream(BUFFERED);
    assertThat(
            changed.requestHeaders(
                headers(":method", "POST", ":path", "/replace", "content-length", "3")))
        .isEqualTo(CONTINUE_REQUEST_HEADERS);
    assertThat(changed.requestBody(body("abc", true)))
        .isEqualTo(replacedBody("abcabc", set("content-length", "6")));
    assertThat(changed.halfClose().getCode()).isEqualTo(Status.Code.OK);

    CalloutTester.Stream removedByHook = callout.newStream(BUFFERED);
    assertThat(
            removedByHook.requestHeaders(
                headers(
                    ":method", "POST", ":path", "/replace-remove-length", "content-length", "3")))
        .isEqualTo(CONTINUE_REQUEST_HEADERS);
    assertThat(removedByHook.requestBody(body("abc", true)))
        .isEqualTo(
            replacedBody(
                "x", HeaderMutation.newBuilder().addRemoveHeaders("content-length").build()));
    assertThat(removedByHook.halfClose().getCode()).isEqualTo(Status.Code.OK);
  }

  // ---- Typed dynamic metadata ----

  @Test
  void case67_typedMetadataOut_field13OnTheReply_heldChunkOrDeferredReplyCarriesItLater()
      throws Exception {
    // Headers reply: calls add up, a namespace given twice keeps the last value, an Any is kept.
    CalloutTester.Stream headersOnly = callout.newStream(FULL_DUPLEX);
    ProcessingResponse reply =
        headersOnly.requestHeaders(headersEndOfStream(":method", "GET", ":path", "/typed"));
    assertThat(declaredFields(reply)).isEqualTo(CONTINUE_REQUEST_HEADERS);
    assertThat(reply.getUnknownFields().asMap().keySet()).containsExactly(13);
    assertThat(typedMetadataByNumber(reply))
        .containsExactly(
            "ns.a", Any.pack(StringValue.of("second")),
            "ns.b", Any.pack(Duration.newBuilder().setSeconds(7).build()));
    assertThat(headersOnly.halfClose().getCode()).isEqualTo(Status.Code.OK);

    // An immediate response carries it too.
    CalloutTester.Stream denied = callout.newStream(FULL_DUPLEX);
    ProcessingResponse immediate =
        denied.requestHeaders(headersEndOfStream(":method", "GET", ":path", "/typed-deny"));
    assertThat(declaredFields(immediate))
        .isEqualTo(
            ProcessingResponse.newBuilder()
                .setImmediateResponse(
                    ImmediateResponse.newBuilder()
                        .setStatus(HttpStatus.newBuilder().setCode(StatusCode.Forbidden)))
                .build());
    assertThat(typedMetadataByNumber(immediate))
        .containsExactly("ns.deny", Any.pack(StringValue.of("why")));

    // Attached while a chunk is held back (no reply): it rides on the direction's next reply.
    CalloutTester.Stream held = callout.newStream(FULL_DUPLEX);
    held.send(requestHeaders(headers(":method", "POST", ":path", "/typed-fds")));
    held.send(requestChunk("a", false));
    held.send(requestChunk("b", true));
    assertThat(held.halfClose().getCode()).isEqualTo(Status.Code.OK);
    List<ProcessingResponse> replies = held.received();
    assertThat(replies).hasSize(2);
    assertThat(replies.get(0)).isEqualTo(CONTINUE_REQUEST_HEADERS);
    assertThat(declaredFields(replies.get(1))).isEqualTo(streamed(true, "ab", true));
    assertThat(typedMetadataByNumber(replies.get(1)))
        .containsExactly("ns.chunk", Any.pack(StringValue.of("b")));

    // A deferred headers reply carries what its hook attached when it finally goes.
    CalloutTester.Stream deferred = callout.newStream(FULL_DUPLEX);
    deferred.send(requestHeaders(headers(":method", "POST", ":path", "/defer-typed")));
    deferred.send(requestChunk("z", true));
    assertThat(deferred.halfClose().getCode()).isEqualTo(Status.Code.OK);
    replies = deferred.received();
    assertThat(replies).hasSize(2);
    assertThat(declaredFields(replies.get(0))).isEqualTo(CONTINUE_REQUEST_HEADERS);
    assertThat(typedMetadataByNumber(replies.get(0)))
        .containsExactly("ns.headers", Any.pack(StringValue.of("held")));
    assertThat(replies.get(1)).isEqualTo(streamed(true, "z", true));
  }

  @Test
  void case68_typedMetadataIn_fromMetadataContextTypedFilterMetadata() {
    Any forwarded = Any.pack(StringValue.of("from envoy"));
    CalloutTester.Stream stream = callout.newStream(FULL_DUPLEX);
    ProcessingRequest message =
        requestHeaders(headersEndOfStream(":method", "GET", ":path", "/forwarded")).toBuilder()
            .setMetadataContext(
                Metadata.newBuilder()
                    .putTypedFilterMetadata("ns.in", forwarded)
                    .putFilterMetadata("ns.untyped", Struct.getDefaultInstance()))
            .build();
    assertThat(stream.exchange(message)).isEqualTo(CONTINUE_REQUEST_HEADERS);
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);

    assertThat(seen)
        .containsExactly(
            Optional.of(forwarded),
            Optional.of(StringValue.of("from envoy")),
            Optional.empty(),
            "typed metadata namespace ns.in: type.googleapis.com/google.protobuf.StringValue is"
                + " not a com.google.protobuf.Duration")
        .inOrder();
  }

  // ---- Attributes ----

  private static Value string(String text) {
    return Value.newBuilder().setStringValue(text).build();
  }

  private static Struct struct(String key, Value value) {
    return Struct.newBuilder().putFields(key, value).build();
  }

  private void sendAttributes(Map<String, Struct> attributes) {
    CalloutTester.Stream stream = callout.newStream(FULL_DUPLEX);
    ProcessingRequest message =
        requestHeaders(headersEndOfStream(":method", "POST", ":path", "/attributes")).toBuilder()
            .putAllAttributes(attributes)
            .build();
    assertThat(stream.exchange(message)).isEqualTo(CONTINUE_REQUEST_HEADERS);
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
  }

  @Test
  void case69_attributes_envoyLayoutAndGrpcJavaLayoutReadAlike_envoyFirst() {
    Struct headersMap =
        Struct.newBuilder()
            .putFields("content-type", string("application/grpc"))
            .putFields("te", string("trailers"))
            .build();
    Value headersValue = Value.newBuilder().setStructValue(headersMap).build();

    // Envoy: one struct under the filter's name, a field per attribute.
    sendAttributes(
        Map.of(
            "envoy.filters.http.ext_proc",
            Struct.newBuilder()
                .putFields("request.path", string("/pkg.Svc/Method"))
                .putFields("request.method", string("POST"))
                .putFields("request.headers", headersValue)
                .build()));
    List<Object> envoy = List.copyOf(seen);
    seen.clear();

    // grpc-java 1.85 (gRFC A93): one struct per attribute name, the value under "", a map's
    // entries (request.headers) directly in the struct.
    sendAttributes(
        Map.of(
            "request.path", struct("", string("/pkg.Svc/Method")),
            "request.method", struct("", string("POST")),
            "request.headers", headersMap));
    List<Object> grpcJava = List.copyOf(seen);
    seen.clear();

    List<Object> expected =
        List.of(
            Optional.of(string("/pkg.Svc/Method")),
            Optional.of(string("POST")),
            Optional.of(headersValue),
            Optional.empty());
    assertThat(envoy).containsExactlyElementsIn(expected).inOrder();
    assertThat(grpcJava).containsExactlyElementsIn(expected).inOrder();

    // Both layouts in one message: Envoy's wins.
    sendAttributes(
        Map.of(
            "envoy.filters.http.ext_proc",
            struct("request.path", string("/from-envoy")),
            "request.path",
            struct("", string("/from-grpc"))));
    assertThat(seen.get(0)).isEqualTo(Optional.of(string("/from-envoy")));
  }
}
