/*
 * app.c - building and tearing down the per-process world.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "app.h"
#include "cache.h"
#include "catalog.h"
#include "engine.h"
#include "generation.h"
#include "log.h"
#include "prefetch.h"
#include "store.h"

static enum ap_err fetch_meta(void *ud, const char *key, struct buf *out)
{
	struct app *a = ud;

	return store_get_object(a->store, key, META_MAX_BYTES, out);
}

/* Processes of one pool share storage settings, so a path derived from them
 * is the same for all of them and different for unrelated deployments. */
static void default_shm_path(const struct config *c, char *out, size_t cap)
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	char in[3 * CONFIG_VALUE_MAX];

	snprintf(in, sizeof(in), "%s|%s|%s|%s", c->local_dir ? c->local_dir : "",
		 c->endpoint ? c->endpoint : "", c->bucket ? c->bucket : "",
		 c->public_url ? c->public_url : "");
	EVP_Digest(in, strlen(in), md, &mdlen, EVP_sha256(), NULL);
	snprintf(out, cap, "/dev/shm/astropixel-tiles-%u-%02x%02x%02x%02x%02x%02x", (unsigned)getuid(),
		 md[0], md[1], md[2], md[3], md[4], md[5]);
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
	char shm[512];
	enum ap_err e;

	memset(a, 0, sizeof(*a));
	a->started = time(NULL);
	e = config_load(&a->cfg, why, whylen);
	if (e)
		return e;
	log_set_level((enum log_level)log_parse_level(a->cfg.log_level));

	if (a->cfg.shm_path)
		snprintf(shm, sizeof(shm), "%s", a->cfg.shm_path);
	else
		default_shm_path(&a->cfg, shm, sizeof(shm));
	e = gen_open(shm, GEN_MODE_GROUP, &a->gens);
	if (e) {
		/* clears then reach only this process: say so, keep serving */
		log_warn("cannot share cache generations through %s; cache-clear will reach "
			 "only the process that answers it (set TILE_CACHE_SHM)", shm);
		a->gens = gen_open_private();
		if (!a->gens)
			goto nomem;
	}
	if (a->cfg.cache_max_tiles > 0 && a->cfg.cache_max_mb > 0) {
		e = cache_new((size_t)a->cfg.cache_max_tiles,
			      (size_t)a->cfg.cache_max_mb * 1024 * 1024, a->gens, &a->cache);
		if (e) {
			snprintf(why, whylen, "TILE_CACHE_MAX_TILES: cannot build a cache of %ld tiles",
				 a->cfg.cache_max_tiles);
			goto fail;
		}
	}
	if (a->cfg.use_s3) {
		struct engine_opts o;

		app_engine_opts(&a->cfg, &o);
		e = engine_new(&o, &a->engine);
		if (e) {
			snprintf(why, whylen, "cannot initialise libcurl");
			goto fail;
		}
		if (!a->cfg.tls_verify)
			log_warn("S3_VERIFY_TLS=false: the bucket's certificate is NOT verified");
	}
	e = store_new(&a->cfg, a->cache, a->engine, &a->store);
	if (e) {
		snprintf(why, whylen, "cannot set up storage");
		goto fail;
	}
	a->catalog = catalog_new(a->cfg.metadata_ttl_s, a->cache, fetch_meta, a);
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

void app_free(struct app *a)
{
	prefetch_free(a->prefetch);
	catalog_free(a->catalog);
	store_free(a->store);
	if (a->engine)
		engine_free(a->engine);
	if (a->cache)
		cache_free(a->cache);
	if (a->gens)
		gen_close(a->gens);
	config_free(&a->cfg);
	memset(a, 0, sizeof(*a));
}
