/*
 * generation.c - generation counters in a shared file; see generation.h.
 *
 * Creation is race-free without a coordinator: every process opens the file
 * with O_CREAT, then takes flock(LOCK_EX) before it looks at size and header.
 * Under the lock a file of size 0 is grown and a header of zeros is written
 * (a creator that died before writing it left zeros, which nobody can have
 * used, because users need a valid header); any other content must be a
 * valid header or the file is refused. The lock is dropped before the map is
 * used: the counters themselves need only atomics. It is dropped by LOCK_UN,
 * not by close(): the mapping keeps the open file description, and with it
 * the lock, alive, which would block every other process of the pool.
 *
 * The file is grown with posix_fallocate, not ftruncate: on a full tmpfs a
 * sparse page would raise SIGBUS at the first increment instead of an error
 * at start.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "generation.h"
#include "log.h"

#define GEN_MAGIC "APTGENMP"
#define GEN_MAGIC_LEN 8
#define GEN_VERSION 1u
#define GEN_OPEN_TRIES 3	/* the file may vanish between two open()s */

struct gen_shm {
	char magic[GEN_MAGIC_LEN];
	uint32_t version;
	uint32_t nslots;
	uint64_t epoch;
	uint64_t slot[GEN_N_SLOTS];
};

#define GEN_FILE_SIZE sizeof(struct gen_shm)

/* Processes share the counters only if their atomics need no lock. */
_Static_assert(__atomic_always_lock_free(sizeof(uint64_t), 0), "64-bit atomics must be lock-free");

struct gen_map {
	struct gen_shm *shm;
	bool shared;		/* mmap of a file, else heap */
};

static void header_init(struct gen_shm *s)
{
	s->version = GEN_VERSION;
	s->nslots = GEN_N_SLOTS;
	memcpy(s->magic, GEN_MAGIC, GEN_MAGIC_LEN);
}

static bool header_zero(const struct gen_shm *s)
{
	static const char zero[GEN_MAGIC_LEN];

	return memcmp(s->magic, zero, GEN_MAGIC_LEN) == 0 && s->version == 0 && s->nslots == 0;
}

static bool header_valid(const struct gen_shm *s)
{
	return memcmp(s->magic, GEN_MAGIC, GEN_MAGIC_LEN) == 0 && s->version == GEN_VERSION &&
	       s->nslots == GEN_N_SLOTS;
}

static int open_file(const char *path, unsigned mode)
{
	int flags = O_RDWR | O_NOFOLLOW | O_CLOEXEC;

	for (int i = 0; i < GEN_OPEN_TRIES; i++) {
		int fd = open(path, flags | O_CREAT | O_EXCL, (mode_t)mode);

		if (fd >= 0) {
			/* The umask must not narrow the mode that the pool's
			 * users need; until this fchmod another user of the
			 * group may be refused and fall back to a private map. */
			if (fchmod(fd, (mode_t)mode) < 0) {
				int e = errno;

				close(fd);
				errno = e;
				return -1;
			}
			return fd;
		}
		if (errno != EEXIST)
			return -1;
		fd = open(path, flags);
		if (fd >= 0 || errno != ENOENT)
			return fd;
	}
	return -1;
}

enum ap_err gen_open(const char *path, unsigned mode, struct gen_map **out)
{
	struct gen_map *g = NULL;
	void *p = MAP_FAILED;
	struct stat st;
	enum ap_err err;
	int fd = -1, rc;

	*out = NULL;
	if (mode != GEN_MODE_OWNER && mode != GEN_MODE_GROUP) {
		log_error("generation map %s: mode %04o is neither 0600 nor 0660", path, mode);
		err = AP_ERR_CONFIG;
		goto fail;
	}
	fd = open_file(path, mode);
	if (fd < 0) {
		log_error("generation map %s: cannot open: %s", path,
			  errno == ELOOP ? "is a symbolic link, refused" : strerror(errno));
		err = AP_ERR_IO;
		goto fail;
	}
	while ((rc = flock(fd, LOCK_EX)) < 0 && errno == EINTR)
		;
	if (rc < 0 || fstat(fd, &st) < 0) {
		log_error("generation map %s: cannot lock or stat: %s", path, strerror(errno));
		err = AP_ERR_IO;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		log_error("generation map %s: not a regular file, refused", path);
		err = AP_ERR_CONFIG;
		goto fail;
	}
	if (st.st_mode & S_IWOTH) {
		log_error("generation map %s: writable by others, refused", path);
		err = AP_ERR_CONFIG;
		goto fail;
	}
	if (st.st_size != 0 && (size_t)st.st_size != GEN_FILE_SIZE) {
		log_error("generation map %s: size %lld, expected %zu: not a generation map "
			  "(or another version), refused; remove it if no process uses it",
			  path, (long long)st.st_size, GEN_FILE_SIZE);
		err = AP_ERR_CONFIG;
		goto fail;
	}
	rc = posix_fallocate(fd, 0, (off_t)GEN_FILE_SIZE);
	if (rc != 0) {
		if (st.st_size == 0 && ftruncate(fd, 0) < 0)
			log_warn("generation map %s: cannot truncate after failure", path);
		log_error("generation map %s: cannot allocate %zu bytes: %s", path,
			  GEN_FILE_SIZE, strerror(rc));
		err = AP_ERR_IO;
		goto fail;
	}
	p = mmap(NULL, GEN_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		log_error("generation map %s: cannot map: %s", path, strerror(errno));
		err = AP_ERR_IO;
		goto fail;
	}
	if (header_zero(p)) {
		header_init(p);
	} else if (!header_valid(p)) {
		log_error("generation map %s: bad magic or version: not a generation map, "
			  "refused; remove it if no process uses it", path);
		err = AP_ERR_CONFIG;
		goto fail;
	}
	g = malloc(sizeof(*g));
	if (!g) {
		err = AP_ERR_NOMEM;
		goto fail;
	}
	g->shm = p;
	g->shared = true;
	flock(fd, LOCK_UN);
	close(fd);
	*out = g;
	return AP_OK;
fail:
	if (p != MAP_FAILED)
		munmap(p, GEN_FILE_SIZE);
	if (fd >= 0) {
		flock(fd, LOCK_UN);
		close(fd);
	}
	return err;
}

struct gen_map *gen_open_private(void)
{
	struct gen_map *g = malloc(sizeof(*g));

	if (!g)
		return NULL;
	g->shm = calloc(1, sizeof(*g->shm));
	if (!g->shm) {
		free(g);
		return NULL;
	}
	header_init(g->shm);
	g->shared = false;
	return g;
}

void gen_close(struct gen_map *g)
{
	if (!g)
		return;
	if (g->shared)
		munmap(g->shm, GEN_FILE_SIZE);
	else
		free(g->shm);
	free(g);
}

uint64_t gen_get(const struct gen_map *g, uint32_t dataset)
{
	return __atomic_load_n(&g->shm->slot[dataset % GEN_N_SLOTS], __ATOMIC_SEQ_CST);
}

uint64_t gen_epoch(const struct gen_map *g)
{
	return __atomic_load_n(&g->shm->epoch, __ATOMIC_SEQ_CST);
}

void gen_bump(struct gen_map *g, uint32_t dataset)
{
	__atomic_add_fetch(&g->shm->slot[dataset % GEN_N_SLOTS], 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&g->shm->epoch, 1, __ATOMIC_SEQ_CST);
}
