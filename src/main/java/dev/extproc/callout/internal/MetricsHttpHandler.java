package dev.extproc.callout.internal;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import io.prometheus.metrics.config.EscapingScheme;
import io.prometheus.metrics.expositionformats.ExpositionFormatWriter;
import io.prometheus.metrics.expositionformats.ExpositionFormats;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.util.List;
import java.util.zip.GZIPOutputStream;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code GET /metrics}: a scrape of one registry in the format the {@code Accept} header asks for,
 * chosen by the Prometheus library (text 0.0.4 by default, OpenMetrics when asked), gzipped when
 * the client accepts it.
 */
final class MetricsHttpHandler implements HttpHandler {
  private static final Logger logger = LoggerFactory.getLogger(MetricsHttpHandler.class);

  /** Where metrics are served. */
  static final String PATH = "/metrics";

  private final PrometheusRegistry registry;
  private final ExpositionFormats formats = ExpositionFormats.init();

  MetricsHttpHandler(PrometheusRegistry registry) {
    this.registry = registry;
  }

  @Override
  public void handle(HttpExchange exchange) throws IOException {
    try (exchange) {
      if (!isMetricsPath(exchange)) {
        exchange.sendResponseHeaders(404, -1);
        return;
      }
      String method = exchange.getRequestMethod();
      exchange.getResponseHeaders().set("Cache-Control", "no-store");
      if (!method.equals("GET") && !method.equals("HEAD")) {
        exchange.getResponseHeaders().set("Allow", "GET, HEAD");
        exchange.sendResponseHeaders(405, -1);
        return;
      }
      String accept = joined(exchange.getRequestHeaders().get("Accept"));
      ExpositionFormatWriter writer = writerFor(accept);
      byte[] body;
      boolean gzip = acceptsGzip(exchange.getRequestHeaders().get("Accept-Encoding"));
      try {
        body = scrape(writer, EscapingScheme.fromAcceptHeader(accept), gzip);
      } catch (RuntimeException e) {
        logger.warn("metrics scrape failed", e);
        exchange.sendResponseHeaders(500, -1);
        return;
      }
      exchange.getResponseHeaders().set("Content-Type", writer.getContentType());
      if (gzip) {
        exchange.getResponseHeaders().set("Content-Encoding", "gzip");
      }
      if (method.equals("HEAD")) {
        exchange.sendResponseHeaders(200, -1);
        return;
      }
      exchange.sendResponseHeaders(200, body.length);
      try (OutputStream out = exchange.getResponseBody()) {
        out.write(body);
      }
    }
  }

  /**
   * The library's choice for {@code accept}; without its protobuf module (left out, as it carries a
   * second protobuf runtime), a scraper that prefers protobuf gets the best text format it takes.
   */
  private ExpositionFormatWriter writerFor(String accept) {
    ExpositionFormatWriter writer = formats.findWriter(accept);
    if (writer.isAvailable()) {
      return writer;
    }
    ExpositionFormatWriter openMetrics = formats.getOpenMetricsTextFormatWriter();
    return openMetrics.accepts(accept) ? openMetrics : formats.getPrometheusTextFormatWriter();
  }

  private byte[] scrape(ExpositionFormatWriter writer, EscapingScheme escaping, boolean gzip)
      throws IOException {
    ByteArrayOutputStream buffer = new ByteArrayOutputStream(32 * 1024);
    if (gzip) {
      try (GZIPOutputStream out = new GZIPOutputStream(buffer)) {
        writer.write(out, registry.scrape(), escaping);
      }
    } else {
      writer.write(buffer, registry.scrape(), escaping);
    }
    return buffer.toByteArray();
  }

  /** Answers 404: {@code /metrics} when metrics are off. */
  static void notFound(HttpExchange exchange) throws IOException {
    try (exchange) {
      exchange.sendResponseHeaders(404, -1);
    }
  }

  private static boolean isMetricsPath(HttpExchange exchange) {
    String path = exchange.getRequestURI().getPath();
    return path.equals(PATH) || path.equals(PATH + "/");
  }

  private static String joined(@Nullable List<String> values) {
    return values == null ? "" : String.join(",", values);
  }

  private static boolean acceptsGzip(@Nullable List<String> values) {
    for (String coding : joined(values).split(",", -1)) {
      int parameters = coding.indexOf(';');
      String name = parameters < 0 ? coding : coding.substring(0, parameters);
      if (name.trim().equalsIgnoreCase("gzip")) {
        return true;
      }
    }
    return false;
  }
}
