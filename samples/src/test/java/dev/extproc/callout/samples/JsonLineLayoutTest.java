package dev.extproc.callout.samples;

import static com.google.common.truth.Truth.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.LoggingEvent;
import com.google.protobuf.Struct;
import com.google.protobuf.util.JsonFormat;
import java.time.Instant;
import org.jspecify.annotations.Nullable;
import org.junit.jupiter.api.Test;

class JsonLineLayoutTest {

  private static final Logger LOGGER = new LoggerContext().getLogger("dev.extproc.callout.X");

  private static Struct layout(
      Level level, String message, Object[] args, @Nullable Throwable thrown) throws Exception {
    LoggingEvent event = new LoggingEvent("fqcn", LOGGER, level, message, thrown, args);
    event.setThreadName("callout-hook-1");
    String line = new JsonLineLayout().doLayout(event);
    assertThat(line).endsWith("}\n");
    assertThat(line.indexOf('\n')).isEqualTo(line.length() - 1); // one line per event
    Struct.Builder parsed = Struct.newBuilder();
    JsonFormat.parser().merge(line, parsed);
    return parsed.build();
  }

  private static String field(Struct struct, String name) {
    return struct.getFieldsOrThrow(name).getStringValue();
  }

  @Test
  void streamLine_cloudLoggingFieldsAndStreamId() throws Exception {
    Struct json =
        layout(
            Level.WARN,
            "[{}] {} failed; ending the stream with INTERNAL",
            new Object[] {7L, "onRequestHeaders"},
            new IllegalStateException("boom \"quoted\""));

    assertThat(field(json, "severity")).isEqualTo("WARNING");
    assertThat(field(json, "streamId")).isEqualTo("7");
    assertThat(field(json, "message"))
        .startsWith(
            "onRequestHeaders failed; ending the stream with INTERNAL\n"
                + "java.lang.IllegalStateException: boom \"quoted\"");
    assertThat(field(json, "logger")).isEqualTo("dev.extproc.callout.X");
    assertThat(field(json, "thread")).isEqualTo("callout-hook-1");
    assertThat(Instant.parse(field(json, "time"))).isNotNull();
  }

  @Test
  void plainLine_noStreamId_levelsMapped() throws Exception {
    Struct json = layout(Level.INFO, "listening on {}", new Object[] {"0.0.0.0:8080"}, null);

    assertThat(field(json, "message")).isEqualTo("listening on 0.0.0.0:8080");
    assertThat(field(json, "severity")).isEqualTo("INFO");
    assertThat(json.containsFields("streamId")).isFalse();
    assertThat(JsonLineLayout.severity(Level.ERROR)).isEqualTo("ERROR");
    assertThat(JsonLineLayout.severity(Level.DEBUG)).isEqualTo("DEBUG");
    assertThat(JsonLineLayout.severity(Level.TRACE)).isEqualTo("DEBUG");
  }
}
