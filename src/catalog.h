/*
 * catalog.h - dataset metadata (metadata/datasets/{id}.json), remembered.
 *
 * A bounded map from dataset id to what storage said of it: its metadata,
 * or that it does not exist, or that its metadata is invalid. Known
 * datasets and the others live in two separate LRU pools
 * (CATALOG_DATASETS_MAX, CATALOG_NEGATIVE_MAX), so requests for unknown or
 * random ids can only push out other unknown ids, never a dataset that is
 * being served. Entries live for METADATA_CACHE_TTL seconds, and not past a
 * cache-clear of their dataset by any process (its generation is compared
 * on each get). Invalid metadata is logged once when it is read, so once
 * per TTL per process, not once per request. Storage failures are not
 * remembered: the next request asks again.
 *
 * Asynchronous: a get the map can answer completes at once; otherwise it
 * waits for the one read of that id in flight (reads are coalesced: many
 * requests for a dataset cost one metadata GET). A known dataset past its
 * TTL is answered at once from what was read before while a refresh runs
 * behind it, so a hot dataset's requests never wait on a metadata read; a
 * read that fails leaves the old metadata in use.
 *
 * The tile index (tileindex.h, metadata/datasets/{id}.index) is read with
 * the metadata, in parallel, and lives and dies with it (same TTL, same
 * clear, same refresh). A get waits for both reads, the index's at most
 * CATALOG_INDEX_WAIT_MS longer than the metadata's (an index read that
 * takes longer joins the entry when it ends, and is used from then on); an
 * index that is
 * missing, larger than the limit, corrupt, or built for other metadata
 * (tileindex_describes) is ignored, the last three with one log line per
 * read, and an index read that fails (5xx, timeout) never fails the get:
 * the dataset is then served without an index (or with the previous one,
 * if it still describes the metadata) until the next read.
 */
#ifndef AP_CATALOG_H
#define AP_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "dataset.h"
#include "error.h"

#define CATALOG_DATASETS_MAX 1024	/* known datasets remembered per process */
#define CATALOG_NEGATIVE_MAX 1024	/* unknown or invalid ids remembered */
#define CATALOG_REASON_MAX 160
#define CATALOG_FETCHES_MAX 256		/* metadata reads in flight at most */
#define CATALOG_REREADS_MAX 3		/* reads started again after a clear during them */
#define CATALOG_INDEX_WAIT_MS 100	/* an index read's grace after the metadata's */

struct objget;
struct tileindex;
/* Reads an object as store_object_start() does (store.h); cancel stops one. */
typedef void (*meta_start_fn)(void *ud, struct objget *o);
typedef void (*meta_cancel_fn)(void *ud, struct objget *o);

struct catalog;
struct gen_map;
struct cfetch;

struct catalog_wait {
	/* in */
	struct dataset *out;	/* filled on AP_OK */
	char *why;		/* a reason on 502 (may be NULL) */
	size_t whylen;
	void (*done)(struct catalog_wait *w, enum ap_err e, void *ud);
	void *ud;
	/* private */
	struct cfetch *f;
	struct catalog_wait *next;
};

/* gens may be NULL (no clears from other processes). */
struct catalog *catalog_new(long ttl_s, struct gen_map *gens, meta_start_fn start,
			    meta_cancel_fn cancel, void *ud);
void catalog_free(struct catalog *c);
/* w->done runs once (possibly before this returns) with AP_OK, 404
 * (unknown), 502 (invalid or storage failed; why says which), 504, or 503
 * (too many reads in flight). */
void catalog_get(struct catalog *c, uint32_t id, struct catalog_wait *w);
/* w no longer waits; done will not run. */
void catalog_cancel(struct catalog_wait *w);
void catalog_drop(struct catalog *c, uint32_t id);
/* Reads indexes of at most max bytes with the metadata (0, the default:
 * none are read). With a loop, a get whose metadata is in waits at most
 * CATALOG_INDEX_WAIT_MS more for the index; without, until it is read. */
struct ev_loop;
void catalog_set_index(struct catalog *c, size_t max, struct ev_loop *loop);
/* The valid index of d (as a get answered it), or NULL: none, ignored, or
 * the metadata changed or was cleared since. Valid until control returns
 * to the event loop; use it at once. */
const struct tileindex *catalog_index(struct catalog *c, const struct dataset *d);
/* Has a private (not is_demo) dataset been loaded? (health, R2_PUBLIC_URL) */
bool catalog_saw_private(const struct catalog *c);

#endif
