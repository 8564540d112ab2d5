package dev.extproc.callout.samples.addbody;

import com.google.protobuf.ByteString;
import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.CalloutTools;
import io.envoyproxy.envoy.service.ext_proc.v3.BodyResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpBody;

/**
 * Appends {@value #SUFFIX} to the request body and replaces the response body with {@code
 * new-body}. The suffix is appended to the bytes as they came, so a body that is not UTF-8 is never
 * an error.
 */
public final class AddBody extends CalloutServer {

  /** What the request body gets appended. */
  public static final String SUFFIX = "-added-request-body";

  private static final ByteString SUFFIX_BYTES = ByteString.copyFromUtf8(SUFFIX);

  /** Creates the sample with {@code config}. */
  public AddBody(CalloutServerConfig config) {
    super(config);
  }

  @Override
  protected BodyResponse onRequestBody(HttpBody body, CalloutContext ctx) {
    return CalloutTools.addBodyMutation(body.getBody().concat(SUFFIX_BYTES));
  }

  @Override
  protected BodyResponse onResponseBody(HttpBody body, CalloutContext ctx) {
    return CalloutTools.addBodyMutation("new-body");
  }
}
