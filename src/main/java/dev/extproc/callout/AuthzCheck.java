package dev.extproc.callout;

import io.envoyproxy.envoy.service.auth.v3.AuthorizationGrpc;
import io.envoyproxy.envoy.service.auth.v3.CheckRequest;
import io.envoyproxy.envoy.service.auth.v3.CheckResponse;
import io.grpc.Metadata;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The ext_authz protocol of one {@code Check} call: runs {@link CalloutServer#onCheck}, sends its
 * decision and closes the call OK. A decision whose status contradicts its HTTP response (a {@code
 * denied_response} with status OK, which Envoy would read as an allow, or an {@code ok_response}
 * with a non-OK status) fails the call with {@code INTERNAL} instead of being sent.
 */
final class AuthzCheck implements StreamProtocol<CheckRequest> {
  private static final Logger logger = LoggerFactory.getLogger(AuthzCheck.class);
  private static final String HOOK = "onCheck";

  /** The decision for a hook that returns null: allow, unchanged. */
  static final CheckResponse ALLOW = AuthzTools.allow().build();

  private final CalloutServer callout;
  private final CalloutMetrics metrics;
  private final CalloutContext ctx;
  private final StreamSink<CheckResponse> sink;

  private AuthzCheck(
      CalloutServer callout,
      CalloutMetrics metrics,
      CalloutContext ctx,
      StreamSink<CheckResponse> sink) {
    this.callout = callout;
    this.metrics = metrics;
    this.ctx = ctx;
    this.sink = sink;
  }

  /** The {@code envoy.service.auth.v3.Authorization} service backed by {@code callout}. */
  static ServerServiceDefinition service(
      CalloutServer callout, CalloutMetrics metrics, CalloutStream.Transport transport) {
    return CalloutStream.service(
        AuthorizationGrpc.getServiceDescriptor(),
        AuthorizationGrpc.getCheckMethod(),
        transport,
        (ctx, sink) -> new AuthzCheck(callout, metrics, ctx, sink));
  }

  @Override
  public void start() {}

  @Override
  public void onMessage(CheckRequest request) {
    if (SupervisedHook.refuseOversized(sink, request, callout.config())) {
      return;
    }
    long started = System.nanoTime();
    CheckResponse decision =
        SupervisedHook.run(sink, ctx, HOOK, () -> callout.onCheck(request, ctx), ALLOW);
    if (decision == null) {
      metrics.checkEnded(CalloutMetrics.Decision.FAILED, started);
      return;
    }
    boolean allowed = decision.getStatus().getCode() == Status.Code.OK.value();
    String contradiction =
        allowed && decision.hasDeniedResponse()
            ? "a denied_response with status OK, which Envoy reads as an allow"
            : !allowed && decision.hasOkResponse()
                ? "an ok_response with status " + decision.getStatus().getCode()
                : null;
    if (contradiction != null) {
      logger.warn("[{}] {} returned {}; failing the check", ctx.streamId(), HOOK, contradiction);
      metrics.checkEnded(CalloutMetrics.Decision.FAILED, started);
      sink.close(
          Status.INTERNAL.withDescription(HOOK + " returned " + contradiction), new Metadata());
      return;
    }
    metrics.checkEnded(
        allowed ? CalloutMetrics.Decision.ALLOWED : CalloutMetrics.Decision.DENIED, started);
    if (logger.isDebugEnabled()) {
      logger.debug(
          "[{}] check {} (status {})",
          ctx.streamId(),
          allowed ? "allowed" : "denied",
          decision.getStatus().getCode());
    }
    sink.send(decision);
    sink.close(Status.OK, null);
  }

  @Override
  public void end(Status status) {}
}
