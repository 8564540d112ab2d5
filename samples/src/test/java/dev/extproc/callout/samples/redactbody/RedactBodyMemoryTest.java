package dev.extproc.callout.samples.redactbody;

import static com.google.common.truth.Truth.assertWithMessage;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The full-duplex path keeps memory flat: 64 MiB stream through {@code redact-body} in 16 KiB
 * chunks in a JVM whose heap is capped at 64 MiB, and the output equals the masked input.
 */
class RedactBodyMemoryTest {

  @Test
  void sixtyFourMebibytes_throughA64MebibyteHeap_outputEqualsMaskedInput() throws Exception {
    String classPath =
        System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process check =
        new ProcessBuilder(
                List.of(
                    java,
                    "-Xmx64m",
                    "-XX:+ExitOnOutOfMemoryError",
                    "-cp",
                    classPath,
                    RedactBodyMemoryCheck.class.getName(),
                    "64",
                    "16384"))
            .redirectErrorStream(true)
            .start();
    boolean exited = check.waitFor(120, TimeUnit.SECONDS);
    String output = new String(check.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!exited) {
      check.destroyForcibly();
    }

    assertWithMessage("finished within 120 s; output:\n%s", output).that(exited).isTrue();
    assertWithMessage("exit code; output:\n%s", output).that(check.exitValue()).isEqualTo(0);
    assertWithMessage("output").that(output).contains("OK bytes=");
    System.out.println(output.trim());
  }
}
