/*
 * store.c - the per-format walk memory -> bucket -> local, coalesced by
 * tile; the bucket's circuit breaker; small objects; the deferred local
 * steps of background walks. See store.h for the contract.
 *
 * A walk is found by (dataset, z, x, y, requested format) in a chained
 * table. It holds its own reference to the tile it found, hands one more to
 * every waiter, and is freed once it has delivered: it leaves the table
 * before the first waiter is called, so a waiter that starts a new lookup
 * of the same key from its callback gets a new walk, never a finished one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store.h"
#include "breaker.h"
#include "cache.h"
#include "clock.h"
#include "config.h"
#include "engine.h"
#include "l2.h"
#include "local.h"
#include "log.h"
#include "metrics.h"
#include "s3.h"
#include "tileindex.h"

/* Log a storage failure at most this often, so a dead bucket under load
 * does not flood the web server's log. */
#define STORE_LOG_INTERVAL_MS 10000
#define STORE_WALK_BUCKETS 1024	/* power of two */

struct walk {
	struct store *st;
	struct tilekey want;
	struct walk *hnext;
	struct walk *dprev, *dnext;	/* deferred list */
	struct lookup *waiters;
	struct xfer *x;
	uint64_t gen;
	enum tile_fmt order[FMT__COUNT];
	uint8_t nfmt;		/* formats in order[] */
	uint8_t step;
	bool indexed;		/* order[] is what the tile index lists */
	uint8_t fmts;
	bool background;	/* no foreground lookup waits */
	bool bucket_down;	/* failed in this walk: not asked again */
	bool bucket_probe;	/* this walk's request is the breaker's probe */
	bool bucket_absent;	/* the bucket said 404 for the current format */
	bool deferred;		/* waiting for store_idle_step() */
	long long bucket_t0_us;	/* when its bucket request went out */
	bool asked;		/* storage was asked (else memory answered) */
	bool l2_asked;		/* the shared tier was looked up (or skipped) */
	bool l2_waiting;	/* its lookup is in flight */
	enum ap_err bucket_err;	/* why a format stayed unknown */
	struct l2_wait lw;	/* tiles[]: what the shared tier had, per format */
};

struct store {
	const struct config *cfg;
	struct cache *cache;
	struct engine *engine;	/* NULL without a bucket */
	struct l2 *l2;		/* NULL without Redis */
	struct s3 *s3;
	struct breaker breaker;
	long long last_log_ms;
	char last_error[160];
	struct walk *table[STORE_WALK_BUCKETS];
	unsigned nwalks;
	struct walk *deferred_head, *deferred_tail;
	struct buf scratch;	/* local reads */
	struct metrics *metrics;	/* NULL: not counted */
};

const char *tile_source_name(enum tile_source s)
{
	switch (s) {
	case SRC_MEMORY: return "memory-cache";
	case SRC_REDIS: return "redis";
	case SRC_R2: return "r2";
	default: return "local";
	}
}

enum ap_err store_new(const struct config *c, struct cache *cache, struct engine *engine,
		      struct l2 *l2, struct store **out)
{
	struct store *st = calloc(1, sizeof(*st));
	enum ap_err e;

	if (!st)
		return AP_ERR_NOMEM;
	st->cfg = c;
	st->cache = cache;
	st->l2 = l2;
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

static void walk_free(struct walk *w);

void store_free(struct store *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < STORE_WALK_BUCKETS; i++)
		while (st->table[i])
			walk_free(st->table[i]);
	s3_free(st->s3);
	buf_free(&st->scratch);
	free(st);
}

void store_set_metrics(struct store *st, struct metrics *m)
{
	st->metrics = m;
}

void store_breaker_info(const struct store *st, bool *skipping, unsigned long long *openings)
{
	*skipping = st->engine && breaker_state(&st->breaker) != BREAKER_CLOSED;
	*openings = st->breaker.openings;
}

/* ---- counting storage requests ----------------------------------------------- */

static enum met_outcome bucket_outcome(const struct xfer_result *r)
{
	if (!r->err && r->status == 200)
		return MET_OK;
	if (!r->err && r->status == 404)
		return MET_NOT_FOUND;
	return r->err == AP_ERR_TIMEOUT ? MET_TIMEOUT : MET_ERROR;
}

static void count_bucket(struct store *st, const struct xfer_result *r, long long t0_us)
{
	metrics_count(st->metrics, MET_STORAGE_REQUESTS, MET_BE_R2, bucket_outcome(r));
	metrics_observe(st->metrics, MET_STORAGE_SECONDS, MET_BE_R2,
			(uint64_t)(clock_us() - t0_us));
}

/* local_read() with its count and duration. */
static enum ap_err timed_local_read(struct store *st, const char *key, size_t max, struct buf *out)
{
	long long t0 = clock_us();
	enum ap_err e = local_read(st->cfg->local_dir, key, max, out);

	metrics_count(st->metrics, MET_STORAGE_REQUESTS, MET_BE_LOCAL,
		      e == AP_OK ? MET_OK : e == AP_ERR_NOT_FOUND ? MET_NOT_FOUND : MET_ERROR);
	metrics_observe(st->metrics, MET_STORAGE_SECONDS, MET_BE_LOCAL, (uint64_t)(clock_us() - t0));
	return e;
}

struct engine *store_engine(struct store *st)
{
	return st->engine;
}

unsigned store_walks(const struct store *st)
{
	return st->nwalks;
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
	char why[160];

	if (r->err)
		note_error(st, what, r->error);
	else if (r->status == 401 || r->status == 403) {
		snprintf(why, sizeof(why), "HTTP %ld: access denied (check AWS_ACCESS_KEY_ID, "
			 "AWS_SECRET_ACCESS_KEY and the bucket's permissions)", r->status);
		note_error(st, what, why);
	} else if (r->status != 200 && r->status != 404) {
		snprintf(why, sizeof(why), "HTTP %ld", r->status);
		note_error(st, what, why);
	}
	if (!breaker_report(&st->breaker, judge(r), probe))
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

/* ---- the table of walks --------------------------------------------------------- */

static struct walk **slot_of(struct store *st, const struct tilekey *k)
{
	uint64_t h = ((uint64_t)k->dataset << 32 | (uint64_t)k->z << 24 | k->fmt) * 0x9e3779b97f4a7c15ULL;

	h ^= ((uint64_t)k->x << 32 | k->y) * 0xbf58476d1ce4e5b9ULL;
	return &st->table[(h ^ (h >> 29)) & (STORE_WALK_BUCKETS - 1)];
}

static struct walk *find_walk(struct store *st, const struct lookup *lk)
{
	struct walk *w = *slot_of(st, &lk->want);

	while (w && !(tk_equal(&w->want, &lk->want) && w->indexed == lk->indexed &&
		      (!lk->indexed || w->fmts == lk->fmts)))
		w = w->hnext;
	return w;
}

/* The formats a lookup walks, in order: the fallback order, restricted to
 * what the index lists when there is one. */
static uint8_t lookup_order(const struct lookup *lk, enum tile_fmt order[FMT__COUNT])
{
	enum tile_fmt all[FMT__COUNT];
	uint8_t n = 0;

	tk_fallback_order((enum tile_fmt)lk->want.fmt, all);
	for (int i = 0; i < FMT__COUNT; i++)
		if (!lk->indexed || (lk->fmts & (1u << all[i])))
			order[n++] = all[i];
	return n;
}

void store_lookup_index(struct lookup *lk, const struct tileindex *idx)
{
	lk->indexed = idx != NULL;
	lk->fmts = idx ? (uint8_t)tileindex_lookup(idx, lk->want.z, lk->want.x, lk->want.y) : 0;
}

static void unhash(struct walk *w)
{
	struct walk **pp = slot_of(w->st, &w->want);

	while (*pp && *pp != w)
		pp = &(*pp)->hnext;
	if (*pp) {
		*pp = w->hnext;
		w->st->nwalks--;
	}
	w->hnext = NULL;
}

static void undefer(struct walk *w)
{
	struct store *st = w->st;

	if (!w->deferred)
		return;
	if (w->dprev)
		w->dprev->dnext = w->dnext;
	else
		st->deferred_head = w->dnext;
	if (w->dnext)
		w->dnext->dprev = w->dprev;
	else
		st->deferred_tail = w->dprev;
	w->dprev = w->dnext = NULL;
	w->deferred = false;
}

static void drop_l2_tiles(struct walk *w)
{
	for (int f = 0; f < FMT__COUNT; f++) {
		tile_unref(w->lw.tiles[f]);
		w->lw.tiles[f] = NULL;
	}
}

/* Stops whatever the walk waits for and frees it; waiters are not called. */
static void walk_free(struct walk *w)
{
	struct store *st = w->st;

	unhash(w);
	undefer(w);
	if (w->l2_waiting)
		l2_cancel(&w->lw);
	drop_l2_tiles(w);
	if (w->x)
		engine_cancel(st->engine, w->x);
	if (w->bucket_probe)
		breaker_report(&st->breaker, BREAKER_NEUTRAL, true);
	while (w->waiters) {
		struct lookup *lk = w->waiters;
		w->waiters = lk->next;
		lk->w = NULL;
		lk->prev = lk->next = NULL;
	}
	free(w);
}

static void attach(struct walk *w, struct lookup *lk)
{
	lk->w = w;
	lk->prev = NULL;
	lk->next = w->waiters;
	if (w->waiters)
		w->waiters->prev = lk;
	w->waiters = lk;
}

static void detach(struct lookup *lk)
{
	struct walk *w = lk->w;

	if (lk->prev)
		lk->prev->next = lk->next;
	else
		w->waiters = lk->next;
	if (lk->next)
		lk->next->prev = lk->prev;
	lk->prev = lk->next = NULL;
	lk->w = NULL;
}

/* ---- the walk ---------------------------------------------------------------------- */

static void walk(struct walk *w);

static struct tilekey current_key(const struct walk *w)
{
	struct tilekey k = w->want;

	k.fmt = (uint8_t)w->order[w->step];
	return k;
}

/* The walk is over: cache, hand the result to every waiter, free. */
static void finish(struct walk *w, enum ap_err err, struct tile *t, enum tile_source src)
{
	struct store *st = w->st;

	w->x = NULL;
	if (t && src != SRC_MEMORY) {
		/* refused when too big or fetched across a cache-clear: still served */
		if (cache_put(st->cache, t, w->gen) && w->background)
			cache_note_prefetch(st->cache, t);
		/* for every other process and host, after this answer is out; not
		 * what was fetched across a clear (the key's generation would say
		 * so, but a Redis that restarted meanwhile forgot it) */
		if (w->lw.ok && cache_gen(st->cache, w->want.dataset) == w->gen &&
		    (src == SRC_R2 || (src == SRC_LOCAL && st->cfg->redis_store_local)))
			l2_put(st->l2, t, w->lw.gen_tag);
	}
	drop_l2_tiles(w);
	unhash(w);
	while (w->waiters) {
		struct lookup *lk = w->waiters;

		detach(lk);
		lk->err = err;
		lk->tile = t ? tile_ref(t) : NULL;
		lk->src = src;
		lk->done(lk, lk->ud);
	}
	tile_unref(t);
	free(w);
}

static void found(struct walk *w, const void *p, size_t n, enum tile_source src)
{
	struct tilekey k = current_key(w);
	struct tile *t = tile_new(&k, p, n);

	finish(w, t ? AP_OK : AP_ERR_NOMEM, t, src);
}

/* The current format is done with and not found: on to the next. */
static void next_format(struct walk *w, bool proven_absent)
{
	struct tilekey k = current_key(w);

	if (proven_absent)
		cache_put_absent(w->st->cache, &k, w->gen);
	w->step++;
	walk(w);
}

static void local_step(struct walk *w)
{
	struct store *st = w->st;
	struct tilekey k = current_key(w);
	bool asked_bucket = w->bucket_absent || !st->engine;
	char key[64];
	enum ap_err e = AP_ERR_NOT_FOUND;

	w->asked = true;
	if (st->cfg->local_dir) {
		tk_object_key(&k, key, sizeof(key));
		e = timed_local_read(st, key, TILE_MAX_BYTES, &st->scratch);
		if (e == AP_OK) {
			found(w, st->scratch.data, st->scratch.len, SRC_LOCAL);
			return;
		}
		if (e != AP_ERR_NOT_FOUND)
			log_error("local %s: %s", key, e == AP_ERR_TOO_LARGE ?
				  "larger than the tile limit" : "read failed");
	}
	/* absent only if every configured storage said so */
	next_format(w, asked_bucket && e == AP_ERR_NOT_FOUND);
}

static void local_phase(struct walk *w)
{
	struct store *st = w->st;

	if (!w->background || !st->cfg->local_dir) {
		local_step(w);
		return;
	}
	w->deferred = true;
	w->dnext = NULL;
	w->dprev = st->deferred_tail;
	if (st->deferred_tail)
		st->deferred_tail->dnext = w;
	else
		st->deferred_head = w;
	st->deferred_tail = w;
}

static void on_bucket_done(struct xfer_result *res, void *ud)
{
	struct walk *w = ud;
	struct tilekey k = current_key(w);
	char what[96];

	w->x = NULL;
	snprintf(what, sizeof(what), "GET tiles/%u/%u/%u/%u.%s", k.dataset, (unsigned)k.z, k.x, k.y,
		 tk_fmt_ext((enum tile_fmt)k.fmt));
	count_bucket(w->st, res, w->bucket_t0_us);
	report(w->st, res, w->bucket_probe, what);
	w->bucket_probe = false;
	if (!res->err && res->status == 200) {
		found(w, res->body.data, res->body.len, SRC_R2);
		return;
	}
	if (!res->err && res->status == 404) {
		w->bucket_absent = true;
	} else {
		w->bucket_down = true;
		w->bucket_err = res->err == AP_ERR_TIMEOUT && res->cls == XC_SERVICE ?
				AP_ERR_TIMEOUT : AP_ERR_STORAGE;
	}
	local_phase(w);
}

/* Asks the bucket for the current format; false if it cannot be asked. */
static bool bucket_step(struct walk *w)
{
	struct store *st = w->st;
	struct tilekey k = current_key(w);
	char key[64];

	if (!st->engine)
		return false;
	if (w->bucket_down || !breaker_allow(&st->breaker, &w->bucket_probe)) {
		/* skipped, not asked: the format stays unknown */
		if (!w->bucket_err)
			w->bucket_err = AP_ERR_STORAGE;
		return false;
	}
	tk_object_key(&k, key, sizeof(key));
	w->asked = true;
	w->bucket_t0_us = clock_us();
	if (bucket_get(st, key, TILE_MAX_BYTES, w->background, on_bucket_done, w, &w->x)) {
		breaker_report(&st->breaker, BREAKER_NEUTRAL, w->bucket_probe);
		w->bucket_probe = false;
		w->bucket_down = true;
		w->bucket_err = AP_ERR_STORAGE;
		return false;
	}
	return true;
}

static void on_l2(struct l2_wait *lw, void *ud)
{
	struct walk *w = ud;

	(void)lw;
	w->l2_waiting = false;
	walk(w);
}

/* The shared tier, once per walk, for the formats from the current one on;
 * false if it is not used (none, skipped, a clear of the dataset pending). */
static bool l2_start(struct walk *w)
{
	struct store *st = w->st;

	w->l2_asked = true;
	if (!l2_usable(st->l2, w->want.dataset))
		return false;
	w->lw.key = w->want;
	w->lw.fmts = 0;
	for (int i = w->step; i < w->nfmt; i++)
		w->lw.fmts |= (uint8_t)(1u << w->order[i]);
	w->lw.done = on_l2;
	w->lw.ud = w;
	w->l2_waiting = true;
	l2_lookup(st->l2, &w->lw);
	return true;
}

/* Formats in order: memory answers what it knows, storage the rest. */
static void walk(struct walk *w)
{
	struct tile *t;

	for (; w->step < w->nfmt; w->step++) {
		struct tilekey k = current_key(w);

		switch (cache_probe(w->st->cache, &k, &t)) {
		case CACHE_PRESENT:
			finish(w, AP_OK, t, SRC_MEMORY);
			return;
		case CACHE_ABSENT:
			continue;
		case CACHE_UNKNOWN:
			break;
		}
		if (!w->l2_asked && l2_start(w))
			return;	/* the walk goes on in on_l2() */
		if (w->lw.tiles[k.fmt]) {
			t = w->lw.tiles[k.fmt];
			w->lw.tiles[k.fmt] = NULL;
			finish(w, AP_OK, t, SRC_REDIS);
			return;
		}
		w->bucket_absent = false;
		if (!bucket_step(w))
			local_phase(w);
		return;	/* the walk goes on from the callback or the local step */
	}
	/* every format proven absent, or some unknown because storage failed */
	finish(w, w->bucket_err ? w->bucket_err : AP_ERR_NOT_FOUND, NULL,
	       w->asked ? SRC_LOCAL : SRC_MEMORY);
}

/* The memory's answer, if it has one without asking storage. */
static bool memory_answer(struct store *st, struct lookup *lk)
{
	enum tile_fmt order[FMT__COUNT];
	struct tilekey k = lk->want;
	uint8_t n = lookup_order(lk, order);

	for (int i = 0; i < n; i++) {
		k.fmt = (uint8_t)order[i];
		switch (cache_probe(st->cache, &k, &lk->tile)) {
		case CACHE_PRESENT:
			lk->err = AP_OK;
			return true;
		case CACHE_ABSENT:
			continue;
		case CACHE_UNKNOWN:
			return false;
		}
	}
	lk->err = AP_ERR_NOT_FOUND;
	return true;
}

/* A foreground request now waits for a background walk. */
static void promote(struct walk *w)
{
	w->background = false;
	if (w->x)
		engine_foreground(w->st->engine, w->x);
	if (w->deferred) {
		undefer(w);
		local_step(w);	/* may finish the walk, and call its waiters */
	}
}

void store_lookup_start(struct store *st, struct lookup *lk)
{
	struct walk *w;

	lk->w = NULL;
	lk->prev = lk->next = NULL;
	lk->tile = NULL;
	lk->src = SRC_MEMORY;
	if (memory_answer(st, lk)) {
		lk->done(lk, lk->ud);
		return;
	}
	w = find_walk(st, lk);
	if (w) {
		attach(w, lk);
		if (!lk->background && w->background)
			promote(w);
		return;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		lk->err = AP_ERR_NOMEM;
		lk->done(lk, lk->ud);
		return;
	}
	w->st = st;
	w->want = lk->want;
	w->background = lk->background;
	w->gen = cache_gen(st->cache, lk->want.dataset);
	w->indexed = lk->indexed;
	w->fmts = lk->fmts;
	w->nfmt = lookup_order(lk, w->order);
	w->hnext = *slot_of(st, &w->want);
	*slot_of(st, &w->want) = w;
	st->nwalks++;
	attach(w, lk);
	walk(w);
}

void store_lookup_cancel(struct lookup *lk)
{
	/* the walk goes on without this waiter: its tile still fills the cache */
	if (lk->w)
		detach(lk);
}

bool store_idle_step(struct store *st)
{
	struct walk *w = st->deferred_head;

	if (!w)
		return false;
	undefer(w);
	local_step(w);
	return st->deferred_head != NULL;
}

/* ---- small objects ------------------------------------------------------ */

static void object_local(struct store *st, struct objget *o, enum ap_err bucket_err)
{
	struct buf b;
	enum ap_err e = bucket_err;

	buf_init(&b, o->max);
	if (st->cfg->local_dir) {
		enum ap_err le = timed_local_read(st, o->key, o->max, &b);
		if (le != AP_ERR_NOT_FOUND || bucket_err == AP_ERR_NOT_FOUND)
			e = le;
	}
	o->done(o, e, &b, o->ud);
	buf_free(&b);
}

static void on_object_done(struct xfer_result *res, void *ud)
{
	struct objget *o = ud;
	struct store *st = o->st;
	enum ap_err e;

	o->x = NULL;
	count_bucket(st, res, o->started_us);
	report(st, res, o->probe, o->key);
	o->probe = false;
	if (res->err)
		e = res->too_large ? AP_ERR_TOO_LARGE :
		    res->err == AP_ERR_TIMEOUT && res->cls == XC_SERVICE ? AP_ERR_TIMEOUT : AP_ERR_STORAGE;
	else if (res->status == 200) {
		o->done(o, AP_OK, &res->body, o->ud);
		return;
	} else
		e = res->status == 404 ? AP_ERR_NOT_FOUND : AP_ERR_STORAGE;
	if (e == AP_ERR_TOO_LARGE) {
		o->done(o, e, &res->body, o->ud);
		return;
	}
	object_local(st, o, e);
}

void store_object_start(struct store *st, struct objget *o)
{
	o->st = st;
	o->x = NULL;
	o->probe = false;
	if (!st->engine) {
		object_local(st, o, AP_ERR_NOT_FOUND);
		return;
	}
	if (!breaker_allow(&st->breaker, &o->probe)) {
		object_local(st, o, AP_ERR_STORAGE);	/* skipped during the cool-down */
		return;
	}
	o->started_us = clock_us();
	if (bucket_get(st, o->key, o->max, false, on_object_done, o, &o->x)) {
		breaker_report(&st->breaker, BREAKER_NEUTRAL, o->probe);
		o->probe = false;
		object_local(st, o, AP_ERR_STORAGE);
	}
}

void store_object_cancel(struct objget *o)
{
	if (o->x)
		engine_cancel(o->st->engine, o->x);
	o->x = NULL;
	if (o->probe)
		breaker_report(&o->st->breaker, BREAKER_NEUTRAL, true);
	o->probe = false;
}
