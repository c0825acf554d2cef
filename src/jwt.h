/*
 * jwt.h - verification of the HS256 JSON Web Tokens of SPEC section 4.
 *
 * A token is accepted only if all of these hold, checked in this order:
 *   1. len <= JWT_MAX_LEN (refused before any decoding);
 *   2. exactly three '.'-separated parts, each canonical unpadded base64url;
 *   3. the header is a JSON object whose "alg" is the string "HS256" exactly
 *      (never "none", another algorithm or another spelling), whose "typ",
 *      if present, is "JWT" in any case, and which has no "crit";
 *   4. the signature is the 32-byte HMAC-SHA256 of the raw "header.payload"
 *      bytes under the key, compared in constant time - before the payload
 *      is even parsed;
 *   5. the payload is a JSON object with a numeric "exp" (integer or
 *      fraction) and now <= exp + JWT_LEEWAY_S; a numeric "nbf", if present,
 *      with now >= nbf - JWT_LEEWAY_S;
 *   6. "sub" is a string of 1..JWT_SUB_MAX bytes without control chars, or a
 *      non-negative JSON integer, which becomes its decimal string.
 *
 * Every refusal is AP_ERR_UNAUTHORIZED with *why set to a short static
 * reason meant for the 401 detail; reasons never quote the token or the key.
 * JSON is parsed with a depth limit and must be consumed to its last byte.
 */
#ifndef AP_JWT_H
#define AP_JWT_H

#include <stddef.h>
#include <time.h>
#include "buf.h"
#include "error.h"

#define JWT_MAX_LEN 4096	/* longer tokens are refused before any decoding */
#define JWT_LEEWAY_S 30		/* clock skew accepted on exp (and nbf if present) */
#define JWT_SUB_MAX 64		/* bytes of "sub", without the terminator */
#define JWT_JSON_DEPTH 16	/* nesting accepted in header and claims */

struct jwt_claims {
	char sub[JWT_SUB_MAX + 1];	/* NUL-terminated user id */
	long long exp;			/* seconds since the epoch, fraction dropped */
};

/*
 * Verifies token (len bytes, need not be NUL-terminated) with key at time
 * now. On AP_OK fills *out and sets *why to NULL. On AP_ERR_UNAUTHORIZED
 * *why is one of "malformed token", "unsupported alg", "bad signature",
 * "token expired", "token not yet valid". An empty key is a
 * misconfiguration: AP_ERR_CONFIG, nothing is verified. AP_ERR_NOMEM and
 * AP_ERR_INTERNAL are not the client's fault. On any failure *out is left
 * untouched and *why is a static string; why may be NULL.
 */
enum ap_err jwt_verify_hs256(const char *token, size_t len, const void *key,
			     size_t keylen, time_t now, struct jwt_claims *out,
			     const char **why) AP_WARN_UNUSED;

/*
 * Appends a valid HS256 token {"alg":"HS256","typ":"JWT"} /
 * {"sub":sub,"exp":exp} to out. For tests and tools: the server only
 * verifies. AP_ERR_BAD_REQUEST if sub (non-NULL) is not one verification
 * accepts; AP_ERR_CONFIG for an empty key. On failure out is unchanged.
 */
enum ap_err jwt_sign_hs256(const char *sub, long long exp, const void *key,
			   size_t keylen, struct buf *out) AP_WARN_UNUSED;

/*
 * Appends b64url(header) "." b64url(payload) "." b64url(HMAC-SHA256) with
 * header and payload taken verbatim, valid JSON or not. Lets tests and
 * tools/mktoken forge the odd tokens that verification must refuse. Each
 * part may be up to 4 * JWT_MAX_LEN bytes (else AP_ERR_TOO_LARGE), so
 * over-long tokens can be forged too. On failure out is unchanged.
 */
enum ap_err jwt_sign_json(const char *header, const char *payload,
			  const void *key, size_t keylen, struct buf *out) AP_WARN_UNUSED;

#endif
