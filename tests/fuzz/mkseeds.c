/*
 * mkseeds.c - the seeds that cannot be written by hand: valid tokens,
 * tile indexes made by the builder, real PNG and JPEG files.
 *
 *   mkseeds OUTDIR
 *
 * writes OUTDIR/{jwt,api,tileindex,tileindex_sealed,imgdecode}/gen-* (the
 * layout of tests/fuzz/corpus/); tests/fuzz/mkcorpus.sh runs it and adds
 * the seeds written by hand. Everything is deterministic: the same sources
 * give the same bytes, so regenerating the corpus changes nothing in git.
 *
 * Exit status: 0 written, 1 failure, 2 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "buf.h"
#include "dataset.h"
#include "imgenc.h"
#include "jwt.h"
#include "jwt_fixture.h"
#include "pngcases.h"
#include "tileindex.h"

#define API_EXP 4102444800LL	/* fuzz_api uses the real clock */
#define PATH_CAP 4096

static const char *outdir;

static void die(const char *what)
{
	fprintf(stderr, "mkseeds: %s\n", what);
	exit(1);
}

static void put(const char *dir, const char *name, const void *p, size_t n)
{
	char path[PATH_CAP];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, dir);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		die(path);
	snprintf(path, sizeof(path), "%s/%s/gen-%s", outdir, dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0)
		die(path);
}

/* ---- tokens ----------------------------------------------------------------- */

static void token(const char *name, const char *header, const char *payload)
{
	struct buf b;

	buf_init(&b, 8 * JWT_MAX_LEN);
	if (jwt_sign_json(header, payload, FUZZ_JWT_KEY, strlen(FUZZ_JWT_KEY), &b))
		die("jwt_sign_json");
	put("jwt", name, b.data, b.len);
	buf_free(&b);
}

static void tokens(void)
{
	static const char *const std = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	char p[256];
	struct buf b;

	buf_init(&b, 8 * JWT_MAX_LEN);
	if (jwt_sign_hs256("7", FUZZ_JWT_NOW + 3600, FUZZ_JWT_KEY, strlen(FUZZ_JWT_KEY), &b))
		die("jwt_sign_hs256");
	put("jwt", "sub7", b.data, b.len);
	buf_free(&b);
	snprintf(p, sizeof(p), "{\"sub\":\"5\",\"exp\":%lld}", FUZZ_JWT_NOW + 10);
	token("sub5-leeway", std, p);
	snprintf(p, sizeof(p), "{\"sub\":42,\"exp\":%lld.75,\"nbf\":%lld}", FUZZ_JWT_NOW + 60,
		 FUZZ_JWT_NOW - 60);
	token("int-sub-nbf", "{\"typ\":\"jwt\",\"alg\":\"HS256\"}", p);
	snprintf(p, sizeof(p), "{\"sub\":\"7\",\"exp\":%lld}", FUZZ_JWT_NOW - 3600);
	token("expired", std, p);
	snprintf(p, sizeof(p), "{\"sub\":\"7\",\"exp\":%lld,\"nbf\":%lld}", FUZZ_JWT_NOW + 7200,
		 FUZZ_JWT_NOW + 3600);
	token("not-yet", std, p);
	snprintf(p, sizeof(p), "{\"sub\":\"user\\u00e9\",\"exp\":%lld,\"extra\":[1,{\"a\":null}]}",
		 FUZZ_JWT_NOW + 3600);
	token("unicode-extra", std, p);
	snprintf(p, sizeof(p), "{\"sub\":\"7\",\"exp\":%lld}", FUZZ_JWT_NOW + 3600);
	token("alg-none", "{\"alg\":\"none\"}", p);
	token("alg-hs512", "{\"alg\":\"HS512\",\"typ\":\"JWT\"}", p);
	token("crit", "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", p);
}

/* Authorization headers of real users for fuzz_api (the "@7" spelling is
 * in the hand-written seeds). */
static void api_tokens(void)
{
	char req[2048];
	struct buf b5, b7;

	buf_init(&b5, 8 * JWT_MAX_LEN);
	buf_init(&b7, 8 * JWT_MAX_LEN);
	if (jwt_sign_hs256("5", API_EXP, FUZZ_JWT_KEY, strlen(FUZZ_JWT_KEY), &b5) ||
	    jwt_sign_hs256("7", API_EXP, FUZZ_JWT_KEY, strlen(FUZZ_JWT_KEY), &b7))
		die("jwt_sign_hs256");
	snprintf(req, sizeof(req), "GET\n/api/tiles/2/10/0/0.jpg\nAuthorization: Bearer %s\n",
		 b7.data);
	put("api", "private-tile-owner", req, strlen(req));
	snprintf(req, sizeof(req), "GET\n/api/tiles/2/0/0/0.png?token=%s\n", b7.data);
	put("api", "private-tile-query-token", req, strlen(req));
	snprintf(req, sizeof(req), "GET\n/api/tiles/2/10/0/0.jpg\nAuthorization: Bearer %s\n",
		 b5.data);
	put("api", "private-tile-stranger", req, strlen(req));
	snprintf(req, sizeof(req), "POST\n/api/tiles/1/cache-clear\nAuthorization: Bearer %s\n"
		 "Content-Length: 0\n", b5.data);
	put("api", "clear-owner", req, strlen(req));
	buf_free(&b5);
	buf_free(&b7);
}

/* ---- tile indexes ----------------------------------------------------------- */

struct ti_seed {
	const char *name;
	uint64_t w, h;
	unsigned minz, maxz, ts;
	const char *updated_at;
	unsigned every;		/* a tile at every `every`-th cell (0: none) */
	unsigned fmts;		/* formats to add, bit per format */
	int holes;		/* every tile but the `every`-th */
};

static void tileindex_seed(const struct ti_seed *s)
{
	struct tileindex_builder *b = NULL;
	struct dataset d;
	struct buf out;
	char why[256];

	memset(&d, 0, sizeof(d));
	d.id = 1;
	d.min_zoom = (uint8_t)s->minz;
	d.max_zoom = (uint8_t)s->maxz;
	d.tile_size = s->ts;
	d.width = s->w;
	d.height = s->h;
	if (tileindex_builder_new(&d, s->updated_at, &b, why, sizeof(why)))
		die(why);
	for (unsigned z = s->minz; z <= s->maxz && s->every; z++) {
		uint64_t cols, rows, cell = 0;

		dataset_grid(&d, z, &cols, &rows);
		for (uint64_t y = 0; y < rows; y++)
			for (uint64_t x = 0; x < cols; x++, cell++)
				for (unsigned f = 0; f < FMT__COUNT; f++)
					if ((s->fmts & (1u << f)) &&
					    ((cell % s->every == 0) != s->holes) &&
					    tileindex_builder_add(b, z, (uint32_t)x, (uint32_t)y,
								  (enum tile_fmt)f))
						die("tileindex_builder_add");
	}
	buf_init(&out, TILEINDEX_MAX_BYTES);
	if (tileindex_builder_encode(b, &out))
		die("tileindex_builder_encode");
	put("tileindex", s->name, out.data, out.len);
	/* the sealed harness adds the trailer itself */
	put("tileindex_sealed", s->name, out.data, out.len - 32);
	buf_free(&out);
	tileindex_builder_free(b);
}

static void tileindexes(void)
{
	static const struct ti_seed seeds[] = {
		/* the sample pyramid of the tests, full: bitmaps and absent lists */
		{"full-600x400", 600, 400, 0, 10, 256, "2024-01-01T00:00:00Z", 1, 1, 0},
		/* sparse: present lists */
		{"sparse", 5000, 3000, 0, 13, 256, "", 7, 1, 0},
		/* nearly full with holes: absent lists */
		{"holes", 5000, 3000, 8, 13, 256, "2023-12-31", 11, 1, 1},
		/* half the cells in two formats: bitmaps */
		{"half", 5000, 3000, 0, 13, 256, "2024-02-29", 2, 3, 0},
		/* three formats, odd tile size, a zoom range not from 0 */
		{"three-formats", 1000, 700, 3, 10, 100, "x", 3, 7, 0},
		/* no tile at all: no format, no plane */
		{"empty", 600, 400, 0, 10, 256, "", 0, 0, 0},
		/* a large grid with a few tiles */
		{"large-grid", 262144, 262144, 0, 14, 256, "2024-06-01T12:00:00+02:00", 100003, 2,
		 0},
	};

	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		tileindex_seed(&seeds[i]);
}

/* ---- images ----------------------------------------------------------------- */

static void images(void)
{
	static const struct { const char *name; uint32_t w, h; unsigned ch; enum imgenc_scans s; }
	jpegs[] = {
		{"jpeg-rgb-baseline", 16, 16, 3, IMGENC_BASELINE},
		{"jpeg-rgb-progressive", 16, 16, 3, IMGENC_PROGRESSIVE},
		{"jpeg-gray", 17, 9, 1, IMGENC_BASELINE},
		{"jpeg-scan-per-coef", 8, 8, 3, IMGENC_SCAN_PER_COEF},
	};
	char name[64];

	for (int k = 0; k < PC__COUNT; k++) {
		struct png_case c;

		if (png_case_make((enum png_kind)k, 9, 7, 9, &c))
			die("png_case_make");
		snprintf(name, sizeof(name), "png-%s", c.name);
		for (char *p = name; *p; p++)
			if (*p == ' ' || *p == '+')
				*p = '-';
		put("imgdecode", name, c.file.data, c.file.len);
		png_case_free(&c);
	}
	for (size_t i = 0; i < sizeof(jpegs) / sizeof(jpegs[0]); i++) {
		unsigned char *px = imgenc_starfield(jpegs[i].w, jpegs[i].h, 3, 7);
		unsigned char *gray = malloc((size_t)jpegs[i].w * jpegs[i].h);
		struct buf out;

		if (!px || !gray)
			die("out of memory");
		for (size_t p = 0; p < (size_t)jpegs[i].w * jpegs[i].h; p++)
			gray[p] = px[3 * p + 1];
		buf_init(&out, IMGENC_MAX_BYTES);
		if (imgenc_jpeg(jpegs[i].ch == 1 ? gray : px, jpegs[i].w, jpegs[i].h, jpegs[i].ch, 80,
				jpegs[i].s, &out))
			die("imgenc_jpeg");
		put("imgdecode", jpegs[i].name, out.data, out.len);
		buf_free(&out);
		free(px);
		free(gray);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: mkseeds OUTDIR\n");
		return 2;
	}
	outdir = argv[1];
	tokens();
	api_tokens();
	tileindexes();
	images();
	return 0;
}
