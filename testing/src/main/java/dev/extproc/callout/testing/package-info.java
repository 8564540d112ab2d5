/**
 * A test harness for callouts: {@link dev.extproc.callout.testing.CalloutTester} drives a callout
 * over gRPC exactly as Envoy does and returns the replies for assertions.
 */
@NullMarked
package dev.extproc.callout.testing;

import org.jspecify.annotations.NullMarked;
