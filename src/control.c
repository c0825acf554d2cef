/*
 * control.c - health, cache-stats, cache-clear and prefetch; see control.h.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include "control.h"
#include "cache.h"
#include "catalog.h"
#include "edge.h"
#include "generation.h"
#include "hex.h"
#include "route.h"
#include "prefetch.h"
#include "store.h"
#include "tileindex.h"
#include "tilekey.h"

#define add(o, k, v) json_object_object_add((o), (k), (v))
#define jint(v) json_object_new_int64((int64_t)(v))
#define jstr(v) json_object_new_string(v)
#define jbool(v) json_object_new_boolean(v)

static struct json_object *bucket_health(const struct store_health *h)
{
	struct json_object *b = json_object_new_object();

	add(b, "configured", jbool(h->bucket_configured));
	if (!h->bucket_configured)
		return b;
	add(b, "state", jstr(h->bucket_open ? "unreachable (skipped during cool-down)" :
			     h->failures ? "failing" : "ok"));
	add(b, "consecutive_failures", jint(h->failures));
	if (h->bucket_open)
		add(b, "retry_in_s", jint((h->retry_in_ms + 999) / 1000));
	if (h->last_error[0])
		add(b, "last_error", jstr(h->last_error));
	return b;
}

/* The shared tier: "l2" is ok, degraded (failing, skipped for a cool-down
 * or probing: tiles come from storage) or off; "redis" says why. */
static void l2_health(struct app *a, struct json_object *o)
{
	struct json_object *r;
	struct l2_stats st;

	if (!a->l2) {
		add(o, "l2", jstr("off"));
		return;
	}
	l2_get_stats(a->l2, &st);
	add(o, "l2", jstr(strcmp(st.state, "ok") == 0 ? "ok" : "degraded"));
	r = json_object_new_object();
	add(r, "state", jstr(st.state));
	add(r, "hits", jint(st.hits));
	add(r, "misses", jint(st.misses));
	add(r, "errors", jint(st.errors));
	add(r, "timeouts", jint(st.timeouts));
	add(r, "bad_values", jint(st.bad_values));
	add(r, "breaker_openings", jint(st.openings));
	if (strcmp(st.state, "degraded") == 0)
		add(r, "retry_in_s", jint((st.retry_in_ms + 999) / 1000));
	if (st.last_error[0])
		add(r, "last_error", jstr(st.last_error));
	add(o, "redis", r);
}

/* What an operator should know about the configuration itself. */
static struct json_object *warnings(struct app *a)
{
	struct json_object *w = json_object_new_array();

	if (a->cfg.use_s3 && a->cfg.public_url && catalog_saw_private(a->catalog))
		json_object_array_add(w, jstr("R2_PUBLIC_URL is set and private datasets are served: "
					      "their tiles are readable by anyone at the public bucket "
					      "URL, whatever access control says here"));
	if (a->cfg.use_s3 && !a->cfg.tls_verify)
		json_object_array_add(w, jstr("S3_VERIFY_TLS=false: the bucket's certificate is not "
					      "verified"));
	if (!gen_shared(a->gens))
		json_object_array_add(w, jstr("cache generations are not shared: cache-clear reaches "
					      "only the process that answers it"));
	return w;
}

enum ap_err control_health(struct app *a, struct response *res)
{
	struct json_object *o = json_object_new_object(), *s, *l;
	struct store_health h;
	const char *status;

	if (!o)
		return AP_ERR_NOMEM;
	store_health(a->store, &h);
	if (h.bucket_configured && !h.bucket_open)
		status = "ok";
	else if (h.local_ok)
		status = h.bucket_configured ? "degraded" : "ok";
	else
		status = "unavailable";
	add(o, "status", jstr(status));
	add(o, "pid", jint(getpid()));
	add(o, "uptime_s", jint(time(NULL) - a->started));
	s = json_object_new_object();
	add(s, "bucket", bucket_health(&h));
	l = json_object_new_object();
	add(l, "configured", jbool(h.local_configured));
	if (h.local_configured)
		add(l, "state", jstr(h.local_ok ? "ok" : "unreadable"));
	add(s, "local", l);
	add(o, "storage", s);
	l2_health(a, o);
	l = json_object_new_object();
	add(l, "connections_accepted", jint(a->conns_accepted));
	add(l, "requests_served", jint(a->requests_served));
	add(o, "fastcgi", l);
	add(o, "warnings", warnings(a));
	if (strcmp(status, "unavailable") != 0)
		return response_json_object(res, 200, o);
	add(o, "detail", jstr(h.local_configured ? "bucket unreachable and local tree unreadable" :
			      "bucket unreachable and no local tree configured"));
	return response_json_object(res, 503, o);
}

static struct json_object *stats_object(struct app *a, const struct cache_stats *cs)
{
	struct json_object *s = json_object_new_object();
	char rate[16];

	cache_hit_rate_text(cs, rate, sizeof(rate));
	add(s, "enabled", jbool(cs->max_count > 0 && cs->max_bytes > 0));
	add(s, "cache_size", jint(cs->count));
	add(s, "cache_max", jint(a->cfg.cache_max_tiles));
	add(s, "cache_bytes", jint(cs->bytes));
	add(s, "cache_max_bytes", jint((int64_t)a->cfg.cache_max_mb * 1024 * 1024));
	add(s, "total_requests", jint(cs->requests));
	add(s, "cache_hits", jint(cs->hits));
	add(s, "cache_misses", jint(cs->misses));
	add(s, "hit_rate", jstr(rate));
	add(s, "evictions", jint(cs->evictions));
	add(s, "negative_entries", jint(cs->negative));
	add(s, "negative_max", jint(cs->max_negative));
	add(s, "negative_hits", jint(cs->negative_hits));
	add(s, "prefetch_queue", jint(prefetch_queued(a->prefetch)));
	add(s, "prefetched", jint(cs->prefetched));
	add(s, "prefetch_hits", jint(cs->prefetch_hits));
	if (a->l2) {
		struct l2_stats st;

		l2_get_stats(a->l2, &st);
		add(s, "l2_state", jstr(st.state));
		add(s, "l2_hits", jint(st.hits));
		add(s, "l2_misses", jint(st.misses));
		add(s, "l2_errors", jint(st.errors + st.timeouts));
		add(s, "l2_bad_values", jint(st.bad_values));
		add(s, "l2_writes", jint(st.writes));
		add(s, "l2_dropped_writes", jint(st.dropped_writes));
	}
	add(s, "pid", jint(getpid()));
	return s;
}

enum ap_err control_stats(struct app *a, const struct dataset *d, struct response *res)
{
	struct json_object *o = json_object_new_object(), *ds;
	struct cache_stats cs;
	size_t tiles = 0, bytes = 0;

	if (!o)
		return AP_ERR_NOMEM;
	cache_get_stats(a->cache, &cs);
	cache_dataset_usage(a->cache, d->id, &tiles, &bytes);
	add(o, "dataset_id", jint(d->id));
	add(o, "stats", stats_object(a, &cs));
	ds = json_object_new_object();
	add(ds, "cached_tiles", jint(tiles));
	add(ds, "cached_bytes", jint(bytes));
	add(o, "dataset", ds);
	return response_json_object(res, 200, o);
}

/* How far it reached, honestly: every host (through Redis), this host's
 * pool (Redis did not answer: the clear is pending and goes out when it
 * does), or only this process (no shared generations). */
static enum ap_err clear_answer(struct clear_call *q, bool reached)
{
	struct json_object *o = json_object_new_object();
	struct app *a = q->a;

	if (!o)
		return AP_ERR_NOMEM;
	add(o, "dataset_id", jint(q->id));
	add(o, "cleared", jbool(1));
	if (a->l2 && reached)
		add(o, "scope", jstr("global"));
	else
		add(o, "scope", jstr(gen_shared(a->gens) ? "pool" : "process"));
	if (a->l2 && !reached)
		add(o, "pending", jstr("Redis did not answer: other hosts learn of this clear when "
				       "it does; until then this host does not use Redis for the "
				       "dataset"));
	add(o, "tiles_dropped_here", jint(q->dropped));
	add(o, "generation", jint(gen_get(a->gens, q->id)));
	return response_json_object(q->res, 200, o);
}

static void on_l2_clear(struct l2_clear_wait *w, bool reached, void *ud)
{
	struct clear_call *q = ud;

	(void)w;
	q->waiting = false;
	q->done(q, clear_answer(q, reached));
}

void control_clear_start(struct clear_call *q, struct app *a, const struct dataset *d,
			 struct response *res)
{
	q->a = a;
	q->res = res;
	q->id = d->id;
	/* bump first: from here on no process of the host accepts or serves old
	 * entries, and the clear is pending for the shared tier */
	q->dropped = cache_clear_dataset(a->cache, d->id);
	prefetch_drop_dataset(a->prefetch, d->id);
	catalog_drop(a->catalog, d->id);
	if (!a->l2) {
		q->done(q, clear_answer(q, false));
		return;
	}
	q->w.done = on_l2_clear;
	q->w.ud = q;
	q->waiting = true;
	l2_clear(a->l2, d->id, &q->w);
}

void control_clear_cancel(struct clear_call *q)
{
	if (q->waiting)
		l2_clear_cancel(&q->w);
	q->waiting = false;
}

/* Formats of the dataset, as far as this process knows (the tile index
 * says; without one, null: every format is tried in fallback order). */
static struct json_object *info_formats(const struct tileindex *idx)
{
	unsigned fmts = tileindex_formats(idx);
	struct json_object *a;

	if (!idx)
		return NULL;
	a = json_object_new_array();
	for (int f = 0; a && f < FMT__COUNT; f++)
		if (fmts & (1u << f))
			json_object_array_add(a, json_object_new_string(tk_fmt_ext((enum tile_fmt)f)));
	return a;
}

/* webp: the template names .webp (the client takes it, the index has it). */
static struct json_object *info_object(const struct dataset *d, const struct tileindex *idx,
				       const char *version, bool webp)
{
	struct json_object *o = json_object_new_object();
	char tmpl[128];

	snprintf(tmpl, sizeof(tmpl), API_PREFIX "/%u/v/%s/{z}/{x}/{y}.%s", d->id, version,
		 webp ? "webp" : "jpg");
	add(o, "dataset_id", jint(d->id));
	add(o, "width", jint(d->width));
	add(o, "height", jint(d->height));
	add(o, "tile_size", jint(d->tile_size));
	add(o, "min_zoom", jint(d->min_zoom));
	add(o, "max_zoom", jint(d->max_zoom));
	add(o, "formats", info_formats(idx));
	add(o, "public", jbool(d->is_demo));
	add(o, "version", jstr(version));
	add(o, "tile_url_template", jstr(tmpl));
	return o;
}

enum ap_err control_info(struct app *a, const struct request *req, const struct dataset *d,
			 const char *version, struct response *res)
{
	const struct tileindex *idx = catalog_index(a->catalog, d);
	/* the answer depends on Accept only for datasets with WebP variants */
	bool varies = tileindex_formats(idx) & (1u << FMT_WEBP);
	struct json_object *o = info_object(d, idx, version, varies && request_accepts_webp(req));
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							     JSON_C_TO_STRING_NOSLASHESCAPE);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char etag[2 * 16 + 3];
	struct buf b;
	enum ap_err e;

	etag[0] = '"';
	EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL);
	hex_encode(md, 16, etag + 1);
	memcpy(etag + 33, "\"", 2);
	buf_init(&b, RESP_JSON_MAX);
	e = buf_adds(&b, text);
	json_object_put(o);
	if (e) {
		buf_free(&b);
		return e;
	}
	response_json(res, 200, &b);
	response_header(res, "ETag", "%s", etag);
	edge_cache_control(&a->cfg, d, req, varies ? EDGE_INFO_VARIES : EDGE_INFO, res);
	if (varies)
		response_header(res, "Vary", "Accept");
	if (req->if_none_match && edge_etag_matches(req->if_none_match, etag)) {
		res->status = 304;
		res->no_body = true;
	}
	return AP_OK;
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

/* ext=jpg|jpeg|png|webp: the format the viewer will ask for (default jpg). */
static enum ap_err param_fmt(struct request *req, enum tile_fmt *out)
{
	char v[8];
	enum ap_err e = query_get(req->query, "ext", v, sizeof(v));

	*out = FMT_JPG;
	if (e == AP_ERR_NOT_FOUND)
		return AP_OK;
	if (e || tk_parse_ext(v, strlen(v), out))
		return request_fail(req, AP_ERR_BAD_REQUEST, "query parameter ext must be jpg, jpeg, "
				    "png or webp");
	return AP_OK;
}

enum ap_err control_prefetch(struct app *a, struct request *req, const struct dataset *d,
			     struct response *res)
{
	uint32_t z, x0, x1, y0, y1;
	uint64_t cols, rows;
	struct json_object *o;
	enum tile_fmt fmt;
	size_t n;
	enum ap_err e;

	if ((e = param_u32(req, "z", TILE_Z_MAX, &z)) || (e = param_u32(req, "x0", TILE_COORD_MAX, &x0)) ||
	    (e = param_u32(req, "x1", TILE_COORD_MAX, &x1)) ||
	    (e = param_u32(req, "y0", TILE_COORD_MAX, &y0)) ||
	    (e = param_u32(req, "y1", TILE_COORD_MAX, &y1)) || (e = param_fmt(req, &fmt)))
		return e;
	if (x1 < x0 || y1 < y0)
		return request_fail(req, AP_ERR_BAD_REQUEST, "need x0 <= x1 and y0 <= y1");
	dataset_grid(d, z, &cols, &rows);
	if (!cols)
		return request_fail(req, AP_ERR_NOT_FOUND, "level %u is outside dataset %u (zoom %u..%u)",
				    z, d->id, (unsigned)d->min_zoom, (unsigned)d->max_zoom);
	if (x0 >= cols || y0 >= rows)
		return request_fail(req, AP_ERR_NOT_FOUND, "viewport outside the grid of level %u", z);
	n = prefetch_viewport(a->prefetch, d, catalog_index(a->catalog, d), fmt, z, x0, x1, y0, y1);
	o = json_object_new_object();
	if (!o)
		return AP_ERR_NOMEM;
	add(o, "queued", jint(n));
	add(o, "queue", jint(prefetch_queued(a->prefetch)));
	return response_json_object(res, 202, o);
}
