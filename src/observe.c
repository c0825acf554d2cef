/*
 * observe.c - counting requests, the access log, mirroring the modules'
 * counters, and the metrics endpoint; see observe.h.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "observe.h"
#include "app.h"
#include "cache.h"
#include "cidr.h"
#include "clock.h"
#include "l2.h"
#include "log.h"
#include "metrics.h"
#include "prefetch.h"
#include "response.h"
#include "route.h"
#include "store.h"

#define OBS_SYNC_INTERVAL_MS 1000
#define OBS_LOG_INTERVAL_MS 10000	/* access log failures logged at most this often */
/* Queued access log lines are written once the oldest is this old (or the
 * queue is full, ACCESSLOG_LINE_MAX bytes): like nginx's access_log
 * buffer= flush=, one write() per ~4 KB under load instead of one a line. */
#define OBS_LOG_FLUSH_MS 500

static long long queued_since_ms;	/* the oldest line not flushed yet; 0: none */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

_Static_assert((int)SRC_MEMORY == (int)MET_SRC_MEMORY && (int)SRC_REDIS == (int)MET_SRC_REDIS &&
	       (int)SRC_R2 == (int)MET_SRC_R2 && (int)SRC_LOCAL == (int)MET_SRC_LOCAL,
	       "tile sources and their metric labels are in the same order");

void obs_begin(struct obs_req *o, const char *x_request_id)
{
	o->start_us = clock_us();
	request_id_make(x_request_id, o->id);
}

/* A full disk must not flood the error log as well. */
static void log_lost_lines(void)
{
	static long long last_ms;
	long long now = clock_ms();

	if (last_ms && now - last_ms < OBS_LOG_INTERVAL_MS)
		return;
	last_ms = now;
	log_error("ACCESS_LOG: lines could not be written (and are lost): %s", strerror(errno));
}

static enum met_endpoint endpoint_of(int k)
{
	switch (k) {
	case R_TILE: return MET_EP_TILE;
	case R_BATCH: return MET_EP_BATCH;
	case R_INFO: case R_IIIF_INFO: case R_IIIF_BASE: case R_DZI: return MET_EP_INFO;	/* descriptors */
	case R_STATS: return MET_EP_STATS;
	case R_CLEAR: return MET_EP_CLEAR;
	case R_PREFETCH: return MET_EP_PREFETCH;
	case R_HEALTH: return MET_EP_HEALTH;
	case R_METRICS: return MET_EP_METRICS;
	default: return MET_EP_OTHER;
	}
}

void obs_end(struct app *a, const struct obs_req *o, const struct request *r, int endpoint,
	     int source, struct response *res)
{
	enum met_endpoint ep = endpoint_of(endpoint);
	long long us = clock_us() - o->start_us;
	const void *body;
	/* a single tile answered (or confirmed by a 304) came from its source */
	bool tile = source >= 0 && (res->status == 200 || res->status == 304);

	response_header(res, "X-Request-Id", "%s", o->id);
	metrics_count(a->metrics, MET_REQUESTS, ep, metrics_code(res->status));
	metrics_observe(a->metrics, MET_REQUEST_SECONDS, 0, (uint64_t)(us > 0 ? us : 0));
	if (tile)
		metrics_count(a->metrics, MET_TILES_SERVED, (unsigned)source, 0);
	if (a->alog) {
		struct accesslog_entry e = {
			.method = r->method_name[0] ? r->method_name : NULL,
			.path = r->path[0] ? r->path : NULL,
			.query = r->query,
			.status = res->status,
			.bytes = response_body(res, &body),
			.source = tile ? tile_source_name((enum tile_source)source) : NULL,
			.duration_us = us,
			.request_id = o->id,
		};

		if (accesslog_queue(a->alog, &e))
			log_lost_lines();
		if (!queued_since_ms)
			queued_since_ms = clock_ms();
	}
}

void obs_flush(struct app *a)
{
	if (!a->alog || !queued_since_ms || clock_ms() - queued_since_ms < OBS_LOG_FLUSH_MS)
		return;
	queued_since_ms = 0;
	if (accesslog_flush(a->alog))
		log_lost_lines();
}

/* ---- the modules' own counters and the gauges ---------------------------------- */

void obs_sync(struct app *a)
{
	struct metrics *m = a->metrics;
	struct cache_stats cs;
	struct prefetch_stats ps;
	unsigned long long openings;
	bool skipping;

	if (!m)
		return;
	if (a->cache) {
		cache_get_stats(a->cache, &cs);
		metrics_gauge_set(m, MET_CACHE_TILES, 0, cs.count);
		metrics_gauge_set(m, MET_CACHE_BYTES, 0, cs.bytes);
		metrics_gauge_set(m, MET_CACHE_CAPACITY_BYTES, 0, cs.max_bytes);
		metrics_gauge_set(m, MET_CACHE_NEGATIVE, 0, cs.negative);
		metrics_mirror(m, MET_CACHE_EVICTIONS, 0, 0, cs.evictions);
		metrics_mirror(m, MET_PREFETCH_HITS, 0, 0, cs.prefetch_hits);
	}
	prefetch_get_stats(a->prefetch, &ps);
	metrics_mirror(m, MET_PREFETCH_QUEUED, 0, 0, ps.queued);
	metrics_mirror(m, MET_PREFETCH_FETCHED, 0, 0, ps.fetched);
	metrics_mirror(m, MET_PREFETCH_DROPPED, 0, 0, ps.dropped);
	metrics_gauge_set(m, MET_PREFETCH_QUEUE, 0, prefetch_queued(a->prefetch));
	if (a->store) {
		store_breaker_info(a->store, &skipping, &openings);
		metrics_gauge_set(m, MET_BREAKER_OPEN, MET_BRK_BUCKET, skipping);
		metrics_mirror(m, MET_BREAKER_OPENINGS, MET_BRK_BUCKET, 0, openings);
	}
	if (a->l2) {
		struct l2_stats ls;

		l2_get_stats(a->l2, &ls);
		metrics_gauge_set(m, MET_BREAKER_OPEN, MET_BRK_REDIS,
				  strcmp(ls.state, "degraded") == 0 || strcmp(ls.state, "probing") == 0);
		metrics_mirror(m, MET_BREAKER_OPENINGS, MET_BRK_REDIS, 0, ls.openings);
		metrics_mirror(m, MET_REDIS_COMMANDS, MET_REDIS_OK, 0, ls.cmd_ok);
		metrics_mirror(m, MET_REDIS_COMMANDS, MET_REDIS_MISS, 0, ls.misses);
		metrics_mirror(m, MET_REDIS_COMMANDS, MET_REDIS_ERROR, 0, ls.cmd_error);
		metrics_mirror(m, MET_REDIS_COMMANDS, MET_REDIS_TIMEOUT, 0, ls.cmd_timeout);
	}
}

void obs_tick(struct app *a)
{
	static long long last_ms;
	long long now = clock_ms();

	if (now - last_ms < OBS_SYNC_INTERVAL_MS)
		return;
	last_ms = now;
	obs_sync(a);
}

/* ---- GET /api/tiles/metrics ------------------------------------------------------- */

/* "Bearer METRICS_TOKEN"? Digests of equal length compared in constant
 * time: neither the token's bytes nor its length show in the timing. */
static bool token_ok(const struct app *a, const char *authorization)
{
	unsigned char want[EVP_MAX_MD_SIZE], got[EVP_MAX_MD_SIZE];
	unsigned int wl = 0, gl = 0;
	const char *t = a->cfg.metrics_token, *g;

	if (!t || !*t || !authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
		return false;
	g = authorization + 7;
	if (!EVP_Digest(t, strlen(t), want, &wl, EVP_sha256(), NULL) ||
	    !EVP_Digest(g, strlen(g), got, &gl, EVP_sha256(), NULL) || wl != gl)
		return false;
	return CRYPTO_memcmp(want, got, wl) == 0;
}

enum ap_err obs_metrics(struct app *a, struct request *req, struct response *res)
{
	struct buf b;
	enum ap_err e;

	if (!a->metrics)
		return request_fail(req, AP_ERR_NOT_FOUND, "metrics are off (METRICS=false)");
	if (!cidr_match(&a->metrics_allow, req->remote_addr) && !token_ok(a, req->authorization))
		return request_fail(req, AP_ERR_FORBIDDEN, "the metrics are not open to this client "
				    "(METRICS_ALLOW, METRICS_TOKEN)");
	obs_sync(a);	/* this process's gauges as of now */
	buf_init(&b, METRICS_RENDER_MAX);
	e = metrics_render(a->metrics, &b);
	if (e) {
		buf_free(&b);
		return request_fail(req, AP_ERR_INTERNAL, "metrics do not fit their buffer");
	}
	buf_free(&res->owned);
	res->owned = b;
	res->status = 200;
	res->body = res->owned.data;
	res->body_len = res->owned.len;
	response_header(res, "Content-Type", METRICS_CONTENT_TYPE);
	response_header(res, "Cache-Control", "no-store");
	return AP_OK;
}
