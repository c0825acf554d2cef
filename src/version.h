/*
 * version.h - a dataset's version: the short token in versioned tile URLs
 * (/api/tiles/{id}/v/{version}/{z}/{x}/{y}.{ext}) that changes whenever the
 * dataset's tiles may have changed, so that a URL names one content for
 * ever and may be cached as immutable by browsers, CDNs and the web
 * server's own cache.
 *
 * It is a digest of the dataset's metadata `updated_at` (a re-processed
 * dataset) and of its clear state, taken from the state every process
 * shares: with the shared tier on Redis, the dataset's clear generation
 * there, the generation of everything and the Redis instance's random id
 * (every process of every host reads the same values; a Redis that
 * restarted empty has a new id, so no old version comes back); without it,
 * the pool's generation file (its generation and the file's random birth:
 * a reboot empties the runtime directory and makes new versions). Datasets
 * sharing a generation slot change version together: harmless.
 *
 * Each process keeps the versions it computed, each valid while the
 * dataset's generation on this host (which moves with every clear, here or
 * on another host) is unchanged. With Redis, computing one costs one
 * lookup (batched with the others of the loop iteration); if Redis does not
 * answer, the pool's version is used for VERSION_FALLBACK_MS and Redis is
 * asked again after that.
 */
#ifndef AP_VERSION_H
#define AP_VERSION_H

#include <stdbool.h>
#include <stdint.h>
#include "error.h"
#include "l2.h"

#define VERSION_LEN 8			/* hex digits of a version token */
#define VERSION_TOKEN_MAX 16		/* what a URL may carry (longer: 400) */
#define VERSION_CACHE_MAX 1024		/* versions remembered per process */
#define VERSION_FALLBACK_MS 1000	/* a version made without Redis lives this long */

struct dataset;
struct gen_map;
struct versions;

struct version_wait {
	void (*done)(struct version_wait *w, void *ud);
	void *ud;
	char out[VERSION_LEN + 1];	/* the version, when done runs */
	/* private */
	struct versions *v;
	uint32_t dataset;
	uint64_t gen;			/* the host's generation when asked */
	uint64_t udigest;
	struct l2_wait lw;
	bool waiting;
};

/* l2 may be NULL (no shared tier). */
enum ap_err versions_new(struct gen_map *gens, struct l2 *l2, struct versions **out) AP_WARN_UNUSED;
void versions_free(struct versions *v);
/* The dataset's current version into w->out; done runs once, possibly
 * before this returns, unless version_cancel() comes first. */
void version_get(struct versions *v, const struct dataset *d, struct version_wait *w);
void version_cancel(struct version_wait *w);

#endif
