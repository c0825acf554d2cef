/*
 * cache.c - per-process LRU tile cache; see cache.h.
 *
 * The bucket array is sized once: max_tiles bounds the entries, so a power of
 * two >= 4/3 max_tiles keeps the load factor <= 0.75 for the cache's whole
 * life and no request ever pays for a rehash. Its memory is charged to the
 * entries (entry_extra), so that max_bytes bounds what the cache really
 * costs. Chains and the LRU list are intrusive in struct tile: a tile is one
 * allocation, and a lookup, a touch or an eviction allocates nothing.
 *
 * Keys are hashed with two rounds of splitmix64 over the packed key (dataset,
 * z and format in one word, x and y in the other): cheap, and good enough
 * that neighbouring tiles, which differ in a few low bits, spread evenly.
 *
 * Generations: an entry keeps the generation its dataset had when the tile
 * was fetched. A hit compares it with the shared counter (one atomic load);
 * cache_sync() compares the shared epoch with the one seen last and sweeps
 * the list only when it moved, which happens once per cache clear anywhere
 * in the pool.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "cache.h"
#include "generation.h"

struct cache {
	struct tile **buckets;
	size_t mask;			/* buckets - 1 */
	struct tile *head, *tail;	/* MRU, LRU */
	struct gen_map *gens;		/* NULL: every generation is 0 */
	uint64_t epoch;			/* gens' epoch at the last sweep */
	size_t entry_extra;		/* cost of an entry besides its data */
	size_t count, max_tiles, bytes, max_bytes;
	uint64_t hits, misses, evictions, prefetched, prefetch_hits;
};

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t key_hash(const struct tilekey *k)
{
	uint64_t a = (uint64_t)k->dataset << 16 | (uint64_t)k->z << 8 | k->fmt;
	uint64_t b = (uint64_t)k->x << 32 | k->y;

	return mix64(mix64(a + 0x9e3779b97f4a7c15ULL) ^ b);
}

static bool key_eq(const struct tilekey *a, const struct tilekey *b)
{
	return a->x == b->x && a->y == b->y && a->z == b->z && a->dataset == b->dataset &&
	       a->fmt == b->fmt;
}

/* ---- tiles ---- */

struct tile *tile_new(const struct tilekey *k, const void *data, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct tile *t;
	char *e;

	if (len > SIZE_MAX - sizeof(*t))
		return NULL;
	t = malloc(sizeof(*t) + len);
	if (!t)
		return NULL;
	if (!EVP_Digest(len ? data : "", len, md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen < TILE_ETAG_BYTES) {
		free(t);
		return NULL;
	}
	memset(t, 0, sizeof(*t));
	t->key = *k;
	t->refs = 1;
	t->len = len;
	e = t->etag;
	*e++ = '"';
	for (int i = 0; i < TILE_ETAG_BYTES; i++) {
		*e++ = hex[md[i] >> 4];
		*e++ = hex[md[i] & 15];
	}
	*e++ = '"';
	*e = '\0';
	if (len)
		memcpy(t->data, data, len);
	return t;
}

struct tile *tile_ref(struct tile *t)
{
	assert(t->refs > 0 && t->refs < UINT32_MAX);
	t->refs++;
	return t;
}

void tile_unref(struct tile *t)
{
	if (!t)
		return;
	assert(t->refs > 0);
	if (--t->refs == 0) {
		assert(!(t->flags & TILE_F_CACHED));
		free(t);
	}
}

/* ---- table and list ---- */

static struct tile **bucket_of(const struct cache *c, const struct tilekey *k)
{
	return &c->buckets[(size_t)key_hash(k) & c->mask];
}

static struct tile *lookup(const struct cache *c, const struct tilekey *k)
{
	struct tile *t = *bucket_of(c, k);

	while (t && !key_eq(&t->key, k))
		t = t->hnext;
	return t;
}

static void lru_unlink(struct cache *c, struct tile *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		c->head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	else
		c->tail = t->prev;
	t->prev = t->next = NULL;
}

static void lru_push_front(struct cache *c, struct tile *t)
{
	t->prev = NULL;
	t->next = c->head;
	if (c->head)
		c->head->prev = t;
	else
		c->tail = t;
	c->head = t;
}

static void touch(struct cache *c, struct tile *t)
{
	if (t != c->head) {
		lru_unlink(c, t);
		lru_push_front(c, t);
	}
}

/* Unlinks an entry and drops the cache's reference. */
static void entry_drop(struct cache *c, struct tile *t)
{
	struct tile **pp = bucket_of(c, &t->key);

	while (*pp != t)
		pp = &(*pp)->hnext;
	*pp = t->hnext;
	t->hnext = NULL;
	lru_unlink(c, t);
	t->flags &= (uint8_t)~(TILE_F_CACHED | TILE_F_PREFETCHED);
	c->count--;
	c->bytes -= cache_entry_cost(c, t->len);
	tile_unref(t);
}

static bool entry_stale(const struct cache *c, const struct tile *t)
{
	return c->gens && t->gen != gen_get(c->gens, t->key.dataset);
}

/* ---- cache ---- */

enum ap_err cache_new(size_t max_tiles, size_t max_bytes, struct gen_map *gens, struct cache **out)
{
	struct cache *c = NULL;
	size_t nbuckets = 1, share = 0;
	enum ap_err err;

	*out = NULL;
	if (max_tiles > CACHE_TILES_CEILING) {
		err = AP_ERR_CONFIG;
		goto fail;
	}
	/* smallest power of two >= ceil(max_tiles * 4 / 3) */
	while (nbuckets < max_tiles + (max_tiles + 2) / 3)
		nbuckets <<= 1;
	if (max_tiles)
		share = (nbuckets * sizeof(struct tile *) + max_tiles - 1) / max_tiles;
	c = calloc(1, sizeof(*c));
	if (!c) {
		err = AP_ERR_NOMEM;
		goto fail;
	}
	c->buckets = calloc(nbuckets, sizeof(*c->buckets));
	if (!c->buckets) {
		err = AP_ERR_NOMEM;
		goto fail;
	}
	c->mask = nbuckets - 1;
	c->gens = gens;
	c->epoch = gens ? gen_epoch(gens) : 0;
	c->entry_extra = sizeof(struct tile) + CACHE_MALLOC_OVERHEAD + share;
	c->max_tiles = max_tiles;
	c->max_bytes = max_bytes;
	*out = c;
	return AP_OK;
fail:
	free(c);
	return err;
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	cache_clear(c);
	free(c->buckets);
	free(c);
}

size_t cache_entry_cost(const struct cache *c, size_t len)
{
	return len > SIZE_MAX - c->entry_extra ? SIZE_MAX : c->entry_extra + len;
}

struct tile *cache_get(struct cache *c, const struct tilekey *k)
{
	struct tile *t = lookup(c, k);

	if (!t)
		return NULL;
	if (entry_stale(c, t)) {
		entry_drop(c, t);
		return NULL;
	}
	touch(c, t);
	if (t->flags & TILE_F_PREFETCHED) {
		t->flags &= (uint8_t)~TILE_F_PREFETCHED;
		c->prefetch_hits++;
	}
	return tile_ref(t);
}

bool cache_contains(struct cache *c, const struct tilekey *k)
{
	struct tile *t = lookup(c, k);

	if (t && entry_stale(c, t)) {
		entry_drop(c, t);
		t = NULL;
	}
	return t != NULL;
}

bool cache_put(struct cache *c, struct tile *t, uint64_t gen)
{
	size_t cost = cache_entry_cost(c, t->len);
	struct tile **b, *old;

	if (c->max_tiles == 0 || cost > c->max_bytes || gen != cache_gen(c, t->key.dataset))
		return false;
	old = lookup(c, &t->key);
	if (t->flags & TILE_F_CACHED) {
		if (old != t)
			return false;	/* a tile lives in one cache at most */
		t->gen = gen;
		touch(c, t);
		return true;
	}
	if (old)
		entry_drop(c, old);
	/* terminates: an empty cache holds any tile that passed the test above */
	while (c->count >= c->max_tiles || cost > c->max_bytes - c->bytes) {
		entry_drop(c, c->tail);
		c->evictions++;
	}
	b = bucket_of(c, &t->key);
	t->hnext = *b;
	*b = t;
	lru_push_front(c, tile_ref(t));
	t->gen = gen;
	t->flags |= TILE_F_CACHED;
	c->count++;
	c->bytes += cost;
	return true;
}

uint64_t cache_gen(const struct cache *c, uint32_t dataset)
{
	return c->gens ? gen_get(c->gens, dataset) : 0;
}

void cache_sync(struct cache *c)
{
	uint64_t epoch;
	struct tile *t, *next;

	if (!c->gens)
		return;
	/* The epoch is read before the slots: a bump that this load misses is
	 * seen by the next sync, one that it sees has its slot visible. */
	epoch = gen_epoch(c->gens);
	if (epoch == c->epoch)
		return;
	c->epoch = epoch;
	for (t = c->head; t; t = next) {
		next = t->next;
		if (entry_stale(c, t))
			entry_drop(c, t);
	}
}

size_t cache_drop_dataset(struct cache *c, uint32_t dataset)
{
	struct tile *t, *next;
	size_t n = 0;

	for (t = c->head; t; t = next) {
		next = t->next;
		if (t->key.dataset == dataset) {
			entry_drop(c, t);
			n++;
		}
	}
	return n;
}

size_t cache_clear_dataset(struct cache *c, uint32_t dataset)
{
	/* The epoch is left alone: a bump by another process between ours and
	 * now must still make the next cache_sync() sweep. */
	if (c->gens)
		gen_bump(c->gens, dataset);
	return cache_drop_dataset(c, dataset);
}

void cache_clear(struct cache *c)
{
	while (c->tail)
		entry_drop(c, c->tail);
}

void cache_note(struct cache *c, bool hit)
{
	if (hit)
		c->hits++;
	else
		c->misses++;
}

void cache_note_prefetch(struct cache *c, struct tile *t)
{
	if ((t->flags & TILE_F_CACHED) && lookup(c, &t->key) == t) {
		t->flags |= TILE_F_PREFETCHED;
		c->prefetched++;
	}
}

void cache_get_stats(const struct cache *c, struct cache_stats *s)
{
	s->count = c->count;
	s->max_count = c->max_tiles;
	s->bytes = c->bytes;
	s->max_bytes = c->max_bytes;
	s->requests = c->hits + c->misses;
	s->hits = c->hits;
	s->misses = c->misses;
	s->evictions = c->evictions;
	s->prefetched = c->prefetched;
	s->prefetch_hits = c->prefetch_hits;
}

void cache_dataset_usage(struct cache *c, uint32_t dataset, size_t *tiles, size_t *bytes)
{
	struct tile *t, *next;

	*tiles = 0;
	*bytes = 0;
	for (t = c->head; t; t = next) {
		next = t->next;
		if (t->key.dataset != dataset)
			continue;
		if (entry_stale(c, t)) {
			entry_drop(c, t);
			continue;
		}
		(*tiles)++;
		*bytes += cache_entry_cost(c, t->len);
	}
}
