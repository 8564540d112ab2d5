package dev.extproc.callout.samples.redirect;

import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.CalloutTools;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ImmediateResponse;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/** Answers every request with a 301 redirect to {@value #LOCATION}, without a body. */
public final class Redirect extends CalloutServer {

  /** Where every request is sent. */
  public static final String LOCATION = "http://service-extensions.com/redirect";

  private static final ImmediateResponse MOVED =
      CalloutTools.headerImmediateResponse(301, List.of(Map.entry("Location", LOCATION)));

  /** Creates the sample with {@code config}. */
  public Redirect(CalloutServerConfig config) {
    super(config);
  }

  @Override
  protected @Nullable HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
    ctx.respondImmediately(MOVED);
    return null;
  }
}
