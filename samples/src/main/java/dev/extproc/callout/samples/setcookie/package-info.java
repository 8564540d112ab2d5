/** The {@code set-cookie} sample: a conditional response header. */
@NullMarked
package dev.extproc.callout.samples.setcookie;

import org.jspecify.annotations.NullMarked;
