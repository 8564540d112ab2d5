package dev.extproc.callout;

/** Which proxy's rules header mutations are checked against; see {@link MutationPolicy}. */
public enum MutationProfile {
  /**
   * Envoy with the ext_proc filter's {@code mutation_rules} unset: {@code host}, {@code
   * :authority}, {@code :method}, {@code :scheme} and {@code x-envoy*} headers are not mutable,
   * pseudo-headers and {@code host} cannot be removed, pseudo-headers cannot be appended to, and
   * malformed or oversized mutations fail the request.
   */
  ENVOY,
  /**
   * A Google Cloud Service Extensions callout other than a traffic extension (route,
   * authorization): {@link #ENVOY}'s rules, plus the headers the load balancer never lets a callout
   * mutate ({@code X-Forwarded-*}, {@code X-Google-*}, hop-by-hop headers and so on) and at most
   * 128 KiB of header mutations per reply.
   */
  SERVICE_EXTENSIONS,
  /**
   * A Google Cloud Service Extensions traffic extension: {@link #SERVICE_EXTENSIONS}' rules, plus
   * {@code :method}, {@code :authority}, {@code :scheme} and {@code host} are never mutable.
   */
  SERVICE_EXTENSIONS_TRAFFIC
}
