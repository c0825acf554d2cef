/*
 * generation.c - generation counters in a shared file; see generation.h.
 */
#include <stdlib.h>
#include <string.h>
#include "generation.h"
#include "log.h"
#include "shm.h"

#define GEN_MAGIC "APTGENMP"
#define GEN_MAGIC_LEN 8
#define GEN_VERSION 2u

struct gen_shm {
	char magic[GEN_MAGIC_LEN];
	uint32_t version;
	uint32_t nslots;
	uint64_t epoch;
	uint64_t slot[GEN_N_SLOTS];
};

/* Processes share the counters only if their atomics need no lock. */
_Static_assert(__atomic_always_lock_free(sizeof(uint64_t), 0), "64-bit atomics must be lock-free");

struct gen_map {
	struct gen_shm *shm;
	struct shm *file;	/* NULL: heap, this process only */
	bool loss_logged;
};

static void header_init(void *p, size_t size)
{
	struct gen_shm *s = p;

	(void)size;
	s->version = GEN_VERSION;
	s->nslots = GEN_N_SLOTS;
	memcpy(s->magic, GEN_MAGIC, GEN_MAGIC_LEN);
}

static bool header_zero(const void *p, size_t size)
{
	static const char zero[GEN_MAGIC_LEN];
	const struct gen_shm *s = p;

	(void)size;
	return memcmp(s->magic, zero, GEN_MAGIC_LEN) == 0 && s->version == 0 && s->nslots == 0;
}

static bool header_valid(const void *p, size_t size)
{
	const struct gen_shm *s = p;

	(void)size;
	return memcmp(s->magic, GEN_MAGIC, GEN_MAGIC_LEN) == 0 && s->version == GEN_VERSION &&
	       s->nslots == GEN_N_SLOTS;
}

static const struct shm_kind gen_kind = {header_valid, header_zero, header_init};

enum ap_err gen_open(const char *dir, const char *name, struct gen_map **out, char *why,
		     size_t whylen)
{
	struct gen_map *g;
	struct shm *f;
	enum ap_err e;

	*out = NULL;
	e = shm_open_map(dir, name, sizeof(struct gen_shm), &gen_kind, &f, why, whylen);
	if (e)
		return e;
	g = calloc(1, sizeof(*g));
	if (!g) {
		shm_close(f);
		return AP_ERR_NOMEM;
	}
	g->shm = shm_base(f);
	g->file = f;
	*out = g;
	return AP_OK;
}

struct gen_map *gen_open_private(void)
{
	struct gen_map *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->shm = calloc(1, sizeof(*g->shm));
	if (!g->shm) {
		free(g);
		return NULL;
	}
	header_init(g->shm, sizeof(*g->shm));
	return g;
}

void gen_close(struct gen_map *g)
{
	if (!g)
		return;
	if (g->file)
		shm_close(g->file);
	else
		free(g->shm);
	free(g);
}

bool gen_shared(struct gen_map *g)
{
	if (!g->file)
		return false;
	if (!shm_lost(g->file))
		return true;
	if (!g->loss_logged) {
		g->loss_logged = true;
		log_error("the shared generation file was truncated under this process: its cache "
			  "was dropped, and cache-clear now reaches this process only (restart the "
			  "pool to share again)");
	}
	return false;
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
