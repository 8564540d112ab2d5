/** The {@code dynamic-forwarding} sample: endpoint selection through dynamic metadata. */
@NullMarked
package dev.extproc.callout.samples.dynamicforwarding;

import org.jspecify.annotations.NullMarked;
