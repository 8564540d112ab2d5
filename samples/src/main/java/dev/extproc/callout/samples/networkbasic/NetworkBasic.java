package dev.extproc.callout.samples.networkbasic;

import static java.util.Objects.requireNonNull;

import com.google.protobuf.ByteString;
import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import io.grpc.Status;
import org.jspecify.annotations.Nullable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A network ext_proc callout: both directions of every TCP connection pass through unchanged, the
 * bytes of each direction are counted and logged when the connection ends, and a connection whose
 * client sends the forbidden byte sequence (even split across messages) is closed.
 *
 * <p>Thread-safe: all per-connection state lives in the connection's {@link CalloutContext}.
 */
public final class NetworkBasic extends CalloutServer {

  /** The byte sequence (UTF-8) that closes a connection unless another one is given. */
  public static final String DEFAULT_FORBIDDEN = "DROP TABLE";

  private static final Logger logger = LoggerFactory.getLogger(NetworkBasic.class);

  private static final CalloutContext.Key<Connection> CONNECTION =
      CalloutContext.Key.of("network-basic.connection");

  private final ByteString forbidden;

  /**
   * Creates the sample with {@code config}, closing connections that send {@value
   * #DEFAULT_FORBIDDEN}.
   */
  public NetworkBasic(CalloutServerConfig config) {
    this(config, ByteString.copyFromUtf8(DEFAULT_FORBIDDEN));
  }

  /**
   * Creates the sample with {@code config}, closing connections whose client sends {@code
   * forbidden}.
   *
   * @throws IllegalArgumentException when {@code forbidden} is empty
   */
  public NetworkBasic(CalloutServerConfig config, ByteString forbidden) {
    super(config);
    requireNonNull(forbidden, "forbidden");
    if (forbidden.isEmpty()) {
      throw new IllegalArgumentException("forbidden: empty (expected: at least one byte)");
    }
    this.forbidden = forbidden;
  }

  /** The byte sequence that closes a connection. */
  public ByteString forbidden() {
    return forbidden;
  }

  @Override
  protected @Nullable ByteString onReadData(
      ByteString data, boolean endOfStream, CalloutContext ctx) {
    Connection connection = connection(ctx);
    connection.read += data.size();
    // The sequence may straddle messages: search the previous message's tail plus this one.
    ByteString window = connection.readTail.concat(data);
    if (indexOf(window, forbidden) >= 0) {
      logger.info("[{}] the client sent the forbidden sequence: closing", ctx.streamId());
      ctx.closeConnection();
      // Envoy sends on whatever the reply carries: hold this message back from the upstream.
      return ByteString.EMPTY;
    }
    int keep = Math.min(forbidden.size() - 1, window.size());
    // A copy, so that the tail does not keep the whole message in memory.
    connection.readTail = ByteString.copyFrom(window.substring(window.size() - keep).toByteArray());
    return null;
  }

  @Override
  protected @Nullable ByteString onWriteData(
      ByteString data, boolean endOfStream, CalloutContext ctx) {
    connection(ctx).written += data.size();
    return null;
  }

  @Override
  protected void onStreamEnd(CalloutContext ctx, Status status) {
    Connection connection = connection(ctx);
    logger.info(
        "[{}] connection ended ({}): {} bytes read from the client, {} bytes written to it",
        ctx.streamId(),
        status.getCode(),
        connection.read,
        connection.written);
  }

  private static Connection connection(CalloutContext ctx) {
    return ctx.get(CONNECTION)
        .orElseGet(
            () -> {
              Connection connection = new Connection();
              ctx.put(CONNECTION, connection);
              return connection;
            });
  }

  /** The first index of {@code target} in {@code source}, or -1. */
  static int indexOf(ByteString source, ByteString target) {
    outer:
    for (int i = 0; i <= source.size() - target.size(); i++) {
      for (int j = 0; j < target.size(); j++) {
        if (source.byteAt(i + j) != target.byteAt(j)) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }

  /** Runs the sample: {@code java -cp ... NetworkBasic [flags]}. */
  public static void main(String[] args) {
    CalloutServer.launch(args, NetworkBasic::new);
  }

  /** One connection's counters and the last bytes its client sent; confined to its stream. */
  private static final class Connection {
    long read;
    long written;
    ByteString readTail = ByteString.EMPTY;
  }
}
