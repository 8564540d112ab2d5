package dev.extproc.callout.samples.redactbody;

import com.google.protobuf.ByteString;
import dev.extproc.callout.BodyTransformer;
import java.io.ByteArrayOutputStream;

/**
 * Replaces e-mail addresses in a body with {@value #MASK} as it streams, holding back only the last
 * word of each chunk (an address may continue in the next one), never the whole body.
 *
 * <p>A word is a run of the bytes an address is made of ({@code A-Z a-z 0-9 . _ % + - @}); a word
 * is an address when it has one {@code @} with something before it and a dotted domain after it.
 * Words longer than {@value #MAX_WORD} bytes cannot be addresses (RFC 5321 caps them at 254), so no
 * more than that is ever held back. Bytes outside ASCII are never part of a word, so UTF-8 text
 * passes through intact.
 */
final class EmailMasker implements BodyTransformer {

  /** What an address becomes. */
  static final String MASK = "[email]";

  static final int MAX_WORD = 256;

  private static final byte[] MASK_BYTES =
      MASK.getBytes(java.nio.charset.StandardCharsets.US_ASCII);

  private ByteString held = ByteString.EMPTY;

  @Override
  public void onChunk(ByteString chunk, BodyTransformer.Sink out) {
    ByteString text = held.concat(chunk);
    int end = text.size();
    int wordStart = end;
    while (wordStart > 0 && end - wordStart <= MAX_WORD && isWordByte(text.byteAt(wordStart - 1))) {
      wordStart--;
    }
    if (end - wordStart > MAX_WORD) {
      wordStart = end; // too long to be an address: nothing to hold back
    }
    held = text.substring(wordStart);
    out.write(mask(text.substring(0, wordStart)));
  }

  @Override
  public void onEnd(BodyTransformer.Sink out) {
    out.write(mask(held));
    held = ByteString.EMPTY;
  }

  /** Masks every address in {@code text}, which ends at a word boundary. */
  static ByteString mask(ByteString text) {
    int size = text.size();
    ByteArrayOutputStream out = null;
    int copied = 0;
    int i = 0;
    while (i < size) {
      if (!isWordByte(text.byteAt(i))) {
        i++;
        continue;
      }
      int start = i;
      while (i < size && isWordByte(text.byteAt(i))) {
        i++;
      }
      if (isAddress(text, start, i)) {
        if (out == null) {
          out = new ByteArrayOutputStream(size);
        }
        out.writeBytes(text.substring(copied, start).toByteArray());
        out.writeBytes(MASK_BYTES);
        copied = i;
      }
    }
    if (out == null) {
      return text;
    }
    out.writeBytes(text.substring(copied).toByteArray());
    return ByteString.copyFrom(out.toByteArray());
  }

  private static boolean isAddress(ByteString text, int start, int end) {
    int at = -1;
    for (int i = start; i < end; i++) {
      if (text.byteAt(i) == '@') {
        if (at >= 0) {
          return false;
        }
        at = i;
      }
    }
    if (at <= start || end - start > MAX_WORD) {
      return false;
    }
    int dot = -1;
    for (int i = at + 1; i < end; i++) {
      if (text.byteAt(i) == '.') {
        dot = i;
      }
    }
    // A dot inside the domain, with a label on each side of it.
    return dot > at + 1 && dot < end - 1;
  }

  private static boolean isWordByte(byte b) {
    return (b >= 'a' && b <= 'z')
        || (b >= 'A' && b <= 'Z')
        || (b >= '0' && b <= '9')
        || b == '.'
        || b == '_'
        || b == '%'
        || b == '+'
        || b == '-'
        || b == '@';
  }
}
