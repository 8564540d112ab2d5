/**
 * RS256 JWT verification shared by the token samples: {@link
 * dev.extproc.callout.samples.jwt.JwtVerifier} reads the {@code authorization} header and verifies
 * its token, and {@link dev.extproc.callout.samples.jwt.JwtVerification} says whether the token was
 * valid, missing or invalid, with the claims of a valid one. The {@code jwt-auth} sample (ext_proc)
 * turns the outcome into a 401 immediate response or {@code decoded-<claim>} headers; an ext_authz
 * sample turns the same outcome into its allow or deny decision.
 */
@NullMarked
package dev.extproc.callout.samples.jwt;

import org.jspecify.annotations.NullMarked;
