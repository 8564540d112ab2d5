/** The {@code block-ip} sample: an ext_authz decision on the client address. */
@NullMarked
package dev.extproc.callout.samples.blockip;

import org.jspecify.annotations.NullMarked;
