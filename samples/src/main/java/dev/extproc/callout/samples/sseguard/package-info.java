/**
 * The {@code sse-guard} sample: secrets masked in a Server-Sent Events response as it streams,
 * events and tokens counted into dynamic metadata, abusive requests answered with a streamed local
 * reply.
 */
@NullMarked
package dev.extproc.callout.samples.sseguard;

import org.jspecify.annotations.NullMarked;
