package com.example.callout;

import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.CalloutTools;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.grpc.Status;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Adds {@code x-greeting} to every request on its way upstream, and answers {@code /forbidden} with
 * a 403 of its own. Run it with {@code java -jar target/my-callout.jar --greeting hi}; {@code
 * --help} lists its flag and the framework's.
 */
public final class GreetingCallout extends CalloutServer {
  private static final Logger logger = LoggerFactory.getLogger(GreetingCallout.class);

  private final String greeting;

  GreetingCallout(CalloutServerConfig config, String greeting) {
    super(config);
    this.greeting = greeting;
  }

  @Override
  protected HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
    if (CalloutTools.headerValue(headers, ":path").orElse("").equals("/forbidden")) {
      logger.debug("[{}] /forbidden: answering 403", ctx.streamId());
      ctx.respondImmediately(CalloutTools.denyRequest(403, "Forbidden by my-callout\n"));
      return null;
    }
    return CalloutTools.addHeaderMutation(List.of(Map.entry("x-greeting", greeting)));
  }

  @Override
  protected void onStreamEnd(CalloutContext ctx, Status status) {
    if (!status.isOk()) {
      logger.info("[{}] stream ended with {}", ctx.streamId(), status.getCode());
    }
  }

  /** The command line: the framework's flags and this callout's own {@code --greeting}. */
  static CalloutServer.Launcher launcher() {
    return CalloutServer.launcher("my-callout")
        .flag(
            "--greeting", "MY_CALLOUT_GREETING", "TEXT", "the x-greeting header's value", "hello");
  }

  /** Starts the callout; SIGTERM drains it. */
  public static void main(String[] args) {
    launcher()
        .launch(
            args,
            (config, flags) ->
                new GreetingCallout(config, flags.value("--greeting").orElseThrow()));
  }
}
