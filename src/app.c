/*
 * app.c - building and tearing down the per-process world.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "app.h"
#include "accesslog.h"
#include "cache.h"
#include "catalog.h"
#include "clock.h"
#include "engine.h"
#include "ev.h"
#include "generation.h"
#include "l2.h"
#include "log.h"
#include "metrics.h"
#include "prefetch.h"
#include "shm.h"
#include "store.h"
#include "version.h"

static void meta_start(void *ud, struct objget *o)
{
	store_object_start(((struct app *)ud)->store, o);
}

static void meta_cancel(void *ud, struct objget *o)
{
	(void)ud;
	store_object_cancel(o);
}

/* Processes of one pool share storage settings, so a name derived from them
 * is the same for all of them and different for other pools of the user. */
static void shared_name(const struct config *c, const char *what, char *out, size_t cap)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	char in[4 * CONFIG_VALUE_MAX + 8];

	snprintf(in, sizeof(in), "%s|%s|%s|%s", c->local_dir ? c->local_dir : "",
		 c->endpoint ? c->endpoint : "", c->bucket ? c->bucket : "",
		 c->public_url ? c->public_url : "");
	EVP_Digest(in, strlen(in), md, &mdlen, EVP_sha256(), NULL);
	snprintf(out, cap, "%s-%02x%02x%02x%02x%02x%02x", what, md[0], md[1], md[2], md[3], md[4],
		 md[5]);
}

/* TILE_RUNTIME_DIR, else "state" in systemd's RuntimeDirectory (which also
 * holds the socket, so it is traversable by the web server), else the
 * user's runtime directory, else a directory of the uid's own under /tmp. */
static void runtime_dir(const struct config *c, char *out, size_t cap)
{
	const char *v = getenv("RUNTIME_DIRECTORY");

	if (c->runtime_dir)
		snprintf(out, cap, "%s", c->runtime_dir);
	else if (v && v[0] == '/')
		snprintf(out, cap, "%.*s/state", (int)strcspn(v, ":"), v);	/* the first of a list */
	else if ((v = getenv("XDG_RUNTIME_DIR")) && v[0] == '/')
		snprintf(out, cap, "%s/astropixel-tiles", v);
	else
		snprintf(out, cap, "/tmp/astropixel-tiles-%u", (unsigned)geteuid());
}

/* The shared generation map, or a private one when its lock stays busy. */
static enum ap_err open_generations(struct app *a, char *why, size_t whylen)
{
	char dir[SHM_PATH_MAX], name[SHM_NAME_MAX], reason[SHM_PATH_MAX + 160];
	enum ap_err e;

	runtime_dir(&a->cfg, dir, sizeof(dir));
	e = shm_dir_prepare(dir, reason, sizeof(reason));
	if (!e) {
		shared_name(&a->cfg, GEN_FILE_PREFIX, name, sizeof(name));
		e = gen_open(dir, name, &a->gens, reason, sizeof(reason));
	}
	if (e == AP_ERR_UNAVAILABLE) {
		log_warn("%s: cache-clear will reach only the process that answers it", reason);
		a->gens = gen_open_private();
		return a->gens ? AP_OK : AP_ERR_NOMEM;
	}
	if (e)
		snprintf(why, whylen, "TILE_RUNTIME_DIR: %s", reason);
	return e;
}

/* The pool's metrics file beside the generations (its name carries the
 * layout version); this process's counts alone if it cannot be shared:
 * metrics never stop tiles. */
static void open_metrics(struct app *a)
{
	char dir[SHM_PATH_MAX], name[SHM_NAME_MAX], prefix[32], reason[SHM_PATH_MAX + 160];
	enum ap_err e;

	runtime_dir(&a->cfg, dir, sizeof(dir));
	snprintf(prefix, sizeof(prefix), "metrics-v%u", METRICS_LAYOUT_VERSION);
	shared_name(&a->cfg, prefix, name, sizeof(name));
	e = shm_dir_prepare(dir, reason, sizeof(reason));
	if (!e)
		e = metrics_open(dir, name, &a->metrics, reason, sizeof(reason));
	if (e) {
		log_error("metrics: %s: /api/tiles/metrics shows only the process that answers",
			  reason);
		a->metrics = metrics_open_private();
	}
}

/* METRICS_ALLOW and ACCESS_LOG. */
static enum ap_err open_observability(struct app *a, char *why, size_t whylen)
{
	enum ap_err e = cidr_parse(a->cfg.metrics_allow ? a->cfg.metrics_allow : "",
				   &a->metrics_allow, why, whylen);

	if (e)
		return e;
	if (a->cfg.access_log && (e = accesslog_open(a->cfg.access_log, &a->alog, why, whylen)))
		return e;
	if (a->cfg.metrics)
		open_metrics(a);
	return AP_OK;
}

void app_engine_opts(const struct config *c, struct engine_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->connect_timeout_ms = c->connect_timeout_ms;
	o->max_host_conns = c->max_host_conns;
	o->max_streams = c->max_streams;
	o->dns_ttl_s = c->dns_ttl_s;
	o->conn_max_age_s = c->conn_max_age_s;
	o->tls_verify = c->tls_verify;
	o->ca_bundle = c->ca_bundle;
}

enum ap_err app_init(struct app *a, char *why, size_t whylen)
{
	enum ap_err e;

	memset(a, 0, sizeof(*a));
	a->started = time(NULL);
	e = config_load(&a->cfg, why, whylen);
	if (e)
		return e;
	log_set_level((enum log_level)log_parse_level(a->cfg.log_level));

	if (ev_new(&a->loop))
		goto nomem;
	e = open_generations(a, why, whylen);
	if (e)
		goto fail;
	e = open_observability(a, why, whylen);
	if (e)
		goto fail;
	e = cache_new((size_t)a->cfg.cache_max_tiles, (size_t)a->cfg.cache_max_mb * 1024 * 1024,
		      a->gens, &a->cache);
	if (e) {
		snprintf(why, whylen, "TILE_CACHE_MAX_TILES: cannot build a cache of %ld tiles",
			 a->cfg.cache_max_tiles);
		goto fail;
	}
	cache_negative_limits(a->cache, (size_t)a->cfg.negative_max, a->cfg.negative_ttl_s * 1000);
	if (a->cfg.use_s3) {
		struct engine_opts o;

		app_engine_opts(&a->cfg, &o);
		e = engine_new_on(&o, a->loop, &a->engine);
		if (e) {
			snprintf(why, whylen, "cannot initialise libcurl");
			goto fail;
		}
		if (!a->cfg.tls_verify)
			log_warn("S3_VERIFY_TLS=false: the bucket's certificate is NOT verified");
		if (a->cfg.public_url)
			log_warn("R2_PUBLIC_URL is set: every object of that bucket, private datasets' "
				 "tiles included, is readable by anyone who knows its URL; access control "
				 "here does not protect them there");
	}
	e = l2_new(&a->cfg, a->loop, a->gens, &a->l2, why, whylen);
	if (e)
		goto fail;
	e = store_new(&a->cfg, a->cache, a->engine, a->l2, &a->store);
	if (e) {
		snprintf(why, whylen, "cannot set up storage");
		goto fail;
	}
	store_set_metrics(a->store, a->metrics);
	e = versions_new(a->gens, a->l2, &a->versions);
	if (e)
		goto nomem;
	a->catalog = catalog_new(a->cfg.metadata_ttl_s, a->gens, meta_start, meta_cancel, a);
	if (a->catalog)
		catalog_set_index(a->catalog, (size_t)a->cfg.index_max_bytes, a->loop);
	if (!a->catalog)
		goto nomem;
	e = prefetch_new(&a->cfg, a->store, a->cache, &a->prefetch);
	if (e)
		goto nomem;
	return AP_OK;
nomem:
	e = AP_ERR_NOMEM;
	snprintf(why, whylen, "out of memory");
fail:
	app_free(a);
	return e;
}

void app_settle(struct app *a)
{
	long long until = clock_ms() + a->cfg.redis_timeout_ms;

	while (l2_writing(a->l2) && clock_ms() < until)
		if (ev_run_once(a->loop, 10) < 0)
			break;
}

void app_free(struct app *a)
{
	metrics_close(a->metrics);
	if (a->alog)
		accesslog_close(a->alog);
	prefetch_free(a->prefetch);
	catalog_free(a->catalog);
	versions_free(a->versions);
	store_free(a->store);
	l2_free(a->l2);
	if (a->engine)
		engine_free(a->engine);
	if (a->cache)
		cache_free(a->cache);
	if (a->gens)
		gen_close(a->gens);
	ev_free(a->loop);
	config_free(&a->cfg);
	memset(a, 0, sizeof(*a));
}
