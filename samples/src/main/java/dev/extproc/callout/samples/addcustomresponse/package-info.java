/** The {@code add-custom-response} sample: denials, mocked replies and defaults. */
@NullMarked
package dev.extproc.callout.samples.addcustomresponse;

import org.jspecify.annotations.NullMarked;
