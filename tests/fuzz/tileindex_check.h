/*
 * tileindex_check.h - the oracle of the two tile-index harnesses
 * (fuzz_tileindex: raw bytes; fuzz_tileindex_sealed: bytes given a valid
 * SHA-256 trailer first, so that mutations reach the structure).
 *
 * A decoded index must keep the promises of tileindex.h and
 * docs/tile-index.md: a grid within the limits, planes of that grid's
 * geometry, lookups that answer only formats of the set and nothing
 * outside the grid, present counts that match the cells a lookup finds, and
 * the same content after the builder encodes it again: re-encoding gives
 * at most as many bytes (the encoder writes the smallest kind of each
 * plane), decodes, answers every lookup the same way, and encodes to the
 * same bytes once more (encoding is deterministic).
 */
#ifndef AP_FUZZ_TILEINDEX_CHECK_H
#define AP_FUZZ_TILEINDEX_CHECK_H

#include "fuzz.h"
#include "buf.h"
#include "dataset.h"
#include "tileindex.h"

/* Grids up to this many cells are scanned cell by cell; larger ones only
 * at their corners and a few cells derived from the input. */
#define TI_SCAN_CELLS 4096u
#define TI_PROBES 16

static uint64_t ti_ceil(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

static void ti_dataset(const struct tileindex *idx, struct dataset *d)
{
	const struct tileindex_grid *g = tileindex_grid(idx);

	memset(d, 0, sizeof(*d));
	d->id = g->dataset;
	d->min_zoom = g->min_zoom;
	d->max_zoom = g->max_zoom;
	d->tile_size = g->tile_size;
	d->width = g->width;
	d->height = g->height;
}

/* cols x rows of level z by the formula of docs/tile-index.md. */
static void ti_level(const struct tileindex_grid *g, unsigned z, uint64_t *cols, uint64_t *rows)
{
	unsigned s = g->max_zoom - z;

	*cols = ti_ceil(ti_ceil(g->width, 1ull << s), g->tile_size);
	*rows = ti_ceil(ti_ceil(g->height, 1ull << s), g->tile_size);
}

static uint64_t ti_cells(const struct tileindex_grid *g)
{
	uint64_t total = 0, c, r;

	for (unsigned z = g->min_zoom; z <= g->max_zoom; z++) {
		ti_level(g, z, &c, &r);
		total += c * r;
	}
	return total;
}

static void ti_check_grid(const struct tileindex *idx)
{
	const struct tileindex_grid *g = tileindex_grid(idx);
	const char *u = tileindex_updated_at(idx);
	struct dataset d;

	FUZZ_CHECK(g->dataset <= DATASET_ID_MAX && g->min_zoom <= g->max_zoom &&
		   g->max_zoom <= TILE_Z_MAX && g->tile_size >= TILE_SIZE_MIN &&
		   g->tile_size <= TILE_SIZE_MAX && g->width && g->height &&
		   g->width <= IMAGE_SIDE_MAX && g->height <= IMAGE_SIDE_MAX, "grid out of limits");
	FUZZ_CHECK(ti_cells(g) <= TILEINDEX_MAX_CELLS, "%llu cells",
		   (unsigned long long)ti_cells(g));
	FUZZ_CHECK(strlen(u) <= TILEINDEX_UPDATED_AT_MAX, "updated_at too long");
	for (const char *c = u; *c; c++)
		FUZZ_CHECK(*c >= 0x20 && *c <= 0x7e, "updated_at not printable");
	ti_dataset(idx, &d);
	FUZZ_CHECK(tileindex_describes(idx, &d, u), "does not describe its own grid");
	FUZZ_CHECK(tileindex_bytes(idx) > 0, "no size");
}

/* Planes of the right geometry; returns the format set seen. */
static unsigned ti_check_planes(const struct tileindex *idx)
{
	const struct tileindex_grid *g = tileindex_grid(idx);
	unsigned formats = 0;

	for (unsigned z = g->min_zoom; z <= g->max_zoom; z++)
		for (unsigned f = 0; f < FMT__COUNT; f++) {
			struct tileindex_plane pl;
			uint64_t c, r;

			if (!tileindex_plane(idx, z, (enum tile_fmt)f, &pl))
				continue;
			formats |= 1u << f;
			ti_level(g, z, &c, &r);
			FUZZ_CHECK(pl.cols == c && pl.rows == r, "level %u plane %llux%llu, want %llux%llu",
				   z, (unsigned long long)pl.cols, (unsigned long long)pl.rows,
				   (unsigned long long)c, (unsigned long long)r);
			FUZZ_CHECK(pl.present <= c * r && pl.kind < TI__COUNT && pl.bytes >= 1,
				   "plane stats");
		}
	FUZZ_CHECK(!tileindex_plane(idx, g->max_zoom + 1u, FMT_JPG, &(struct tileindex_plane){0}),
		   "a plane past max_zoom");
	return formats;
}

/* Every lookup of a small grid, or probes of a large one, agree between a
 * and b (b may be NULL: only the bounds are checked); counts the present
 * tiles per format when scanning everything. */
static void ti_compare(const struct tileindex *a, const struct tileindex *b, unsigned formats,
		       uint32_t seed)
{
	const struct tileindex_grid *g = tileindex_grid(a);
	int scan = ti_cells(g) <= TI_SCAN_CELLS;

	for (unsigned z = g->min_zoom; z <= g->max_zoom; z++) {
		uint64_t cols, rows, count[FMT__COUNT] = {0};

		ti_level(g, z, &cols, &rows);
		FUZZ_CHECK(tileindex_lookup(a, z, (uint32_t)cols, 0) == 0 &&
			   tileindex_lookup(a, z, 0, (uint32_t)rows) == 0, "a tile outside the grid");
		for (uint64_t i = 0; i < (scan ? cols * rows : TI_PROBES); i++) {
			uint64_t cell = scan ? i : i < 2 ? i * (cols * rows - 1) :
				(seed = seed * 1103515245u + 12345u) % (cols * rows);
			uint32_t x = (uint32_t)(cell % cols), y = (uint32_t)(cell / cols);
			unsigned m = tileindex_lookup(a, z, x, y);

			FUZZ_CHECK((m & ~formats) == 0, "format outside the set at %u/%u/%u", z, x, y);
			FUZZ_CHECK(!b || tileindex_lookup(b, z, x, y) == m,
				   "re-encoded index differs at %u/%u/%u", z, x, y);
			for (unsigned f = 0; f < FMT__COUNT; f++)
				count[f] += (m >> f) & 1;
		}
		for (unsigned f = 0; scan && f < FMT__COUNT; f++) {
			struct tileindex_plane pl = {0};

			if (tileindex_plane(a, z, (enum tile_fmt)f, &pl))
				FUZZ_CHECK(pl.present == count[f], "level %u fmt %u: %llu present, "
					   "lookups find %llu", z, f, (unsigned long long)pl.present,
					   (unsigned long long)count[f]);
		}
	}
	FUZZ_CHECK(tileindex_lookup(a, g->max_zoom + 1u, 0, 0) == 0, "a tile past max_zoom");
}

/* The builder's encoding of what idx answers, cell by cell. */
static void ti_reencode(const struct tileindex *idx, struct buf *out)
{
	const struct tileindex_grid *g = tileindex_grid(idx);
	struct tileindex_builder *b = NULL;
	struct dataset d;
	char why[256];

	ti_dataset(idx, &d);
	FUZZ_CHECK(tileindex_builder_new(&d, tileindex_updated_at(idx), &b, why, sizeof(why)) ==
		   AP_OK, "builder refuses a decoded grid: %s", why);
	for (unsigned z = g->min_zoom; z <= g->max_zoom; z++) {
		uint64_t cols, rows;

		ti_level(g, z, &cols, &rows);
		for (uint64_t cell = 0; cell < cols * rows; cell++) {
			unsigned m = tileindex_lookup(idx, z, (uint32_t)(cell % cols),
						      (uint32_t)(cell / cols));

			for (unsigned f = 0; f < FMT__COUNT; f++)
				if (m & (1u << f))
					FUZZ_CHECK(tileindex_builder_add(b, z, (uint32_t)(cell % cols),
									 (uint32_t)(cell / cols),
									 (enum tile_fmt)f) == AP_OK,
						   "builder refuses a decoded tile");
		}
	}
	FUZZ_CHECK(tileindex_builder_encode(b, out) == AP_OK, "builder cannot encode");
	tileindex_builder_free(b);
}

static void fuzz_tileindex_one(const unsigned char *p, size_t n, uint32_t seed)
{
	struct tileindex *idx = NULL, *again = NULL;
	struct buf enc, enc2;
	char why[256] = "";
	unsigned formats;
	enum ap_err e = tileindex_decode(p, n, &idx, why, sizeof(why));

	if (e) {
		FUZZ_CHECK((e == AP_ERR_STORAGE || e == AP_ERR_NOMEM) && !idx && why[0],
			   "refused with %d '%s'", e, why);
		return;
	}
	FUZZ_CHECK(idx, "AP_OK without an index");
	ti_check_grid(idx);
	formats = ti_check_planes(idx);
	ti_compare(idx, NULL, formats, seed);
	if (ti_cells(tileindex_grid(idx)) <= TI_SCAN_CELLS) {
		buf_init(&enc, TILEINDEX_MAX_BYTES);
		buf_init(&enc2, TILEINDEX_MAX_BYTES);
		ti_reencode(idx, &enc);
		FUZZ_CHECK(enc.len <= n, "re-encoded in %zu bytes, more than %zu", enc.len, n);
		FUZZ_CHECK(tileindex_decode(enc.data, enc.len, &again, why, sizeof(why)) == AP_OK,
			   "the builder's output does not decode: %s", why);
		ti_compare(idx, again, formats, seed);
		ti_reencode(again, &enc2);
		FUZZ_CHECK(enc2.len == enc.len && !memcmp(enc.data, enc2.data, enc.len),
			   "encoding is not deterministic");
		tileindex_free(again);
		buf_free(&enc);
		buf_free(&enc2);
	}
	tileindex_free(idx);
}

#endif
