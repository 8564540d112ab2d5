package dev.extproc.callout.samples;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.Configurator;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.encoder.Encoder;
import ch.qos.logback.core.encoder.LayoutWrappingEncoder;
import ch.qos.logback.core.spi.ContextAwareBase;

/**
 * Configures logback for the runnable jar in code: one line per event on stdout, at the level of
 * {@code CALLOUT_LOG_LEVEL} (default INFO), as text or, with {@code --log-format json} ({@code
 * CALLOUT_LOG_FORMAT=json}), as one JSON object per line ({@link JsonLineLayout}). Found by logback
 * through {@code META-INF/services}; configuring in code keeps logback's XML machinery off the
 * start-up path (about a quarter of a second). A {@code -Dlogback.configurationFile=...} given by
 * the user takes over instead.
 */
public final class ConsoleLogConfigurator extends ContextAwareBase implements Configurator {

  static final String PATTERN =
      "%d{yyyy-MM-dd'T'HH:mm:ss.SSSXXX} %-5level [%thread] %logger{36} - %msg%n";

  /** Creates the configurator; logback calls this. */
  public ConsoleLogConfigurator() {}

  @Override
  public ExecutionStatus configure(LoggerContext context) {
    if (System.getProperty("logback.configurationFile") != null) {
      return ExecutionStatus.INVOKE_NEXT_IF_ANY;
    }
    Encoder<ILoggingEvent> encoder;
    if (SampleMain.JSON.equals(System.getProperty(SampleMain.LOG_FORMAT_PROPERTY))) {
      JsonLineLayout layout = new JsonLineLayout();
      layout.setContext(context);
      layout.start();
      LayoutWrappingEncoder<ILoggingEvent> json = new LayoutWrappingEncoder<>();
      json.setLayout(layout);
      encoder = json;
    } else {
      PatternLayoutEncoder text = new PatternLayoutEncoder();
      text.setPattern(PATTERN);
      encoder = text;
    }
    encoder.setContext(context);
    encoder.start();
    ConsoleAppender<ILoggingEvent> console = new ConsoleAppender<>();
    console.setContext(context);
    console.setName("STDOUT");
    console.setEncoder(encoder);
    console.start();

    Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
    root.setLevel(Level.toLevel(System.getenv("CALLOUT_LOG_LEVEL"), Level.INFO));
    root.addAppender(console);
    context.getLogger("io.grpc.netty.shaded").setLevel(Level.WARN);
    return ExecutionStatus.DO_NOT_INVOKE_NEXT_IF_ANY;
  }
}
