/** The bundled samples and the launcher of the runnable jar, which picks one by name. */
@NullMarked
package dev.extproc.callout.samples;

import org.jspecify.annotations.NullMarked;
