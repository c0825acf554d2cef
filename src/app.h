/*
 * app.h - the world of one process: configuration, cache, engine, storage,
 * catalogue and prefetch queue, created once at start and used by every
 * request this process answers (and the shared tier on Redis, l2.h).
 */
#ifndef AP_APP_H
#define AP_APP_H

#include <time.h>
#include "cidr.h"
#include "config.h"
#include "error.h"

struct app {
	struct config cfg;
	struct gen_map *gens;
	struct cache *cache;
	struct engine *engine;
	struct l2 *l2;		/* NULL without REDIS_URL */
	struct store *store;
	struct catalog *catalog;
	struct versions *versions;	/* datasets' current versions (version.h) */
	struct prefetch *prefetch;
	struct ev_loop *loop;	/* the one event loop of the process (ev.h) */
	/* observability (observe.h): pool-wide metrics, who may read them, and
	 * the access log (NULL without ACCESS_LOG) */
	struct metrics *metrics;
	struct cidr_list metrics_allow;
	struct accesslog *alog;
	time_t started;
	/* the front's counters (server.c writes, health reads) */
	unsigned long long conns_accepted, requests_served;
	unsigned conns_open;
};

struct engine_opts;
/* The engine settings of a configuration (server, astropixel-sync, tools). */
void app_engine_opts(const struct config *c, struct engine_opts *o);
/* Loads the configuration and builds everything; why names the problem. */
enum ap_err app_init(struct app *a, char *why, size_t whylen) AP_WARN_UNUSED;
/* Before exiting: tiles fetched for the last answers go to the shared tier
 * after them; lets them reach it (REDIS_TIMEOUT_MS at most). */
void app_settle(struct app *a);
void app_free(struct app *a);

#endif
