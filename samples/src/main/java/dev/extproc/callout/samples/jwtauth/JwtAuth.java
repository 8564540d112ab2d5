package dev.extproc.callout.samples.jwtauth;

import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.CalloutTools;
import dev.extproc.callout.samples.jwt.JwtVerification;
import dev.extproc.callout.samples.jwt.JwtVerifier;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ImmediateResponse;
import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/**
 * Lets through only requests that carry a valid RS256 JWT, and tells the upstream its claims.
 *
 * <p>{@link JwtVerifier} reads and verifies the token of the {@code authorization} header. A valid
 * token adds one {@code decoded-<claim>} header per claim, in the token's order ({@link
 * JwtVerification#decodedHeaders()}), and clears the route cache. A missing or invalid token gets
 * an HTTP 401 immediate response with {@code www-authenticate: Bearer}: the request never reaches
 * the upstream, even behind a load balancer that fails open.
 */
public final class JwtAuth extends CalloutServer {

  private final JwtVerifier verifier;

  /** Creates the sample verifying tokens with {@code verifier}. */
  public JwtAuth(CalloutServerConfig config, JwtVerifier verifier) {
    super(config);
    this.verifier = verifier;
  }

  @Override
  protected @Nullable HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
    JwtVerification result = verifier.verifyAuthorization(headers.getHeaders());
    switch (result.outcome()) {
      case VALID:
        return CalloutTools.clearRouteCache(
            CalloutTools.addHeaderMutation(result.decodedHeaders()));
      case MISSING:
        ctx.respondImmediately(unauthorized(JwtVerifier.NO_TOKEN));
        return null;
      case INVALID:
      default:
        ctx.respondImmediately(unauthorized(JwtVerifier.INVALID_TOKEN));
        return null;
    }
  }

  private static ImmediateResponse unauthorized(String body) {
    return CalloutTools.headerImmediateResponse(
        401, List.of(Map.entry("www-authenticate", "Bearer")), body);
  }
}
