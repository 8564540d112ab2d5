package dev.extproc.callout;

import static com.google.common.truth.Truth.assertWithMessage;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@link SlowCallout#main} in a JVM of its own, started from this JVM's class path with the given
 * flags, the way a container runs the server: it binds ephemeral loopback ports and logs them, and
 * {@link #sigterm()} sends it SIGTERM as {@code docker stop} and Kubernetes do.
 */
final class ChildCallout implements AutoCloseable {

  private static final Pattern LISTENING = Pattern.compile("(.+) listening on ([^ :]+):(\\d+)$");

  private final Process process;
  private final Path log;

  private ChildCallout(Process process, Path log) {
    this.process = process;
    this.log = log;
  }

  /**
   * Starts the child with every listener on an ephemeral loopback port, TLS off, and {@code flags};
   * its output goes to a file under {@code target/} (a pipe would be closed by {@link #sigterm()}).
   */
  static ChildCallout start(String... flags) throws IOException {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add(SlowCallout.class.getName());
    command.addAll(
        List.of(
            "--disable-tls",
            "--plaintext-address",
            "127.0.0.1:0",
            "--health-check-address",
            "127.0.0.1:0"));
    command.addAll(List.of(flags));
    // The module's build directory (set by callout/pom.xml); it exists before any test runs.
    Path logs = Files.createDirectories(Path.of(System.getProperty("callout.test.logs", "target")));
    Path log = Files.createTempFile(logs, "child-callout-", ".log");
    return new ChildCallout(
        new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start(),
        log);
  }

  /** Waits for the log line that says where {@code listener} listens, and returns that address. */
  InetSocketAddress awaitListening(String listener) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (System.nanoTime() < deadline && process.isAlive()) {
      for (String line : output()) {
        Matcher m = LISTENING.matcher(line);
        if (m.find() && m.group(1).endsWith(listener)) {
          return new InetSocketAddress(m.group(2), Integer.parseInt(m.group(3)));
        }
      }
      Thread.sleep(20);
    }
    throw new AssertionError("no '" + listener + " listening on' line; output:\n" + text());
  }

  /** Waits up to {@code timeout} for a line containing {@code text}; returns whether one came. */
  boolean awaitLine(String text, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (output().stream().anyMatch(line -> line.contains(text))) {
        return true;
      }
      Thread.sleep(10);
    }
    return false;
  }

  /** Sends SIGTERM. */
  void sigterm() {
    process.destroy();
  }

  /** Waits up to {@code timeout} for the process to exit; returns whether it did. */
  boolean awaitExit(Duration timeout) throws InterruptedException {
    return process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** The exit code, once exited. */
  int exitCode() {
    assertWithMessage("exited").that(process.isAlive()).isFalse();
    return process.exitValue();
  }

  /** The lines printed so far. */
  List<String> output() {
    try {
      return Files.readAllLines(log, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The output as one text, for failure messages. */
  String text() {
    return String.join("\n", output());
  }

  @Override
  public void close() {
    process.destroyForcibly();
  }
}
