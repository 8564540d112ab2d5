/** The {@code jwt-authz} sample: the {@code jwt-auth} token rules as an ext_authz decision. */
@NullMarked
package dev.extproc.callout.samples.jwtauthz;

import org.jspecify.annotations.NullMarked;
