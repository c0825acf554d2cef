/*
 * prefetch.c - the bounded, two-class prefetch queue; see prefetch.h.
 *
 * Entries live in one preallocated pool (queue capacity + lookups in
 * flight), found by tile through a chained hash table of pool indices, and
 * ordered newest first in one list per class. A key stays in the table
 * while its lookup is in flight, so the same tile is never queued twice.
 * Newest first: the latest viewport is the one the user looks at.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "prefetch.h"
#include "cache.h"
#include "config.h"
#include "dataset.h"
#include "engine.h"
#include "store.h"
#include "tileindex.h"

#define NIL UINT32_MAX
/* Keys one call may examine, as a multiple of the queue capacity. */
#define PREFETCH_SCAN_FACTOR 4

enum pf_class { PF_RING, PF_LEVEL, PF__CLASSES };

struct pf_entry {
	struct tilekey key;
	uint32_t hnext, prev, next;	/* hash chain; class list (or free list) */
	uint32_t stamp;			/* the call that queued it */
	uint8_t cls;
	bool queued;			/* in a class list (else in flight) */
	bool indexed;			/* fmts: what the tile index listed */
	uint8_t fmts;
};

struct pf_list {
	uint32_t head, tail;	/* newest, oldest */
	size_t len;
};

struct pf_slot {
	struct lookup lk;
	struct prefetch *p;
	uint32_t entry;
	bool busy;
};

struct prefetch {
	struct store *st;
	struct cache *cache;
	size_t cap;			/* queued keys at most */
	const struct tileindex *idx;	/* during prefetch_viewport() only */
	struct pf_entry *e;
	size_t nentries;
	uint32_t free_head;
	uint32_t *buckets;
	size_t mask;
	struct pf_list list[PF__CLASSES];
	struct pf_slot *slots;
	unsigned nslots, inflight;
	uint32_t stamp;
	size_t call_kept, call_scanned;	/* of the current call */
	struct prefetch_stats stats;
};

static size_t pow2_at_least(size_t n)
{
	size_t p = 16;

	while (p < n)
		p <<= 1;
	return p;
}

enum ap_err prefetch_new(const struct config *c, struct store *st, struct cache *cache,
			 struct prefetch **out)
{
	struct prefetch *p = calloc(1, sizeof(*p));
	long bg = c->max_streams / ENGINE_BACKGROUND_SHARE;

	*out = NULL;
	if (!p)
		return AP_ERR_NOMEM;
	p->st = st;
	p->cache = cache;
	p->cap = (size_t)c->prefetch_queue_max;
	p->nslots = (unsigned)(c->prefetch_parallel < bg ? c->prefetch_parallel : bg > 0 ? bg : 1);
	p->nentries = p->cap + p->nslots;
	p->mask = pow2_at_least(2 * p->nentries) - 1;
	for (int i = 0; i < PF__CLASSES; i++)
		p->list[i].head = p->list[i].tail = NIL;
	if (p->cap) {
		p->e = calloc(p->nentries, sizeof(*p->e));
		p->buckets = malloc((p->mask + 1) * sizeof(*p->buckets));
		p->slots = calloc(p->nslots, sizeof(*p->slots));
		if (!p->e || !p->buckets || !p->slots) {
			prefetch_free(p);
			return AP_ERR_NOMEM;
		}
		memset(p->buckets, 0xff, (p->mask + 1) * sizeof(*p->buckets));
		for (size_t i = 0; i < p->nentries; i++)
			p->e[i].next = i + 1 < p->nentries ? (uint32_t)(i + 1) : NIL;
	}
	p->free_head = p->cap ? 0 : NIL;
	*out = p;
	return AP_OK;
}

void prefetch_free(struct prefetch *p)
{
	if (!p)
		return;
	for (unsigned i = 0; p->slots && i < p->nslots; i++)
		if (p->slots[i].busy)
			store_lookup_cancel(&p->slots[i].lk);
	free(p->e);
	free(p->buckets);
	free(p->slots);
	free(p);
}

size_t prefetch_queued(const struct prefetch *p)
{
	return p ? p->list[PF_RING].len + p->list[PF_LEVEL].len : 0;
}

void prefetch_get_stats(const struct prefetch *p, struct prefetch_stats *out)
{
	static const struct prefetch_stats none;

	*out = p ? p->stats : none;
}

unsigned prefetch_inflight(const struct prefetch *p)
{
	return p ? p->inflight : 0;
}

/* ---- the table and the lists -------------------------------------------- */

static uint32_t *bucket_of(struct prefetch *p, const struct tilekey *k)
{
	uint64_t h = (uint64_t)k->dataset * 0x9e3779b97f4a7c15ULL ^ (uint64_t)k->z << 58 ^
		     (uint64_t)k->x << 29 ^ k->y;

	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ULL;
	return &p->buckets[(size_t)(h ^ (h >> 29)) & p->mask];
}

static uint32_t find(struct prefetch *p, const struct tilekey *k)
{
	uint32_t i = *bucket_of(p, k);

	while (i != NIL && !tk_same_tile(&p->e[i].key, k))
		i = p->e[i].hnext;
	return i;
}

static void list_unlink(struct prefetch *p, uint32_t i)
{
	struct pf_entry *e = &p->e[i];
	struct pf_list *l = &p->list[e->cls];

	if (e->prev != NIL)
		p->e[e->prev].next = e->next;
	else
		l->head = e->next;
	if (e->next != NIL)
		p->e[e->next].prev = e->prev;
	else
		l->tail = e->prev;
	l->len--;
	e->queued = false;
}

static void list_push_newest(struct prefetch *p, uint32_t i)
{
	struct pf_entry *e = &p->e[i];
	struct pf_list *l = &p->list[e->cls];

	e->prev = NIL;
	e->next = l->head;
	if (l->head != NIL)
		p->e[l->head].prev = i;
	else
		l->tail = i;
	l->head = i;
	l->len++;
	e->queued = true;
}

/* Takes an entry out of the table (and its list if queued) to the free list. */
static void release(struct prefetch *p, uint32_t i)
{
	uint32_t *pp = bucket_of(p, &p->e[i].key);

	while (*pp != i)
		pp = &p->e[*pp].hnext;
	*pp = p->e[i].hnext;
	if (p->e[i].queued) {
		list_unlink(p, i);
		if (p->e[i].stamp == p->stamp && p->call_kept)
			p->call_kept--;	/* displaced by its own call */
	}
	p->e[i].next = p->free_head;
	p->free_head = i;
}

/* ---- queueing --------------------------------------------------------------- */

enum push_result { PUSH_ADDED, PUSH_SKIPPED, PUSH_FULL };

/* Room for a key of class cls, making it by displacing an older key. */
static bool make_room(struct prefetch *p, enum pf_class cls)
{
	if (prefetch_queued(p) < p->cap)
		return true;
	if (p->list[PF_LEVEL].len)
		release(p, p->list[PF_LEVEL].tail);
	else if (cls == PF_RING && p->list[PF_RING].len)
		release(p, p->list[PF_RING].tail);
	else
		return false;	/* a level key never displaces a ring key */
	p->stats.dropped++;
	return true;
}

static enum push_result push(struct prefetch *p, const struct tilekey *k, enum pf_class cls)
{
	uint32_t i, *b;
	unsigned fmts = 0;

	if (p->call_scanned++ >= PREFETCH_SCAN_FACTOR * p->cap)
		return PUSH_FULL;
	if (p->idx && !(fmts = tileindex_lookup(p->idx, k->z, k->x, k->y)))
		return PUSH_SKIPPED;	/* a hole: never queued */
	if (find(p, k) != NIL || cache_peek(p->cache, k) != CACHE_UNKNOWN)
		return PUSH_SKIPPED;
	if (!make_room(p, cls) || p->free_head == NIL)
		return PUSH_FULL;
	i = p->free_head;
	p->free_head = p->e[i].next;
	p->e[i].key = *k;
	p->e[i].cls = (uint8_t)cls;
	p->e[i].stamp = p->stamp;
	p->e[i].indexed = p->idx != NULL;
	p->e[i].fmts = (uint8_t)fmts;
	b = bucket_of(p, k);
	p->e[i].hnext = *b;
	*b = i;
	list_push_newest(p, i);
	p->call_kept++;
	p->stats.queued++;
	return PUSH_ADDED;
}

struct rect {
	int64_t x0, x1, y0, y1;
};

/* Queues the tiles of r at level z, clipped to the grid, except those in
 * the excluded rectangle; stops when the queue can take no more. */
static void push_rect(struct prefetch *p, const struct dataset *d, struct tilekey k, unsigned z,
		      struct rect r, const struct rect *ex, enum pf_class cls)
{
	uint64_t cols, rows;

	dataset_grid(d, z, &cols, &rows);
	if (!cols || !rows)
		return;
	r.x0 = r.x0 < 0 ? 0 : r.x0;
	r.y0 = r.y0 < 0 ? 0 : r.y0;
	r.x1 = r.x1 >= (int64_t)cols ? (int64_t)cols - 1 : r.x1;
	r.y1 = r.y1 >= (int64_t)rows ? (int64_t)rows - 1 : r.y1;
	k.z = (uint8_t)z;
	for (int64_t y = r.y0; y <= r.y1; y++)
		for (int64_t x = r.x0; x <= r.x1; x++) {
			if (ex && x >= ex->x0 && x <= ex->x1 && y >= ex->y0 && y <= ex->y1)
				continue;
			k.x = (uint32_t)x;
			k.y = (uint32_t)y;
			if (push(p, &k, cls) == PUSH_FULL)
				return;
		}
}

size_t prefetch_viewport(struct prefetch *p, const struct dataset *d,
			 const struct tileindex *idx, enum tile_fmt fmt, unsigned z, uint32_t x0,
			 uint32_t x1, uint32_t y0, uint32_t y1)
{
	struct tilekey k = {.dataset = d->id, .fmt = (uint8_t)fmt};
	uint64_t cols, rows;
	struct rect v;

	if (!p || !p->cap)
		return 0;
	dataset_grid(d, z, &cols, &rows);
	if (!cols || x0 >= cols || y0 >= rows || x1 < x0 || y1 < y0)
		return 0;
	/* clip first, so that the work below is bounded whatever was asked */
	v.x0 = x0;
	v.y0 = y0;
	v.x1 = x1 >= cols ? (int64_t)cols - 1 : (int64_t)x1;
	v.y1 = y1 >= rows ? (int64_t)rows - 1 : (int64_t)y1;
	if (v.x1 - v.x0 >= PREFETCH_VIEWPORT_MAX)
		v.x1 = v.x0 + PREFETCH_VIEWPORT_MAX - 1;
	if (v.y1 - v.y0 >= PREFETCH_VIEWPORT_MAX)
		v.y1 = v.y0 + PREFETCH_VIEWPORT_MAX - 1;
	p->stamp++;
	p->call_kept = 0;
	p->call_scanned = 0;
	p->idx = idx;
	/* the ring around the viewport first, then one level out, then one in */
	push_rect(p, d, k, z, (struct rect){v.x0 - 1, v.x1 + 1, v.y0 - 1, v.y1 + 1}, &v, PF_RING);
	if (z > d->min_zoom)
		push_rect(p, d, k, z - 1, (struct rect){v.x0 / 2, v.x1 / 2, v.y0 / 2, v.y1 / 2}, NULL,
			  PF_LEVEL);
	if (z < d->max_zoom)
		push_rect(p, d, k, z + 1, (struct rect){2 * v.x0, 2 * v.x1 + 1, 2 * v.y0, 2 * v.y1 + 1},
			  NULL, PF_LEVEL);
	p->idx = NULL;
	return p->call_kept;
}

void prefetch_drop_dataset(struct prefetch *p, uint32_t dataset)
{
	if (!p || !p->cap)
		return;
	for (int c = 0; c < PF__CLASSES; c++) {
		uint32_t i = p->list[c].head;

		while (i != NIL) {
			uint32_t next = p->e[i].next;

			if (p->e[i].key.dataset == dataset)
				release(p, i);
			i = next;
		}
	}
}

/* ---- draining ----------------------------------------------------------------- */

static void on_done(struct lookup *lk, void *ud)
{
	struct pf_slot *s = ud;

	/* the store has cached it (and counted it as prefetched) */
	if (lk->tile)
		s->p->stats.fetched++;
	tile_unref(lk->tile);
	lk->tile = NULL;
	release(s->p, s->entry);
	s->busy = false;
	s->p->inflight--;
}

bool prefetch_pump(struct prefetch *p)
{
	bool started = false;

	if (!p || !p->cap)
		return false;
	while (p->inflight < p->nslots && prefetch_queued(p)) {
		int c = p->list[PF_RING].len ? PF_RING : PF_LEVEL;
		uint32_t i = p->list[c].head;
		struct pf_slot *s = NULL;

		list_unlink(p, i);
		if (cache_peek(p->cache, &p->e[i].key) != CACHE_UNKNOWN) {
			release(p, i);	/* answered meanwhile */
			continue;
		}
		for (unsigned j = 0; j < p->nslots && !s; j++)
			if (!p->slots[j].busy)
				s = &p->slots[j];
		memset(&s->lk, 0, sizeof(s->lk));
		s->p = p;
		s->entry = i;
		s->busy = true;
		s->lk.want = p->e[i].key;
		s->lk.background = true;
		s->lk.indexed = p->e[i].indexed;
		s->lk.fmts = p->e[i].fmts;
		s->lk.done = on_done;
		s->lk.ud = s;
		p->inflight++;
		started = true;
		store_lookup_start(p->st, &s->lk);
	}
	return started;
}
