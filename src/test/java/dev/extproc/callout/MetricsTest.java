package dev.extproc.callout;

import static com.google.common.truth.Truth.assertThat;
import static dev.extproc.callout.testing.CalloutTester.body;
import static dev.extproc.callout.testing.CalloutTester.headers;

import com.google.common.collect.Maps;
import dev.extproc.callout.testing.CalloutTester;
import io.envoyproxy.envoy.service.ext_proc.v3.HeadersResponse;
import io.envoyproxy.envoy.service.ext_proc.v3.HttpHeaders;
import io.envoyproxy.envoy.service.ext_proc.v3.ProcessingRequest;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Runs streams through a real server and reads {@code /metrics} over HTTP, as Prometheus would. */
class MetricsTest {

  private static final String LOOPBACK_ANY_PORT = "127.0.0.1:0";
  private static final String TEXT_0_0_4 = "text/plain; version=0.0.4; charset=utf-8";
  private static final String OPENMETRICS_1_0_0 =
      "application/openmetrics-text; version=1.0.0; charset=utf-8";

  private final HttpClient http =
      HttpClient.newBuilder()
          .version(HttpClient.Version.HTTP_1_1)
          .connectTimeout(Duration.ofSeconds(5))
          .build();
  private final List<AutoCloseable> cleanup = new ArrayList<>();

  @AfterEach
  void cleanUp() throws Exception {
    for (int i = cleanup.size() - 1; i >= 0; i--) {
      cleanup.get(i).close();
    }
  }

  /** Throws on "x-throw", answers immediately on "x-deny", else adds a header. */
  private static final class Callout extends CalloutServer {
    Callout(CalloutServerConfig config) {
      super(config);
    }

    @Override
    protected HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
      if (CalloutTools.headersContain(headers, "x-throw")) {
        throw new IllegalStateException("boom");
      }
      if (CalloutTools.headersContain(headers, "x-deny")) {
        ctx.respondImmediately(CalloutTools.headerImmediateResponse(403, List.of()));
      }
      return CalloutTools.addHeaderMutation(List.of(Map.entry("x-seen", "1")));
    }
  }

  private Callout started(CalloutServerConfig.Builder config) throws IOException {
    Callout callout =
        new Callout(
            config
                .plaintextAddress(LOOPBACK_ANY_PORT)
                .healthCheckAddress(LOOPBACK_ANY_PORT)
                .disableTls()
                .shutdownDrainDelay(Duration.ZERO)
                .build());
    callout.start();
    cleanup.add(callout);
    return callout;
  }

  private CalloutTester tester(CalloutServer server) {
    InetSocketAddress address = server.plaintextAddress().orElseThrow();
    ManagedChannel channel =
        Grpc.newChannelBuilderForAddress(
                address.getHostString(), address.getPort(), InsecureChannelCredentials.create())
            .build();
    cleanup.add(channel::shutdownNow);
    return CalloutTester.forChannel(channel);
  }

  private HttpResponse<byte[]> get(CalloutServer server, String path, String... headers)
      throws Exception {
    return send(server, "GET", path, headers);
  }

  private HttpResponse<byte[]> send(
      CalloutServer server, String method, String path, String... headers) throws Exception {
    int port = server.healthCheckAddress().orElseThrow().getPort();
    HttpRequest.Builder request =
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
            .method(method, HttpRequest.BodyPublishers.noBody())
            .timeout(Duration.ofSeconds(5));
    if (headers.length > 0) {
      request.headers(headers);
    }
    return http.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
  }

  private String scrape(CalloutServer server) throws Exception {
    HttpResponse<byte[]> response = get(server, "/metrics");
    assertThat(response.statusCode()).isEqualTo(200);
    return new String(response.body(), StandardCharsets.UTF_8);
  }

  /** Each sample line as {@code name{labels}} to its value; comments left out. */
  private static Map<String, Double> samples(String exposition) {
    Map<String, Double> samples = new LinkedHashMap<>();
    for (String line : exposition.split("\n", -1)) {
      if (line.isEmpty() || line.startsWith("#")) {
        continue;
      }
      int space = line.lastIndexOf(' ');
      samples.put(line.substring(0, space), Double.parseDouble(line.substring(space + 1)));
    }
    return samples;
  }

  /**
   * Scrapes until {@code series} reads {@code value}, for what the server records after replying.
   */
  private Map<String, Double> scrapeUntil(CalloutServer server, String series, double value)
      throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    Map<String, Double> samples = samples(scrape(server));
    while (!Double.valueOf(value).equals(samples.get(series)) && System.nanoTime() < deadline) {
      Thread.sleep(10);
      samples = samples(scrape(server));
    }
    return samples;
  }

  @Test
  void streams_countedByPhaseOutcomeAndImmediateResponse_exactValues() throws Exception {
    Callout server = started(CalloutServerConfig.newBuilder());
    Callout other = started(CalloutServerConfig.newBuilder());
    CalloutTester tester = tester(server);

    CalloutTester.Stream ok = tester.newStream();
    ok.requestHeaders(headers(":path", "/"));
    ok.requestBody(body("hello", true));
    ok.responseHeaders(headers(":status", "200"));
    assertThat(ok.halfClose().getCode()).isEqualTo(Status.Code.OK);

    CalloutTester.Stream failing = tester.newStream();
    failing.send(ProcessingRequest.newBuilder().setRequestHeaders(headers("x-throw", "1")).build());
    assertThat(failing.awaitClose().getCode()).isEqualTo(Status.Code.INTERNAL);

    CalloutTester.Stream denied = tester.newStream();
    assertThat(denied.requestHeaders(headers("x-deny", "1")).hasImmediateResponse()).isTrue();
    assertThat(denied.halfClose().getCode()).isEqualTo(Status.Code.OK);

    CalloutTester.Stream cancelled = tester.newStream();
    cancelled.requestHeaders(headers(":path", "/"));
    cancelled.cancel();

    Map<String, Double> samples = scrapeUntil(server, "callout_streams_active", 0);

    Map<String, Double> expected = new LinkedHashMap<>();
    expected.put("callout_streams_active", 0.0);
    expected.put("callout_streams_total", 4.0);
    for (Status.Code code : Status.Code.values()) {
      double count =
          switch (code) {
            case OK -> 2;
            case INTERNAL, CANCELLED -> 1;
            default -> 0;
          };
      expected.put("callout_streams_ended_total{grpc_code=\"" + code.name() + "\"}", count);
    }
    for (Phase phase : Phase.values()) {
      String label = "{phase=\"" + phase.wireName() + "\"}";
      double messages =
          switch (phase) {
            case REQUEST_HEADERS -> 4;
            case REQUEST_BODY, RESPONSE_HEADERS -> 1;
            default -> 0;
          };
      expected.put("callout_messages_total" + label, messages);
      expected.put("callout_hook_duration_seconds_count" + label, messages);
      expected.put(
          "callout_hook_duration_seconds_bucket{phase=\"" + phase.wireName() + "\",le=\"+Inf\"}",
          messages);
      expected.put(
          "callout_immediate_responses_total" + label, phase == Phase.REQUEST_HEADERS ? 1.0 : 0.0);
    }
    assertThat(Maps.filterKeys(samples, expected::containsKey)).containsExactlyEntriesIn(expected);
    List<String> bounds = new ArrayList<>();
    for (String series : samples.keySet()) {
      if (series.startsWith("callout_hook_duration_seconds_bucket{phase=\"request_headers\"")) {
        bounds.add(series.substring(series.indexOf("le=\"") + 4, series.length() - 2));
      }
    }
    assertThat(bounds)
        .containsExactly(
            "1.0E-4", "2.5E-4", "5.0E-4", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
            "0.1", "0.2", "0.5", "1.0", "2.5", "5.0", "10.0", "+Inf")
        .inOrder();
    assertThat(samples.get("callout_hook_duration_seconds_sum{phase=\"request_headers\"}"))
        .isGreaterThan(0.0);
    // JVM basics, and a second server in the same JVM counts only its own streams.
    assertThat(samples.get("jvm_threads_current")).isGreaterThan(0.0);
    assertThat(samples.get("jvm_memory_used_bytes{area=\"heap\"}")).isGreaterThan(0.0);
    assertThat(samples.keySet()).contains("process_cpu_seconds_total");
    assertThat(samples(scrape(other)).get("callout_streams_total")).isEqualTo(0.0);
  }

  @Test
  void contentNegotiation_textByDefault_openMetricsWhenAsked_gzipWhenAccepted() throws Exception {
    Callout server = started(CalloutServerConfig.newBuilder());

    HttpResponse<byte[]> text = get(server, "/metrics");
    assertThat(text.headers().firstValue("Content-Type")).hasValue(TEXT_0_0_4);
    assertThat(text.headers().firstValue("Content-Encoding")).isEmpty();
    assertThat(new String(text.body(), StandardCharsets.UTF_8))
        .contains("# TYPE callout_streams_total counter\n");

    HttpResponse<byte[]> openMetrics =
        get(server, "/metrics", "Accept", "application/openmetrics-text; version=1.0.0");
    assertThat(openMetrics.headers().firstValue("Content-Type")).hasValue(OPENMETRICS_1_0_0);
    String om = new String(openMetrics.body(), StandardCharsets.UTF_8);
    assertThat(om).contains("# TYPE callout_streams counter\n");
    assertThat(om).endsWith("# EOF\n");

    // Prometheus asking for protobuf first (native histograms): the best text format it takes.
    HttpResponse<byte[]> protobufFirst =
        get(
            server,
            "/metrics",
            "Accept",
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;"
                + "encoding=delimited;q=0.5,application/openmetrics-text;version=1.0.0;q=0.4,"
                + "text/plain;version=0.0.4;q=0.3,*/*;q=0.1");
    assertThat(protobufFirst.statusCode()).isEqualTo(200);
    assertThat(protobufFirst.headers().firstValue("Content-Type")).hasValue(OPENMETRICS_1_0_0);

    HttpResponse<byte[]> gzipped = get(server, "/metrics", "Accept-Encoding", "gzip");
    assertThat(gzipped.headers().firstValue("Content-Encoding")).hasValue("gzip");
    assertThat(gunzip(gzipped.body())).contains("# TYPE callout_streams_total counter\n");
  }

  @Test
  void methodsAndPaths_headAnswers_postRefused_healthUnchanged() throws Exception {
    Callout server = started(CalloutServerConfig.newBuilder());

    HttpResponse<byte[]> head = send(server, "HEAD", "/metrics");
    assertThat(head.statusCode()).isEqualTo(200);
    assertThat(head.headers().firstValue("Content-Type")).hasValue(TEXT_0_0_4);
    assertThat(head.body()).isEmpty();
    HttpResponse<byte[]> post = send(server, "POST", "/metrics");
    assertThat(post.statusCode()).isEqualTo(405);
    assertThat(post.headers().firstValue("Allow")).hasValue("GET, HEAD");
    assertThat(get(server, "/metrics/").statusCode()).isEqualTo(200);
    assertThat(get(server, "/metricsx").statusCode()).isEqualTo(404);
    assertThat(new String(get(server, "/healthz").body(), StandardCharsets.UTF_8))
        .isEqualTo("SERVING\n");
  }

  @Test
  void disableMetrics_metricsPathIs404_healthStillServes_noInstrumentation() throws Exception {
    Callout server = started(CalloutServerConfig.newBuilder().disableMetrics());

    assertThat(get(server, "/metrics").statusCode()).isEqualTo(404);
    assertThat(get(server, "/").statusCode()).isEqualTo(200);
    assertThat(server.metrics()).isSameInstanceAs(CalloutMetrics.OFF);
    CalloutTester.Stream stream = tester(server).newStream();
    stream.requestHeaders(headers(":path", "/"));
    assertThat(stream.halfClose().getCode()).isEqualTo(Status.Code.OK);
  }

  @Test
  void combinedHealthCheck_nowhereToServe_noInstrumentation() {
    Callout server =
        new Callout(CalloutServerConfig.newBuilder().disableTls().combinedHealthCheck().build());

    assertThat(server.metrics()).isSameInstanceAs(CalloutMetrics.OFF);
    assertThat(server.metrics().registry()).isNull();
  }

  private static String gunzip(byte[] body) throws IOException {
    try (InputStream in = new GZIPInputStream(new ByteArrayInputStream(body))) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }
}
