package dev.extproc.callout.fuzz;

import com.google.protobuf.ByteString;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.extproc.callout.BodyTransformer;
import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.CalloutTools;
import dev.extproc.callout.testing.Replies;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.HeaderSendMode;
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
import io.envoyproxy.envoy.service.ext_proc.v3.TrailersResponse;
import io.grpc.Status;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.jspecify.annotations.Nullable;

/**
 * A callout whose hooks follow a script the fuzzer writes: the n-th hook call of a stream does the
 * n-th action (continue once the script runs out). Every action is a legal use of the API except
 * the ones marked risky where they are used (an immediate response to trailers, a mode override
 * outside headers, a second timeout extension, a transformer outside FULL_DUPLEX_STREAMED mode,
 * CONTINUE_AND_REPLACE in it, a header the mutation guard refuses, non-struct metadata, a plain
 * exception), for which the framework's {@code INTERNAL} "hook failed" is the right outcome.
 *
 * <p>Streams are played one at a time: {@link #expect} sets the script of the next stream and
 * returns the record its hooks fill in.
 */
class ScriptedCallout extends CalloutServer {

  /** What a hook call does. */
  enum Action {
    CONTINUE,
    MUTATE,
    CLEAR,
    STREAMED,
    IMMEDIATE,
    METADATA,
    MODE_OVERRIDE,
    EXTEND_TIMEOUT,
    EXTEND_TIMEOUT_TWICE,
    REPLACE,
    TRANSFORM,
    TRANSFORM_WHOLE,
    TRANSFORM_THROWING,
    BAD_HEADER,
    BAD_METADATA,
    DENY,
    THROW,
    /** Only where {@code process} is overridden: a reply of another phase's type. */
    WRONG_TYPE,
    /** Only where {@code process} is overridden: an immediate response returned, not set. */
    RETURN_IMMEDIATE
  }

  /** The status a {@link Action#DENY} ends the stream with. */
  static final Status DENIED = Status.ABORTED.withDescription("denied by the script");

  /** What one stream's hooks did. */
  static final class HookLog {
    /** The name the framework gives the latest hook call in its "failed" message. */
    volatile String lastHook = "";

    /** Whether the latest hook call did something the framework refuses. */
    volatile boolean lastRisky;

    /** Whether a transformer that throws was registered. */
    volatile boolean throwingTransformer;

    /** How often {@code onStreamEnd} ran, and with what. */
    final AtomicInteger ends = new AtomicInteger();

    volatile @Nullable Status endStatus;
  }

  private static final CalloutContext.Key<Deque<Action>> SCRIPT = CalloutContext.Key.of("script");
  private static final CalloutContext.Key<HookLog> RECORD = CalloutContext.Key.of("record");
  private static final ByteString REPLACED = ByteString.copyFromUtf8("replaced by the script");

  private final AtomicReference<List<Action>> nextScript = new AtomicReference<>(List.of());
  private final AtomicReference<HookLog> nextRecord = new AtomicReference<>(new HookLog());

  ScriptedCallout(CalloutServerConfig config) {
    super(config);
  }

  /** Sets the script of the next stream and returns the record of what its hooks do. */
  final HookLog expect(List<Action> script) {
    HookLog record = new HookLog();
    nextScript.set(List.copyOf(script));
    nextRecord.set(record);
    return record;
  }

  @Override
  protected void onStreamStart(CalloutContext ctx) {
    ctx.put(SCRIPT, new ArrayDeque<>(nextScript.get()));
    ctx.put(RECORD, nextRecord.get());
  }

  @Override
  protected void onStreamEnd(CalloutContext ctx, Status status) {
    HookLog record = ctx.get(RECORD).orElseThrow();
    record.endStatus = status;
    record.ends.incrementAndGet();
  }

  /** Pops the next action and notes the hook call; {@code wire} is the message's name. */
  final Action next(CalloutContext ctx, String hook, String wire) {
    HookLog record = ctx.get(RECORD).orElseThrow();
    record.lastHook = namesHooksAfterProcess() ? "process (" + wire + ")" : hook;
    record.lastRisky = false;
    Action action = ctx.get(SCRIPT).orElseThrow().poll();
    return action == null ? Action.CONTINUE : action;
  }

  final Action peek(CalloutContext ctx) {
    Action action = ctx.get(SCRIPT).orElseThrow().peek();
    return action == null ? Action.CONTINUE : action;
  }

  final void risky(CalloutContext ctx) {
    ctx.get(RECORD).orElseThrow().lastRisky = true;
  }

  /** Whether this class overrides {@code process}; the framework then names hooks after it. */
  boolean namesHooksAfterProcess() {
    return false;
  }

  @Override
  protected @Nullable HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
    return headers(ctx, next(ctx, "onRequestHeaders", "request_headers"), true);
  }

  @Override
  protected @Nullable HeadersResponse onResponseHeaders(HttpHeaders headers, CalloutContext ctx) {
    return headers(ctx, next(ctx, "onResponseHeaders", "response_headers"), false);
  }

  @Override
  protected @Nullable BodyResponse onRequestBody(HttpBody body, CalloutContext ctx) {
    return body(ctx, next(ctx, "onRequestBody", "request_body"), true, body);
  }

  @Override
  protected @Nullable BodyResponse onResponseBody(HttpBody body, CalloutContext ctx) {
    return body(ctx, next(ctx, "onResponseBody", "response_body"), false, body);
  }

  @Override
  protected @Nullable TrailersResponse onRequestTrailers(
      HttpTrailers trailers, CalloutContext ctx) {
    return trailers(ctx, next(ctx, "onRequestTrailers", "request_trailers"), true);
  }

  @Override
  protected @Nullable TrailersResponse onResponseTrailers(
      HttpTrailers trailers, CalloutContext ctx) {
    return trailers(ctx, next(ctx, "onResponseTrailers", "response_trailers"), false);
  }

  private @Nullable HeadersResponse headers(CalloutContext ctx, Action action, boolean request) {
    common(ctx, action, request, true, false);
    return switch (action) {
      case MUTATE -> {
        HeadersResponse mutate =
            CalloutTools.addHeaderMutation(List.of(Map.entry("x-scripted", "1")), List.of("foo"));
        yield request ? CalloutTools.clearRouteCache(mutate) : mutate;
      }
      case CLEAR -> CalloutTools.addHeaderMutation(List.of(), List.of("foo"));
      case REPLACE -> {
        if (fullDuplex(ctx, request)) {
          risky(ctx);
        }
        yield CalloutTools.continueAndReplace(List.of(Map.entry("x-scripted", "2")), REPLACED);
      }
      case BAD_HEADER -> {
        risky(ctx);
        yield HeadersResponse.newBuilder().setResponse(badHeader()).build();
      }
      default -> null;
    };
  }

  private @Nullable BodyResponse body(
      CalloutContext ctx, Action action, boolean request, HttpBody body) {
    common(ctx, action, request, false, false);
    return switch (action) {
      case MUTATE ->
          CalloutTools.addBodyMutation(
              ByteString.copyFromUtf8(body.getBody().size() + ":").concat(body.getBody()));
      case CLEAR -> {
        BodyResponse clear = CalloutTools.clearBodyMutation();
        yield request ? CalloutTools.clearRouteCache(clear) : clear;
      }
      case STREAMED -> {
        ProcessingResponse streamed = Replies.streamed(request, REPLACED, body.getEndOfStream());
        yield request ? streamed.getRequestBody() : streamed.getResponseBody();
      }
      case BAD_HEADER -> {
        risky(ctx);
        yield BodyResponse.newBuilder().setResponse(badHeader()).build();
      }
      default -> null;
    };
  }

  private @Nullable TrailersResponse trailers(CalloutContext ctx, Action action, boolean request) {
    common(ctx, action, request, false, true);
    return switch (action) {
      case MUTATE, CLEAR ->
          TrailersResponse.newBuilder()
              .setHeaderMutation(
                  CalloutTools.headerMutation(
                      List.of(Map.entry("x-scripted-trailer", "1")), List.of("foo")))
              .build();
      case BAD_HEADER -> {
        risky(ctx);
        yield TrailersResponse.newBuilder()
            .setHeaderMutation(badHeader().getHeaderMutation())
            .build();
      }
      default -> null;
    };
  }

  /** The actions every phase shares; marks the ones the framework refuses here as risky. */
  private void common(
      CalloutContext ctx, Action action, boolean request, boolean headers, boolean trailers) {
    switch (action) {
      case IMMEDIATE -> {
        if (trailers) {
          risky(ctx);
        }
        ctx.respondImmediately(forbidden());
      }
      case METADATA ->
          ctx.attachDynamicMetadata(CalloutTools.dynamicMetadata("scripted", Map.of("k", "v")));
      case MODE_OVERRIDE -> {
        if (!headers) {
          risky(ctx);
        }
        ctx.overrideMode(mode -> mode.setResponseTrailerMode(HeaderSendMode.SEND));
      }
      case EXTEND_TIMEOUT -> ctx.extendMessageTimeout(Duration.ofMillis(500));
      case EXTEND_TIMEOUT_TWICE -> {
        risky(ctx);
        ctx.extendMessageTimeout(Duration.ofMillis(500));
        ctx.extendMessageTimeout(Duration.ofMillis(600));
      }
      case TRANSFORM, TRANSFORM_WHOLE, TRANSFORM_THROWING -> transform(ctx, action, request);
      case BAD_METADATA -> {
        risky(ctx);
        ctx.attachDynamicMetadata(
            Struct.newBuilder()
                .putFields("scripted", Value.newBuilder().setStringValue("flat").build())
                .build());
      }
      case DENY -> throw DENIED.asRuntimeException();
      case THROW -> {
        risky(ctx);
        throw new IllegalStateException("thrown by the script");
      }
      default -> {}
    }
  }

  private void transform(CalloutContext ctx, Action action, boolean request) {
    if (!fullDuplex(ctx, request)) {
      risky(ctx);
    }
    BodyTransformer transformer =
        switch (action) {
          case TRANSFORM -> (chunk, out) -> out.write(chunk);
          case TRANSFORM_WHOLE ->
              BodyTransformer.whole(
                  whole -> ByteString.copyFromUtf8(whole.size() + ":").concat(whole));
          default -> {
            ctx.get(RECORD).orElseThrow().throwingTransformer = true;
            yield (chunk, out) -> {
              if (!chunk.isEmpty()) {
                throw new IllegalStateException("thrown by the script's transformer");
              }
            };
          }
        };
    if (request) {
      ctx.transformRequestBody(transformer);
    } else {
      ctx.transformResponseBody(transformer);
    }
  }

  private static boolean fullDuplex(CalloutContext ctx, boolean request) {
    return (request ? ctx.requestBodyMode() : ctx.responseBodyMode())
        == BodySendMode.FULL_DUPLEX_STREAMED;
  }

  private static ImmediateResponse forbidden() {
    return CalloutTools.headerImmediateResponse(
        403, List.of(Map.entry("x-scripted", "immediate")), "forbidden by the script");
  }

  /** A header the mutation guard refuses: CR and LF in its value. */
  private static CommonResponse badHeader() {
    return CommonResponse.newBuilder()
        .setHeaderMutation(
            HeaderMutation.newBuilder()
                .addSetHeaders(CalloutTools.overwriteHeader("x-scripted", "bad\r\nvalue")))
        .build();
  }

  /** The same script, with {@code process} overridden to return raw replies too. */
  static final class Raw extends ScriptedCallout {
    Raw(CalloutServerConfig config) {
      super(config);
    }

    @Override
    boolean namesHooksAfterProcess() {
      return true;
    }

    @Override
    protected @Nullable ProcessingResponse process(ProcessingRequest request, CalloutContext ctx) {
      Action action = peek(ctx);
      if (action != Action.WRONG_TYPE && action != Action.RETURN_IMMEDIATE) {
        return super.process(request, ctx);
      }
      String wire = request.getRequestCase().name().toLowerCase(Locale.ROOT);
      next(ctx, "process", wire);
      boolean trailers = request.hasRequestTrailers() || request.hasResponseTrailers();
      if (action == Action.WRONG_TYPE || trailers) {
        risky(ctx);
      }
      ProcessingResponse.Builder reply = ProcessingResponse.newBuilder();
      if (action == Action.RETURN_IMMEDIATE) {
        return reply.setImmediateResponse(forbidden()).build();
      }
      // Trailers answer headers, headers answer everything else: always the wrong type.
      return request.hasRequestHeaders() || request.hasResponseHeaders()
          ? reply
              .setRequestTrailers(
                  TrailersResponse.newBuilder()
                      .setHeaderMutation(
                          HeaderMutation.newBuilder()
                              .addSetHeaders(CalloutTools.overwriteHeader("x-scripted", "w"))))
              .build()
          : reply.setRequestHeaders(HeadersResponse.getDefaultInstance()).build();
    }
  }
}
