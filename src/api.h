/*
 * api.h - the HTTP API of SPEC section 3: routing, access, and the
 * single-tile endpoint (batch.h holds the batch, control.h health, stats,
 * clear and prefetch). Every error leaves through response_error(), the
 * one place statuses and JSON details are made.
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

#endif
