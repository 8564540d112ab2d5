package dev.extproc.callout;

/**
 * What to do with a header mutation that Envoy or the load balancer would reject or ignore.
 *
 * <p>Envoy ignores most disallowed mutations silently (only a counter moves) and fails the request
 * with 500 for malformed ones; either way the callout's author rarely finds out. The framework
 * checks every reply before sending it, following a {@link MutationProfile}.
 */
public enum MutationPolicy {
  /**
   * The reply is not sent: the hook fails with an {@link IllegalStateException} naming the header
   * and the rule, and the stream ends with {@code INTERNAL}. The default.
   */
  REJECT,
  /**
   * Each offending entry is removed from the reply and logged at warn (the header's name, never its
   * value); the rest of the reply is sent.
   */
  DROP,
  /** No checks: replies are sent as the hooks built them. */
  OFF
}
