/*
 * batch.c - the batch endpoint: parse, dedupe, fetch misses in parallel,
 * answer one JSON document with base64 tiles written straight into it.
 *
 * Every distinct requested string is one entry of the answer; entries that
 * name the same tile ("0/0/0.jpg" and "0/0/0.jpeg") share one job, and
 * every job runs one store lookup (memory first, format walk inside it) on
 * the shared engine. The engine is driven until every job is done or the
 * batch deadline passes; lookups still running then are cancelled and
 * their tiles reported null and missing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "batch.h"
#include "catalog.h"
#include "tileindex.h"
#include "base64.h"
#include "cache.h"
#include "clock.h"
#include "config.h"
#include "engine.h"
#include "ev.h"
#include "metrics.h"
#include "prefetch.h"
#include "store.h"

/* Open-addressing sets for the dedupe, sized once per batch: a power of
 * two >= 2 x entries keeps probes short whatever the input. */
#define SET_MIN 16

struct batch_job {
	struct tilekey key;	/* the format asked, or webp (see make_jobs) */
	bool indexed;
	uint8_t fmts;		/* with indexed: what the tile index lists */
	struct lookup lk;
	struct tile *tile;
	bool pending;
	struct batch *b;
};

struct entry {
	char spec[TILE_SPEC_MAX + 1];	/* exactly as requested (decoded) */
	size_t len;
	struct batch_job *job;		/* NULL: outside the grid */
};

struct batch {
	struct app *a;
	struct request *req;
	struct response *res;
	const struct dataset *d;
	void (*done)(void *ud, enum ap_err e);
	void *ud;
	struct ev_timer deadline;
	struct entry *ents;
	size_t n, cap;
	uint32_t *spec_set;		/* entry index + 1, 0: empty */
	size_t set_mask;
	bool prefetch;
	bool starting;			/* inside start_jobs: do not complete yet */
	struct batch_job *jobs;
	size_t njobs;
	unsigned npending;
};

static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t hash_bytes(const char *p, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;

	for (size_t i = 0; i < n; i++)
		h = mix(h ^ (unsigned char)p[i]);
	return h;
}

static size_t set_size(size_t entries)
{
	size_t n = SET_MIN;

	while (n < 2 * entries)
		n <<= 1;
	return n;
}

/* Adds the spec to the answer unless the same string is there already;
 * false if it was a repeat. */
static bool add_distinct(struct batch *b, const char *v, size_t len)
{
	size_t i = (size_t)hash_bytes(v, len) & b->set_mask;

	for (; b->spec_set[i]; i = (i + 1) & b->set_mask) {
		const struct entry *e = &b->ents[b->spec_set[i] - 1];
		if (e->len == len && memcmp(e->spec, v, len) == 0)
			return false;
	}
	memcpy(b->ents[b->n].spec, v, len);
	b->ents[b->n].spec[len] = '\0';
	b->ents[b->n].len = len;
	b->spec_set[i] = (uint32_t)++b->n;
	return true;
}

/* A malformed entry, named without echoing more than a short printable part. */
static enum ap_err bad_entry(struct request *req, size_t n, const char *v, size_t vlen)
{
	char shown[TILE_SPEC_MAX + 1];
	size_t l = vlen < TILE_SPEC_MAX ? vlen : TILE_SPEC_MAX;

	for (size_t i = 0; i < l; i++)
		shown[i] = (v[i] >= 0x20 && v[i] < 0x7f && v[i] != '"' && v[i] != '\\') ? v[i] : '?';
	shown[l] = '\0';
	return request_fail(req, AP_ERR_BAD_REQUEST,
			    "malformed tile entry #%zu '%s%s' (expected z/x/y.ext with ext jpg, jpeg, "
			    "png or webp)", n, shown, vlen > l ? "..." : "");
}

/* One query parameter; tiles= entries are checked and deduplicated. */
static enum ap_err take_param(struct batch *b, struct request *req, const char *name,
			      const char *value, size_t vlen, size_t *seen)
{
	struct tilekey k;

	if (strcmp(name, "prefetch") == 0) {
		b->prefetch = strcmp(value, "1") == 0 || strcmp(value, "true") == 0;
		return AP_OK;
	}
	if (strcmp(name, "tiles") != 0)
		return AP_OK;	/* token and cache-busters are not ours */
	++*seen;
	if (vlen > TILE_SPEC_MAX || tk_parse_spec(value, vlen, &k))
		return bad_entry(req, *seen, value, vlen);
	if (b->n == b->cap) {
		/* a repeat of an entry already counted is not one more tile */
		size_t i = (size_t)hash_bytes(value, vlen) & b->set_mask;
		for (; b->spec_set[i]; i = (i + 1) & b->set_mask) {
			const struct entry *e = &b->ents[b->spec_set[i] - 1];
			if (e->len == vlen && memcmp(e->spec, value, vlen) == 0)
				return AP_OK;
		}
		return request_fail(req, AP_ERR_BAD_REQUEST, "too many tiles: entry #%zu '%s' exceeds "
				    "the limit of %zu distinct tiles (BATCH_MAX_TILES)", *seen, value, b->cap);
	}
	add_distinct(b, value, vlen);
	return AP_OK;
}

static enum ap_err parse_entries(struct batch *b, const struct app *a, struct request *req)
{
	const char *cur = req->query;
	char name[32], value[REQ_PARAM_VALUE_MAX];
	size_t vlen, params = 0, seen = 0;
	enum ap_err e;

	b->cap = (size_t)a->cfg.batch_max_tiles;
	b->ents = calloc(b->cap, sizeof(*b->ents));
	b->set_mask = set_size(b->cap) - 1;
	b->spec_set = calloc(b->set_mask + 1, sizeof(*b->spec_set));
	if (!b->ents || !b->spec_set)
		return AP_ERR_NOMEM;
	while ((e = query_next(&cur, name, sizeof(name), value, sizeof(value), &vlen)) !=
	       AP_ERR_NOT_FOUND) {
		if (++params > REQ_QUERY_PARAMS_MAX)
			return request_fail(req, AP_ERR_BAD_REQUEST, "more than %d query parameters",
					    REQ_QUERY_PARAMS_MAX);
		if (e)
			return request_fail(req, AP_ERR_BAD_REQUEST, "malformed query parameter #%zu",
					    params);
		if ((e = take_param(b, req, name, value, vlen, &seen)))
			return e;
	}
	if (b->n == 0)
		return request_fail(req, AP_ERR_BAD_REQUEST,
				    "no tiles requested: use ?tiles=z/x/y.ext&tiles=...");
	return AP_OK;
}

/* One job per distinct tile of the grid; entries point at their job. */
/* With the dataset's tile index: tiles it does not list are missing with
 * no job, and a client that takes WebP (Accept: image/webp) gets the WebP
 * variant of every tile that has one (the answer's formats say so; batch
 * answers are no-store, so no cache keeps them under the URL). */
static enum ap_err make_jobs(struct batch *b, struct app *a, const struct dataset *d)
{
	const struct tileindex *idx = catalog_index(a->catalog, d);
	bool webp = idx && request_accepts_webp(b->req);
	size_t mask = set_size(b->n) - 1;
	uint32_t *set = calloc(mask + 1, sizeof(*set));

	b->jobs = calloc(b->n, sizeof(*b->jobs));
	if (!set || !b->jobs) {
		free(set);
		return AP_ERR_NOMEM;
	}
	for (size_t i = 0; i < b->n; i++) {
		struct tilekey k;
		size_t h;

		if (tk_parse_spec(b->ents[i].spec, b->ents[i].len, &k))
			continue;	/* parsed once already */
		unsigned fmts = 0;

		k.dataset = d->id;
		if (!dataset_has_tile(d, &k))
			continue;	/* outside the grid: missing */
		if (idx && !(fmts = tileindex_lookup(idx, k.z, k.x, k.y)))
			continue;	/* not in the index: missing, no storage request */
		if (webp && (fmts & (1u << FMT_WEBP)))
			k.fmt = FMT_WEBP;
		h = (size_t)mix((uint64_t)k.z << 58 ^ (uint64_t)k.x << 29 ^ k.y ^ (uint64_t)k.fmt << 56);
		for (h &= mask; set[h]; h = (h + 1) & mask)
			if (tk_equal(&b->jobs[set[h] - 1].key, &k))
				break;
		if (!set[h]) {
			b->jobs[b->njobs].key = k;
			b->jobs[b->njobs].indexed = idx != NULL;
			b->jobs[b->njobs].fmts = (uint8_t)fmts;
			set[h] = (uint32_t)++b->njobs;
		}
		b->ents[i].job = &b->jobs[set[h] - 1];
	}
	free(set);
	return AP_OK;
}

static void complete(struct batch *b);

static void on_job_done(struct lookup *lk, void *ud)
{
	struct batch_job *j = ud;
	struct batch *b = j->b;

	j->tile = lk->tile;	/* NULL when not found or failed */
	lk->tile = NULL;
	j->pending = false;
	if (--b->npending == 0 && !b->starting)
		complete(b);
}

/* Hits first, so that the misses' fetches cannot evict them. */
static void start_jobs(struct batch *b, struct app *a)
{
	for (size_t j = 0; j < b->njobs; j++) {
		struct tile *t = NULL;

		if (cache_probe(a->cache, &b->jobs[j].key, &t) == CACHE_PRESENT)
			b->jobs[j].tile = t;
	}
	for (size_t j = 0; j < b->njobs; j++) {
		struct batch_job *job = &b->jobs[j];

		if (job->tile) {
			cache_note(a->cache, true);
			continue;
		}
		job->pending = true;
		job->b = b;
		job->lk.want = job->key;
		job->lk.indexed = job->indexed;
		job->lk.fmts = job->fmts;
		job->lk.done = on_job_done;
		job->lk.ud = job;
		b->npending++;
		store_lookup_start(a->store, &job->lk);
		cache_note(a->cache, job->lk.src == SRC_MEMORY && !job->pending);
	}
}

/* Lookups still running give up their tiles (null, missing); their walks
 * go on and still fill the cache. */
static void stop_jobs(struct batch *b)
{
	for (size_t j = 0; j < b->njobs; j++)
		if (b->jobs[j].pending) {
			store_lookup_cancel(&b->jobs[j].lk);
			b->jobs[j].pending = false;
		}
	b->npending = 0;
}

static enum ap_err write_tiles(struct batch *b, struct buf *out)
{
	enum ap_err e;

	/* keys passed the tile grammar: digits, '/', '.', letters; no escaping */
	for (size_t i = 0; i < b->n; i++) {
		struct batch_job *j = b->ents[i].job;
		size_t len;

		if ((e = buf_printf(out, "%s\"%s\": ", i ? ", " : "", b->ents[i].spec)))
			return e;
		if (!j || !j->tile) {
			if ((e = buf_adds(out, "null")))
				return e;
			continue;
		}
		len = b64_encoded_len(j->tile->len);
		if ((e = buf_reserve(out, len + 2)))
			return e;
		out->data[out->len++] = '"';
		b64_encode(j->tile->data, j->tile->len, out->data + out->len);
		out->len += len;
		out->data[out->len++] = '"';
		out->data[out->len] = '\0';
	}
	return AP_OK;
}

static enum ap_err write_formats_missing(struct batch *b, struct buf *out)
{
	bool first = true;
	enum ap_err e;

	if ((e = buf_adds(out, "}, \"formats\": {")))
		return e;
	for (size_t i = 0; i < b->n; i++) {
		struct batch_job *j = b->ents[i].job;
		int fmt;

		if (!j || !j->tile)
			continue;
		fmt = tk_sniff(j->tile->data, j->tile->len);
		if (fmt < 0)
			fmt = j->tile->key.fmt;
		if ((e = buf_printf(out, "%s\"%s\": \"%s\"", first ? "" : ", ", b->ents[i].spec,
				    tk_fmt_ext((enum tile_fmt)fmt))))
			return e;
		first = false;
	}
	if ((e = buf_adds(out, "}, \"missing\": [")))
		return e;
	first = true;
	for (size_t i = 0; i < b->n; i++) {
		struct batch_job *j = b->ents[i].job;
		if (j && j->tile)
			continue;
		if ((e = buf_printf(out, "%s\"%s\"", first ? "" : ", ", b->ents[i].spec)))
			return e;
		first = false;
	}
	return AP_OK;
}

static enum ap_err write_json(struct app *a, const struct dataset *d, struct batch *b,
			      struct buf *out)
{
	struct cache_stats cs;
	size_t found = 0, budget = BATCH_RESPONSE_MAX;
	char rate[16];
	enum ap_err e;

	/* decide which tiles fit, then write: the size is known before any byte */
	for (size_t i = 0; i < b->n; i++) {
		struct batch_job *j = b->ents[i].job;
		size_t need;
		if (!j || !j->tile)
			continue;
		need = b64_encoded_len(j->tile->len) + 2 * TILE_SPEC_MAX + 16;
		if (need > budget) {
			b->ents[i].job = NULL;	/* over the response bound: missing */
			continue;
		}
		budget -= need;
		found++;
	}
	if ((e = buf_printf(out, "{\"dataset_id\": %u, \"count\": %zu, \"tiles\": {", d->id, found)) ||
	    (e = write_tiles(b, out)) || (e = write_formats_missing(b, out)))
		return e;
	cache_get_stats(a->cache, &cs);
	cache_hit_rate_text(&cs, rate, sizeof(rate));
	return buf_printf(out, "], \"cache_stats\": {\"cache_hits\": %llu, \"cache_misses\": %llu, "
			  "\"hit_rate\": \"%s\", \"cache_size\": %zu}}",
			  (unsigned long long)cs.hits, (unsigned long long)cs.misses, rate, cs.count);
}

/* prefetch=1: the viewport is the bounding box of the requested tiles at
 * the level most of them are on, in the format most of them asked for. */
static void prefetch_around(struct app *a, const struct dataset *d, const struct batch *b)
{
	unsigned count[TILE_Z_MAX + 1] = {0}, fmts[FMT__COUNT] = {0}, z = 0, f = 0;
	uint32_t x0 = UINT32_MAX, x1 = 0, y0 = UINT32_MAX, y1 = 0;

	for (size_t j = 0; j < b->njobs; j++)
		count[b->jobs[j].key.z]++;
	for (unsigned i = 1; i <= TILE_Z_MAX; i++)
		if (count[i] > count[z])
			z = i;
	if (!count[z])
		return;
	for (size_t j = 0; j < b->njobs; j++) {
		const struct tilekey *k = &b->jobs[j].key;
		if (k->z != z)
			continue;
		fmts[k->fmt]++;
		x0 = k->x < x0 ? k->x : x0;
		x1 = k->x > x1 ? k->x : x1;
		y0 = k->y < y0 ? k->y : y0;
		y1 = k->y > y1 ? k->y : y1;
	}
	for (unsigned i = 1; i < FMT__COUNT; i++)
		if (fmts[i] > fmts[f])
			f = i;
	prefetch_viewport(a->prefetch, d, catalog_index(a->catalog, d), (enum tile_fmt)f, z, x0, x1,
			  y0, y1);
}

static void batch_free(struct batch *b)
{
	ev_timer_stop(b->a->loop, &b->deadline);
	stop_jobs(b);
	for (size_t j = 0; j < b->njobs; j++)
		tile_unref(b->jobs[j].tile);
	free(b->jobs);
	free(b->ents);
	free(b->spec_set);
	free(b);
}

/* Tiles delivered, by source (a job answered from memory before any
 * lookup keeps its zeroed lookup: SRC_MEMORY). */
static void count_sources(const struct batch *b)
{
	for (size_t j = 0; j < b->njobs; j++)
		if (b->jobs[j].tile)
			metrics_count(b->a->metrics, MET_TILES_SERVED, (unsigned)b->jobs[j].lk.src, 0);
}

/* Every job is done, or the deadline passed: the answer, then the caller. */
static void complete(struct batch *b)
{
	void (*done)(void *, enum ap_err) = b->done;
	void *ud = b->ud;
	struct buf out;
	enum ap_err e;

	stop_jobs(b);
	buf_init(&out, BATCH_RESPONSE_MAX + 64 * 1024);
	e = write_json(b->a, b->d, b, &out);
	if (!e) {
		response_header(b->res, "Cache-Control", "no-store");
		response_json(b->res, 200, &out);
		count_sources(b);
		if (b->prefetch)
			prefetch_around(b->a, b->d, b);
	}
	buf_free(&out);
	batch_free(b);
	done(ud, e);
}

static void on_deadline(struct ev_timer *t)
{
	complete(t->ud);
}

void batch_start(struct app *a, struct request *req, struct response *res,
		 const struct dataset *d, void (*done)(void *ud, enum ap_err e), void *ud,
		 struct batch **out)
{
	struct batch *b = calloc(1, sizeof(*b));
	enum ap_err e;

	*out = NULL;
	if (!b) {
		done(ud, AP_ERR_NOMEM);
		return;
	}
	b->a = a;
	b->req = req;
	b->res = res;
	b->d = d;
	b->done = done;
	b->ud = ud;
	e = parse_entries(b, a, req);
	if (!e)
		e = make_jobs(b, a, d);
	if (!e)
		e = ev_timer_start(a->loop, &b->deadline, a->cfg.batch_timeout_ms, on_deadline, b);
	if (e) {
		batch_free(b);
		done(ud, e);
		return;
	}
	metrics_observe(a->metrics, MET_BATCH_TILES, 0, b->n);
	b->starting = true;
	start_jobs(b, a);
	b->starting = false;
	if (b->npending == 0) {
		complete(b);
		return;
	}
	*out = b;
}

void batch_cancel(struct batch *b)
{
	if (b)
		batch_free(b);
}
