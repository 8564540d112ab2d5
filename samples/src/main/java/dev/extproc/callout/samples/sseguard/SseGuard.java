package dev.extproc.callout.samples.sseguard;

import com.google.protobuf.ByteString;
import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.CalloutTools;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Guards a Server-Sent Events ({@code text/event-stream}) response from an LLM-style upstream, in
 * Envoy's FULL_DUPLEX_STREAMED body mode: each event goes on as soon as it is complete, with
 * secrets masked ({@link EventGuard}), and at the end of the stream the counts of events and tokens
 * go into dynamic metadata under {@value EventGuard#NAMESPACE}. A request whose {@code
 * x-abuse-score} is {@value #ABUSE_THRESHOLD} or more never reaches the upstream: it gets a
 * streamed local reply, an SSE {@code error} event with status 429. Other responses pass unchanged.
 */
public final class SseGuard extends CalloutServer {

  /** The {@code x-abuse-score} (an integer a scoring filter in front sets) that is abusive. */
  static final int ABUSE_THRESHOLD = 80;

  /** The SSE event of the local reply to an abusive request. */
  static final String ABUSE_EVENT =
      "event: error\ndata: {\"error\":\"request refused: abuse score too high\"}\n\n";

  private static final String EVENT_STREAM = "text/event-stream";

  /** Creates the sample with {@code config}. */
  public SseGuard(CalloutServerConfig config) {
    super(config);
  }

  @Override
  protected @Nullable HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
    if (isAbusive(headers)) {
      CalloutContext.StreamedResponse reply =
          ctx.respondStreaming(
              429,
              List.of(
                  Map.entry("content-type", EVENT_STREAM), Map.entry("cache-control", "no-cache")));
      reply.write(ByteString.copyFromUtf8(ABUSE_EVENT));
      reply.end();
    }
    return null;
  }

  @Override
  protected @Nullable HeadersResponse onResponseHeaders(HttpHeaders headers, CalloutContext ctx) {
    String type = CalloutTools.headerValue(headers, "content-type").orElse("");
    if (ctx.responseBodyMode() == BodySendMode.FULL_DUPLEX_STREAMED
        && type.toLowerCase(Locale.ROOT).startsWith(EVENT_STREAM)) {
      ctx.transformResponseBody(new EventGuard(ctx));
    }
    return null;
  }

  /** Whether {@code x-abuse-score} is an integer of at least {@value #ABUSE_THRESHOLD}. */
  private static boolean isAbusive(HttpHeaders headers) {
    String score = CalloutTools.headerValue(headers, "x-abuse-score").orElse("").trim();
    try {
      return !score.isEmpty() && Integer.parseInt(score) >= ABUSE_THRESHOLD;
    } catch (NumberFormatException e) {
      return false;
    }
  }
}
