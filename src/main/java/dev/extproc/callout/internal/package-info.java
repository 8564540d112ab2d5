/**
 * Internals of the callout framework: configuration parsing, TLS material, listeners and the
 * command line entry point. Not API: anything here may change at any time.
 */
@NullMarked
package dev.extproc.callout.internal;

import org.jspecify.annotations.NullMarked;
