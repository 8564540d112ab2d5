/** The {@code jwt-auth} sample: RS256 JWT verification with 401 immediate responses. */
@NullMarked
package dev.extproc.callout.samples.jwtauth;

import org.jspecify.annotations.NullMarked;
