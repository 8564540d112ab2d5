/**
 * The {@code network-basic} sample: a network ext_proc callout that passes TCP bytes through,
 * counts them per connection and closes connections that send a forbidden byte sequence.
 */
@NullMarked
package dev.extproc.callout.samples.networkbasic;

import org.jspecify.annotations.NullMarked;
