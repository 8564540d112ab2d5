package dev.extproc.callout.samples.normalizeheader;

import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.CalloutTools;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Tells the upstream which kind of device sent the request, from the host it asked for: {@code
 * client-device-type} is {@code mobile} for {@code m.example.com}, {@code tablet} for {@code
 * t.example.com} and {@code desktop} otherwise. Without an {@code :authority} it continues.
 */
public final class NormalizeHeader extends CalloutServer {

  /** Creates the sample with {@code config}. */
  public NormalizeHeader(CalloutServerConfig config) {
    super(config);
  }

  @Override
  protected @Nullable HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
    String authority = CalloutTools.headerValue(headers, ":authority").orElse("");
    if (authority.isEmpty()) {
      return null;
    }
    return CalloutTools.clearRouteCache(
        CalloutTools.addHeaderMutation(
            List.of(Map.entry("client-device-type", deviceType(authority)))));
  }

  /** Returns the device type for a host. */
  static String deviceType(String authority) {
    if (authority.contains("m.example.com")) {
      return "mobile";
    }
    if (authority.contains("t.example.com")) {
      return "tablet";
    }
    return "desktop";
  }
}
