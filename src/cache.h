/*
 * cache.h - the per-process LRU tile cache, and the reference-counted tile.
 *
 * Each process of the pool is single-threaded and owns one cache: no locks.
 * A chained hash table finds a tile, an intrusive doubly linked list orders
 * tiles from most (head) to least (tail) recently used; lookup, insert, touch
 * and eviction are O(1), a lookup allocates nothing, a tile is one malloc.
 *
 * Invariants:
 *  - count <= max_tiles and bytes <= max_bytes, always, where bytes is the sum
 *    of cache_entry_cost() of the entries: header, data, malloc overhead and
 *    share of the bucket array, so the bound is on memory, not on payload.
 *  - One entry per key (dataset, z, x, y, ACTUAL format); a put replaces.
 *  - The cache holds one reference per entry; tile_new() and cache_get()
 *    give the caller one more, so bytes stay valid after eviction until the
 *    caller's tile_unref().
 *  - With a gen_map, an entry is returned only while its gen equals its
 *    dataset's current generation. A stale entry is dropped when met, and
 *    cache_sync() sweeps all of them once any process bumped a generation.
 *
 * Negative entries: (key, format) that storage said does not exist, so that
 * holes of a sparse pyramid and the formats a dataset lacks cost no storage
 * request while they are remembered. They have a list, a bound and a TTL of
 * their own (cache_negative_limits): they never push a tile out and a tile
 * never pushes them out. A negative entry and a tile never share a key: each
 * put replaces the other. Generations apply to both.
 *
 * Clearing a dataset for the whole pool: cache_clear_dataset() (bumps, then
 * drops here); every other process drops on its next cache_sync() or hit.
 */
#ifndef AP_CACHE_H
#define AP_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "tilekey.h"

struct gen_map;

#define TILE_ETAG_BYTES 16			/* of SHA-256 */
#define TILE_ETAG_MAX (2 * TILE_ETAG_BYTES + 3)	/* quotes, hex, NUL */
#define CACHE_MALLOC_OVERHEAD 16		/* per malloc, estimated */
#define CACHE_TILES_CEILING (1u << 22)		/* largest max_tiles */

#define TILE_F_CACHED 0x01	/* linked in a cache */
#define TILE_F_PREFETCHED 0x02	/* put by prefetch, not yet hit */
#define TILE_F_ABSENT 0x04	/* a negative entry: storage said no such object */

struct tile {
	struct tilekey key;
	uint64_t gen;		/* dataset generation when fetched */
	uint32_t refs;
	uint8_t flags;		/* TILE_F_* */
	long long expires_ms;	/* negative entries: end of life (clock_ms) */
	size_t len;
	char etag[TILE_ETAG_MAX];	/* "\"<32 hex>\"": strong, of the bytes */
	struct tile *hnext, *prev, *next;	/* hash chain, LRU list */
	unsigned char data[];
};

/* A tile with refs = 1 and its ETag; NULL if out of memory. */
struct tile *tile_new(const struct tilekey *k, const void *data, size_t len);
struct tile *tile_ref(struct tile *t);
void tile_unref(struct tile *t);	/* frees at 0; NULL is a no-op */

struct cache;

struct cache_stats {
	size_t count, max_count, bytes, max_bytes;	/* bytes: as in the bound */
	uint64_t requests, hits, misses, evictions, prefetched, prefetch_hits;
	size_t negative, max_negative;
	uint64_t negative_hits;
};

/* What the cache knows of one (tile, format). */
enum cache_answer { CACHE_UNKNOWN, CACHE_PRESENT, CACHE_ABSENT };

/* max_tiles <= CACHE_TILES_CEILING (else AP_ERR_CONFIG); 0 tiles or 0 bytes
 * make a cache that holds nothing. gens may be NULL: no generations. */
enum ap_err cache_new(size_t max_tiles, size_t max_bytes, struct gen_map *gens,
		      struct cache **out) AP_WARN_UNUSED;
void cache_free(struct cache *c);	/* tiles still referenced survive */
/* What an entry of len data bytes counts against max_bytes. */
size_t cache_entry_cost(const struct cache *c, size_t len);
/* Negative entries: at most max, each for ttl_ms (0 max: none are kept). */
void cache_negative_limits(struct cache *c, size_t max, long long ttl_ms);

/* A new reference and moved to MRU, or NULL. Counts no statistics. */
struct tile *cache_get(struct cache *c, const struct tilekey *k);
/* Whether k is cached, without touching it (prefetch planning). */
bool cache_contains(struct cache *c, const struct tilekey *k);
/* What is known of k: PRESENT sets *out to a new reference (moved to MRU),
 * ABSENT counts a negative hit, UNKNOWN means storage must be asked. */
enum cache_answer cache_probe(struct cache *c, const struct tilekey *k, struct tile **out);
/* The same answer without touching or counting anything (planning). */
enum cache_answer cache_peek(struct cache *c, const struct tilekey *k);
/* Remembers that k is absent from storage (replacing a tile of that key),
 * for the negative TTL, if gen is still the dataset's generation. */
void cache_put_absent(struct cache *c, const struct tilekey *k, uint64_t gen);
/* Takes its own reference. false, and nothing changes, if gen is not the
 * dataset's current generation (fetched before a clear) or the tile costs
 * more than max_bytes; the caller still serves it. Evicts LRU entries until
 * both bounds hold. */
bool cache_put(struct cache *c, struct tile *t, uint64_t gen);
/* Current generation of a dataset (0 without gens): read before a fetch. */
uint64_t cache_gen(const struct cache *c, uint32_t dataset);
/* Once per request: one atomic load, unless a generation moved anywhere in
 * the pool since the last call; then drops the stale entries. */
void cache_sync(struct cache *c);
/* Drops a dataset's entries here only; returns how many. */
size_t cache_drop_dataset(struct cache *c, uint32_t dataset);
/* Bumps the dataset's generation (whole pool) and drops it here. */
size_t cache_clear_dataset(struct cache *c, uint32_t dataset);
void cache_clear(struct cache *c);

/* Counts one lookup as hit or miss; the caller decides what a lookup is. */
void cache_note(struct cache *c, bool hit);
/* After a successful cache_put of a prefetched tile: counts it, and its
 * first cache_get counts a prefetch hit. */
void cache_note_prefetch(struct cache *c, struct tile *t);
void cache_get_stats(const struct cache *c, struct cache_stats *s);
/* "31.0%" of hits over lookups (SPEC 3.2, 3.3). */
void cache_hit_rate_text(const struct cache_stats *s, char *out, size_t cap);
/* A dataset's live entries and their cost, after dropping its stale ones.
 * O(entries): for the stats endpoint, not the tile path. */
void cache_dataset_usage(struct cache *c, uint32_t dataset, size_t *tiles, size_t *bytes);

#endif
