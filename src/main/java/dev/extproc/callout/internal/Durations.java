package dev.extproc.callout.internal;

import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.Locale;

/** Parses the durations of flags and environment variables: {@code 500ms}, {@code 30s}, ISO. */
public final class Durations {

  private Durations() {}

  /**
   * Parses {@code N} followed by {@code ms}, {@code s}, {@code m} or {@code h}, or an ISO-8601
   * duration such as {@code PT30S}; a bare {@code 0} is zero.
   *
   * @throws IllegalArgumentException for anything else, or a negative duration
   */
  public static Duration parse(String text) {
    String v = text.trim().toLowerCase(Locale.ROOT);
    Duration result;
    try {
      if (v.equals("0")) {
        result = Duration.ZERO;
      } else if (v.startsWith("pt") || v.startsWith("p")) {
        result = Duration.parse(v.toUpperCase(Locale.ROOT));
      } else if (v.endsWith("ms")) {
        result = Duration.ofMillis(Long.parseLong(v.substring(0, v.length() - 2)));
      } else if (v.endsWith("s")) {
        result = Duration.ofSeconds(Long.parseLong(v.substring(0, v.length() - 1)));
      } else if (v.endsWith("m")) {
        result = Duration.ofMinutes(Long.parseLong(v.substring(0, v.length() - 1)));
      } else if (v.endsWith("h")) {
        result = Duration.ofHours(Long.parseLong(v.substring(0, v.length() - 1)));
      } else {
        throw new IllegalArgumentException("not a duration (expected: e.g. 500ms, 30s, 2m)");
      }
    } catch (NumberFormatException | DateTimeParseException e) {
      throw new IllegalArgumentException("not a duration (expected: e.g. 500ms, 30s, 2m)", e);
    }
    if (result.isNegative()) {
      throw new IllegalArgumentException("negative duration (expected: >= 0)");
    }
    return result;
  }
}
