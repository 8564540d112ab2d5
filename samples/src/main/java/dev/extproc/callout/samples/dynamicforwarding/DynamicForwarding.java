package dev.extproc.callout.samples.dynamicforwarding;

import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.CalloutTools;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * Picks the backend endpoint for each request through Google Cloud's dynamic forwarding: the
 * address in {@code ip-to-return} when it is one of the known endpoints, {@value #FALLBACK}
 * otherwise, always on port {@value #PORT}.
 */
public final class DynamicForwarding extends CalloutServer {

  /** The endpoint chosen when {@code ip-to-return} is absent or unknown. */
  public static final String FALLBACK = "10.1.10.4";

  /** The port of every endpoint. */
  public static final int PORT = 80;

  private static final Set<String> KNOWN = Set.of("10.1.10.2", "10.1.10.3");

  /** Creates the sample with {@code config}. */
  public DynamicForwarding(CalloutServerConfig config) {
    super(config);
  }

  @Override
  protected @Nullable HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
    String ip = CalloutTools.headerValue(headers, "ip-to-return").orElse(FALLBACK);
    ctx.attachDynamicMetadata(
        CalloutTools.buildDynamicForwardingMetadata(KNOWN.contains(ip) ? ip : FALLBACK, PORT));
    return null;
  }
}
