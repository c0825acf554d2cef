/*
 * api.c - request dispatch and the tile, health, stats and clear endpoints.
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
#include "generation.h"
#include "prefetch.h"
#include "route.h"
#include "store.h"

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

void api_hit_rate(unsigned long long hits, unsigned long long total, char *out, size_t cap)
{
	snprintf(out, cap, "%.1f%%", total ? 100.0 * (double)hits / (double)total : 0.0);
}

enum ap_err api_send_json(struct response *res, int status, struct json_object *o)
{
	struct buf b;
	enum ap_err e;

	buf_init(&b, RESP_JSON_MAX);
	e = buf_adds(&b, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	if (e) {
		buf_free(&b);
		return e;
	}
	response_header(res, "Cache-Control", "no-store");
	response_json(res, status, &b);
	return AP_OK;
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
	if (a->cache)
		cache_note(a->cache, src == SRC_MEMORY && e == AP_OK);
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

static enum ap_err handle_health(struct app *a, struct response *res)
{
	struct json_object *o = json_object_new_object(), *s, *b, *l;
	struct store_health h;
	const char *status;
	int code;

	if (!o)
		return AP_ERR_NOMEM;
	store_health(a->store, &h);
	if (h.bucket_configured && !h.bucket_open)
		status = "ok";
	else if (h.local_ok)
		status = h.bucket_configured ? "degraded" : "ok";
	else
		status = "unavailable";
	code = strcmp(status, "unavailable") == 0 ? 503 : 200;
	json_object_object_add(o, "status", json_object_new_string(status));
	json_object_object_add(o, "pid", json_object_new_int((int)getpid()));
	json_object_object_add(o, "uptime_s", json_object_new_int64((int64_t)(time(NULL) - a->started)));
	s = json_object_new_object();
	b = json_object_new_object();
	json_object_object_add(b, "configured", json_object_new_boolean(h.bucket_configured));
	if (h.bucket_configured) {
		json_object_object_add(b, "state", json_object_new_string(
			h.bucket_open ? "unreachable (skipped during cool-down)" :
			h.failures ? "failing" : "ok"));
		json_object_object_add(b, "consecutive_failures", json_object_new_int((int)h.failures));
		if (h.bucket_open)
			json_object_object_add(b, "retry_in_s",
					       json_object_new_int64((int64_t)(h.retry_at - time(NULL))));
		if (h.last_error[0])
			json_object_object_add(b, "last_error", json_object_new_string(h.last_error));
	}
	json_object_object_add(s, "bucket", b);
	l = json_object_new_object();
	json_object_object_add(l, "configured", json_object_new_boolean(h.local_configured));
	if (h.local_configured)
		json_object_object_add(l, "state", json_object_new_string(h.local_ok ? "ok" :
									  "unreadable"));
	json_object_object_add(s, "local", l);
	json_object_object_add(o, "storage", s);
	if (code == 503)
		json_object_object_add(o, "detail", json_object_new_string(
			h.local_configured ? "bucket unreachable and local tree unreadable" :
					     "bucket unreachable and no local tree configured"));
	return api_send_json(res, code, o);
}

static enum ap_err handle_stats(struct app *a, const struct dataset *d, struct response *res)
{
	struct json_object *o = json_object_new_object(), *s, *ds;
	struct cache_stats cs;
	size_t tiles = 0, bytes = 0;
	char rate[16];

	if (!o)
		return AP_ERR_NOMEM;
	memset(&cs, 0, sizeof(cs));
	if (a->cache) {
		cache_get_stats(a->cache, &cs);
		cache_dataset_usage(a->cache, d->id, &tiles, &bytes);
	}
	api_hit_rate(cs.hits, cs.requests, rate, sizeof(rate));
	json_object_object_add(o, "dataset_id", json_object_new_int64(d->id));
	s = json_object_new_object();
	json_object_object_add(s, "enabled", json_object_new_boolean(a->cache != NULL));
	json_object_object_add(s, "cache_size", json_object_new_int64((int64_t)cs.count));
	json_object_object_add(s, "cache_max", json_object_new_int64(a->cfg.cache_max_tiles));
	json_object_object_add(s, "cache_bytes", json_object_new_int64((int64_t)cs.bytes));
	json_object_object_add(s, "cache_max_bytes",
			       json_object_new_int64((int64_t)a->cfg.cache_max_mb * 1024 * 1024));
	json_object_object_add(s, "total_requests", json_object_new_int64((int64_t)cs.requests));
	json_object_object_add(s, "cache_hits", json_object_new_int64((int64_t)cs.hits));
	json_object_object_add(s, "cache_misses", json_object_new_int64((int64_t)cs.misses));
	json_object_object_add(s, "hit_rate", json_object_new_string(rate));
	json_object_object_add(s, "evictions", json_object_new_int64((int64_t)cs.evictions));
	json_object_object_add(s, "prefetch_queue",
			       json_object_new_int64((int64_t)prefetch_queued(a->prefetch)));
	json_object_object_add(s, "prefetched", json_object_new_int64((int64_t)cs.prefetched));
	json_object_object_add(s, "prefetch_hits", json_object_new_int64((int64_t)cs.prefetch_hits));
	json_object_object_add(s, "pid", json_object_new_int((int)getpid()));
	json_object_object_add(o, "stats", s);
	ds = json_object_new_object();
	json_object_object_add(ds, "cached_tiles", json_object_new_int64((int64_t)tiles));
	json_object_object_add(ds, "cached_bytes", json_object_new_int64((int64_t)bytes));
	json_object_object_add(o, "dataset", ds);
	return api_send_json(res, 200, o);
}

static enum ap_err handle_clear(struct app *a, const struct dataset *d, struct response *res)
{
	struct json_object *o = json_object_new_object();
	uint32_t id = d->id;	/* d lives in the catalogue, which we drop below */
	size_t n = 0;

	if (!o)
		return AP_ERR_NOMEM;
	/* bump first: from here on no process accepts or serves old entries */
	if (a->cache)
		n = cache_clear_dataset(a->cache, id);
	else
		gen_bump(a->gens, id);
	prefetch_drop_dataset(a->prefetch, id);
	catalog_drop(a->catalog, id);
	json_object_object_add(o, "dataset_id", json_object_new_int64(id));
	json_object_object_add(o, "cleared", json_object_new_boolean(1));
	json_object_object_add(o, "tiles_dropped_here", json_object_new_int64((int64_t)n));
	json_object_object_add(o, "generation", json_object_new_int64((int64_t)gen_get(a->gens, id)));
	return api_send_json(res, 200, o);
}

static enum ap_err dispatch(struct app *a, struct request *req, struct response *res)
{
	const struct dataset *d;
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
		return handle_health(a, res);
	e = catalog_get(a->catalog, rt.dataset, &d);
	if (e == AP_ERR_NOT_FOUND)
		return request_fail(req, e, "dataset %u not found", rt.dataset);
	if (e)
		return request_fail(req, e, "dataset %u: metadata could not be read from storage",
				    rt.dataset);
	e = access_check(&a->cfg, req, d, rt.kind == R_CLEAR ? NEED_OWNER : NEED_READ, time(NULL));
	if (e)
		return e;
	if (d->status != DS_COMPLETED && rt.kind != R_CLEAR && rt.kind != R_STATS)
		return request_fail(req, AP_ERR_NOT_READY, "dataset %u is not ready (status: %s)",
				    d->id, ds_status_name(d->status));
	switch (rt.kind) {
	case R_TILE: return handle_tile(a, req, &rt, d, res);
	case R_BATCH: return batch_handle(a, req, d, res);
	case R_STATS: return handle_stats(a, d, res);
	case R_CLEAR: return handle_clear(a, d, res);
	case R_PREFETCH: return prefetch_handle(a, req, d, res);
	case R_HEALTH: break;
	}
	return AP_ERR_INTERNAL;
}

void api_handle(struct app *a, struct request *req, struct response *res)
{
	enum ap_err e;

	if (a->cache)
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
