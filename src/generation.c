/*
 * generation.c - generation counters in a shared file; see generation.h.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>
#include "generation.h"
#include "log.h"
#include "shm.h"

#define GEN_MAGIC "APTGENMP"
#define GEN_MAGIC_LEN 8
#define GEN_VERSION 4u	/* also in GEN_FILE_PREFIX */
#define NO_ID UINT64_MAX	/* pend_id: nothing pending */
#define MANY_IDS (UINT64_MAX - 1)	/* pend_id: several datasets of one slot */

struct gen_shm {
	char magic[GEN_MAGIC_LEN];
	uint32_t version;
	uint32_t nslots;
	uint64_t epoch;
	uint64_t all;			/* added to every slot: gen_bump_all() */
	uint64_t slot[GEN_N_SLOTS];
	/* the shared tier (l2.h): clears not yet told to Redis, and the
	 * highest Redis generations seen by any process of the host */
	uint64_t pend_id[GEN_N_SLOTS];	/* pending dataset id + 1, or NO_ID/MANY_IDS */
	uint64_t remote_gen[GEN_N_SLOTS];
	uint64_t remote_all, remote_epoch;
	uint64_t remote_inst;		/* which Redis those came from (0: none yet) */
	uint64_t birth;			/* random, when the map was made: see gen_birth() */
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
	for (size_t i = 0; i < GEN_N_SLOTS; i++)
		s->pend_id[i] = NO_ID;
	/* not secret, only never the same twice: time and pid if no entropy */
	if (getrandom(&s->birth, sizeof(s->birth), GRND_NONBLOCK) != (ssize_t)sizeof(s->birth))
		s->birth = (uint64_t)time(NULL) << 20 ^ (uint64_t)getpid();
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
	return __atomic_load_n(&g->shm->slot[dataset % GEN_N_SLOTS], __ATOMIC_SEQ_CST) +
	       __atomic_load_n(&g->shm->all, __ATOMIC_SEQ_CST);
}

uint64_t gen_epoch(const struct gen_map *g)
{
	return __atomic_load_n(&g->shm->epoch, __ATOMIC_SEQ_CST);
}

static void bump_slot(struct gen_map *g, uint32_t dataset)
{
	__atomic_add_fetch(&g->shm->slot[dataset % GEN_N_SLOTS], 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&g->shm->epoch, 1, __ATOMIC_SEQ_CST);
}

void gen_bump(struct gen_map *g, uint32_t dataset)
{
	uint64_t *p = &g->shm->pend_id[dataset % GEN_N_SLOTS];
	uint64_t old = __atomic_load_n(p, __ATOMIC_SEQ_CST), want;

	bump_slot(g, dataset);
	/* remember that the clear must still reach the shared tier */
	do {
		want = old == NO_ID || old == (uint64_t)dataset + 1 ? (uint64_t)dataset + 1 : MANY_IDS;
	} while (!__atomic_compare_exchange_n(p, &old, want, false, __ATOMIC_SEQ_CST,
					      __ATOMIC_SEQ_CST));
}

void gen_bump_all(struct gen_map *g)
{
	__atomic_add_fetch(&g->shm->all, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&g->shm->epoch, 1, __ATOMIC_SEQ_CST);
}

bool gen_pending(const struct gen_map *g, uint32_t dataset)
{
	uint64_t v = __atomic_load_n(&g->shm->pend_id[dataset % GEN_N_SLOTS], __ATOMIC_SEQ_CST);

	return v != NO_ID && (v == MANY_IDS || v == (uint64_t)dataset + 1);
}

bool gen_next_pending(const struct gen_map *g, size_t *cursor, uint32_t *dataset, bool *many)
{
	for (; *cursor < GEN_N_SLOTS; (*cursor)++) {
		uint64_t v = __atomic_load_n(&g->shm->pend_id[*cursor], __ATOMIC_SEQ_CST);

		if (v == NO_ID || v == 0)	/* 0: a map lost to truncation reads zeros */
			continue;
		*many = v == MANY_IDS;
		*dataset = *many ? (uint32_t)*cursor : (uint32_t)(v - 1);
		(*cursor)++;
		return true;
	}
	return false;
}

void gen_done_pending(struct gen_map *g, uint32_t dataset, bool many)
{
	uint64_t expect = many ? MANY_IDS : (uint64_t)dataset + 1;

	/* only if nothing new was cleared in that slot meanwhile */
	__atomic_compare_exchange_n(&g->shm->pend_id[dataset % GEN_N_SLOTS], &expect, NO_ID, false,
				    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/* Raises *p to v; true if this call raised it (one process of the host wins). */
static bool raise_to(uint64_t *p, uint64_t v)
{
	uint64_t old = __atomic_load_n(p, __ATOMIC_SEQ_CST);

	while (old < v)
		if (__atomic_compare_exchange_n(p, &old, v, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
			return true;
	return false;
}

uint64_t gen_remote(const struct gen_map *g, uint32_t dataset)
{
	return __atomic_load_n(&g->shm->remote_gen[dataset % GEN_N_SLOTS], __ATOMIC_SEQ_CST);
}

uint64_t gen_remote_all(const struct gen_map *g)
{
	return __atomic_load_n(&g->shm->remote_all, __ATOMIC_SEQ_CST);
}

uint64_t gen_remote_epoch(const struct gen_map *g)
{
	return __atomic_load_n(&g->shm->remote_epoch, __ATOMIC_SEQ_CST);
}

bool gen_note_remote(struct gen_map *g, uint32_t dataset, uint64_t remote)
{
	if (!raise_to(&g->shm->remote_gen[dataset % GEN_N_SLOTS], remote))
		return false;
	bump_slot(g, dataset);	/* cleared on another host: drop it here too */
	return true;
}

bool gen_note_remote_all(struct gen_map *g, uint64_t remote)
{
	if (!raise_to(&g->shm->remote_all, remote))
		return false;
	gen_bump_all(g);
	return true;
}

void gen_set_remote_epoch(struct gen_map *g, uint64_t remote)
{
	__atomic_store_n(&g->shm->remote_epoch, remote, __ATOMIC_SEQ_CST);
}

bool gen_raise_remote_epoch(struct gen_map *g, uint64_t remote)
{
	return raise_to(&g->shm->remote_epoch, remote);
}

void gen_drop(struct gen_map *g, uint32_t dataset)
{
	bump_slot(g, dataset);
}

uint64_t gen_remote_inst(const struct gen_map *g)
{
	return __atomic_load_n(&g->shm->remote_inst, __ATOMIC_SEQ_CST);
}

void gen_set_remote_inst(struct gen_map *g, uint64_t inst)
{
	__atomic_store_n(&g->shm->remote_inst, inst, __ATOMIC_SEQ_CST);
}

uint64_t gen_birth(const struct gen_map *g)
{
	return __atomic_load_n(&g->shm->birth, __ATOMIC_SEQ_CST);
}
