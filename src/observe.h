/*
 * observe.h - what the pool shows of itself: every request counted into
 * the pool's metrics (metrics.h) and written to the access log
 * (accesslog.h) under its request id; the counters the modules keep
 * themselves mirrored into the metrics; GET /api/tiles/metrics.
 *
 * The front calls obs_begin() when a request's parameters are complete and
 * obs_end() once its response is ready, before its first byte goes out, so
 * a client that has its answer finds it counted. Per request that costs a
 * few relaxed atomic adds, one clock read, and with ACCESS_LOG a line
 * queued: the queue is written in one write() when it holds 4 KB, or when
 * the front's loop (obs_flush, every turn and at least once a second) finds
 * its oldest line half a second old, and at exit. So under load one
 * write() carries ~40 lines; a line reaches the file within about a second
 * and a half; a process killed with SIGKILL loses what it had queued.
 * A request the web server aborts before its answer is neither counted nor
 * logged (nothing was answered).
 *
 * Counters the modules keep themselves (cache evictions, breakers, Redis
 * commands, prefetch) and the gauges (cache size, queue, breaker state) are
 * copied into this process's slot by obs_sync(): at most once a second
 * from the loop (obs_tick), before this process renders the metrics, and
 * when the front stops. A process killed with SIGKILL therefore loses at most the last
 * second of those, never a request count.
 *
 * Access to the metrics: REMOTE_ADDR in METRICS_ALLOW, or Authorization:
 * Bearer METRICS_TOKEN (compared in constant time); else 403. Rendering
 * reads shared memory only: no storage I/O, no lock.
 */
#ifndef AP_OBSERVE_H
#define AP_OBSERVE_H

#include <stdbool.h>
#include "accesslog.h"
#include "error.h"

struct app;
struct request;
struct response;

/* One request being observed. */
struct obs_req {
	long long start_us;			/* clock_us() at arrival */
	char id[REQUEST_ID_MAX + 1];		/* X-Request-Id, taken or made */
};

/* x_request_id: the HTTP_X_REQUEST_ID parameter (NULL if absent). */
void obs_begin(struct obs_req *o, const char *x_request_id);
/* The response to req is ready: X-Request-Id added, counted, logged.
 * endpoint: an enum route_kind, -1 if no route matched; source: the enum
 * tile_source of a single tile's lookup, -1 if none (counted only for a
 * 200 or 304). */
void obs_end(struct app *a, const struct obs_req *o, const struct request *req, int endpoint,
	     int source, struct response *res);
/* Writes the queued access log lines if the oldest is due (see above). */
void obs_flush(struct app *a);
/* Mirrors the modules' counters and this process's gauges into its slot. */
void obs_sync(struct app *a);
/* obs_sync() if the last one is a second old (cheap otherwise). */
void obs_tick(struct app *a);
/* GET /api/tiles/metrics: 200 with the pool's metrics, or AP_ERR_FORBIDDEN. */
enum ap_err obs_metrics(struct app *a, struct request *req, struct response *res) AP_WARN_UNUSED;

#endif
