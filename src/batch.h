/*
 * batch.h - GET /api/tiles/{id}/batch (SPEC section 3.2): a whole viewport
 * in one request. Cache hits are answered from memory; every miss is
 * fetched in parallel on the engine under one deadline for the batch.
 */
#ifndef AP_BATCH_H
#define AP_BATCH_H

#include "app.h"
#include "dataset.h"
#include "request.h"
#include "response.h"

/* base64 of 100 tiles of TILE_MAX_BYTES would be 533 MiB: the response is
 * bounded instead, and tiles past the bound come back null and missing. */
#define BATCH_RESPONSE_MAX (64u * 1024 * 1024)

enum ap_err batch_handle(struct app *a, struct request *req, const struct dataset *d,
			 struct response *res) AP_WARN_UNUSED;

#endif
