package dev.extproc.callout.samples;

import java.util.List;
import java.util.Map;
import org.jspecify.annotations.Nullable;

/** Minimal JSON writing for the samples: JWT claims as header text, log lines. */
public final class Json {

  private Json() {}

  /** Returns {@code value} as text: a string as it is, anything else as JSON. */
  public static String text(@Nullable Object value) {
    return value instanceof String s ? s : write(value, new StringBuilder()).toString();
  }

  private static StringBuilder write(@Nullable Object value, StringBuilder out) {
    if (value == null || value instanceof Boolean || value instanceof Number) {
      return out.append(value);
    }
    if (value instanceof Map<?, ?> map) {
      out.append('{');
      String separator = "";
      for (Map.Entry<?, ?> entry : map.entrySet()) {
        out.append(separator);
        quote(String.valueOf(entry.getKey()), out).append(':');
        write(entry.getValue(), out);
        separator = ",";
      }
      return out.append('}');
    }
    if (value instanceof List<?> list) {
      out.append('[');
      String separator = "";
      for (Object element : list) {
        write(element, out.append(separator));
        separator = ",";
      }
      return out.append(']');
    }
    return quote(value.toString(), out);
  }

  /** Appends {@code s} to {@code out} as a JSON string, quoted and escaped. */
  public static StringBuilder quote(String s, StringBuilder out) {
    out.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> out.append("\\\"");
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        default -> {
          if (c < 0x20) {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
    return out.append('"');
  }
}
