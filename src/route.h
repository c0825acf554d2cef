/*
 * route.h - maps a request path under /api/tiles to an endpoint.
 *
 * The path is matched against an allow-list grammar on the raw (encoded)
 * path: only [A-Za-z0-9._-] and '/' may appear, so '%', NUL, "..", encoded
 * slashes and empty segments are refused (400) before anything is looked up.
 *
 * A tile has two URLs: {id}/{z}/{x}/{y}.{ext} and the versioned
 * {id}/v/{version}/{z}/{x}/{y}.{ext} (version.h), which may be cached as
 * immutable because it names one content for ever.
 *
 * Outside /api/tiles, paths under IIIF_PREFIX (iiif.h) are the IIIF Image
 * API; there ',', '!', '^' and ':' may appear too, so that the IIIF parser
 * can say what it does not serve.
 */
#ifndef AP_ROUTE_H
#define AP_ROUTE_H

#include <stdint.h>
#include "iiif.h"
#include "request.h"
#include "tilekey.h"

#define API_PREFIX "/api/tiles"

#define ROUTE_VERSION_MAX 16	/* hex digits of a version in a URL (version.h) */

enum route_kind {
	R_HEALTH, R_TILE, R_BATCH, R_STATS, R_CLEAR, R_PREFETCH, R_INFO,
	R_IIIF_INFO,	/* /iiif/3/{id}[/v/{version}]/info.json */
	R_IIIF_BASE,	/* /iiif/3/{id}[/v/{version}]: 303 to its info.json */
	R_DZI,		/* /api/tiles/{id}.dzi (dzi.h) */
	R_METRICS,	/* /api/tiles/metrics (observe.h) */
};

/* How an R_TILE was named: {z}/{x}/{y}, an IIIF image request (mapped to
 * {z}/{x}/{y} once the dataset is known, iiif.h) or a DZI {id}_files URL. */
enum route_via { VIA_API, VIA_IIIF, VIA_DZI };

struct route {
	enum route_kind kind;
	uint32_t dataset;
	struct tilekey tile;	/* R_TILE: fmt is the requested format */
	/* R_TILE under /v/{version}/: the version asked, and where it is in
	 * the request's path (for a redirect to another version) */
	bool versioned;
	char version[ROUTE_VERSION_MAX + 1];
	size_t version_at;
	enum route_via via;
	struct iiif_image iiif;	/* VIA_IIIF */
};

/* 400 bad syntax, 404 no such endpoint, 405 (r->allow set) wrong method.
 * OPTIONS is accepted on every endpoint (CORS preflight). */
enum ap_err route_match(struct request *r, struct route *out) AP_WARN_UNUSED;
/* The Allow header value of an endpoint. */
const char *route_allow(enum route_kind k);

#endif
