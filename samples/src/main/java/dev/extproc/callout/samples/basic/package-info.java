/** The {@code basic} sample: a mutation in every headers and body phase. */
@NullMarked
package dev.extproc.callout.samples.basic;

import org.jspecify.annotations.NullMarked;
