/*
 * prefetch.h - the background prefetch queue (SPEC section 3.5).
 *
 * POST /prefetch (or batch with prefetch=1) queues the tiles around a
 * viewport: the ring of neighbours at level z and the overlapping tiles at
 * z-1 and z+1, skipping cached ones, up to PREFETCH_QUEUE_MAX. The server
 * pumps the queue only between requests: at most PREFETCH_PARALLEL
 * transfers in flight, and the accept loop returns to a waiting request at
 * once, so prefetching never stands in front of a foreground request.
 */
#ifndef AP_PREFETCH_H
#define AP_PREFETCH_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"

struct app;
struct cache;
struct config;
struct dataset;
struct request;
struct response;
struct store;
struct prefetch;

#define PREFETCH_VIEWPORT_MAX 64	/* x1-x0 and y1-y0 at most, tiles */

enum ap_err prefetch_new(const struct config *c, struct store *st, struct cache *cache,
			 struct prefetch **out) AP_WARN_UNUSED;
void prefetch_free(struct prefetch *p);
/* Queues the neighbourhood of [x0..x1] x [y0..y1] at level z; returns how
 * many tiles were added. */
size_t prefetch_viewport(struct prefetch *p, const struct dataset *d, unsigned z, uint32_t x0,
			 uint32_t x1, uint32_t y0, uint32_t y1);
/* Starts queued fetches up to the parallel limit; returns transfers in flight. */
unsigned prefetch_pump(struct prefetch *p);
size_t prefetch_queued(const struct prefetch *p);
void prefetch_drop_dataset(struct prefetch *p, uint32_t dataset);
/* POST /api/tiles/{id}/prefetch?z=&x0=&x1=&y0=&y1= */
enum ap_err prefetch_handle(struct app *a, struct request *req, const struct dataset *d,
			    struct response *res) AP_WARN_UNUSED;

#endif
