package dev.extproc.callout.samples.updateheader;

import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.CalloutTools;
import io.envoyproxy.envoy.config.core.v3.HeaderValueOption.HeaderAppendAction;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import java.util.List;
import java.util.Map;

/**
 * Overwrites a header on the request (clearing the route cache) and on the response, with the
 * append action {@code OVERWRITE_IF_EXISTS_OR_ADD}.
 */
public final class UpdateHeader extends CalloutServer {

  /** Creates the sample with {@code config}. */
  public UpdateHeader(CalloutServerConfig config) {
    super(config);
  }

  @Override
  protected HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
    return CalloutTools.clearRouteCache(
        CalloutTools.addHeaderMutation(
            List.of(Map.entry("header-request", "request-new-value")),
            List.of(),
            HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD));
  }

  @Override
  protected HeadersResponse onResponseHeaders(HttpHeaders headers, CalloutContext ctx) {
    return CalloutTools.addHeaderMutation(
        List.of(Map.entry("header-response", "response-new-value")),
        List.of(),
        HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD);
  }
}
