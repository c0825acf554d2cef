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
 * Negative entries live in a second, smaller table and list of their own
 * (same hashing, same intrusive links), so that the two bounds cannot
 * interfere; a negative entry is a struct tile without data.
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
#include <stdio.h>
#include <openssl/evp.h>
#include "cache.h"
#include "clock.h"
#include "generation.h"
#include "hex.h"

/* One hash table and LRU list: the tiles, or the negative entries. */
struct table {
	struct tile **buckets;
	size_t mask;			/* buckets - 1 */
	struct tile *head, *tail;	/* MRU, LRU */
	size_t count;
};

struct cache {
	struct table pos, neg;
	long long neg_ttl_ms;
	size_t max_negative;
	uint64_t negative_hits;
	struct gen_map *gens;		/* NULL: every generation is 0 */
	uint64_t epoch;			/* gens' epoch at the last sweep */
	size_t entry_extra;		/* cost of an entry besides its data */
	size_t max_tiles, bytes, max_bytes;
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
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct tile *t;

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
	t->etag[0] = '"';
	hex_encode(md, TILE_ETAG_BYTES, t->etag + 1);
	t->etag[2 * TILE_ETAG_BYTES + 1] = '"';
	t->etag[2 * TILE_ETAG_BYTES + 2] = '\0';
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

static struct tile **bucket_of(const struct table *tb, const struct tilekey *k)
{
	return &tb->buckets[(size_t)key_hash(k) & tb->mask];
}

static struct tile *lookup(const struct table *tb, const struct tilekey *k)
{
	struct tile *t = tb->buckets ? *bucket_of(tb, k) : NULL;

	while (t && !key_eq(&t->key, k))
		t = t->hnext;
	return t;
}

static void lru_unlink(struct table *tb, struct tile *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		tb->head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	else
		tb->tail = t->prev;
	t->prev = t->next = NULL;
}

static void lru_push_front(struct table *tb, struct tile *t)
{
	t->prev = NULL;
	t->next = tb->head;
	if (tb->head)
		tb->head->prev = t;
	else
		tb->tail = t;
	tb->head = t;
}

static void touch(struct table *tb, struct tile *t)
{
	if (t != tb->head) {
		lru_unlink(tb, t);
		lru_push_front(tb, t);
	}
}

static void link_entry(struct table *tb, struct tile *t)
{
	struct tile **b = bucket_of(tb, &t->key);

	t->hnext = *b;
	*b = t;
	lru_push_front(tb, tile_ref(t));
	t->flags |= TILE_F_CACHED;
	tb->count++;
}

/* Unlinks an entry from its table; the caller drops the reference. */
static void unlink_entry(struct table *tb, struct tile *t)
{
	struct tile **pp = bucket_of(tb, &t->key);

	while (*pp != t)
		pp = &(*pp)->hnext;
	*pp = t->hnext;
	t->hnext = NULL;
	lru_unlink(tb, t);
	t->flags &= (uint8_t)~(TILE_F_CACHED | TILE_F_PREFETCHED);
	tb->count--;
}

/* Unlinks an entry of either table and drops the cache's reference. */
static void entry_drop(struct cache *c, struct tile *t)
{
	if (t->flags & TILE_F_ABSENT) {
		unlink_entry(&c->neg, t);
	} else {
		unlink_entry(&c->pos, t);
		c->bytes -= cache_entry_cost(c, t->len);
	}
	tile_unref(t);
}

static bool entry_stale(const struct cache *c, const struct tile *t)
{
	return c->gens && t->gen != gen_get(c->gens, t->key.dataset);
}

/* ---- cache ---- */

static size_t buckets_for(size_t entries)
{
	size_t n = 1;

	/* smallest power of two >= ceil(entries * 4 / 3) */
	while (n < entries + (entries + 2) / 3)
		n <<= 1;
	return n;
}

static enum ap_err table_init(struct table *tb, size_t entries)
{
	size_t n = buckets_for(entries);

	memset(tb, 0, sizeof(*tb));
	tb->buckets = calloc(n, sizeof(*tb->buckets));
	if (!tb->buckets)
		return AP_ERR_NOMEM;
	tb->mask = n - 1;
	return AP_OK;
}

enum ap_err cache_new(size_t max_tiles, size_t max_bytes, struct gen_map *gens, struct cache **out)
{
	struct cache *c;
	size_t nbuckets = buckets_for(max_tiles), share = 0;

	*out = NULL;
	if (max_tiles > CACHE_TILES_CEILING)
		return AP_ERR_CONFIG;
	if (max_tiles)
		share = (nbuckets * sizeof(struct tile *) + max_tiles - 1) / max_tiles;
	c = calloc(1, sizeof(*c));
	if (!c)
		return AP_ERR_NOMEM;
	if (table_init(&c->pos, max_tiles)) {
		free(c);
		return AP_ERR_NOMEM;
	}
	c->gens = gens;
	c->epoch = gens ? gen_epoch(gens) : 0;
	c->entry_extra = sizeof(struct tile) + CACHE_MALLOC_OVERHEAD + share;
	c->max_tiles = max_tiles;
	c->max_bytes = max_bytes;
	*out = c;
	return AP_OK;
}

void cache_negative_limits(struct cache *c, size_t max, long long ttl_ms)
{
	struct table tb;

	if (max > CACHE_TILES_CEILING)
		max = CACHE_TILES_CEILING;
	while (c->neg.tail)
		entry_drop(c, c->neg.tail);
	free(c->neg.buckets);
	memset(&c->neg, 0, sizeof(c->neg));
	c->max_negative = 0;
	c->neg_ttl_ms = ttl_ms;
	if (max == 0 || ttl_ms <= 0 || table_init(&tb, max))
		return;	/* out of memory: no negative entries, which is still correct */
	c->neg = tb;
	c->max_negative = max;
}

void cache_free(struct cache *c)
{
	if (!c)
		return;
	cache_clear(c);
	free(c->pos.buckets);
	free(c->neg.buckets);
	free(c);
}

size_t cache_entry_cost(const struct cache *c, size_t len)
{
	return len > SIZE_MAX - c->entry_extra ? SIZE_MAX : c->entry_extra + len;
}

/* The live tile of key k, or NULL (a stale one is dropped on the way). */
static struct tile *live_tile(struct cache *c, const struct tilekey *k)
{
	struct tile *t = lookup(&c->pos, k);

	if (t && entry_stale(c, t)) {
		entry_drop(c, t);
		t = NULL;
	}
	return t;
}

/* The live negative entry of key k, or NULL (stale or expired: dropped). */
static struct tile *live_absent(struct cache *c, const struct tilekey *k)
{
	struct tile *t = lookup(&c->neg, k);

	if (t && (entry_stale(c, t) || clock_ms() >= t->expires_ms)) {
		entry_drop(c, t);
		t = NULL;
	}
	return t;
}

static struct tile *hit(struct cache *c, struct tile *t)
{
	touch(&c->pos, t);
	if (t->flags & TILE_F_PREFETCHED) {
		t->flags &= (uint8_t)~TILE_F_PREFETCHED;
		c->prefetch_hits++;
	}
	return tile_ref(t);
}

struct tile *cache_get(struct cache *c, const struct tilekey *k)
{
	struct tile *t = live_tile(c, k);

	return t ? hit(c, t) : NULL;
}

bool cache_contains(struct cache *c, const struct tilekey *k)
{
	return live_tile(c, k) != NULL;
}

enum cache_answer cache_probe(struct cache *c, const struct tilekey *k, struct tile **out)
{
	struct tile *t = live_tile(c, k);

	*out = NULL;
	if (t) {
		*out = hit(c, t);
		return CACHE_PRESENT;
	}
	t = live_absent(c, k);
	if (!t)
		return CACHE_UNKNOWN;
	touch(&c->neg, t);
	c->negative_hits++;
	return CACHE_ABSENT;
}

enum cache_answer cache_peek(struct cache *c, const struct tilekey *k)
{
	if (live_tile(c, k))
		return CACHE_PRESENT;
	return live_absent(c, k) ? CACHE_ABSENT : CACHE_UNKNOWN;
}

void cache_put_absent(struct cache *c, const struct tilekey *k, uint64_t gen)
{
	struct tile *t;

	if (gen != cache_gen(c, k->dataset))
		return;
	t = live_tile(c, k);
	if (t)
		entry_drop(c, t);	/* storage says it is gone */
	if (c->max_negative == 0)
		return;
	t = lookup(&c->neg, k);
	if (!t) {
		if (c->neg.count >= c->max_negative)
			entry_drop(c, c->neg.tail);
		t = tile_new(k, NULL, 0);
		if (!t)
			return;
		t->flags |= TILE_F_ABSENT;
		link_entry(&c->neg, t);
		tile_unref(t);
	}
	touch(&c->neg, t);
	t->gen = gen;
	t->expires_ms = clock_ms() + c->neg_ttl_ms;
}

bool cache_put(struct cache *c, struct tile *t, uint64_t gen)
{
	size_t cost = cache_entry_cost(c, t->len);
	struct tile *old;

	if (c->max_tiles == 0 || cost > c->max_bytes || gen != cache_gen(c, t->key.dataset) ||
	    (t->flags & TILE_F_ABSENT))
		return false;
	old = lookup(&c->pos, &t->key);
	if (t->flags & TILE_F_CACHED) {
		if (old != t)
			return false;	/* a tile lives in one cache at most */
		t->gen = gen;
		touch(&c->pos, t);
		return true;
	}
	if (old)
		entry_drop(c, old);
	old = lookup(&c->neg, &t->key);
	if (old)
		entry_drop(c, old);	/* it exists after all */
	/* terminates: an empty cache holds any tile that passed the test above */
	while (c->pos.count >= c->max_tiles || cost > c->max_bytes - c->bytes) {
		entry_drop(c, c->pos.tail);
		c->evictions++;
	}
	link_entry(&c->pos, t);
	t->gen = gen;
	c->bytes += cost;
	return true;
}

uint64_t cache_gen(const struct cache *c, uint32_t dataset)
{
	return c->gens ? gen_get(c->gens, dataset) : 0;
}

/* Drops the entries of one list for which drop() says so; returns how many. */
static size_t sweep(struct cache *c, struct table *tb, bool (*drop)(const struct cache *,
							      const struct tile *, uint32_t),
		    uint32_t dataset)
{
	struct tile *t, *next;
	size_t n = 0;

	for (t = tb->head; t; t = next) {
		next = t->next;
		if (drop(c, t, dataset)) {
			entry_drop(c, t);
			n++;
		}
	}
	return n;
}

static bool is_stale(const struct cache *c, const struct tile *t, uint32_t unused)
{
	(void)unused;
	return entry_stale(c, t);
}

static bool of_dataset(const struct cache *c, const struct tile *t, uint32_t dataset)
{
	(void)c;
	return t->key.dataset == dataset;
}

void cache_sync(struct cache *c)
{
	uint64_t epoch;

	if (!c->gens)
		return;
	/* The epoch is read before the slots: a bump that this load misses is
	 * seen by the next sync, one that it sees has its slot visible. */
	epoch = gen_epoch(c->gens);
	if (epoch == c->epoch)
		return;
	c->epoch = epoch;
	sweep(c, &c->pos, is_stale, 0);
	sweep(c, &c->neg, is_stale, 0);
}

size_t cache_drop_dataset(struct cache *c, uint32_t dataset)
{
	sweep(c, &c->neg, of_dataset, dataset);
	return sweep(c, &c->pos, of_dataset, dataset);
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
	while (c->pos.tail)
		entry_drop(c, c->pos.tail);
	while (c->neg.tail)
		entry_drop(c, c->neg.tail);
}

void cache_note(struct cache *c, bool is_hit)
{
	if (is_hit)
		c->hits++;
	else
		c->misses++;
}

void cache_note_prefetch(struct cache *c, struct tile *t)
{
	if ((t->flags & TILE_F_CACHED) && lookup(&c->pos, &t->key) == t) {
		t->flags |= TILE_F_PREFETCHED;
		c->prefetched++;
	}
}

void cache_get_stats(const struct cache *c, struct cache_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->count = c->pos.count;
	s->max_count = c->max_tiles;
	s->bytes = c->bytes;
	s->max_bytes = c->max_bytes;
	s->requests = c->hits + c->misses;
	s->hits = c->hits;
	s->misses = c->misses;
	s->evictions = c->evictions;
	s->prefetched = c->prefetched;
	s->prefetch_hits = c->prefetch_hits;
	s->negative = c->neg.count;
	s->max_negative = c->max_negative;
	s->negative_hits = c->negative_hits;
}

void cache_hit_rate_text(const struct cache_stats *s, char *out, size_t cap)
{
	snprintf(out, cap, "%.1f%%", s->requests ? 100.0 * (double)s->hits / (double)s->requests : 0.0);
}

void cache_dataset_usage(struct cache *c, uint32_t dataset, size_t *tiles, size_t *bytes)
{
	struct tile *t, *next;

	*tiles = 0;
	*bytes = 0;
	for (t = c->pos.head; t; t = next) {
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
