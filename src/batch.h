/*
 * batch.h - GET /api/tiles/{id}/batch (SPEC section 3.2): a whole viewport
 * in one request. Cache hits are answered from memory; every miss is
 * fetched in parallel on the engine under one deadline for the batch
 * (BATCH_TIMEOUT_MS, a timer of the event loop), while the process serves
 * other requests.
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
_Static_assert(BATCH_RESPONSE_MAX + 64 * 1024 <= RESP_BODY_MAX, "a batch must fit a response");

struct batch;
/* Parses the request and starts its lookups; done runs once with the
 * response filled (AP_OK) or the error to answer, possibly before this
 * returns. *out is the batch in flight (NULL once done ran), for
 * batch_cancel() when the client goes away first: done then never runs.
 * req, res and d must live until then. */
void batch_start(struct app *a, struct request *req, struct response *res,
		 const struct dataset *d, void (*done)(void *ud, enum ap_err e), void *ud,
		 struct batch **out);
void batch_cancel(struct batch *b);

#endif
