package dev.extproc.callout.fuzz;

import com.google.protobuf.ByteString;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Message;
import com.google.protobuf.TextFormat;
import java.util.Map;

/** Protobufs as one line of text for failure messages, long bytes and strings cut short. */
final class Dump {

  private static final int KEEP = 40;

  private Dump() {}

  /** {@code message} in text format, its long fields shortened, cut at {@code limit} characters. */
  static String of(Message message, int limit) {
    String text = TextFormat.shortDebugString(shorten(message));
    return text.length() <= limit ? text : text.substring(0, limit) + "...";
  }

  private static Message shorten(Message message) {
    Message.Builder builder = message.toBuilder();
    for (Map.Entry<FieldDescriptor, Object> field : message.getAllFields().entrySet()) {
      FieldDescriptor descriptor = field.getKey();
      if (descriptor.isRepeated()) {
        int count = message.getRepeatedFieldCount(descriptor);
        for (int i = 0; i < count; i++) {
          builder.setRepeatedField(descriptor, i, shorten(message.getRepeatedField(descriptor, i)));
        }
      } else {
        builder.setField(descriptor, shorten(field.getValue()));
      }
    }
    return builder.build();
  }

  private static Object shorten(Object value) {
    if (value instanceof Message nested) {
      return shorten(nested);
    }
    if (value instanceof ByteString bytes && bytes.size() > KEEP) {
      return bytes.substring(0, KEEP).concat(ByteString.copyFromUtf8("...(" + bytes.size() + ")"));
    }
    if (value instanceof String text && text.length() > KEEP) {
      return text.substring(0, KEEP) + "...(" + text.length() + ")";
    }
    return value;
  }
}
