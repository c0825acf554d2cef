/*
 * fuzz_jwt_claims.c - JWT header and claims parsing (jwt.h) behind a valid
 * signature: the input is signed here, so every mutation reaches the JSON
 * of the header and of the claims, which a forged token never does.
 *
 * Input: "HEADER\nPAYLOAD" (JSON texts, taken verbatim), or only PAYLOAD
 * with the standard header {"alg":"HS256","typ":"JWT"} when there is no
 * newline. Both are cut at a NUL byte (jwt_sign_json takes C strings).
 *
 * Oracle: the rules of jwt.h, checked with json-c here on the accepted
 * token: alg is "HS256", there is no "crit", exp is a number not past, sub
 * is the string or non-negative integer the claims carry.
 */
#include <inttypes.h>
#include <json-c/json.h>
#include "fuzz.h"
#include "buf.h"
#include "jwt.h"
#include "jwt_fixture.h"

static const char STD_HEADER[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

static void check_accepted(const char *header, const char *payload, const struct jwt_claims *c)
{
	struct json_object *h = json_tokener_parse(header), *p = json_tokener_parse(payload), *v;
	char sub[32];

	FUZZ_CHECK(h && json_object_is_type(h, json_type_object), "header not an object");
	FUZZ_CHECK(json_object_object_get_ex(h, "alg", &v) &&
		   !strcmp(json_object_get_string(v), "HS256") &&
		   json_object_is_type(v, json_type_string), "alg is not HS256");
	FUZZ_CHECK(!json_object_object_get_ex(h, "crit", NULL), "crit accepted");
	FUZZ_CHECK(p && json_object_is_type(p, json_type_object), "claims not an object");
	FUZZ_CHECK(json_object_object_get_ex(p, "exp", &v) &&
		   (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)),
		   "exp missing or not a number");
	FUZZ_CHECK(c->exp >= FUZZ_JWT_NOW - JWT_LEEWAY_S, "expired accepted");
	FUZZ_CHECK(json_object_object_get_ex(p, "sub", &v), "no sub");
	if (json_object_is_type(v, json_type_string)) {
		FUZZ_CHECK(strcmp(json_object_get_string(v), c->sub) == 0, "sub '%s', claims say '%s'",
			   c->sub, json_object_get_string(v));
	} else {
		FUZZ_CHECK(json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0,
			   "sub neither string nor non-negative integer");
		snprintf(sub, sizeof(sub), "%" PRId64, json_object_get_int64(v));
		FUZZ_CHECK(strcmp(sub, c->sub) == 0, "sub '%s' for %s", c->sub, sub);
	}
	json_object_put(h);
	json_object_put(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = fuzz_strndup(data, size), *nl = strchr(in, '\n');
	const char *header = STD_HEADER, *payload = in, *why = "unset";
	struct jwt_claims c;
	struct buf tok;
	enum ap_err e;

	if (nl) {
		*nl = '\0';
		header = in;
		payload = nl + 1;
	}
	buf_init(&tok, 8 * JWT_MAX_LEN);
	FUZZ_CHECK(jwt_sign_json(header, payload, FUZZ_JWT_KEY, strlen(FUZZ_JWT_KEY), &tok) == AP_OK,
		   "jwt_sign_json");
	e = jwt_verify_hs256(tok.data, tok.len, FUZZ_JWT_KEY, strlen(FUZZ_JWT_KEY), FUZZ_JWT_NOW,
			     &c, &why);
	if (e == AP_OK) {
		FUZZ_CHECK(!why, "accepted with a reason");
		check_accepted(header, payload, &c);
	} else {
		FUZZ_CHECK(e == AP_ERR_UNAUTHORIZED && why, "refused with %d", e);
		/* the signature is right by construction */
		FUZZ_CHECK(strcmp(why, "bad signature") != 0,
			   "a correctly signed token refused for its signature");
	}
	buf_free(&tok);
	free(in);
	return 0;
}
