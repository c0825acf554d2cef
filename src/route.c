/*
 * route.c - the endpoint table of SPEC section 3.
 */
#include <stdbool.h>
#include <string.h>
#include "route.h"

#define SEGMENTS_MAX 7

static const struct {
	const char *name;	/* segment after the dataset id */
	enum route_kind kind;
	const char *allow;
	unsigned methods;	/* bit per enum method */
} endpoints[] = {
	{"batch", R_BATCH, "GET, OPTIONS", 1u << M_GET},
	{"cache-stats", R_STATS, "GET, OPTIONS", 1u << M_GET},
	{"cache-clear", R_CLEAR, "POST, OPTIONS", 1u << M_POST},
	{"prefetch", R_PREFETCH, "POST, OPTIONS", 1u << M_POST},
	{"info", R_INFO, "GET, HEAD, OPTIONS", (1u << M_GET) | (1u << M_HEAD)},
};

#define TILE_ALLOW "GET, HEAD, OPTIONS"
#define TILE_METHODS ((1u << M_GET) | (1u << M_HEAD))

const char *route_allow(enum route_kind k)
{
	if (k == R_TILE || k == R_HEALTH || k == R_IIIF_INFO || k == R_IIIF_BASE || k == R_DZI ||
	    k == R_METRICS)
		return TILE_ALLOW;
	for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++)
		if (endpoints[i].kind == k)
			return endpoints[i].allow;
	return TILE_ALLOW;
}

static int path_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-' || c == '/';
}

static enum ap_err check_method(struct request *r, enum route_kind k, unsigned methods)
{
	if (r->method == M_OPTIONS || (methods & (1u << r->method)))
		return AP_OK;
	r->allow = route_allow(k);
	return request_fail(r, AP_ERR_METHOD, "method %s not allowed here (allowed: %s)",
			    r->method_name, r->allow);
}

/* v/{version}/: lower-case hex, 1..ROUTE_VERSION_MAX digits */
static enum ap_err version_segment(struct request *r, const char *s, size_t n, struct route *out)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			n = 0;
	if (n == 0 || n > ROUTE_VERSION_MAX)
		return request_fail(r, AP_ERR_BAD_REQUEST, "a version is 1 to %d lower-case hex digits",
				    ROUTE_VERSION_MAX);
	memcpy(out->version, s, n);
	out->version[n] = '\0';
	out->version_at = (size_t)(s - r->path);
	out->versioned = true;
	return AP_OK;
}

static bool has_prefix(const char *p, const char *prefix)
{
	size_t n = strlen(prefix);

	return strncmp(p, prefix, n) == 0 && (p[n] == '/' || p[n] == '\0');
}

/* p (after the prefix) into at most SEGMENTS_MAX segments; every character
 * of the path allowed by ok(). */
static enum ap_err split(struct request *r, const char *p, int (*ok)(char), const char **seg,
			 size_t *len, size_t *count)
{
	const char *end = p + strlen(p);
	size_t n = 0;

	for (const char *c = r->path; *c; c++)
		if (!ok(*c))
			return request_fail(r, AP_ERR_BAD_REQUEST,
					    "invalid character in path (only letters, digits, "
					    "'.', '_', '-' and '/' are allowed%s)",
					    ok == path_char_ok ? "" : ", and ',', '!', '^', ':' in IIIF URLs");
	while (p < end) {
		const char *s = p + 1, *slash = strchr(s, '/');
		size_t l = slash ? (size_t)(slash - s) : (size_t)(end - s);

		if (l == 0 || (l == 1 && s[0] == '.') || (l == 2 && s[0] == '.' && s[1] == '.'))
			return request_fail(r, AP_ERR_BAD_REQUEST, "empty, '.' or '..' path segment");
		if (n == SEGMENTS_MAX)
			return request_fail(r, AP_ERR_NOT_FOUND, "no such endpoint");
		seg[n] = s;
		len[n++] = l;
		p = s + l;
	}
	*count = n;
	return AP_OK;
}

static bool seg_is(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

static bool ends_with(const char *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);

	return n > l && memcmp(s + n - l, lit, l) == 0;
}

static enum ap_err dataset_id(struct request *r, const char *s, size_t n, struct route *out)
{
	if (tk_parse_uint(s, n, DATASET_ID_MAX, &out->dataset))
		return request_fail(r, AP_ERR_BAD_REQUEST,
				    "dataset id must be a decimal number without sign or leading zeros");
	out->tile.dataset = out->dataset;
	return AP_OK;
}

/* ---- IIIF (iiif.h) ---------------------------------------------------------- */

static int iiif_char_ok(char c)
{
	return path_char_ok(c) || c == ',' || c == '!' || c == '^' || c == ':';
}

/* {id}[/v/{version}] then nothing, info.json or the four image segments */
static enum ap_err route_iiif(struct request *r, struct route *out)
{
	const char *seg[SEGMENTS_MAX];
	size_t len[SEGMENTS_MAX], n = 0, i = 1;
	char why[IIIF_WHY_MAX];
	enum ap_err e;

	if ((e = split(r, r->path + strlen(IIIF_PREFIX), iiif_char_ok, seg, len, &n)))
		return e;
	if (n == 0)
		return request_fail(r, AP_ERR_NOT_FOUND, "no such endpoint (IIIF: /iiif/3/{id}/info.json)");
	if ((e = dataset_id(r, seg[0], len[0], out)))
		return e;
	if (n >= 3 && seg_is(seg[1], len[1], "v")) {
		if ((e = version_segment(r, seg[2], len[2], out)))
			return e;
		i = 3;
	}
	if (n == i) {
		out->kind = R_IIIF_BASE;
		return check_method(r, R_IIIF_BASE, TILE_METHODS);
	}
	if (n == i + 1 && seg_is(seg[i], len[i], "info.json")) {
		out->kind = R_IIIF_INFO;
		return check_method(r, R_IIIF_INFO, TILE_METHODS);
	}
	if (n != i + 4)
		return request_fail(r, AP_ERR_NOT_FOUND, "no such endpoint (IIIF: "
				    "{region}/{size}/{rotation}/{quality}.{format} or info.json)");
	if (iiif_parse(seg[i], len[i], seg[i + 1], len[i + 1], seg[i + 2], len[i + 2], seg[i + 3],
		       len[i + 3], &out->iiif, why, sizeof(why)))
		return request_fail(r, AP_ERR_BAD_REQUEST, "%s", why);
	out->kind = R_TILE;
	out->via = VIA_IIIF;
	out->tile.fmt = (uint8_t)out->iiif.fmt;
	return check_method(r, R_TILE, TILE_METHODS);
}

/* ---- DZI (dzi.h) ---------------------------------------------------------------- */

/* {id}_files/{level}/{x}_{y}.{ext}: the tile {level}/{x}/{y}.{ext} */
static enum ap_err route_dzi_tile(struct request *r, const char **seg, const size_t *len,
				  struct route *out)
{
	char spec[TILE_SPEC_MAX + 1];
	const char *us = memchr(seg[2], '_', len[2]);
	enum ap_err e;

	if ((e = dataset_id(r, seg[0], len[0] - strlen("_files"), out)))
		return e;
	if (!us || len[1] + 1 + len[2] > TILE_SPEC_MAX)
		return request_fail(r, AP_ERR_BAD_REQUEST, "a DZI tile is {id}_files/{level}/{x}_{y}.{ext}");
	memcpy(spec, seg[1], len[1]);
	spec[len[1]] = '/';
	memcpy(spec + len[1] + 1, seg[2], len[2]);
	spec[len[1] + 1 + (size_t)(us - seg[2])] = '/';
	if (tk_parse_spec(spec, len[1] + 1 + len[2], &out->tile))
		return request_fail(r, AP_ERR_BAD_REQUEST, "a DZI tile is {id}_files/{level}/{x}_{y}.{ext} "
				    "with plain decimal numbers, level <= %d", TILE_Z_MAX);
	out->kind = R_TILE;
	out->via = VIA_DZI;
	return check_method(r, R_TILE, TILE_METHODS);
}

enum ap_err route_match(struct request *r, struct route *out)
{
	const char *seg[SEGMENTS_MAX];
	size_t len[SEGMENTS_MAX], n = 0;
	const char *end;
	enum ap_err e;

	memset(out, 0, sizeof(*out));
	if (has_prefix(r->path, IIIF_PREFIX))
		return route_iiif(r, out);
	if (!has_prefix(r->path, API_PREFIX))
		return request_fail(r, AP_ERR_NOT_FOUND, "no such endpoint");
	if ((e = split(r, r->path + strlen(API_PREFIX), path_char_ok, seg, len, &n)))
		return e;
	end = r->path + strlen(r->path);
	if (n == 1 && ends_with(seg[0], len[0], ".dzi")) {
		if ((e = dataset_id(r, seg[0], len[0] - 4, out)))
			return e;
		out->kind = R_DZI;
		return check_method(r, R_DZI, TILE_METHODS);
	}
	if (n == 3 && ends_with(seg[0], len[0], "_files"))
		return route_dzi_tile(r, seg, len, out);
	if (n == 1 && len[0] == 6 && memcmp(seg[0], "health", 6) == 0) {
		out->kind = R_HEALTH;
		return check_method(r, R_HEALTH, TILE_METHODS);
	}
	if (n == 1 && len[0] == 7 && memcmp(seg[0], "metrics", 7) == 0) {
		out->kind = R_METRICS;
		return check_method(r, R_METRICS, TILE_METHODS);
	}
	if (n != 2 && n != 4 && !(n == 6 && len[1] == 1 && seg[1][0] == 'v'))
		return request_fail(r, AP_ERR_NOT_FOUND, "no such endpoint");
	if ((e = dataset_id(r, seg[0], len[0], out)))
		return e;
	if (n == 2) {
		for (size_t i = 0; i < sizeof(endpoints) / sizeof(endpoints[0]); i++) {
			if (strlen(endpoints[i].name) == len[1] &&
			    memcmp(endpoints[i].name, seg[1], len[1]) == 0) {
				out->kind = endpoints[i].kind;
				return check_method(r, out->kind, endpoints[i].methods);
			}
		}
		return request_fail(r, AP_ERR_NOT_FOUND, "no such endpoint");
	}
	if (n == 6) {
		if ((e = version_segment(r, seg[2], len[2], out)))
			return e;
		seg[1] = seg[3];
	}
	/* {z}/{x}/{y}.{ext}: the three segments are one tile spec */
	if (tk_parse_spec(seg[1], (size_t)(end - seg[1]), &out->tile))
		return request_fail(r, AP_ERR_BAD_REQUEST,
				    "tile must be {z}/{x}/{y}.{jpg|jpeg|png|webp} with z <= %d and "
				    "plain decimal numbers", TILE_Z_MAX);
	out->kind = R_TILE;
	return check_method(r, R_TILE, TILE_METHODS);
}
