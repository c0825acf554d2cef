/*
 * fuzz_jwt.c - JWT verification (jwt.h): jwt_verify_hs256 over arbitrary
 * bytes as the token, with a fixed key at a fixed time; base64url decoding
 * of each part on the way.
 *
 * Oracle: the rules of jwt.h. A refusal is AP_ERR_UNAUTHORIZED with one of
 * the documented reasons. An accepted token has three parts whose
 * signature is, character for character, the base64url of the HMAC-SHA256
 * of "header.payload" under the key (computed here with OpenSSL directly),
 * is refused under any other key, and carries a sub that jwt.h allows and
 * an exp not past. Every part that decodes re-encodes to itself (one
 * spelling per token).
 *
 * The seeds are valid tokens (tests/fuzz/mkcorpus.sh), so mutations start
 * past the signature; fuzz_jwt_claims signs every input and so reaches the
 * claims whatever they are.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "fuzz.h"
#include "base64.h"
#include "jwt.h"
#include "jwt_fixture.h"

static void check_reason(enum ap_err e, const char *why)
{
	static const char *const reasons[] = {"malformed token", "unsupported alg",
					      "bad signature", "token expired",
					      "token not yet valid"};
	int listed = 0;

	FUZZ_CHECK(e == AP_ERR_UNAUTHORIZED, "refused with %d", e);
	for (size_t i = 0; why && i < sizeof(reasons) / sizeof(reasons[0]); i++)
		listed |= strcmp(why, reasons[i]) == 0;
	FUZZ_CHECK(listed, "reason '%s'", why ? why : "(null)");
}

/* The signature an accepted token must carry, encoded here. */
static void check_signature(const char *tok, size_t len)
{
	const char *dot1 = memchr(tok, '.', len), *dot2, *sig;
	unsigned char mac[32];
	unsigned int maclen = 0;
	char want[64];

	FUZZ_CHECK(dot1, "accepted without a '.'");
	dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - tok));
	FUZZ_CHECK(dot2, "accepted with one '.'");
	sig = dot2 + 1;
	FUZZ_CHECK(!memchr(sig, '.', len - (size_t)(sig - tok)), "accepted with three '.'");
	FUZZ_CHECK(HMAC(EVP_sha256(), FUZZ_JWT_KEY, (int)strlen(FUZZ_JWT_KEY),
			(const unsigned char *)tok, (size_t)(dot2 - tok), mac, &maclen) &&
		   maclen == 32, "HMAC");
	b64url_encode(mac, sizeof(mac), want);
	FUZZ_CHECK(len - (size_t)(sig - tok) == b64url_encoded_len(32) &&
		   memcmp(sig, want, b64url_encoded_len(32)) == 0, "accepted a wrong signature");
}

static void check_claims(const struct jwt_claims *c)
{
	size_t n = strnlen(c->sub, sizeof(c->sub));

	FUZZ_CHECK(n >= 1 && n <= JWT_SUB_MAX, "sub of %zu bytes", n);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK((unsigned char)c->sub[i] >= 0x20 && c->sub[i] != 0x7f, "control in sub");
	FUZZ_CHECK(c->exp >= FUZZ_JWT_NOW - JWT_LEEWAY_S, "expired token accepted (exp %lld)",
		   c->exp);
}

/* Each '.'-separated part that decodes strictly re-encodes to itself. */
static void check_parts(const char *tok, size_t len)
{
	unsigned char raw[JWT_MAX_LEN];
	char back[JWT_MAX_LEN + 4];
	size_t start = 0;

	while (start <= len) {
		const char *dot = memchr(tok + start, '.', len - start);
		size_t n = dot ? (size_t)(dot - tok) - start : len - start, rawlen;

		if (b64url_decode(tok + start, n, raw, sizeof(raw), &rawlen) == AP_OK) {
			FUZZ_CHECK(b64url_encoded_len(rawlen) == n, "%zu chars decode to %zu bytes",
				   n, rawlen);
			b64url_encode(raw, rawlen, back);
			FUZZ_CHECK(memcmp(back, tok + start, n) == 0, "two spellings of one part");
		}
		start += n + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes: ASan sees any read past the end */
	char *tok = malloc(size ? size : 1);
	struct jwt_claims c;
	const char *why = "unset";
	enum ap_err e;

	if (!tok)
		abort();
	memcpy(tok, data, size);
	e = jwt_verify_hs256(tok, size, FUZZ_JWT_KEY, strlen(FUZZ_JWT_KEY), FUZZ_JWT_NOW, &c, &why);
	if (e == AP_OK) {
		FUZZ_CHECK(why == NULL, "accepted with reason '%s'", why);
		FUZZ_CHECK(size <= JWT_MAX_LEN, "accepted %zu bytes", size);
		check_signature(tok, size);
		check_claims(&c);
		e = jwt_verify_hs256(tok, size, FUZZ_JWT_OTHER_KEY, strlen(FUZZ_JWT_OTHER_KEY),
				     FUZZ_JWT_NOW, &c, &why);
		FUZZ_CHECK(e == AP_ERR_UNAUTHORIZED && !strcmp(why, "bad signature"),
			   "accepted under another key");
	} else {
		check_reason(e, why);
	}
	if (size <= JWT_MAX_LEN)
		check_parts(tok, size);
	free(tok);
	return 0;
}
