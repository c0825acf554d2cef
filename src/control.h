/*
 * control.h - the small JSON endpoints of SPEC 3.3-3.6: health, cache
 * statistics, cache clear and prefetch. Access checks happen before these
 * are called (api.c); every answer is no-store.
 */
#ifndef AP_CONTROL_H
#define AP_CONTROL_H

#include "app.h"
#include "dataset.h"
#include "request.h"
#include "response.h"

enum ap_err control_health(struct app *a, struct response *res) AP_WARN_UNUSED;
enum ap_err control_stats(struct app *a, const struct dataset *d, struct response *res) AP_WARN_UNUSED;
enum ap_err control_clear(struct app *a, const struct dataset *d, struct response *res) AP_WARN_UNUSED;
/* POST /api/tiles/{id}/prefetch?z=&x0=&x1=&y0=&y1=[&ext=] */
enum ap_err control_prefetch(struct app *a, struct request *req, const struct dataset *d,
			     struct response *res) AP_WARN_UNUSED;

#endif
