/*
 * base64.h - RFC 4648 base64 for responses and base64url for tokens.
 *
 * Two alphabets, two jobs:
 *
 * - Standard base64 with '=' padding (section 4) encodes tile bytes straight
 *   into a response buffer. The encoder never allocates and never writes a
 *   terminator: it writes exactly b64_encoded_len(n) chars, so a caller can
 *   reserve that much in a struct buf and encode into data + len.
 *
 * - base64url without padding (section 5) is the JWT encoding. Its decoder
 *   is strict because a token must have exactly one spelling: no '=', no
 *   characters outside the url alphabet (no '+', '/', whitespace or NUL),
 *   no length that is 1 mod 4, and the unused low bits of the last char must
 *   be zero (otherwise "Zg" and "Zh" would both decode to "f", and a signed
 *   token could be altered without touching its signature).
 *
 * Lengths: the *_len functions saturate at SIZE_MAX instead of wrapping, so
 * a buffer reservation for an absurd input fails rather than under-sizes.
 */
#ifndef AP_BASE64_H
#define AP_BASE64_H

#include <stddef.h>
#include "error.h"

/* Chars b64_encode() writes for n bytes: 4 * ceil(n / 3). */
size_t b64_encoded_len(size_t n);
/* Standard alphabet with padding; writes exactly b64_encoded_len(n) chars to
 * out, no NUL. in may be NULL when n == 0. */
void b64_encode(const unsigned char *in, size_t n, char *out);

/* Chars b64url_encode() writes for n bytes: ceil(4 * n / 3), no padding. */
size_t b64url_encoded_len(size_t n);
/* url alphabet without padding; writes exactly b64url_encoded_len(n) chars,
 * no NUL. */
void b64url_encode(const unsigned char *in, size_t n, char *out);

/* Bytes a valid unpadded base64url text of n chars decodes to. */
size_t b64url_decoded_len(size_t n);
/*
 * Strict base64url decode of n chars into out (room for outcap bytes).
 * AP_ERR_BAD_REQUEST for any text that is not the canonical unpadded
 * encoding of some bytes; AP_ERR_TOO_LARGE if the result would not fit in
 * outcap (checked before anything is written). On success *outlen is the
 * decoded length; on failure out may hold partial output.
 */
enum ap_err b64url_decode(const char *in, size_t n, unsigned char *out,
			  size_t outcap, size_t *outlen) AP_WARN_UNUSED;

#endif
