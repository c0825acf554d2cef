/*
 * test_api.c - SPEC sections 3 and 4 end to end, without a web server: a
 * temporary LOCAL_STORAGE_DIR laid out as in section 2, app_init() from the
 * environment, requests built by request_parse() over FastCGI-like
 * parameters, answered by api_handle() and written by response_write().
 *
 * Datasets of the fixture:
 *   1  public (is_demo), owner 5, 600x400, zoom 0..10, tiles 256, completed
 *   2  private, owner 7, same geometry
 *   3  public, owner 5, processing
 *   4  public, 262144x262144, zoom 0..14 (a large grid, no tiles)
 *   5  private, owner_id null (nobody's)
 *   6  private, owner 7, processing
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <cmocka.h>
#include "api.h"
#include "app.h"
#include "jwt.h"
#include "request.h"
#include "response.h"
#include "tileindex.h"

#define KEY "unit-test-jwt-secret-0123456789"

static const unsigned char JPG_A[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F',
				      0x00, 0x01, 'A', 0x00, '+', '/', 0xFF, 0xD9};
static const unsigned char JPG_EDGE[] = {0xFF, 0xD8, 0xFF, 0xDB, 'e', 'd', 'g', 'e', 0xFF, 0xD9};
static const unsigned char JPG_ROOT[] = {0xFF, 0xD8, 0xFF, 0xE1, 'r', 'o', 'o', 't', 0xFF, 0xD9};
static const unsigned char JPG_PRIV[] = {0xFF, 0xD8, 0xFF, 0xE2, 'p', 'r', 'i', 'v', 0xFF, 0xD9};
static const unsigned char PNG_B[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n',
				      0x00, 0x00, 0x00, 0x0D, 'I', 'H', 'D', 'R', 0xFE};
static const unsigned char WEBP_C[] = {'R', 'I', 'F', 'F', 0x0C, 0, 0, 0, 'W', 'E', 'B', 'P',
				       'V', 'P', '8', ' ', 0x01};

struct ctx {
	char dir[64];
	struct app app;
	bool app_ok;
	char tok7[1024];	/* sub "7": owner of 2 and 6 */
	char tok5[1024];	/* sub "5": owner of 1 and 3 */
};

/* ---- fixture ---------------------------------------------------------------- */

static void put_file(const char *root, const char *rel, const void *p, size_t n)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	/* mkdir -p of the parents */
	for (char *s = path + strlen(root) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		if (mkdir(path, 0755) != 0 && access(path, F_OK) != 0)
			fail_msg("mkdir %s", path);
		*s = '/';
	}
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(p, 1, n, fp), n);
	fclose(fp);
}

static void put_meta(const char *root, int id, const char *owner, bool demo, uint64_t w,
		     uint64_t h, int maxz, const char *status)
{
	char rel[64], json[512];

	snprintf(rel, sizeof(rel), "metadata/datasets/%d.json", id);
	snprintf(json, sizeof(json),
		 "{\"id\": %d, \"name\": \"dataset %d\", \"owner_id\": %s, \"is_demo\": %s, "
		 "\"min_zoom\": 0, \"max_zoom\": %d, \"tile_size\": 256, \"width\": %llu, "
		 "\"height\": %llu, \"processing_status\": \"%s\", "
		 "\"updated_at\": \"2024-01-01T00:00:00Z\", \"extra\": [1, 2, 3]}",
		 id, id, owner, demo ? "true" : "false", maxz, (unsigned long long)w,
		 (unsigned long long)h, status);
	put_file(root, rel, json, strlen(json));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Every variable of the configuration table, from its Markdown form. */
static void clear_config_env(void)
{
	char *md = NULL, *p;
	size_t n = 0;
	FILE *m = open_memstream(&md, &n);

	assert_non_null(m);
	config_print_markdown(m);
	fclose(m);
	for (p = md; (p = strstr(p, "| `"));) {
		char name[64], *end = strchr(p + 3, '`');
		assert_non_null(end);
		snprintf(name, sizeof(name), "%.*s", (int)(end - p - 3), p + 3);
		unsetenv(name);
		p = end;
	}
	free(md);
	unsetenv("ENV_FILE");
}

static void sign(char *out, size_t cap, const char *sub, long long exp)
{
	struct buf b;

	buf_init(&b, cap - 1);
	assert_int_equal(jwt_sign_hs256(sub, exp, KEY, strlen(KEY), &b), AP_OK);
	snprintf(out, cap, "%s", b.data);
	buf_free(&b);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	const char *tmp = getenv("TMPDIR");
	char shm[128], why[256];
	time_t now = time(NULL);

	if (!c)
		return -1;
	snprintf(c->dir, sizeof(c->dir), "%s/apapi.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(c->dir))
		return -1;
	put_meta(c->dir, 1, "5", true, 600, 400, 10, "completed");
	put_meta(c->dir, 2, "7", false, 600, 400, 10, "completed");
	put_meta(c->dir, 3, "5", true, 600, 400, 10, "processing");
	put_meta(c->dir, 4, "null", true, 262144, 262144, 14, "completed");
	put_meta(c->dir, 5, "null", false, 600, 400, 10, "completed");
	put_meta(c->dir, 6, "\"7\"", false, 600, 400, 10, "processing");
	put_file(c->dir, "tiles/1/10/0/0.jpg", JPG_A, sizeof(JPG_A));
	put_file(c->dir, "tiles/1/10/1/0.png", PNG_B, sizeof(PNG_B));	/* png only */
	put_file(c->dir, "tiles/1/10/2/1.jpg", JPG_EDGE, sizeof(JPG_EDGE));	/* last in grid */
	put_file(c->dir, "tiles/1/10/3/0.jpg", JPG_EDGE, sizeof(JPG_EDGE));	/* outside grid */
	put_file(c->dir, "tiles/1/11/0/0.jpg", JPG_EDGE, sizeof(JPG_EDGE));	/* outside zoom */
	put_file(c->dir, "tiles/1/9/0/0.webp", WEBP_C, sizeof(WEBP_C));	/* webp only */
	put_file(c->dir, "tiles/1/0/0/0.jpg", JPG_ROOT, sizeof(JPG_ROOT));
	put_file(c->dir, "tiles/2/10/0/0.jpg", JPG_PRIV, sizeof(JPG_PRIV));
	put_file(c->dir, "tiles/3/0/0/0.jpg", JPG_ROOT, sizeof(JPG_ROOT));
	put_file(c->dir, "tiles/5/0/0/0.jpg", JPG_ROOT, sizeof(JPG_ROOT));
	put_file(c->dir, "tiles/6/0/0/0.jpg", JPG_ROOT, sizeof(JPG_ROOT));

	clear_config_env();
	snprintf(shm, sizeof(shm), "%s/run", c->dir);
	setenv("LOCAL_STORAGE_DIR", c->dir, 1);
	setenv("SECRET_KEY", KEY, 1);
	setenv("TILE_RUNTIME_DIR", shm, 1);
	setenv("LOG_LEVEL", "error", 1);
	if (app_init(&c->app, why, sizeof(why)) != AP_OK) {
		fprintf(stderr, "app_init: %s\n", why);
		return -1;
	}
	c->app_ok = true;
	sign(c->tok7, sizeof(c->tok7), "7", (long long)now + 3600);
	sign(c->tok5, sizeof(c->tok5), "5", (long long)now + 3600);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	if (c->app_ok)
		app_free(&c->app);
	nftw(c->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	clear_config_env();
	free(c);
	return 0;
}

/* ---- requests ------------------------------------------------------------- */

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

/* One request through the same path the server takes; returns the status.
 * auth is the whole Authorization header value (or NULL). */
static int call_h(struct ctx *c, const char *method, const char *uri, const char *auth,
		  const char *inm, struct response *res)
{
	struct param p[6];
	struct request r;
	enum ap_err pe;
	int n = 0;

	p[n++] = (struct param){"REQUEST_METHOD", method};
	p[n++] = (struct param){"REQUEST_URI", uri};
	if (auth)
		p[n++] = (struct param){"HTTP_AUTHORIZATION", auth};
	if (inm)
		p[n++] = (struct param){"HTTP_IF_NONE_MATCH", inm};
	p[n] = (struct param){NULL, NULL};
	pe = request_parse(&r, getparam, p);
	response_init(res);
	if (pe) {
		api_cors(&c->app, res);
		response_error(res, &r, pe);
	} else {
		api_handle(&c->app, &r, res);
	}
	return res->status;
}

static int call(struct ctx *c, const char *method, const char *uri, struct response *res)
{
	return call_h(c, method, uri, NULL, NULL, res);
}

static char *bearer(const char *tok, char *out, size_t cap)
{
	snprintf(out, cap, "Bearer %s", tok);
	return out;
}

/* Status of a request whose response we do not need. */
static int status_of(struct ctx *c, const char *method, const char *uri, const char *auth)
{
	struct response res;
	int st = call_h(c, method, uri, auth, NULL, &res);

	response_free(&res);
	return st;
}

#define EXPECT_STATUS(c, method, uri, auth, want)                                          \
	do {                                                                               \
		int st_ = status_of(c, method, uri, auth);                                 \
		if (st_ != (want))                                                         \
			fail_msg("%s %s: status %d, want %d", method, uri, st_, (want));   \
	} while (0)

/* The value of a header (copied), or NULL. */
static const char *hdr(const struct response *res, const char *name, char *out, size_t cap)
{
	const char *p = res->headers;
	size_t nl = strlen(name);

	while (*p) {
		const char *eol = strstr(p, "\r\n");
		assert_non_null(eol);
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
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

static void expect_hdr(const struct response *res, const char *name, const char *want)
{
	char v[256];

	if (!hdr(res, name, v, sizeof(v)))
		fail_msg("no %s header in:\n%s", name, res->headers);
	if (strcmp(v, want) != 0)
		fail_msg("%s: '%s', want '%s'", name, v, want);
}

/* What the web server would receive. */
/* noinline: gcc 12 mistakes pointers into the memstream buffer for pointers to
 * this function's locals (-Wdangling-pointer) once it is inlined */
__attribute__((noinline)) static char *sent(const struct response *res, size_t *n)
{
	char *s = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&s, &len);

	assert_non_null(m);
	assert_int_equal(response_write(res, m), AP_OK);
	fclose(m);
	*n = len;
	return s;
}

/* Content-Length written by response_write, or -1 if none. */
static long sent_length(const struct response *res, size_t *total, size_t *body)
{
	size_t n;
	char *s = sent(res, &n);
	long v = -1;
	size_t head = 0;

	{	/* pointers into s end here, before it is freed */
		const char *cl = strstr(s, "\r\nContent-Length: "), *end = strstr(s, "\r\n\r\n");
		v = cl ? strtol(cl + 18, NULL, 10) : -1;
		head = end ? (size_t)(end + 4 - s) : 0;
	}
	free(s);
	assert_true(head > 0);
	if (total)
		*total = n;
	if (body)
		*body = n - head;
	return v;
}

static struct json_object *body_json(const struct response *res)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;

	assert_non_null(res->body);
	o = json_tokener_parse_ex(tok, res->body, (int)res->body_len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    tok->char_offset != (int)res->body_len)
		fail_msg("body is not one JSON document: %.*s", (int)res->body_len,
			 (const char *)res->body);
	json_tokener_free(tok);
	return o;
}

/* An error response is {"detail": "..."} as JSON; returns whether detail
 * contains want (NULL: anything). */
static void expect_error(const struct response *res, int status, const char *want)
{
	struct json_object *o, *d;

	if (res->status != status)
		fail_msg("status %d, want %d", res->status, status);
	expect_hdr(res, "Content-Type", "application/json");
	o = body_json(res);
	assert_true(json_object_is_type(o, json_type_object));
	assert_true(json_object_object_get_ex(o, "detail", &d));
	assert_true(json_object_is_type(d, json_type_string));
	if (want && !strstr(json_object_get_string(d), want))
		fail_msg("detail '%s' does not mention '%s'", json_object_get_string(d), want);
	json_object_put(o);
}

static void expect_body(const struct response *res, const void *p, size_t n)
{
	assert_non_null(res->body);
	assert_int_equal(res->body_len, n);
	assert_memory_equal(res->body, p, n);
}

/* The set of keys of o equals keys (NULL-terminated). */
static void expect_keys(struct json_object *o, const char *const *keys)
{
	size_t n = 0;

	assert_true(json_object_is_type(o, json_type_object));
	for (; keys[n]; n++)
		if (!json_object_object_get_ex(o, keys[n], NULL))
			fail_msg("key '%s' missing in %s", keys[n], json_object_to_json_string(o));
	if ((size_t)json_object_object_length(o) != n)
		fail_msg("unexpected keys in %s", json_object_to_json_string(o));
}

static int64_t get_int(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int))
		fail_msg("'%s' is not an integer in %s", k, json_object_to_json_string(o));
	return json_object_get_int64(v);
}

static const char *get_str(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
		fail_msg("'%s' is not a string in %s", k, json_object_to_json_string(o));
	return json_object_get_string(v);
}

/* ---- single tiles (3.1) ------------------------------------------------------ */

static void public_tile_is_200_with_type_length_etag_and_short_caching(void **state)
{
	struct ctx *c = *state;
	struct response res;
	char etag[128];

	assert_int_equal(call(c, "GET", "/api/tiles/1/10/0/0.jpg", &res), 200);
	expect_body(&res, JPG_A, sizeof(JPG_A));
	expect_hdr(&res, "Content-Type", "image/jpeg");
	/* the unversioned URL does not change with a clear: a short max-age */
	expect_hdr(&res, "Cache-Control", "public, max-age=60, stale-while-revalidate=600");
	expect_hdr(&res, "X-Tile-Source", "local");
	expect_hdr(&res, "Access-Control-Allow-Origin", "*");
	assert_non_null(hdr(&res, "ETag", etag, sizeof(etag)));
	/* strong: a quoted opaque tag, no W/ */
	assert_true(strlen(etag) > 2);
	assert_int_equal(etag[0], '"');
	assert_int_equal(etag[strlen(etag) - 1], '"');
	assert_int_equal(sent_length(&res, NULL, NULL), (long)sizeof(JPG_A));
	response_free(&res);
}

static void second_request_is_served_from_the_memory_cache(void **state)
{
	struct ctx *c = *state;
	struct response a, b;
	char e1[128], e2[128];

	assert_int_equal(call(c, "GET", "/api/tiles/1/10/0/0.jpg", &a), 200);
	expect_hdr(&a, "X-Tile-Source", "local");
	assert_int_equal(call(c, "GET", "/api/tiles/1/10/0/0.jpg", &b), 200);
	expect_hdr(&b, "X-Tile-Source", "memory-cache");
	expect_body(&b, JPG_A, sizeof(JPG_A));
	expect_hdr(&b, "Content-Type", "image/jpeg");
	assert_non_null(hdr(&a, "ETag", e1, sizeof(e1)));
	assert_non_null(hdr(&b, "ETag", e2, sizeof(e2)));
	assert_string_equal(e1, e2);
	response_free(&a);
	response_free(&b);
}

static void jpeg_extension_serves_the_jpg_object(void **state)
{
	struct ctx *c = *state;
	struct response res;

	assert_int_equal(call(c, "GET", "/api/tiles/1/10/0/0.jpeg", &res), 200);
	expect_body(&res, JPG_A, sizeof(JPG_A));
	expect_hdr(&res, "Content-Type", "image/jpeg");
	response_free(&res);
}

static void format_fallback_serves_the_png_with_its_own_type(void **state)
{
	struct ctx *c = *state;
	struct response res;

	assert_int_equal(call(c, "GET", "/api/tiles/1/10/1/0.jpg", &res), 200);
	expect_body(&res, PNG_B, sizeof(PNG_B));
	expect_hdr(&res, "Content-Type", "image/png");
	response_free(&res);
	/* and from the cache too, whatever format is asked */
	assert_int_equal(call(c, "GET", "/api/tiles/1/10/1/0.webp", &res), 200);
	expect_hdr(&res, "X-Tile-Source", "memory-cache");
	expect_hdr(&res, "Content-Type", "image/png");
	expect_body(&res, PNG_B, sizeof(PNG_B));
	response_free(&res);
}

static void format_fallback_reaches_webp_and_jpg(void **state)
{
	struct ctx *c = *state;
	struct response res;

	assert_int_equal(call(c, "GET", "/api/tiles/1/9/0/0.png", &res), 200);
	expect_hdr(&res, "Content-Type", "image/webp");
	expect_body(&res, WEBP_C, sizeof(WEBP_C));
	response_free(&res);
	assert_int_equal(call(c, "GET", "/api/tiles/1/10/0/0.webp", &res), 200);
	expect_hdr(&res, "Content-Type", "image/jpeg");
	expect_body(&res, JPG_A, sizeof(JPG_A));
	response_free(&res);
}

static void if_none_match_with_the_etag_is_304(void **state)
{
	struct ctx *c = *state;
	struct response res;
	char etag[128], list[300], weak[140], e2[128];
	size_t total, body;

	assert_int_equal(call(c, "GET", "/api/tiles/1/10/0/0.jpg", &res), 200);
	assert_non_null(hdr(&res, "ETag", etag, sizeof(etag)));
	response_free(&res);

	assert_int_equal(call_h(c, "GET", "/api/tiles/1/10/0/0.jpg", NULL, etag, &res), 304);
	assert_non_null(hdr(&res, "ETag", e2, sizeof(e2)));	/* RFC 9110 15.4.5 */
	assert_string_equal(e2, etag);
	assert_non_null(hdr(&res, "Cache-Control", e2, sizeof(e2)));
	assert_int_equal(sent_length(&res, &total, &body), -1);
	assert_int_equal(body, 0);
	response_free(&res);

	snprintf(list, sizeof(list), "\"x\", %s", etag);
	assert_int_equal(call_h(c, "GET", "/api/tiles/1/10/0/0.jpg", NULL, list, &res), 304);
	response_free(&res);
	snprintf(list, sizeof(list), "\"x\",%s , \"y\"", etag);
	assert_int_equal(call_h(c, "GET", "/api/tiles/1/10/0/0.jpg", NULL, list, &res), 304);
	response_free(&res);
	snprintf(weak, sizeof(weak), "W/%s", etag);
	assert_int_equal(call_h(c, "GET", "/api/tiles/1/10/0/0.jpg", NULL, weak, &res), 304);
	response_free(&res);
	assert_int_equal(call_h(c, "GET", "/api/tiles/1/10/0/0.jpg", NULL, "*", &res), 304);
	response_free(&res);
	/* HEAD too */
	assert_int_equal(call_h(c, "HEAD", "/api/tiles/1/10/0/0.jpg", NULL, etag, &res), 304);
	response_free(&res);
}

static void if_none_match_with_another_etag_is_200(void **state)
{
	struct ctx *c = *state;
	struct response res;
	char etag[128], bare[128], part[128];

	assert_int_equal(call(c, "GET", "/api/tiles/1/10/0/0.jpg", &res), 200);
	assert_non_null(hdr(&res, "ETag", etag, sizeof(etag)));
	response_free(&res);
	assert_int_equal(call_h(c, "GET", "/api/tiles/1/10/0/0.jpg", NULL, "\"other\"", &res), 200);
	expect_body(&res, JPG_A, sizeof(JPG_A));
	response_free(&res);
	/* the quotes are part of the tag */
	snprintf(bare, sizeof(bare), "%.*s", (int)strlen(etag) - 2, etag + 1);
	assert_int_equal(call_h(c, "GET", "/api/tiles/1/10/0/0.jpg", NULL, bare, &res), 200);
	response_free(&res);
	/* a prefix of the tag is another tag */
	snprintf(part, sizeof(part), "%.*s\"", (int)strlen(etag) - 3, etag);
	assert_int_equal(call_h(c, "GET", "/api/tiles/1/10/0/0.jpg", NULL, part, &res), 200);
	response_free(&res);
	/* another tile's ETag does not match this one */
	assert_int_equal(call_h(c, "GET", "/api/tiles/1/10/2/1.jpg", NULL, etag, &res), 200);
	response_free(&res);
}

static void head_has_the_same_headers_and_length_and_no_body(void **state)
{
	struct ctx *c = *state;
	struct response get, head;
	size_t gtotal, gbody, htotal, hbody;

	assert_int_equal(call(c, "GET", "/api/tiles/1/10/2/1.jpg", &get), 200);
	assert_int_equal(call(c, "HEAD", "/api/tiles/1/10/2/1.jpg", &head), 200);
	assert_int_equal(sent_length(&get, &gtotal, &gbody), (long)sizeof(JPG_EDGE));
	assert_int_equal(sent_length(&head, &htotal, &hbody), (long)sizeof(JPG_EDGE));
	assert_int_equal(gbody, sizeof(JPG_EDGE));
	assert_int_equal(hbody, 0);
	expect_hdr(&head, "Content-Type", "image/jpeg");
	response_free(&get);
	response_free(&head);
}

static void head_of_an_error_or_of_health_has_no_body(void **state)
{
	struct ctx *c = *state;
	struct response res;
	size_t body;

	assert_int_equal(call(c, "HEAD", "/api/tiles/1/10/3/0.jpg", &res), 404);
	sent_length(&res, NULL, &body);
	assert_int_equal(body, 0);
	response_free(&res);
	assert_int_equal(call(c, "HEAD", "/api/tiles/health", &res), 200);
	sent_length(&res, NULL, &body);
	assert_int_equal(body, 0);
	response_free(&res);
}

static void tile_outside_the_grid_is_404_even_if_the_file_exists(void **state)
{
	struct ctx *c = *state;
	struct response res;

	/* level 10 of 600x400 is 3x2: x = 3 and y = 2 are outside */
	assert_int_equal(call(c, "GET", "/api/tiles/1/10/3/0.jpg", &res), 404);
	expect_error(&res, 404, NULL);
	response_free(&res);
	EXPECT_STATUS(c, "GET", "/api/tiles/1/10/0/2.jpg", NULL, 404);
	EXPECT_STATUS(c, "GET", "/api/tiles/1/9/2/0.jpg", NULL, 404);
	EXPECT_STATUS(c, "GET", "/api/tiles/1/0/1/0.jpg", NULL, 404);
	EXPECT_STATUS(c, "GET", "/api/tiles/1/10/1073741823/0.jpg", NULL, 404);
	/* the last tile of the grid is inside */
	EXPECT_STATUS(c, "GET", "/api/tiles/1/10/2/1.jpg", NULL, 200);
}

static void zoom_outside_the_range_is_404(void **state)
{
	struct ctx *c = *state;
	struct response res;

	assert_int_equal(call(c, "GET", "/api/tiles/1/11/0/0.jpg", &res), 404);	/* file exists */
	expect_error(&res, 404, NULL);
	response_free(&res);
	EXPECT_STATUS(c, "GET", "/api/tiles/1/30/0/0.jpg", NULL, 404);
}

static void tile_inside_the_grid_but_absent_is_404(void **state)
{
	struct ctx *c = *state;
	struct response res;

	assert_int_equal(call(c, "GET", "/api/tiles/1/10/1/1.jpg", &res), 404);
	expect_error(&res, 404, "not found");
	response_free(&res);
}

static void dataset_not_completed_is_503(void **state)
{
	struct ctx *c = *state;
	struct response res;

	assert_int_equal(call(c, "GET", "/api/tiles/3/0/0/0.jpg", &res), 503);
	expect_error(&res, 503, "processing");
	expect_hdr(&res, "Access-Control-Allow-Origin", "*");
	response_free(&res);
}

static void unknown_dataset_is_404(void **state)
{
	struct ctx *c = *state;
	struct response res;

	assert_int_equal(call(c, "GET", "/api/tiles/99/0/0/0.jpg", &res), 404);
	expect_error(&res, 404, "99");
	response_free(&res);
	EXPECT_STATUS(c, "GET", "/api/tiles/99/batch?tiles=0/0/0.jpg", NULL, 404);
	EXPECT_STATUS(c, "GET", "/api/tiles/99/cache-stats", NULL, 404);
}

static void bad_syntax_is_400_and_unknown_endpoint_404_as_json(void **state)
{
	struct ctx *c = *state;
	struct response res;

	assert_int_equal(call(c, "GET", "/api/tiles/1/%2e%2e/0/0.jpg", &res), 400);
	expect_error(&res, 400, NULL);
	response_free(&res);
	assert_int_equal(call(c, "GET", "/api/tiles/1/nothing", &res), 404);
	expect_error(&res, 404, NULL);
	response_free(&res);
}

/* ---- access (4) ------------------------------------------------------------- */

static void private_tile_without_token_is_401_with_www_authenticate(void **state)
{
	struct ctx *c = *state;
	struct response res;

	assert_int_equal(call(c, "GET", "/api/tiles/2/10/0/0.jpg", &res), 401);
	expect_error(&res, 401, NULL);
	expect_hdr(&res, "WWW-Authenticate", "Bearer");
	expect_hdr(&res, "Access-Control-Allow-Origin", "*");
	response_free(&res);
}

static void private_tile_with_owner_bearer_token_is_200_and_private(void **state)
{
	struct ctx *c = *state;
	struct response res;
	char auth[1100], cc[128];

	assert_int_equal(call_h(c, "GET", "/api/tiles/2/10/0/0.jpg", bearer(c->tok7, auth, sizeof(auth)),
				NULL, &res), 200);
	expect_body(&res, JPG_PRIV, sizeof(JPG_PRIV));
	assert_non_null(hdr(&res, "Cache-Control", cc, sizeof(cc)));
	assert_true(strncmp(cc, "private", 7) == 0);
	assert_null(strstr(cc, "public"));
	response_free(&res);
}

static void private_tile_with_owner_token_in_query_is_200_and_private(void **state)
{
	struct ctx *c = *state;
	struct response res;
	char uri[1200], cc[128];

	snprintf(uri, sizeof(uri), "/api/tiles/2/10/0/0.jpg?token=%s", c->tok7);
	assert_int_equal(call(c, "GET", uri, &res), 200);
	expect_body(&res, JPG_PRIV, sizeof(JPG_PRIV));
	assert_non_null(hdr(&res, "Cache-Control", cc, sizeof(cc)));
	assert_true(strncmp(cc, "private", 7) == 0);
	assert_null(strstr(cc, "public"));
	response_free(&res);
}

static void cached_private_tile_still_needs_the_token(void **state)
{
	struct ctx *c = *state;
	struct response res;
	char auth[1100], cc[128];

	bearer(c->tok7, auth, sizeof(auth));
	EXPECT_STATUS(c, "GET", "/api/tiles/2/10/0/0.jpg", auth, 200);
	EXPECT_STATUS(c, "GET", "/api/tiles/2/10/0/0.jpg", NULL, 401);
	assert_int_equal(call_h(c, "GET", "/api/tiles/2/10/0/0.jpg", auth, NULL, &res), 200);
	expect_hdr(&res, "X-Tile-Source", "memory-cache");
	assert_non_null(hdr(&res, "Cache-Control", cc, sizeof(cc)));
	assert_null(strstr(cc, "public"));
	response_free(&res);
}

static void another_users_token_is_403(void **state)
{
	struct ctx *c = *state;
	struct response res;
	char auth[1100];

	assert_int_equal(call_h(c, "GET", "/api/tiles/2/10/0/0.jpg", bearer(c->tok5, auth, sizeof(auth)),
				NULL, &res), 403);
	expect_error(&res, 403, NULL);
	assert_null(hdr(&res, "WWW-Authenticate", auth, sizeof(auth)));
	response_free(&res);
	/* a dataset without owner is nobody's */
	EXPECT_STATUS(c, "GET", "/api/tiles/5/0/0/0.jpg", bearer(c->tok7, auth, sizeof(auth)), 403);
	EXPECT_STATUS(c, "GET", "/api/tiles/5/0/0/0.jpg", NULL, 401);
}

static void expired_token_is_401(void **state)
{
	struct ctx *c = *state;
	struct response res;
	char tok[1024], auth[1100];

	sign(tok, sizeof(tok), "7", (long long)time(NULL) - 3600);
	assert_int_equal(call_h(c, "GET", "/api/tiles/2/10/0/0.jpg", bearer(tok, auth, sizeof(auth)),
				NULL, &res), 401);
	expect_error(&res, 401, "expired");
	expect_hdr(&res, "WWW-Authenticate", "Bearer");
	response_free(&res);
}

static void alg_none_token_is_401(void **state)
{
	struct ctx *c = *state;
	char payload[128], auth[1100];
	struct buf b;

	snprintf(payload, sizeof(payload), "{\"sub\":\"7\",\"exp\":%lld}",
		 (long long)time(NULL) + 3600);
	buf_init(&b, 4096);
	assert_int_equal(jwt_sign_json("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, KEY, strlen(KEY),
				       &b), AP_OK);
	EXPECT_STATUS(c, "GET", "/api/tiles/2/10/0/0.jpg", bearer(b.data, auth, sizeof(auth)), 401);
	/* the classic form: no signature at all */
	*(strrchr(b.data, '.') + 1) = '\0';
	EXPECT_STATUS(c, "GET", "/api/tiles/2/10/0/0.jpg", bearer(b.data, auth, sizeof(auth)), 401);
	buf_free(&b);
}

static void token_signed_with_another_key_is_401(void **state)
{
	struct ctx *c = *state;
	char auth[1100];
	struct buf b;

	buf_init(&b, 4096);
	assert_int_equal(jwt_sign_hs256("7", (long long)time(NULL) + 3600, "other-key", 9, &b), AP_OK);
	EXPECT_STATUS(c, "GET", "/api/tiles/2/10/0/0.jpg", bearer(b.data, auth, sizeof(auth)), 401);
	buf_free(&b);
	EXPECT_STATUS(c, "GET", "/api/tiles/2/10/0/0.jpg", "Bearer not.a.token", 401);
	EXPECT_STATUS(c, "GET", "/api/tiles/2/10/0/0.jpg", "Bearer ", 401);
	EXPECT_STATUS(c, "GET", "/api/tiles/2/10/0/0.jpg", "Basic dXNlcjpwYXNz", 401);
	EXPECT_STATUS(c, "GET", "/api/tiles/2/10/0/0.jpg?token=%G1", NULL, 401);
}

static void private_dataset_state_is_not_told_to_strangers(void **state)
{
	struct ctx *c = *state;
	char auth[1100];

	/* dataset 6 is private and processing: a stranger learns only 401/403 */
	EXPECT_STATUS(c, "GET", "/api/tiles/6/0/0/0.jpg", NULL, 401);
	EXPECT_STATUS(c, "GET", "/api/tiles/6/0/0/0.jpg", bearer(c->tok5, auth, sizeof(auth)), 403);
	EXPECT_STATUS(c, "GET", "/api/tiles/6/0/0/0.jpg", bearer(c->tok7, auth, sizeof(auth)), 503);
}

static void public_dataset_ignores_tokens(void **state)
{
	struct ctx *c = *state;
	char auth[1100];

	EXPECT_STATUS(c, "GET", "/api/tiles/1/10/0/0.jpg", bearer(c->tok7, auth, sizeof(auth)), 200);
	EXPECT_STATUS(c, "GET", "/api/tiles/1/10/0/0.jpg", "Bearer garbage", 200);
}

/* ---- cache statistics (3.3) and clear (3.4) --------------------------------- */

static void cache_stats_has_exactly_the_shape_of_spec_3_3(void **state)
{
	static const char *const top[] = {"dataset_id", "stats", "dataset", NULL};
	static const char *const stats[] = {
		"enabled", "cache_size", "cache_max", "cache_bytes", "cache_max_bytes",
		"total_requests", "cache_hits", "cache_misses", "hit_rate", "evictions",
		"negative_entries", "negative_max", "negative_hits",	/* issue 12.2 */
		"prefetch_queue", "prefetched", "prefetch_hits", "pid", NULL};
	static const char *const dataset[] = {"cached_tiles", "cached_bytes", NULL};
	struct ctx *c = *state;
	struct response res;
	struct json_object *o, *s, *d, *v;

	EXPECT_STATUS(c, "GET", "/api/tiles/1/10/0/0.jpg", NULL, 200);	/* miss */
	EXPECT_STATUS(c, "GET", "/api/tiles/1/10/0/0.jpg", NULL, 200);	/* hit */
	assert_int_equal(call(c, "GET", "/api/tiles/1/cache-stats", &res), 200);
	expect_hdr(&res, "Content-Type", "application/json");
	o = body_json(&res);
	expect_keys(o, top);
	assert_int_equal(get_int(o, "dataset_id"), 1);
	assert_true(json_object_object_get_ex(o, "stats", &s));
	expect_keys(s, stats);
	assert_true(json_object_object_get_ex(s, "enabled", &v));
	assert_true(json_object_is_type(v, json_type_boolean));
	assert_true(json_object_get_boolean(v));
	assert_int_equal(get_int(s, "cache_size"), 1);
	assert_int_equal(get_int(s, "cache_max"), 500);
	assert_true(get_int(s, "cache_bytes") >= (int64_t)sizeof(JPG_A));
	assert_int_equal(get_int(s, "cache_max_bytes"), 67108864);
	assert_int_equal(get_int(s, "total_requests"), 2);
	assert_int_equal(get_int(s, "cache_hits"), 1);
	assert_int_equal(get_int(s, "cache_misses"), 1);
	assert_string_equal(get_str(s, "hit_rate"), "50.0%");
	assert_int_equal(get_int(s, "evictions"), 0);
	assert_int_equal(get_int(s, "prefetch_queue"), 0);
	assert_int_equal(get_int(s, "prefetched"), 0);
	assert_int_equal(get_int(s, "prefetch_hits"), 0);
	assert_int_equal(get_int(s, "pid"), getpid());
	assert_true(json_object_object_get_ex(o, "dataset", &d));
	expect_keys(d, dataset);
	assert_int_equal(get_int(d, "cached_tiles"), 1);
	assert_int_equal(get_int(d, "cached_bytes"), get_int(s, "cache_bytes"));
	json_object_put(o);
	response_free(&res);
}

static void cache_stats_hit_rate_has_one_decimal(void **state)
{
	struct ctx *c = *state;
	struct response res;
	struct json_object *o, *s;

	/* 1 miss + 2 hits: 66.7% */
	for (int i = 0; i < 3; i++)
		EXPECT_STATUS(c, "GET", "/api/tiles/1/0/0/0.jpg", NULL, 200);
	assert_int_equal(call(c, "GET", "/api/tiles/1/cache-stats", &res), 200);
	o = body_json(&res);
	assert_true(json_object_object_get_ex(o, "stats", &s));
	assert_string_equal(get_str(s, "hit_rate"), "66.7%");
	json_object_put(o);
	response_free(&res);
	/* no requests yet on a fresh process would be 0.0% */
}

static void cache_stats_follow_the_dataset_access_rules(void **state)
{
	struct ctx *c = *state;
	char auth[1100];

	EXPECT_STATUS(c, "GET", "/api/tiles/2/cache-stats", NULL, 401);
	EXPECT_STATUS(c, "GET", "/api/tiles/2/cache-stats", bearer(c->tok5, auth, sizeof(auth)), 403);
	EXPECT_STATUS(c, "GET", "/api/tiles/2/cache-stats", bearer(c->tok7, auth, sizeof(auth)), 200);
	EXPECT_STATUS(c, "POST", "/api/tiles/1/cache-stats", NULL, 405);
}

static void cache_clear_anonymous_is_401(void **state)
{
	struct ctx *c = *state;
	struct response res;

	assert_int_equal(call(c, "POST", "/api/tiles/1/cache-clear", &res), 401);
	expect_error(&res, 401, NULL);
	expect_hdr(&res, "WWW-Authenticate", "Bearer");
	response_free(&res);
}

static void cache_clear_by_another_user_is_403(void **state)
{
	struct ctx *c = *state;
	char auth[1100];

	/* public to read, but only its owner (5) may clear it */
	EXPECT_STATUS(c, "POST", "/api/tiles/1/cache-clear", bearer(c->tok7, auth, sizeof(auth)), 403);
	EXPECT_STATUS(c, "POST", "/api/tiles/2/cache-clear", bearer(c->tok5, auth, sizeof(auth)), 403);
	EXPECT_STATUS(c, "POST", "/api/tiles/5/cache-clear", bearer(c->tok7, auth, sizeof(auth)), 403);
}

/* ---- versions and info (issue 15) ---------------------------------------------- */

/* The current version of a dataset, from its info (auth may be NULL). */
static void info_version(struct ctx *c, unsigned id, const char *auth, char out[16])
{
	struct response res;
	struct json_object *o;
	char uri[64];

	snprintf(uri, sizeof(uri), "/api/tiles/%u/info", id);
	assert_int_equal(call_h(c, "GET", uri, auth, NULL, &res), 200);
	o = body_json(&res);
	snprintf(out, 16, "%s", get_str(o, "version"));
	json_object_put(o);
	response_free(&res);
}

static void info_describes_the_dataset_and_its_template(void **state)
{
	struct ctx *c = *state;
	struct response res;
	struct json_object *o;
	char v[16], tmpl[128], etag[64];

	assert_int_equal(call(c, "GET", "/api/tiles/1/info", &res), 200);
	o = body_json(&res);
	snprintf(v, sizeof(v), "%s", get_str(o, "version"));
	assert_int_equal(strlen(v), 8);
	snprintf(tmpl, sizeof(tmpl), "/api/tiles/1/v/%s/{z}/{x}/{y}.jpg", v);
	assert_string_equal(get_str(o, "tile_url_template"), tmpl);
	assert_int_equal(get_int(o, "tile_size"), 256);
	assert_int_equal(get_int(o, "min_zoom"), 0);
	json_object_put(o);
	expect_hdr(&res, "Cache-Control", "public, max-age=60");
	assert_non_null(hdr(&res, "ETag", etag, sizeof(etag)));
	response_free(&res);
	/* revalidated with its ETag */
	assert_int_equal(call_h(c, "GET", "/api/tiles/1/info", NULL, etag, &res), 304);
	response_free(&res);
	/* private: the same access rules as tiles */
	EXPECT_STATUS(c, "GET", "/api/tiles/2/info", NULL, 401);
}

static void the_current_version_is_immutable_and_an_old_one_redirects(void **state)
{
	struct ctx *c = *state;
	struct response res;
	char v[16], uri[128], loc[256], want[256];

	info_version(c, 1, NULL, v);
	snprintf(uri, sizeof(uri), "/api/tiles/1/v/%s/10/0/0.jpg", v);
	assert_int_equal(call(c, "GET", uri, &res), 200);
	expect_body(&res, JPG_A, sizeof(JPG_A));
	expect_hdr(&res, "Cache-Control", "public, max-age=31536000, immutable");
	response_free(&res);
	/* another version: to the current one, query kept, briefly cacheable */
	assert_int_equal(call(c, "GET", "/api/tiles/1/v/0badc0de/10/0/0.jpeg?x=1", &res), 307);
	snprintf(want, sizeof(want), "/api/tiles/1/v/%s/10/0/0.jpeg?x=1", v);
	assert_non_null(hdr(&res, "Location", loc, sizeof(loc)));
	assert_string_equal(loc, want);
	expect_hdr(&res, "Cache-Control", "public, max-age=60");
	assert_int_equal(res.body_len, 0);
	response_free(&res);
	/* not a version at all */
	EXPECT_STATUS(c, "GET", "/api/tiles/1/v/XYZ/10/0/0.jpg", NULL, 400);
	EXPECT_STATUS(c, "GET", "/api/tiles/1/v/0123456789abcdef0/10/0/0.jpg", NULL, 400);
	EXPECT_STATUS(c, "GET", "/api/tiles/1/w/abc/10/0/0.jpg", NULL, 404);
}

static void a_cache_clear_makes_a_new_version(void **state)
{
	struct ctx *c = *state;
	char v1[16], v2[16], auth[1100], uri[128];

	info_version(c, 1, NULL, v1);
	info_version(c, 1, NULL, v2);
	assert_string_equal(v1, v2);		/* stable while nothing changes */
	EXPECT_STATUS(c, "POST", "/api/tiles/1/cache-clear", bearer(c->tok5, auth, sizeof(auth)), 200);
	info_version(c, 1, NULL, v2);
	assert_string_not_equal(v1, v2);
	snprintf(uri, sizeof(uri), "/api/tiles/1/v/%s/10/0/0.jpg", v1);
	EXPECT_STATUS(c, "GET", uri, NULL, 307);	/* never today's bytes under an old name */
	snprintf(uri, sizeof(uri), "/api/tiles/1/v/%s/10/0/0.jpg", v2);
	EXPECT_STATUS(c, "GET", uri, NULL, 200);
}

static void private_and_token_urls_are_never_public(void **state)
{
	struct ctx *c = *state;
	struct response res;
	char v[16], auth[1100], uri[1400], cc[128];

	info_version(c, 2, bearer(c->tok7, auth, sizeof(auth)), v);
	snprintf(uri, sizeof(uri), "/api/tiles/2/v/%s/10/0/0.jpg", v);
	assert_int_equal(call_h(c, "GET", uri, auth, NULL, &res), 200);
	assert_non_null(hdr(&res, "Cache-Control", cc, sizeof(cc)));
	assert_true(strncmp(cc, "private", 7) == 0);
	response_free(&res);
	EXPECT_STATUS(c, "GET", uri, NULL, 401);
	/* a public tile asked with ?token= is the user's URL: private */
	info_version(c, 1, NULL, v);
	snprintf(uri, sizeof(uri), "/api/tiles/1/v/%s/10/0/0.jpg?token=%s", v, c->tok5);
	assert_int_equal(call(c, "GET", uri, &res), 200);
	assert_non_null(hdr(&res, "Cache-Control", cc, sizeof(cc)));
	assert_true(strncmp(cc, "private", 7) == 0);
	response_free(&res);
}

static void cache_clear_by_the_owner_drops_the_tiles(void **state)
{
	struct ctx *c = *state;
	struct response res;
	char auth[1100];
	struct json_object *o, *v;

	EXPECT_STATUS(c, "GET", "/api/tiles/1/10/0/0.jpg", NULL, 200);
	assert_int_equal(call(c, "GET", "/api/tiles/1/10/0/0.jpg", &res), 200);
	expect_hdr(&res, "X-Tile-Source", "memory-cache");
	response_free(&res);

	assert_int_equal(call_h(c, "POST", "/api/tiles/1/cache-clear", bearer(c->tok5, auth, sizeof(auth)),
				NULL, &res), 200);
	o = body_json(&res);
	assert_true(json_object_object_get_ex(o, "cleared", &v));
	assert_true(json_object_get_boolean(v));
	json_object_put(o);
	response_free(&res);

	assert_int_equal(call(c, "GET", "/api/tiles/1/10/0/0.jpg", &res), 200);
	expect_hdr(&res, "X-Tile-Source", "local");
	expect_body(&res, JPG_A, sizeof(JPG_A));
	response_free(&res);
	assert_int_equal(call(c, "GET", "/api/tiles/1/10/0/0.jpg", &res), 200);
	expect_hdr(&res, "X-Tile-Source", "memory-cache");
	response_free(&res);
}

static void cache_clear_of_one_dataset_keeps_the_others(void **state)
{
	struct ctx *c = *state;
	struct response res;
	char auth[1100];

	bearer(c->tok7, auth, sizeof(auth));
	EXPECT_STATUS(c, "GET", "/api/tiles/1/10/0/0.jpg", NULL, 200);
	EXPECT_STATUS(c, "GET", "/api/tiles/2/10/0/0.jpg", auth, 200);
	EXPECT_STATUS(c, "POST", "/api/tiles/2/cache-clear", auth, 200);
	assert_int_equal(call(c, "GET", "/api/tiles/1/10/0/0.jpg", &res), 200);
	expect_hdr(&res, "X-Tile-Source", "memory-cache");
	response_free(&res);
	assert_int_equal(call_h(c, "GET", "/api/tiles/2/10/0/0.jpg", auth, NULL, &res), 200);
	expect_hdr(&res, "X-Tile-Source", "local");
	response_free(&res);
}

static void cache_clear_needs_post(void **state)
{
	struct ctx *c = *state;
	struct response res;
	char auth[1100];

	assert_int_equal(call_h(c, "GET", "/api/tiles/1/cache-clear", bearer(c->tok5, auth, sizeof(auth)),
				NULL, &res), 405);
	expect_error(&res, 405, NULL);
	expect_hdr(&res, "Allow", "POST, OPTIONS");
	expect_hdr(&res, "Access-Control-Allow-Origin", "*");
	response_free(&res);
}

/* ---- health (3.6) ------------------------------------------------------------ */

static void health_is_200_status_ok(void **state)
{
	struct ctx *c = *state;
	struct response res;
	struct json_object *o;

	assert_int_equal(call(c, "GET", "/api/tiles/health", &res), 200);
	expect_hdr(&res, "Content-Type", "application/json");
	o = body_json(&res);
	assert_string_equal(get_str(o, "status"), "ok");
	json_object_put(o);
	response_free(&res);
}

/* ---- batch (3.2) ------------------------------------------------------------- */

/* Standard base64 (with padding) to bytes; returns the length. */
static size_t b64_decode(const char *s, unsigned char *out, size_t cap)
{
	size_t n = strlen(s), pad = 0;
	int r;

	assert_true(n % 4 == 0);
	assert_true(n / 4 * 3 <= cap);
	if (n && s[n - 1] == '=')
		pad++;
	if (n > 1 && s[n - 2] == '=')
		pad++;
	r = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
	assert_true(r >= 0);
	return (size_t)r - pad;
}

static void expect_tile_b64(struct json_object *tiles, const char *key, const void *p, size_t n)
{
	unsigned char buf[256];
	struct json_object *v;

	if (!json_object_object_get_ex(tiles, key, &v) || !json_object_is_type(v, json_type_string))
		fail_msg("tiles[%s] is not a base64 string", key);
	assert_int_equal(b64_decode(json_object_get_string(v), buf, sizeof(buf)), n);
	assert_memory_equal(buf, p, n);
}

static void batch_answers_exactly_the_requested_keys(void **state)
{
	static const char *const keys[] = {"10/0/0.jpg", "10/1/0.jpg", "10/3/0.jpg", "0/0/0.jpeg",
					   "10/1/1.png", "9/0/0.jpg", NULL};
	struct ctx *c = *state;
	struct response res;
	struct json_object *o, *tiles, *formats, *missing, *v, *cs;

	assert_int_equal(call(c, "GET",
			      "/api/tiles/1/batch?tiles=10/0/0.jpg&tiles=10/1/0.jpg&tiles=10/3/0.jpg"
			      "&tiles=10/0/0.jpg&tiles=0/0/0.jpeg&tiles=10%2F1%2F1.png&tiles=9/0/0.jpg",
			      &res), 200);
	expect_hdr(&res, "Content-Type", "application/json");
	expect_hdr(&res, "Access-Control-Allow-Origin", "*");
	o = body_json(&res);
	assert_int_equal(get_int(o, "dataset_id"), 1);
	assert_true(json_object_object_get_ex(o, "tiles", &tiles));
	expect_keys(tiles, keys);	/* duplicates once, as written (decoded) */
	/* found: 10/0/0 (jpg), 10/1/0 (png), 0/0/0 (jpeg), 9/0/0 (webp) */
	assert_int_equal(get_int(o, "count"), 4);
	expect_tile_b64(tiles, "10/0/0.jpg", JPG_A, sizeof(JPG_A));
	expect_tile_b64(tiles, "10/1/0.jpg", PNG_B, sizeof(PNG_B));
	expect_tile_b64(tiles, "0/0/0.jpeg", JPG_ROOT, sizeof(JPG_ROOT));
	expect_tile_b64(tiles, "9/0/0.jpg", WEBP_C, sizeof(WEBP_C));
	assert_true(json_object_object_get_ex(tiles, "10/3/0.jpg", &v));
	assert_true(json_object_is_type(v, json_type_null));	/* outside the grid */
	assert_true(json_object_object_get_ex(tiles, "10/1/1.png", &v));
	assert_true(json_object_is_type(v, json_type_null));	/* absent */

	assert_true(json_object_object_get_ex(o, "formats", &formats));
	{
		static const char *const fkeys[] = {"10/0/0.jpg", "10/1/0.jpg", "0/0/0.jpeg",
						    "9/0/0.jpg", NULL};
		expect_keys(formats, fkeys);
	}
	assert_string_equal(get_str(formats, "10/0/0.jpg"), "jpg");
	assert_string_equal(get_str(formats, "10/1/0.jpg"), "png");
	assert_string_equal(get_str(formats, "0/0/0.jpeg"), "jpg");
	assert_string_equal(get_str(formats, "9/0/0.jpg"), "webp");

	assert_true(json_object_object_get_ex(o, "missing", &missing));
	assert_true(json_object_is_type(missing, json_type_array));
	assert_int_equal(json_object_array_length(missing), 2);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(missing, 0)),
			    "10/3/0.jpg");
	assert_string_equal(json_object_get_string(json_object_array_get_idx(missing, 1)),
			    "10/1/1.png");

	assert_true(json_object_object_get_ex(o, "cache_stats", &cs));
	{
		static const char *const ckeys[] = {"cache_hits", "cache_misses", "hit_rate",
						    "cache_size", NULL};
		expect_keys(cs, ckeys);
	}
	json_object_put(o);
	response_free(&res);
}

static void batch_fills_the_cache_and_counts_hits(void **state)
{
	struct ctx *c = *state;
	struct response res;
	struct json_object *o, *cs;

	EXPECT_STATUS(c, "GET", "/api/tiles/1/batch?tiles=10/0/0.jpg&tiles=10/2/1.jpg", NULL, 200);
	assert_int_equal(call(c, "GET", "/api/tiles/1/10/2/1.jpg", &res), 200);
	expect_hdr(&res, "X-Tile-Source", "memory-cache");
	response_free(&res);
	assert_int_equal(call(c, "GET", "/api/tiles/1/batch?tiles=10/0/0.jpg", &res), 200);
	o = body_json(&res);
	assert_true(json_object_object_get_ex(o, "cache_stats", &cs));
	assert_int_equal(get_int(cs, "cache_hits"), 2);
	assert_int_equal(get_int(cs, "cache_misses"), 2);
	assert_string_equal(get_str(cs, "hit_rate"), "50.0%");
	assert_int_equal(get_int(cs, "cache_size"), 2);
	json_object_put(o);
	response_free(&res);
}

static void batch_of_101_tiles_is_400_naming_the_entry(void **state)
{
	struct ctx *c = *state;
	struct response res;
	char uri[4096];
	size_t o = 0;

	o += (size_t)snprintf(uri + o, sizeof(uri) - o, "/api/tiles/1/batch?");
	for (int i = 0; i < 101; i++)
		o += (size_t)snprintf(uri + o, sizeof(uri) - o, "%stiles=20/%d/0.jpg", i ? "&" : "", i);
	assert_true(o < sizeof(uri) - 1);
	assert_int_equal(call(c, "GET", uri, &res), 400);
	expect_error(&res, 400, "20/100/0.jpg");
	response_free(&res);
	/* 100 is fine */
	*strrchr(uri, '&') = '\0';
	EXPECT_STATUS(c, "GET", uri, NULL, 200);
}

static void batch_with_a_malformed_entry_is_400_naming_it(void **state)
{
	static const struct {
		const char *uri, *named;
	} v[] = {
		{"/api/tiles/1/batch?tiles=0/0/0.jpg&tiles=10/0/0.gif", "10/0/0.gif"},
		{"/api/tiles/1/batch?tiles=../../etc/passwd", "../../etc/passwd"},
		{"/api/tiles/1/batch?tiles=01/0/0.jpg", "01/0/0.jpg"},
		{"/api/tiles/1/batch?tiles=31/0/0.jpg", "31/0/0.jpg"},
		{"/api/tiles/1/batch?tiles=", "''"},
	};
	struct ctx *c = *state;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct response res;
		assert_int_equal(call(c, "GET", v[i].uri, &res), 400);
		expect_error(&res, 400, v[i].named);
		response_free(&res);
	}
	EXPECT_STATUS(c, "GET", "/api/tiles/1/batch", NULL, 400);	/* no tiles */
	EXPECT_STATUS(c, "GET", "/api/tiles/1/batch?tiles=0/0/0.jpg%00", NULL, 400);
}

static void batch_follows_the_dataset_access_rules(void **state)
{
	struct ctx *c = *state;
	struct response res;
	struct json_object *o, *tiles;
	char uri[1200];

	EXPECT_STATUS(c, "GET", "/api/tiles/2/batch?tiles=10/0/0.jpg", NULL, 401);
	EXPECT_STATUS(c, "GET", "/api/tiles/3/batch?tiles=0/0/0.jpg", NULL, 503);
	snprintf(uri, sizeof(uri), "/api/tiles/2/batch?token=%s&tiles=10/0/0.jpg", c->tok7);
	assert_int_equal(call(c, "GET", uri, &res), 200);
	o = body_json(&res);
	assert_true(json_object_object_get_ex(o, "tiles", &tiles));
	expect_tile_b64(tiles, "10/0/0.jpg", JPG_PRIV, sizeof(JPG_PRIV));
	json_object_put(o);
	response_free(&res);
}

static void batch_with_prefetch_queues_the_neighbourhood(void **state)
{
	struct ctx *c = *state;
	struct response res;
	struct json_object *o, *s;

	EXPECT_STATUS(c, "GET", "/api/tiles/4/batch?tiles=10/30/30.jpg&prefetch=1", NULL, 200);
	assert_int_equal(call(c, "GET", "/api/tiles/4/cache-stats", &res), 200);
	o = body_json(&res);
	assert_true(json_object_object_get_ex(o, "stats", &s));
	assert_true(get_int(s, "prefetch_queue") > 0);
	json_object_put(o);
	response_free(&res);
}

/* ---- prefetch (3.5) ---------------------------------------------------------- */

static void prefetch_is_202_with_queued_and_queue(void **state)
{
	struct ctx *c = *state;
	struct response res;
	struct json_object *o;
	static const char *const keys[] = {"queued", "queue", NULL};

	/* level 10 of dataset 4 is 64x64; a 2x2 viewport in the middle queues
	 * its ring at z10 (16 - 4 = 12), the 4x4 below it at z11 (16) and the
	 * one tile above it at z9 (1) */
	assert_int_equal(call(c, "POST", "/api/tiles/4/prefetch?z=10&x0=30&x1=31&y0=30&y1=31", &res),
			 202);
	expect_hdr(&res, "Content-Type", "application/json");
	o = body_json(&res);
	expect_keys(o, keys);
	assert_int_equal(get_int(o, "queued"), 29);
	assert_int_equal(get_int(o, "queue"), 29);
	json_object_put(o);
	response_free(&res);
	/* the same viewport again adds nothing */
	assert_int_equal(call(c, "POST", "/api/tiles/4/prefetch?z=10&x0=30&x1=31&y0=30&y1=31", &res),
			 202);
	o = body_json(&res);
	assert_int_equal(get_int(o, "queued"), 0);
	assert_int_equal(get_int(o, "queue"), 29);
	json_object_put(o);
	response_free(&res);
}

static void prefetch_skips_cached_tiles_and_clips_to_the_grid(void **state)
{
	struct ctx *c = *state;
	struct response res;
	struct json_object *o;

	/* dataset 1, level 10 is 3x2: around column 1 lie (0,0) (0,1) (2,0)
	 * (2,1), and level 9 holds (0,0); (0,0) at z10 is cached already */
	EXPECT_STATUS(c, "GET", "/api/tiles/1/10/0/0.jpg", NULL, 200);
	assert_int_equal(call(c, "POST", "/api/tiles/1/prefetch?z=10&x0=1&x1=1&y0=0&y1=1", &res), 202);
	o = body_json(&res);
	assert_int_equal(get_int(o, "queued"), 4);
	json_object_put(o);
	response_free(&res);
}

static void bad_prefetch_parameters_are_400(void **state)
{
	static const char *const bad[] = {
		"/api/tiles/4/prefetch",
		"/api/tiles/4/prefetch?x0=0&x1=1&y0=0&y1=1",
		"/api/tiles/4/prefetch?z=10&x0=2&x1=1&y0=0&y1=1",
		"/api/tiles/4/prefetch?z=10&x0=0&x1=1&y0=5&y1=1",
		"/api/tiles/4/prefetch?z=abc&x0=0&x1=1&y0=0&y1=1",
		"/api/tiles/4/prefetch?z=10&x0=-1&x1=1&y0=0&y1=1",
		"/api/tiles/4/prefetch?z=10&x0=01&x1=1&y0=0&y1=1",
		"/api/tiles/4/prefetch?z=%G1&x0=0&x1=1&y0=0&y1=1",
		"/api/tiles/4/prefetch?z=31&x0=0&x1=1&y0=0&y1=1",
		"/api/tiles/4/prefetch?z=10&x0=0&x1=1&y0=0&y1=1&ext=gif",
		"/api/tiles/4/prefetch?z=10&x0=0&x1=1&y0=0&y1=99999999999",
	};
	struct ctx *c = *state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct response res;
		if (call(c, "POST", bad[i], &res) != 400)
			fail_msg("POST %s: status %d, want 400", bad[i], res.status);
		expect_error(&res, 400, NULL);
		response_free(&res);
	}
	/* a level the dataset does not have is like a tile there: 404 */
	EXPECT_STATUS(c, "POST", "/api/tiles/4/prefetch?z=15&x0=0&x1=1&y0=0&y1=1", NULL, 404);
	EXPECT_STATUS(c, "GET", "/api/tiles/4/prefetch?z=10&x0=0&x1=1&y0=0&y1=1", NULL, 405);
	EXPECT_STATUS(c, "POST", "/api/tiles/2/prefetch?z=10&x0=0&x1=1&y0=0&y1=1", NULL, 401);
}

/* ---- CORS ------------------------------------------------------------------- */

static void cors_header_is_present_on_errors_too(void **state)
{
	static const char *const uris[] = {
		"/api/tiles/99/0/0/0.jpg", "/api/tiles/1/..", "/api/tiles/1/nope",
		"/api/tiles/2/10/0/0.jpg", "/api/tiles/3/0/0/0.jpg", "/api/tiles/1/10/9/9.jpg",
	};
	struct ctx *c = *state;
	struct response res;

	for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
		call(c, "GET", uris[i], &res);
		assert_true(res.status >= 400);
		expect_hdr(&res, "Access-Control-Allow-Origin", "*");
		response_free(&res);
	}
	call(c, "DELETE", "/api/tiles/1/0/0/0.jpg", &res);
	assert_int_equal(res.status, 405);
	expect_hdr(&res, "Access-Control-Allow-Origin", "*");
	response_free(&res);
}

static void cors_header_is_present_when_the_request_itself_is_refused(void **state)
{
	struct ctx *c = *state;
	struct response res;
	char uri[REQ_URI_MAX + 100];

	memset(uri, 'a', sizeof(uri) - 1);
	uri[sizeof(uri) - 1] = '\0';
	memcpy(uri, "/api/tiles/health?", 18);
	assert_int_equal(call(c, "GET", uri, &res), 414);
	expect_error(&res, 414, NULL);
	expect_hdr(&res, "Access-Control-Allow-Origin", "*");
	response_free(&res);
}

static void options_is_204_with_allow_methods(void **state)
{
	struct ctx *c = *state;
	struct response res;
	size_t body;

	assert_int_equal(call(c, "OPTIONS", "/api/tiles/1/10/0/0.jpg", &res), 204);
	expect_hdr(&res, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
	expect_hdr(&res, "Access-Control-Allow-Origin", "*");
	assert_non_null(hdr(&res, "Access-Control-Allow-Headers", (char[128]){0}, 128));
	assert_int_equal(sent_length(&res, NULL, &body), -1);	/* RFC 9110: none on 204 */
	assert_int_equal(body, 0);
	response_free(&res);
	/* preflights carry no credentials: a private dataset still answers */
	assert_int_equal(call(c, "OPTIONS", "/api/tiles/2/10/0/0.jpg", &res), 204);
	response_free(&res);
	assert_int_equal(call(c, "OPTIONS", "/api/tiles/1/cache-clear", &res), 204);
	expect_hdr(&res, "Access-Control-Allow-Methods", "POST, OPTIONS");
	response_free(&res);
	assert_int_equal(call(c, "OPTIONS", "/api/tiles/1/batch", &res), 204);
	expect_hdr(&res, "Access-Control-Allow-Methods", "GET, OPTIONS");
	response_free(&res);
}

/* ---- the tile index ---------------------------------------------------------- */

/* Dataset 7: an index listing 10/0/0 jpg and 10/1/0 png + webp; 10/2/1.jpg
 * is on disk but not listed (so a 404 for it proves no storage read). */
static void put_indexed_dataset(struct ctx *c)
{
	struct dataset d = {.id = 7, .min_zoom = 0, .max_zoom = 10, .tile_size = 256,
			    .width = 600, .height = 400};
	struct tileindex_builder *b;
	struct buf out;
	char why[160];

	put_meta(c->dir, 7, "null", true, 600, 400, 10, "completed");
	put_file(c->dir, "tiles/7/10/0/0.jpg", JPG_A, sizeof(JPG_A));
	put_file(c->dir, "tiles/7/10/1/0.png", PNG_B, sizeof(PNG_B));
	put_file(c->dir, "tiles/7/10/1/0.webp", WEBP_C, sizeof(WEBP_C));
	put_file(c->dir, "tiles/7/10/2/1.jpg", JPG_EDGE, sizeof(JPG_EDGE));
	assert_int_equal(tileindex_builder_new(&d, "2024-01-01T00:00:00Z", &b, why, sizeof(why)), AP_OK);
	assert_int_equal(tileindex_builder_add(b, 10, 0, 0, FMT_JPG), AP_OK);
	assert_int_equal(tileindex_builder_add(b, 10, 1, 0, FMT_PNG), AP_OK);
	assert_int_equal(tileindex_builder_add(b, 10, 1, 0, FMT_WEBP), AP_OK);
	buf_init(&out, TILEINDEX_MAX_BYTES);
	assert_int_equal(tileindex_builder_encode(b, &out), AP_OK);
	tileindex_builder_free(b);
	put_file(c->dir, "metadata/datasets/7.index", out.data, out.len);
	buf_free(&out);
}

static int call_accept(struct ctx *c, const char *uri, const char *accept, struct response *res)
{
	struct param p[] = {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", uri},
			    {"HTTP_ACCEPT", accept}, {NULL, NULL}};
	struct request r;

	if (!accept)
		p[2] = (struct param){NULL, NULL};
	assert_int_equal(request_parse(&r, getparam, p), AP_OK);
	response_init(res);
	api_handle(&c->app, &r, res);
	return res->status;
}

static void the_index_picks_the_format_and_answers_holes(void **state)
{
	struct ctx *c = *state;
	struct response res;

	put_indexed_dataset(c);
	assert_int_equal(call(c, "GET", "/api/tiles/7/10/1/0.jpg", &res), 200);
	expect_hdr(&res, "Content-Type", "image/png");	/* the requested format is absent */
	expect_body(&res, PNG_B, sizeof(PNG_B));
	response_free(&res);
	assert_int_equal(call(c, "GET", "/api/tiles/7/10/1/0.webp", &res), 200);
	expect_hdr(&res, "Content-Type", "image/webp");
	response_free(&res);
	assert_int_equal(call(c, "GET", "/api/tiles/7/10/0/0.png", &res), 200);
	expect_hdr(&res, "Content-Type", "image/jpeg");
	response_free(&res);
	/* not listed: answered without reading the file that is there */
	assert_int_equal(call(c, "GET", "/api/tiles/7/10/2/1.jpg", &res), 404);
	response_free(&res);
	assert_int_equal(call(c, "GET", "/api/tiles/7/batch?tiles=10/2/1.jpg&tiles=10/1/0.jpg",
			      &res), 200);
	assert_non_null(strstr(res.body, "\"missing\": [\"10/2/1.jpg\"]"));
	assert_non_null(strstr(res.body, "\"formats\": {\"10/1/0.jpg\": \"png\"}"));
	response_free(&res);
}

static void info_with_webp_variants_varies_by_accept(void **state)
{
	struct ctx *c = *state;
	struct response res;
	char v[256];

	put_indexed_dataset(c);
	assert_int_equal(call_accept(c, "/api/tiles/7/info", NULL, &res), 200);
	assert_non_null(strstr(res.body, "\"formats\":[\"jpg\",\"png\",\"webp\"]"));
	assert_non_null(strstr(res.body, "{y}.jpg\""));
	expect_hdr(&res, "Vary", "Accept");
	assert_non_null(hdr(&res, "Cache-Control", v, sizeof(v)));
	assert_int_equal(strncmp(v, "private", 7), 0);
	response_free(&res);
	assert_int_equal(call_accept(c, "/api/tiles/7/info", "image/avif,image/webp,*/*;q=0.8", &res),
			 200);
	assert_non_null(strstr(res.body, "{y}.webp\""));
	expect_hdr(&res, "Vary", "Accept");
	response_free(&res);
	assert_int_equal(call_accept(c, "/api/tiles/7/batch?tiles=10/1/0.jpg", "image/webp", &res), 200);
	assert_non_null(strstr(res.body, "\"formats\": {\"10/1/0.jpg\": \"webp\"}"));
	response_free(&res);
	/* tiles never vary: .jpg is the JPEG whatever Accept says */
	assert_int_equal(call_accept(c, "/api/tiles/7/10/0/0.jpg", "image/webp", &res), 200);
	expect_hdr(&res, "Content-Type", "image/jpeg");
	assert_null(hdr(&res, "Vary", v, sizeof(v)));
	response_free(&res);
	/* no index, no variants: no Vary, the .jpg template, public */
	assert_int_equal(call_accept(c, "/api/tiles/1/info", "image/webp", &res), 200);
	assert_non_null(strstr(res.body, "\"formats\":null"));
	assert_non_null(strstr(res.body, "{y}.jpg\""));
	assert_null(hdr(&res, "Vary", v, sizeof(v)));
	response_free(&res);
}

/* GET /api/tiles/metrics from addr (NULL: no REMOTE_ADDR) with auth. */
static int metrics_from(struct ctx *c, const char *addr, const char *auth, struct response *res)
{
	struct param p[] = {{"REQUEST_METHOD", "GET"}, {"REQUEST_URI", "/api/tiles/metrics"},
			    {"HTTP_AUTHORIZATION", auth}, {"REMOTE_ADDR", addr}, {NULL, NULL}};
	struct request r;

	if (!auth) {	/* drop it, keep the address */
		p[2] = p[3];
		p[3] = p[4];
	}
	assert_int_equal(request_parse(&r, getparam, p), AP_OK);
	response_init(res);
	api_handle(&c->app, &r, res);
	return res->status;
}

static void metrics_are_open_to_loopback_only_by_default(void **state)
{
	struct ctx *c = *state;
	struct response res;
	char v[128];

	assert_int_equal(status_of(c, "GET", "/api/tiles/1/10/0/0.jpg", NULL), 200);
	assert_int_equal(metrics_from(c, "127.0.0.1", NULL, &res), 200);
	expect_hdr(&res, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	assert_non_null(hdr(&res, "Cache-Control", v, sizeof(v)));
	assert_non_null(memmem(res.body, res.body_len, "# TYPE astropixel_requests_total counter",
			       40));
	/* --request mode counts storage, never requests (no front) */
	assert_non_null(memmem(res.body, res.body_len,
			       "astropixel_storage_requests_total{backend=\"local\",outcome=\"ok\"} ",
			       strlen("astropixel_storage_requests_total{backend=\"local\",outcome=\"ok\"} ")));
	response_free(&res);
	assert_int_equal(metrics_from(c, "::1", NULL, &res), 200);
	response_free(&res);
	assert_int_equal(metrics_from(c, "::ffff:127.0.0.1", NULL, &res), 200);
	response_free(&res);
	assert_int_equal(metrics_from(c, "10.1.2.3", NULL, &res), 403);
	expect_error(&res, 403, "METRICS_ALLOW");
	response_free(&res);
	assert_int_equal(metrics_from(c, NULL, NULL, &res), 403);
	response_free(&res);
	/* no METRICS_TOKEN set: no bearer opens them */
	assert_int_equal(metrics_from(c, "10.1.2.3", "Bearer ", &res), 403);
	response_free(&res);
	EXPECT_STATUS(c, "POST", "/api/tiles/metrics", NULL, 405);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(the_index_picks_the_format_and_answers_holes),
		T(info_with_webp_variants_varies_by_accept),
		T(public_tile_is_200_with_type_length_etag_and_short_caching),
		T(metrics_are_open_to_loopback_only_by_default),
		T(info_describes_the_dataset_and_its_template),
		T(the_current_version_is_immutable_and_an_old_one_redirects),
		T(a_cache_clear_makes_a_new_version),
		T(private_and_token_urls_are_never_public),
		T(second_request_is_served_from_the_memory_cache),
		T(jpeg_extension_serves_the_jpg_object),
		T(format_fallback_serves_the_png_with_its_own_type),
		T(format_fallback_reaches_webp_and_jpg),
		T(if_none_match_with_the_etag_is_304),
		T(if_none_match_with_another_etag_is_200),
		T(head_has_the_same_headers_and_length_and_no_body),
		T(head_of_an_error_or_of_health_has_no_body),
		T(tile_outside_the_grid_is_404_even_if_the_file_exists),
		T(zoom_outside_the_range_is_404),
		T(tile_inside_the_grid_but_absent_is_404),
		T(dataset_not_completed_is_503),
		T(unknown_dataset_is_404),
		T(bad_syntax_is_400_and_unknown_endpoint_404_as_json),
		T(private_tile_without_token_is_401_with_www_authenticate),
		T(private_tile_with_owner_bearer_token_is_200_and_private),
		T(private_tile_with_owner_token_in_query_is_200_and_private),
		T(cached_private_tile_still_needs_the_token),
		T(another_users_token_is_403),
		T(expired_token_is_401),
		T(alg_none_token_is_401),
		T(token_signed_with_another_key_is_401),
		T(private_dataset_state_is_not_told_to_strangers),
		T(public_dataset_ignores_tokens),
		T(cache_stats_has_exactly_the_shape_of_spec_3_3),
		T(cache_stats_hit_rate_has_one_decimal),
		T(cache_stats_follow_the_dataset_access_rules),
		T(cache_clear_anonymous_is_401),
		T(cache_clear_by_another_user_is_403),
		T(cache_clear_by_the_owner_drops_the_tiles),
		T(cache_clear_of_one_dataset_keeps_the_others),
		T(cache_clear_needs_post),
		T(health_is_200_status_ok),
		T(batch_answers_exactly_the_requested_keys),
		T(batch_fills_the_cache_and_counts_hits),
		T(batch_of_101_tiles_is_400_naming_the_entry),
		T(batch_with_a_malformed_entry_is_400_naming_it),
		T(batch_follows_the_dataset_access_rules),
		T(batch_with_prefetch_queues_the_neighbourhood),
		T(prefetch_is_202_with_queued_and_queue),
		T(prefetch_skips_cached_tiles_and_clips_to_the_grid),
		T(bad_prefetch_parameters_are_400),
		T(cors_header_is_present_on_errors_too),
		T(cors_header_is_present_when_the_request_itself_is_refused),
		T(options_is_204_with_allow_methods),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
