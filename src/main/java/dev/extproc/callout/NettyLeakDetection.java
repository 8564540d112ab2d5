package dev.extproc.callout;

import io.grpc.netty.shaded.io.netty.util.ResourceLeakDetector;

/**
 * Turns Netty's buffer leak detection off, unless the JVM was started with a level for it.
 *
 * <p>At Netty's default level a sample of buffers records the stack of every access, which costs
 * about 2% of a callout server's CPU (BENCHMARKS.md) to look for a bug class (a buffer never
 * released) that lives in gRPC's transport, not in callouts. {@code
 * -Dio.grpc.netty.shaded.io.netty.leakDetection.level=simple} (or {@code paranoid}) turns it back
 * on.
 */
final class NettyLeakDetection {
  /** The system property grpc-java's shaded Netty reads its level from. */
  static final String LEVEL_PROPERTY = "io.grpc.netty.shaded.io.netty.leakDetection.level";

  private NettyLeakDetection() {}

  static void offUnlessConfigured() {
    if (System.getProperty(LEVEL_PROPERTY) == null
        && System.getProperty("io.grpc.netty.shaded.io.netty.leakDetectionLevel") == null) {
      ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.DISABLED);
    }
  }
}
