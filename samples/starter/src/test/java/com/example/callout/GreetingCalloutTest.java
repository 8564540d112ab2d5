package com.example.callout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.testing.CalloutExtension;
import dev.extproc.callout.testing.CalloutTester;
import dev.extproc.callout.testing.Replies;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingResponse;
import io.grpc.Status;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class GreetingCalloutTest {

  @RegisterExtension
  static final CalloutExtension<GreetingCallout> callout =
      CalloutExtension.inProcess(() -> new GreetingCallout(CalloutServerConfig.defaults(), "hi"));

  @Test
  void requestHeaders_addsTheGreeting() {
    CalloutTester.Stream stream = callout.newStream();

    ProcessingResponse reply =
        stream.requestHeaders(CalloutTester.headers(":method", "GET", ":path", "/"));

    assertEquals(Map.of("x-greeting", "hi"), Replies.setHeaders(reply));
    assertEquals(Status.Code.OK, stream.halfClose().getCode());
  }

  @Test
  void requestHeaders_forbiddenPath_answers403() {
    ProcessingResponse reply =
        callout.newStream().requestHeaders(CalloutTester.headers(":path", "/forbidden"));

    assertTrue(Replies.isImmediateResponse(reply));
    assertEquals(403, Replies.immediateStatus(reply));
    assertEquals("Forbidden by my-callout\n", Replies.immediateBodyString(reply));
  }
}
