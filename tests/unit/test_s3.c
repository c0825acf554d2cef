/*
 * test_s3.c - the bucket client without a bucket: ListObjectsV2 pages read
 * strictly (a size or a page that cannot be read is an error, never a
 * guess), and requests prepared as they will be sent (path-style signed
 * URL and headers, or the unsigned public URL).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "config.h"
#include "s3.h"

struct seen {
	int n;
	struct s3_object o[4];
};

static void collect(const struct s3_object *o, void *ud)
{
	struct seen *s = ud;

	if (s->n < 4)
		s->o[s->n] = *o;
	s->n++;
}

static enum ap_err parse(const char *xml, struct seen *s, char *token, size_t cap)
{
	memset(s, 0, sizeof(*s));
	return s3_parse_list(xml, strlen(xml), collect, s, token, cap);
}

#define PAGE(body) "<?xml version=\"1.0\"?><ListBucketResult>" body "</ListBucketResult>"

static void a_page_gives_keys_etags_and_sizes(void **state)
{
	const char *xml = PAGE("<IsTruncated>false</IsTruncated>"
		"<Contents><Key>tiles/1/0/0/0.jpg</Key><ETag>&quot;ABCDEF01&quot;</ETag>"
		"<Size>615</Size></Contents>"
		"<Contents><Key>a&amp;b</Key><ETag>\"x-2\"</ETag><Size>0</Size></Contents>");
	char token[64];
	struct seen s;

	(void)state;
	assert_int_equal(parse(xml, &s, token, sizeof(token)), AP_OK);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.o[0].key, "tiles/1/0/0/0.jpg");
	assert_string_equal(s.o[0].etag, "abcdef01");	/* unquoted, lower-case */
	assert_int_equal(s.o[0].size, 615);
	assert_string_equal(s.o[1].key, "a&b");
	assert_string_equal(s.o[1].etag, "x-2");
	assert_int_equal(s.o[1].size, 0);
	assert_string_equal(token, "");
}

static void a_truncated_page_gives_its_continuation_token(void **state)
{
	char token[64];
	struct seen s;

	(void)state;
	assert_int_equal(parse(PAGE("<IsTruncated>true</IsTruncated>"
				    "<NextContinuationToken>1/abc=</NextContinuationToken>"),
			       &s, token, sizeof(token)), AP_OK);
	assert_string_equal(token, "1/abc=");
	/* truncated without a token: the listing cannot go on */
	assert_int_equal(parse(PAGE("<IsTruncated>true</IsTruncated>"), &s, token,
			       sizeof(token)), AP_ERR_STORAGE);
}

static void a_size_that_is_not_a_plain_number_is_refused(void **state)
{
	static const char *const sizes[] = {
		"-1", "+5", " 5", "5 ", "0x10", "1e3", "", "18446744073709551616",
	};
	char xml[512], token[64];
	struct seen s;

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(xml, sizeof(xml), PAGE("<Contents><Key>k</Key><Size>%s</Size></Contents>"),
			 sizes[i]);
		assert_int_equal(parse(xml, &s, token, sizeof(token)), AP_ERR_STORAGE);
	}
	snprintf(xml, sizeof(xml), PAGE("<Contents><Key>k</Key><Size>%s</Size></Contents>"),
		 "18446744073709551615");
	assert_int_equal(parse(xml, &s, token, sizeof(token)), AP_OK);
	assert_true(s.o[0].size == 18446744073709551615ull);
}

static void a_page_cut_short_or_without_keys_is_refused(void **state)
{
	char token[64];
	struct seen s;

	(void)state;
	assert_int_equal(parse("<ListBucketResult><Contents><Key>k</Key>", &s, token,
			       sizeof(token)), AP_ERR_STORAGE);
	assert_int_equal(parse(PAGE("<Contents><Size>1</Size></Contents>"), &s, token,
			       sizeof(token)), AP_ERR_STORAGE);
	assert_int_equal(parse(PAGE("<Contents><Key>&#0;</Key></Contents>"), &s, token,
			       sizeof(token)), AP_ERR_STORAGE);
}

static void config_for(struct config *c, const char *public_url)
{
	memset(c, 0, sizeof(*c));
	c->access_key = "AKIDEXAMPLE";
	c->secret_key_s3 = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
	c->bucket = "tiles";
	c->endpoint = "http://127.0.0.1:9000";
	c->public_url = (char *)public_url;
}

static bool has_line(const struct s3_req *r, const char *line)
{
	for (size_t i = 0; i < r->spec.nheaders; i++)
		if (!strcmp(r->spec.headers[i], line))
			return true;
	return false;
}

static bool has_prefix(const struct s3_req *r, const char *prefix)
{
	for (size_t i = 0; i < r->spec.nheaders; i++)
		if (!strncmp(r->spec.headers[i], prefix, strlen(prefix)))
			return true;
	return false;
}

static void a_signed_request_is_path_style_with_its_lines_and_signature(void **state)
{
	const char *extra[] = {"Content-Type: image/jpeg"};
	struct config c;
	struct s3 *s;
	struct s3_req *r = calloc(1, sizeof(*r));

	(void)state;
	config_for(&c, NULL);
	assert_int_equal(s3_new(&c, &s), AP_OK);
	assert_int_equal(s3_prepare(s, r, "PUT", "tiles/1/a b.jpg", NULL, "xy", 2, NULL, extra, 1),
			 AP_OK);
	assert_string_equal(r->spec.url, "http://127.0.0.1:9000/tiles/tiles/1/a%20b.jpg");
	assert_string_equal(r->spec.method, "PUT");
	assert_string_equal(r->spec.headers[0], "Host: 127.0.0.1:9000");
	assert_true(has_line(r, "Content-Type: image/jpeg"));
	assert_true(has_prefix(r, "X-Amz-Date: "));
	assert_true(has_prefix(r, "x-amz-content-sha256: "));
	assert_true(has_prefix(r, "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
	assert_true(r->spec.body_len == 2);
	s3_free(s);
	free(r);
}

static void a_public_read_is_unsigned_and_sends_its_lines_as_given(void **state)
{
	const char *extra[] = {"Range: bytes=0-9"};
	struct config c;
	struct s3 *s;
	struct s3_req *r = calloc(1, sizeof(*r));

	(void)state;
	config_for(&c, "https://pub.example");
	assert_int_equal(s3_new(&c, &s), AP_OK);
	assert_int_equal(s3_prepare(s, r, "GET", "tiles/1/0/0/0.jpg", NULL, NULL, 0, NULL, extra, 1),
			 AP_OK);
	assert_string_equal(r->spec.url, "https://pub.example/tiles/1/0/0/0.jpg");
	assert_int_equal(r->spec.nheaders, 1);
	assert_string_equal(r->spec.headers[0], "Range: bytes=0-9");
	assert_false(has_prefix(r, "Authorization"));
	/* writes never go to the public URL */
	assert_int_equal(s3_prepare(s, r, "PUT", "k", NULL, "x", 1, NULL, NULL, 0), AP_OK);
	assert_string_equal(r->spec.url, "http://127.0.0.1:9000/tiles/k");
	assert_true(has_prefix(r, "Authorization: "));
	s3_free(s);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_page_gives_keys_etags_and_sizes),
		cmocka_unit_test(a_truncated_page_gives_its_continuation_token),
		cmocka_unit_test(a_size_that_is_not_a_plain_number_is_refused),
		cmocka_unit_test(a_page_cut_short_or_without_keys_is_refused),
		cmocka_unit_test(a_signed_request_is_path_style_with_its_lines_and_signature),
		cmocka_unit_test(a_public_read_is_unsigned_and_sends_its_lines_as_given),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
