package dev.extproc.callout.samples.blockip;

import com.google.common.net.InetAddresses;
import dev.extproc.callout.AuthzTools;
import dev.extproc.callout.CalloutContext;
import dev.extproc.callout.CalloutServer;
import dev.extproc.callout.CalloutServerConfig;
import io.envoyproxy.envoy.service.auth.v3.CheckRequest;
import io.envoyproxy.envoy.service.auth.v3.CheckResponse;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.util.Optional;

/**
 * An ext_authz callout that denies requests from {@code 10.0.0.0/24}, and requests whose client
 * address it cannot read, with a 403; every other request is allowed. The client address is the
 * first entry of {@code x-forwarded-for}. Both decisions carry {@code x-client-ip-allowed}.
 */
public final class BlockIp extends CalloutServer {

  /** The header that names the client first, then each proxy on the way. */
  static final String FORWARDED_FOR = "x-forwarded-for";

  /**
   * The header both decisions set: {@code true} on the upstream request, {@code false} on a 403.
   */
  static final String ALLOWED = "x-client-ip-allowed";

  // 10.0.0.0/24: the first three octets fixed.
  private static final byte[] BLOCKED_PREFIX = {10, 0, 0};

  /** Creates the sample with {@code config}. */
  public BlockIp(CalloutServerConfig config) {
    super(config);
  }

  @Override
  protected CheckResponse onCheck(CheckRequest request, CalloutContext ctx) {
    Optional<InetAddress> client =
        AuthzTools.header(request, FORWARDED_FOR).flatMap(BlockIp::firstAddress);
    if (client.isEmpty() || isBlocked(client.get())) {
      return AuthzTools.deny(403).header(ALLOWED, "false").build();
    }
    return AuthzTools.allow().setHeader(ALLOWED, "true").build();
  }

  /**
   * The first comma-separated entry of {@code forwardedFor}, trimmed, when it is an IPv4 or IPv6
   * literal. Never a DNS lookup: a host name is not an address.
   */
  static Optional<InetAddress> firstAddress(String forwardedFor) {
    int comma = forwardedFor.indexOf(',');
    String first = (comma < 0 ? forwardedFor : forwardedFor.substring(0, comma)).trim();
    // A zone index (fe80::1%eth0) names a local interface, never a remote client.
    if (first.indexOf('%') >= 0 || !InetAddresses.isInetAddress(first)) {
      return Optional.empty();
    }
    // An IPv4-mapped IPv6 literal (::ffff:10.0.0.5) comes back as its IPv4 address.
    return Optional.of(InetAddresses.forString(first));
  }

  private static boolean isBlocked(InetAddress address) {
    if (!(address instanceof Inet4Address)) {
      return false;
    }
    byte[] bytes = address.getAddress();
    return bytes[0] == BLOCKED_PREFIX[0]
        && bytes[1] == BLOCKED_PREFIX[1]
        && bytes[2] == BLOCKED_PREFIX[2];
  }

  /** Runs the sample: {@code java -cp ... BlockIp [flags]}. */
  public static void main(String[] args) {
    CalloutServer.launch(args, BlockIp::new);
  }
}
