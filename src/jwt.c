/*
 * jwt.c - HS256 token verification (SPEC section 4); the rules are in jwt.h.
 *
 * The token is attacker input, so the order of work matters: the length is
 * checked before anything is decoded; the header is parsed only far enough
 * to refuse every algorithm but HS256; the HMAC is checked before the
 * payload reaches the JSON parser, so forged claims are never parsed; and
 * claims are copied out only once all of them passed.
 *
 * Each part decodes into a stack buffer sized for the longest part a
 * JWT_MAX_LEN token can hold, so verification does not allocate except in
 * json-c, whose input is bounded by that buffer and JWT_JSON_DEPTH.
 */
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "base64.h"
#include "jwt.h"

#define HS256_LEN 32
/* Longest decoded part of a token of JWT_MAX_LEN chars. */
#define JWT_PART_MAX (JWT_MAX_LEN / 4 * 3)
/* Signing may exceed JWT_MAX_LEN, so tests can forge over-long tokens, but
 * stays bounded so that no length computation can wrap. */
#define JWT_SIGN_PART_MAX (4 * JWT_MAX_LEN)

_Static_assert(JWT_PART_MAX <= INT_MAX, "json-c takes an int length");

static const char WHY_MALFORMED[] = "malformed token";
static const char WHY_ALG[] = "unsupported alg";
static const char WHY_SIGNATURE[] = "bad signature";
static const char WHY_EXPIRED[] = "token expired";
static const char WHY_NOT_YET[] = "token not yet valid";

static const char HS256_HEADER[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

/*
 * Decodes one base64url part and parses it as one JSON object filling the
 * part to its last byte. AP_ERR_UNAUTHORIZED for anything else.
 */
static enum ap_err parse_part(const char *s, size_t n, struct json_object **out)
{
	unsigned char raw[JWT_PART_MAX];
	size_t rawlen;
	struct json_tokener *tok = NULL;
	struct json_object *obj = NULL;
	enum ap_err e = AP_ERR_UNAUTHORIZED;

	*out = NULL;
	if (b64url_decode(s, n, raw, sizeof(raw), &rawlen) != AP_OK)
		goto fail;
	/* json-c reports success for the text before a NUL and stops there */
	if (rawlen == 0 || memchr(raw, '\0', rawlen))
		goto fail;
	tok = json_tokener_new_ex(JWT_JSON_DEPTH);
	if (!tok) {
		e = AP_ERR_NOMEM;
		goto fail;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	/* json-c 0.16 has no distinct out-of-memory error: a token that could
	 * not be parsed for want of memory is refused like a malformed one */
	obj = json_tokener_parse_ex(tok, (const char *)raw, (int)rawlen);
	if (!obj || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != rawlen ||
	    !json_object_is_type(obj, json_type_object))
		goto fail;
	json_tokener_free(tok);
	*out = obj;
	return AP_OK;
fail:
	json_object_put(obj);
	if (tok)	/* unlike json_object_put(), not NULL-safe in json-c 0.16 */
		json_tokener_free(tok);
	return e;
}

/* ASCII-only, so the locale cannot change what "JWT" matches. */
static int is_jwt_typ(const char *s, size_t n)
{
	static const char jwt[] = "jwt";

	if (n != 3)
		return 0;
	for (size_t i = 0; i < 3; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != jwt[i])
			return 0;
	}
	return 1;
}

/* Refuses every header but {"alg":"HS256"} with an optional "typ": "JWT". */
static enum ap_err check_header(struct json_object *hdr, const char **why)
{
	struct json_object *v;

	if (!json_object_object_get_ex(hdr, "alg", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    json_object_get_string_len(v) != 5 ||
	    memcmp(json_object_get_string(v), "HS256", 5) != 0) {
		*why = WHY_ALG;
		return AP_ERR_UNAUTHORIZED;
	}
	if (json_object_object_get_ex(hdr, "typ", &v) &&
	    (!json_object_is_type(v, json_type_string) ||
	     !is_jwt_typ(json_object_get_string(v),
			 (size_t)json_object_get_string_len(v)))) {
		*why = WHY_MALFORMED;
		return AP_ERR_UNAUTHORIZED;
	}
	/* RFC 7515 4.1.11: extensions we do not implement must be refused */
	if (json_object_object_get_ex(hdr, "crit", NULL)) {
		*why = WHY_MALFORMED;
		return AP_ERR_UNAUTHORIZED;
	}
	return AP_OK;
}

/*
 * Reads a JSON number of seconds. Fractions are rounded down: for whole
 * seconds `now`, now > t + L holds exactly when now > floor(t) + L. Values
 * past the range of long long saturate, as json-c already does for
 * integers; NaN and infinities (which json-c lets through) are refused.
 */
static enum ap_err read_seconds(struct json_object *v, long long *out)
{
	double d;
	long long t;

	switch (json_object_get_type(v)) {
	case json_type_int:
		*out = (long long)json_object_get_int64(v);
		return AP_OK;
	case json_type_double:
		d = json_object_get_double(v);
		if (!isfinite(d))
			return AP_ERR_UNAUTHORIZED;
		if (d >= 0x1p63)
			t = LLONG_MAX;
		else if (d < -0x1p63)
			t = LLONG_MIN;
		else {
			t = (long long)d;	/* truncates toward zero */
			if ((double)t > d)
				t--;
		}
		*out = t;
		return AP_OK;
	default:
		return AP_ERR_UNAUTHORIZED;
	}
}

/* A user id that is safe to store, compare and log. */
static int sub_ok(const char *s, size_t n)
{
	if (n == 0 || n > JWT_SUB_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return 0;
	}
	return 1;
}

static enum ap_err read_sub(struct json_object *v, char sub[JWT_SUB_MAX + 1])
{
	const char *s;
	size_t n;
	int64_t id;

	if (json_object_is_type(v, json_type_string)) {
		s = json_object_get_string(v);
		n = (size_t)json_object_get_string_len(v);
		if (!sub_ok(s, n))
			return AP_ERR_UNAUTHORIZED;
		memcpy(sub, s, n);
		sub[n] = '\0';
		return AP_OK;
	}
	if (json_object_is_type(v, json_type_int)) {
		/* json-c saturates larger integers to INT64_MAX, so that value
		 * cannot be trusted to be the id that was signed */
		id = json_object_get_int64(v);
		if (id < 0 || id == INT64_MAX)
			return AP_ERR_UNAUTHORIZED;
		/* 19 digits at most: always fits JWT_SUB_MAX */
		snprintf(sub, JWT_SUB_MAX + 1, "%" PRId64, id);
		return AP_OK;
	}
	return AP_ERR_UNAUTHORIZED;
}

static enum ap_err check_claims(struct json_object *claims, long long now,
				struct jwt_claims *c, const char **why)
{
	struct json_object *v;
	long long nbf = LLONG_MIN;	/* absent: valid since forever */

	*why = WHY_MALFORMED;
	if (!json_object_object_get_ex(claims, "exp", &v) ||
	    read_seconds(v, &c->exp) != AP_OK)
		return AP_ERR_UNAUTHORIZED;
	if (json_object_object_get_ex(claims, "nbf", &v) &&
	    read_seconds(v, &nbf) != AP_OK)
		return AP_ERR_UNAUTHORIZED;
	if (!json_object_object_get_ex(claims, "sub", &v) ||
	    read_sub(v, c->sub) != AP_OK)
		return AP_ERR_UNAUTHORIZED;
	/* now > exp + leeway, written so that no sum can overflow */
	if (c->exp <= LLONG_MAX - JWT_LEEWAY_S && now > c->exp + JWT_LEEWAY_S) {
		*why = WHY_EXPIRED;
		return AP_ERR_UNAUTHORIZED;
	}
	if (nbf >= LLONG_MIN + JWT_LEEWAY_S && now < nbf - JWT_LEEWAY_S) {
		*why = WHY_NOT_YET;
		return AP_ERR_UNAUTHORIZED;
	}
	*why = NULL;
	return AP_OK;
}

/* HMAC-SHA256 of n bytes; keylen was checked to fit an int. */
static enum ap_err hs256(const void *key, size_t keylen, const void *data,
			 size_t n, unsigned char mac[HS256_LEN])
{
	unsigned int maclen = 0;

	if (!HMAC(EVP_sha256(), key, (int)keylen, data, n, mac, &maclen) ||
	    maclen != HS256_LEN)
		return AP_ERR_INTERNAL;
	return AP_OK;
}

static enum ap_err check_key(const void *key, size_t keylen)
{
	if (!key || keylen == 0 || keylen > INT_MAX)
		return AP_ERR_CONFIG;
	return AP_OK;
}

enum ap_err jwt_verify_hs256(const char *token, size_t len, const void *key,
			     size_t keylen, time_t now, struct jwt_claims *out,
			     const char **why)
{
	const char *reason = WHY_MALFORMED;
	const char *dot1, *dot2, *sig;
	size_t siglen, n;
	unsigned char mac[HS256_LEN], given[HS256_LEN];
	struct json_object *hdr = NULL, *claims = NULL;
	struct jwt_claims c;
	enum ap_err e;

	e = check_key(key, keylen);
	if (e) {
		reason = "no verification key";
		goto fail;
	}
	e = AP_ERR_UNAUTHORIZED;
	if (!token || len > JWT_MAX_LEN)
		goto fail;
	dot1 = memchr(token, '.', len);
	if (!dot1)
		goto fail;
	dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
	if (!dot2)
		goto fail;
	sig = dot2 + 1;
	siglen = len - (size_t)(sig - token);
	if (memchr(sig, '.', siglen))
		goto fail;

	e = parse_part(token, (size_t)(dot1 - token), &hdr);
	if (e)
		goto fail;
	e = check_header(hdr, &reason);
	if (e)
		goto fail;

	reason = WHY_SIGNATURE;
	e = AP_ERR_UNAUTHORIZED;
	if (b64url_decode(sig, siglen, given, sizeof(given), &n) != AP_OK ||
	    n != HS256_LEN)
		goto fail;
	e = hs256(key, keylen, token, (size_t)(dot2 - token), mac);
	if (e) {
		reason = "internal error";
		goto fail;
	}
	if (CRYPTO_memcmp(mac, given, HS256_LEN) != 0) {
		e = AP_ERR_UNAUTHORIZED;
		goto fail;
	}

	reason = WHY_MALFORMED;
	e = parse_part(dot1 + 1, (size_t)(dot2 - dot1 - 1), &claims);
	if (e)
		goto fail;
	e = check_claims(claims, (long long)now, &c, &reason);
	if (e)
		goto fail;

	*out = c;
	reason = NULL;
fail:
	if (why)
		*why = reason;
	/* the MAC of a forged token is a valid signature for it */
	OPENSSL_cleanse(mac, sizeof(mac));
	json_object_put(hdr);
	json_object_put(claims);
	return e;
}

enum ap_err jwt_sign_json(const char *header, const char *payload,
			  const void *key, size_t keylen, struct buf *out)
{
	size_t hl = strlen(header), pl = strlen(payload);
	size_t start = out->len, eh, ep, es;
	unsigned char mac[HS256_LEN];
	enum ap_err e;

	e = check_key(key, keylen);
	if (e)
		return e;
	if (hl > JWT_SIGN_PART_MAX || pl > JWT_SIGN_PART_MAX)
		return AP_ERR_TOO_LARGE;
	eh = b64url_encoded_len(hl);
	ep = b64url_encoded_len(pl);
	es = b64url_encoded_len(HS256_LEN);
	e = buf_reserve(out, eh + 1 + ep + 1 + es);
	if (e)
		return e;
	b64url_encode((const unsigned char *)header, hl, out->data + out->len);
	out->len += eh;
	out->data[out->len++] = '.';
	b64url_encode((const unsigned char *)payload, pl, out->data + out->len);
	out->len += ep;
	e = hs256(key, keylen, out->data + start, out->len - start, mac);
	if (e)
		goto fail;
	out->data[out->len++] = '.';
	b64url_encode(mac, HS256_LEN, out->data + out->len);
	out->len += es;
	out->data[out->len] = '\0';
	return AP_OK;
fail:
	out->len = start;
	out->data[start] = '\0';
	return e;
}

enum ap_err jwt_sign_hs256(const char *sub, long long exp, const void *key,
			   size_t keylen, struct buf *out)
{
	struct json_object *claims = NULL, *v = NULL;
	const char *payload;
	enum ap_err e;

	e = check_key(key, keylen);
	if (e)
		return e;
	if (!sub_ok(sub, strnlen(sub, JWT_SUB_MAX + 1)))
		return AP_ERR_BAD_REQUEST;
	e = AP_ERR_NOMEM;
	claims = json_object_new_object();
	if (!claims)
		goto fail;
	/* json-c writes the string escaped, whatever sub holds */
	v = json_object_new_string(sub);
	if (!v || json_object_object_add(claims, "sub", v) != 0)
		goto fail;
	v = json_object_new_int64(exp);
	if (!v || json_object_object_add(claims, "exp", v) != 0)
		goto fail;
	v = NULL;
	payload = json_object_to_json_string_ext(claims,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!payload)
		goto fail;
	e = jwt_sign_json(HS256_HEADER, payload, key, keylen, out);
fail:
	json_object_put(v);
	json_object_put(claims);
	return e;
}
