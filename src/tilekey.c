/*
 * tilekey.c - strict parsing of tile coordinates; see tilekey.h.
 */
#include <stdio.h>
#include <string.h>
#include "tilekey.h"

static const char *const fmt_ext[FMT__COUNT] = {"jpg", "png", "webp"};
static const char *const fmt_mime[FMT__COUNT] = {"image/jpeg", "image/png", "image/webp"};

enum ap_err tk_parse_uint(const char *s, size_t len, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;

	/* 10 digits hold every value up to 2^32; more is overflow by construction */
	if (len == 0 || len > 10)
		return AP_ERR_BAD_REQUEST;
	if (s[0] == '0' && len > 1)
		return AP_ERR_BAD_REQUEST;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return AP_ERR_BAD_REQUEST;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return AP_ERR_BAD_REQUEST;
	*out = (uint32_t)v;
	return AP_OK;
}

enum ap_err tk_parse_ext(const char *s, size_t len, enum tile_fmt *out)
{
	if (len == 3 && memcmp(s, "jpg", 3) == 0)
		*out = FMT_JPG;
	else if (len == 4 && memcmp(s, "jpeg", 4) == 0)
		*out = FMT_JPG;
	else if (len == 3 && memcmp(s, "png", 3) == 0)
		*out = FMT_PNG;
	else if (len == 4 && memcmp(s, "webp", 4) == 0)
		*out = FMT_WEBP;
	else
		return AP_ERR_BAD_REQUEST;
	return AP_OK;
}

enum ap_err tk_parse_spec(const char *s, size_t len, struct tilekey *k)
{
	const char *end = s + len, *p = s, *q;
	uint32_t z, x, y;
	enum tile_fmt f;

	if (len == 0 || len > TILE_SPEC_MAX)
		return AP_ERR_BAD_REQUEST;
	q = memchr(p, '/', (size_t)(end - p));
	if (!q || tk_parse_uint(p, (size_t)(q - p), TILE_Z_MAX, &z))
		return AP_ERR_BAD_REQUEST;
	p = q + 1;
	q = memchr(p, '/', (size_t)(end - p));
	if (!q || tk_parse_uint(p, (size_t)(q - p), TILE_COORD_MAX, &x))
		return AP_ERR_BAD_REQUEST;
	p = q + 1;
	q = memchr(p, '.', (size_t)(end - p));
	if (!q || tk_parse_uint(p, (size_t)(q - p), TILE_COORD_MAX, &y))
		return AP_ERR_BAD_REQUEST;
	p = q + 1;
	if (tk_parse_ext(p, (size_t)(end - p), &f))
		return AP_ERR_BAD_REQUEST;
	k->z = (uint8_t)z;
	k->x = x;
	k->y = y;
	k->fmt = (uint8_t)f;
	return AP_OK;
}

const char *tk_fmt_ext(enum tile_fmt f)
{
	return (unsigned)f < FMT__COUNT ? fmt_ext[f] : "bin";
}

const char *tk_fmt_mime(enum tile_fmt f)
{
	return (unsigned)f < FMT__COUNT ? fmt_mime[f] : "application/octet-stream";
}

int tk_sniff(const unsigned char *p, size_t len)
{
	if (len >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF)
		return FMT_JPG;
	if (len >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0)
		return FMT_PNG;
	if (len >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
		return FMT_WEBP;
	return -1;
}

void tk_fallback_order(enum tile_fmt first, enum tile_fmt out[FMT__COUNT])
{
	int n = 0;

	out[n++] = first;
	for (int f = 0; f < FMT__COUNT; f++)
		if ((enum tile_fmt)f != first)
			out[n++] = (enum tile_fmt)f;
}

void tk_object_key(const struct tilekey *k, char *out, size_t outlen)
{
	snprintf(out, outlen, "tiles/%u/%u/%u/%u.%s", k->dataset, (unsigned)k->z,
		 k->x, k->y, tk_fmt_ext((enum tile_fmt)k->fmt));
}
