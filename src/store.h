/*
 * store.h - where tiles come from: memory, then the bucket, then local disk.
 *
 * A struct lookup is one tile request in flight. It walks the formats in
 * fallback order (requested, then jpg, png, webp) against the bucket, each
 * 404 starting the next format at once; if the bucket has none of them, or
 * fails, the local tree is tried in the same order. The result is cached
 * under the dataset generation taken when the lookup started, so a tile
 * fetched across a cache-clear is never cached.
 *
 * A circuit breaker skips the bucket for S3_COOLDOWN_SECONDS after
 * S3_FAILURE_THRESHOLD consecutive failures (404 counts as success: the
 * bucket answered), so a dead bucket costs one timeout, not one per tile.
 *
 * Completion: lookup->done runs exactly once, possibly before
 * store_lookup_start() returns (memory and local answers are synchronous).
 */
#ifndef AP_STORE_H
#define AP_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include "buf.h"
#include "error.h"
#include "tilekey.h"

struct config;
struct cache;
struct engine;
struct xfer;
struct tile;
struct store;
struct dataset;

enum tile_source { SRC_MEMORY, SRC_R2, SRC_LOCAL };
const char *tile_source_name(enum tile_source s);	/* "memory-cache", "r2", "local" */

struct lookup {
	/* in */
	struct tilekey want;	/* fmt: the requested format */
	bool prefetch;		/* mark the cached tile as prefetched */
	void (*done)(struct lookup *lk, void *ud);
	void *ud;
	/* out */
	enum ap_err err;
	struct tile *tile;	/* a reference the caller must tile_unref() */
	enum tile_source src;
	/* private */
	struct store *st;
	struct xfer *x;
	uint64_t gen;
	enum tile_fmt order[FMT__COUNT];
	uint8_t step;
	enum ap_err bucket_err;
};

enum ap_err store_new(const struct config *c, struct cache *cache, struct engine *engine,
		      struct store **out) AP_WARN_UNUSED;
void store_free(struct store *st);

/* The tile in memory in fallback order (a new reference), or NULL. */
struct tile *store_cached(struct store *st, const struct tilekey *want);
/* Starts a storage lookup (no memory check); see "Completion" above. */
void store_lookup_start(struct store *st, struct lookup *lk);
/* Stops a lookup in flight; done will not run. */
void store_lookup_cancel(struct lookup *lk);
/* A whole lookup, memory included, waiting at most S3_TIMEOUT_MS. */
enum ap_err store_get_tile(struct store *st, const struct tilekey *want, struct tile **out,
			   enum tile_source *src) AP_WARN_UNUSED;
/* A small object (metadata) from the bucket, else the local tree. */
enum ap_err store_get_object(struct store *st, const char *key, size_t max, struct buf *out) AP_WARN_UNUSED;

struct store_health {
	bool bucket_configured;
	bool bucket_open;	/* circuit breaker open: bucket skipped */
	unsigned failures;	/* consecutive */
	time_t retry_at;
	char last_error[160];
	bool local_configured, local_ok;
};
void store_health(struct store *st, struct store_health *h);
struct engine *store_engine(struct store *st);

#endif
