/*
 * catalog.c - the bounded metadata map; see catalog.h.
 *
 * Entries are preallocated in two pools, each with its free list and LRU
 * list; one chained hash table finds an id in either. A lookup allocates
 * nothing; a miss that must be stored takes a free entry or the least
 * recently used one of its own pool.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "catalog.h"
#include "ev.h"
#include "store.h"
#include "generation.h"
#include "log.h"
#include "tileindex.h"

#define CATALOG_BUCKETS 4096	/* power of two, > 1.5 x both pools */

enum entry_kind { ENT_DATASET, ENT_MISSING, ENT_INVALID };

struct centry {
	uint32_t id;
	bool used;
	enum entry_kind kind;
	time_t loaded;
	uint64_t gen;
	struct centry *hnext, *prev, *next;
	struct dataset ds;			/* ENT_DATASET */
	struct tileindex *idx;			/* ENT_DATASET: NULL if none or ignored */
	char reason[CATALOG_REASON_MAX];	/* ENT_INVALID */
};

struct pool {
	struct centry *entries;
	size_t cap, used;		/* entries[0..used) have been handed out */
	struct centry *head, *tail;	/* MRU, LRU */
	struct centry *free;		/* forgotten entries, linked by next */
};

/* One read of metadata in flight, and who waits for it. */
struct cfetch {
	struct catalog *c;
	uint32_t id;
	uint64_t gen;			/* the dataset's generation when it started */
	unsigned rereads;		/* started again after a clear during it */
	struct objget og;		/* the metadata */
	struct objget ig;		/* the tile index */
	unsigned pending;		/* reads not answered yet */
	bool og_pending, ig_pending;
	bool late;			/* answered without the index; in c->late */
	struct ev_timer wait;		/* the index's grace after the metadata */
	enum ap_err meta_err, idx_err;
	struct buf meta;		/* the metadata read */
	struct tileindex *idx;		/* the index read, decoded */
	char idx_why[CATALOG_REASON_MAX];
	struct catalog_wait *waiters;
	struct cfetch *next;
};

struct catalog {
	long ttl_s;
	struct gen_map *gens;
	meta_start_fn start;
	meta_cancel_fn cancel;
	void *ud;
	bool saw_private;
	size_t index_max;		/* 0: indexes are not read */
	struct ev_loop *loop;		/* NULL: a get waits for the index read */
	struct cfetch *late;		/* index reads that outlived their get */
	struct cfetch *fetches;
	unsigned nfetches;
	struct centry *buckets[CATALOG_BUCKETS];
	struct pool known, negative;
};

static bool pool_init(struct pool *p, size_t cap)
{
	memset(p, 0, sizeof(*p));
	p->entries = calloc(cap, sizeof(*p->entries));
	p->cap = cap;
	return p->entries != NULL;
}

struct catalog *catalog_new(long ttl_s, struct gen_map *gens, meta_start_fn start,
			    meta_cancel_fn cancel, void *ud)
{
	struct catalog *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->ttl_s = ttl_s;
	c->gens = gens;
	c->start = start;
	c->cancel = cancel;
	c->ud = ud;
	if (!pool_init(&c->known, CATALOG_DATASETS_MAX) ||
	    !pool_init(&c->negative, CATALOG_NEGATIVE_MAX)) {
		catalog_free(c);
		return NULL;
	}
	return c;
}

void catalog_free(struct catalog *c)
{
	if (!c)
		return;
	while (c->fetches) {
		struct cfetch *f = c->fetches;

		c->fetches = f->next;
		if (f->og_pending)
			c->cancel(c->ud, &f->og);
		if (f->ig_pending)
			c->cancel(c->ud, &f->ig);
		if (c->loop)
			ev_timer_stop(c->loop, &f->wait);
		buf_free(&f->meta);
		tileindex_free(f->idx);
		free(f);
	}
	while (c->late) {
		struct cfetch *f = c->late;

		c->late = f->next;
		c->cancel(c->ud, &f->ig);
		tileindex_free(f->idx);
		free(f);
	}
	for (size_t i = 0; i < c->known.used; i++)
		tileindex_free(c->known.entries[i].idx);
	free(c->known.entries);
	free(c->negative.entries);
	free(c);
}

bool catalog_saw_private(const struct catalog *c)
{
	return c->saw_private;
}

static struct centry **bucket_of(struct catalog *c, uint32_t id)
{
	/* Fibonacci hashing: consecutive ids spread over the table */
	return &c->buckets[(uint32_t)(id * 2654435769u) >> (32 - 12)];
}

static struct centry *find(struct catalog *c, uint32_t id)
{
	struct centry *e = *bucket_of(c, id);

	while (e && e->id != id)
		e = e->hnext;
	return e;
}

static struct pool *pool_of(struct catalog *c, const struct centry *e)
{
	return e->kind == ENT_DATASET ? &c->known : &c->negative;
}

static void lru_unlink(struct pool *p, struct centry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		p->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		p->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_front(struct pool *p, struct centry *e)
{
	e->prev = NULL;
	e->next = p->head;
	if (p->head)
		p->head->prev = e;
	else
		p->tail = e;
	p->head = e;
}

/* Puts a never used entry on the free list. */
static void forget_fresh(struct pool *p, struct centry *e)
{
	e->next = p->free;
	p->free = e;
}

/* Unlinks e from the table and its LRU list onto its pool's free list. */
static void forget(struct catalog *c, struct centry *e)
{
	struct centry **pp = bucket_of(c, e->id);
	struct pool *p = pool_of(c, e);

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	e->hnext = NULL;
	lru_unlink(p, e);
	tileindex_free(e->idx);
	e->idx = NULL;
	e->used = false;
	e->next = p->free;
	p->free = e;
}

/* A slot of pool p for id: a free one, else its least recently used. */
static struct centry *take(struct catalog *c, struct pool *p, enum entry_kind kind, uint32_t id)
{
	struct centry *e;

	if (!p->free && p->used < p->cap)
		forget_fresh(p, &p->entries[p->used++]);
	if (!p->free)
		forget(c, p->tail);
	e = p->free;
	p->free = e->next;
	memset(e, 0, sizeof(*e));
	e->used = true;
	e->id = id;
	e->kind = kind;
	e->hnext = *bucket_of(c, id);
	*bucket_of(c, id) = e;
	lru_front(p, e);
	return e;
}

void catalog_drop(struct catalog *c, uint32_t id)
{
	struct centry *e = find(c, id);

	if (e)
		forget(c, e);
}

static bool fresh(const struct catalog *c, const struct centry *e, time_t now, uint64_t gen)
{
	return e->gen == gen && now >= e->loaded && now - e->loaded < c->ttl_s;
}

/* What an entry answers: the dataset or the remembered error. */
static enum ap_err answer(const struct centry *e, struct dataset *out, char *why, size_t whylen)
{
	switch (e->kind) {
	case ENT_DATASET:
		*out = e->ds;
		return AP_OK;
	case ENT_MISSING:
		return AP_ERR_NOT_FOUND;
	case ENT_INVALID:
		break;
	}
	if (why)
		snprintf(why, whylen, "invalid metadata: %s", e->reason);
	return AP_ERR_STORAGE;
}

/* Stores what storage said (replacing an older entry of the id). */
static struct centry *remember(struct catalog *c, uint32_t id, enum entry_kind kind,
			       time_t now, uint64_t gen)
{
	struct centry *e = find(c, id);

	if (e)
		forget(c, e);
	e = take(c, kind == ENT_DATASET ? &c->known : &c->negative, kind, id);
	e->loaded = now;
	e->gen = gen;
	return e;
}

/* What the index read says for metadata ds: the index if it describes
 * ds, else NULL, logged once (a missing index is normal; a failed read is
 * logged by the store, and the previous index stays while it still fits). */
static struct tileindex *index_for(struct cfetch *f, const struct dataset *ds,
				   struct centry *old)
{
	struct tileindex *idx = f->idx;

	f->idx = NULL;
	if (idx && tileindex_describes(idx, ds, ds->updated_at))
		return idx;
	if (idx) {
		log_warn("dataset %u: tile index built for other metadata (updated_at \"%s\", the "
			 "metadata's \"%s\", or another grid): ignored, tiles are probed", ds->id,
			 tileindex_updated_at(idx), ds->updated_at);
		tileindex_free(idx);
		return NULL;
	}
	if (f->idx_why[0]) {
		log_warn("dataset %u: tile index ignored (%s): tiles are probed", ds->id, f->idx_why);
		return NULL;
	}
	if (f->idx_err != AP_ERR_NOT_FOUND && old && old->kind == ENT_DATASET && old->idx &&
	    tileindex_describes(old->idx, ds, ds->updated_at)) {
		idx = old->idx;	/* the read failed: what was read before still holds */
		old->idx = NULL;
		return idx;
	}
	return NULL;
}

/* Turns what storage answered into an entry, or NULL for a storage
 * failure (which is not remembered; *err says which). */
static struct centry *learn(struct catalog *c, struct cfetch *f, time_t now, uint64_t gen,
			    enum ap_err *err)
{
	char why[CATALOG_REASON_MAX];
	uint32_t id = f->id;
	enum ap_err fe = f->meta_err;
	struct buf *b = &f->meta;
	struct tileindex *idx;
	struct dataset ds;
	struct centry *e;

	if (fe == AP_ERR_TOO_LARGE) {
		snprintf(why, sizeof(why), "larger than %d bytes", META_MAX_BYTES);
	} else if (fe == AP_ERR_NOT_FOUND) {
		return remember(c, id, ENT_MISSING, now, gen);
	} else if (fe) {
		*err = fe == AP_ERR_TIMEOUT ? AP_ERR_TIMEOUT : AP_ERR_STORAGE;
		return NULL;
	} else if (dataset_parse(b->data ? b->data : "", b->len, id, &ds, why, sizeof(why)) == AP_OK) {
		idx = index_for(f, &ds, find(c, id));
		e = remember(c, id, ENT_DATASET, now, gen);
		e->ds = ds;
		e->idx = idx;
		if (!ds.is_demo)
			c->saw_private = true;
		return e;
	}
	/* once per TTL: the entry answers every request until then */
	log_error("dataset %u: invalid metadata (%s): answered 502 for %ld s", id, why, c->ttl_s);
	e = remember(c, id, ENT_INVALID, now, gen);
	snprintf(e->reason, sizeof(e->reason), "%s", why);
	return e;
}

static void deliver(struct catalog_wait *w, enum ap_err e)
{
	w->done(w, e, w->ud);
}

static void answer_wait(struct catalog_wait *w, const struct centry *e)
{
	deliver(w, answer(e, w->out, w->why, w->whylen));
}

/* ---- fetches ------------------------------------------------------------------------ */

static struct cfetch *find_fetch(struct catalog *c, uint32_t id)
{
	for (struct cfetch *f = c->fetches; f; f = f->next)
		if (f->id == id)
			return f;
	return NULL;
}

static void fetch_unlink(struct catalog *c, struct cfetch *f)
{
	struct cfetch **pp = &c->fetches;

	while (*pp != f)
		pp = &(*pp)->next;
	*pp = f->next;
	c->nfetches--;
}

static void start_reads(struct cfetch *f);

static void fetch_free(struct cfetch *f)
{
	buf_free(&f->meta);
	tileindex_free(f->idx);
	free(f);
}

/* Both reads are answered: remember, hand out, free. */
static void settle(struct cfetch *f)
{
	struct catalog *c = f->c;
	uint64_t gen = c->gens ? gen_get(c->gens, f->id) : 0;
	struct centry *old = find(c, f->id), *e = NULL;
	enum ap_err err = AP_OK;

	if (c->loop)
		ev_timer_stop(c->loop, &f->wait);
	if (f->ig_pending && gen != f->gen && f->rereads < CATALOG_REREADS_MAX) {
		c->cancel(c->ud, &f->ig);	/* read again below, with the metadata */
		f->ig_pending = false;
	}
	/* a clear during the fetch: what it read may be older than the clear,
	 * so it is read again for the same waiters (clears come from other
	 * processes and hosts at any time; a few in a row are an error) */
	if (gen != f->gen && f->rereads < CATALOG_REREADS_MAX) {
		f->rereads++;
		f->gen = gen;
		start_reads(f);
		return;
	}
	fetch_unlink(c, f);
	if (gen == f->gen)
		e = learn(c, f, time(NULL), gen, &err);
	else
		err = AP_ERR_STORAGE;
	if (!e && old && old->kind == ENT_DATASET && old->gen == gen && find(c, f->id) == old)
		e = old;	/* storage failed: what it said last beats an error */
	while (f->waiters) {
		struct catalog_wait *w = f->waiters;

		f->waiters = w->next;
		w->f = NULL;
		if (e)
			answer_wait(w, e);
		else {
			if (w->why)
				snprintf(w->why, w->whylen, "metadata could not be read from storage");
			deliver(w, err);
		}
	}
	if (f->ig_pending && e && e->kind == ENT_DATASET) {
		/* answered without it: the index joins the entry when it comes */
		f->late = true;
		f->gen = gen;
		buf_free(&f->meta);
		f->next = c->late;
		c->late = f;
		return;
	}
	if (f->ig_pending)
		c->cancel(c->ud, &f->ig);
	fetch_free(f);
}

/* An index read that outlived its get is answered: it joins the entry if
 * that is still the metadata it was read with. */
static void late_index(struct cfetch *f)
{
	struct catalog *c = f->c;
	struct cfetch **pp = &c->late;
	struct centry *e = find(c, f->id);

	while (*pp != f)
		pp = &(*pp)->next;
	*pp = f->next;
	if (e && e->kind == ENT_DATASET && e->gen == f->gen &&
	    e->gen == (c->gens ? gen_get(c->gens, f->id) : 0)) {
		struct tileindex *idx = index_for(f, &e->ds, NULL);

		if (idx) {
			tileindex_free(e->idx);
			e->idx = idx;
		}
	}
	fetch_free(f);
}

/* The metadata is in and the index read still runs: the get does not wait
 * for it any longer (a slow or hanging index read must not hold tiles). */
static void stop_waiting(struct cfetch *f)
{
	f->idx_err = AP_ERR_TIMEOUT;
	f->pending = 0;
	settle(f);
}

static void on_index_wait(struct ev_timer *t)
{
	stop_waiting(t->ud);
}

static void on_meta(struct objget *o, enum ap_err fe, struct buf *b, void *ud)
{
	struct cfetch *f = ud;

	(void)o;
	f->og_pending = false;
	f->meta_err = fe;
	if (!fe) {
		f->meta = *b;	/* stolen: the caller frees what is left */
		b->data = NULL;
		b->len = b->cap = 0;
	}
	if (--f->pending == 0)
		settle(f);
	else if (f->c->loop && (fe || ev_timer_start(f->c->loop, &f->wait, CATALOG_INDEX_WAIT_MS,
						     on_index_wait, f)))
		stop_waiting(f);	/* no metadata: the index is of no use */
}

static void on_index(struct objget *o, enum ap_err fe, struct buf *b, void *ud)
{
	struct cfetch *f = ud;
	char why[CATALOG_REASON_MAX - 32];

	(void)o;
	f->ig_pending = false;
	f->idx_err = fe;
	if (fe == AP_ERR_TOO_LARGE)
		snprintf(f->idx_why, sizeof(f->idx_why), "larger than %zu bytes, TILE_INDEX_MAX_BYTES",
			 f->c->index_max);
	else if (!fe && tileindex_decode(b->data ? b->data : "", b->len, &f->idx, why,
					 sizeof(why)) != AP_OK) {
		f->idx = NULL;
		f->idx_err = AP_ERR_STORAGE;
		snprintf(f->idx_why, sizeof(f->idx_why), "corrupt: %s", why);
	}
	if (f->late)
		late_index(f);
	else if (--f->pending == 0)
		settle(f);
}

/* Starts (again) both reads; f may be gone when this returns. */
static void start_reads(struct cfetch *f)
{
	struct catalog *c = f->c;
	bool with_index = c->index_max > 0;

	buf_free(&f->meta);
	tileindex_free(f->idx);
	f->idx = NULL;
	f->idx_why[0] = '\0';
	f->idx_err = AP_ERR_NOT_FOUND;
	f->ig.max = c->index_max;
	f->pending = with_index ? 2 : 1;
	f->og_pending = true;
	f->ig_pending = with_index;
	/* the index first: the metadata's answer may settle (and free) f */
	if (with_index)
		c->start(c->ud, &f->ig);	/* may answer at once */
	c->start(c->ud, &f->og);
}

/* A new read of the metadata of id, not started yet; NULL at the limit. */
static struct cfetch *new_fetch(struct catalog *c, uint32_t id, uint64_t gen)
{
	struct cfetch *f;

	if (c->nfetches >= CATALOG_FETCHES_MAX || !(f = calloc(1, sizeof(*f))))
		return NULL;
	f->c = c;
	f->id = id;
	f->gen = gen;
	snprintf(f->og.key, sizeof(f->og.key), "metadata/datasets/%u.json", id);
	f->og.max = META_MAX_BYTES;
	f->og.done = on_meta;
	f->og.ud = f;
	snprintf(f->ig.key, sizeof(f->ig.key), "metadata/datasets/%u.index", id);
	f->ig.done = on_index;
	f->ig.ud = f;
	buf_init(&f->meta, META_MAX_BYTES);
	f->next = c->fetches;
	c->fetches = f;
	c->nfetches++;
	return f;
}

void catalog_get(struct catalog *c, uint32_t id, struct catalog_wait *w)
{
	time_t now = time(NULL);
	uint64_t gen = c->gens ? gen_get(c->gens, id) : 0;
	struct centry *e = find(c, id);
	struct cfetch *f;

	w->f = NULL;
	w->next = NULL;
	if (e && e->gen == gen) {
		struct pool *p = pool_of(c, e);

		lru_unlink(p, e);
		lru_front(p, e);
		if (fresh(c, e, now, gen)) {
			answer_wait(w, e);
			return;
		}
		if (e->kind == ENT_DATASET) {
			/* stale: answer now, refresh behind it, never make it wait */
			answer_wait(w, e);
			if (!find_fetch(c, id) && (f = new_fetch(c, id, gen)))
				start_reads(f);
			return;
		}
	}
	f = find_fetch(c, id);
	if (f) {
		w->f = f;
		w->next = f->waiters;
		f->waiters = w;
		return;
	}
	f = new_fetch(c, id, gen);
	if (!f) {
		if (w->why)
			snprintf(w->why, w->whylen, "too many metadata reads in flight");
		deliver(w, AP_ERR_NOMEM);
		return;
	}
	w->f = f;
	f->waiters = w;
	start_reads(f);	/* may complete at once, and call w */
}

void catalog_cancel(struct catalog_wait *w)
{
	struct catalog_wait **pp;

	if (!w->f)
		return;
	/* the read goes on: what it learns is remembered for the next request */
	for (pp = &w->f->waiters; *pp && *pp != w; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = w->next;
	w->f = NULL;
}

void catalog_set_index(struct catalog *c, size_t max, struct ev_loop *loop)
{
	c->index_max = max > TILEINDEX_MAX_BYTES ? TILEINDEX_MAX_BYTES : max;
	c->loop = loop;
}

const struct tileindex *catalog_index(struct catalog *c, const struct dataset *d)
{
	const struct centry *e = find(c, d->id);

	if (!e || e->kind != ENT_DATASET || !e->idx)
		return NULL;
	if (e->gen != (c->gens ? gen_get(c->gens, d->id) : 0))
		return NULL;	/* cleared since: the next get reads it again */
	return tileindex_describes(e->idx, d, d->updated_at) ? e->idx : NULL;
}
