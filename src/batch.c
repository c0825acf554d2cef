/*
 * batch.c - the batch endpoint: parse, dedupe, fetch misses in parallel,
 * answer one JSON document with base64 tiles written straight into it.
 *
 * Every distinct tile is one job. Jobs that hit the cache are done at once;
 * the others each run a store lookup (format fallback chained inside it) on
 * the shared engine. The engine is driven until every job is done or the
 * batch deadline passes; lookups still running then are cancelled and their
 * tiles reported null and missing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "batch.h"
#include "api.h"
#include "base64.h"
#include "cache.h"
#include "config.h"
#include "engine.h"
#include "prefetch.h"
#include "store.h"

struct job {
	struct tilekey key;
	struct lookup lk;
	struct tile *tile;
	bool pending;
	unsigned *npending;
};

struct entry {
	char spec[TILE_SPEC_MAX + 1];	/* exactly as requested (decoded) */
	struct job *job;		/* NULL: outside the grid */
};

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_job_done(struct lookup *lk, void *ud)
{
	struct job *j = ud;

	j->tile = lk->tile;	/* NULL when not found or failed */
	lk->tile = NULL;
	j->pending = false;
	(*j->npending)--;
}

static enum ap_err parse_entries(const struct app *a, struct request *req, struct entry **out,
				 size_t *nout, bool *prefetch)
{
	const char *cur = req->query;
	char name[32], value[REQ_PARAM_VALUE_MAX];
	size_t n = 0, vlen, max = (size_t)a->cfg.batch_max_tiles, params = 0;
	struct entry *ents;
	enum ap_err e;

	ents = calloc(max, sizeof(*ents));
	if (!ents)
		return AP_ERR_NOMEM;
	*prefetch = false;
	while ((e = query_next(&cur, name, sizeof(name), value, sizeof(value), &vlen)) !=
	       AP_ERR_NOT_FOUND) {
		struct tilekey k;

		if (++params > REQ_QUERY_PARAMS_MAX) {
			e = request_fail(req, AP_ERR_BAD_REQUEST, "more than %d query parameters",
					 REQ_QUERY_PARAMS_MAX);
			goto fail;
		}
		if (e) {
			e = request_fail(req, AP_ERR_BAD_REQUEST, "malformed query parameter #%zu", params);
			goto fail;
		}
		if (strcmp(name, "prefetch") == 0) {
			*prefetch = strcmp(value, "1") == 0 || strcmp(value, "true") == 0;
			continue;
		}
		if (strcmp(name, "tiles") != 0)
			continue;	/* token and cache-busters are not ours */
		if (n == max) {
			e = request_fail(req, AP_ERR_BAD_REQUEST,
					 "too many tiles: entry #%zu '%.*s' exceeds the limit of %zu "
					 "(BATCH_MAX_TILES)", n + 1, TILE_SPEC_MAX,
					 vlen <= TILE_SPEC_MAX ? value : "(long)", max);
			goto fail;
		}
		if (vlen > TILE_SPEC_MAX || tk_parse_spec(value, vlen, &k)) {
			/* name the entry, but never echo more than a short, printable part */
			char shown[TILE_SPEC_MAX + 1];
			size_t l = vlen < TILE_SPEC_MAX ? vlen : TILE_SPEC_MAX;
			for (size_t i = 0; i < l; i++)
				shown[i] = (value[i] >= 0x20 && value[i] < 0x7f) ? value[i] : '?';
			shown[l] = '\0';
			e = request_fail(req, AP_ERR_BAD_REQUEST,
					 "malformed tile entry #%zu '%s%s' (expected z/x/y.ext with ext "
					 "jpg, jpeg, png or webp)", n + 1, shown, vlen > l ? "..." : "");
			goto fail;
		}
		{
			/* the same string twice is one key of the answer */
			bool dup = false;
			for (size_t i = 0; i < n && !dup; i++)
				dup = strcmp(ents[i].spec, value) == 0;
			if (dup)
				continue;
		}
		memcpy(ents[n].spec, value, vlen + 1);
		n++;
	}
	if (n == 0) {
		e = request_fail(req, AP_ERR_BAD_REQUEST,
				 "no tiles requested: use ?tiles=z/x/y.ext&tiles=...");
		goto fail;
	}
	*out = ents;
	*nout = n;
	return AP_OK;
fail:
	free(ents);
	return e;
}

static enum ap_err write_json(struct app *a, const struct dataset *d, struct entry *ents,
			      size_t n, struct buf *b)
{
	struct cache_stats cs;
	size_t found = 0, budget = BATCH_RESPONSE_MAX;
	char rate[16];
	bool first;
	enum ap_err e;

	/* decide which tiles fit, then write: the size is known before any byte */
	for (size_t i = 0; i < n; i++) {
		struct job *j = ents[i].job;
		size_t need;
		if (!j || !j->tile)
			continue;
		need = b64_encoded_len(j->tile->len) + 2 * TILE_SPEC_MAX + 16;
		if (need > budget) {
			ents[i].job = NULL;	/* over the response bound: missing */
			continue;
		}
		budget -= need;
		found++;
	}
	if ((e = buf_printf(b, "{\"dataset_id\": %u, \"count\": %zu, \"tiles\": {", d->id, found)))
		return e;
	/* keys passed the tile grammar: digits, '/', '.', letters; no escaping */
	first = true;
	for (size_t i = 0; i < n; i++) {
		struct job *j = ents[i].job;
		if ((e = buf_printf(b, "%s\"%s\": ", first ? "" : ", ", ents[i].spec)))
			return e;
		first = false;
		if (j && j->tile) {
			size_t len = b64_encoded_len(j->tile->len);
			if ((e = buf_reserve(b, len + 2)))
				return e;
			b->data[b->len++] = '"';
			b64_encode(j->tile->data, j->tile->len, b->data + b->len);
			b->len += len;
			b->data[b->len++] = '"';
			b->data[b->len] = '\0';
		} else if ((e = buf_adds(b, "null"))) {
			return e;
		}
	}
	if ((e = buf_adds(b, "}, \"formats\": {")))
		return e;
	first = true;
	for (size_t i = 0; i < n; i++) {
		struct job *j = ents[i].job;
		int fmt;

		if (!j || !j->tile)
			continue;
		fmt = tk_sniff(j->tile->data, j->tile->len);
		if (fmt < 0)
			fmt = j->tile->key.fmt;
		if ((e = buf_printf(b, "%s\"%s\": \"%s\"", first ? "" : ", ", ents[i].spec,
				    tk_fmt_ext((enum tile_fmt)fmt))))
			return e;
		first = false;
	}
	if ((e = buf_adds(b, "}, \"missing\": [")))
		return e;
	first = true;
	for (size_t i = 0; i < n; i++) {
		struct job *j = ents[i].job;
		if (j && j->tile)
			continue;
		if ((e = buf_printf(b, "%s\"%s\"", first ? "" : ", ", ents[i].spec)))
			return e;
		first = false;
	}
	memset(&cs, 0, sizeof(cs));
	if (a->cache)
		cache_get_stats(a->cache, &cs);
	api_hit_rate(cs.hits, cs.requests, rate, sizeof(rate));
	return buf_printf(b, "], \"cache_stats\": {\"cache_hits\": %llu, \"cache_misses\": %llu, "
			  "\"hit_rate\": \"%s\", \"cache_size\": %zu}}",
			  (unsigned long long)cs.hits, (unsigned long long)cs.misses, rate, cs.count);
}

/* prefetch=1: the viewport is the bounding box of the requested tiles at
 * the level most of them are on. */
static void prefetch_around(struct app *a, const struct dataset *d, const struct job *jobs,
			    size_t njobs)
{
	unsigned count[TILE_Z_MAX + 1] = {0}, z = 0;
	uint32_t x0 = UINT32_MAX, x1 = 0, y0 = UINT32_MAX, y1 = 0;

	for (size_t j = 0; j < njobs; j++)
		count[jobs[j].key.z]++;
	for (unsigned i = 1; i <= TILE_Z_MAX; i++)
		if (count[i] > count[z])
			z = i;
	if (!count[z])
		return;
	for (size_t j = 0; j < njobs; j++) {
		const struct tilekey *k = &jobs[j].key;
		if (k->z != z)
			continue;
		x0 = k->x < x0 ? k->x : x0;
		x1 = k->x > x1 ? k->x : x1;
		y0 = k->y < y0 ? k->y : y0;
		y1 = k->y > y1 ? k->y : y1;
	}
	if (x1 - x0 < PREFETCH_VIEWPORT_MAX && y1 - y0 < PREFETCH_VIEWPORT_MAX)
		prefetch_viewport(a->prefetch, d, z, x0, x1, y0, y1);
}

enum ap_err batch_handle(struct app *a, struct request *req, const struct dataset *d,
			 struct response *res)
{
	struct entry *ents = NULL;
	struct job *jobs = NULL;
	size_t n = 0, njobs = 0;
	unsigned npending = 0;
	bool want_prefetch;
	long long deadline;
	struct buf b;
	enum ap_err e;

	e = parse_entries(a, req, &ents, &n, &want_prefetch);
	if (e)
		return e;
	jobs = calloc(n, sizeof(*jobs));
	if (!jobs) {
		free(ents);
		return AP_ERR_NOMEM;
	}
	/* one job per distinct tile ("0/0/0.jpg" and "0/0/0.jpeg" are one) */
	for (size_t i = 0; i < n; i++) {
		struct tilekey k;
		if (tk_parse_spec(ents[i].spec, strlen(ents[i].spec), &k))
			continue;	/* parsed once already */
		k.dataset = d->id;
		if (!dataset_has_tile(d, &k))
			continue;	/* outside the grid: missing */
		for (size_t j = 0; j < njobs && !ents[i].job; j++)
			if (!memcmp(&jobs[j].key, &k, sizeof(k)))
				ents[i].job = &jobs[j];
		if (ents[i].job)
			continue;
		jobs[njobs].key = k;
		ents[i].job = &jobs[njobs++];
	}
	/* hits first, so that the misses' fetches cannot evict them */
	for (size_t j = 0; j < njobs; j++) {
		jobs[j].tile = store_cached(a->store, &jobs[j].key);
		if (a->cache)
			cache_note(a->cache, jobs[j].tile != NULL);
	}
	deadline = mono_ms() + a->cfg.batch_timeout_ms;
	for (size_t j = 0; j < njobs; j++) {
		if (jobs[j].tile)
			continue;
		jobs[j].pending = true;
		jobs[j].npending = &npending;
		jobs[j].lk.want = jobs[j].key;
		jobs[j].lk.done = on_job_done;
		jobs[j].lk.ud = &jobs[j];
		npending++;
		store_lookup_start(a->store, &jobs[j].lk);
	}
	while (npending > 0) {
		long long left = deadline - mono_ms();
		if (left <= 0)
			break;
		engine_run(store_engine(a->store), (int)(left < 1000 ? left : 1000), NULL, 0);
	}
	for (size_t j = 0; j < njobs; j++)
		if (jobs[j].pending) {
			store_lookup_cancel(&jobs[j].lk);
			jobs[j].pending = false;
		}

	buf_init(&b, BATCH_RESPONSE_MAX + 64 * 1024);
	e = write_json(a, d, ents, n, &b);
	if (!e) {
		response_header(res, "Cache-Control", "no-store");
		response_json(res, 200, &b);
		if (want_prefetch)
			prefetch_around(a, d, jobs, njobs);
	}
	for (size_t j = 0; j < njobs; j++)
		tile_unref(jobs[j].tile);
	buf_free(&b);
	free(jobs);
	free(ents);
	return e;
}
