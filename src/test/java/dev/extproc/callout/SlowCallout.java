package dev.extproc.callout;

import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.Status;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A callout for the shutdown tests whose header hooks take as long as each message asks: {@value
 * #HOOK_MILLIS} milliseconds, or, with {@value #UNTIL_CANCELLED}, until the stream is cancelled.
 * Each hook replies with a header naming its phase. Also a {@code main}, run as a child process.
 */
final class SlowCallout extends CalloutServer {
  private static final Logger logger = LoggerFactory.getLogger(SlowCallout.class);

  /** Request header: how many milliseconds the hook of this message takes. */
  static final String HOOK_MILLIS = "x-hook-ms";

  /** Request header: the hook runs until it sees the stream cancelled, then reports it. */
  static final String UNTIL_CANCELLED = "x-until-cancelled";

  /** What a stream held by {@value #UNTIL_CANCELLED} reports when its hook starts waiting. */
  static final String HOOK_HOLDS = "hook holds the stream";

  /** What a stream held by {@value #UNTIL_CANCELLED} reports when its hook sees the cancel. */
  static final String HOOK_SAW_CANCEL = "hook saw the stream cancelled";

  /** How long such a hook takes to return once it has seen the cancel. */
  static final long CLEAN_UP_MILLIS = 200;

  /** What such a stream reports from {@code onStreamEnd}, followed by the status code. */
  static final String STREAM_ENDED = "held stream ended with ";

  private final Consumer<String> events;

  SlowCallout(CalloutServerConfig config, Consumer<String> events) {
    super(config);
    this.events = events;
  }

  /** Runs the callout with the framework's flags; events go to the log. */
  public static void main(String[] args) {
    CalloutServer.launch(args, config -> new SlowCallout(config, logger::info));
  }

  /** The reply of the hook of {@code phase} ({@code "request"} or {@code "response"}). */
  static HeadersResponse reply(String phase) {
    return CalloutTools.addHeaderMutation(List.of(Map.entry("x-phase", phase)));
  }

  /** The replies of a stream that sent request headers, then response headers. */
  static List<ProcessingResponse> twoReplies() {
    return List.of(
        ProcessingResponse.newBuilder().setRequestHeaders(reply("request")).build(),
        ProcessingResponse.newBuilder().setResponseHeaders(reply("response")).build());
  }

  @Override
  protected HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
    take(headers, ctx);
    return reply("request");
  }

  @Override
  protected HeadersResponse onResponseHeaders(HttpHeaders headers, CalloutContext ctx) {
    take(headers, ctx);
    return reply("response");
  }

  @Override
  protected void onStreamEnd(CalloutContext ctx, Status status) {
    if (ctx.requestHeaders()
        .filter(h -> CalloutTools.headersContain(h, UNTIL_CANCELLED))
        .isPresent()) {
      events.accept(STREAM_ENDED + status.getCode());
    }
  }

  private void take(HttpHeaders headers, CalloutContext ctx) {
    if (CalloutTools.headersContain(headers, UNTIL_CANCELLED)) {
      events.accept(HOOK_HOLDS);
      // Deaf to interrupts on purpose: only the stream's cancellation ends this hook, and then it
      // takes a while to clean up, as a hook waiting on another service would.
      while (!ctx.isCancelled()) {
        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(5));
      }
      events.accept(HOOK_SAW_CANCEL);
      pause(CLEAN_UP_MILLIS);
      return;
    }
    pause(CalloutTools.headerValue(headers, HOOK_MILLIS).map(Long::parseLong).orElse(0L));
  }

  /** Waits {@code millis}, interrupted or not. */
  private static void pause(long millis) {
    long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
    for (long left = end - System.nanoTime(); left > 0; left = end - System.nanoTime()) {
      LockSupport.parkNanos(left);
    }
  }
}
