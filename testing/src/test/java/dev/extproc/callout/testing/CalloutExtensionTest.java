package dev.extproc.callout.testing;

import static com.google.common.truth.Truth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.headers;
import static java.util.concurrent.TimeUnit.SECONDS;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import dev.extproc.callout.CalloutTools;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.grpc.Status;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

/**
 * The extension's lifecycle, watched from outside: fixture classes run through the JUnit launcher
 * record the callout each test saw, then this test checks how many there were and that each was
 * closed, the stream a test left open cancelled.
 */
class CalloutExtensionTest {

  /** The callouts the fixtures' tests saw, in order. */
  static final List<Recorder> seen = Collections.synchronizedList(new ArrayList<>());

  /** Adds {@code x-hello: world} and records how each stream ended. */
  static final class Recorder extends CalloutServer {
    final BlockingQueue<Status.Code> ended = new LinkedBlockingQueue<>();

    Recorder() {}

    Recorder(CalloutServerConfig config) {
      super(config);
    }

    @Override
    protected HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
      return CalloutTools.addHeaderMutation(List.of(Map.entry("x-hello", "world")));
    }

    @Override
    protected void onStreamEnd(CalloutContext ctx, Status status) {
      ended.add(status.getCode());
    }
  }

  /** Records the running callout and leaves a stream open for the extension to cancel. */
  private static void leaveAStreamOpen(CalloutExtension<Recorder> callout) {
    seen.add(callout.callout());
    CalloutTester.Stream stream = callout.newStream();
    assertThat(Replies.setHeaders(stream.requestHeaders(headers(":path", "/"))))
        .containsExactly("x-hello", "world");
  }

  static class ClassWide {
    @RegisterExtension
    static final CalloutExtension<Recorder> callout = CalloutExtension.inProcess(Recorder::new);

    @Test
    void first() {
      leaveAStreamOpen(callout);
    }

    @Test
    void second() {
      leaveAStreamOpen(callout);
    }
  }

  static class PerMethod {
    @RegisterExtension
    final CalloutExtension<Recorder> callout =
        CalloutExtension.inProcess(Recorder::new).timeout(Duration.ofSeconds(3));

    @Test
    void first() {
      assertThat(callout.tester().timeout()).isEqualTo(Duration.ofSeconds(3));
      leaveAStreamOpen(callout);
    }

    @Test
    void second() {
      leaveAStreamOpen(callout);
    }
  }

  static class WithNested {
    @RegisterExtension
    static final CalloutExtension<Recorder> callout = CalloutExtension.inProcess(Recorder::new);

    @Test
    void outer() {
      leaveAStreamOpen(callout);
    }

    @Nested
    class Inner {
      @Test
      void inner() {
        leaveAStreamOpen(callout);
      }
    }
  }

  /** Runs {@code fixture}'s tests and fails with their failures, if any. */
  private static void run(Class<?> fixture, int tests) {
    SummaryGeneratingListener listener = new SummaryGeneratingListener();
    LauncherFactory.create()
        .execute(
            LauncherDiscoveryRequestBuilder.request().selectors(selectClass(fixture)).build(),
            listener);
    TestExecutionSummary summary = listener.getSummary();
    StringWriter failures = new StringWriter();
    summary.printFailuresTo(new PrintWriter(failures), 20);
    assertThat(failures.toString()).isEmpty();
    assertThat(summary.getTestsSucceededCount()).isEqualTo(tests);
  }

  /** Checks that {@code callout} was closed after its open streams were cancelled. */
  private static void assertClosed(Recorder callout, int streams) throws InterruptedException {
    for (int i = 0; i < streams; i++) {
      assertThat(callout.ended.poll(5, SECONDS)).isEqualTo(Status.Code.CANCELLED);
    }
    IllegalStateException closed = assertThrows(IllegalStateException.class, callout::start);
    assertThat(closed).hasMessageThat().isEqualTo("server is closed");
  }

  @BeforeEach
  void forget() {
    seen.clear();
  }

  @Test
  void staticField_oneCalloutForTheClass_closedAfterItsLastTest() throws Exception {
    run(ClassWide.class, 2);

    assertThat(seen).hasSize(2);
    assertThat(seen.get(1)).isSameInstanceAs(seen.get(0));
    assertClosed(seen.get(0), 2);
    IllegalStateException after =
        assertThrows(IllegalStateException.class, ClassWide.callout::callout);
    assertThat(after).hasMessageThat().startsWith("no callout running: register the Callout");
  }

  @Test
  void instanceField_oneCalloutPerTest_eachClosedAfterIt() throws Exception {
    run(PerMethod.class, 2);

    assertThat(seen).hasSize(2);
    assertThat(seen.get(1)).isNotSameInstanceAs(seen.get(0));
    assertClosed(seen.get(0), 1);
    assertClosed(seen.get(1), 1);
  }

  @Test
  void staticFieldWithNestedClass_sharedByTheNestedTests_closedOnce() throws Exception {
    run(WithNested.class, 2);

    assertThat(seen).hasSize(2);
    assertThat(seen.get(1)).isSameInstanceAs(seen.get(0));
    assertClosed(seen.get(0), 2);
  }

  @Test
  void callout_outsideItsTests_refused() {
    CalloutExtension<Recorder> idle = CalloutExtension.inProcess(Recorder::new);

    assertThrows(IllegalStateException.class, idle::callout);
    assertThrows(IllegalStateException.class, idle::newStream);
  }

  @Test
  void timeout_notPositive_refused() {
    CalloutExtension<Recorder> extension = CalloutExtension.inProcess(Recorder::new);

    IllegalArgumentException thrown =
        assertThrows(IllegalArgumentException.class, () -> extension.timeout(Duration.ZERO));

    assertThat(thrown).hasMessageThat().isEqualTo("timeout: PT0S (expected: > 0)");
  }

  @Test
  void factoryReturnsNull_beforeAllFailsNamingIt() {
    SummaryGeneratingListener listener = new SummaryGeneratingListener();
    LauncherFactory.create()
        .execute(
            LauncherDiscoveryRequestBuilder.request()
                .selectors(selectClass(NullFactory.class))
                .build(),
            listener);

    List<TestExecutionSummary.Failure> failures = listener.getSummary().getFailures();
    assertThat(failures).hasSize(1);
    assertThat(failures.get(0).getException())
        .hasMessageThat()
        .isEqualTo("the callout factory returned null");
  }

  static class NullFactory {
    @SuppressWarnings("NullAway") // the point of the fixture
    @RegisterExtension
    static final CalloutExtension<Recorder> callout = CalloutExtension.inProcess(() -> null);

    @Test
    void never() {}
  }

  /** The loopback transports: a real listener on 127.0.0.1, driven over a socket. */
  @Nested
  class Loopback {
    @RegisterExtension
    final CalloutExtension<Recorder> plaintext = CalloutExtension.plaintext(Recorder::new);

    @RegisterExtension final CalloutExtension<Recorder> tls = CalloutExtension.tls(Recorder::new);

    @Test
    void plaintext_ephemeralPortOnLoopback_repliesOverTheSocket() {
      CalloutTester.Stream stream = plaintext.newStream();

      assertThat(Replies.setHeaders(stream.requestHeaders(headers(":path", "/"))))
          .containsExactly("x-hello", "world");
      assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
      assertThat(
              plaintext.callout().plaintextAddress().orElseThrow().getAddress().isLoopbackAddress())
          .isTrue();
      assertThat(plaintext.callout().secureAddress()).isEmpty();
      assertThat(plaintext.callout().healthCheckAddress()).isEmpty();
    }

    @Test
    void tls_ephemeralCertificate_repliesOverTls() {
      CalloutTester.Stream stream = tls.newStream();

      assertThat(Replies.setHeaders(stream.requestHeaders(headers(":path", "/"))))
          .containsExactly("x-hello", "world");
      assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
      assertThat(tls.callout().secureAddress().orElseThrow().getPort()).isGreaterThan(0);
      assertThat(tls.callout().plaintextAddress()).isEmpty();
    }
  }
}
