/*
 * prefetch.h - the background prefetch queue (SPEC section 3.5).
 *
 * POST /prefetch (or batch with prefetch=1) queues the tiles around a
 * viewport: the ring of neighbours at level z, then the overlapping tiles
 * at z-1 and z+1, skipping those whose answer the cache already knows. The
 * cost of a call is bounded whatever it asks for: the viewport is clipped to
 * the grid and to PREFETCH_VIEWPORT_MAX tiles a side before anything is
 * enumerated, and enumeration stops once nothing more could be kept.
 *
 * The queue holds at most PREFETCH_QUEUE_MAX keys in two classes: the ring
 * at z, which the user is about to pan into, and the levels z-1/z+1. When
 * it is full a new key displaces the oldest key of the lower class first
 * (a ring key never gives way to a level key), else the oldest of its own
 * class. Duplicates (queued or in flight) are found in O(1).
 *
 * The server pumps the queue only while no request waits: at most
 * PREFETCH_PARALLEL background lookups (store.h) in flight, and the engine
 * gives them only its background share of transfer slots.
 */
#ifndef AP_PREFETCH_H
#define AP_PREFETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "tilekey.h"

struct cache;
struct config;
struct dataset;
struct store;
struct prefetch;
struct tileindex;

#define PREFETCH_VIEWPORT_MAX 64	/* tiles a side of the viewport considered */

enum ap_err prefetch_new(const struct config *c, struct store *st, struct cache *cache,
			 struct prefetch **out) AP_WARN_UNUSED;
void prefetch_free(struct prefetch *p);
/* Queues the neighbourhood of [x0..x1] x [y0..y1] at level z in format fmt;
 * returns how many keys of this call are in the queue when it returns.
 * With the dataset's tile index (idx, may be NULL) tiles it does not list
 * are never queued, and those queued walk only the formats it lists. */
size_t prefetch_viewport(struct prefetch *p, const struct dataset *d,
			 const struct tileindex *idx, enum tile_fmt fmt, unsigned z, uint32_t x0, uint32_t x1, uint32_t y0, uint32_t y1);
/* Starts queued lookups up to the parallel limit; returns true while there
 * is queued work that no transfer in flight will wake the loop for. */
bool prefetch_pump(struct prefetch *p);
size_t prefetch_queued(const struct prefetch *p);
unsigned prefetch_inflight(const struct prefetch *p);
/* Since start: keys queued, tiles fetched (found by their lookup), queued
 * keys displaced because the queue was full. */
struct prefetch_stats {
	unsigned long long queued, fetched, dropped;
};
void prefetch_get_stats(const struct prefetch *p, struct prefetch_stats *out);
void prefetch_drop_dataset(struct prefetch *p, uint32_t dataset);

#endif
