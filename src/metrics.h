/*
 * metrics.h - pool-wide counters, histograms and gauges in shared memory,
 * rendered in the Prometheus text format (issue 17).
 *
 * The pool's processes need not be related by fork, so they meet in a file
 * of the pool's private directory (shm.h, like the cache generations): a
 * header and METRICS_SLOTS per-process slots of 64-bit cells. A process
 * claims a slot at start (under the file's lock) and from then on writes
 * only its own slot, with relaxed atomic adds and stores: no lock, no
 * system call on the request path. /metrics sums every slot without a lock.
 *
 * Invariants:
 *  - Counter and histogram cells only grow, and nothing ever moves or
 *    clears them: a slot keeps the counts of every process that held it,
 *    and a new process that takes over a slot adds to what it finds. So a
 *    process killed with SIGKILL loses nothing (its counts stay where they
 *    are), nothing is counted twice, and pool totals are monotonic even
 *    while a slot changes hands. Totals survive pool restarts too.
 *  - A slot is free (pid 0), held by a live process, or held by a dead one.
 *    Liveness is kill(pid, 0) plus the process start time of
 *    /proc/PID/stat recorded at claim, so a reused pid is not taken for the
 *    dead process. A claim takes the first slot that is free or dead (a
 *    respawn after a crash takes the dead process's slot, and the file
 *    stays compact); a clean exit (metrics_close) frees its slot. A forked
 *    child opens its own handle: the inherited one writes its parent's slot.
 *  - Gauges are per process (its cache bytes, whether it sees a breaker
 *    open); they are reset at claim and summed (or max'ed) over live slots
 *    only: a dead process's cache is gone.
 *  - When every slot is held by a live process, a newcomer says so in the
 *    log and counts into one shared overflow slot (atomics make that exact);
 *    its gauges are then not reported.
 *  - A file that is not a metrics map of this layout is refused, never
 *    reinitialised. If it is truncated under a running process, that map
 *    reads zeros from then on (shm.h): counting goes on harmlessly, /metrics
 *    shows only what this process counts since, and says so in the log.
 *
 * The functions below accept m == NULL and then do nothing, so a process
 * without metrics needs no branches of its own. Label arguments out of
 * range are ignored (a bug never costs a request).
 */
#ifndef AP_METRICS_H
#define AP_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "error.h"

#define METRICS_SLOTS 256		/* processes counted apart; more share a slot */
#define METRICS_RENDER_MAX (256 * 1024)	/* the largest /metrics body */
#define METRICS_LAYOUT_VERSION 1u	/* put it in the file name (see metrics_open) */

/* ---- labels (each a small closed set) ---------------------------------- */
enum met_endpoint {
	MET_EP_TILE, MET_EP_BATCH, MET_EP_INFO, MET_EP_STATS, MET_EP_CLEAR, MET_EP_PREFETCH,
	MET_EP_HEALTH, MET_EP_METRICS, MET_EP_OTHER, MET_EP__COUNT
};
enum met_code { MET_2XX, MET_3XX, MET_4XX, MET_5XX, MET_CODE__COUNT };
enum met_source { MET_SRC_MEMORY, MET_SRC_REDIS, MET_SRC_R2, MET_SRC_LOCAL, MET_SRC__COUNT };
enum met_backend { MET_BE_R2, MET_BE_LOCAL, MET_BE__COUNT };
enum met_outcome { MET_OK, MET_NOT_FOUND, MET_ERROR, MET_TIMEOUT, MET_OUTCOME__COUNT };
enum met_redis { MET_REDIS_OK, MET_REDIS_MISS, MET_REDIS_ERROR, MET_REDIS_TIMEOUT,
		 MET_REDIS__COUNT };
enum met_breaker { MET_BRK_BUCKET, MET_BRK_REDIS, MET_BRK__COUNT };

/* ---- what is measured --------------------------------------------------- */
enum met_counter {
	MET_REQUESTS,		/* endpoint x code: every request answered */
	MET_TILES_SERVED,	/* source: every tile delivered, single or in a batch */
	MET_STORAGE_REQUESTS,	/* backend x outcome: each object request to storage */
	MET_REDIS_COMMANDS,	/* met_redis */
	MET_CACHE_EVICTIONS,
	MET_PREFETCH_QUEUED, MET_PREFETCH_FETCHED, MET_PREFETCH_HITS, MET_PREFETCH_DROPPED,
	MET_BREAKER_OPENINGS,	/* breaker */
	MET_COUNTER__COUNT
};
enum met_histogram {
	MET_REQUEST_SECONDS,	/* no label; value in microseconds */
	MET_STORAGE_SECONDS,	/* backend; value in microseconds */
	MET_BATCH_TILES,	/* no label; value in tiles */
	MET_HISTOGRAM__COUNT
};
enum met_gauge {
	MET_CACHE_TILES, MET_CACHE_BYTES, MET_CACHE_CAPACITY_BYTES, MET_CACHE_NEGATIVE,
	MET_PREFETCH_QUEUE,	/* rendered summed and as the longest queue */
	MET_BREAKER_OPEN,	/* breaker; 1 if this process skips the service now */
	MET_GAUGE__COUNT
};

/* Where the cells of one metric start and how its labels index them. */
struct met_dims {
	uint16_t base, n1, n2;
};
extern const struct met_dims met_counter_dims[MET_COUNTER__COUNT];
extern const struct met_dims met_gauge_dims[MET_GAUGE__COUNT];

/* Fields are private to metrics.c; visible so that counting inlines. */
struct metrics {
	uint64_t *cells;	/* this process's slot, or the shared overflow slot */
	bool own_slot;		/* false: overflow slot or closed; gauges are dropped */
	struct metrics_priv *priv;
};

/* Opens (creating if absent) dir/name and claims a slot; dir must have
 * passed shm_dir_prepare(), and name should carry METRICS_LAYOUT_VERSION so
 * that an upgraded pool does not meet an old layout. Errors as
 * shm_open_map(), why naming the path. */
enum ap_err metrics_open(const char *dir, const char *name, struct metrics **out, char *why,
			 size_t whylen) AP_WARN_UNUSED;
/* Metrics of this process only (the fallback when the file is busy); NULL
 * only when out of memory. */
struct metrics *metrics_open_private(void);
/* Resets this process's gauges and frees its slot; counts stay. */
void metrics_close(struct metrics *m);
/* Does /metrics here show the whole pool? false for private or lost maps
 * (logged once). */
bool metrics_shared(struct metrics *m);

/* ---- the request path: counting ------------------------------------------- */
static inline void metrics_add(struct metrics *m, enum met_counter c, unsigned a, unsigned b,
			       uint64_t n)
{
	const struct met_dims *d = &met_counter_dims[c];

	if (!m || a >= d->n1 || b >= d->n2)
		return;
	__atomic_fetch_add(&m->cells[d->base + a * d->n2 + b], n, __ATOMIC_RELAXED);
}

/* metrics_count(m, MET_REQUESTS, MET_EP_TILE, metrics_code(200)); a metric
 * with one label or none passes 0 for the unused ones. */
static inline void metrics_count(struct metrics *m, enum met_counter c, unsigned a, unsigned b)
{
	metrics_add(m, c, a, b, 1);
}

/* This process's value of a gauge (label a, 0 if none). */
static inline void metrics_gauge_set(struct metrics *m, enum met_gauge g, unsigned a,
				     uint64_t v)
{
	const struct met_dims *d = &met_gauge_dims[g];

	if (!m || !m->own_slot || a >= d->n1)
		return;
	__atomic_store_n(&m->cells[d->base + a], v, __ATOMIC_RELAXED);
}

/* One observation: microseconds for the _SECONDS histograms (clock_us()
 * differences), tiles for MET_BATCH_TILES. */
void metrics_observe(struct metrics *m, enum met_histogram h, unsigned a, uint64_t v);
/* A counter this process already keeps itself (the cache's evictions, the
 * breaker's openings): pass its running total, the pool counter grows by
 * the difference since the last call. A total below the last one (that
 * counter was reset) counts nothing and becomes the new reference. Use
 * either this or metrics_add for one counter, not both. */
void metrics_mirror(struct metrics *m, enum met_counter c, unsigned a, unsigned b,
		    uint64_t total);

/* The class of an HTTP status (1xx counts as 2xx: none is ever answered). */
enum met_code metrics_code(int status);

/* ---- the /metrics endpoint -------------------------------------------------- */
/* Appends the Prometheus text exposition format 0.0.4 (Content-Type
 * "text/plain; version=0.0.4; charset=utf-8") to out, summed over the pool.
 * Reads without a lock, so it may be a few increments behind. Cost: one
 * kill(2) and one /proc read per held slot. AP_ERR_TOO_LARGE if out's
 * limit is below what it needs (METRICS_RENDER_MAX is always enough). */
enum ap_err metrics_render(struct metrics *m, struct buf *out) AP_WARN_UNUSED;
/* A counter's pool total (tests, cache-stats); 0 for labels out of range. */
uint64_t metrics_total(struct metrics *m, enum met_counter c, unsigned a, unsigned b);
/* Slots held by live processes, this one included. */
unsigned metrics_processes_alive(struct metrics *m);

#endif
