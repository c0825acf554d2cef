/*
 * tilekey.h - the identity of a tile and the strict grammar of "z/x/y.ext".
 *
 * A tile is (dataset, z, x, y, format). Text is accepted only when it matches
 * the allow-list grammar exactly: decimal digits without sign, without
 * leading zeros (except "0" itself), z <= TILE_Z_MAX, x and y < 2^30, and
 * one of the known extensions. Nothing is ever "cleaned up" into validity.
 */
#ifndef AP_TILEKEY_H
#define AP_TILEKEY_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"

#define TILE_Z_MAX 30
#define TILE_COORD_MAX ((1u << 30) - 1)
#define DATASET_ID_MAX 2147483647u
/* "30/1073741823/1073741823.webp" is 29 bytes. */
#define TILE_SPEC_MAX 32
/* Largest tile accepted from any storage; larger objects are refused. */
#define TILE_MAX_BYTES (4u * 1024 * 1024)

enum tile_fmt { FMT_JPG = 0, FMT_PNG, FMT_WEBP, FMT__COUNT };

struct tilekey {
	uint32_t dataset;
	uint32_t x, y;
	uint8_t z;
	uint8_t fmt;	/* enum tile_fmt: the file format (jpeg ext -> FMT_JPG) */
};

/* Field by field (the struct has padding, never compare it with memcmp). */
static inline int tk_equal(const struct tilekey *a, const struct tilekey *b)
{
	return a->dataset == b->dataset && a->x == b->x && a->y == b->y && a->z == b->z &&
	       a->fmt == b->fmt;
}
/* The same tile whatever its format. */
static inline int tk_same_tile(const struct tilekey *a, const struct tilekey *b)
{
	return a->dataset == b->dataset && a->x == b->x && a->y == b->y && a->z == b->z;
}

/* Parses a decimal number: digits only, no leading zeros, <= max. */
enum ap_err tk_parse_uint(const char *s, size_t len, uint32_t max, uint32_t *out) AP_WARN_UNUSED;
/* Parses an extension ("jpg", "jpeg", "png", "webp"). */
enum ap_err tk_parse_ext(const char *s, size_t len, enum tile_fmt *out) AP_WARN_UNUSED;
/* Parses "z/x/y.ext" (exactly, len bytes) into k (dataset untouched). */
enum ap_err tk_parse_spec(const char *s, size_t len, struct tilekey *k) AP_WARN_UNUSED;

/* File extension of a format without dot ("jpg"). */
const char *tk_fmt_ext(enum tile_fmt f);
/* MIME type of a format ("image/jpeg"). */
const char *tk_fmt_mime(enum tile_fmt f);
/* The format the bytes really are (magic numbers), or -1 if unknown. */
int tk_sniff(const unsigned char *p, size_t len);
/* Lookup order for a request: requested first, then jpg, png, webp. */
void tk_fallback_order(enum tile_fmt first, enum tile_fmt out[FMT__COUNT]);
/* Storage key "tiles/{id}/{z}/{x}/{y}.{ext}" into out (size >= 64). */
void tk_object_key(const struct tilekey *k, char *out, size_t outlen);

#endif
