/*
 * fuzz_api.c - the whole request path: FastCGI-like parameters through
 * request_parse, api_handle (routing, catalogue, access, cache, local
 * storage, batch, stats, clear, prefetch) and response_write, over a small
 * local tree made at start-up (no bucket: deterministic, no network), with
 * the server's idle work (prefetch) run between requests.
 *
 * Input: lines
 *	METHOD
 *	REQUEST_URI
 *	Authorization: Bearer ...	(any of these four, in any order)
 *	If-None-Match: "..."
 *	Content-Length: 0
 *	Origin: https://example.org
 * In an Authorization value and in the URI, "@5" and "@7" stand for valid
 * tokens of users 5 and 7 (made at start-up), so that mutations keep
 * reaching private datasets; literal tokens of the seeds (signed with the
 * fixture key, expiring in 2100) work too.
 *
 * Oracle: SPEC sections 3 and 4, checked on every answer. The status is
 * one the SPEC lists (a 500 is a bug); errors are one JSON object with a
 * string "detail", 401 with WWW-Authenticate, 405 with Allow; HEAD never
 * has a body; a tile answer is byte for byte a file of the fixture for
 * that tile with the Content-Type of its bytes; every tile of a batch
 * answer is too; nothing of a private dataset is served, and no dataset is
 * cleared, without a valid token of its owner.
 */
#include <ftw.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include "fuzz.h"
#include "api.h"
#include "app.h"
#include "jwt.h"
#include "jwt_fixture.h"
#include "prefetch.h"
#include "request.h"
#include "response.h"
#include "route.h"
#include "store.h"

#define TOKEN_EXP 4102444800LL	/* 2100-01-01: seeds stay valid */
#define IDLE_STEPS 64
#define LINE_MAX_FUZZ 8192

struct fixture_tile {
	uint32_t dataset;
	unsigned z, x, y;
	const char *ext;
	const unsigned char *bytes;
	size_t len;
};

static const unsigned char JPG_A[] = {0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 'J', 'F', 'I', 'F', 0, 1,
				      'A', 0xFF, 0xD9};
static const unsigned char JPG_B[] = {0xFF, 0xD8, 0xFF, 0xDB, 'b', 'b', 0xFF, 0xD9};
static const unsigned char PNG_A[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0,
				      0x0D, 'I', 'H', 'D', 'R', 0xFE};
static const unsigned char WEBP_A[] = {'R', 'I', 'F', 'F', 0x0C, 0, 0, 0, 'W', 'E', 'B', 'P',
				       'V', 'P', '8', ' ', 0x01};
static const unsigned char PRIV[] = {0xFF, 0xD8, 0xFF, 0xE2, 'p', 'r', 'i', 'v', 0xFF, 0xD9};
/* neither format: served with the requested format's type */
static const unsigned char ODD[] = {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'};

static const struct fixture_tile TILES[] = {
	{1, 10, 0, 0, "jpg", JPG_A, sizeof(JPG_A)},
	{1, 10, 1, 0, "png", PNG_A, sizeof(PNG_A)},
	{1, 10, 2, 1, "jpg", JPG_B, sizeof(JPG_B)},	/* last of the grid */
	{1, 10, 3, 0, "jpg", JPG_B, sizeof(JPG_B)},	/* outside the grid */
	{1, 11, 0, 0, "jpg", JPG_B, sizeof(JPG_B)},	/* outside the zoom range */
	{1, 10, 1, 1, "jpg", JPG_A, sizeof(JPG_A)},
	{1, 10, 1, 1, "png", PNG_A, sizeof(PNG_A)},
	{1, 9, 0, 0, "webp", WEBP_A, sizeof(WEBP_A)},
	{1, 9, 1, 0, "png", ODD, sizeof(ODD)},
	{1, 0, 0, 0, "jpg", JPG_B, sizeof(JPG_B)},
	{2, 10, 0, 0, "jpg", PRIV, sizeof(PRIV)},
	{2, 0, 0, 0, "png", PNG_A, sizeof(PNG_A)},
	{3, 0, 0, 0, "jpg", JPG_A, sizeof(JPG_A)},
	{5, 0, 0, 0, "jpg", PRIV, sizeof(PRIV)},
	{6, 0, 0, 0, "jpg", PRIV, sizeof(PRIV)},
};

/* id, owner (JSON), is_demo, width, height, max_zoom, status */
static const struct {
	int id;
	const char *owner;
	int demo;
	unsigned long long w, h;
	int maxz;
	const char *status;
} METAS[] = {
	{1, "5", 1, 600, 400, 10, "completed"},
	{2, "7", 0, 600, 400, 10, "completed"},
	{3, "5", 1, 600, 400, 10, "processing"},
	{5, "null", 0, 600, 400, 10, "completed"},
	{6, "\"7\"", 0, 600, 400, 10, "processing"},
	{7, "5", 1, 262144, 262144, 14, "completed"},
};

static struct {
	char dir[256];
	struct app app;
	char tok[2][1024];	/* users 5 and 7 */
	FILE *devnull;
} F;

/* ---- fixture ---------------------------------------------------------------- */

static void put_file(const char *rel, const void *p, size_t n)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", F.dir, rel);
	for (char *s = path + strlen(F.dir) + 1; (s = strchr(s, '/')); s++) {
		*s = '\0';
		if (mkdir(path, 0700) != 0 && access(path, F_OK) != 0)
			abort();
		*s = '/';
	}
	fp = fopen(path, "wb");
	if (!fp || fwrite(p, 1, n, fp) != n || fclose(fp) != 0)
		abort();
}

static void make_tree(void)
{
	char rel[128], json[512];

	for (size_t i = 0; i < sizeof(METAS) / sizeof(METAS[0]); i++) {
		snprintf(rel, sizeof(rel), "metadata/datasets/%d.json", METAS[i].id);
		snprintf(json, sizeof(json),
			 "{\"id\": %d, \"name\": \"dataset %d\", \"owner_id\": %s, \"is_demo\": %s, "
			 "\"min_zoom\": 0, \"max_zoom\": %d, \"tile_size\": 256, \"width\": %llu, "
			 "\"height\": %llu, \"processing_status\": \"%s\", "
			 "\"updated_at\": \"2024-01-01T00:00:00Z\"}", METAS[i].id, METAS[i].id,
			 METAS[i].owner, METAS[i].demo ? "true" : "false", METAS[i].maxz,
			 METAS[i].w, METAS[i].h, METAS[i].status);
		put_file(rel, json, strlen(json));
	}
	put_file("metadata/datasets/4.json", "{\"id\": 4, ", 10);	/* invalid: 502 */
	for (size_t i = 0; i < sizeof(TILES) / sizeof(TILES[0]); i++) {
		snprintf(rel, sizeof(rel), "tiles/%u/%u/%u/%u.%s", TILES[i].dataset, TILES[i].z,
			 TILES[i].x, TILES[i].y, TILES[i].ext);
		put_file(rel, TILES[i].bytes, TILES[i].len);
	}
	put_file("secret.txt", "SECRET-NOT-A-TILE", 17);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void teardown(void)
{
	app_free(&F.app);
	nftw(F.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	if (F.devnull)
		fclose(F.devnull);
}

/* Every variable of the configuration table, so the caller's cannot leak in. */
static void clear_config_env(void)
{
	char *md = NULL, *p;
	size_t n = 0;
	FILE *m = open_memstream(&md, &n);

	if (!m)
		abort();
	config_print_markdown(m);
	fclose(m);
	for (p = md; (p = strstr(p, "| `"));) {
		char name[64], *end = strchr(p + 3, '`');

		if (!end)
			break;
		snprintf(name, sizeof(name), "%.*s", (int)(end - p - 3), p + 3);
		unsetenv(name);
		p = end;
	}
	free(md);
	unsetenv("ENV_FILE");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	char run[300], why[256];
	struct buf b;

	(void)argc;
	(void)argv;
	snprintf(F.dir, sizeof(F.dir), "%s/apfuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(F.dir))
		abort();
	make_tree();
	clear_config_env();
	snprintf(run, sizeof(run), "%s/run", F.dir);
	setenv("LOCAL_STORAGE_DIR", F.dir, 1);
	setenv("SECRET_KEY", FUZZ_JWT_KEY, 1);
	setenv("TILE_RUNTIME_DIR", run, 1);
	setenv("LOG_LEVEL", "error", 1);
	/* small bounds, so that eviction and full queues are reached */
	setenv("TILE_CACHE_MAX_TILES", "6", 1);
	setenv("NEGATIVE_CACHE_MAX", "8", 1);
	setenv("PREFETCH_QUEUE_MAX", "16", 1);
	setenv("CORS_ALLOW_ORIGIN", "https://astropixel.example", 1);
	if (app_init(&F.app, why, sizeof(why)) != AP_OK) {
		fprintf(stderr, "fuzz_api: app_init: %s\n", why);
		abort();
	}
	for (int i = 0; i < 2; i++) {
		buf_init(&b, sizeof(F.tok[i]) - 1);
		if (jwt_sign_hs256(i ? "7" : "5", TOKEN_EXP, FUZZ_JWT_KEY, strlen(FUZZ_JWT_KEY), &b))
			abort();
		snprintf(F.tok[i], sizeof(F.tok[i]), "%s", b.data);
		buf_free(&b);
	}
	F.devnull = fopen("/dev/null", "w");
	if (!F.devnull)
		abort();
	atexit(teardown);
	return 0;
}

/* ---- input ------------------------------------------------------------------ */

struct input {
	char *method, *uri;
	char *hdr[4];	/* Authorization, If-None-Match, Content-Length, Origin */
};

static const char *const HDR_NAMES[4] = {"Authorization", "If-None-Match", "Content-Length",
					 "Origin"};
static const char *const HDR_PARAMS[4] = {"HTTP_AUTHORIZATION", "HTTP_IF_NONE_MATCH",
					  "CONTENT_LENGTH", "HTTP_ORIGIN"};

/* s with "@5" and "@7" replaced by the tokens (malloc'd; s is freed). */
static char *expand(char *s)
{
	size_t n = 0, cap = strlen(s) + 1;
	char *out;

	for (const char *p = s; (p = strchr(p, '@')); p++)
		cap += sizeof(F.tok[0]);
	out = malloc(cap);
	if (!out)
		abort();
	for (const char *p = s; *p; p++) {
		if (p[0] == '@' && (p[1] == '5' || p[1] == '7')) {
			const char *t = F.tok[p[1] == '7'];

			memcpy(out + n, t, strlen(t));
			n += strlen(t);
			p++;
		} else {
			out[n++] = *p;
		}
	}
	out[n] = '\0';
	free(s);
	return out;
}

static void read_input(const uint8_t *data, size_t size, struct input *in)
{
	size_t pos = 0;
	char *line;

	memset(in, 0, sizeof(*in));
	in->method = fuzz_line(data, size, &pos);
	in->uri = fuzz_line(data, size, &pos);
	if (in->uri)
		in->uri = expand(in->uri);
	while ((line = fuzz_line(data, size, &pos))) {
		for (int i = 0; i < 4; i++) {
			size_t l = strlen(HDR_NAMES[i]);

			if (!in->hdr[i] && !strncasecmp(line, HDR_NAMES[i], l) && line[l] == ':') {
				char *v = line + l + 1;

				while (*v == ' ')
					v++;
				in->hdr[i] = expand(fuzz_strndup((const uint8_t *)v, strlen(v)));
				break;
			}
		}
		free(line);
	}
}

static void free_input(struct input *in)
{
	free(in->method);
	free(in->uri);
	for (int i = 0; i < 4; i++)
		free(in->hdr[i]);
}

static const char *getparam(const char *name, void *ud)
{
	const struct input *in = ud;

	if (!strcmp(name, "REQUEST_METHOD"))
		return in->method;
	if (!strcmp(name, "REQUEST_URI"))
		return in->uri;
	for (int i = 0; i < 4; i++)
		if (!strcmp(name, HDR_PARAMS[i]))
			return in->hdr[i];
	return NULL;
}

/* ---- oracle ----------------------------------------------------------------- */

/* The user whose valid token the request carries ("" if none), found the
 * way SPEC section 4 says: a Bearer Authorization header, else ?token=. */
static void token_user(const struct request *r, char *sub, size_t cap)
{
	char tok[JWT_MAX_LEN + 1];
	const char *a = r->authorization;
	struct jwt_claims c;
	size_t len;

	sub[0] = '\0';
	if (a && !strncasecmp(a, "Bearer ", 7)) {
		a += 7;
		while (*a == ' ')
			a++;
		len = strlen(a);
		while (len && a[len - 1] == ' ')
			len--;
		if (len > JWT_MAX_LEN)
			return;
		memcpy(tok, a, len);
	} else if (query_get(r->query, "token", tok, sizeof(tok)) == AP_OK) {
		len = strlen(tok);
	} else {
		return;
	}
	if (jwt_verify_hs256(tok, len, FUZZ_JWT_KEY, strlen(FUZZ_JWT_KEY), time(NULL), &c, NULL) ==
	    AP_OK)
		snprintf(sub, cap, "%s", c.sub);
}

/* The owner of a fixture dataset ("" if none) and whether it is public. */
static const char *owner_of(uint32_t id, int *demo)
{
	*demo = 0;
	for (size_t i = 0; i < sizeof(METAS) / sizeof(METAS[0]); i++)
		if ((uint32_t)METAS[i].id == id) {
			*demo = METAS[i].demo;
			return !strcmp(METAS[i].owner, "null") ? "" :
			       METAS[i].owner[0] == '"' ? "7" : METAS[i].owner;
		}
	return "";
}

/* The value of a response header (copied into out), or NULL. */
static const char *header(const struct response *res, const char *name, char *out, size_t cap)
{
	size_t l = strlen(name);

	for (const char *p = res->headers; p && *p; p = strstr(p, "\r\n"), p = p ? p + 2 : p) {
		if (!strncasecmp(p, name, l) && p[l] == ':') {
			const char *v = p + l + 2, *end = strstr(v, "\r\n");

			snprintf(out, cap, "%.*s", (int)(end ? end - v : (long)strlen(v)), v);
			return out;
		}
	}
	return NULL;
}

/* Is p[0..n) the fixture's bytes of (dataset, z, x, y) in some format? An
 * IIIF image request names its tile only once mapped on the dataset (any
 * tile of the dataset, then: test_iiif.c checks the mapping itself). */
static const struct fixture_tile *fixture_match(const struct tilekey *k, bool any_tile,
						const void *p, size_t n)
{
	for (size_t i = 0; i < sizeof(TILES) / sizeof(TILES[0]); i++) {
		const struct fixture_tile *t = &TILES[i];

		if (t->dataset == k->dataset &&
		    (any_tile || (t->z == k->z && t->x == k->x && t->y == k->y)) &&
		    t->len == n && !memcmp(t->bytes, p, n))
			return t;
	}
	return NULL;
}

static void check_tile(const struct request *r, const struct route *rt,
		       const struct response *res)
{
	const struct fixture_tile *t;
	char ct[64] = "";
	enum tile_fmt stored;
	int f;

	t = fixture_match(&rt->tile, rt->via == VIA_IIIF, res->body, res->body_len);
	FUZZ_CHECK(t, "%s: a body that is no file of this tile", r->path);
	/* the type of the bytes; of the file's name when they are no image */
	f = tk_sniff(t->bytes, t->len);
	FUZZ_CHECK(tk_parse_ext(t->ext, strlen(t->ext), &stored) == AP_OK, "fixture");
	FUZZ_CHECK(header(res, "Content-Type", ct, sizeof(ct)) &&
		   !strcmp(ct, tk_fmt_mime(f >= 0 ? (enum tile_fmt)f : stored)),
		   "%s: Content-Type %s for a %s file", r->path, ct, t->ext);
	FUZZ_CHECK(header(res, "ETag", ct, sizeof(ct)), "%s: no ETag", r->path);
}

/* Every tile of a batch answer is the fixture's. */
static void check_batch(const struct request *r, const struct route *rt,
			const struct response *res)
{
	struct json_object *o = json_tokener_parse(res->body ? (const char *)res->body : "");
	struct json_object *tiles, *count;
	unsigned char raw[4096];

	FUZZ_CHECK(o && json_object_object_get_ex(o, "tiles", &tiles) &&
		   json_object_is_type(tiles, json_type_object) &&
		   json_object_object_get_ex(o, "count", &count), "%s: batch body", r->path);
	json_object_object_foreach(tiles, spec, v) {
		struct tilekey k = {.dataset = rt->dataset};
		const char *b64;
		int n;

		FUZZ_CHECK(tk_parse_spec(spec, strlen(spec), &k) == AP_OK, "batch key '%s'", spec);
		if (json_object_is_type(v, json_type_null))
			continue;
		b64 = json_object_get_string(v);
		FUZZ_CHECK(json_object_is_type(v, json_type_string) && strlen(b64) <= 4 * 1000,
			   "batch value of %s", spec);
		n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)strlen(b64));
		FUZZ_CHECK(n >= 0, "batch value of %s is not base64", spec);
		/* EVP_DecodeBlock counts the padding as bytes */
		n -= (int)(strlen(b64) > 0 && b64[strlen(b64) - 1] == '=') +
		     (int)(strlen(b64) > 1 && b64[strlen(b64) - 2] == '=');
		FUZZ_CHECK(fixture_match(&k, false, raw, (size_t)n), "batch %s: bytes of no file", spec);
	}
	json_object_put(o);
}

static void check_error(const struct response *res)
{
	struct json_object *o, *d;
	char v[256];

	o = json_tokener_parse(res->body ? (const char *)res->body : "");
	FUZZ_CHECK(o && json_object_object_get_ex(o, "detail", &d) &&
		   json_object_is_type(d, json_type_string), "%d without a detail", res->status);
	json_object_put(o);
	FUZZ_CHECK(res->status != 401 || (header(res, "WWW-Authenticate", v, sizeof(v)) &&
					 !strcmp(v, "Bearer")), "401 without WWW-Authenticate");
	FUZZ_CHECK(res->status != 405 || header(res, "Allow", v, sizeof(v)), "405 without Allow");
}

/* Who may have got a 2xx: the owner of a private dataset; of a clear, always. */
static void check_access(const struct request *r, const struct route *rt,
			 const struct response *res)
{
	char sub[JWT_SUB_MAX + 1];
	int demo;
	const char *owner;

	if (res->status >= 300 || rt->kind == R_HEALTH || r->method == M_OPTIONS)
		return;
	owner = owner_of(rt->dataset, &demo);
	if (demo && rt->kind != R_CLEAR)
		return;
	token_user(r, sub, sizeof(sub));
	FUZZ_CHECK(owner[0] && !strcmp(sub, owner), "%s %s answered %d for user '%s' (owner '%s')",
		   r->method_name, r->path, res->status, sub, owner);
}

static void check_answer(struct request *r, const struct response *res)
{
	static const int listed[] = {200, 202, 204, 303, 304, 307, 400, 401, 403, 404, 405, 413,
				     414, 431, 502, 503, 504};
	struct request copy = *r;
	struct route rt;
	int ok = 0;

	for (size_t i = 0; i < sizeof(listed) / sizeof(listed[0]); i++)
		ok |= res->status == listed[i];
	FUZZ_CHECK(ok, "%s %s: status %d", r->method_name, r->path, res->status);
	FUZZ_CHECK(!res->headers_overflow, "headers overflow");
	FUZZ_CHECK(r->method != M_HEAD || res->no_body, "HEAD with a body");
	FUZZ_CHECK(response_write(res, F.devnull) == AP_OK, "response_write");
	if (res->status >= 400) {
		check_error(res);
		return;
	}
	FUZZ_CHECK(route_match(&copy, &rt) == AP_OK, "%d for a path that does not route",
		   res->status);
	check_access(r, &rt, res);
	if (res->status == 200 && rt.kind == R_TILE)
		check_tile(r, &rt, res);
	if (res->status == 200 && rt.kind == R_BATCH && r->method == M_GET)
		check_batch(r, &rt, res);
	FUZZ_CHECK(res->status != 304 || r->if_none_match, "304 without If-None-Match");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in;
	struct request r;
	struct response res;
	enum ap_err pe;

	if (size > 4 * LINE_MAX_FUZZ)
		return 0;
	read_input(data, size, &in);
	pe = request_parse(&r, getparam, &in);
	response_init(&res);
	if (pe) {
		api_cors(&F.app, &res);
		response_error(&res, &r, pe);
		FUZZ_CHECK(res.status >= 400 && res.status < 500, "request_parse: %d", res.status);
		check_error(&res);
	} else {
		api_handle(&F.app, &r, &res);
		check_answer(&r, &res);
	}
	response_free(&res);
	/* the server's idle work: prefetch lookups, local reads */
	for (int i = 0; i < IDLE_STEPS; i++) {
		bool progressed = prefetch_pump(F.app.prefetch);

		if (!(store_idle_step(F.app.store) || progressed))
			break;
	}
	free_input(&in);
	return 0;
}
