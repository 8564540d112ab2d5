package dev.extproc.callout.samples.basic;

import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.CalloutTools;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import java.util.List;
import java.util.Map;

/**
 * One mutation in every headers and body phase: rewrites the request's authority and path, adds
 * headers both ways, replaces the request body and empties the response body.
 */
public final class Basic extends CalloutServer {

  /**
   * Creates the sample with {@code config}, declaring {@code :authority} mutable: Envoy applies
   * that rewrite only when its {@code mutation_rules} allow routing headers ({@code
   * allow_all_routing}), and the framework refuses mutations the proxy would ignore unless told.
   */
  public Basic(CalloutServerConfig config) {
    super(config.toBuilder().allowMutationOf(":authority").build());
  }

  @Override
  protected HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
    return CalloutTools.clearRouteCache(
        CalloutTools.addHeaderMutation(
            List.of(
                Map.entry(":authority", "service-extensions.com"),
                Map.entry(":path", "/"),
                Map.entry("header-request", "request")),
            List.of("foo")));
  }

  @Override
  protected HeadersResponse onResponseHeaders(HttpHeaders headers, CalloutContext ctx) {
    return CalloutTools.addHeaderMutation(List.of(Map.entry("hello", "service-extensions")));
  }

  @Override
  protected BodyResponse onRequestBody(HttpBody body, CalloutContext ctx) {
    return CalloutTools.addBodyMutation("replaced-body");
  }

  @Override
  protected BodyResponse onResponseBody(HttpBody body, CalloutContext ctx) {
    return CalloutTools.clearBodyMutation();
  }
}
