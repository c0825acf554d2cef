/*
 * store.c - memory -> bucket -> local lookups with format fallback and a
 * circuit breaker; see store.h for the contract.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "store.h"
#include "cache.h"
#include "config.h"
#include "engine.h"
#include "local.h"
#include "log.h"
#include "s3.h"

/* Log a storage failure at most this often, so a dead bucket under load
 * does not flood the web server's log. */
#define STORE_LOG_INTERVAL_S 10

struct store {
	const struct config *cfg;
	struct cache *cache;
	struct engine *engine;	/* NULL without a bucket */
	struct s3 *s3;
	unsigned failures;
	time_t open_until;
	time_t last_log;
	char last_error[160];
	struct buf scratch;	/* local reads */
};

const char *tile_source_name(enum tile_source s)
{
	switch (s) {
	case SRC_MEMORY: return "memory-cache";
	case SRC_R2: return "r2";
	default: return "local";
	}
}

enum ap_err store_new(const struct config *c, struct cache *cache, struct engine *engine,
		      struct store **out)
{
	struct store *st = calloc(1, sizeof(*st));
	enum ap_err e;

	if (!st)
		return AP_ERR_NOMEM;
	st->cfg = c;
	st->cache = cache;
	st->engine = c->use_s3 ? engine : NULL;
	buf_init(&st->scratch, TILE_MAX_BYTES);
	if (st->engine) {
		e = s3_new(c, &st->s3);
		if (e) {
			free(st);
			return e;
		}
	}
	*out = st;
	return AP_OK;
}

void store_free(struct store *st)
{
	if (!st)
		return;
	s3_free(st->s3);
	buf_free(&st->scratch);
	free(st);
}

struct engine *store_engine(struct store *st)
{
	return st->engine;
}

/* ---- circuit breaker ---------------------------------------------------- */

static bool bucket_usable(struct store *st)
{
	time_t now;

	if (!st->engine)
		return false;
	if (st->open_until == 0)
		return true;
	now = time(NULL);
	if (now >= st->open_until) {
		/* half-open: let requests through; one success closes it */
		return true;
	}
	return false;
}

static void bucket_ok(struct store *st)
{
	if (st->open_until)
		log_info("bucket answers again; circuit closed");
	st->failures = 0;
	st->open_until = 0;
}

static void bucket_failed(struct store *st, const char *what, const char *why)
{
	time_t now = time(NULL);

	snprintf(st->last_error, sizeof(st->last_error), "%s: %s", what, why);
	st->failures++;
	if (now - st->last_log >= STORE_LOG_INTERVAL_S) {
		log_error("bucket request failed (%s): %s", what, why);
		st->last_log = now;
	}
	if (st->failures >= (unsigned)st->cfg->breaker_failures &&
	    (st->open_until == 0 || now >= st->open_until)) {
		st->open_until = now + st->cfg->breaker_cooldown_s;
		log_warn("bucket failed %u times in a row: skipped for %ld s, local tree serves",
			 st->failures, st->cfg->breaker_cooldown_s);
	}
}

void store_health(struct store *st, struct store_health *h)
{
	memset(h, 0, sizeof(*h));
	h->bucket_configured = st->engine != NULL;
	h->bucket_open = st->open_until && time(NULL) < st->open_until;
	h->failures = st->failures;
	h->retry_at = st->open_until;
	snprintf(h->last_error, sizeof(h->last_error), "%s", st->last_error);
	h->local_configured = st->cfg->local_dir != NULL;
	h->local_ok = local_ok(st->cfg->local_dir);
}

/* ---- lookups ------------------------------------------------------------ */

struct tile *store_cached(struct store *st, const struct tilekey *want)
{
	enum tile_fmt order[FMT__COUNT];
	struct tilekey k = *want;
	struct tile *t;

	if (!st->cache)
		return NULL;
	tk_fallback_order((enum tile_fmt)want->fmt, order);
	for (int i = 0; i < FMT__COUNT; i++) {
		k.fmt = (uint8_t)order[i];
		t = cache_get(st->cache, &k);
		if (t)
			return t;
	}
	return NULL;
}

static void finish(struct lookup *lk, enum ap_err err, struct tile *t, enum tile_source src)
{
	struct store *st = lk->st;

	lk->x = NULL;
	lk->err = err;
	lk->tile = t;
	lk->src = src;
	if (t && st->cache) {
		/* refused when too big or fetched across a cache-clear: still served */
		if (cache_put(st->cache, t, lk->gen) && lk->prefetch)
			cache_note_prefetch(st->cache, t);
	}
	lk->done(lk, lk->ud);
}

static struct tile *make_tile(struct lookup *lk, enum tile_fmt fmt, const void *p, size_t n)
{
	struct tilekey k = lk->want;

	k.fmt = (uint8_t)fmt;
	return tile_new(&k, p, n);
}

static void local_phase(struct lookup *lk)
{
	struct store *st = lk->st;
	struct tilekey k = lk->want;
	char key[64];
	enum ap_err e;

	for (int i = 0; i < FMT__COUNT && st->cfg->local_dir; i++) {
		k.fmt = (uint8_t)lk->order[i];
		tk_object_key(&k, key, sizeof(key));
		e = local_read(st->cfg->local_dir, key, TILE_MAX_BYTES, &st->scratch);
		if (e == AP_ERR_NOT_FOUND)
			continue;
		if (e) {
			log_error("local %s: %s", key, e == AP_ERR_TOO_LARGE ?
				  "larger than the tile limit" : "read failed");
			continue;
		}
		struct tile *t = make_tile(lk, lk->order[i], st->scratch.data, st->scratch.len);
		finish(lk, t ? AP_OK : AP_ERR_NOMEM, t, SRC_LOCAL);
		return;
	}
	finish(lk, lk->bucket_err ? lk->bucket_err : AP_ERR_NOT_FOUND, NULL, SRC_LOCAL);
}

/* A bucket answer that is neither 200 nor 404, explained for the log. */
static void bucket_http_failed(struct store *st, const char *what, long status)
{
	char why[160];

	if (status == 401 || status == 403)
		snprintf(why, sizeof(why), "HTTP %ld: access denied (check AWS_ACCESS_KEY_ID, "
			 "AWS_SECRET_ACCESS_KEY and the bucket's permissions)", status);
	else
		snprintf(why, sizeof(why), "HTTP %ld", status);
	bucket_failed(st, what, why);
}

static void bucket_step(struct lookup *lk);

static void on_bucket_done(struct xfer_result *res, void *ud)
{
	struct lookup *lk = ud;
	struct store *st = lk->st;
	char what[96];

	lk->x = NULL;
	snprintf(what, sizeof(what), "GET tiles/%u/%u/%u/%u.%s", lk->want.dataset,
		 (unsigned)lk->want.z, lk->want.x, lk->want.y, tk_fmt_ext(lk->order[lk->step]));
	if (res->err) {
		bucket_failed(st, what, res->error);
		lk->bucket_err = res->err == AP_ERR_TIMEOUT ? AP_ERR_TIMEOUT : AP_ERR_STORAGE;
		local_phase(lk);
		return;
	}
	if (res->status == 200) {
		bucket_ok(st);
		struct tile *t = make_tile(lk, lk->order[lk->step], res->body.data, res->body.len);
		finish(lk, t ? AP_OK : AP_ERR_NOMEM, t, SRC_R2);
		return;
	}
	if (res->status == 404) {
		bucket_ok(st);
		lk->step++;
		bucket_step(lk);
		return;
	}
	bucket_http_failed(st, what, res->status);
	lk->bucket_err = AP_ERR_STORAGE;
	local_phase(lk);
}

static void bucket_step(struct lookup *lk)
{
	struct store *st = lk->st;
	struct tilekey k = lk->want;
	struct s3_req *req;
	char key[64];
	enum ap_err e;

	if (lk->step >= FMT__COUNT) {
		local_phase(lk);
		return;
	}
	if (!bucket_usable(st)) {
		/* skipped, not asked: a tile missing locally may still be there */
		if (st->engine)
			lk->bucket_err = AP_ERR_STORAGE;
		local_phase(lk);
		return;
	}
	k.fmt = (uint8_t)lk->order[lk->step];
	tk_object_key(&k, key, sizeof(key));
	req = malloc(sizeof(*req));
	e = req ? s3_prepare(st->s3, req, "GET", key, NULL, NULL, 0, NULL, NULL, 0) : AP_ERR_NOMEM;
	if (!e) {
		req->spec.max_body = TILE_MAX_BYTES;
		req->spec.timeout_ms = st->cfg->request_timeout_ms;
		req->spec.max_retries = (int)st->cfg->max_retries;
		req->spec.require_length = true;
		e = engine_submit(st->engine, &req->spec, on_bucket_done, lk, &lk->x);
	}
	free(req);
	if (e) {
		lk->bucket_err = AP_ERR_STORAGE;
		local_phase(lk);
	}
}

void store_lookup_start(struct store *st, struct lookup *lk)
{
	lk->st = st;
	lk->x = NULL;
	lk->tile = NULL;
	lk->err = AP_OK;
	lk->step = 0;
	lk->bucket_err = AP_OK;
	lk->gen = st->cache ? cache_gen(st->cache, lk->want.dataset) : 0;
	tk_fallback_order((enum tile_fmt)lk->want.fmt, lk->order);
	bucket_step(lk);
}

void store_lookup_cancel(struct lookup *lk)
{
	if (lk->x)
		engine_cancel(lk->st->engine, lk->x);
	lk->x = NULL;
}

struct wait {
	bool done;
};

static void on_wait_done(struct lookup *lk, void *ud)
{
	(void)lk;
	((struct wait *)ud)->done = true;
}

enum ap_err store_get_tile(struct store *st, const struct tilekey *want, struct tile **out,
			   enum tile_source *src)
{
	struct wait w = {false};
	struct lookup lk;

	*out = store_cached(st, want);
	if (*out) {
		*src = SRC_MEMORY;
		return AP_OK;
	}
	memset(&lk, 0, sizeof(lk));
	lk.want = *want;
	lk.done = on_wait_done;
	lk.ud = &w;
	store_lookup_start(st, &lk);
	/* the engine enforces the transfer deadline, so this loop ends */
	while (!w.done)
		engine_run(st->engine, 1000, NULL, 0);
	*out = lk.tile;
	*src = lk.src;
	return lk.err;
}

/* ---- small objects ------------------------------------------------------ */

struct obj_wait {
	bool done;
	struct xfer_result res;
};

static void on_obj_done(struct xfer_result *res, void *ud)
{
	struct obj_wait *w = ud;

	w->done = true;
	w->res = *res;
	buf_init(&res->body, 0);	/* stolen */
}

enum ap_err store_get_object(struct store *st, const char *key, size_t max, struct buf *out)
{
	struct obj_wait w;
	struct s3_req *req;
	enum ap_err e = AP_ERR_NOT_FOUND;

	memset(&w, 0, sizeof(w));
	if (st->engine && !bucket_usable(st))
		e = AP_ERR_STORAGE;	/* skipped during the cool-down */
	else if (bucket_usable(st)) {
		req = malloc(sizeof(*req));
		e = req ? s3_prepare(st->s3, req, "GET", key, NULL, NULL, 0, NULL, NULL, 0) : AP_ERR_NOMEM;
		if (!e) {
			req->spec.max_body = max;
			req->spec.timeout_ms = st->cfg->request_timeout_ms;
			req->spec.max_retries = (int)st->cfg->max_retries;
			req->spec.require_length = true;
			e = engine_submit(st->engine, &req->spec, on_obj_done, &w, NULL);
		}
		free(req);
		while (!e && !w.done)
			engine_run(st->engine, 1000, NULL, 0);
		if (!e && w.res.err) {
			bucket_failed(st, key, w.res.error);
			e = w.res.err == AP_ERR_TIMEOUT ? AP_ERR_TIMEOUT : AP_ERR_STORAGE;
		} else if (!e && w.res.status == 200) {
			bucket_ok(st);
			buf_free(out);
			*out = w.res.body;
			return AP_OK;
		} else if (!e && w.res.status == 404) {
			bucket_ok(st);
			e = AP_ERR_NOT_FOUND;
		} else if (!e) {
			bucket_http_failed(st, key, w.res.status);
			e = AP_ERR_STORAGE;
		}
		buf_free(&w.res.body);
	}
	if (st->cfg->local_dir) {
		enum ap_err le = local_read(st->cfg->local_dir, key, max, out);
		if (le != AP_ERR_NOT_FOUND || e == AP_ERR_NOT_FOUND)
			return le;
	}
	return e;
}
