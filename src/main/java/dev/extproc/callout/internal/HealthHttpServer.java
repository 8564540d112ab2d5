package dev.extproc.callout.internal;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.function.BooleanSupplier;
import javax.net.ssl.SSLContext;
import org.jspecify.annotations.Nullable;

/**
 * The HTTP(S) health check listener: {@code GET} or {@code HEAD} on any path answers 200 while the
 * server is serving and 503 once it drains; {@code /metrics} serves Prometheus metrics when enabled
 * (404 when not). Built on the JDK's own HTTP server, whose exchanges run on an {@link
 * ExchangeExecutor}: a request (TLS handshake, request line and headers, answer) gets {@link
 * #REQUEST_TIME_LIMIT}, and at most {@link #MAX_EXCHANGES} run at once, so slow clients cannot hold
 * back the answers of others.
 */
public final class HealthHttpServer {

  /**
   * Time one request may take from its first byte to the end of its answer: 10 s, twice the longest
   * default health check timeout of the usual probers (Google Cloud's 5 s; Kubernetes' is 1 s).
   * Past it the connection is closed.
   */
  static final Duration REQUEST_TIME_LIMIT = Duration.ofSeconds(10);

  /**
   * Most requests in progress at once: 512. Each holds a thread while its request arrives, so this
   * bounds what slow clients can take; past it new connections are closed at once.
   */
  static final int MAX_EXCHANGES = 512;

  private final HttpServer server;
  private final ExchangeExecutor executor;

  private HealthHttpServer(HttpServer server, ExchangeExecutor executor) {
    this.server = server;
    this.executor = executor;
  }

  /**
   * Binds and starts the listener.
   *
   * @param sslContext serves HTTPS when present
   * @param serving answers whether to report 200
   * @param metrics served at {@code /metrics} when present
   * @param clock runs the request time limits
   */
  public static HealthHttpServer start(
      InetSocketAddress address,
      @Nullable SSLContext sslContext,
      BooleanSupplier serving,
      @Nullable PrometheusRegistry metrics,
      Clock clock)
      throws IOException {
    return start(address, sslContext, serving, metrics, clock, REQUEST_TIME_LIMIT, MAX_EXCHANGES);
  }

  /**
   * Like {@link #start(InetSocketAddress, SSLContext, BooleanSupplier, PrometheusRegistry, Clock)},
   * with other limits.
   */
  static HealthHttpServer start(
      InetSocketAddress address,
      @Nullable SSLContext sslContext,
      BooleanSupplier serving,
      @Nullable PrometheusRegistry metrics,
      Clock clock,
      Duration requestTimeLimit,
      int maxExchanges)
      throws IOException {
    HttpServer server;
    if (sslContext == null) {
      server = HttpServer.create(address, 0);
    } else {
      HttpsServer https = HttpsServer.create(address, 0);
      https.setHttpsConfigurator(new HttpsConfigurator(sslContext));
      server = https;
    }
    ExchangeExecutor executor =
        new ExchangeExecutor(maxExchanges, requestTimeLimit, "callout-health-", clock);
    server.setExecutor(executor);
    server.createContext("/", exchange -> answer(exchange, serving.getAsBoolean()));
    server.createContext(
        MetricsHttpHandler.PATH,
        metrics == null ? MetricsHttpHandler::notFound : new MetricsHttpHandler(metrics));
    server.start();
    return new HealthHttpServer(server, executor);
  }

  private static void answer(HttpExchange exchange, boolean serving) throws IOException {
    try (exchange) {
      String method = exchange.getRequestMethod();
      exchange.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
      exchange.getResponseHeaders().set("Cache-Control", "no-store");
      if (!method.equals("GET") && !method.equals("HEAD")) {
        exchange.getResponseHeaders().set("Allow", "GET, HEAD");
        exchange.sendResponseHeaders(405, -1);
        return;
      }
      int status = serving ? 200 : 503;
      byte[] body = (serving ? "SERVING\n" : "NOT_SERVING\n").getBytes(StandardCharsets.UTF_8);
      if (method.equals("HEAD")) {
        exchange.sendResponseHeaders(status, -1);
        return;
      }
      exchange.sendResponseHeaders(status, body.length);
      try (OutputStream out = exchange.getResponseBody()) {
        out.write(body);
      }
    }
  }

  /** The bound address. */
  public InetSocketAddress address() {
    return server.getAddress();
  }

  /** Closes the listener and its connections at once. */
  public void stop() {
    server.stop(0);
    executor.shutdownNow();
  }
}
