/*
 * store.c - the per-format walk memory -> bucket -> local, the bucket's
 * circuit breaker and the deferred local steps of background lookups; see
 * store.h for the contract.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "store.h"
#include "breaker.h"
#include "cache.h"
#include "clock.h"
#include "config.h"
#include "engine.h"
#include "local.h"
#include "log.h"
#include "s3.h"

/* Log a storage failure at most this often, so a dead bucket under load
 * does not flood the web server's log. */
#define STORE_LOG_INTERVAL_MS 10000

struct store {
	const struct config *cfg;
	struct cache *cache;
	struct engine *engine;	/* NULL without a bucket */
	struct s3 *s3;
	struct breaker breaker;
	long long last_log_ms;
	char last_error[160];
	struct lookup *deferred_head, *deferred_tail;
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
	breaker_init(&st->breaker, (unsigned)c->breaker_failures, c->breaker_cooldown_s * 1000);
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

/* ---- the bucket's health --------------------------------------------------- */

static void note_error(struct store *st, const char *what, const char *why)
{
	long long now = clock_ms();

	/* truncation is fine: it is a hint for humans */
	snprintf(st->last_error, sizeof(st->last_error), "%.60s: %.96s", what, why);
	if (now - st->last_log_ms >= STORE_LOG_INTERVAL_MS || st->last_log_ms == 0) {
		log_error("bucket request failed (%s): %s", what, why);
		st->last_log_ms = now;
	}
}

/* What one finished bucket request says about the bucket (breaker.h). */
static enum breaker_outcome judge(const struct xfer_result *r)
{
	switch (r->cls) {
	case XC_SERVICE: return BREAKER_FAILURE;
	case XC_LOCAL: return BREAKER_NEUTRAL;
	case XC_OBJECT: return BREAKER_SUCCESS;	/* it answered, about one object */
	case XC_OK: break;
	}
	return r->status >= 500 || r->status == 429 ? BREAKER_FAILURE : BREAKER_SUCCESS;
}

static void report(struct store *st, const struct xfer_result *r, bool probe, const char *what)
{
	enum breaker_outcome o = judge(r);
	char why[160];

	if (r->err)
		note_error(st, what, r->error);
	else if (r->status == 401 || r->status == 403)
		note_error(st, what, r->status == 401 ? "HTTP 401: access denied (check "
			   "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the bucket's permissions)" :
			   "HTTP 403: access denied (check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY "
			   "and the bucket's permissions)");
	else if (r->status != 200 && r->status != 404) {
		snprintf(why, sizeof(why), "HTTP %ld", r->status);
		note_error(st, what, why);
	}
	if (!breaker_report(&st->breaker, o, probe))
		return;
	if (breaker_state(&st->breaker) == BREAKER_CLOSED)
		log_info("bucket answers again; circuit closed");
	else
		log_warn("bucket failed %u times in a row: skipped for %ld s, local tree serves",
			 st->breaker.failures, st->cfg->breaker_cooldown_s);
}

void store_health(struct store *st, struct store_health *h)
{
	memset(h, 0, sizeof(*h));
	h->bucket_configured = st->engine != NULL;
	h->bucket_open = st->engine && breaker_state(&st->breaker) != BREAKER_CLOSED;
	h->failures = st->breaker.failures;
	h->retry_in_ms = breaker_retry_in_ms(&st->breaker);
	snprintf(h->last_error, sizeof(h->last_error), "%s", st->last_error);
	h->local_configured = st->cfg->local_dir != NULL;
	h->local_ok = local_ok(st->cfg->local_dir);
}

/* A prepared GET of key on the engine; its callback gets ud. */
static enum ap_err bucket_get(struct store *st, const char *key, size_t max, bool background,
			      xfer_done_fn done, void *ud, struct xfer **out)
{
	struct s3_req *req = malloc(sizeof(*req));
	enum ap_err e;

	if (!req)
		return AP_ERR_NOMEM;
	e = s3_prepare(st->s3, req, "GET", key, NULL, NULL, 0, NULL, NULL, 0);
	if (!e) {
		req->spec.max_body = max;
		req->spec.timeout_ms = st->cfg->request_timeout_ms;
		req->spec.max_retries = (int)st->cfg->max_retries;
		req->spec.require_length = true;
		req->spec.background = background;
		e = engine_submit(st->engine, &req->spec, done, ud, out);
	}
	free(req);
	return e;
}

/* ---- the walk ---------------------------------------------------------------- */

static void walk(struct lookup *lk);

static struct tilekey current_key(const struct lookup *lk)
{
	struct tilekey k = lk->want;

	k.fmt = (uint8_t)lk->order[lk->step];
	return k;
}

static void finish(struct lookup *lk, enum ap_err err, struct tile *t, enum tile_source src)
{
	struct store *st = lk->st;

	lk->x = NULL;
	lk->err = err;
	lk->tile = t;
	lk->src = src;
	if (t && src != SRC_MEMORY) {
		/* refused when too big or fetched across a cache-clear: still served */
		if (cache_put(st->cache, t, lk->gen) && lk->background)
			cache_note_prefetch(st->cache, t);
	}
	lk->done(lk, lk->ud);
}

static void found(struct lookup *lk, const void *p, size_t n, enum tile_source src)
{
	struct tilekey k = current_key(lk);
	struct tile *t = tile_new(&k, p, n);

	finish(lk, t ? AP_OK : AP_ERR_NOMEM, t, src);
}

/* The current format is done with and not found: on to the next. */
static void next_format(struct lookup *lk, bool proven_absent)
{
	struct tilekey k = current_key(lk);

	if (proven_absent)
		cache_put_absent(lk->st->cache, &k, lk->gen);
	lk->step++;
	walk(lk);
}

static void local_step(struct lookup *lk)
{
	struct store *st = lk->st;
	struct tilekey k = current_key(lk);
	bool asked_bucket = lk->bucket_absent || !st->engine;
	char key[64];
	enum ap_err e = AP_ERR_NOT_FOUND;

	lk->asked = true;
	if (st->cfg->local_dir) {
		tk_object_key(&k, key, sizeof(key));
		e = local_read(st->cfg->local_dir, key, TILE_MAX_BYTES, &st->scratch);
		if (e == AP_OK) {
			found(lk, st->scratch.data, st->scratch.len, SRC_LOCAL);
			return;
		}
		if (e != AP_ERR_NOT_FOUND)
			log_error("local %s: %s", key, e == AP_ERR_TOO_LARGE ?
				  "larger than the tile limit" : "read failed");
	}
	/* absent only if every configured storage said so */
	next_format(lk, asked_bucket && e == AP_ERR_NOT_FOUND);
}

static void defer_local(struct lookup *lk)
{
	struct store *st = lk->st;

	lk->deferred = true;
	lk->next_deferred = NULL;
	if (st->deferred_tail)
		st->deferred_tail->next_deferred = lk;
	else
		st->deferred_head = lk;
	st->deferred_tail = lk;
}

static void local_phase(struct lookup *lk)
{
	if (lk->background && lk->st->cfg->local_dir)
		defer_local(lk);
	else
		local_step(lk);
}

static void on_bucket_done(struct xfer_result *res, void *ud)
{
	struct lookup *lk = ud;
	struct store *st = lk->st;
	struct tilekey k = current_key(lk);
	char what[96];

	lk->x = NULL;
	snprintf(what, sizeof(what), "GET tiles/%u/%u/%u/%u.%s", k.dataset, (unsigned)k.z, k.x, k.y,
		 tk_fmt_ext((enum tile_fmt)k.fmt));
	report(st, res, lk->bucket_probe, what);
	lk->bucket_probe = false;
	if (!res->err && res->status == 200) {
		found(lk, res->body.data, res->body.len, SRC_R2);
		return;
	}
	if (!res->err && res->status == 404) {
		lk->bucket_absent = true;
	} else {
		lk->bucket_down = true;
		lk->bucket_err = res->err == AP_ERR_TIMEOUT && res->cls == XC_SERVICE ?
				 AP_ERR_TIMEOUT : AP_ERR_STORAGE;
	}
	local_phase(lk);
}

/* Asks the bucket for the current format; false if it cannot be asked. */
static bool bucket_step(struct lookup *lk)
{
	struct store *st = lk->st;
	struct tilekey k = current_key(lk);
	char key[64];

	if (!st->engine)
		return false;
	if (lk->bucket_down || !breaker_allow(&st->breaker, &lk->bucket_probe)) {
		/* skipped, not asked: the format stays unknown */
		if (!lk->bucket_err)
			lk->bucket_err = AP_ERR_STORAGE;
		return false;
	}
	tk_object_key(&k, key, sizeof(key));
	lk->asked = true;
	if (bucket_get(st, key, TILE_MAX_BYTES, lk->background, on_bucket_done, lk, &lk->x)) {
		breaker_report(&st->breaker, BREAKER_NEUTRAL, lk->bucket_probe);
		lk->bucket_probe = false;
		lk->bucket_down = true;
		lk->bucket_err = AP_ERR_STORAGE;
		return false;
	}
	return true;
}

/* Formats in order: memory answers what it knows, storage the rest. */
static void walk(struct lookup *lk)
{
	struct tile *t;

	for (; lk->step < FMT__COUNT; lk->step++) {
		struct tilekey k = current_key(lk);

		switch (cache_probe(lk->st->cache, &k, &t)) {
		case CACHE_PRESENT:
			finish(lk, AP_OK, t, SRC_MEMORY);
			return;
		case CACHE_ABSENT:
			continue;
		case CACHE_UNKNOWN:
			break;
		}
		lk->bucket_absent = false;
		if (!bucket_step(lk))
			local_phase(lk);
		return;	/* the walk goes on from the callback or the local step */
	}
	/* every format proven absent, or some unknown because storage failed */
	finish(lk, lk->bucket_err ? lk->bucket_err : AP_ERR_NOT_FOUND, NULL,
	       lk->asked ? SRC_LOCAL : SRC_MEMORY);
}

void store_lookup_start(struct store *st, struct lookup *lk)
{
	lk->st = st;
	lk->x = NULL;
	lk->tile = NULL;
	lk->err = AP_OK;
	lk->src = SRC_MEMORY;
	lk->step = 0;
	lk->bucket_down = lk->bucket_probe = lk->bucket_absent = lk->deferred = false;
	lk->asked = false;
	lk->bucket_err = AP_OK;
	lk->gen = cache_gen(st->cache, lk->want.dataset);
	tk_fallback_order((enum tile_fmt)lk->want.fmt, lk->order);
	walk(lk);
}

void store_lookup_cancel(struct lookup *lk)
{
	struct store *st = lk->st;

	if (lk->x)
		engine_cancel(st->engine, lk->x);
	lk->x = NULL;
	if (lk->bucket_probe)
		breaker_report(&st->breaker, BREAKER_NEUTRAL, true);
	lk->bucket_probe = false;
	if (lk->deferred) {
		struct lookup **pp = &st->deferred_head, *prev = NULL;

		while (*pp && *pp != lk) {
			prev = *pp;
			pp = &(*pp)->next_deferred;
		}
		if (*pp)
			*pp = lk->next_deferred;
		if (st->deferred_tail == lk)
			st->deferred_tail = prev;
		lk->deferred = false;
	}
}

bool store_idle_step(struct store *st)
{
	struct lookup *lk = st->deferred_head;

	if (!lk)
		return false;
	st->deferred_head = lk->next_deferred;
	if (!st->deferred_head)
		st->deferred_tail = NULL;
	lk->deferred = false;
	local_step(lk);
	return st->deferred_head != NULL;
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

/* The bucket's answer for key: AP_OK (out filled), NOT_FOUND, or why not. */
static enum ap_err bucket_object(struct store *st, const char *key, size_t max, struct buf *out)
{
	struct obj_wait w;
	bool probe = false;
	enum ap_err e;

	memset(&w, 0, sizeof(w));
	if (!breaker_allow(&st->breaker, &probe))
		return AP_ERR_STORAGE;	/* skipped during the cool-down */
	e = bucket_get(st, key, max, false, on_obj_done, &w, NULL);
	if (e) {
		breaker_report(&st->breaker, BREAKER_NEUTRAL, probe);
		return AP_ERR_STORAGE;
	}
	while (!w.done)
		engine_run(st->engine, 1000, NULL, 0);
	report(st, &w.res, probe, key);
	if (w.res.err)
		e = w.res.err == AP_ERR_TIMEOUT && w.res.cls == XC_SERVICE ? AP_ERR_TIMEOUT :
		    w.res.too_large ? AP_ERR_TOO_LARGE :
		    AP_ERR_STORAGE;
	else if (w.res.status == 200) {
		buf_free(out);
		*out = w.res.body;
		return AP_OK;
	} else
		e = w.res.status == 404 ? AP_ERR_NOT_FOUND : AP_ERR_STORAGE;
	buf_free(&w.res.body);
	return e;
}

enum ap_err store_get_object(struct store *st, const char *key, size_t max, struct buf *out)
{
	enum ap_err e = st->engine ? bucket_object(st, key, max, out) : AP_ERR_NOT_FOUND;

	if (e == AP_OK || e == AP_ERR_TOO_LARGE)
		return e;
	if (st->cfg->local_dir) {
		enum ap_err le = local_read(st->cfg->local_dir, key, max, out);
		if (le != AP_ERR_NOT_FOUND || e == AP_ERR_NOT_FOUND)
			return le;
	}
	return e;
}
