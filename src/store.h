/*
 * store.h - where tiles come from: memory, then the bucket, then local disk.
 *
 * A struct lookup is one request's wait for a tile. The walk behind it goes
 * through the formats in fallback order (the requested one, then jpg, png,
 * webp), and for each format asks memory, then the shared tier (Redis,
 * l2.h: one round trip at the first format memory does not know, for every
 * format left, shared with the walks started in the same loop iteration),
 * then the bucket, then the local tree. A tile found in storage is written
 * to the shared tier for every other process and host. A format answers only once every format before it is known to be
 * absent, so a request gets the format it asked for whenever storage has
 * it, whatever this or another process cached before. A format that the
 * bucket and the local tree both said they lack becomes a negative cache
 * entry (cache.h), so asking again for a hole or a missing format costs no
 * storage request. The result is cached under the dataset generation taken
 * when the walk started, so a tile fetched across a cache-clear is never
 * cached.
 *
 * "Absent" must be proven: a format the bucket was not asked about (it
 * failed, or its breaker is open) is unknown, never absent; a walk that
 * ends with unknown formats and no tile is a storage error (502/504), not
 * a 404, and records nothing.
 *
 * Coalescing: lookups of the same tile and requested format that overlap
 * share one walk (one storage request per format). A lookup cancelled
 * (its client went away) leaves the walk running: its result still fills
 * the cache for the next request.
 *
 * A circuit breaker (breaker.h) judges the bucket from service-level
 * failures only; a walk whose bucket request failed does not ask the
 * bucket again for its other formats.
 *
 * The tile index (tileindex.h): a lookup that carries one (indexed, fmts
 * from store_lookup_index) walks only the formats the index lists, in the
 * same order (the requested one first when it is listed), so a present
 * tile costs one storage request whatever format was asked, and a tile the
 * index does not list is a 404 at once, with no storage request and no
 * negative entry. Walks are coalesced only with lookups of the same index
 * answer.
 *
 * Background walks (prefetch, with no foreground lookup waiting) take only
 * the engine's background share of transfer slots and never read the local
 * tree inline: that step waits until store_idle_step() runs it, which the
 * server does only while no request is waiting. A foreground lookup that
 * joins a background walk makes it a foreground one.
 *
 * Completion: lookup->done runs exactly once unless the lookup is
 * cancelled, possibly before store_lookup_start() returns (memory answers
 * are synchronous; so are local reads of foreground walks). done may free
 * the lookup.
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
struct tile;
struct store;
struct walk;

enum tile_source { SRC_MEMORY, SRC_REDIS, SRC_R2, SRC_LOCAL };
/* "memory-cache", "redis", "r2", "local" (X-Tile-Source) */
const char *tile_source_name(enum tile_source s);

struct lookup {
	/* in */
	struct tilekey want;	/* fmt: the requested format */
	bool background;	/* prefetch: see above; marks the cached tile prefetched */
	bool indexed;		/* the dataset's tile index answered fmts */
	uint8_t fmts;		/* with indexed: bit f = format f exists */
	void (*done)(struct lookup *lk, void *ud);
	void *ud;
	/* out */
	enum ap_err err;	/* AP_OK, NOT_FOUND, STORAGE, TIMEOUT, NOMEM */
	struct tile *tile;	/* a reference the caller must tile_unref() */
	enum tile_source src;	/* SRC_MEMORY also for a 404 known from memory */
	/* private */
	struct walk *w;
	struct lookup *prev, *next;	/* the walk's waiters */
};

struct l2;
/* l2 may be NULL (no shared tier). */
enum ap_err store_new(const struct config *c, struct cache *cache, struct engine *engine,
		      struct l2 *l2, struct store **out) AP_WARN_UNUSED;
/* Cancels every walk; lookups still waiting are not called. */
void store_free(struct store *st);

/* Starts a lookup; see "Completion" above. */
void store_lookup_start(struct store *st, struct lookup *lk);
/* Sets lk->indexed and lk->fmts from idx (NULL: no index, probe). */
struct tileindex;
void store_lookup_index(struct lookup *lk, const struct tileindex *idx);
/* The lookup no longer waits; done will not run. */
void store_lookup_cancel(struct lookup *lk);
/* Runs one deferred local step of a background walk; false if none waits. */
bool store_idle_step(struct store *st);
/* Walks in flight (coalesced: one per tile and requested format). */
unsigned store_walks(const struct store *st);

/* A small object (metadata, index) from the bucket, else the local tree. */
struct objget {
	/* in */
	char key[128];
	size_t max;
	void (*done)(struct objget *o, enum ap_err err, struct buf *body, void *ud);
	void *ud;
	/* private */
	struct store *st;
	struct xfer *x;
	bool probe;
	long long started_us;	/* of its bucket request (metrics) */
};
/* done runs once (possibly before this returns) with AP_OK and the body
 * (the callee may steal it), NOT_FOUND, TOO_LARGE, STORAGE or TIMEOUT. */
void store_object_start(struct store *st, struct objget *o);
void store_object_cancel(struct objget *o);

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
/* Storage requests are counted there from now on (metrics.h; may be NULL). */
struct metrics;
void store_set_metrics(struct store *st, struct metrics *m);
/* Is the bucket skipped now (breaker open or half-open), and how often did
 * its breaker open? Without store_health()'s look at the local tree. */
void store_breaker_info(const struct store *st, bool *skipping, unsigned long long *openings);

#endif
