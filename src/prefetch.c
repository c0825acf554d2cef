/*
 * prefetch.c - bounded prefetch queue drained between requests.
 *
 * The queue is a ring of tile keys; when full, the oldest entries give way,
 * because the newest viewport is the one the user is about to need. At most
 * PREFETCH_PARALLEL lookups are in flight; a lookup that completes at once
 * (local tree) counts against PREFETCH_SYNC_BUDGET per pump, so a pump never
 * holds the process for long even without a bucket.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "prefetch.h"
#include "api.h"
#include "app.h"
#include "cache.h"
#include "catalog.h"
#include "config.h"
#include "request.h"
#include "response.h"
#include "store.h"

#define PREFETCH_SYNC_BUDGET 8

struct pf_slot {
	struct lookup lk;
	bool busy;
	struct prefetch *p;
};

struct prefetch {
	struct store *st;
	struct cache *cache;
	struct tilekey *ring;
	size_t cap, head, len;
	struct pf_slot *slots;
	unsigned nslots, inflight;
};

enum ap_err prefetch_new(const struct config *c, struct store *st, struct cache *cache,
			 struct prefetch **out)
{
	struct prefetch *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p)
		return AP_ERR_NOMEM;
	p->st = st;
	p->cache = cache;
	p->cap = (size_t)c->prefetch_queue_max;
	p->nslots = (unsigned)c->prefetch_parallel;
	if (p->cap) {
		p->ring = calloc(p->cap, sizeof(*p->ring));
		p->slots = calloc(p->nslots, sizeof(*p->slots));
		if (!p->ring || !p->slots) {
			prefetch_free(p);
			return AP_ERR_NOMEM;
		}
	}
	*out = p;
	return AP_OK;
}

void prefetch_free(struct prefetch *p)
{
	if (!p)
		return;
	for (unsigned i = 0; p->slots && i < p->nslots; i++)
		if (p->slots[i].busy)
			store_lookup_cancel(&p->slots[i].lk);
	free(p->ring);
	free(p->slots);
	free(p);
}

size_t prefetch_queued(const struct prefetch *p)
{
	return p ? p->len : 0;
}

static bool cached_any(struct prefetch *p, const struct tilekey *k)
{
	struct tilekey t = *k;

	if (!p->cache)
		return true;	/* nothing to fill */
	for (int f = 0; f < FMT__COUNT; f++) {
		t.fmt = (uint8_t)f;
		if (cache_contains(p->cache, &t))
			return true;
	}
	return false;
}

static bool queued_or_busy(struct prefetch *p, const struct tilekey *k)
{
	for (size_t i = 0; i < p->len; i++) {
		const struct tilekey *q = &p->ring[(p->head + i) % p->cap];
		if (q->dataset == k->dataset && q->z == k->z && q->x == k->x && q->y == k->y)
			return true;
	}
	for (unsigned i = 0; i < p->nslots; i++) {
		const struct tilekey *q = &p->slots[i].lk.want;
		if (p->slots[i].busy && q->dataset == k->dataset && q->z == k->z && q->x == k->x &&
		    q->y == k->y)
			return true;
	}
	return false;
}

static bool push(struct prefetch *p, const struct tilekey *k)
{
	if (cached_any(p, k) || queued_or_busy(p, k))
		return false;
	if (p->len == p->cap) {	/* the oldest gives way */
		p->head = (p->head + 1) % p->cap;
		p->len--;
	}
	p->ring[(p->head + p->len) % p->cap] = *k;
	p->len++;
	return true;
}

/* Queues the tiles of a rectangle at level z, clipped to the grid, except
 * those inside the excluded rectangle (the viewport itself). */
static size_t push_rect(struct prefetch *p, const struct dataset *d, struct tilekey k,
			unsigned z, int64_t x0, int64_t x1, int64_t y0, int64_t y1,
			const int64_t *ex)
{
	uint64_t cols, rows;
	size_t n = 0;

	dataset_grid(d, z, &cols, &rows);
	if (!cols || !rows)
		return 0;
	if (x0 < 0) x0 = 0;
	if (y0 < 0) y0 = 0;
	if (x1 >= (int64_t)cols) x1 = (int64_t)cols - 1;
	if (y1 >= (int64_t)rows) y1 = (int64_t)rows - 1;
	k.z = (uint8_t)z;
	for (int64_t y = y0; y <= y1; y++)
		for (int64_t x = x0; x <= x1; x++) {
			if (ex && x >= ex[0] && x <= ex[1] && y >= ex[2] && y <= ex[3])
				continue;
			k.x = (uint32_t)x;
			k.y = (uint32_t)y;
			n += push(p, &k);
		}
	return n;
}

size_t prefetch_viewport(struct prefetch *p, const struct dataset *d, unsigned z, uint32_t x0,
			 uint32_t x1, uint32_t y0, uint32_t y1)
{
	struct tilekey k = {.dataset = d->id, .fmt = FMT_JPG};
	int64_t view[4] = {x0, x1, y0, y1};
	size_t n = 0;

	if (!p || !p->cap)
		return 0;
	/* the ring around the viewport, then one level in, then one level out */
	n += push_rect(p, d, k, z, (int64_t)x0 - 1, (int64_t)x1 + 1, (int64_t)y0 - 1,
		       (int64_t)y1 + 1, view);
	if (z < d->max_zoom)
		n += push_rect(p, d, k, z + 1, 2 * (int64_t)x0, 2 * (int64_t)x1 + 1,
			       2 * (int64_t)y0, 2 * (int64_t)y1 + 1, NULL);
	if (z > d->min_zoom)
		n += push_rect(p, d, k, z - 1, x0 / 2, x1 / 2, y0 / 2, y1 / 2, NULL);
	return n;
}

void prefetch_drop_dataset(struct prefetch *p, uint32_t dataset)
{
	size_t keep = 0;

	if (!p || !p->cap)
		return;
	for (size_t i = 0; i < p->len; i++) {
		struct tilekey k = p->ring[(p->head + i) % p->cap];
		if (k.dataset != dataset)
			p->ring[(p->head + keep++) % p->cap] = k;
	}
	p->len = keep;
}

static void on_done(struct lookup *lk, void *ud)
{
	struct pf_slot *s = ud;

	/* the store has cached it (and counted it as prefetched) */
	tile_unref(lk->tile);
	lk->tile = NULL;
	s->busy = false;
	s->p->inflight--;
}

unsigned prefetch_pump(struct prefetch *p)
{
	unsigned sync_done = 0;

	if (!p || !p->cap)
		return 0;
	while (p->len && p->inflight < p->nslots && sync_done < PREFETCH_SYNC_BUDGET) {
		struct tilekey k = p->ring[p->head];
		struct pf_slot *s = NULL;

		p->head = (p->head + 1) % p->cap;
		p->len--;
		if (cached_any(p, &k))
			continue;
		for (unsigned i = 0; i < p->nslots && !s; i++)
			if (!p->slots[i].busy)
				s = &p->slots[i];
		if (!s)
			break;	/* cannot happen: inflight < nslots */
		memset(&s->lk, 0, sizeof(s->lk));
		s->p = p;
		s->busy = true;
		s->lk.want = k;
		s->lk.prefetch = true;
		s->lk.done = on_done;
		s->lk.ud = s;
		p->inflight++;
		store_lookup_start(p->st, &s->lk);
		if (!s->busy)
			sync_done++;
	}
	return p->inflight + (p->len ? 1 : 0);
}

static enum ap_err param_u32(struct request *req, const char *name, uint32_t max, uint32_t *out)
{
	char v[16];
	enum ap_err e = query_get(req->query, name, v, sizeof(v));

	if (e == AP_ERR_NOT_FOUND)
		return request_fail(req, AP_ERR_BAD_REQUEST, "query parameter %s is required", name);
	if (e || tk_parse_uint(v, strlen(v), max, out))
		return request_fail(req, AP_ERR_BAD_REQUEST,
				    "query parameter %s must be a decimal number", name);
	return AP_OK;
}

enum ap_err prefetch_handle(struct app *a, struct request *req, const struct dataset *d,
			    struct response *res)
{
	uint32_t z, x0, x1, y0, y1;
	uint64_t cols, rows;
	struct json_object *o;
	size_t n = 0;
	enum ap_err e;

	if ((e = param_u32(req, "z", TILE_Z_MAX, &z)) || (e = param_u32(req, "x0", TILE_COORD_MAX, &x0)) ||
	    (e = param_u32(req, "x1", TILE_COORD_MAX, &x1)) ||
	    (e = param_u32(req, "y0", TILE_COORD_MAX, &y0)) ||
	    (e = param_u32(req, "y1", TILE_COORD_MAX, &y1)))
		return e;
	if (x1 < x0 || y1 < y0)
		return request_fail(req, AP_ERR_BAD_REQUEST, "need x0 <= x1 and y0 <= y1");
	if (x1 - x0 >= PREFETCH_VIEWPORT_MAX || y1 - y0 >= PREFETCH_VIEWPORT_MAX)
		return request_fail(req, AP_ERR_BAD_REQUEST, "viewport wider than %d tiles",
				    PREFETCH_VIEWPORT_MAX);
	dataset_grid(d, z, &cols, &rows);
	if (!cols)
		return request_fail(req, AP_ERR_NOT_FOUND, "level %u is outside dataset %u (zoom %u..%u)",
				    z, d->id, (unsigned)d->min_zoom, (unsigned)d->max_zoom);
	if (x0 >= cols || y0 >= rows)
		return request_fail(req, AP_ERR_NOT_FOUND, "viewport outside the grid of level %u", z);
	n = prefetch_viewport(a->prefetch, d, z, x0, x1, y0, y1);
	o = json_object_new_object();
	if (!o)
		return AP_ERR_NOMEM;
	json_object_object_add(o, "queued", json_object_new_int64((int64_t)n));
	json_object_object_add(o, "queue", json_object_new_int64((int64_t)prefetch_queued(a->prefetch)));
	return api_send_json(res, 202, o);
}
