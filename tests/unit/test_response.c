/*
 * test_response.c - response.h: errors are {"detail": ...} with the status
 * of SPEC section 3, and what response_write() writes is a well-formed CGI
 * response: status line, headers, Content-Length (except where HTTP forbids
 * it), blank line, and a body only when there must be one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include <cmocka.h>
#include "cache.h"
#include "response.h"

/* What response_write writes, as a malloc'ed string (len in *n). */
static char *sent(const struct response *res, size_t *n)
{
	char *s = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&s, &len);

	assert_non_null(m);
	assert_int_equal(response_write(res, m), AP_OK);
	fclose(m);
	if (n)
		*n = len;
	return s;
}

/* The value of header name in res (copied into out), or NULL. */
static const char *hdr(const struct response *res, const char *name, char *out, size_t cap)
{
	const char *p = res->headers;
	size_t nl = strlen(name);

	while (p && *p) {
		const char *eol = strstr(p, "\r\n");
		if (!eol)
			fail_msg("header block not CRLF-terminated: %s", p);
		if ((size_t)(eol - p) > nl + 1 && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ')
				v++;
			snprintf(out, cap, "%.*s", (int)(eol - v), v);
			return out;
		}
		p = eol + 2;
	}
	return NULL;
}

/* Parses res's body as JSON and returns its "detail" (copied into out). */
static void detail_of(const struct response *res, char *out, size_t cap)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o, *d;

	assert_non_null(res->body);
	o = json_tokener_parse_ex(tok, res->body, (int)res->body_len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success)
		fail_msg("error body is not JSON: %.*s", (int)res->body_len, (const char *)res->body);
	assert_true(json_object_is_type(o, json_type_object));
	assert_int_equal(json_object_object_length(o), 1);
	assert_true(json_object_object_get_ex(o, "detail", &d));
	assert_true(json_object_is_type(d, json_type_string));
	snprintf(out, cap, "%s", json_object_get_string(d));
	json_object_put(o);
	json_tokener_free(tok);
}

static struct request req_with_detail(const char *detail)
{
	struct request r;

	memset(&r, 0, sizeof(r));
	r.query = "";
	if (detail)
		snprintf(r.detail, sizeof(r.detail), "%s", detail);
	return r;
}

static void errors_have_the_status_of_spec_section_3(void **state)
{
	static const struct {
		enum ap_err e;
		int status;
	} v[] = {
		{AP_ERR_BAD_REQUEST, 400}, {AP_ERR_UNAUTHORIZED, 401}, {AP_ERR_FORBIDDEN, 403},
		{AP_ERR_NOT_FOUND, 404}, {AP_ERR_METHOD, 405}, {AP_ERR_TOO_LARGE, 413},
		{AP_ERR_URI_TOO_LONG, 414}, {AP_ERR_HEADER_TOO_LARGE, 431}, {AP_ERR_STORAGE, 502},
		{AP_ERR_NOT_READY, 503}, {AP_ERR_UNAVAILABLE, 503}, {AP_ERR_NOMEM, 503},
		{AP_ERR_TIMEOUT, 504}, {AP_ERR_INTERNAL, 500},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct request r = req_with_detail("the reason");
		struct response res;
		char detail[256], ct[64];

		response_init(&res);
		response_error(&res, &r, v[i].e);
		if (res.status != v[i].status)
			fail_msg("error %d: status %d, want %d", (int)v[i].e, res.status, v[i].status);
		detail_of(&res, detail, sizeof(detail));
		assert_string_equal(detail, "the reason");
		assert_non_null(hdr(&res, "Content-Type", ct, sizeof(ct)));
		assert_string_equal(ct, "application/json");
		assert_non_null(hdr(&res, "Cache-Control", ct, sizeof(ct)));
		assert_string_equal(ct, "no-store");
		assert_false(res.headers_overflow);
		response_free(&res);
	}
}

static void error_without_detail_uses_the_default_text(void **state)
{
	struct request r = req_with_detail(NULL);
	struct response res;
	char detail[256];

	(void)state;
	response_init(&res);
	response_error(&res, &r, AP_ERR_NOT_FOUND);
	detail_of(&res, detail, sizeof(detail));
	assert_string_equal(detail, ap_err_str(AP_ERR_NOT_FOUND));
	response_free(&res);
	response_init(&res);
	response_error(&res, NULL, AP_ERR_STORAGE);
	assert_int_equal(res.status, 502);
	detail_of(&res, detail, sizeof(detail));
	assert_true(detail[0] != '\0');
	response_free(&res);
}

static void detail_with_quotes_and_control_chars_is_valid_json(void **state)
{
	const char *nasty = "bad \"entry\" \\ with\ttab\nnewline \x01 and </script>";
	struct request r = req_with_detail(nasty);
	struct response res;
	char detail[256];

	(void)state;
	response_init(&res);
	response_error(&res, &r, AP_ERR_BAD_REQUEST);
	detail_of(&res, detail, sizeof(detail));
	assert_string_equal(detail, nasty);
	response_free(&res);
}

static void unauthorized_carries_www_authenticate_bearer(void **state)
{
	struct request r = req_with_detail("authentication required");
	struct response res;
	char v[64];

	(void)state;
	response_init(&res);
	response_error(&res, &r, AP_ERR_UNAUTHORIZED);
	assert_int_equal(res.status, 401);
	assert_non_null(hdr(&res, "WWW-Authenticate", v, sizeof(v)));
	assert_string_equal(v, "Bearer");
	response_free(&res);
	/* and only 401 does */
	response_init(&res);
	response_error(&res, &r, AP_ERR_FORBIDDEN);
	assert_null(hdr(&res, "WWW-Authenticate", v, sizeof(v)));
	response_free(&res);
}

static void method_not_allowed_carries_allow(void **state)
{
	struct request r = req_with_detail("method POST not allowed");
	struct response res;
	char v[64];

	(void)state;
	r.allow = "GET, HEAD, OPTIONS";
	response_init(&res);
	response_error(&res, &r, AP_ERR_METHOD);
	assert_int_equal(res.status, 405);
	assert_non_null(hdr(&res, "Allow", v, sizeof(v)));
	assert_string_equal(v, "GET, HEAD, OPTIONS");
	response_free(&res);
	/* Allow is for 405 only */
	response_init(&res);
	response_error(&res, &r, AP_ERR_NOT_FOUND);
	assert_null(hdr(&res, "Allow", v, sizeof(v)));
	response_free(&res);
}

static void error_for_head_keeps_its_length_and_drops_its_body(void **state)
{
	struct request r = req_with_detail("tile 1/2/3 not found");
	struct response res;
	size_t n;
	char *out, cl[64];

	(void)state;
	r.method = M_HEAD;
	response_init(&res);
	response_error(&res, &r, AP_ERR_NOT_FOUND);
	assert_int_equal(res.status, 404);
	assert_true(res.no_body);
	out = sent(&res, &n);
	snprintf(cl, sizeof(cl), "\r\nContent-Length: %zu\r\n", res.body_len);
	assert_non_null(strstr(out, cl));
	assert_memory_equal(out + n - 4, "\r\n\r\n", 4);
	free(out);
	response_free(&res);
}

static void error_keeps_headers_set_before_and_drops_the_tile(void **state)
{
	struct tilekey k = {.dataset = 1, .fmt = FMT_JPG};
	struct request r = req_with_detail("x");
	struct response res;
	char v[64];

	(void)state;
	response_init(&res);
	response_header(&res, "Access-Control-Allow-Origin", "*");
	res.pin = tile_new(&k, "\xFF\xD8\xFF", 3);	/* a handler had pinned a tile */
	assert_non_null(res.pin);
	res.body = res.pin->data;
	res.body_len = res.pin->len;
	response_error(&res, &r, AP_ERR_STORAGE);
	assert_null(res.pin);	/* released: the sanitizers see a leak otherwise */
	assert_non_null(hdr(&res, "Access-Control-Allow-Origin", v, sizeof(v)));
	assert_int_equal(res.status, 502);
	assert_true(res.body_len > 0);
	assert_memory_equal(res.body, "{", 1);
	response_free(&res);
}

static void response_json_takes_the_buffer(void **state)
{
	struct response res;
	struct buf b;
	char v[64];

	(void)state;
	response_init(&res);
	buf_init(&b, 1024);
	assert_int_equal(buf_adds(&b, "{\"status\": \"ok\"}"), AP_OK);
	response_json(&res, 202, &b);
	assert_int_equal(res.status, 202);
	assert_int_equal(res.body_len, 16);
	assert_memory_equal(res.body, "{\"status\": \"ok\"}", 16);
	assert_int_equal(b.len, 0);	/* the body belongs to the response now */
	assert_null(b.data);
	assert_non_null(hdr(&res, "Content-Type", v, sizeof(v)));
	assert_string_equal(v, "application/json");
	buf_free(&b);
	response_free(&res);
}

static void send_writes_status_headers_length_blank_line_and_body(void **state)
{
	struct response res;
	size_t n;
	char *out;
	static const char body[] = "\xFF\xD8\xFF\x00\x01tile";
	static const char want[] = "Status: 200 OK\r\n"
				   "Content-Type: image/jpeg\r\n"
				   "ETag: \"abc\"\r\n"
				   "Content-Length: 9\r\n"
				   "\r\n"
				   "\xFF\xD8\xFF\x00\x01tile";

	(void)state;
	response_init(&res);
	response_header(&res, "Content-Type", "image/jpeg");
	response_header(&res, "ETag", "\"%s\"", "abc");
	res.body = body;
	res.body_len = sizeof(body) - 1;
	out = sent(&res, &n);
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(out, want, n);
	free(out);
	response_free(&res);
}

static void status_lines_carry_the_reason_phrase(void **state)
{
	static const struct {
		int status;
		const char *line;
	} v[] = {
		{200, "Status: 200 OK\r\n"}, {202, "Status: 202 Accepted\r\n"},
		{304, "Status: 304 Not Modified\r\n"}, {400, "Status: 400 Bad Request\r\n"},
		{401, "Status: 401 Unauthorized\r\n"}, {403, "Status: 403 Forbidden\r\n"},
		{404, "Status: 404 Not Found\r\n"}, {405, "Status: 405 Method Not Allowed\r\n"},
		{414, "Status: 414 URI Too Long\r\n"},
		{431, "Status: 431 Request Header Fields Too Large\r\n"},
		{502, "Status: 502 Bad Gateway\r\n"}, {503, "Status: 503 Service Unavailable\r\n"},
		{504, "Status: 504 Gateway Timeout\r\n"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct response res;
		char *out;

		response_init(&res);
		res.status = v[i].status;
		out = sent(&res, NULL);
		if (strncmp(out, v[i].line, strlen(v[i].line)) != 0)
			fail_msg("status %d: wrote '%.40s'", v[i].status, out);
		free(out);
		response_free(&res);
	}
}

static void head_keeps_content_length_and_drops_the_body(void **state)
{
	struct response res;
	size_t n;
	char *out;

	(void)state;
	response_init(&res);
	response_header(&res, "Content-Type", "image/png");
	res.body = "0123456789";
	res.body_len = 10;
	res.no_body = true;
	out = sent(&res, &n);
	assert_non_null(strstr(out, "\r\nContent-Length: 10\r\n"));
	assert_true(n >= 4);
	assert_memory_equal(out + n - 4, "\r\n\r\n", 4);	/* ends after the blank line */
	assert_null(memmem(out, n, "0123456789", 10));
	free(out);
	response_free(&res);
}

static void not_modified_has_no_content_length_and_no_body(void **state)
{
	struct response res;
	size_t n;
	char *out;

	(void)state;
	response_init(&res);
	response_header(&res, "ETag", "\"abc\"");
	res.status = 304;
	res.body = "0123456789";	/* even if a body is still attached */
	res.body_len = 10;
	out = sent(&res, &n);
	assert_null(strstr(out, "Content-Length"));
	assert_non_null(strstr(out, "ETag: \"abc\"\r\n"));
	assert_memory_equal(out + n - 4, "\r\n\r\n", 4);
	assert_null(memmem(out, n, "0123456789", 10));
	free(out);
	response_free(&res);
}

/* RFC 9110 8.6: "A server MUST NOT send a Content-Length header field in any
 * response with a status code of 1xx or 204". OPTIONS answers 204. */
static void no_content_has_no_content_length_and_no_body(void **state)
{
	struct response res;
	size_t n;
	char *out;

	(void)state;
	response_init(&res);
	response_header(&res, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
	res.status = 204;
	out = sent(&res, &n);
	assert_non_null(strstr(out, "Status: 204 No Content\r\n"));
	assert_null(strstr(out, "Content-Length"));
	assert_memory_equal(out + n - 4, "\r\n\r\n", 4);
	free(out);
	response_free(&res);
}

static void empty_body_has_content_length_0(void **state)
{
	struct response res;
	char *out;

	(void)state;
	response_init(&res);
	out = sent(&res, NULL);
	assert_non_null(strstr(out, "\r\nContent-Length: 0\r\n\r\n"));
	free(out);
	response_free(&res);
}

static void header_values_with_cr_or_lf_cannot_split_headers(void **state)
{
	struct response res;
	char *out;
	size_t n;

	(void)state;
	response_init(&res);
	response_header(&res, "X-Detail", "a\r\nSet-Cookie: evil=1");
	response_header(&res, "X-Other", "%s", "b\nLocation: http://evil.example\r");
	assert_false(res.headers_overflow);
	/* exactly one CRLF per header line: two lines */
	{
		int crlf = 0, bare = 0;
		for (size_t i = 0; i < res.hlen; i++) {
			if (res.headers[i] == '\r' && res.headers[i + 1] == '\n')
				crlf++, i++;
			else if (res.headers[i] == '\r' || res.headers[i] == '\n')
				bare++;
		}
		assert_int_equal(crlf, 2);
		assert_int_equal(bare, 0);
	}
	out = sent(&res, &n);
	assert_null(strstr(out, "\r\nSet-Cookie"));
	assert_null(strstr(out, "\nLocation"));
	assert_non_null(strstr(out, "X-Detail: a  Set-Cookie: evil=1\r\n"));
	free(out);
	response_free(&res);
}

static void header_overflow_is_flagged_and_no_line_is_cut(void **state)
{
	struct response res;
	char value[300];
	size_t before;
	int i;

	(void)state;
	memset(value, 'v', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	response_init(&res);
	for (i = 0; i < 100 && !res.headers_overflow; i++) {
		before = res.hlen;
		response_header(&res, "X-Fill", "%s", value);
	}
	assert_true(res.headers_overflow);
	assert_true(i > 1);
	/* the failed header left nothing behind: the block is whole lines */
	assert_int_equal(res.hlen, before);
	assert_int_equal(strlen(res.headers), res.hlen);
	assert_true(res.hlen >= 2);
	assert_memory_equal(res.headers + res.hlen - 2, "\r\n", 2);
	assert_true(res.hlen < RESP_HEADERS_MAX);
	/* the flag stays; later small headers may still fit but it is never cleared */
	response_header(&res, "X-Small", "1");
	assert_true(res.headers_overflow);
	response_free(&res);
}

static void a_header_that_exactly_fills_the_block_fits(void **state)
{
	struct response res;
	char value[RESP_HEADERS_MAX];
	size_t room;

	(void)state;
	response_init(&res);
	/* "X: " + value + "\r\n" + NUL == RESP_HEADERS_MAX */
	room = RESP_HEADERS_MAX - strlen("X: ") - 2 - 1;
	memset(value, 'v', room);
	value[room] = '\0';
	response_header(&res, "X", "%s", value);
	assert_false(res.headers_overflow);
	assert_int_equal(res.hlen, RESP_HEADERS_MAX - 1);
	response_free(&res);
	/* one byte more does not */
	response_init(&res);
	value[room] = 'v';
	value[room + 1] = '\0';
	response_header(&res, "X", "%s", value);
	assert_true(res.headers_overflow);
	assert_int_equal(res.hlen, 0);
	response_free(&res);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(errors_have_the_status_of_spec_section_3),
		cmocka_unit_test(error_without_detail_uses_the_default_text),
		cmocka_unit_test(detail_with_quotes_and_control_chars_is_valid_json),
		cmocka_unit_test(unauthorized_carries_www_authenticate_bearer),
		cmocka_unit_test(method_not_allowed_carries_allow),
		cmocka_unit_test(error_for_head_keeps_its_length_and_drops_its_body),
		cmocka_unit_test(error_keeps_headers_set_before_and_drops_the_tile),
		cmocka_unit_test(response_json_takes_the_buffer),
		cmocka_unit_test(send_writes_status_headers_length_blank_line_and_body),
		cmocka_unit_test(status_lines_carry_the_reason_phrase),
		cmocka_unit_test(head_keeps_content_length_and_drops_the_body),
		cmocka_unit_test(not_modified_has_no_content_length_and_no_body),
		cmocka_unit_test(no_content_has_no_content_length_and_no_body),
		cmocka_unit_test(empty_body_has_content_length_0),
		cmocka_unit_test(header_values_with_cr_or_lf_cannot_split_headers),
		cmocka_unit_test(header_overflow_is_flagged_and_no_line_is_cut),
		cmocka_unit_test(a_header_that_exactly_fills_the_block_fits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
