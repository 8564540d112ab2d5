package dev.extproc.callout.samples;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.LayoutBase;
import java.time.Instant;
import org.slf4j.helpers.MessageFormatter;

/**
 * One JSON object per log event, one per line, in the field names Google Cloud Logging reads from a
 * container's output: {@code time}, {@code severity}, {@code message}, plus {@code logger}, {@code
 * thread} and, for the framework's per-stream lines ({@code "[{}] ..."}), {@code streamId}.
 */
public final class JsonLineLayout extends LayoutBase<ILoggingEvent> {

  private static final String STREAM_PREFIX = "[{}] ";

  /** Creates the layout; logback calls this. */
  public JsonLineLayout() {}

  @Override
  public String doLayout(ILoggingEvent event) {
    String pattern = event.getMessage() == null ? "" : event.getMessage();
    Object[] args = event.getArgumentArray();
    Object streamId = null;
    if (pattern.startsWith(STREAM_PREFIX) && args != null && args.length > 0) {
      streamId = args[0];
      Object[] rest = new Object[args.length - 1];
      System.arraycopy(args, 1, rest, 0, rest.length);
      pattern = pattern.substring(STREAM_PREFIX.length());
      args = rest;
    }
    String message = MessageFormatter.arrayFormat(pattern, args).getMessage();
    IThrowableProxy thrown = event.getThrowableProxy();
    if (thrown != null) {
      // Error Reporting finds a stack trace in the message.
      message = message + "\n" + ThrowableProxyUtil.asString(thrown);
    }
    StringBuilder out = new StringBuilder(128 + message.length());
    out.append("{\"time\":");
    Json.quote(Instant.ofEpochMilli(event.getTimeStamp()).toString(), out);
    out.append(",\"severity\":");
    Json.quote(severity(event.getLevel()), out);
    out.append(",\"message\":");
    Json.quote(message, out);
    out.append(",\"logger\":");
    Json.quote(event.getLoggerName(), out);
    out.append(",\"thread\":");
    Json.quote(event.getThreadName(), out);
    if (streamId != null) {
      out.append(",\"streamId\":");
      Json.quote(String.valueOf(streamId), out);
    }
    return out.append("}\n").toString();
  }

  /** Cloud Logging's severity names for logback's levels. */
  static String severity(Level level) {
    return switch (level.toInt()) {
      case Level.ERROR_INT -> "ERROR";
      case Level.WARN_INT -> "WARNING";
      case Level.INFO_INT -> "INFO";
      default -> "DEBUG";
    };
  }
}
