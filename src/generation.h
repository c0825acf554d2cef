/*
 * generation.h - per-dataset generation counters shared by a process pool.
 *
 * A cache clear (SPEC 3.4) must reach every process of the pool, and those
 * processes need not be related by fork (mod_fcgid, lighttpd bin-path,
 * spawn-fcgi). They share a small file of the pool's private directory
 * (shm.h): a header, one global epoch and GEN_N_SLOTS generation counters.
 * Clearing a dataset increments its slot, then the epoch. A cache keeps
 * with each tile the generation it was fetched under and never returns it
 * once the slot has moved; watching the epoch tells it cheaply when to sweep.
 *
 * Invariants:
 *  - Counters only grow. They change only by atomic increments and are read
 *    by atomic loads (seq_cst), never under a lock.
 *  - The slot is incremented before the epoch: whoever sees the new epoch
 *    also sees the new slot.
 *  - A dataset's slot is dataset % GEN_N_SLOTS. Datasets sharing a slot are
 *    cleared together: harmless, the neighbour's tiles are fetched again.
 *  - A file that is not a generation map (other size, magic or version) is
 *    refused, never reinitialised: other processes may be counting in it.
 *  - A private map (gen_open_private) behaves the same but reaches only its
 *    own process. If the shared file is truncated under a running process,
 *    its map reads zeros from then on (shm.h), every cached entry becomes
 *    stale and the map is private: gen_shared() says so (and logs it once).
 */
#ifndef AP_GENERATION_H
#define AP_GENERATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"

#define GEN_N_SLOTS 4096

struct gen_map;

/* Opens (creating if absent) the shared map dir/name; dir must have passed
 * shm_dir_prepare(). Safe when many processes start at once. Errors as
 * shm_open_map(), with why naming the path. */
/* The file name starts with the layout version, so a map left by an older
 * build (a pool upgraded in place) is never opened, only left beside. */
#define GEN_FILE_PREFIX "generations-v4"

enum ap_err gen_open(const char *dir, const char *name, struct gen_map **out, char *why,
		     size_t whylen) AP_WARN_UNUSED;
/* A map of this process only; NULL only when out of memory. */
struct gen_map *gen_open_private(void);
void gen_close(struct gen_map *g);
/* Does a bump here reach the whole pool? false for private or lost maps. */
bool gen_shared(struct gen_map *g);

uint64_t gen_get(const struct gen_map *g, uint32_t dataset);
uint64_t gen_epoch(const struct gen_map *g);
/* A cache-clear here: the dataset's slot moves, and the clear is pending
 * for the shared tier until gen_done_pending(). */
void gen_bump(struct gen_map *g, uint32_t dataset);
/* Every dataset at once (a clear this host cannot attribute). */
void gen_bump_all(struct gen_map *g);

/*
 * The shared tier across hosts (l2.h) keeps its own generations in Redis.
 * A clear that has not reached Redis yet is pending: while it is, this
 * host must not use Redis for that dataset. The host also remembers the
 * highest Redis generations any of its processes saw: one that rises was a
 * clear on another host, and drops the dataset here (one process of the
 * host wins the race and bumps; the others see it already raised).
 */
bool gen_pending(const struct gen_map *g, uint32_t dataset);
/* Iterates pending clears (start with *cursor = 0); many: several datasets
 * of one slot are pending, and only a clear of everything covers them. */
bool gen_next_pending(const struct gen_map *g, size_t *cursor, uint32_t *dataset, bool *many);
void gen_done_pending(struct gen_map *g, uint32_t dataset, bool many);
uint64_t gen_remote(const struct gen_map *g, uint32_t dataset);
uint64_t gen_remote_all(const struct gen_map *g);
uint64_t gen_remote_epoch(const struct gen_map *g);
/* Raise the remembered Redis generation; true (and the dataset, or all,
 * dropped on this host) if it rose. */
bool gen_note_remote(struct gen_map *g, uint32_t dataset, uint64_t remote);
bool gen_note_remote_all(struct gen_map *g, uint64_t remote);
void gen_set_remote_epoch(struct gen_map *g, uint64_t remote);
/* true if this call raised the remembered Redis epoch to remote: the
 * caller then applies the clears up to it (one process of the host does). */
bool gen_raise_remote_epoch(struct gen_map *g, uint64_t remote);
/* Which Redis the remembered values came from (a random id it keeps; 0:
 * none yet). Another one (restarted empty, flushed) forgot every clear. */
uint64_t gen_remote_inst(const struct gen_map *g);
void gen_set_remote_inst(struct gen_map *g, uint64_t inst);
/* A random number drawn when the map was made (a reboot empties the
 * runtime directory and makes a new one): with the generations it names a
 * dataset's state, and never names an old state again (version.h). */
uint64_t gen_birth(const struct gen_map *g);
/* Cleared on another host: dropped here, nothing pending. */
void gen_drop(struct gen_map *g, uint32_t dataset);

#endif
