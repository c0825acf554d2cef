/*
 * generation.h - per-dataset generation counters shared by a process pool.
 *
 * A cache clear (SPEC 3.4) must reach every process of the pool, and those
 * processes need not be related by fork (mod_fcgid, lighttpd bin-path,
 * spawn-fcgi). They share a small file mapped MAP_SHARED (on /dev/shm): a
 * header, one global epoch and GEN_N_SLOTS generation counters. Clearing a
 * dataset increments its slot, then the epoch. A cache keeps with each tile
 * the generation it was fetched under and never returns it once the slot has
 * moved; watching the epoch tells it cheaply when to sweep.
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
 *    own process; it is the fallback when the shared file cannot be used.
 */
#ifndef AP_GENERATION_H
#define AP_GENERATION_H

#include <stdint.h>
#include "error.h"

#define GEN_N_SLOTS 4096
#define GEN_MODE_OWNER 0600	/* pool runs as one user */
#define GEN_MODE_GROUP 0660	/* pool users share a group (www-data) */

struct gen_map;

/* Opens (creating if absent) the shared map at path with mode GEN_MODE_*.
 * Safe when many processes start at once. On failure logs why, naming the
 * path, and returns AP_ERR_IO (cannot open/map) or AP_ERR_CONFIG (the file
 * is not a generation map, or is writable by others). */
enum ap_err gen_open(const char *path, unsigned mode, struct gen_map **out) AP_WARN_UNUSED;
/* A map of this process only; NULL only when out of memory. */
struct gen_map *gen_open_private(void);
void gen_close(struct gen_map *g);

uint64_t gen_get(const struct gen_map *g, uint32_t dataset);
uint64_t gen_epoch(const struct gen_map *g);
void gen_bump(struct gen_map *g, uint32_t dataset);

#endif
