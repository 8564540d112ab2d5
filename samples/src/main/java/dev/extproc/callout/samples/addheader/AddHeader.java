package dev.extproc.callout.samples.addheader;

import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.CalloutTools;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import java.util.List;
import java.util.Map;

/**
 * Adds a header to every request (and clears the route cache so routing sees it), and adds one to
 * every response while removing {@code foo}. The default sample of the runnable jar.
 */
public final class AddHeader extends CalloutServer {

  /** Creates the sample with {@code config}. */
  public AddHeader(CalloutServerConfig config) {
    super(config);
  }

  @Override
  protected HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
    return CalloutTools.clearRouteCache(
        CalloutTools.addHeaderMutation(List.of(Map.entry("header-request", "request"))));
  }

  @Override
  protected HeadersResponse onResponseHeaders(HttpHeaders headers, CalloutContext ctx) {
    return CalloutTools.addHeaderMutation(
        List.of(Map.entry("header-response", "response")), List.of("foo"));
  }

  /** Runs the sample: {@code java -cp ... AddHeader [flags]}. */
  public static void main(String[] args) {
    CalloutServer.launch(args, AddHeader::new);
  }
}
