/*
 * store.h - where tiles come from: memory, then the bucket, then local disk.
 *
 * A struct lookup is one tile request in flight. It walks the formats in
 * fallback order (the requested one, then jpg, png, webp), and for each
 * format asks memory, then the bucket, then the local tree. A format
 * answers only once every format before it is known to be absent, so a
 * request gets the format it asked for whenever storage has it, whatever
 * this or another process cached before. A format that the bucket and the
 * local tree both said they lack becomes a negative cache entry (cache.h),
 * so asking again for a hole or a missing format costs no storage request.
 * The result is cached under the dataset generation taken when the lookup
 * started, so a tile fetched across a cache-clear is never cached.
 *
 * "Absent" must be proven: a format the bucket was not asked about (it
 * failed, or its breaker is open) is unknown, never absent; a lookup that
 * ends with unknown formats and no tile is a storage error (502/504), not
 * a 404, and records nothing.
 *
 * A circuit breaker (breaker.h) judges the bucket from service-level
 * failures only; a lookup whose bucket request failed does not ask the
 * bucket again for its other formats.
 *
 * Background lookups (prefetch) take only the engine's background share of
 * transfer slots and never read the local tree inline: that step waits
 * until store_idle_step() runs it, which the server does only while no
 * request is waiting.
 *
 * Completion: lookup->done runs exactly once, possibly before
 * store_lookup_start() returns (memory and local answers are synchronous).
 */
#ifndef AP_STORE_H
#define AP_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include "buf.h"
#include "error.h"
#include "tilekey.h"

struct config;
struct cache;
struct engine;
struct xfer;
struct tile;
struct store;

enum tile_source { SRC_MEMORY, SRC_R2, SRC_LOCAL };
const char *tile_source_name(enum tile_source s);	/* "memory-cache", "r2", "local" */

struct lookup {
	/* in */
	struct tilekey want;	/* fmt: the requested format */
	bool background;	/* prefetch: see above; marks the cached tile prefetched */
	void (*done)(struct lookup *lk, void *ud);
	void *ud;
	/* out */
	enum ap_err err;	/* AP_OK, NOT_FOUND, STORAGE, TIMEOUT, NOMEM */
	struct tile *tile;	/* a reference the caller must tile_unref() */
	enum tile_source src;	/* SRC_MEMORY also for a 404 known from memory */
	/* private */
	struct store *st;
	struct xfer *x;
	struct lookup *next_deferred;
	uint64_t gen;
	enum tile_fmt order[FMT__COUNT];
	uint8_t step;
	bool bucket_down;	/* failed in this lookup: not asked again */
	bool bucket_probe;	/* this lookup's request is the breaker's probe */
	bool bucket_absent;	/* the bucket said 404 for the current format */
	bool deferred;		/* waiting for store_idle_step() */
	bool asked;		/* storage was asked (else memory answered) */
	enum ap_err bucket_err;	/* why a format stayed unknown */
};

enum ap_err store_new(const struct config *c, struct cache *cache, struct engine *engine,
		      struct store **out) AP_WARN_UNUSED;
void store_free(struct store *st);

/* Starts a lookup; see "Completion" above. */
void store_lookup_start(struct store *st, struct lookup *lk);
/* Stops a lookup in flight; done will not run. */
void store_lookup_cancel(struct lookup *lk);
/* Runs one deferred local step of a background lookup; false if none waits. */
bool store_idle_step(struct store *st);
/* A whole lookup, waiting at most S3_TIMEOUT_MS (for the one-request loop). */
enum ap_err store_get_tile(struct store *st, const struct tilekey *want, struct tile **out,
			   enum tile_source *src) AP_WARN_UNUSED;
/* A small object (metadata) from the bucket, else the local tree. */
enum ap_err store_get_object(struct store *st, const char *key, size_t max, struct buf *out) AP_WARN_UNUSED;

struct store_health {
	bool bucket_configured;
	bool bucket_open;	/* circuit breaker open or half-open: bucket skipped */
	unsigned failures;	/* consecutive service-level failures */
	long long retry_in_ms;
	char last_error[160];
	bool local_configured, local_ok;
};
void store_health(struct store *st, struct store_health *h);
struct engine *store_engine(struct store *st);

#endif
