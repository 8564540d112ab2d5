package dev.extproc.callout.samples.observe;

import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.CalloutTools;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.grpc.Status;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Watches traffic without touching it, for Envoy's observability mode: it counts requests by method
 * and response status class and logs one line per request ({@code GET /path -> 200}). Envoy ignores
 * any reply in that mode and the framework sends none; outside it, every phase continues unchanged.
 */
public final class Observe extends CalloutServer {
  private static final Logger logger = LoggerFactory.getLogger(Observe.class);

  private static final CalloutContext.Key<String> REQUEST = CalloutContext.Key.of("request-line");

  private final Map<String, LongAdder> counts = new ConcurrentHashMap<>();

  /** Creates the sample with {@code config}. */
  public Observe(CalloutServerConfig config) {
    super(config);
  }

  @Override
  protected @Nullable HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
    String method = CalloutTools.headerValue(headers, ":method").orElse("?");
    ctx.put(REQUEST, method + " " + CalloutTools.headerValue(headers, ":path").orElse("?"));
    count("method " + method);
    return null;
  }

  @Override
  protected @Nullable HeadersResponse onResponseHeaders(HttpHeaders headers, CalloutContext ctx) {
    String status = CalloutTools.headerValue(headers, ":status").orElse("?");
    count("status " + (status.length() == 3 ? status.charAt(0) + "xx" : status));
    logger.info("{} -> {}", ctx.get(REQUEST).orElse("(no request headers)"), status);
    return null;
  }

  @Override
  protected void onStreamEnd(CalloutContext ctx, Status status) {
    count("streams");
  }

  private void count(String key) {
    counts.computeIfAbsent(key, k -> new LongAdder()).increment();
  }

  /** The counts so far, by key ({@code method GET}, {@code status 2xx}, {@code streams}). */
  public Map<String, Long> counts() {
    Map<String, Long> snapshot = new TreeMap<>();
    counts.forEach((key, adder) -> snapshot.put(key, adder.sum()));
    return snapshot;
  }
}
