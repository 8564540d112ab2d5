package dev.extproc.callout.samples.sseguard;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.google.protobuf.ByteString;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import dev.extproc.callout.BodyTransformer;
import dev.extproc.callout.CalloutContext;
import io.grpc.Status;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits a {@code text/event-stream} body into events and passes each on, secrets masked, as soon
 * as its blank line arrives; only the one incomplete event is held back, at most {@link
 * BodyTransformer.Sink#bufferLimit()} bytes (more ends the stream {@code RESOURCE_EXHAUSTED}: a
 * secret could hide in what would otherwise pass unmasked).
 *
 * <p>Lines end with {@code \n} or {@code \r\n} (a lone {@code \r} is not a line end here). Secrets
 * are {@link #SECRET}s: OpenAI-style API keys ({@code sk-} and 20 or more letters, digits, {@code
 * -} or {@code _}) and AWS access key ids ({@code AKIA} and 16 upper-case letters or digits); each
 * becomes {@value #MASK}. An event, as an SSE client dispatches one, is a block with at least one
 * {@code data:} line; its tokens are the whitespace-separated words of its {@code data:} values,
 * counted after masking. At the end of the body the counts go into dynamic metadata under {@value
 * #NAMESPACE}: {@code events}, {@code tokens} and {@code secrets_masked}. An incomplete last event
 * passes on masked but is not counted, since clients drop it.
 */
final class EventGuard implements BodyTransformer {

  /** The dynamic metadata namespace of the counts. */
  static final String NAMESPACE = "sse-guard";

  /** What a secret becomes. */
  static final String MASK = "[secret]";

  static final Pattern SECRET = Pattern.compile("sk-[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}");

  private static final Pattern DATA_LINE = Pattern.compile("^data:(.*)$", Pattern.MULTILINE);

  private static final Pattern WORDS = Pattern.compile("\\S+");

  private final CalloutContext ctx;
  private ByteString held = ByteString.EMPTY; // the incomplete event
  private int scanned; // bytes of held already searched for the event's end
  private int lineStart; // where held's current line starts
  private long events;
  private long tokens;
  private long secrets;

  EventGuard(CalloutContext ctx) {
    this.ctx = ctx;
  }

  @Override
  public void onChunk(ByteString chunk, Sink out) {
    ByteString text = held.concat(chunk);
    int eventStart = 0;
    for (int i = scanned; i < text.size(); i++) {
      if (text.byteAt(i) != '\n') {
        continue;
      }
      int lineEnd = i > lineStart && text.byteAt(i - 1) == '\r' ? i - 1 : i;
      if (lineEnd == lineStart) { // a blank line: the event is complete
        out.write(guard(text.substring(eventStart, i + 1), true));
        eventStart = i + 1;
      }
      lineStart = i + 1;
    }
    held = text.substring(eventStart);
    scanned = held.size();
    lineStart -= eventStart;
    if (held.size() > out.bufferLimit()) {
      throw Status.RESOURCE_EXHAUSTED
          .withDescription(
              "an SSE event over the "
                  + out.bufferLimit()
                  + " bytes the callout may hold back (--max-buffered-body-size)")
          .asRuntimeException();
    }
  }

  @Override
  public void onEnd(Sink out) {
    if (!held.isEmpty()) {
      out.write(guard(held, false));
      held = ByteString.EMPTY;
    }
    ctx.attachDynamicMetadata(
        Struct.newBuilder()
            .putFields(
                NAMESPACE,
                Value.newBuilder()
                    .setStructValue(
                        Struct.newBuilder()
                            .putFields("events", number(events))
                            .putFields("tokens", number(tokens))
                            .putFields("secrets_masked", number(secrets)))
                    .build())
            .build());
  }

  /**
   * Masks the secrets of {@code event} (whole lines, so whole UTF-8 characters) and, when it is
   * {@code complete}, counts it.
   */
  private ByteString guard(ByteString event, boolean complete) {
    Matcher secret = SECRET.matcher(event.toStringUtf8());
    StringBuilder masked = new StringBuilder();
    int found = 0;
    while (secret.find()) {
      secret.appendReplacement(masked, MASK);
      found++;
    }
    secret.appendTail(masked);
    secrets += found;
    String text = masked.toString();
    if (complete) {
      count(text);
    }
    return found == 0 ? event : ByteString.copyFrom(text, UTF_8);
  }

  /** Counts {@code event} and its tokens, if it has a {@code data:} line. */
  private void count(String event) {
    Matcher line = DATA_LINE.matcher(event);
    boolean data = false;
    while (line.find()) {
      data = true;
      Matcher words = WORDS.matcher(line.group(1));
      while (words.find()) {
        tokens++;
      }
    }
    if (data) {
      events++;
    }
  }

  private static Value number(long n) {
    return Value.newBuilder().setNumberValue((double) n).build();
  }
}
