/*
 * api.h - the HTTP API of SPEC section 3: routing, access, and the
 * single-tile endpoint (batch.h holds the batch, control.h health, stats,
 * clear and prefetch). Every error leaves through response_error(), the
 * one place statuses and JSON details are made.
 *
 * A struct call is one request being answered. api_start() answers at once
 * what memory can answer (a cached tile, health, an error) and otherwise
 * parks the call on what it waits for (metadata, a tile walk, a batch)
 * while the process serves other requests; call->done runs exactly once
 * when the response is ready, possibly before api_start() returns, unless
 * api_cancel() comes first (the client went away: what is in flight goes
 * on and still fills the caches).
 */
#ifndef AP_API_H
#define AP_API_H

#include "app.h"
#include "catalog.h"
#include "control.h"
#include "dataset.h"
#include "request.h"
#include "response.h"
#include "route.h"
#include "store.h"
#include "version.h"

struct batch;

struct call {
	/* in */
	struct app *a;
	struct request *req;
	struct response *res;	/* response_init()ed by the caller */
	void (*done)(struct call *c);
	void *ud;
	/* out: rt names the endpoint (route_match found it; metrics, access log) */
	bool routed;
	/* private */
	struct route rt;
	struct dataset ds;
	struct catalog_wait cw;
	struct lookup lk;
	struct batch *batch;
	struct clear_call clear;
	bool clearing;		/* parked on clear */
	struct version_wait vw;
	bool versioning;	/* parked on vw */
	char why[CATALOG_REASON_MAX + 32];
	bool waiting;		/* parked on cw, lk, batch, clear or vw */
};

/* For the front's metrics and access log, once done ran: the endpoint
 * (an enum route_kind, -1 if no route matched) and, for a single tile, the
 * source its lookup named (an enum tile_source; -1 for other endpoints). */
static inline int api_endpoint(const struct call *c)
{
	return c->routed ? (int)c->rt.kind : -1;
}
static inline int api_tile_source(const struct call *c)
{
	return c->routed && c->rt.kind == R_TILE ? (int)c->lk.src : -1;
}

void api_start(struct call *c);
void api_cancel(struct call *c);
/* One request, answered before it returns (drives the event loop while
 * it waits): --request mode, tests, the fuzzer. Never fails: errors become
 * error responses. */
void api_handle(struct app *a, struct request *req, struct response *res);
/* Adds the CORS headers (used by every endpoint). */
void api_cors(const struct app *a, struct response *res);

#endif
