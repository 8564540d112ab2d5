package com.example.callout;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.util.Map;
import org.junit.jupiter.api.Test;

class LauncherTest {

  @Test
  void help_listsTheGreetingFlagUnderTheProgramsName() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();

    int code =
        GreetingCallout.launcher()
            .run(
                new String[] {"--help"},
                Map.of(),
                new PrintStream(out, true, UTF_8),
                new PrintStream(err, true, UTF_8),
                (config, flags) -> {
                  throw new AssertionError("--help starts nothing");
                });

    String help = out.toString(UTF_8);
    assertEquals(0, code);
    assertTrue(help.startsWith("Usage: my-callout"), help);
    assertTrue(help.contains("--greeting TEXT"), help);
    assertTrue(help.contains("MY_CALLOUT_GREETING"), help);
    assertTrue(help.contains("--plaintext-address"), help);
  }

  @Test
  void greetingFromTheEnvironment_reachesTheCallout() {
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    String[] greeting = new String[1];

    int code =
        GreetingCallout.launcher()
            .run(
                new String[] {"--disable-tls", "--plaintext-address", "127.0.0.1:1"},
                Map.of("MY_CALLOUT_GREETING", "bonjour"),
                new PrintStream(new ByteArrayOutputStream(), true, UTF_8),
                new PrintStream(err, true, UTF_8),
                (config, flags) -> {
                  greeting[0] = flags.value("--greeting").orElseThrow();
                  throw new IllegalArgumentException("stop here");
                });

    assertEquals(2, code);
    assertEquals("bonjour", greeting[0]);
    assertEquals("my-callout: stop here", err.toString(UTF_8).strip());
  }
}
