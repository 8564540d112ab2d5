/** The {@code redirect} sample: an immediate 301 response. */
@NullMarked
package dev.extproc.callout.samples.redirect;

import org.jspecify.annotations.NullMarked;
