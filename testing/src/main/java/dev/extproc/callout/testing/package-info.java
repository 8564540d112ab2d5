/**
 * A test harness for callouts: {@link dev.extproc.callout.testing.CalloutTester} drives a callout
 * over gRPC exactly as Envoy does and returns the replies (ext_proc streams, ext_authz checks built
 * with {@link dev.extproc.callout.testing.CheckRequestBuilder}, network ext_proc connections as
 * {@link dev.extproc.callout.testing.NetworkStream}), {@link
 * dev.extproc.callout.testing.CalloutExtension} runs one per JUnit 5 test class or test, and {@link
 * dev.extproc.callout.testing.Replies} reads the replies for assertions.
 */
@NullMarked
package dev.extproc.callout.testing;

import org.jspecify.annotations.NullMarked;
