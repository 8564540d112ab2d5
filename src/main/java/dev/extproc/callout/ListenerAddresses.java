package dev.extproc.callout;

import static com.google.common.base.Preconditions.checkArgument;
import static java.util.Objects.requireNonNull;

import com.google.common.net.HostAndPort;
import java.net.InetSocketAddress;
import org.jspecify.annotations.Nullable;

/**
 * The listener addresses of a {@link CalloutServerConfig}: parsed from {@code HOST:PORT}, and
 * checked against each other when the configuration is built.
 */
final class ListenerAddresses {

  private ListenerAddresses() {}

  /**
   * Parses {@code HOST:PORT} ({@code [::1]:8443} for IPv6) into an unresolved address; the host is
   * resolved when the server starts.
   *
   * @throws IllegalArgumentException showing the bad value
   */
  static InetSocketAddress parse(String hostPort) {
    requireNonNull(hostPort, "hostPort");
    HostAndPort parsed;
    try {
      parsed = HostAndPort.fromString(hostPort.trim()).requireBracketsForIPv6();
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException(
          "address: " + hostPort + " (expected: HOST:PORT, [IPv6]:PORT)", e);
    }
    checkArgument(
        parsed.hasPort() && !parsed.getHost().isEmpty(),
        "address: %s (expected: HOST:PORT, [IPv6]:PORT)",
        hostPort);
    return InetSocketAddress.createUnresolved(parsed.getHost(), parsed.getPort());
  }

  /**
   * Checks the listeners of a configuration being built; see {@link
   * CalloutServerConfig.Builder#build()}.
   *
   * @throws IllegalStateException when both gRPC listeners are disabled, a client CA or HTTPS
   *     health checks lack their listener, or two listeners share a port
   */
  static void check(
      @Nullable InetSocketAddress secure,
      @Nullable InetSocketAddress plaintext,
      @Nullable InetSocketAddress health,
      boolean clientCa,
      boolean secureHealthCheck) {
    if (secure == null && plaintext == null) {
      throw new IllegalStateException(
          "both gRPC listeners are disabled (expected: TLS, plaintext or both)");
    }
    if (clientCa && secure == null) {
      throw new IllegalStateException("a client CA needs the TLS listener (TLS is disabled)");
    }
    if (secureHealthCheck && health == null) {
      throw new IllegalStateException(
          "secure health check needs the HTTP health listener (not combined mode)");
    }
    checkDistinctPorts("secure", secure, "plaintext", plaintext);
    checkDistinctPorts("secure", secure, "health check", health);
    checkDistinctPorts("plaintext", plaintext, "health check", health);
  }

  private static void checkDistinctPorts(
      String name1, @Nullable InetSocketAddress a1, String name2, @Nullable InetSocketAddress a2) {
    if (a1 != null
        && a2 != null
        && a1.getPort() != 0
        && a1.getPort() == a2.getPort()
        && (a1.getHostString().equals(a2.getHostString()) || isWildcard(a1) || isWildcard(a2))) {
      throw new IllegalStateException(
          name1 + " and " + name2 + " listeners both use port " + a1.getPort());
    }
  }

  private static boolean isWildcard(InetSocketAddress address) {
    String host = address.getHostString();
    return host.equals("0.0.0.0") || host.equals("::") || host.equals("[::]");
  }
}
