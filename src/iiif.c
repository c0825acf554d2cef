/*
 * iiif.c - IIIF Image API 3.0 level 0: request grammar, mapping to stored
 * tiles, info.json; see iiif.h.
 */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "iiif.h"
#include "config.h"
#include "dataset.h"
#include "edge.h"
#include "request.h"
#include "response.h"
#include "tileindex.h"

#define WHY(...) (snprintf(why, whylen, __VA_ARGS__), AP_ERR_BAD_REQUEST)

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A plain decimal number (no sign, no leading zero, <= IIIF_NUMBER_MAX)
 * at s[*i..], advancing *i. */
static bool number(const char *s, size_t len, size_t *i, uint64_t *out)
{
	size_t start = *i;
	uint64_t v = 0;

	while (*i < len && is_digit(s[*i])) {
		if (*i - start >= IIIF_NUMBER_DIGITS)
			return false;
		v = v * 10 + (uint64_t)(s[*i] - '0');
		(*i)++;
	}
	if (*i == start || (s[start] == '0' && *i - start > 1) || v > IIIF_NUMBER_MAX)
		return false;
	*out = v;
	return true;
}

static bool seg_is(const char *s, size_t len, const char *lit)
{
	return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

static enum ap_err parse_region(const char *s, size_t len, struct iiif_image *q, char *why,
				size_t whylen)
{
	uint64_t v[4];
	size_t i = 0;

	if (seg_is(s, len, "full")) {
		q->region = IIIF_REGION_FULL;
		return AP_OK;
	}
	if (seg_is(s, len, "square"))
		return WHY("region square is not served (level 0: only the tiles of the grid)");
	if (len >= 4 && memcmp(s, "pct:", 4) == 0)
		return WHY("percent regions are not served (level 0: only the tiles of the grid)");
	for (int k = 0; k < 4; k++) {
		if (k && (i >= len || s[i++] != ','))
			return WHY("region must be full or x,y,w,h (plain decimal numbers)");
		if (!number(s, len, &i, &v[k]))
			return WHY("region must be full or x,y,w,h (plain decimal numbers up to 2^40)");
	}
	if (i != len)
		return WHY("region must be full or x,y,w,h (plain decimal numbers)");
	if (v[2] == 0 || v[3] == 0)
		return WHY("region width and height must not be 0");
	q->region = IIIF_REGION_XYWH;
	q->x = v[0];
	q->y = v[1];
	q->w = v[2];
	q->h = v[3];
	return AP_OK;
}

static enum ap_err parse_size(const char *s, size_t len, struct iiif_image *q, char *why,
			      size_t whylen)
{
	size_t i = 0;
	bool has_w, has_h;

	if (len && s[0] == '^')
		return WHY("upscaling (^) is not served: level 0 answers stored tiles only");
	if (seg_is(s, len, "max") || seg_is(s, len, "full")) {	/* full: the 2.x spelling */
		q->size = IIIF_SIZE_MAX;
		return AP_OK;
	}
	if (len && s[0] == '!')
		return WHY("best-fit sizes (!w,h) are not served (level 0: only the tiles of the grid)");
	if (len >= 4 && memcmp(s, "pct:", 4) == 0)
		return WHY("percent sizes are not served (level 0: only the tiles of the grid)");
	has_w = i < len && is_digit(s[i]);
	if (has_w && !number(s, len, &i, &q->sw))
		return WHY("size must be max, w, ,h or w,h (plain decimal numbers up to 2^40)");
	if (i >= len || s[i++] != ',')
		return WHY("size must be max, w, ,h or w,h");
	has_h = i < len;
	if (has_h && !number(s, len, &i, &q->sh))
		return WHY("size must be max, w, ,h or w,h (plain decimal numbers up to 2^40)");
	if (i != len || (!has_w && !has_h))
		return WHY("size must be max, w, ,h or w,h");
	if ((has_w && q->sw == 0) || (has_h && q->sh == 0))
		return WHY("size width and height must not be 0");
	q->size = has_w && has_h ? IIIF_SIZE_WH : has_w ? IIIF_SIZE_W : IIIF_SIZE_H;
	return AP_OK;
}

enum ap_err iiif_parse(const char *region, size_t rlen, const char *size, size_t slen,
		       const char *rotation, size_t olen, const char *quality, size_t qlen,
		       struct iiif_image *out, char *why, size_t whylen)
{
	const char *dot;
	enum ap_err e;

	memset(out, 0, sizeof(*out));
	if (rlen > IIIF_SEGMENT_MAX || slen > IIIF_SEGMENT_MAX || olen > IIIF_SEGMENT_MAX ||
	    qlen > IIIF_SEGMENT_MAX)
		return WHY("an IIIF path segment is longer than %d bytes", IIIF_SEGMENT_MAX);
	if ((e = parse_region(region, rlen, out, why, whylen)) ||
	    (e = parse_size(size, slen, out, why, whylen)))
		return e;
	if (!seg_is(rotation, olen, "0"))
		return WHY("rotation must be 0 (level 0 does not rotate or mirror)");
	dot = memchr(quality, '.', qlen);
	if (!dot || !seg_is(quality, (size_t)(dot - quality), "default"))
		return WHY("quality must be default (level 0), as in default.jpg");
	if (tk_parse_ext(dot + 1, qlen - (size_t)(dot + 1 - quality), &out->fmt))
		return WHY("format must be jpg, png or webp");
	return AP_OK;
}

/* ---- mapping ----------------------------------------------------------------- */

/* Does the asked length fit the true one n / sf? Exact (rounded up, as
 * the level's own size is) or, when loose, rounded down or to nearest. */
static bool fits(uint64_t asked, uint64_t n, unsigned s, bool loose)
{
	uint64_t up = (n + (1ull << s) - 1) >> s, down = n >> s;

	if (asked == up)
		return true;
	return loose && asked == down && asked > 0;
}

/* The region (rx, ry, rw, rh), clipped, is tile (x, y) at scale 2^s, and
 * the size is its size at that scale? */
static bool tile_at(const struct dataset *d, const struct iiif_image *q, uint64_t rx, uint64_t ry,
		    uint64_t rw, uint64_t rh, unsigned s, bool loose)
{
	uint64_t t = (uint64_t)d->tile_size << s;	/* <= 2^12 * 2^30 */
	uint64_t tw, th;

	if (rx % t || ry % t)
		return false;
	tw = d->width - rx < t ? d->width - rx : t;
	th = d->height - ry < t ? d->height - ry : t;
	if (rw != tw || rh != th)
		return false;
	switch (q->size) {
	case IIIF_SIZE_MAX: return s == 0;
	case IIIF_SIZE_W: return fits(q->sw, rw, s, loose);
	case IIIF_SIZE_H: return fits(q->sh, rh, s, loose);
	case IIIF_SIZE_WH: return fits(q->sw, rw, s, loose) && fits(q->sh, rh, s, loose);
	}
	return false;
}

enum ap_err iiif_map(const struct dataset *d, const struct iiif_image *q, struct tilekey *k,
		     char *why, size_t whylen)
{
	uint64_t rx = 0, ry = 0, rw = d->width, rh = d->height;
	unsigned top = d->max_zoom - d->min_zoom;

	if (q->region == IIIF_REGION_XYWH) {
		if (q->x >= d->width || q->y >= d->height)
			return WHY("region starts outside the image (%llux%llu)",
				   (unsigned long long)d->width, (unsigned long long)d->height);
		rx = q->x;
		ry = q->y;
		/* beyond the edge: cropped there (IIIF 3.0 section 4.1) */
		rw = q->w < d->width - rx ? q->w : d->width - rx;
		rh = q->h < d->height - ry ? q->h : d->height - ry;
	}
	/* the smallest scale first; exact sizes before loosely rounded ones */
	for (int loose = 0; loose < 2; loose++) {
		for (unsigned s = 0; s <= top; s++) {
			uint64_t t = (uint64_t)d->tile_size << s;

			if (!tile_at(d, q, rx, ry, rw, rh, s, loose))
				continue;
			/* 2^40 px at 16 px a tile is past what a tile key holds */
			if (rx / t > TILE_COORD_MAX || ry / t > TILE_COORD_MAX)
				return WHY("tile beyond the largest tile coordinate (%u)", TILE_COORD_MAX);
			k->dataset = d->id;
			k->z = (uint8_t)(d->max_zoom - s);
			k->x = (uint32_t)(rx / t);
			k->y = (uint32_t)(ry / t);
			k->fmt = (uint8_t)q->fmt;
			return AP_OK;
		}
	}
	return WHY("not a tile of this image's grid (level 0: region and size must be one %u px "
		   "tile at a scale factor of info.json)", (unsigned)d->tile_size);
}

unsigned iiif_top_scale(const struct dataset *d)
{
	unsigned top = d->max_zoom - d->min_zoom;

	for (unsigned s = 0; s < top; s++) {
		uint64_t cols, rows;

		dataset_grid(d, d->max_zoom - s, &cols, &rows);
		if (cols <= 1 && rows <= 1)
			return s;
	}
	return top;
}

/* ---- info.json ----------------------------------------------------------------- */

#define add(o, k, v) json_object_object_add((o), (k), (v))

static struct json_object *jsize(uint64_t w, uint64_t h)
{
	struct json_object *o = json_object_new_object();

	add(o, "width", json_object_new_int64((int64_t)w));
	add(o, "height", json_object_new_int64((int64_t)h));
	return o;
}

/* The whole image as one tile: at the top scale and the smaller ones (as
 * long as they differ), what a thumbnail may ask for. */
static struct json_object *sizes(const struct dataset *d, unsigned top)
{
	struct json_object *a = json_object_new_array();
	unsigned last = d->max_zoom - d->min_zoom;
	uint64_t pw = 0, ph = 0;

	for (unsigned s = top; s <= last && s < top + IIIF_SIZES_MAX; s++) {
		uint64_t w = (d->width + (1ull << s) - 1) >> s, h = (d->height + (1ull << s) - 1) >> s;

		if (w == pw && h == ph)
			break;
		json_object_array_add(a, jsize(w, h));
		pw = w;
		ph = h;
	}
	return a;
}

static struct json_object *tiles(const struct dataset *d, unsigned top)
{
	struct json_object *a = json_object_new_array(), *t = json_object_new_object(),
			   *sf = json_object_new_array();

	for (unsigned s = 0; s <= top; s++)
		json_object_array_add(sf, json_object_new_int64((int64_t)1 << s));
	add(t, "width", json_object_new_int64(d->tile_size));
	add(t, "scaleFactors", sf);
	json_object_array_add(a, t);
	return a;
}

/* The formats of mask, in the order given (bit f = enum tile_fmt f). */
static struct json_object *jfmts(unsigned mask, const enum tile_fmt *order, int n)
{
	struct json_object *o = json_object_new_array();

	for (int i = 0; i < n; i++)
		if (mask & (1u << order[i]))
			json_object_array_add(o, json_object_new_string(tk_fmt_ext(order[i])));
	return o;
}

/* preferredFormats: WebP variants first (smaller; a viewer takes the
 * first its browser shows), then jpg, then png; extraFormats: all but
 * jpg, level 0's own. Without an index, the metadata's format. */
static void formats(const struct dataset *d, unsigned fmts, struct json_object *o)
{
	static const enum tile_fmt order[] = {FMT_WEBP, FMT_JPG, FMT_PNG};
	unsigned extra;

	if (!fmts)
		fmts = 1u << (d->format >= 0 && d->format < FMT__COUNT ? d->format : FMT_JPG);
	extra = fmts & ~(1u << FMT_JPG);
	add(o, "preferredFormats", jfmts(fmts, order, 3));
	if (extra)
		add(o, "extraFormats", jfmts(extra, order, 3));
}

enum ap_err iiif_info_json(const struct dataset *d, unsigned fmts, const char *base, char *out,
			   size_t cap)
{
	struct json_object *o = json_object_new_object();
	unsigned top = iiif_top_scale(d);
	const char *text;
	size_t n;

	if (!o)
		return AP_ERR_NOMEM;
	add(o, "@context", json_object_new_string(IIIF_CONTEXT));
	add(o, "id", json_object_new_string(base));
	add(o, "type", json_object_new_string("ImageService3"));
	add(o, "protocol", json_object_new_string(IIIF_PROTOCOL));
	add(o, "profile", json_object_new_string("level0"));
	add(o, "width", json_object_new_int64((int64_t)d->width));
	add(o, "height", json_object_new_int64((int64_t)d->height));
	add(o, "sizes", sizes(d, top));
	add(o, "tiles", tiles(d, top));
	formats(d, fmts, o);
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	n = text ? strlen(text) : cap;
	if (n >= cap) {
		json_object_put(o);
		return AP_ERR_NOMEM;
	}
	memcpy(out, text, n + 1);
	json_object_put(o);
	return AP_OK;
}

/* "application/ld+json" in the list, with the 3.0 context as profile or
 * without a profile (media type and parameters case-insensitive). */
bool iiif_wants_ld(const char *accept)
{
	const char *p = accept;

	if (!p)
		return false;
	while ((p = strcasestr(p, "application/ld+json")) != NULL) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *prof = strcasestr(p, "profile=");

		if (!prof || prof >= p + n)
			return true;
		if (memmem(prof, n - (size_t)(prof - p), IIIF_CONTEXT, strlen(IIIF_CONTEXT)))
			return true;
		p += n;
	}
	return false;
}

/* ---- answering ------------------------------------------------------------------- */

static bool host_ok(const char *h)
{
	size_t n = strlen(h), i = 0;

	if (n == 0 || n > IIIF_HOST_MAX)
		return false;
	if (h[0] == '[') {	/* [IPv6 literal] */
		while (++i < n && h[i] != ']')
			if (!(is_digit(h[i]) || (h[i] >= 'a' && h[i] <= 'f') || (h[i] >= 'A' && h[i] <= 'F') ||
			      h[i] == ':' || h[i] == '.'))
				return false;
		if (i == n)
			return false;
		i++;
	} else {
		while (i < n && h[i] != ':') {
			char c = h[i++];

			if (!(is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
			      c == '-'))
				return false;
		}
		if (i == 0)
			return false;
	}
	if (i == n)
		return true;
	if (h[i++] != ':' || i == n || n - i > 5)
		return false;
	while (i < n)
		if (!is_digit(h[i++]))
			return false;
	return true;
}

static bool has_port(const char *h)
{
	const char *c = strrchr(h, ':');

	return c && !(h[0] == '[' && strchr(c, ']'));
}

enum ap_err iiif_origin(const struct config *c, const struct request *r, char *out, size_t cap)
{
	int n;

	if (c->iiif_base_url)
		n = snprintf(out, cap, "%s", c->iiif_base_url);
	else if (r->host && host_ok(r->host) && (has_port(r->host) || !r->server_port ||
						  r->server_port == (r->https ? 443u : 80u)))
		n = snprintf(out, cap, "%s://%s", r->https ? "https" : "http", r->host);
	else if (r->host && host_ok(r->host))	/* nginx's fastcgi_params: $host, no port */
		n = snprintf(out, cap, "%s://%s:%u", r->https ? "https" : "http", r->host,
			     r->server_port);
	else
		return AP_ERR_BAD_REQUEST;
	return n < 0 || (size_t)n >= cap ? AP_ERR_BAD_REQUEST : AP_OK;
}

enum ap_err iiif_info_answer(const struct config *c, struct request *r, const struct dataset *d,
			     const struct tileindex *idx, const char *version, struct response *res)
{
	char origin[CONFIG_VALUE_MAX + 1], base[CONFIG_VALUE_MAX + 64], text[IIIF_INFO_MAX];
	bool ld = iiif_wants_ld(r->accept);
	enum ap_err e;

	if (iiif_origin(c, r, origin, sizeof(origin)))
		return request_fail(r, AP_ERR_BAD_REQUEST, "info.json needs a valid Host header (or "
				    "IIIF_BASE_URL set) to name its absolute id");
	snprintf(base, sizeof(base), "%s" IIIF_PREFIX "/%u/v/%s", origin, d->id, version);
	if ((e = iiif_info_json(d, tileindex_formats(idx), base, text, sizeof(text))))
		return e;
	/* the body depends on the Accept header (its type) and the Host */
	response_header(res, "Vary", "Accept");
	return edge_document(c, d, r, EDGE_INFO, ld ? IIIF_LD_TYPE : "application/json", text, res);
}
