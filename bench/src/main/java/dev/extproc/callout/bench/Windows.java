package dev.extproc.callout.bench;

import dev.extproc.callout.samples.Json;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.jspecify.annotations.Nullable;

/**
 * Several measured windows of one run ({@code --repeat}): each window's JSON line marked with its
 * number, and a last line with the median of every number across the windows, except the outcome
 * counts (errors and the like), which are summed so that no error hides behind a median.
 */
final class Windows {

  /** Counts summed rather than taken the median of. */
  private static final Set<String> SUMMED =
      Set.of(
          "ok", "immediate_responses", "errors", "type_mismatches", "failed_streams", "timeouts");

  private final List<LoadResult> results;

  Windows(List<LoadResult> results) {
    if (results.isEmpty()) {
      throw new IllegalArgumentException("no window");
    }
    this.results = List.copyOf(results);
  }

  /** Errors over every window. */
  long errors() {
    return results.stream().mapToLong(LoadResult::errors).sum();
  }

  /** The JSON lines: one per window, then the median; just the window's line for one window. */
  List<String> jsonLines() {
    if (results.size() == 1) {
      return List.of(results.get(0).toJson());
    }
    List<String> lines = new ArrayList<>();
    for (int i = 0; i < results.size(); i++) {
      Map<String, @Nullable Object> json = new LinkedHashMap<>();
      json.put("window", i + 1);
      json.putAll(results.get(i).jsonFields());
      lines.add(Json.text(json));
    }
    lines.add(Json.text(median()));
    return lines;
  }

  /** The median (summed counts) of every field across the windows, marked {@code "median"}. */
  Map<String, @Nullable Object> median() {
    Map<String, @Nullable Object> median = new LinkedHashMap<>();
    median.put("window", "median");
    median.put("windows", results.size());
    for (String field : results.get(0).jsonFields().keySet()) {
      List<@Nullable Object> values = new ArrayList<>();
      for (LoadResult result : results) {
        values.add(result.jsonFields().get(field));
      }
      median.put(field, combine(field, values));
    }
    return median;
  }

  private static @Nullable Object combine(String field, List<@Nullable Object> values) {
    List<BigDecimal> numbers = new ArrayList<>();
    for (Object value : values) {
      if (value instanceof Number number) {
        numbers.add(new BigDecimal(number.toString()));
      }
    }
    if (numbers.size() < values.size()) {
      // Text, switches and nulls: the first window's when they agree, else the first non-null.
      Object first = values.get(0);
      if (values.stream().allMatch(value -> Objects.equals(value, first))) {
        return first;
      }
      return values.stream().filter(Objects::nonNull).findFirst().orElse(null);
    }
    if (SUMMED.contains(field)) {
      return numbers.stream().reduce(BigDecimal.ZERO, BigDecimal::add);
    }
    numbers.sort(null);
    int middle = numbers.size() / 2;
    BigDecimal value =
        numbers.size() % 2 == 1
            ? numbers.get(middle)
            : numbers
                .get(middle - 1)
                .add(numbers.get(middle))
                .divide(BigDecimal.valueOf(2), 3, RoundingMode.HALF_UP);
    return value.scale() > 0 ? value.setScale(3, RoundingMode.HALF_UP) : value;
  }

  /**
   * The table: for one window its full table; for several, each window's full table under its
   * number, then one line per window and the median of the main numbers.
   */
  String toTable() {
    if (results.size() == 1) {
      return results.get(0).toTable();
    }
    StringBuilder table = new StringBuilder();
    for (int i = 0; i < results.size(); i++) {
      table
          .append(String.format(Locale.ROOT, "-- window %d of %d", i + 1, results.size()))
          .append(System.lineSeparator())
          .append(results.get(i).toTable());
    }
    String row = "%-8s %12s %10s %10s %10s %12s %12s %10s%n";
    table.append(System.lineSeparator());
    table.append(
        String.format(
            Locale.ROOT,
            row,
            "window",
            "streams/s",
            "p50 µs",
            "p99 µs",
            "p99.9 µs",
            "server µs/str",
            "own µs/str",
            "server GB/s"));
    for (int i = 0; i < results.size(); i++) {
      table.append(row(row, Integer.toString(i + 1), results.get(i).jsonFields()));
    }
    table.append(row(row, "median", median()));
    return table.toString();
  }

  private static String row(String format, String name, Map<String, @Nullable Object> json) {
    return String.format(
        Locale.ROOT,
        format,
        name,
        text(json.get("streams_per_s"), 1),
        text(json.get("p50_us"), 1),
        text(json.get("p99_us"), 1),
        text(json.get("p999_us"), 1),
        text(json.get("server_cpu_us_per_stream"), 2),
        text(json.get("client_cpu_us_per_stream"), 2),
        text(json.get("server_gb_per_cpu_s"), 3));
  }

  private static String text(@Nullable Object value, int decimals) {
    if (value instanceof BigDecimal number) {
      return number.setScale(decimals, RoundingMode.HALF_UP).toPlainString();
    }
    return value == null ? "-" : value.toString();
  }
}
