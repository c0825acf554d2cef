/*
 * shm.h - the pool's shared state: files in a private directory, mapped by
 * every process of the pool (generation counters, metrics slots).
 *
 * On the shared hosting this product is made for, the other tenants are
 * local users, so the state is private to the pool's user: the directory
 * is 0700 and the files 0600, both owned by the effective uid, neither a
 * symbolic link. Anything else is refused with a reason naming the path
 * (a pre-created directory or file is an attack or a mistake, never
 * "fixed"). Creation races between processes starting at once are settled
 * by O_EXCL and a lock that is never waited on for long: flock(LOCK_NB),
 * retried SHM_LOCK_TRIES times, SHM_LOCK_WAIT_MS apart.
 *
 * A mapped file can still be truncated by its owner (an operator's `>`),
 * and touching a page the file no longer has raises SIGBUS. A handler
 * replaces such a mapping with zero pages, so the faulting load reads 0
 * and continues; shm_lost() then says the shared state is gone, and the
 * owner of the map falls back to private state (see generation.h).
 */
#ifndef AP_SHM_H
#define AP_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include "error.h"

#define SHM_LOCK_TRIES 50
#define SHM_LOCK_WAIT_MS 10
#define SHM_NAME_MAX 64
#define SHM_PATH_MAX 512
#define SHM_MAPS_MAX 8		/* mapped files per process */

struct shm;

/* Makes sure dir exists (mkdir 0700 if absent, parents must exist) and is
 * a directory owned by the effective uid with no group or other access. */
enum ap_err shm_dir_prepare(const char *dir, char *why, size_t whylen) AP_WARN_UNUSED;

/* Header checks of a mapped file, run under the lock: valid() says whether
 * existing content belongs to us; init() writes a fresh header (the file
 * was empty or all zeros). */
struct shm_kind {
	bool (*valid)(const void *p, size_t size);
	bool (*is_zero)(const void *p, size_t size);
	void (*init)(void *p, size_t size);
};

/* Opens or creates dir/name (size bytes, mode 0600) and maps it shared.
 * AP_ERR_CONFIG: refused (owner, mode, type, size, content: why says);
 * AP_ERR_UNAVAILABLE: its lock stayed busy past the retries;
 * AP_ERR_IO: cannot create, grow or map. */
enum ap_err shm_open_map(const char *dir, const char *name, size_t size,
			 const struct shm_kind *kind, struct shm **out, char *why,
			 size_t whylen) AP_WARN_UNUSED;
void *shm_base(const struct shm *m);
/* True once the file was truncated under the mapping (see above). */
bool shm_lost(const struct shm *m);
void shm_close(struct shm *m);

#endif
