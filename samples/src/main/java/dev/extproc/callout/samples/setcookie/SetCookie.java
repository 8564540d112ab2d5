package dev.extproc.callout.samples.setcookie;

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
 * Sets a cookie on responses whose headers carry a non-empty {@code cookie-check}; other responses
 * continue unchanged.
 */
public final class SetCookie extends CalloutServer {

  /** The {@code Set-Cookie} value sent. */
  public static final String COOKIE = "your_cookie_name=cookie_value; Max-Age=3600; Path=/";

  /** Creates the sample with {@code config}. */
  public SetCookie(CalloutServerConfig config) {
    super(config);
  }

  @Override
  protected @Nullable HeadersResponse onResponseHeaders(HttpHeaders headers, CalloutContext ctx) {
    if (CalloutTools.headerValue(headers, "cookie-check").orElse("").isEmpty()) {
      return null;
    }
    return CalloutTools.addHeaderMutation(List.of(Map.entry("Set-Cookie", COOKIE)));
  }
}
