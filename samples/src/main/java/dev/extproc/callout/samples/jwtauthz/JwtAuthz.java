package dev.extproc.callout.samples.jwtauthz;

import static java.util.Objects.requireNonNull;

import dev.extproc.callout.AuthzTools;
import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.samples.jwt.JwtVerification;
import dev.extproc.callout.samples.jwt.JwtVerifier;
import io.envoyproxy.envoy.service.auth.v3.CheckRequest;
import io.envoyproxy.envoy.service.auth.v3.CheckResponse;
import io.grpc.Status;
import java.util.Map;
import java.util.Optional;

/**
 * The {@code jwt-auth} token rules as an ext_authz decision: a request with a valid RS256 JWT is
 * allowed, with one upstream header {@code decoded-<claim>} per claim; a missing or invalid token
 * is denied with {@code UNAUTHENTICATED}, an HTTP 401 and {@code www-authenticate: Bearer}.
 *
 * <p>It shares {@link JwtVerifier} with {@code jwt-auth}, so both accept the same tokens.
 * Thread-safe: the verifier is immutable.
 */
public final class JwtAuthz extends CalloutServer {

  private static final String AUTHORIZATION = "authorization";

  private final JwtVerifier verifier;

  /** Creates the sample verifying tokens with {@code verifier}. */
  public JwtAuthz(CalloutServerConfig config, JwtVerifier verifier) {
    super(config);
    this.verifier = requireNonNull(verifier, "verifier");
  }

  @Override
  protected CheckResponse onCheck(CheckRequest request, CalloutContext ctx) {
    // AuthzTools reads Envoy's headers map and gRPC clients' header_map alike.
    Optional<String> authorization = AuthzTools.header(request, AUTHORIZATION);
    if (authorization.isEmpty()) {
      return unauthenticated(JwtVerifier.NO_TOKEN);
    }
    JwtVerification result = verifier.verifyAuthorizationHeader(authorization.get());
    if (!result.isValid()) {
      return unauthenticated(JwtVerifier.INVALID_TOKEN);
    }
    AuthzTools.Allow allow = AuthzTools.allow();
    for (Map.Entry<String, String> header : result.decodedHeaders()) {
      allow.setHeader(header.getKey(), header.getValue());
    }
    return allow.build();
  }

  private static CheckResponse unauthenticated(String body) {
    return AuthzTools.deny(401)
        .grpcStatus(Status.Code.UNAUTHENTICATED, body)
        .header("www-authenticate", "Bearer")
        .body(body)
        .build();
  }
}
