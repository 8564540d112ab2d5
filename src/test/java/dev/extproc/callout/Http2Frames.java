package dev.extproc.callout;

import com.google.protobuf.ByteString;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/** Reads what a server writes on a raw socket as HTTP/2 frames, for tests that bypass gRPC. */
final class Http2Frames {

  /** The client connection preface (RFC 9113, section 3.4). */
  static final byte[] PREFACE =
      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII);

  static final int SETTINGS = 0x4;
  static final int GOAWAY = 0x7;
  static final int WINDOW_UPDATE = 0x8;
  static final int PROTOCOL_ERROR = 0x1;

  /** One frame: its type, flags, stream and payload. */
  record Frame(int type, int flags, int streamId, ByteString payload) {

    /** A GOAWAY's error code. */
    int errorCode() {
      return payload.substring(4, 8).asReadOnlyByteBuffer().getInt();
    }

    /** A GOAWAY's debug data as text. */
    String debugData() {
      return payload.substring(8).toStringUtf8();
    }
  }

  /** Everything the server sent, and how long after the call it closed the connection. */
  record Received(List<Frame> frames, Duration closedAfter) {

    /** The frame types, in order. */
    List<Integer> types() {
      return frames.stream().map(Frame::type).toList();
    }

    /** The first frame of {@code type}. */
    Frame first(int type) {
      return frames.stream()
          .filter(f -> f.type() == type)
          .findFirst()
          .orElseThrow(() -> new AssertionError("no frame of type " + type + " in " + types()));
    }
  }

  private Http2Frames() {}

  /**
   * Reads frames until the server closes the connection (end of stream or reset).
   *
   * @throws AssertionError when it is still open after {@code limit}
   */
  static Received readUntilClosed(Socket socket, Duration limit) throws IOException {
    long start = System.nanoTime();
    socket.setSoTimeout((int) limit.toMillis());
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    InputStream in = socket.getInputStream();
    byte[] buffer = new byte[8192];
    try {
      for (int n; (n = in.read(buffer)) >= 0; ) {
        bytes.write(buffer, 0, n);
        if (System.nanoTime() - start > limit.toNanos()) {
          throw new AssertionError("connection still open after " + limit);
        }
      }
    } catch (SocketTimeoutException e) {
      throw new AssertionError("connection still open after " + limit, e);
    } catch (IOException e) {
      // a reset ends the connection too
    }
    return new Received(parse(bytes.toByteArray()), Duration.ofNanos(System.nanoTime() - start));
  }

  private static List<Frame> parse(byte[] data) {
    List<Frame> frames = new ArrayList<>();
    int at = 0;
    while (at + 9 <= data.length) {
      int length = ((data[at] & 0xff) << 16) | ((data[at + 1] & 0xff) << 8) | (data[at + 2] & 0xff);
      int type = data[at + 3] & 0xff;
      int flags = data[at + 4] & 0xff;
      int stream = ByteBuffer.wrap(data, at + 5, 4).getInt() & 0x7fffffff;
      if (at + 9 + length > data.length) {
        throw new AssertionError("truncated frame of type " + type + " at byte " + at);
      }
      frames.add(new Frame(type, flags, stream, ByteString.copyFrom(data, at + 9, length)));
      at += 9 + length;
    }
    if (at != data.length) {
      throw new AssertionError((data.length - at) + " trailing bytes after the last frame");
    }
    return frames;
  }
}
