package com.example.callout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.LoggerContext;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.testing.CalloutExtension;
import dev.extproc.callout.testing.CalloutTester;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.LoggerFactory;

/** The logging configuration in force is this project's own logback.xml, not the framework's. */
class LoggingConfigurationTest {

  @RegisterExtension
  static final CalloutExtension<GreetingCallout> callout =
      CalloutExtension.inProcess(() -> new GreetingCallout(CalloutServerConfig.defaults(), "hi"));

  @Test
  void logback_readsThisProjectsLogbackXml_evenWithTheFrameworkRunning() {
    callout.newStream().requestHeaders(CalloutTester.headers(":path", "/"));

    LoggerContext logback = (LoggerContext) LoggerFactory.getILoggerFactory();
    assertEquals("src/main/resources/logback.xml", logback.getProperty("my-callout.logging"));
    assertTrue(LoggerFactory.getLogger(GreetingCallout.class).isDebugEnabled());
    assertFalse(LoggerFactory.getLogger("dev.extproc.callout.CalloutServer").isDebugEnabled());
    assertTrue(LoggerFactory.getLogger("dev.extproc.callout.CalloutServer").isInfoEnabled());
    assertFalse(LoggerFactory.getLogger("io.grpc.netty.shaded.io.netty").isInfoEnabled());
  }
}
