/*
 * test_request.c - request.h: FastCGI parameters become a request only when
 * every size is within its named limit (414, 431, 413), and query strings
 * are decoded strictly (bad escapes and NUL bytes refused, never repaired).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "request.h"

/* The parameters the web server passes: name/value pairs, NULL-terminated. */
struct param {
	const char *name, *value;
};

static const char *getparam(const char *name, void *ud)
{
	for (const struct param *p = ud; p->name; p++)
		if (strcmp(p->name, name) == 0)
			return p->value;
	return NULL;
}

static enum ap_err parse(struct request *r, const struct param *params)
{
	return request_parse(r, getparam, (void *)params);
}

/* A string of n copies of c (caller frees). */
static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void methods_map_to_their_enum_and_keep_their_name(void **state)
{
	static const struct {
		const char *name;
		enum method m;
	} v[] = {
		{"GET", M_GET}, {"HEAD", M_HEAD}, {"POST", M_POST}, {"OPTIONS", M_OPTIONS},
		{"DELETE", M_OTHER}, {"PUT", M_OTHER}, {"get", M_OTHER}, {"GETX", M_OTHER},
	};
	struct request r;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct param p[] = {{"REQUEST_METHOD", v[i].name},
				    {"REQUEST_URI", "/api/tiles/health"}, {NULL, NULL}};
		assert_int_equal(parse(&r, p), AP_OK);
		assert_int_equal(r.method, v[i].m);
		assert_string_equal(r.method_name, v[i].name);
	}
}

static void missing_empty_or_overlong_method_is_400(void **state)
{
	struct param none[] = {{"REQUEST_URI", "/"}, {NULL, NULL}};
	struct param empty[] = {{"REQUEST_METHOD", ""}, {"REQUEST_URI", "/"}, {NULL, NULL}};
	struct param longm[] = {{"REQUEST_METHOD", "AVERYLONGMETHODNAME"}, {"REQUEST_URI", "/"},
				{NULL, NULL}};
	struct request r;

	(void)state;
	assert_int_equal(parse(&r, none), AP_ERR_BAD_REQUEST);
	assert_true(r.detail[0] != '\0');
	assert_int_equal(parse(&r, empty), AP_ERR_BAD_REQUEST);
	assert_int_equal(parse(&r, longm), AP_ERR_BAD_REQUEST);
}

static void uri_splits_into_raw_path_and_query(void **state)
{
	struct param q[] = {{"REQUEST_METHOD", "GET"},
			    {"REQUEST_URI", "/api/tiles/1/%2e%2e/0/0.jpg?token=a%20b&x=1"},
			    {NULL, NULL}};
	struct param noq[] = {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/api/tiles/health"},
			      {NULL, NULL}};
	struct param emptyq[] = {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/api/tiles/health?"},
				 {NULL, NULL}};
	struct request r;

	(void)state;
	assert_int_equal(parse(&r, q), AP_OK);
	assert_string_equal(r.path, "/api/tiles/1/%2e%2e/0/0.jpg");	/* never decoded */
	assert_string_equal(r.query, "token=a%20b&x=1");
	assert_null(r.authorization);
	assert_null(r.if_none_match);
	assert_null(r.origin);
	assert_int_equal(r.content_length, 0);
	assert_null(r.allow);
	assert_int_equal(r.detail[0], '\0');

	assert_int_equal(parse(&r, noq), AP_OK);
	assert_string_equal(r.path, "/api/tiles/health");
	assert_non_null(r.query);
	assert_string_equal(r.query, "");

	assert_int_equal(parse(&r, emptyq), AP_OK);
	assert_string_equal(r.path, "/api/tiles/health");
	assert_string_equal(r.query, "");
}

static void missing_or_relative_uri_is_400(void **state)
{
	struct param none[] = {{"REQUEST_METHOD", "GET"}, {NULL, NULL}};
	struct param rel[] = {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "api/tiles/health"},
			      {NULL, NULL}};
	struct param abs[] = {{"REQUEST_METHOD", "GET"},
			      {"REQUEST_URI", "http://evil.example/api/tiles/health"}, {NULL, NULL}};
	struct param empty[] = {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", ""}, {NULL, NULL}};
	struct request r;

	(void)state;
	assert_int_equal(parse(&r, none), AP_ERR_BAD_REQUEST);
	assert_int_equal(parse(&r, rel), AP_ERR_BAD_REQUEST);
	assert_int_equal(parse(&r, abs), AP_ERR_BAD_REQUEST);
	assert_int_equal(parse(&r, empty), AP_ERR_BAD_REQUEST);
}

static void fragment_in_uri_is_400(void **state)
{
	struct param p[] = {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/api/tiles/health?a=1#frag"},
			    {NULL, NULL}};
	struct request r;

	(void)state;
	assert_int_equal(parse(&r, p), AP_ERR_BAD_REQUEST);
}

static void uri_longer_than_limit_is_414(void **state)
{
	char *uri = repeat('a', REQ_URI_MAX + 1);
	struct param p[] = {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", uri}, {NULL, NULL}};
	struct request r;

	(void)state;
	/* "/api/tiles/health?aaaa...": path short, whole URI one byte too long */
	memcpy(uri, "/api/tiles/health?", 18);
	assert_int_equal(parse(&r, p), AP_ERR_URI_TOO_LONG);
	assert_int_equal(ap_err_status(AP_ERR_URI_TOO_LONG), 414);
	assert_true(r.detail[0] != '\0');
	/* exactly at the limit is fine */
	uri[REQ_URI_MAX] = '\0';
	assert_int_equal(parse(&r, p), AP_OK);
	assert_int_equal(strlen(r.query), REQ_URI_MAX - 18);
	free(uri);
}

static void path_longer_than_limit_is_414(void **state)
{
	char *uri = repeat('a', REQ_PATH_MAX + 1 + 6);
	struct param p[] = {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", uri}, {NULL, NULL}};
	struct request r;

	(void)state;
	uri[0] = '/';
	memcpy(uri + REQ_PATH_MAX + 1, "?q=1&x", 6);	/* path REQ_PATH_MAX + 1 bytes */
	assert_int_equal(parse(&r, p), AP_ERR_URI_TOO_LONG);
	/* exactly REQ_PATH_MAX bytes of path fit */
	memcpy(uri + REQ_PATH_MAX, "?q=1&x", 7);
	assert_int_equal(parse(&r, p), AP_OK);
	assert_int_equal(strlen(r.path), REQ_PATH_MAX);
	assert_string_equal(r.query, "q=1&x");
	/* and without a query */
	uri[REQ_PATH_MAX + 1] = 'a';
	uri[REQ_PATH_MAX] = 'a';
	uri[REQ_PATH_MAX + 1] = '\0';
	assert_int_equal(parse(&r, p), AP_ERR_URI_TOO_LONG);
	free(uri);
}

static void header_over_limit_is_431(void **state)
{
	static const char *const headers[] = {"HTTP_AUTHORIZATION", "REDIRECT_HTTP_AUTHORIZATION",
					      "HTTP_IF_NONE_MATCH", "HTTP_ORIGIN"};
	char *big = repeat('x', REQ_HEADER_MAX + 1);
	struct request r;

	(void)state;
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		struct param p[] = {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/api/tiles/health"},
				    {headers[i], big}, {NULL, NULL}};
		if (parse(&r, p) != AP_ERR_HEADER_TOO_LARGE)
			fail_msg("%s of %d bytes must be 431", headers[i], REQ_HEADER_MAX + 1);
		assert_int_equal(ap_err_status(AP_ERR_HEADER_TOO_LARGE), 431);
		assert_true(r.detail[0] != '\0');
	}
	/* exactly at the limit is fine */
	big[REQ_HEADER_MAX] = '\0';
	for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
		struct param p[] = {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/api/tiles/health"},
				    {headers[i], big}, {NULL, NULL}};
		if (parse(&r, p) != AP_OK)
			fail_msg("%s of %d bytes must be accepted", headers[i], REQ_HEADER_MAX);
	}
	free(big);
}

static void headers_are_taken_from_their_parameters(void **state)
{
	struct param p[] = {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/api/tiles/health"},
			    {"HTTP_AUTHORIZATION", "Bearer abc"},
			    {"HTTP_IF_NONE_MATCH", "\"e1\""},
			    {"HTTP_ORIGIN", "https://app.example"},
			    {NULL, NULL}};
	struct request r;

	(void)state;
	assert_int_equal(parse(&r, p), AP_OK);
	assert_string_equal(r.authorization, "Bearer abc");
	assert_string_equal(r.if_none_match, "\"e1\"");
	assert_string_equal(r.origin, "https://app.example");
}

static void redirect_http_authorization_is_the_fallback(void **state)
{
	struct param only[] = {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/api/tiles/health"},
			       {"REDIRECT_HTTP_AUTHORIZATION", "Bearer from-redirect"},
			       {NULL, NULL}};
	struct param both[] = {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/api/tiles/health"},
			       {"REDIRECT_HTTP_AUTHORIZATION", "Bearer from-redirect"},
			       {"HTTP_AUTHORIZATION", "Bearer direct"},
			       {NULL, NULL}};
	struct request r;

	(void)state;
	assert_int_equal(parse(&r, only), AP_OK);
	assert_string_equal(r.authorization, "Bearer from-redirect");
	assert_int_equal(parse(&r, both), AP_OK);
	assert_string_equal(r.authorization, "Bearer direct");
}

static void content_length_is_parsed_and_bounded(void **state)
{
	static const struct {
		const char *cl;
		enum ap_err e;
		long v;
	} v[] = {
		{"", AP_OK, 0},
		{"0", AP_OK, 0},
		{"12", AP_OK, 12},
		{"4096", AP_OK, REQ_BODY_MAX},
		{"4097", AP_ERR_TOO_LARGE, 0},
		{"1000000", AP_ERR_TOO_LARGE, 0},
		{"abc", AP_ERR_BAD_REQUEST, 0},
		{"12a", AP_ERR_BAD_REQUEST, 0},
		{"-1", AP_ERR_BAD_REQUEST, 0},
		{"+1", AP_ERR_BAD_REQUEST, 0},
		{" 1", AP_ERR_BAD_REQUEST, 0},
		{"1 ", AP_ERR_BAD_REQUEST, 0},
		{"0x10", AP_ERR_BAD_REQUEST, 0},
		{"1,1", AP_ERR_BAD_REQUEST, 0},
	};
	struct request r;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct param p[] = {{"REQUEST_METHOD", "POST"}, {"REQUEST_URI", "/api/tiles/1/prefetch"},
				    {"CONTENT_LENGTH", v[i].cl}, {NULL, NULL}};
		enum ap_err e = parse(&r, p);
		if (e != v[i].e)
			fail_msg("Content-Length '%s': got status %d, want %d", v[i].cl,
				 ap_err_status(e), ap_err_status(v[i].e));
		if (e == AP_OK)
			assert_int_equal(r.content_length, v[i].v);
	}
	assert_int_equal(ap_err_status(AP_ERR_TOO_LARGE), 413);
}

static void absurd_content_length_is_refused_without_overflow(void **state)
{
	static const char *const v[] = {"99999999999999999999", "18446744073709551616",
					"9223372036854775808", "100000000000000000000000000000"};
	struct request r;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct param p[] = {{"REQUEST_METHOD", "POST"}, {"REQUEST_URI", "/api/tiles/1/prefetch"},
				    {"CONTENT_LENGTH", v[i]}, {NULL, NULL}};
		enum ap_err e = parse(&r, p);
		if (e != AP_ERR_TOO_LARGE && e != AP_ERR_BAD_REQUEST)
			fail_msg("Content-Length %s must be refused (400 or 413)", v[i]);
	}
}

/* ---- query strings ------------------------------------------------------- */

struct qp {
	char name[64];
	char value[128];
	size_t vlen;
};

/* Decodes the whole query into out; returns the number of parameters or -1
 * on the first refusal. */
static int all(const char *query, struct qp *out, int max)
{
	const char *cur = query;
	int n = 0;
	enum ap_err e;

	while ((e = query_next(&cur, out[n].name, sizeof(out[n].name), out[n].value,
			       sizeof(out[n].value), &out[n].vlen)) != AP_ERR_NOT_FOUND) {
		if (e != AP_OK)
			return -1;
		if (++n == max)
			break;
	}
	return n;
}

static void query_parameters_come_in_order(void **state)
{
	struct qp q[8];

	(void)state;
	assert_int_equal(all("a=1&bb=22&c=333", q, 8), 3);
	assert_string_equal(q[0].name, "a");
	assert_string_equal(q[0].value, "1");
	assert_int_equal(q[0].vlen, 1);
	assert_string_equal(q[1].name, "bb");
	assert_string_equal(q[1].value, "22");
	assert_string_equal(q[2].name, "c");
	assert_string_equal(q[2].value, "333");
	assert_int_equal(q[2].vlen, 3);
	assert_int_equal(all("", q, 8), 0);
	assert_int_equal(all("&&&", q, 8), 0);
	assert_int_equal(all("&a=1&&b=2&", q, 8), 2);
	assert_string_equal(q[1].name, "b");
}

static void percent_escapes_are_decoded(void **state)
{
	struct qp q[4];

	(void)state;
	assert_int_equal(all("t%69les=10%2F0%2f0.jpg&n%41me=%7e%C3%A9", q, 4), 2);
	assert_string_equal(q[0].name, "tiles");
	assert_string_equal(q[0].value, "10/0/0.jpg");
	assert_int_equal(q[0].vlen, 10);
	assert_string_equal(q[1].name, "nAme");
	assert_string_equal(q[1].value, "~\xc3\xa9");
	assert_int_equal(q[1].vlen, 3);
	assert_int_equal(all("a=%25&b=%2B&c=%3D%26", q, 4), 3);
	assert_string_equal(q[0].value, "%");
	assert_string_equal(q[1].value, "+");
	assert_string_equal(q[2].value, "=&");
}

static void plus_is_a_space(void **state)
{
	struct qp q[2];

	(void)state;
	assert_int_equal(all("a+b=c+d++e", q, 2), 1);
	assert_string_equal(q[0].name, "a b");
	assert_string_equal(q[0].value, "c d  e");
}

static void percent_00_is_refused(void **state)
{
	struct qp q[2];

	(void)state;
	assert_int_equal(all("a=x%00y", q, 2), -1);
	assert_int_equal(all("a%00=1", q, 2), -1);
	assert_int_equal(all("a=%00", q, 2), -1);
}

static void bad_escapes_are_refused(void **state)
{
	static const char *const bad[] = {
		"a=%", "a=%G1", "a=%1G", "a=%4", "a=x%", "a=%%", "a=%%41", "a=% 1",
		"%=1", "%4=1", "a%G=1", "a=%-1", "a=%+1",
	};
	struct qp q[2];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (all(bad[i], q, 2) != -1)
			fail_msg("query '%s' must be refused", bad[i]);
}

static void a_bad_parameter_does_not_hide_the_next_one(void **state)
{
	const char *cur = "a=%G1&b=2";
	char n[16], v[16];
	size_t vl;

	(void)state;
	assert_int_equal(query_next(&cur, n, sizeof(n), v, sizeof(v), &vl), AP_ERR_BAD_REQUEST);
	assert_int_equal(query_next(&cur, n, sizeof(n), v, sizeof(v), &vl), AP_OK);
	assert_string_equal(n, "b");
	assert_string_equal(v, "2");
	assert_int_equal(query_next(&cur, n, sizeof(n), v, sizeof(v), &vl), AP_ERR_NOT_FOUND);
}

static void empty_values_and_names(void **state)
{
	struct qp q[4];

	(void)state;
	assert_int_equal(all("a=&b&=c", q, 4), 3);
	assert_string_equal(q[0].name, "a");
	assert_string_equal(q[0].value, "");
	assert_int_equal(q[0].vlen, 0);
	assert_string_equal(q[1].name, "b");
	assert_string_equal(q[1].value, "");
	assert_int_equal(q[1].vlen, 0);
	assert_string_equal(q[2].name, "");
	assert_string_equal(q[2].value, "c");
	assert_int_equal(all("a==b", q, 4), 1);
	assert_string_equal(q[0].value, "=b");	/* the first '=' separates */
}

static void repeated_names_are_all_returned_and_get_takes_the_first(void **state)
{
	const char *query = "tiles=0/0/0.jpg&x=1&tiles=1/0/0.png&tiles=";
	struct qp q[8];
	char v[32];

	(void)state;
	assert_int_equal(all(query, q, 8), 4);
	assert_string_equal(q[0].value, "0/0/0.jpg");
	assert_string_equal(q[2].value, "1/0/0.png");
	assert_string_equal(q[3].value, "");
	assert_int_equal(query_get(query, "tiles", v, sizeof(v)), AP_OK);
	assert_string_equal(v, "0/0/0.jpg");
	assert_int_equal(query_get(query, "x", v, sizeof(v)), AP_OK);
	assert_string_equal(v, "1");
}

static void query_get_finds_decoded_names_and_reports_absence(void **state)
{
	char v[32];

	(void)state;
	assert_int_equal(query_get("to%6Ben=abc%2Ddef", "token", v, sizeof(v)), AP_OK);
	assert_string_equal(v, "abc-def");
	assert_int_equal(query_get("tokens=1&xtoken=2&toke=3", "token", v, sizeof(v)),
			 AP_ERR_NOT_FOUND);
	assert_int_equal(query_get("", "token", v, sizeof(v)), AP_ERR_NOT_FOUND);
	assert_int_equal(query_get("token", "token", v, sizeof(v)), AP_OK);
	assert_string_equal(v, "");
}

static void query_get_skips_bad_parameters_of_other_names(void **state)
{
	char v[32];

	(void)state;
	assert_int_equal(query_get("x=%G1&y=%00&token=abc", "token", v, sizeof(v)), AP_OK);
	assert_string_equal(v, "abc");
}

/* The first value of the wanted name is malformed: that is a bad request,
 * never "absent" and never silently replaced by a later value. */
static void query_get_refuses_a_malformed_value_of_the_wanted_name(void **state)
{
	char v[32], q[256];

	(void)state;
	assert_int_equal(query_get("token=%G1", "token", v, sizeof(v)), AP_ERR_BAD_REQUEST);
	assert_int_equal(query_get("token=%00&token=good", "token", v, sizeof(v)),
			 AP_ERR_BAD_REQUEST);
	/* over-long for the caller's buffer */
	memset(q, 'a', sizeof(q) - 1);
	q[sizeof(q) - 1] = '\0';
	memcpy(q, "token=", 6);
	assert_int_equal(query_get(q, "token", v, sizeof(v)), AP_ERR_BAD_REQUEST);
	/* a bad name is nobody's: it neither matches nor hides the real one */
	assert_int_equal(query_get("xoken=1&t%GG=2&token=ok", "token", v, sizeof(v)), AP_OK);
	assert_string_equal(v, "ok");
}

static void values_must_fit_their_buffer(void **state)
{
	const char *cur;
	char n[4], v[4];
	size_t vl = 99;

	(void)state;
	cur = "abc=xyz";	/* 3 chars + NUL: fits exactly */
	assert_int_equal(query_next(&cur, n, sizeof(n), v, sizeof(v), &vl), AP_OK);
	assert_string_equal(v, "xyz");
	assert_int_equal(vl, 3);
	cur = "abc=wxyz";
	assert_int_equal(query_next(&cur, n, sizeof(n), v, sizeof(v), &vl), AP_ERR_BAD_REQUEST);
	cur = "abcd=x";
	assert_int_equal(query_next(&cur, n, sizeof(n), v, sizeof(v), &vl), AP_ERR_BAD_REQUEST);
	cur = "a=%41%41%41";	/* decoded length counts, not encoded */
	assert_int_equal(query_next(&cur, n, sizeof(n), v, sizeof(v), &vl), AP_OK);
	assert_string_equal(v, "AAA");
}

static void too_many_parameters_are_refused(void **state)
{
	size_t n = REQ_QUERY_PARAMS_MAX + 1;
	char *q = malloc(n * 4 + 16);
	char v[8];
	size_t o = 0;

	(void)state;
	assert_non_null(q);
	for (size_t i = 0; i < n; i++)
		o += (size_t)sprintf(q + o, "a=1&");
	sprintf(q + o, "z=9");
	assert_int_equal(query_get(q, "z", v, sizeof(v)), AP_ERR_BAD_REQUEST);
	free(q);
}

static void request_fail_records_the_detail_and_returns_the_error(void **state)
{
	struct request r;

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_int_equal(request_fail(&r, AP_ERR_NOT_FOUND, "dataset %u not found", 42u),
			 AP_ERR_NOT_FOUND);
	assert_string_equal(r.detail, "dataset 42 not found");
}

/* Accept: image/webp, by name, with a q other than 0 (wildcards do not count). */
static bool webp_for(const char *accept)
{
	struct param ps[] = {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/api/tiles/1/info"},
			     {accept ? "HTTP_ACCEPT" : "X_NONE", accept}, {NULL, NULL}};
	struct request r;

	assert_int_equal(parse(&r, ps), AP_OK);
	return request_accepts_webp(&r);
}

static void accept_names_webp_with_a_nonzero_q(void **state)
{
	(void)state;
	assert_false(webp_for(NULL));
	assert_false(webp_for(""));
	assert_false(webp_for("*/*"));
	assert_false(webp_for("image/*"));
	assert_false(webp_for("image/webpx"));
	assert_false(webp_for("image/jpeg, image/png"));
	assert_true(webp_for("image/webp"));
	assert_true(webp_for("IMAGE/WEBP"));
	assert_true(webp_for("image/avif,image/webp,image/apng,*/*;q=0.8"));	/* Chrome */
	assert_true(webp_for("image/webp,*/*"));				/* Firefox */
	assert_true(webp_for("text/html, image/webp ;q=0.5"));
	assert_true(webp_for("image/webp;q=0.001"));
	assert_true(webp_for("image/webp; q=1"));
	assert_false(webp_for("image/webp;q=0"));
	assert_false(webp_for("image/webp; q=0.000, */*"));
	assert_false(webp_for("image/webp;Q=0.0"));
	assert_true(webp_for("image/png;q=0, image/webp"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accept_names_webp_with_a_nonzero_q),
		cmocka_unit_test(methods_map_to_their_enum_and_keep_their_name),
		cmocka_unit_test(missing_empty_or_overlong_method_is_400),
		cmocka_unit_test(uri_splits_into_raw_path_and_query),
		cmocka_unit_test(missing_or_relative_uri_is_400),
		cmocka_unit_test(fragment_in_uri_is_400),
		cmocka_unit_test(uri_longer_than_limit_is_414),
		cmocka_unit_test(path_longer_than_limit_is_414),
		cmocka_unit_test(header_over_limit_is_431),
		cmocka_unit_test(headers_are_taken_from_their_parameters),
		cmocka_unit_test(redirect_http_authorization_is_the_fallback),
		cmocka_unit_test(content_length_is_parsed_and_bounded),
		cmocka_unit_test(absurd_content_length_is_refused_without_overflow),
		cmocka_unit_test(query_parameters_come_in_order),
		cmocka_unit_test(percent_escapes_are_decoded),
		cmocka_unit_test(plus_is_a_space),
		cmocka_unit_test(percent_00_is_refused),
		cmocka_unit_test(bad_escapes_are_refused),
		cmocka_unit_test(a_bad_parameter_does_not_hide_the_next_one),
		cmocka_unit_test(empty_values_and_names),
		cmocka_unit_test(repeated_names_are_all_returned_and_get_takes_the_first),
		cmocka_unit_test(query_get_finds_decoded_names_and_reports_absence),
		cmocka_unit_test(query_get_skips_bad_parameters_of_other_names),
		cmocka_unit_test(query_get_refuses_a_malformed_value_of_the_wanted_name),
		cmocka_unit_test(values_must_fit_their_buffer),
		cmocka_unit_test(too_many_parameters_are_refused),
		cmocka_unit_test(request_fail_records_the_detail_and_returns_the_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
