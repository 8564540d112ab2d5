/**
 * A framework for Envoy ext_proc callouts.
 *
 * <p>Subclass {@link dev.extproc.callout.CalloutServer}, override the hooks of the phases you care
 * about, and build replies with {@link dev.extproc.callout.CalloutTools}:
 *
 * <pre>{@code
 * public final class AddHeader extends CalloutServer {
 *   AddHeader(CalloutServerConfig config) { super(config); }
 *
 *   @Override
 *   protected HeadersResponse onRequestHeaders(HttpHeaders headers, CalloutContext ctx) {
 *     return CalloutTools.addHeaderMutation(List.of(Map.entry("x-hello", "world")));
 *   }
 *
 *   public static void main(String[] args) {
 *     CalloutServer.launch(args, AddHeader::new);
 *   }
 * }
 * }</pre>
 *
 * <p>{@link dev.extproc.callout.CalloutContext} carries per-request state across phases; {@link
 * dev.extproc.callout.CalloutServerConfig} holds the listeners and limits; a {@link
 * dev.extproc.callout.BodyTransformer} rewrites a streamed body; {@code
 * dev.extproc.callout.testing.CalloutTester} drives a callout in tests the way Envoy does.
 */
@NullMarked
package dev.extproc.callout;

import org.jspecify.annotations.NullMarked;
