/*
 * test_jwt.c - SPEC section 4 as tests: an HS256 token with a valid
 * signature, a "sub" and an unexpired "exp" is accepted; any other alg
 * (including none), a bad signature, an expired or malformed token is a 401
 * with a short reason.
 *
 * Odd tokens are forged with jwt_sign_json() (header and payload verbatim,
 * correctly signed), so each test isolates the one rule it is about. One
 * token comes from outside this code entirely, so verification is not only
 * checked against our own signer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <limits.h>
#include <cmocka.h>
#include "jwt.h"

#define KEY "unit-test-key"
#define NOW 1700000000LL
#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
/* room for the over-long tokens of the length tests */
#define TOK_CAP (2 * JWT_MAX_LEN)

static void forge(char dst[TOK_CAP], const char *header, const char *payload)
{
	struct buf b;

	buf_init(&b, TOK_CAP - 1);
	assert_int_equal(jwt_sign_json(header, payload, KEY, strlen(KEY), &b), AP_OK);
	memcpy(dst, b.data, b.len + 1);
	buf_free(&b);
}

/* A correctly signed HS256 token for a claims set built from fmt. */
static void forge_claims(char dst[TOK_CAP], const char *fmt, long long t)
{
	char payload[TOK_CAP];

	snprintf(payload, sizeof(payload), fmt, t);
	forge(dst, HS256, payload);
}

static enum ap_err verify(const char *token, struct jwt_claims *c, const char **why)
{
	return jwt_verify_hs256(token, strlen(token), KEY, strlen(KEY),
				(time_t)NOW, c, why);
}

/* Refused with this reason, and no claim leaked into the caller's struct. */
#define assert_refused(token, reason) do { \
	struct jwt_claims c_ = {.sub = "", .exp = -7}; \
	const char *why_ = NULL; \
	assert_int_equal(verify((token), &c_, &why_), AP_ERR_UNAUTHORIZED); \
	assert_non_null(why_); \
	assert_string_equal(why_, (reason)); \
	assert_int_equal(c_.exp, -7); \
	assert_string_equal(c_.sub, ""); \
} while (0)

#define assert_accepted(token, want_sub, want_exp) do { \
	struct jwt_claims c_; \
	const char *why_ = "unset"; \
	assert_int_equal(verify((token), &c_, &why_), AP_OK); \
	assert_null(why_); \
	assert_string_equal(c_.sub, (want_sub)); \
	assert_int_equal(c_.exp, (want_exp)); \
} while (0)

/* Drops everything after the last '.', as an "alg":"none" token has. */
static void strip_signature(char *token)
{
	strrchr(token, '.')[1] = '\0';
}

static void valid_token_is_accepted_and_claims_extracted(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, TOK_CAP);
	assert_int_equal(jwt_sign_hs256("user-7", NOW + 3600, KEY, strlen(KEY), &b), AP_OK);
	assert_accepted(b.data, "user-7", NOW + 3600);
	buf_free(&b);
}

/*
 * Computed once, outside this code, with only the Python standard library:
 *   python3 -c 'import hmac,hashlib,base64,json
 *   e=lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
 *   h=e(json.dumps({"alg":"HS256","typ":"JWT"},separators=(",",":")).encode())
 *   p=e(json.dumps({"sub":"42","exp":4102444800},separators=(",",":")).encode())
 *   print(h+"."+p+"."+e(hmac.new(b"secret",(h+"."+p).encode(),hashlib.sha256).digest()))'
 */
static const char EXTERNAL[] =
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
	".eyJzdWIiOiI0MiIsImV4cCI6NDEwMjQ0NDgwMH0"
	".M_VfhGMqfmyf4VDriS4dpLAF_Loc8gummQeWZ_frmiQ";

static void external_vector_is_accepted(void **state)
{
	struct jwt_claims c;
	const char *why;

	(void)state;
	assert_int_equal(jwt_verify_hs256(EXTERNAL, strlen(EXTERNAL), "secret", 6,
					  (time_t)NOW, &c, &why), AP_OK);
	assert_string_equal(c.sub, "42");
	assert_int_equal(c.exp, 4102444800LL);
}

static void external_vector_is_reproduced_by_our_signer(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, TOK_CAP);
	assert_int_equal(jwt_sign_hs256("42", 4102444800LL, "secret", 6, &b), AP_OK);
	assert_string_equal(b.data, EXTERNAL);
	buf_free(&b);
}

static void wrong_key_is_refused(void **state)
{
	struct jwt_claims c;
	const char *why;

	(void)state;
	assert_int_equal(jwt_verify_hs256(EXTERNAL, strlen(EXTERNAL), "Secret", 6,
					  (time_t)NOW, &c, &why), AP_ERR_UNAUTHORIZED);
	assert_string_equal(why, "bad signature");
	/* the key is the whole secret, not a prefix of it */
	assert_int_equal(jwt_verify_hs256(EXTERNAL, strlen(EXTERNAL), "secret", 5,
					  (time_t)NOW, &c, &why), AP_ERR_UNAUTHORIZED);
	assert_int_equal(jwt_verify_hs256(EXTERNAL, strlen(EXTERNAL), "secrets", 7,
					  (time_t)NOW, &c, &why), AP_ERR_UNAUTHORIZED);
}

static void empty_key_refuses_to_verify(void **state)
{
	struct jwt_claims c;
	const char *why = NULL;
	struct buf b;

	(void)state;
	assert_int_equal(jwt_verify_hs256(EXTERNAL, strlen(EXTERNAL), "", 0,
					  (time_t)NOW, &c, &why), AP_ERR_CONFIG);
	assert_non_null(why);
	assert_int_equal(jwt_verify_hs256(EXTERNAL, strlen(EXTERNAL), NULL, 0,
					  (time_t)NOW, &c, &why), AP_ERR_CONFIG);
	buf_init(&b, TOK_CAP);
	assert_int_equal(jwt_sign_hs256("42", NOW, "", 0, &b), AP_ERR_CONFIG);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void alg_none_is_refused(void **state)
{
	char t[TOK_CAP];

	(void)state;
	/* the classic forgery: no signature at all */
	forge(t, "{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"sub\":\"42\",\"exp\":4102444800}");
	strip_signature(t);
	assert_refused(t, "unsupported alg");
	/* and none stays refused even when a valid HMAC is attached */
	forge(t, "{\"alg\":\"none\"}", "{\"sub\":\"42\",\"exp\":4102444800}");
	assert_refused(t, "unsupported alg");
}

static void every_alg_but_hs256_is_refused(void **state)
{
	static const char *const headers[] = {
		"{\"alg\":\"HS512\",\"typ\":\"JWT\"}",
		"{\"alg\":\"HS384\"}",
		"{\"alg\":\"RS256\"}",
		"{\"alg\":\"hs256\"}",		/* alg is case-sensitive */
		"{\"alg\":\"HS256 \"}",
		"{\"alg\":\"HS2560\"}",
		"{\"alg\":\"\"}",
		"{\"typ\":\"JWT\"}",		/* missing */
		"{\"alg\":null}",
		"{\"alg\":256}",		/* not a string */
		"{\"alg\":[\"HS256\"]}",
	};
	char t[TOK_CAP];

	(void)state;
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		forge(t, headers[i], "{\"sub\":\"42\",\"exp\":4102444800}");
		assert_refused(t, "unsupported alg");
	}
}

static void typ_if_present_must_be_jwt_in_any_case(void **state)
{
	char t[TOK_CAP];

	(void)state;
	forge(t, "{\"alg\":\"HS256\"}", "{\"sub\":\"42\",\"exp\":4102444800}");
	assert_accepted(t, "42", 4102444800LL);
	forge(t, "{\"alg\":\"HS256\",\"typ\":\"jwt\"}", "{\"sub\":\"42\",\"exp\":4102444800}");
	assert_accepted(t, "42", 4102444800LL);
	forge(t, "{\"alg\":\"HS256\",\"typ\":\"JWS\"}", "{\"sub\":\"42\",\"exp\":4102444800}");
	assert_refused(t, "malformed token");
	forge(t, "{\"alg\":\"HS256\",\"typ\":1}", "{\"sub\":\"42\",\"exp\":4102444800}");
	assert_refused(t, "malformed token");
	/* extensions we cannot honour must not be ignored (RFC 7515 4.1.11) */
	forge(t, "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", "{\"sub\":\"42\",\"exp\":4102444800}");
	assert_refused(t, "malformed token");
}

static void tampered_payload_is_refused(void **state)
{
	char alice[TOK_CAP], admin[TOK_CAP], spliced[2 * TOK_CAP];
	const char *alice_sig, *admin_payload;
	int n;

	(void)state;
	forge_claims(alice, "{\"sub\":\"alice\",\"exp\":%lld}", NOW + 60);
	forge_claims(admin, "{\"sub\":\"admin\",\"exp\":%lld}", NOW + 60);
	alice_sig = strrchr(alice, '.');
	admin_payload = strchr(admin, '.');
	/* alice's header and signature around admin's claims */
	n = snprintf(spliced, sizeof(spliced), "%.*s%.*s%s",
		     (int)(strchr(alice, '.') - alice), alice,
		     (int)(strrchr(admin, '.') - admin_payload), admin_payload,
		     alice_sig);
	assert_true(n > 0 && (size_t)n < sizeof(spliced));
	assert_refused(spliced, "bad signature");
}

static void tampered_signature_is_refused(void **state)
{
	char t[TOK_CAP];
	char *last;

	(void)state;
	forge_claims(t, "{\"sub\":\"42\",\"exp\":%lld}", NOW + 60);
	last = t + strlen(t) - 1;
	/* 32 bytes end in a char with 2 unused bits; setting one decodes to
	 * the same MAC, but that spelling is not canonical and is refused */
	*last = (char)(*last + 1);
	assert_refused(t, "bad signature");
	forge_claims(t, "{\"sub\":\"42\",\"exp\":%lld}", NOW + 60);
	t[strlen(t) - 10] ^= 1;
	assert_refused(t, "bad signature");
	/* a truncated signature */
	forge_claims(t, "{\"sub\":\"42\",\"exp\":%lld}", NOW + 60);
	t[strlen(t) - 4] = '\0';
	assert_refused(t, "bad signature");
}

static void expired_token_is_refused(void **state)
{
	char t[TOK_CAP];

	(void)state;
	forge_claims(t, "{\"sub\":\"42\",\"exp\":%lld}", NOW - JWT_LEEWAY_S - 1);
	assert_refused(t, "token expired");
	forge_claims(t, "{\"sub\":\"42\",\"exp\":%lld}", 0);
	assert_refused(t, "token expired");
	forge_claims(t, "{\"sub\":\"42\",\"exp\":%lld}", -5);
	assert_refused(t, "token expired");
	/* a fraction counts: half a second past the leeway is past it */
	forge_claims(t, "{\"sub\":\"42\",\"exp\":%lld.5}", NOW - JWT_LEEWAY_S - 1);
	assert_refused(t, "token expired");
}

static void expiry_within_leeway_is_accepted(void **state)
{
	char t[TOK_CAP];

	(void)state;
	forge_claims(t, "{\"sub\":\"42\",\"exp\":%lld}", NOW - JWT_LEEWAY_S);
	assert_accepted(t, "42", NOW - JWT_LEEWAY_S);
	forge_claims(t, "{\"sub\":\"42\",\"exp\":%lld}", NOW);
	assert_accepted(t, "42", NOW);
}

static void exp_may_be_a_fraction(void **state)
{
	char t[TOK_CAP];

	(void)state;
	forge_claims(t, "{\"sub\":\"42\",\"exp\":%lld.75}", NOW + 100);
	assert_accepted(t, "42", NOW + 100);
	forge_claims(t, "{\"sub\":\"42\",\"exp\":%lld.0e0}", NOW + 100);
	assert_accepted(t, "42", NOW + 100);
}

static void exp_far_in_the_future_does_not_overflow(void **state)
{
	char t[TOK_CAP];

	(void)state;
	forge(t, HS256, "{\"sub\":\"42\",\"exp\":9223372036854775807}");
	assert_accepted(t, "42", LLONG_MAX);
	forge(t, HS256, "{\"sub\":\"42\",\"exp\":99999999999999999999999}");
	assert_accepted(t, "42", LLONG_MAX);
	forge(t, HS256, "{\"sub\":\"42\",\"exp\":1e300}");
	assert_accepted(t, "42", LLONG_MAX);
	forge(t, HS256, "{\"sub\":\"42\",\"exp\":-1e300}");
	assert_refused(t, "token expired");
	forge(t, HS256, "{\"sub\":\"42\",\"exp\":1e400}");	/* infinity */
	assert_refused(t, "malformed token");
	forge(t, HS256, "{\"sub\":\"42\",\"exp\":NaN}");
	assert_refused(t, "malformed token");
}

static void exp_must_be_present_and_a_number(void **state)
{
	static const char *const payloads[] = {
		"{\"sub\":\"42\"}",
		"{\"sub\":\"42\",\"exp\":\"4102444800\"}",
		"{\"sub\":\"42\",\"exp\":true}",
		"{\"sub\":\"42\",\"exp\":null}",
		"{\"sub\":\"42\",\"exp\":[4102444800]}",
		"{\"sub\":\"42\",\"exp\":{}}",
	};
	char t[TOK_CAP];

	(void)state;
	for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		forge(t, HS256, payloads[i]);
		assert_refused(t, "malformed token");
	}
}

static void nbf_in_the_future_is_refused(void **state)
{
	char t[TOK_CAP];

	(void)state;
	forge_claims(t, "{\"sub\":\"42\",\"exp\":4102444800,\"nbf\":%lld}",
		     NOW + JWT_LEEWAY_S + 1);
	assert_refused(t, "token not yet valid");
	/* within leeway, and in the past, it is fine */
	forge_claims(t, "{\"sub\":\"42\",\"exp\":4102444800,\"nbf\":%lld}",
		     NOW + JWT_LEEWAY_S);
	assert_accepted(t, "42", 4102444800LL);
	forge_claims(t, "{\"sub\":\"42\",\"exp\":4102444800,\"nbf\":%lld}", NOW - 100);
	assert_accepted(t, "42", 4102444800LL);
	forge(t, HS256, "{\"sub\":\"42\",\"exp\":4102444800,\"nbf\":-1e300}");
	assert_accepted(t, "42", 4102444800LL);
	/* present means it must be a number */
	forge(t, HS256, "{\"sub\":\"42\",\"exp\":4102444800,\"nbf\":\"0\"}");
	assert_refused(t, "malformed token");
}

static void sub_integer_is_accepted_as_its_decimal_string(void **state)
{
	char t[TOK_CAP];

	(void)state;
	forge(t, HS256, "{\"sub\":42,\"exp\":4102444800}");
	assert_accepted(t, "42", 4102444800LL);
	forge(t, HS256, "{\"sub\":0,\"exp\":4102444800}");
	assert_accepted(t, "0", 4102444800LL);
	forge(t, HS256, "{\"sub\":9223372036854775806,\"exp\":4102444800}");
	assert_accepted(t, "9223372036854775806", 4102444800LL);
}

static void sub_must_be_a_plausible_user_id(void **state)
{
	static const char *const payloads[] = {
		"{\"exp\":4102444800}",				/* missing */
		"{\"sub\":\"\",\"exp\":4102444800}",		/* empty */
		"{\"sub\":null,\"exp\":4102444800}",
		"{\"sub\":true,\"exp\":4102444800}",
		"{\"sub\":4.2,\"exp\":4102444800}",		/* not an integer */
		"{\"sub\":-1,\"exp\":4102444800}",
		/* json-c saturates what does not fit, so it is not the id */
		"{\"sub\":99999999999999999999,\"exp\":4102444800}",
		"{\"sub\":[\"42\"],\"exp\":4102444800}",
		/* control chars would end up in logs */
		"{\"sub\":\"4\\n2\",\"exp\":4102444800}",
		"{\"sub\":\"4\\u00002\",\"exp\":4102444800}",
	};
	char t[TOK_CAP];

	(void)state;
	for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		forge(t, HS256, payloads[i]);
		assert_refused(t, "malformed token");
	}
}

static void sub_length_is_bounded(void **state)
{
	char sub[JWT_SUB_MAX + 2], payload[256], t[TOK_CAP];

	(void)state;
	memset(sub, 'u', sizeof(sub) - 1);
	sub[JWT_SUB_MAX] = '\0';
	snprintf(payload, sizeof(payload), "{\"sub\":\"%s\",\"exp\":4102444800}", sub);
	forge(t, HS256, payload);
	assert_accepted(t, sub, 4102444800LL);
	sub[JWT_SUB_MAX] = 'u';
	sub[JWT_SUB_MAX + 1] = '\0';
	snprintf(payload, sizeof(payload), "{\"sub\":\"%s\",\"exp\":4102444800}", sub);
	forge(t, HS256, payload);
	assert_refused(t, "malformed token");
}

static void signer_escapes_sub_and_refuses_what_verify_would(void **state)
{
	struct buf b;
	char sub[JWT_SUB_MAX + 2];

	(void)state;
	buf_init(&b, TOK_CAP);
	assert_int_equal(jwt_sign_hs256("a\"b\\c/é", NOW + 60, KEY, strlen(KEY), &b), AP_OK);
	assert_accepted(b.data, "a\"b\\c/é", NOW + 60);
	buf_reset(&b);
	assert_int_equal(jwt_sign_hs256("", NOW, KEY, strlen(KEY), &b), AP_ERR_BAD_REQUEST);
	assert_int_equal(jwt_sign_hs256("a\nb", NOW, KEY, strlen(KEY), &b), AP_ERR_BAD_REQUEST);
	memset(sub, 'u', sizeof(sub) - 1);
	sub[sizeof(sub) - 1] = '\0';
	assert_int_equal(jwt_sign_hs256(sub, NOW, KEY, strlen(KEY), &b), AP_ERR_BAD_REQUEST);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void anything_but_three_parts_is_refused(void **state)
{
	char t[TOK_CAP], more[TOK_CAP + 8];

	(void)state;
	assert_refused("", "malformed token");
	assert_refused(".", "malformed token");
	assert_refused("..", "malformed token");
	assert_refused("...", "malformed token");
	assert_refused("eyJhbGciOiJIUzI1NiJ9", "malformed token");
	forge(t, HS256, "{\"sub\":\"42\",\"exp\":4102444800}");
	*strrchr(t, '.') = '\0';	/* header.payload */
	assert_refused(t, "malformed token");
	forge(t, HS256, "{\"sub\":\"42\",\"exp\":4102444800}");
	snprintf(more, sizeof(more), "%s.", t);
	assert_refused(more, "malformed token");
	snprintf(more, sizeof(more), "%s.e30", t);
	assert_refused(more, "malformed token");
}

static void bad_base64_is_refused(void **state)
{
	char t[TOK_CAP], padded[TOK_CAP + 8];
	const char *dot;

	(void)state;
	forge(t, HS256, "{\"sub\":\"42\",\"exp\":4102444800}");
	t[3] = '*';
	assert_refused(t, "malformed token");
	forge(t, HS256, "{\"sub\":\"42\",\"exp\":4102444800}");
	t[3] = '+';	/* standard alphabet, not url */
	assert_refused(t, "malformed token");
	/* the same header with the '=' padding that base64url omits */
	forge(t, "{\"alg\":\"HS256\"}", "{\"sub\":\"42\",\"exp\":4102444800}");
	dot = strchr(t, '.');
	snprintf(padded, sizeof(padded), "%.*s==%s", (int)(dot - t), t, dot);
	assert_refused(padded, "malformed token");
}

static void trailing_garbage_is_refused(void **state)
{
	char t[TOK_CAP], more[TOK_CAP + 8];

	(void)state;
	/* after the JSON of the payload, correctly signed */
	forge(t, HS256, "{\"sub\":\"42\",\"exp\":4102444800}x");
	assert_refused(t, "malformed token");
	forge(t, HS256, "{\"sub\":\"42\",\"exp\":4102444800}{}");
	assert_refused(t, "malformed token");
	forge(t, "{\"alg\":\"HS256\"}]", "{\"sub\":\"42\",\"exp\":4102444800}");
	assert_refused(t, "malformed token");
	/* after the signature */
	forge(t, HS256, "{\"sub\":\"42\",\"exp\":4102444800}");
	snprintf(more, sizeof(more), "%sAAAA", t);
	assert_refused(more, "bad signature");
	snprintf(more, sizeof(more), "%s\n", t);
	assert_refused(more, "bad signature");
}

static void nul_inside_the_token_is_refused(void **state)
{
	char t[TOK_CAP];
	struct jwt_claims c;
	const char *why;
	size_t n;

	(void)state;
	forge(t, HS256, "{\"sub\":\"42\",\"exp\":4102444800}");
	n = strlen(t);
	t[4] = '\0';	/* len still covers the whole token */
	assert_int_equal(jwt_verify_hs256(t, n, KEY, strlen(KEY), (time_t)NOW, &c, &why),
			 AP_ERR_UNAUTHORIZED);
	assert_string_equal(why, "malformed token");
}

static void over_long_token_is_refused_before_decoding(void **state)
{
	char payload[TOK_CAP], t[TOK_CAP];
	size_t fits = 0, over = 0;

	(void)state;
	/* grow a correctly signed token across JWT_MAX_LEN */
	for (size_t pad = JWT_MAX_LEN / 2; pad < JWT_MAX_LEN && !over; pad++) {
		size_t n;

		n = (size_t)snprintf(payload, sizeof(payload),
				     "{\"sub\":\"42\",\"exp\":4102444800,\"pad\":\"%0*d\"}",
				     (int)pad, 0);
		assert_true(n < sizeof(payload));
		forge(t, HS256, payload);
		n = strlen(t);
		if (n <= JWT_MAX_LEN) {
			fits = n;
			assert_accepted(t, "42", 4102444800LL);
		} else {
			over = n;
			assert_refused(t, "malformed token");
		}
	}
	/* both sides of the limit were really reached */
	assert_true(fits > JWT_MAX_LEN - 4 && over > JWT_MAX_LEN);
}

static void non_object_json_is_refused(void **state)
{
	static const char *const payloads[] = {
		"[\"42\",4102444800]", "\"42\"", "42 ", "null", "true", "",
		"{\"sub\":\"42\",\"exp\":4102444800", "{'sub':'42'}x",
	};
	char t[TOK_CAP];

	(void)state;
	for (size_t i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		forge(t, HS256, payloads[i]);
		assert_refused(t, "malformed token");
	}
	forge(t, "[\"HS256\"]", "{\"sub\":\"42\",\"exp\":4102444800}");
	assert_refused(t, "malformed token");
	forge(t, "\"HS256\"", "{\"sub\":\"42\",\"exp\":4102444800}");
	assert_refused(t, "malformed token");
}

static void json_parsing_is_bounded_in_depth_and_strict(void **state)
{
	char payload[512], t[TOK_CAP];
	int depth;

	(void)state;
	/* the claims object is level 1; "x" adds `depth` arrays */
	for (depth = JWT_JSON_DEPTH - 1; depth <= JWT_JSON_DEPTH; depth++) {
		snprintf(payload, sizeof(payload),
			 "{\"sub\":\"42\",\"exp\":4102444800,\"x\":%.*s%.*s}",
			 depth, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
			 depth, "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
		forge(t, HS256, payload);
		if (depth < JWT_JSON_DEPTH)
			assert_accepted(t, "42", 4102444800LL);
		else
			assert_refused(t, "malformed token");
	}
	/* invalid UTF-8 is not JSON */
	forge(t, HS256, "{\"sub\":\"\xff\",\"exp\":4102444800}");
	assert_refused(t, "malformed token");
	/* whitespace is JSON */
	forge(t, "{ \"alg\" : \"HS256\" }\n", " {\"sub\": \"42\", \"exp\": 4102444800}\r\n");
	assert_accepted(t, "42", 4102444800LL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_token_is_accepted_and_claims_extracted),
		cmocka_unit_test(external_vector_is_accepted),
		cmocka_unit_test(external_vector_is_reproduced_by_our_signer),
		cmocka_unit_test(wrong_key_is_refused),
		cmocka_unit_test(empty_key_refuses_to_verify),
		cmocka_unit_test(alg_none_is_refused),
		cmocka_unit_test(every_alg_but_hs256_is_refused),
		cmocka_unit_test(typ_if_present_must_be_jwt_in_any_case),
		cmocka_unit_test(tampered_payload_is_refused),
		cmocka_unit_test(tampered_signature_is_refused),
		cmocka_unit_test(expired_token_is_refused),
		cmocka_unit_test(expiry_within_leeway_is_accepted),
		cmocka_unit_test(exp_may_be_a_fraction),
		cmocka_unit_test(exp_far_in_the_future_does_not_overflow),
		cmocka_unit_test(exp_must_be_present_and_a_number),
		cmocka_unit_test(nbf_in_the_future_is_refused),
		cmocka_unit_test(sub_integer_is_accepted_as_its_decimal_string),
		cmocka_unit_test(sub_must_be_a_plausible_user_id),
		cmocka_unit_test(sub_length_is_bounded),
		cmocka_unit_test(signer_escapes_sub_and_refuses_what_verify_would),
		cmocka_unit_test(anything_but_three_parts_is_refused),
		cmocka_unit_test(bad_base64_is_refused),
		cmocka_unit_test(trailing_garbage_is_refused),
		cmocka_unit_test(nul_inside_the_token_is_refused),
		cmocka_unit_test(over_long_token_is_refused_before_decoding),
		cmocka_unit_test(non_object_json_is_refused),
		cmocka_unit_test(json_parsing_is_bounded_in_depth_and_strict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
