/*
 * route.c - the endpoint table of SPEC section 3.
 */
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
	if (k == R_TILE || k == R_HEALTH || k == R_METRICS)
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

enum ap_err route_match(struct request *r, struct route *out)
{
	const char *seg[SEGMENTS_MAX];
	size_t len[SEGMENTS_MAX], n = 0;
	const char *p = r->path, *end;
	size_t plen = strlen(API_PREFIX);

	memset(out, 0, sizeof(*out));
	if (strncmp(p, API_PREFIX, plen) != 0 || (p[plen] != '/' && p[plen] != '\0'))
		return request_fail(r, AP_ERR_NOT_FOUND, "no such endpoint");
	for (const char *c = p; *c; c++)
		if (!path_char_ok(*c))
			return request_fail(r, AP_ERR_BAD_REQUEST,
					    "invalid character in path (only letters, digits, "
					    "'.', '_', '-' and '/' are allowed)");
	p += plen;
	end = p + strlen(p);
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
	if (tk_parse_uint(seg[0], len[0], DATASET_ID_MAX, &out->dataset))
		return request_fail(r, AP_ERR_BAD_REQUEST,
				    "dataset id must be a decimal number without sign or leading zeros");
	out->tile.dataset = out->dataset;
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
		enum ap_err e = version_segment(r, seg[2], len[2], out);

		if (e)
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
