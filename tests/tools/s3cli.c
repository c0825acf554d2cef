/*
 * s3cli - one S3 request through the product's own S3 client and engine
 * (src/s3.c, src/sigv4.c, src/engine.c), configured like the server from
 * the environment (USE_S3, S3_ENDPOINT_URL, AWS_*). Used by the integration
 * tests to prove GET with Range / If-None-Match, HEAD, PUT and paged
 * ListObjectsV2 against a signature-checking server; handy for operators to
 * check credentials by hand.
 *
 *   s3cli GET KEY [--header 'Name: value']...   body to stdout
 *   s3cli HEAD KEY
 *   s3cli PUT KEY FILE [--header 'Content-Type: image/jpeg']...
 *   s3cli LIST PREFIX [MAX_KEYS]                 "key etag size" lines; pages
 * Status, ETag and page count go to stderr ("status 206", "etag ...").
 * Exit 0 if the (last) answer was 2xx or 304, 1 otherwise, 2 on usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "app.h"
#include "buf.h"
#include "config.h"
#include "engine.h"
#include "s3.h"
#include "sigv4.h"

#define S3CLI_FILE_MAX (64u * 1024 * 1024)
#define S3CLI_HEADERS_MAX 4

struct done {
	int finished;
	struct xfer_result res;
};

static void on_done(struct xfer_result *r, void *ud)
{
	struct done *d = ud;

	d->finished = 1;
	d->res = *r;
	buf_init(&r->body, 0);	/* stolen */
}

static int run(struct engine *e, struct s3 *s, const char *method, const char *key,
	       const char *query, const void *body, size_t len, const char *const *hdrs,
	       size_t nh, struct done *d)
{
	struct s3_req *r = malloc(sizeof(*r));
	int rc = 1;

	memset(d, 0, sizeof(*d));
	if (!r || s3_prepare(s, r, method, key, query, body, len, NULL, hdrs, nh)) {
		fprintf(stderr, "s3cli: cannot prepare the request\n");
		goto out;
	}
	r->spec.max_body = S3_LIST_BODY_MAX;
	r->spec.timeout_ms = 10000;
	r->spec.max_retries = 1;
	if (engine_submit(e, &r->spec, on_done, d, NULL))
		goto out;
	while (!d->finished)
		engine_run(e, 1000, NULL, 0);
	if (d->res.err) {
		fprintf(stderr, "s3cli: %s\n", d->res.error);
		goto out;
	}
	fprintf(stderr, "status %ld\n", d->res.status);
	if (d->res.etag[0])
		fprintf(stderr, "etag %s\n", d->res.etag);
	rc = (d->res.status >= 200 && d->res.status < 300) || d->res.status == 304 ? 0 : 1;
out:
	free(r);
	return rc;
}

static void print_obj(const struct s3_object *o, void *ud)
{
	(*(int *)ud)++;
	printf("%s %s %llu\n", o->key, o->etag, o->size);
}

static struct buf read_file(const char *path)
{
	struct buf b;
	char chunk[65536];
	size_t n;
	FILE *f = fopen(path, "rb");

	buf_init(&b, S3CLI_FILE_MAX);
	while (f && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_add(&b, chunk, n))
			break;
	if (f)
		fclose(f);
	return b;
}

int main(int argc, char **argv)
{
	const char *hdrs[S3CLI_HEADERS_MAX];
	size_t nh = 0;
	struct engine_opts eo;
	struct config cfg;
	struct engine *e = NULL;
	struct s3 *s = NULL;
	struct done d;
	char why[256];
	int rc = 2, i;

	if (argc < 3)
		goto usage;
	for (i = 3; i < argc; i++)
		if (strcmp(argv[i], "--header") == 0 && i + 1 < argc && nh < S3CLI_HEADERS_MAX)
			hdrs[nh++] = argv[++i];
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (config_load(&cfg, why, sizeof(why))) {
		fprintf(stderr, "s3cli: %s\n", why);
		return 2;
	}
	app_engine_opts(&cfg, &eo);
	if (engine_new(&eo, &e) || s3_new(&cfg, &s)) {
		fprintf(stderr, "s3cli: cannot set up the client\n");
		goto out;
	}
	if (!strcmp(argv[1], "GET") || !strcmp(argv[1], "HEAD")) {
		rc = run(e, s, argv[1], argv[2], NULL, NULL, 0, hdrs, nh, &d);
		fwrite(d.res.body.data ? d.res.body.data : "", 1, d.res.body.len, stdout);
		buf_free(&d.res.body);
	} else if (!strcmp(argv[1], "PUT") && argc >= 4) {
		struct buf b = read_file(argv[3]);
		rc = run(e, s, "PUT", argv[2], NULL, b.data ? b.data : "", b.len, hdrs, nh, &d);
		buf_free(&d.res.body);
		buf_free(&b);
	} else if (!strcmp(argv[1], "LIST")) {
		char token[1024] = "";
		int objects = 0, pages = 0;
		struct buf q, enc;
		buf_init(&q, 4096);
		do {
			buf_init(&enc, 2048);
			buf_reset(&q);
			/* our own page size (MAX_KEYS), so that paging shows on few objects */
			if (buf_printf(&q, "list-type=2&max-keys=%s&prefix=", argc > 3 ? argv[3] : "1000") ||
			    sigv4_uri_encode(argv[2], strlen(argv[2]), 0, &q) ||
			    (token[0] && (buf_adds(&q, "&continuation-token=") ||
					  sigv4_uri_encode(token, strlen(token), 0, &q)))) {
				buf_free(&enc);
				rc = 1;
				break;
			}
			buf_free(&enc);
			rc = run(e, s, "GET", "", q.data, NULL, 0, NULL, 0, &d);
			if (!rc && s3_parse_list(d.res.body.data ? d.res.body.data : "", d.res.body.len,
						 print_obj, &objects, token, sizeof(token)))
				rc = 1;
			buf_free(&d.res.body);
			pages++;
		} while (!rc && token[0]);
		buf_free(&q);
		fprintf(stderr, "pages %d objects %d\n", pages, objects);
	} else {
		goto usage;
	}
out:
	s3_free(s);
	engine_free(e);
	config_free(&cfg);
	curl_global_cleanup();
	return rc;
usage:
	fprintf(stderr, "usage: s3cli GET|HEAD KEY [--header H]... | PUT KEY FILE [--header H]... | "
			"LIST PREFIX [MAX_KEYS]\n");
	return 2;
}
