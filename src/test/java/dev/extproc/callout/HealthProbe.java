package dev.extproc.callout;

import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * Asks a server's health the three ways load balancers do, over and over, and records every change
 * of answer with its time: {@code GET} on the HTTP health listener ({@link #HTTP}: {@code 200},
 * {@code 503}, or {@code down} when it cannot connect), {@code grpc.health.v1.Health/Check} on a
 * channel of its own ({@link #CHECK}: the serving status, or the RPC's error code), and one {@code
 * Watch} stream opened at the start ({@link #WATCH}: each status pushed, then how the stream
 * ended).
 */
final class HealthProbe implements AutoCloseable {

  static final String HTTP = "http";
  static final String CHECK = "check";
  static final String WATCH = "watch";

  /** Generous: on a busy machine a slow answer must not pass for a failed one. */
  private static final Duration TIMEOUT = Duration.ofSeconds(5);

  /** One change of answer: when, from which probe, and the new answer. */
  record Change(long nanos, String probe, String answer) {}

  private final URI http;
  private final ManagedChannel grpc;
  private final List<Change> changes = new ArrayList<>();
  private final Map<String, String> last = new HashMap<>();
  private final List<Thread> pollers = new ArrayList<>();
  private volatile boolean running = true;

  HealthProbe(URI http, ManagedChannel grpc) {
    this.http = http;
    this.grpc = grpc;
  }

  /** Opens the Watch stream and starts polling the other two. */
  HealthProbe start() {
    HealthGrpc.newStub(grpc)
        .watch(
            HealthCheckRequest.getDefaultInstance(),
            new StreamObserver<HealthCheckResponse>() {
              @Override
              public void onNext(HealthCheckResponse response) {
                record(WATCH, response.getStatus().name());
              }

              @Override
              public void onError(Throwable t) {
                record(WATCH, "ended " + io.grpc.Status.fromThrowable(t).getCode());
              }

              @Override
              public void onCompleted() {
                record(WATCH, "ended OK");
              }
            });
    poll(HTTP, this::askHttp);
    poll(CHECK, this::askCheck);
    return this;
  }

  /** Every change so far, in order. */
  synchronized List<Change> changes() {
    return List.copyOf(changes);
  }

  /**
   * The answer {@code probe} was giving at {@code instant}, then every later one, each once per run
   * of equal answers.
   */
  List<String> answersFrom(String probe, long instant) {
    List<Change> all = changes().stream().filter(c -> c.probe().equals(probe)).toList();
    int from = 0;
    for (int i = 0; i < all.size(); i++) {
      if (all.get(i).nanos() <= instant) {
        from = i;
      }
    }
    return all.subList(from, all.size()).stream().map(Change::answer).toList();
  }

  /** When {@code probe} first gave {@code answer}, or {@link SteadyLoad#NEVER}. */
  long firstTime(String probe, String answer) {
    return changes().stream()
        .filter(c -> c.probe().equals(probe) && c.answer().equals(answer))
        .mapToLong(Change::nanos)
        .findFirst()
        .orElse(SteadyLoad.NEVER);
  }

  /**
   * Waits up to {@code timeout} for {@code probe} to answer {@code answer}; returns whether it
   * does.
   */
  boolean await(String probe, String answer, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!answer.equals(current(probe)) && System.nanoTime() < deadline) {
      Thread.sleep(5);
    }
    return answer.equals(current(probe));
  }

  private synchronized @Nullable String current(String probe) {
    return last.get(probe);
  }

  /** The changes as lines relative to {@code zero}, for failure messages and the test log. */
  String describe(long zero) {
    StringBuilder out = new StringBuilder();
    for (Change c : changes()) {
      out.append(
          String.format("%+8.1f ms %-5s %s%n", (c.nanos() - zero) / 1e6, c.probe(), c.answer()));
    }
    return out.toString();
  }

  private synchronized void record(String probe, String answer) {
    if (!answer.equals(last.put(probe, answer))) {
      changes.add(new Change(System.nanoTime(), probe, answer));
    }
  }

  private interface Ask {
    String ask() throws InterruptedException;
  }

  private void poll(String probe, Ask ask) {
    Thread thread =
        new Thread(
            () -> {
              try {
                while (running) {
                  record(probe, ask.ask());
                  Thread.sleep(2);
                }
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            },
            "health-probe-" + probe);
    thread.setDaemon(true);
    pollers.add(thread);
    thread.start();
  }

  private final HttpClient client = HttpClient.newBuilder().connectTimeout(TIMEOUT).build();

  private String askHttp() throws InterruptedException {
    try {
      return String.valueOf(
          client
              .send(
                  HttpRequest.newBuilder(http).timeout(TIMEOUT).build(),
                  HttpResponse.BodyHandlers.discarding())
              .statusCode());
    } catch (IOException e) {
      return "down";
    }
  }

  private String askCheck() {
    try {
      return HealthGrpc.newBlockingStub(grpc)
          .withDeadlineAfter(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
          .check(HealthCheckRequest.getDefaultInstance())
          .getStatus()
          .name();
    } catch (StatusRuntimeException e) {
      return e.getStatus().getCode().name();
    }
  }

  @Override
  public void close() {
    running = false;
    try {
      for (Thread thread : pollers) {
        thread.join(TimeUnit.SECONDS.toMillis(5));
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
