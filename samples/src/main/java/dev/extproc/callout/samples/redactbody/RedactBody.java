package dev.extproc.callout.samples.redactbody;

import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import io.envoyproxy.envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import org.jspecify.annotations.Nullable;

/**
 * Masks e-mail addresses in response bodies as they stream through, in Envoy's FULL_DUPLEX_STREAMED
 * body mode: each chunk goes back out as soon as it arrives, less the last word, which may be the
 * start of an address that ends in the next chunk. Memory stays flat whatever the body's size. In
 * other body modes the body passes unchanged.
 */
public final class RedactBody extends CalloutServer {

  /** Creates the sample with {@code config}. */
  public RedactBody(CalloutServerConfig config) {
    super(config);
  }

  @Override
  protected @Nullable HeadersResponse onResponseHeaders(HttpHeaders headers, CalloutContext ctx) {
    if (ctx.responseBodyMode() == BodySendMode.FULL_DUPLEX_STREAMED) {
      ctx.transformResponseBody(new EmailMasker());
    }
    return null;
  }
}
