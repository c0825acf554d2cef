/*
 * iiif.h - the IIIF Image API 3.0 at compliance level 0 over the stored
 * pyramid: the grammar of image requests, their mapping to stored tiles,
 * and the image information document (info.json).
 *
 * URLs (docs/api.md "IIIF"): the base URI of a dataset is
 *   {origin}/iiif/3/{id}/v/{version}
 * (version.h: it names one content, so everything under it is immutable);
 * /iiif/3/{id} without a version is accepted too and answered like the
 * unversioned tile URLs. Under a base URI:
 *   info.json                               the information document
 *   {region}/{size}/0/default.{jpg|png|webp} one stored tile
 *
 * Level 0 means no image processing: a request is answered only if it is
 * exactly one tile of the grid the info document announces (tiles of
 * tile_size px at scale factors 2^s, s = max_zoom - z), as a client
 * computes them: region "full" or "x,y,w,h" aligned on the grid of the
 * scale factor (the right and bottom tiles clipped at the image's edge),
 * size "max" (scale factor 1), "w,", ",h" or "w,h" equal to the region
 * divided by the scale factor, rounded up (or down, or to nearest: clients
 * round differently and the difference is under one pixel). Anything else
 * - another region or size, "square", "pct:", "!w,h", "^" (upscaling),
 * rotation other than 0, quality other than default, another format - is
 * refused with 400 and a detail saying why; nothing is ever resized.
 *
 * Every number and segment is checked against the named limits below
 * before any arithmetic, and the arithmetic fits 64 bits for every input
 * (IMAGE_SIDE_MAX 2^40, TILE_SIZE_MAX 4096, scale factors <= 2^TILE_Z_MAX).
 */
#ifndef AP_IIIF_H
#define AP_IIIF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "tilekey.h"

#define IIIF_PREFIX "/iiif/3"
#define IIIF_SEGMENT_MAX 64		/* a region, size, rotation or quality segment */
#define IIIF_NUMBER_DIGITS 13		/* 2^40 (IMAGE_SIDE_MAX) has 13 digits */
#define IIIF_NUMBER_MAX (1ull << 40)	/* any number of a request (IMAGE_SIDE_MAX) */
#define IIIF_SIZES_MAX 8		/* full-image sizes listed in info.json */
#define IIIF_WHY_MAX 160
#define IIIF_HOST_MAX 255		/* a Host header used in ids */
#define IIIF_INFO_MAX 4096		/* the information document */
#define IIIF_CONTEXT "http://iiif.io/api/image/3/context.json"
#define IIIF_PROTOCOL "http://iiif.io/api/image"
#define IIIF_LD_TYPE "application/ld+json;profile=\"" IIIF_CONTEXT "\""

struct dataset;

enum iiif_region_kind { IIIF_REGION_FULL, IIIF_REGION_XYWH };
enum iiif_size_kind { IIIF_SIZE_MAX, IIIF_SIZE_W, IIIF_SIZE_H, IIIF_SIZE_WH };

/* An image request, syntactically valid and within level 0's forms. */
struct iiif_image {
	enum iiif_region_kind region;
	uint64_t x, y, w, h;		/* IIIF_REGION_XYWH */
	enum iiif_size_kind size;
	uint64_t sw, sh;		/* as the kind says */
	enum tile_fmt fmt;
};

/* Parses the four segments of an image request (each len bytes, not NUL
 * terminated). AP_ERR_BAD_REQUEST with why set on anything level 0 does
 * not answer. */
enum ap_err iiif_parse(const char *region, size_t rlen, const char *size, size_t slen,
		       const char *rotation, size_t olen, const char *quality, size_t qlen,
		       struct iiif_image *out, char *why, size_t whylen) AP_WARN_UNUSED;
/* The stored tile of an image request of dataset d into k (dataset and
 * format set too): AP_ERR_BAD_REQUEST with why set if it is not exactly one
 * tile of the grid. */
enum ap_err iiif_map(const struct dataset *d, const struct iiif_image *q, struct tilekey *k,
		     char *why, size_t whylen) AP_WARN_UNUSED;
/* The largest scale factor's exponent announced: the level where the whole
 * image is one tile, or the dataset's lowest level if that comes first. */
unsigned iiif_top_scale(const struct dataset *d);
/* The information document (JSON text, NUL-terminated, into out of cap
 * bytes); base is the base URI (no trailing slash); fmts the formats the
 * dataset's tile index lists (bit f = enum tile_fmt f), 0 without an index
 * (then the metadata's format). AP_ERR_NOMEM if it does not fit. */
enum ap_err iiif_info_json(const struct dataset *d, unsigned fmts, const char *base, char *out,
			   size_t cap) AP_WARN_UNUSED;
/* Does an Accept header ask for the JSON-LD type of info.json? */
bool iiif_wants_ld(const char *accept);

struct config;
struct request;
struct response;
/* The origin ids start with: IIIF_BASE_URL, else the request's scheme and
 * Host (checked: a host name or [IPv6] literal, an optional port; without
 * one, SERVER_PORT unless it is the scheme's default: nginx's
 * fastcgi_params pass $host, which has no port).
 * AP_ERR_BAD_REQUEST if neither is usable. */
enum ap_err iiif_origin(const struct config *c, const struct request *r, char *out, size_t cap)
	AP_WARN_UNUSED;
/* Answers info.json of d at its current version (a short-lived document
 * with an ETag; JSON-LD when the Accept header asks for it); idx is the
 * dataset's tile index or NULL. */
struct tileindex;
enum ap_err iiif_info_answer(const struct config *c, struct request *r, const struct dataset *d,
			     const struct tileindex *idx, const char *version, struct response *res)
	AP_WARN_UNUSED;

#endif
