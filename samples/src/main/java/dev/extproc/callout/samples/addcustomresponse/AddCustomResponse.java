package dev.extproc.callout.samples.addcustomresponse;

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
import org.jspecify.annotations.Nullable;

/**
 * Three outcomes per phase: deny (end the stream with {@code PERMISSION_DENIED}) when the headers
 * carry {@code bad-header} or the body contains {@code bad-body}; a mocked reply when they carry
 * {@code mock}; the default mutation otherwise.
 */
public final class AddCustomResponse extends CalloutServer {

  private static final HeadersResponse MOCK_HEADERS =
      CalloutTools.addHeaderMutation(List.of(Map.entry("Mock-Response", "Mocked-Value")));
  private static final BodyResponse MOCK_BODY = CalloutTools.addBodyMutation("Mocked-Body");

  /** Creates the sample with {@code config}. */
  public AddCustomResponse(CalloutServerConfig config) {
    super(config);
  }

  @Override
  protected HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
    if (CalloutTools.headersContain(headers, "bad-header")) {
      throw CalloutTools.denyCallout();
    }
    if (CalloutTools.headersContain(headers, "mock")) {
      return MOCK_HEADERS;
    }
    return CalloutTools.clearRouteCache(
        CalloutTools.addHeaderMutation(
            List.of(Map.entry("header-request", "request")), List.of("foo")));
  }

  @Override
  protected HeadersResponse onResponseHeaders(HttpHeaders headers, CalloutContext ctx) {
    if (CalloutTools.headersContain(headers, "bad-header")) {
      throw CalloutTools.denyCallout();
    }
    if (CalloutTools.headersContain(headers, "mock")) {
      return MOCK_HEADERS;
    }
    return CalloutTools.addHeaderMutation(List.of(Map.entry("header-response", "response")));
  }

  @Override
  protected BodyResponse onRequestBody(HttpBody body, CalloutContext ctx) {
    if (CalloutTools.bodyContains(body, "bad-body")) {
      throw CalloutTools.denyCallout();
    }
    if (CalloutTools.bodyContains(body, "mock")) {
      return MOCK_BODY;
    }
    return CalloutTools.addBodyMutation("replaced-body");
  }

  @Override
  protected @Nullable BodyResponse onResponseBody(HttpBody body, CalloutContext ctx) {
    if (CalloutTools.bodyContains(body, "bad-body")) {
      throw CalloutTools.denyCallout();
    }
    return CalloutTools.bodyContains(body, "mock") ? MOCK_BODY : null;
  }
}
