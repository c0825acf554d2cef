/*
 * api.c - request dispatch and the single-tile endpoint.
 *
 * Order of checks for dataset endpoints: route (400/404/405), dataset
 * (404/502), access (401/403) before readiness (503), so that a private
 * dataset's state is never told to a stranger.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include "api.h"
#include "access.h"
#include "batch.h"
#include "cache.h"
#include "catalog.h"
#include "control.h"
#include "route.h"
#include "store.h"
#include "tilekey.h"

#define PREFLIGHT_MAX_AGE 86400

void api_cors(const struct app *a, struct response *res)
{
	const char *o = a->cfg.cors_origin;

	if (!o || !*o)
		return;
	response_header(res, "Access-Control-Allow-Origin", "%s", o);
	response_header(res, "Access-Control-Expose-Headers", "ETag, X-Tile-Source, Content-Length");
	if (strcmp(o, "*") != 0)
		response_header(res, "Vary", "Origin");
}


/* Does an If-None-Match list match our strong ETag? Weak comparison, as
 * RFC 9110 prescribes for If-None-Match. */
static bool etag_matches(const char *inm, const char *etag)
{
	size_t elen = strlen(etag);
	const char *p = inm;

	while (*p) {
		const char *q;
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (*p == '*')
			return true;
		if (p[0] == 'W' && p[1] == '/')
			p += 2;
		q = p;
		while (*q && *q != ',')
			q++;
		while (q > p && (q[-1] == ' ' || q[-1] == '\t'))
			q--;
		if ((size_t)(q - p) == elen && memcmp(p, etag, elen) == 0)
			return true;
		p = q;
		while (*p && *p != ',')
			p++;
	}
	return false;
}

static void cache_control(const struct app *a, const struct dataset *d, struct response *res)
{
	if (d->is_demo)
		response_header(res, "Cache-Control", "public, max-age=%ld, immutable",
				a->cfg.public_max_age_s);
	else
		response_header(res, "Cache-Control", "private, max-age=%ld",
				a->cfg.private_max_age_s);
}

static enum ap_err handle_tile(struct app *a, struct request *req, const struct route *rt,
			       const struct dataset *d, struct response *res)
{
	struct tile *t = NULL;
	enum tile_source src;
	enum ap_err e;
	int fmt;

	if (!dataset_has_tile(d, &rt->tile))
		return request_fail(req, AP_ERR_NOT_FOUND, "tile %u/%u/%u is outside dataset %u "
				    "(zoom %u..%u)", (unsigned)rt->tile.z, rt->tile.x, rt->tile.y,
				    d->id, (unsigned)d->min_zoom, (unsigned)d->max_zoom);
	e = store_get_tile(a->store, &rt->tile, &t, &src);
	cache_note(a->cache, src == SRC_MEMORY);
	if (e == AP_ERR_NOT_FOUND)
		return request_fail(req, e, "tile %u/%u/%u not found in dataset %u",
				    (unsigned)rt->tile.z, rt->tile.x, rt->tile.y, d->id);
	if (e == AP_ERR_TIMEOUT)
		return request_fail(req, e, "storage timed out and no local copy exists");
	if (e == AP_ERR_STORAGE)
		return request_fail(req, e, "storage failed and no local copy exists");
	if (e)
		return e;
	res->pin = t;
	fmt = tk_sniff(t->data, t->len);
	if (fmt < 0)
		fmt = t->key.fmt;
	response_header(res, "Content-Type", "%s", tk_fmt_mime((enum tile_fmt)fmt));
	response_header(res, "ETag", "%s", t->etag);
	cache_control(a, d, res);
	response_header(res, "X-Tile-Source", "%s", tile_source_name(src));
	if (req->if_none_match && etag_matches(req->if_none_match, t->etag)) {
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

static enum ap_err dispatch(struct app *a, struct request *req, struct response *res)
{
	struct dataset ds, *d = &ds;
	char why[CATALOG_REASON_MAX + 32];
	struct route rt;
	enum ap_err e;

	e = route_match(req, &rt);
	if (e)
		return e;
	if (req->method == M_OPTIONS) {
		res->status = 204;
		response_header(res, "Allow", "%s", route_allow(rt.kind));
		response_header(res, "Access-Control-Allow-Methods", "%s", route_allow(rt.kind));
		response_header(res, "Access-Control-Allow-Headers", "Authorization, If-None-Match");
		response_header(res, "Access-Control-Max-Age", "%d", PREFLIGHT_MAX_AGE);
		return AP_OK;
	}
	if (rt.kind == R_HEALTH)
		return control_health(a, res);
	e = catalog_get(a->catalog, rt.dataset, d, why, sizeof(why));
	if (e == AP_ERR_NOT_FOUND)
		return request_fail(req, e, "dataset %u not found", rt.dataset);
	if (e)
		return request_fail(req, e, "dataset %u: %s", rt.dataset, why);
	e = access_check(&a->cfg, req, d, rt.kind == R_CLEAR ? NEED_OWNER : NEED_READ, time(NULL));
	if (e)
		return e;
	if (d->status != DS_COMPLETED && rt.kind != R_CLEAR && rt.kind != R_STATS)
		return request_fail(req, AP_ERR_NOT_READY, "dataset %u is not ready (status: %s)",
				    d->id, ds_status_name(d->status));
	switch (rt.kind) {
	case R_TILE: return handle_tile(a, req, &rt, d, res);
	case R_BATCH: return batch_handle(a, req, d, res);
	case R_STATS: return control_stats(a, d, res);
	case R_CLEAR: return control_clear(a, d, res);
	case R_PREFETCH: return control_prefetch(a, req, d, res);
	case R_HEALTH: break;
	}
	return AP_ERR_INTERNAL;
}

void api_handle(struct app *a, struct request *req, struct response *res)
{
	enum ap_err e;

	cache_sync(a->cache);
	api_cors(a, res);
	e = dispatch(a, req, res);
	if (e)
		response_error(res, req, e);
	if (res->headers_overflow) {
		/* a bug, not input: headers are built from bounded values */
		response_free(res);
		response_init(res);
		response_error(res, req, AP_ERR_INTERNAL);
	}
	if (req->method == M_HEAD)
		res->no_body = true;	/* every endpoint, errors included */
}
