package dev.extproc.callout.samples.stateful;

import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.CalloutTools;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Decides in the response phase from what it saw in the request phase, through the per-stream
 * {@link CalloutContext}: the response gets {@code x-request-path} (the request's {@code :path}),
 * and {@code cache-control: private, no-store} when the request carried credentials (an {@code
 * authorization} or {@code cookie} header), so no shared cache keeps a personal response.
 */
public final class Stateful extends CalloutServer {

  /** What the request phase leaves for the response phase. */
  record RequestFacts(String path, boolean credentials) {}

  static final CalloutContext.Key<RequestFacts> FACTS = CalloutContext.Key.of("request-facts");

  // The ext_proc API's limit on a header value, in bytes.
  private static final int MAX_VALUE_BYTES = 16384;

  /** Creates the sample with {@code config}. */
  public Stateful(CalloutServerConfig config) {
    super(config);
  }

  @Override
  protected @Nullable HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
    ctx.put(
        FACTS,
        new RequestFacts(
            CalloutTools.headerValue(headers, ":path").orElse(""),
            CalloutTools.headersContain(headers, "authorization")
                || CalloutTools.headersContain(headers, "cookie")));
    return null;
  }

  @Override
  protected @Nullable HeadersResponse onResponseHeaders(HttpHeaders headers, CalloutContext ctx) {
    RequestFacts facts = ctx.get(FACTS).orElse(null);
    if (facts == null) {
      return null; // Envoy skipped the request headers (request_header_mode SKIP)
    }
    List<Map.Entry<String, String>> set = new ArrayList<>();
    // Envoy takes request headers up to 60 KiB; a header value in a reply may have 16 KiB.
    if (facts.path().getBytes(StandardCharsets.UTF_8).length <= MAX_VALUE_BYTES) {
      set.add(Map.entry("x-request-path", facts.path()));
    }
    if (facts.credentials()) {
      set.add(Map.entry("cache-control", "private, no-store"));
    }
    return CalloutTools.addHeaderMutation(set);
  }
}
