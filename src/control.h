/*
 * control.h - the small JSON endpoints of SPEC 3.3-3.6: health, cache
 * statistics, cache clear and prefetch. Access checks happen before these
 * are called (api.c); every answer is no-store.
 */
#ifndef AP_CONTROL_H
#define AP_CONTROL_H

#include "app.h"
#include "dataset.h"
#include "l2.h"
#include "request.h"
#include "response.h"

enum ap_err control_health(struct app *a, struct response *res) AP_WARN_UNUSED;
enum ap_err control_stats(struct app *a, const struct dataset *d, struct response *res) AP_WARN_UNUSED;

/* A cache-clear. Memory of the whole host is cleared at once; with the
 * shared tier the answer waits (at most REDIS_TIMEOUT_MS) for Redis to say
 * the clear reached every host. done runs once, possibly before
 * control_clear_start() returns, unless control_clear_cancel() comes first
 * (the clear itself goes on). */
struct clear_call {
	void (*done)(struct clear_call *q, enum ap_err e);
	void *ud;
	/* private */
	struct app *a;
	struct response *res;
	uint32_t id;
	size_t dropped;
	struct l2_clear_wait w;
	bool waiting;
};
void control_clear_start(struct clear_call *q, struct app *a, const struct dataset *d,
			 struct response *res);
void control_clear_cancel(struct clear_call *q);
/* GET /api/tiles/{id}/info: the dataset's geometry and its tile URL
 * template at the current version; short cache with ETag (edge.h). */
enum ap_err control_info(struct app *a, const struct request *req, const struct dataset *d,
			 const char *version, struct response *res) AP_WARN_UNUSED;
/* POST /api/tiles/{id}/prefetch?z=&x0=&x1=&y0=&y1=[&ext=] */
enum ap_err control_prefetch(struct app *a, struct request *req, const struct dataset *d,
			     struct response *res) AP_WARN_UNUSED;

#endif
