/*
 * api.c - request dispatch and the single-tile endpoint.
 *
 * Order of checks for dataset endpoints: route (400/404/405), dataset
 * (404/502), access (401/403) before readiness (503), so that a private
 * dataset's state is never told to a stranger.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include "api.h"
#include "access.h"
#include "batch.h"
#include "cache.h"
#include "catalog.h"
#include "clock.h"
#include "control.h"
#include "dzi.h"
#include "edge.h"
#include "iiif.h"
#include "ev.h"
#include "observe.h"
#include "route.h"
#include "store.h"
#include "tilekey.h"

#define PREFLIGHT_MAX_AGE 86400
/* api_handle() waits at most this long: longer than every storage deadline
 * a request can meet (three formats, a metadata read, a batch). */
#define API_SYNC_WAIT_MAX_MS (20 * 60 * 1000)

void api_cors(const struct app *a, struct response *res)
{
	const char *o = a->cfg.cors_origin;

	if (!o || !*o)
		return;
	response_header(res, "Access-Control-Allow-Origin", "%s", o);
	response_header(res, "Access-Control-Expose-Headers", "ETag, X-Tile-Source, X-Request-Id, Content-Length");
	if (strcmp(o, "*") != 0)
		response_header(res, "Vary", "Origin");
}


/* ---- finishing -------------------------------------------------------------- */

static void finish(struct call *c, enum ap_err e)
{
	struct response *res = c->res;

	c->waiting = false;
	if (e)
		response_error(res, c->req, e);
	if (res->headers_overflow) {
		/* a bug, not input: headers are built from bounded values */
		response_free(res);
		response_init(res);
		response_error(res, c->req, AP_ERR_INTERNAL);
	}
	if (c->req->method == M_HEAD)
		res->no_body = true;	/* every endpoint, errors included */
	c->done(c);	/* last: it may free c */
}

/* ---- the single tile ------------------------------------------------------------ */

static enum ap_err tile_answer(struct call *c, struct tile *t, enum tile_source src)
{
	struct request *req = c->req;
	struct response *res = c->res;
	int fmt;

	res->pin = t;
	fmt = tk_sniff(t->data, t->len);
	if (fmt < 0)
		fmt = t->key.fmt;
	response_header(res, "Content-Type", "%s", tk_fmt_mime((enum tile_fmt)fmt));
	response_header(res, "ETag", "%s", t->etag);
	edge_cache_control(&c->a->cfg, &c->ds, req, c->rt.versioned ? EDGE_CURRENT : EDGE_UNVERSIONED,
			   res);
	response_header(res, "X-Tile-Source", "%s", tile_source_name(src));
	if (req->if_none_match && edge_etag_matches(req->if_none_match, t->etag)) {
		res->status = 304;
		res->no_body = true;
		return AP_OK;
	}
	res->status = 200;
	res->body = t->data;
	res->body_len = t->len;
	res->no_body = req->method == M_HEAD;
	return AP_OK;
}

static void on_tile(struct lookup *lk, void *ud)
{
	struct call *c = ud;
	const struct tilekey *k = &c->rt.tile;
	enum ap_err e = lk->err;

	cache_note(c->a->cache, lk->src == SRC_MEMORY);
	if (e == AP_ERR_NOT_FOUND)
		e = request_fail(c->req, e, "tile %u/%u/%u not found in dataset %u", (unsigned)k->z,
				 k->x, k->y, c->ds.id);
	else if (e == AP_ERR_TIMEOUT)
		e = request_fail(c->req, e, "storage timed out and no local copy exists");
	else if (e == AP_ERR_STORAGE)
		e = request_fail(c->req, e, "storage failed and no local copy exists");
	else if (!e)
		e = tile_answer(c, lk->tile, lk->src);
	if (e)
		tile_unref(lk->tile);
	lk->tile = NULL;
	finish(c, e);
}

static void tile_start(struct call *c)
{
	const struct tilekey *k = &c->rt.tile;
	const struct dataset *d = &c->ds;

	if (!dataset_has_tile(d, k)) {
		finish(c, request_fail(c->req, AP_ERR_NOT_FOUND, "tile %u/%u/%u is outside dataset %u "
				       "(zoom %u..%u)", (unsigned)k->z, k->x, k->y, d->id,
				       (unsigned)d->min_zoom, (unsigned)d->max_zoom));
		return;
	}
	memset(&c->lk, 0, sizeof(c->lk));
	c->lk.want = *k;
	/* the index says which formats exist: one storage request, or none */
	store_lookup_index(&c->lk, catalog_index(c->a->catalog, d));
	c->lk.done = on_tile;
	c->lk.ud = c;
	c->waiting = true;
	store_lookup_start(c->a->store, &c->lk);
}

/* ---- dispatch ------------------------------------------------------------------ */

static void on_batch_done(void *ud, enum ap_err e)
{
	struct call *c = ud;

	c->batch = NULL;
	finish(c, e);
}

static void on_clear_done(struct clear_call *q, enum ap_err e)
{
	struct call *c = q->ud;

	c->clearing = false;
	finish(c, e);
}

/* ---- versions: versioned tiles and info ------------------------------------------ */

/* An older (or unknown) version: to the current one, with the same query. */
static enum ap_err redirect(struct call *c, const char *current)
{
	const struct request *req = c->req;
	const struct route *rt = &c->rt;
	const char *rest = req->path + rt->version_at + strlen(rt->version);

	c->res->status = 307;
	c->res->no_body = true;
	response_header(c->res, "Location", "%.*s%s%s%s%s", (int)rt->version_at, req->path, current,
			rest, req->query[0] ? "?" : "", req->query);
	edge_cache_control(&c->a->cfg, &c->ds, req, EDGE_REDIRECT, c->res);
	return AP_OK;
}

static void on_version(struct version_wait *w, void *ud)
{
	struct call *c = ud;

	c->versioning = false;
	if (c->rt.kind == R_INFO) {
		finish(c, control_info(c->a, c->req, &c->ds, w->out, c->res));
		return;
	}
	if (c->rt.kind == R_IIIF_INFO && (!c->rt.versioned || !strcmp(c->rt.version, w->out))) {
		finish(c, iiif_info_answer(&c->a->cfg, c->req, &c->ds,
					   catalog_index(c->a->catalog, &c->ds), w->out, c->res));
		return;
	}
	if (strcmp(c->rt.version, w->out) != 0) {
		finish(c, redirect(c, w->out));
		return;
	}
	tile_start(c);
}

static void version_start(struct call *c)
{
	c->vw.done = on_version;
	c->vw.ud = c;
	c->waiting = c->versioning = true;
	version_get(c->a->versions, &c->ds, &c->vw);
}

/* An IIIF image request or a DZI tile URL: the stored tile it names. */
static enum ap_err tile_named(struct call *c)
{
	char why[IIIF_WHY_MAX];

	if (c->rt.via == VIA_IIIF && iiif_map(&c->ds, &c->rt.iiif, &c->rt.tile, why, sizeof(why)))
		return request_fail(c->req, AP_ERR_BAD_REQUEST, "%s", why);
	if (c->rt.via == VIA_DZI && !dzi_lines_up(&c->ds))
		return request_fail(c->req, AP_ERR_NOT_FOUND, "dataset %u has no DZI levels (see "
				    "%s/%u.dzi)", c->ds.id, API_PREFIX, c->ds.id);
	return AP_OK;
}

/* /iiif/3/{id}: to its information document (IIIF 3.0 section 2.1) */
static enum ap_err iiif_base(struct call *c)
{
	c->res->status = 303;
	c->res->no_body = true;
	response_header(c->res, "Location", "%s/info.json", c->req->path);
	response_header(c->res, "Cache-Control", "no-store");
	return AP_OK;
}

/* The dataset is known: access, readiness, then the endpoint. */
static void on_dataset(struct catalog_wait *w, enum ap_err e, void *ud)
{
	struct call *c = ud;
	struct app *a = c->a;
	const struct dataset *d = &c->ds;
	enum route_kind kind = c->rt.kind;

	(void)w;
	c->waiting = false;
	if (e == AP_ERR_NOT_FOUND)
		e = request_fail(c->req, e, "dataset %u not found", c->rt.dataset);
	else if (e)
		e = request_fail(c->req, e, "dataset %u: %s", c->rt.dataset, c->why);
	if (!e)
		e = access_check(&a->cfg, c->req, d, kind == R_CLEAR ? NEED_OWNER : NEED_READ, time(NULL));
	if (!e && d->status != DS_COMPLETED && kind != R_CLEAR && kind != R_STATS)
		e = request_fail(c->req, AP_ERR_NOT_READY, "dataset %u is not ready (status: %s)",
				 d->id, ds_status_name(d->status));
	if (!e && kind == R_TILE)
		e = tile_named(c);
	if (e) {
		finish(c, e);
		return;
	}
	switch (kind) {
	case R_TILE:
		if (c->rt.versioned)
			version_start(c);
		else
			tile_start(c);
		return;
	case R_INFO:
	case R_IIIF_INFO: version_start(c); return;
	case R_DZI: finish(c, dzi_answer(&a->cfg, c->req, d, c->res)); return;
	case R_IIIF_BASE: break;
	case R_BATCH:
		c->waiting = true;
		batch_start(a, c->req, c->res, d, on_batch_done, c, &c->batch);
		return;
	case R_STATS: finish(c, control_stats(a, d, c->res)); return;
	case R_CLEAR:
		c->waiting = c->clearing = true;
		c->clear.done = on_clear_done;
		c->clear.ud = c;
		control_clear_start(&c->clear, a, d, c->res);
		return;
	case R_PREFETCH: finish(c, control_prefetch(a, c->req, d, c->res)); return;
	case R_HEALTH: case R_METRICS: break;
	}
	finish(c, AP_ERR_INTERNAL);
}

static void preflight(struct call *c)
{
	struct response *res = c->res;

	res->status = 204;
	response_header(res, "Allow", "%s", route_allow(c->rt.kind));
	response_header(res, "Access-Control-Allow-Methods", "%s", route_allow(c->rt.kind));
	response_header(res, "Access-Control-Allow-Headers", "Authorization, If-None-Match");
	response_header(res, "Access-Control-Max-Age", "%d", PREFLIGHT_MAX_AGE);
}

void api_start(struct call *c)
{
	struct app *a = c->a;
	enum ap_err e;

	c->waiting = false;
	c->batch = NULL;
	c->clearing = false;
	c->versioning = false;
	c->why[0] = '\0';
	cache_sync(a->cache);
	api_cors(a, c->res);
	e = route_match(c->req, &c->rt);
	c->routed = !e || e == AP_ERR_METHOD;
	if (e || c->req->method == M_OPTIONS) {
		if (!e)
			preflight(c);
		finish(c, e);
		return;
	}
	if (c->rt.kind == R_HEALTH) {
		finish(c, control_health(a, c->res));
		return;
	}
	if (c->rt.kind == R_IIIF_BASE) {
		finish(c, iiif_base(c));
		return;
	}
	if (c->rt.kind == R_METRICS) {
		finish(c, obs_metrics(a, c->req, c->res));
		return;
	}
	c->cw.out = &c->ds;
	c->cw.why = c->why;
	c->cw.whylen = sizeof(c->why);
	c->cw.done = on_dataset;
	c->cw.ud = c;
	c->waiting = true;
	catalog_get(a->catalog, c->rt.dataset, &c->cw);
}

void api_cancel(struct call *c)
{
	if (!c->waiting)
		return;
	c->waiting = false;
	if (c->batch) {
		batch_cancel(c->batch);
		c->batch = NULL;
	} else if (c->clearing) {
		control_clear_cancel(&c->clear);
		c->clearing = false;
	} else if (c->versioning) {
		version_cancel(&c->vw);
		c->versioning = false;
	} else if (c->cw.f) {
		catalog_cancel(&c->cw);
	} else {
		store_lookup_cancel(&c->lk);
	}
}

/* ---- one request, synchronously ------------------------------------------------------ */

static void sync_done(struct call *c)
{
	*(bool *)c->ud = true;
}

void api_handle(struct app *a, struct request *req, struct response *res)
{
	struct call *c = calloc(1, sizeof(*c));
	bool done = false;
	long long until = clock_ms() + API_SYNC_WAIT_MAX_MS;

	if (!c) {
		response_error(res, req, AP_ERR_NOMEM);
		return;
	}
	c->a = a;
	c->req = req;
	c->res = res;
	c->done = sync_done;
	c->ud = &done;
	api_start(c);
	while (!done && clock_ms() < until)
		if (ev_run_once(a->loop, 100) < 0)
			break;
	if (!done) {
		/* the deadlines below should have ended it: a bug, not input */
		api_cancel(c);
		response_error(res, req, request_fail(req, AP_ERR_TIMEOUT, "no answer in time"));
	}
	free(c);
}
