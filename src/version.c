/*
 * version.c - dataset versions; see version.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "version.h"
#include "clock.h"
#include "dataset.h"
#include "generation.h"
#include "hex.h"

struct ventry {
	uint32_t dataset;
	bool used;
	uint64_t gen, udigest;
	long long expires_ms;		/* 0: while gen holds */
	char version[VERSION_LEN + 1];
};

struct versions {
	struct gen_map *gens;
	struct l2 *l2;
	struct ventry e[VERSION_CACHE_MAX];	/* direct-mapped by dataset id */
};

enum ap_err versions_new(struct gen_map *gens, struct l2 *l2, struct versions **out)
{
	struct versions *v = calloc(1, sizeof(*v));

	*out = v;
	if (!v)
		return AP_ERR_NOMEM;
	v->gens = gens;
	v->l2 = l2;
	return AP_OK;
}

void versions_free(struct versions *v)
{
	free(v);
}

static uint64_t first64(const unsigned char *md)
{
	uint64_t x = 0;

	for (int i = 0; i < 8; i++)
		x = x << 8 | md[i];
	return x;
}

static uint64_t digest_of(const char *s)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL))
		return 0;
	return first64(md);
}

/* The token: the first VERSION_LEN hex digits of a SHA-256 of everything
 * that names the dataset's state. */
static void make(uint32_t id, uint64_t udigest, char src, const uint64_t s[3],
		 char out[VERSION_LEN + 1])
{
	char in[160], hex[2 * 32 + 1];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	snprintf(in, sizeof(in), "v1|%u|%016llx|%c|%llx|%llx|%llx", id, (unsigned long long)udigest,
		 src, (unsigned long long)s[0], (unsigned long long)s[1], (unsigned long long)s[2]);
	if (!EVP_Digest(in, strlen(in), md, &n, EVP_sha256(), NULL))
		memset(md, 0, sizeof(md));
	hex_encode(md, VERSION_LEN / 2, hex);
	memcpy(out, hex, VERSION_LEN + 1);
}

static struct ventry *slot(struct versions *v, uint32_t id)
{
	return &v->e[id % VERSION_CACHE_MAX];
}

static void remember(struct versions *v, const struct version_wait *w, long long ttl_ms)
{
	struct ventry *e = slot(v, w->dataset);

	e->used = true;
	e->dataset = w->dataset;
	e->gen = w->gen;
	e->udigest = w->udigest;
	e->expires_ms = ttl_ms ? clock_ms() + ttl_ms : 0;
	memcpy(e->version, w->out, sizeof(e->version));
}

/* The pool's version: its generation file's birth and the generation. */
static void pool_version(struct versions *v, struct version_wait *w)
{
	uint64_t s[3] = {v->gens ? gen_birth(v->gens) : 0, w->gen, 0};

	make(w->dataset, w->udigest, 'p', s, w->out);
}

static void on_lookup(struct l2_wait *lw, void *ud)
{
	struct version_wait *w = ud;
	struct versions *v = w->v;

	w->waiting = false;
	if (lw->ok) {
		uint64_t s[3] = {lw->inst, lw->gen_tag[0], lw->gen_tag[1]};

		make(w->dataset, w->udigest, 'r', s, w->out);
		/* remembered only if no clear moved the generation meanwhile */
		if (v->gens && gen_get(v->gens, w->dataset) == w->gen)
			remember(v, w, 0);
	} else {
		pool_version(v, w);
		remember(v, w, VERSION_FALLBACK_MS);
	}
	w->done(w, w->ud);
}

void version_get(struct versions *v, const struct dataset *d, struct version_wait *w)
{
	struct ventry *e = slot(v, d->id);

	w->v = v;
	w->dataset = d->id;
	w->gen = v->gens ? gen_get(v->gens, d->id) : 0;
	w->udigest = digest_of(d->updated_at);
	w->waiting = false;
	if (e->used && e->dataset == d->id && e->gen == w->gen && e->udigest == w->udigest &&
	    (!e->expires_ms || clock_ms() < e->expires_ms)) {
		memcpy(w->out, e->version, sizeof(w->out));
		w->done(w, w->ud);
		return;
	}
	if (!l2_usable(v->l2, d->id)) {
		pool_version(v, w);
		remember(v, w, v->l2 ? VERSION_FALLBACK_MS : 0);
		w->done(w, w->ud);
		return;
	}
	memset(&w->lw, 0, sizeof(w->lw));
	w->lw.key.dataset = d->id;
	w->lw.fmts = 0;
	w->lw.done = on_lookup;
	w->lw.ud = w;
	w->waiting = true;
	l2_lookup(v->l2, &w->lw);
}

void version_cancel(struct version_wait *w)
{
	if (w->waiting)
		l2_cancel(&w->lw);
	w->waiting = false;
}
