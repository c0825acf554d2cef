/*
 * api.h - the HTTP API of SPEC section 3: routing, access, and the
 * single-tile, health, cache-stats and cache-clear endpoints (batch.h and
 * prefetch.h hold the other two). Every error leaves through
 * response_error(), the one place statuses and JSON details are made.
 */
#ifndef AP_API_H
#define AP_API_H

#include "app.h"
#include "request.h"
#include "response.h"

/* Answers one request; never fails: errors become error responses. */
void api_handle(struct app *a, struct request *req, struct response *res);
/* Adds the CORS headers (used by every endpoint). */
void api_cors(const struct app *a, struct response *res);
struct json_object;
/* Sends a JSON object (consumed) with Cache-Control: no-store. */
enum ap_err api_send_json(struct response *res, int status, struct json_object *o) AP_WARN_UNUSED;
/* "31.0%" from hits and lookups. */
void api_hit_rate(unsigned long long hits, unsigned long long total, char *out, size_t cap);

#endif
