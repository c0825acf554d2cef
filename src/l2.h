/*
 * l2.h - the shared tile tier on Redis (REDIS_URL): a tile fetched once
 * from storage is a hit in every process of every host.
 *
 * Keys (P = REDIS_KEY_PREFIX):
 *   P gens                      hash: dataset id -> its clear generation
 *   P gall                      the generation of everything (a clear this
 *                               tier could not attribute to one dataset)
 *   P epoch                     counts clears, so a process sees one cheaply
 *   P log                       the last L2_LOG_MAX clears, "EPOCH ID" each
 *   P t:ID:GALL.GEN:Z:X:Y:FMT   a tile, REDIS_TTL_SECONDS
 * A clear increments the dataset's generation in Redis: every later lookup
 * reads keys of the new generation, so the old tiles are never read again
 * (they expire or are evicted). Lookups read the generation and the tiles
 * in one script, so there is no window. Every process polls the epoch
 * (L2_POLL_MS) and, when it moved, the generations, and drops from its
 * host's memory (generation.h) the datasets cleared elsewhere: a clear on
 * one host reaches every process of every host within about a second.
 * A clear that cannot reach Redis stays pending in the host's generation
 * file; while it is, the host does not use Redis for that dataset, and any
 * process of the host sends it when Redis answers again. Generations read
 * from Redis never go below the highest this host saw (a Redis restored
 * from an old snapshot is repaired, not believed), and an epoch that went
 * back makes the host drop everything: no old tile ever comes back.
 *
 * Values check themselves: magic, layout version, the tile they are
 * (dataset, z, x, y, format: a value copied under another key is refused),
 * length and the first 16 bytes of the SHA-256 of the bytes (the tile's
 * ETag). A value that fails is never served: it is counted, deleted, and the
 * tile is fetched from storage.
 *
 * Nothing here waits: lookups and writes are batched for the end of the
 * event loop's current iteration (a 0 ms timer), so concurrent requests and
 * a batch's tiles share one round trip (one EVAL per dataset, pipelined),
 * and writes go out after the responses were handed to the web server.
 */
#ifndef AP_L2_H
#define AP_L2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "tilekey.h"

#define L2_VALUE_MAGIC "APL2"
#define L2_VALUE_VERSION 1
#define L2_HEADER_LEN 40		/* magic, version, the tile's key, length, hash */
#define L2_HASH_BYTES 16
#define L2_LOOKUP_TILES_MAX 300		/* keys of one EVAL (a batch's formats fit) */
#define L2_WRITES_MAX 1024		/* writes waiting at most (more are dropped) */
#define L2_POLL_MS 500
#define L2_LOG_MAX 1000		/* clears remembered for the poll (more: drop all) */
#define L2_KEY_MAX 160

struct buf;
struct config;
struct ev_loop;
struct gen_map;
struct tile;
struct l2;
struct lookup_cmd;

/* A lookup of some formats of one tile; part of a group sent together. */
struct l2_wait {
	/* in */
	struct tilekey key;		/* fmt unused */
	uint8_t fmts;			/* bit per enum tile_fmt asked for (0: only the
					 * generations, for a version; see version.h) */
	void (*done)(struct l2_wait *w, void *ud);
	void *ud;
	/* out: a verified tile per format asked for (a reference each), or NULL */
	struct tile *tiles[FMT__COUNT];
	bool ok;			/* Redis answered (else: skip it) */
	uint64_t gen_tag[2];		/* the generations read: for l2_put() */
	uint64_t inst;			/* the Redis instance's id (nonzero when ok) */
	/* private */
	struct l2 *l2;
	struct l2_wait *next;
	struct lookup_cmd *cmd;		/* in flight */
	bool queued;
};

/* NULL *out and AP_OK when REDIS_URL is unset. */
enum ap_err l2_new(const struct config *c, struct ev_loop *loop, struct gen_map *gens,
		   struct l2 **out, char *why, size_t whylen) AP_WARN_UNUSED;
void l2_free(struct l2 *l);
/* May this dataset use the tier now (Redis not skipped, no clear pending)? */
bool l2_usable(struct l2 *l, uint32_t dataset);
/* Queues a lookup; done runs once, later (never before this returns). */
void l2_lookup(struct l2 *l, struct l2_wait *w);
void l2_cancel(struct l2_wait *w);
/* Queues a write of t under the generations a lookup read (fire and forget). */
void l2_put(struct l2 *l, const struct tile *t, const uint64_t gen_tag[2]);
/* Are writes still on their way (a process about to exit waits for them)? */
bool l2_writing(const struct l2 *l);
/* A cache-clear of dataset (after gen_bump()): tells Redis now; if it
 * cannot, the clear stays pending and any process of the host sends it when
 * Redis answers again. w (may be NULL) learns once, possibly before this
 * returns, whether it reached Redis: the clear's scope. */
struct clear_cmd;
struct l2_clear_wait {
	void (*done)(struct l2_clear_wait *w, bool reached, void *ud);
	void *ud;
	struct clear_cmd *cmd;	/* private */
};
void l2_clear(struct l2 *l, uint32_t dataset, struct l2_clear_wait *w);
/* w no longer waits (the clear itself goes on). */
void l2_clear_cancel(struct l2_clear_wait *w);

struct l2_stats {
	const char *state;		/* "ok", "degraded", "probing", "failing" */
	unsigned long long hits, misses, errors, bad_values, writes, dropped_writes;
	unsigned long long commands, timeouts, openings;
	unsigned long long cmd_ok, cmd_error, cmd_timeout;	/* commands by how they ended */
	long long retry_in_ms;
	char last_error[160];
};
void l2_get_stats(struct l2 *l, struct l2_stats *s);

/* The value layout (pure; the fuzzer's entry): encode appends to out;
 * decode checks everything against the key asked for and points into p. */
enum ap_err l2_value_encode(const struct tilekey *k, const void *data, size_t len,
			    const char etag_hex[2 * L2_HASH_BYTES + 1], struct buf *out) AP_WARN_UNUSED;
enum ap_err l2_value_decode(const void *p, size_t n, const struct tilekey *want,
			    const void **data, size_t *len) AP_WARN_UNUSED;

#endif
