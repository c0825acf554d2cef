/*
 * test_tileindex.c - the tile index (tileindex.h, docs/tile-index.md):
 * every shape of pyramid round-trips and answers exactly what was built,
 * the encoder picks the smallest plane encoding and is deterministic, and
 * the decoder refuses every inconsistency the format can express, reading
 * nothing outside the bytes it is given (each input is copied into a buffer
 * of exactly its size, so ASan sees any overread).
 *
 * tileindex.c is included (as lighttpd's src/t/ does) to reach the size
 * limits as parameters and the writers used to forge indexes by hand.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tileindex.c"

#define WHY 200

/* ---- a reference model: the format mask of every cell of every level ---- */

struct pyramid {
	struct dataset d;
	const char *stamp;
	unsigned char *mask[LEVELS_MAX];	/* [z - min][y * cols + x] */
	uint64_t cols[LEVELS_MAX], rows[LEVELS_MAX];
};

static struct dataset ds(uint32_t id, unsigned minz, unsigned maxz, uint32_t ts, uint64_t w,
			 uint64_t h)
{
	struct dataset d;

	memset(&d, 0, sizeof(d));
	d.id = id;
	d.min_zoom = (uint8_t)minz;
	d.max_zoom = (uint8_t)maxz;
	d.tile_size = ts;
	d.width = w;
	d.height = h;
	return d;
}

static void pyr_init(struct pyramid *p, struct dataset d, const char *stamp)
{
	memset(p, 0, sizeof(*p));
	p->d = d;
	p->stamp = stamp;
	for (unsigned z = d.min_zoom; z <= d.max_zoom; z++) {
		unsigned l = z - d.min_zoom;

		dataset_grid(&d, z, &p->cols[l], &p->rows[l]);
		p->mask[l] = calloc(p->cols[l] * p->rows[l], 1);
		assert_non_null(p->mask[l]);
	}
}

static void pyr_free(struct pyramid *p)
{
	for (unsigned l = 0; l < LEVELS_MAX; l++)
		free(p->mask[l]);
}

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Each cell present with probability permille/1000, in a random non-empty
 * subset of fmts. */
static void pyr_fill(struct pyramid *p, unsigned permille, unsigned fmts, uint64_t seed)
{
	for (unsigned l = 0; l <= (unsigned)(p->d.max_zoom - p->d.min_zoom); l++)
		for (uint64_t c = 0; c < p->cols[l] * p->rows[l]; c++) {
			unsigned m = 0;

			if (rnd(&seed) % 1000 >= permille)
				continue;
			while (!m)
				m = (unsigned)rnd(&seed) & fmts;
			p->mask[l][c] = (unsigned char)m;
		}
}

/* Adds cell c of level l (counted from min_zoom) in format f. */
static void add(struct tileindex_builder *b, const struct pyramid *p, unsigned l, uint64_t c,
		unsigned f)
{
	uint32_t x = (uint32_t)(c % p->cols[l]), y = (uint32_t)(c / p->cols[l]);

	assert_int_equal(tileindex_builder_add(b, p->d.min_zoom + l, x, y, (enum tile_fmt)f),
			 AP_OK);
}

static struct tileindex_builder *pyr_builder(const struct pyramid *p)
{
	struct tileindex_builder *b = NULL;
	char why[WHY] = "";

	if (tileindex_builder_new(&p->d, p->stamp, &b, why, sizeof(why)))
		fail_msg("builder refused a valid grid: %s", why);
	for (unsigned l = 0; l <= (unsigned)(p->d.max_zoom - p->d.min_zoom); l++)
		for (uint64_t c = 0; c < p->cols[l] * p->rows[l]; c++)
			for (unsigned f = 0; f < FMT__COUNT; f++)
				if (p->mask[l][c] & (1u << f))
					add(b, p, l, c, f);
	return b;
}

static void pyr_encode(const struct pyramid *p, struct buf *out)
{
	struct tileindex_builder *b = pyr_builder(p);

	buf_init(out, TILEINDEX_MAX_BYTES);
	assert_int_equal(tileindex_builder_encode(b, out), AP_OK);
	tileindex_builder_free(b);
}

/* Decodes a copy of exactly n bytes, so that any overread is an ASan error. */
static enum ap_err decode_exact(const void *p, size_t n, struct tileindex **idx, char *why)
{
	void *copy = malloc(n ? n : 1);
	enum ap_err e;

	assert_non_null(copy);
	memcpy(copy, p, n);
	why[0] = '\0';
	e = tileindex_decode(copy, n, idx, why, WHY);
	free(copy);
	return e;
}

static struct tileindex *decode_ok(const struct buf *b)
{
	struct tileindex *idx = NULL;
	char why[WHY];

	if (decode_exact(b->data, b->len, &idx, why))
		fail_msg("a built index was refused: %s", why);
	assert_non_null(idx);
	return idx;
}

/* Every cell of every level answers the model; around the grid, nothing. */
static void pyr_check(const struct pyramid *p, const struct tileindex *idx)
{
	for (unsigned l = 0; l <= (unsigned)(p->d.max_zoom - p->d.min_zoom); l++) {
		unsigned z = p->d.min_zoom + l;
		uint32_t cols = (uint32_t)p->cols[l], rows = (uint32_t)p->rows[l];

		for (uint64_t c = 0; c < p->cols[l] * p->rows[l]; c++) {
			uint32_t x = (uint32_t)(c % cols), y = (uint32_t)(c / cols);
			unsigned got = tileindex_lookup(idx, z, x, y);

			if (got != p->mask[l][c])
				fail_msg("z=%u x=%u y=%u: formats 0x%x, built 0x%x", z, x, y, got,
					 p->mask[l][c]);
		}
		assert_int_equal(tileindex_lookup(idx, z, cols, 0), 0);
		assert_int_equal(tileindex_lookup(idx, z, 0, rows), 0);
		assert_int_equal(tileindex_lookup(idx, z, cols, rows), 0);
		assert_int_equal(tileindex_lookup(idx, z, UINT32_MAX, UINT32_MAX), 0);
	}
	if (p->d.min_zoom > 0)
		assert_int_equal(tileindex_lookup(idx, p->d.min_zoom - 1u, 0, 0), 0);
	assert_int_equal(tileindex_lookup(idx, p->d.max_zoom + 1u, 0, 0), 0);
	assert_int_equal(tileindex_lookup(idx, UINT32_MAX, 0, 0), 0);
	assert_true(tileindex_describes(idx, &p->d, p->stamp));
}

/* Build, encode, decode, compare; returns the encoded size. */
static size_t round_trip(const struct pyramid *p)
{
	struct tileindex *idx;
	struct buf b;
	size_t n;

	pyr_encode(p, &b);
	idx = decode_ok(&b);
	pyr_check(p, idx);
	n = b.len;
	tileindex_free(idx);
	buf_free(&b);
	return n;
}

static enum tileindex_kind kind_of(const struct tileindex *idx, unsigned z, enum tile_fmt f)
{
	struct tileindex_plane pl;

	assert_true(tileindex_plane(idx, z, f, &pl));
	return pl.kind;
}

/* ---- round trips ---- */

static void a_dense_pyramid_round_trips(void **state)
{
	struct pyramid p;

	(void)state;
	pyr_init(&p, ds(1, 0, 6, 256, 16000, 9000), "2024-05-01T12:00:00Z");
	pyr_fill(&p, 700, 1u << FMT_JPG | 1u << FMT_PNG, 42);
	round_trip(&p);
	pyr_free(&p);
}

static void a_sparse_pyramid_round_trips(void **state)
{
	struct pyramid p;

	(void)state;
	pyr_init(&p, ds(2, 2, 8, 256, 60000, 50000), "2024-05-01T12:00:00Z");
	pyr_fill(&p, 15, 1u << FMT_WEBP, 7);
	round_trip(&p);
	pyr_free(&p);
}

static void an_empty_index_has_no_format_and_no_tile(void **state)
{
	struct tileindex *idx;
	struct tileindex_plane pl;
	struct pyramid p;
	struct buf b;

	(void)state;
	pyr_init(&p, ds(3, 0, 4, 256, 4000, 3000), "");
	pyr_encode(&p, &b);
	assert_int_equal(b.len, HEADER_FIXED + TRAILER_LEN);	/* no plane at all */
	idx = decode_ok(&b);
	pyr_check(&p, idx);
	for (unsigned f = 0; f < FMT__COUNT; f++)
		assert_false(tileindex_plane(idx, 4, (enum tile_fmt)f, &pl));
	tileindex_free(idx);
	buf_free(&b);
	pyr_free(&p);
}

static void a_full_pyramid_costs_two_bytes_a_plane(void **state)
{
	struct tileindex *idx;
	struct pyramid p;
	struct buf b;

	(void)state;
	pyr_init(&p, ds(4, 0, 7, 256, 30000, 20000), "x");
	for (unsigned l = 0; l < 8; l++)	/* every format everywhere */
		memset(p.mask[l], FMT_ALL, p.cols[l] * p.rows[l]);
	pyr_encode(&p, &b);
	/* an empty list of absent cells: kind + count */
	assert_int_equal(b.len, HEADER_FIXED + 1 + TRAILER_LEN + 8 * FMT__COUNT * 2);
	idx = decode_ok(&b);
	pyr_check(&p, idx);
	assert_int_equal(kind_of(idx, 7, FMT_PNG), TI_ABSENT);
	tileindex_free(idx);
	buf_free(&b);
	pyr_free(&p);
}

static void a_single_tile_dataset_round_trips(void **state)
{
	struct pyramid p;

	(void)state;
	pyr_init(&p, ds(5, 0, 0, 256, 1, 1), "2026-01-01T00:00:00Z");
	assert_int_equal(p.cols[0] * p.rows[0], 1);
	p.mask[0][0] = 1u << FMT_PNG;
	round_trip(&p);
	pyr_free(&p);
}

/* Sides that are no multiple of the tile size: the last column and row are
 * part of the grid, one more is not; the grid is the one of catalog.c. */
static void edge_clipped_grids_follow_dataset_grid(void **state)
{
	static const uint64_t sides[][2] = {{257, 255}, {1000, 1}, {16385, 8191}, {99999, 77777}};
	struct tileindex_builder *b;
	struct tileindex_plane pl;
	struct tileindex *idx;
	struct pyramid p;
	struct buf buf;
	char why[WHY];

	(void)state;
	for (size_t i = 0; i < sizeof(sides) / sizeof(sides[0]); i++) {
		pyr_init(&p, ds(6, 1, 9, 100, sides[i][0], sides[i][1]), "t");
		pyr_fill(&p, 300, FMT_ALL, i + 1);
		for (unsigned l = 0; l < 9; l++)	/* the far corner of every level */
			p.mask[l][p.cols[l] * p.rows[l] - 1] = 1u << FMT_JPG;
		pyr_encode(&p, &buf);
		idx = decode_ok(&buf);
		pyr_check(&p, idx);
		for (unsigned z = 1; z <= 9; z++) {
			uint64_t cols, rows;

			dataset_grid(&p.d, z, &cols, &rows);
			assert_true(tileindex_plane(idx, z, FMT_JPG, &pl));
			assert_int_equal(pl.cols, cols);
			assert_int_equal(pl.rows, rows);
		}
		assert_int_equal(tileindex_builder_new(&p.d, "t", &b, why, sizeof(why)), AP_OK);
		assert_int_equal(tileindex_builder_add(b, 9, (uint32_t)p.cols[8] - 1,
						       (uint32_t)p.rows[8] - 1, FMT_JPG), AP_OK);
		assert_int_equal(tileindex_builder_add(b, 9, (uint32_t)p.cols[8], 0, FMT_JPG),
				 AP_ERR_BAD_REQUEST);
		assert_int_equal(tileindex_builder_add(b, 9, 0, (uint32_t)p.rows[8], FMT_JPG),
				 AP_ERR_BAD_REQUEST);
		tileindex_builder_free(b);
		tileindex_free(idx);
		buf_free(&buf);
		pyr_free(&p);
	}
}

/* Cell i carries format set i % 8: all eight combinations side by side,
 * as bitmaps (dense) and as lists (one level in 40 cells used). */
static void every_format_combination_round_trips(void **state)
{
	struct pyramid p;

	(void)state;
	for (unsigned sparse = 0; sparse < 2; sparse++) {
		pyr_init(&p, ds(7, 0, 5, 256, 8000, 6000), "combo");
		for (unsigned l = 0; l < 6; l++)
			for (uint64_t c = 0; c < p.cols[l] * p.rows[l]; c++)
				if (!sparse || c % 40 == 0)
					p.mask[l][c] = (unsigned char)((sparse ? c / 40 : c) % 8);
		round_trip(&p);
		pyr_free(&p);
	}
	for (unsigned m = 1; m <= FMT_ALL; m++) {	/* one set for the whole pyramid */
		pyr_init(&p, ds(7, 0, 3, 256, 2000, 1000), "combo");
		pyr_fill(&p, 500, m, m);
		for (unsigned l = 0; l < 4; l++)
			memset(p.mask[l], (int)m, p.cols[l] * p.rows[l] / 2);
		round_trip(&p);
		pyr_free(&p);
	}
}

/* Lists of many samples: every boundary of the binary search is looked up. */
static void long_lists_answer_at_every_sample_boundary(void **state)
{
	struct tileindex *idx;
	struct pyramid p;
	struct buf b;
	size_t entries = 0;

	(void)state;
	pyr_init(&p, ds(8, 0, 0, 16, 16 * 2000, 16 * 1000), "");
	for (uint64_t c = 0; c < 2000 * 1000; c += 97)	/* 20619 entries */
		p.mask[0][c] = 1u << FMT_JPG;
	memset(p.mask[0] + 1999000, 1u << FMT_JPG, 1000);	/* a full last row */
	pyr_encode(&p, &b);
	idx = decode_ok(&b);
	assert_int_equal(kind_of(idx, 0, FMT_JPG), TI_PRESENT);
	for (uint64_t c = 0; c < 2000 * 1000; c++)
		entries += p.mask[0][c] != 0;
	assert_true(entries > 20 * TILEINDEX_SKIP);
	assert_int_equal(idx->nsamples, (entries + TILEINDEX_SKIP - 1) / TILEINDEX_SKIP);
	pyr_check(&p, idx);
	tileindex_free(idx);
	buf_free(&b);
	pyr_free(&p);
}

/* ---- encoder ---- */

static void the_encoder_picks_the_smallest_encoding(void **state)
{
	struct tileindex *idx;
	struct pyramid p;
	struct buf b;

	(void)state;
	pyr_init(&p, ds(9, 0, 2, 256, 256 * 300, 256 * 200), "");
	pyr_fill(&p, 10, 1u << FMT_JPG, 3);	/* level 2: 1 % of 60000 */
	memset(p.mask[1], 1u << FMT_JPG, p.cols[1] * p.rows[1]);	/* level 1: full */
	for (uint64_t c = 0; c < p.cols[1] * p.rows[1]; c += 500)
		p.mask[1][c] = 0;					/* ... but a few holes */
	for (uint64_t c = 0; c < p.cols[0] * p.rows[0]; c++)	/* level 0: half */
		p.mask[0][c] = c % 2 ? 1u << FMT_JPG : 0;
	pyr_encode(&p, &b);
	idx = decode_ok(&b);
	pyr_check(&p, idx);
	assert_int_equal(kind_of(idx, 2, FMT_JPG), TI_PRESENT);
	assert_int_equal(kind_of(idx, 1, FMT_JPG), TI_ABSENT);
	assert_int_equal(kind_of(idx, 0, FMT_JPG), TI_BITMAP);
	for (unsigned z = 0; z <= 2; z++) {
		struct tileindex_plane pl;
		uint64_t cells = p.cols[z] * p.rows[z];

		assert_true(tileindex_plane(idx, z, FMT_JPG, &pl));
		assert_true(pl.bytes <= 1 + (cells + 7) / 8);	/* never above the bitmap */
	}
	tileindex_free(idx);
	buf_free(&b);
	pyr_free(&p);
}

/* 1024 x 1024 cells, 1 % present: far below the 128 KiB bitmap. */
static void a_large_sparse_level_is_smaller_than_its_bitmap(void **state)
{
	struct tileindex_plane pl;
	struct tileindex *idx;
	struct pyramid p;
	struct buf b;

	(void)state;
	pyr_init(&p, ds(10, 10, 10, 256, 256 * 1024, 256 * 1024), "2024-05-01T12:00:00Z");
	pyr_fill(&p, 10, 1u << FMT_JPG, 99);
	pyr_encode(&p, &b);
	idx = decode_ok(&b);
	pyr_check(&p, idx);
	assert_true(tileindex_plane(idx, 10, FMT_JPG, &pl));
	assert_int_equal(pl.kind, TI_PRESENT);
	print_message("1024x1024 cells, %llu present: %zu bytes encoded (bitmap %u), "
		      "%zu in memory\n", (unsigned long long)pl.present, b.len, 1024 * 1024 / 8,
		      tileindex_bytes(idx));
	assert_true(pl.present > 10000 && pl.present < 11000);
	assert_true(b.len < 1024 * 1024 / 8 / 5);	/* deltas of ~100 take 1-2 bytes */
	/* the in-memory form costs about the encoded size */
	assert_true(tileindex_bytes(idx) < b.len + b.len / 8 + 1024);
	tileindex_free(idx);
	buf_free(&b);
	pyr_free(&p);
}

/* The same tiles in any order, repeated or not, give the same bytes. */
static void encoding_is_deterministic(void **state)
{
	struct tileindex_builder *fwd, *rev;
	struct buf a, b;
	struct pyramid p;
	char why[WHY];

	(void)state;
	pyr_init(&p, ds(11, 0, 4, 256, 5000, 3000), "2024-05-01T12:00:00Z");
	pyr_fill(&p, 400, FMT_ALL, 5);
	fwd = pyr_builder(&p);
	assert_int_equal(tileindex_builder_new(&p.d, p.stamp, &rev, why, sizeof(why)), AP_OK);
	for (unsigned l = 5; l-- > 0;)	/* backwards, every tile twice */
		for (uint64_t c = p.cols[l] * p.rows[l]; c-- > 0;)
			for (unsigned f = FMT__COUNT; f-- > 0;)
				if (p.mask[l][c] & (1u << f)) {
					add(rev, &p, l, c, f);
					add(rev, &p, l, c, f);
				}
	buf_init(&a, TILEINDEX_MAX_BYTES);
	buf_init(&b, TILEINDEX_MAX_BYTES);
	assert_int_equal(tileindex_builder_encode(fwd, &a), AP_OK);
	assert_int_equal(tileindex_builder_encode(rev, &b), AP_OK);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	buf_reset(&b);	/* encoding twice: the same bytes again */
	assert_int_equal(tileindex_builder_encode(rev, &b), AP_OK);
	assert_memory_equal(a.data, b.data, a.len);
	tileindex_builder_free(fwd);
	tileindex_builder_free(rev);
	buf_free(&a);
	buf_free(&b);
	pyr_free(&p);
}

/* Encoding appends: what the buffer held before is kept. */
static void encoding_appends_to_the_buffer(void **state)
{
	struct tileindex *idx;
	struct pyramid p;
	struct buf b;
	char why[WHY];
	struct tileindex_builder *bl;

	(void)state;
	pyr_init(&p, ds(12, 0, 1, 256, 600, 600), "");
	p.mask[1][3] = 1u << FMT_WEBP;
	bl = pyr_builder(&p);
	buf_init(&b, TILEINDEX_MAX_BYTES);
	assert_int_equal(buf_adds(&b, "prefix"), AP_OK);
	assert_int_equal(tileindex_builder_encode(bl, &b), AP_OK);
	assert_memory_equal(b.data, "prefix", 6);
	assert_int_equal(decode_exact(b.data + 6, b.len - 6, &idx, why), AP_OK);
	pyr_check(&p, idx);
	tileindex_free(idx);
	tileindex_builder_free(bl);
	buf_free(&b);
	pyr_free(&p);
}

/* ---- builder input ---- */

static void the_builder_refuses_what_is_outside_its_grid(void **state)
{
	struct tileindex_builder *b = NULL;
	struct dataset d = ds(13, 2, 5, 256, 3000, 2000);
	char why[WHY], longer[TILEINDEX_UPDATED_AT_MAX + 2];

	(void)state;
	assert_int_equal(tileindex_builder_new(&d, NULL, &b, why, sizeof(why)), AP_OK);
	assert_int_equal(tileindex_builder_add(b, 1, 0, 0, FMT_JPG), AP_ERR_BAD_REQUEST);
	assert_int_equal(tileindex_builder_add(b, 6, 0, 0, FMT_JPG), AP_ERR_BAD_REQUEST);
	assert_int_equal(tileindex_builder_add(b, 5, 11, 0, FMT_JPG), AP_OK);	/* 12 x 8 */
	assert_int_equal(tileindex_builder_add(b, 5, 12, 0, FMT_JPG), AP_ERR_BAD_REQUEST);
	assert_int_equal(tileindex_builder_add(b, 5, 0, 8, FMT_JPG), AP_ERR_BAD_REQUEST);
	assert_int_equal(tileindex_builder_add(b, 5, 0, 0, FMT__COUNT), AP_ERR_BAD_REQUEST);
	assert_int_equal(tileindex_builder_add(b, 5, 0, 0, (enum tile_fmt)-1), AP_ERR_BAD_REQUEST);
	tileindex_builder_free(b);

	memset(longer, 'a', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	assert_int_equal(tileindex_builder_new(&d, longer, &b, why, sizeof(why)),
			 AP_ERR_BAD_REQUEST);
	assert_null(b);
	assert_non_null(strstr(why, "longer than"));
	longer[TILEINDEX_UPDATED_AT_MAX] = '\0';	/* exactly the limit */
	assert_int_equal(tileindex_builder_new(&d, longer, &b, why, sizeof(why)), AP_OK);
	tileindex_builder_free(b);
	assert_int_equal(tileindex_builder_new(&d, "2024\n", &b, why, sizeof(why)),
			 AP_ERR_BAD_REQUEST);
	assert_int_equal(tileindex_builder_new(&d, "caf\xc3\xa9", &b, why, sizeof(why)),
			 AP_ERR_BAD_REQUEST);
	d.tile_size = 8;
	assert_int_equal(tileindex_builder_new(&d, "", &b, why, sizeof(why)), AP_ERR_BAD_REQUEST);
	d = ds(13, 3, 2, 256, 3000, 2000);
	assert_int_equal(tileindex_builder_new(&d, "", &b, why, sizeof(why)), AP_ERR_BAD_REQUEST);
	assert_null(b);
}

/* At most TILEINDEX_MAX_CELLS cells summed over the levels. */
static void the_cells_limit_is_checked_before_allocation(void **state)
{
	struct tileindex_builder *b = NULL;
	struct dataset d = ds(14, 0, 0, 16, 16 * 16384, 16 * 8192);	/* 2^27 cells */
	char why[WHY];

	(void)state;
	assert_int_equal(16384u * 8192u, TILEINDEX_MAX_CELLS);
	assert_int_equal(tileindex_builder_new(&d, "", &b, why, sizeof(why)), AP_OK);
	tileindex_builder_free(b);
	d.height += 16;
	assert_int_equal(tileindex_builder_new(&d, "", &b, why, sizeof(why)), AP_ERR_TOO_LARGE);
	assert_non_null(strstr(why, "cells"));
	d = ds(14, 0, 1, 16, 16 * 16384, 16 * 8192);	/* + the level above */
	assert_int_equal(tileindex_builder_new(&d, "", &b, why, sizeof(why)), AP_ERR_TOO_LARGE);
	d = ds(14, 0, 30, 16, IMAGE_SIDE_MAX, IMAGE_SIDE_MAX);	/* 2^36 x 2^36 */
	assert_int_equal(tileindex_builder_new(&d, "", &b, why, sizeof(why)), AP_ERR_TOO_LARGE);
	assert_null(b);
}

/* ---- the size limit ---- */

static void the_size_limit_holds_both_ways(void **state)
{
	struct tileindex_builder *bl;
	struct tileindex *idx = NULL;
	struct pyramid p;
	unsigned char *big;
	struct buf b, c;
	char why[WHY];

	(void)state;
	pyr_init(&p, ds(15, 0, 3, 256, 3000, 3000), "");
	pyr_fill(&p, 500, FMT_ALL, 11);
	bl = pyr_builder(&p);
	buf_init(&b, TILEINDEX_MAX_BYTES);
	assert_int_equal(tileindex_builder_encode(bl, &b), AP_OK);
	/* one byte short of what it needs: refused before allocating */
	buf_init(&c, TILEINDEX_MAX_BYTES);
	assert_int_equal(encode_max(bl, &c, b.len - 1), AP_ERR_TOO_LARGE);
	assert_int_equal(c.len, 0);
	assert_null(c.data);
	assert_int_equal(encode_max(bl, &c, b.len), AP_OK);
	buf_free(&c);
	buf_init(&c, b.len - 1);	/* the caller's own ceiling is honoured too */
	assert_int_equal(tileindex_builder_encode(bl, &c), AP_ERR_TOO_LARGE);
	buf_free(&c);
	assert_int_equal(decode_max(b.data, b.len, b.len - 1, &idx, why, sizeof(why)),
			 AP_ERR_STORAGE);
	assert_null(idx);
	assert_non_null(strstr(why, "limit"));
	assert_int_equal(decode_max(b.data, b.len, b.len, &idx, why, sizeof(why)), AP_OK);
	tileindex_free(idx);
	/* past TILEINDEX_MAX_BYTES: refused before a byte is read or hashed */
	big = calloc(TILEINDEX_MAX_BYTES + 1, 1);
	assert_non_null(big);
	idx = NULL;
	assert_int_equal(tileindex_decode(big, TILEINDEX_MAX_BYTES + 1, &idx, why, sizeof(why)),
			 AP_ERR_STORAGE);
	assert_null(idx);
	assert_non_null(strstr(why, "limit"));
	free(big);
	tileindex_builder_free(bl);
	buf_free(&b);
	pyr_free(&p);
}

/* ---- the decoder ---- */

/* A small valid index of every kind of plane: the victim of corruptions. */
static void small_index(struct buf *b)
{
	struct pyramid p;

	pyr_init(&p, ds(16, 0, 3, 256, 2000, 1500), "2024-05-01T12:00:00Z");
	pyr_fill(&p, 500, 1u << FMT_JPG | 1u << FMT_WEBP, 13);
	memset(p.mask[3], 1u << FMT_JPG, p.cols[3] * p.rows[3]);
	p.mask[3][5] = 0;
	pyr_encode(&p, b);
	pyr_free(&p);
}

static void reseal(unsigned char *p, size_t n)
{
	assert_true(n >= TRAILER_LEN && sha256(p, n - TRAILER_LEN, p + n - TRAILER_LEN));
}

static void truncation_at_every_offset_is_refused(void **state)
{
	struct tileindex *idx = NULL;
	unsigned char *q;
	struct buf b;
	char why[WHY];

	(void)state;
	small_index(&b);
	for (size_t n = 0; n < b.len; n++) {
		if (decode_exact(b.data, n, &idx, why) != AP_ERR_STORAGE || idx)
			fail_msg("the first %zu of %zu bytes were accepted", n, b.len);
		assert_true(why[0] != '\0');
	}
	/* with a valid checksum over what is left, the structure still refuses */
	q = malloc(b.len);
	assert_non_null(q);
	for (size_t n = 0; n < b.len - TRAILER_LEN; n++) {
		memcpy(q, b.data, n);
		reseal(q, n + TRAILER_LEN);
		if (decode_exact(q, n + TRAILER_LEN, &idx, why) != AP_ERR_STORAGE)
			fail_msg("the first %zu bytes, resealed, were accepted", n);
	}
	free(q);
	buf_free(&b);
}

static void flipping_any_byte_is_refused(void **state)
{
	struct tileindex *idx = NULL;
	struct buf b;
	char why[WHY];

	(void)state;
	small_index(&b);
	for (size_t i = 0; i < b.len; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			b.data[i] ^= (char)(1u << bit);
			if (decode_exact(b.data, b.len, &idx, why) != AP_ERR_STORAGE)
				fail_msg("byte %zu with bit %u flipped was accepted", i, bit);
			b.data[i] ^= (char)(1u << bit);
		}
	}
	b.data[b.len - 1] ^= 0x55;
	assert_int_equal(decode_exact(b.data, b.len, &idx, why), AP_ERR_STORAGE);
	assert_non_null(strstr(why, "checksum"));
	/* magic and version are read before the checksum, to name what it is */
	b.data[4] = 2;
	assert_int_equal(decode_exact(b.data, b.len, &idx, why), AP_ERR_STORAGE);
	assert_string_equal(why, "format version 2, expected 1");
	b.data[0] = '{';
	assert_int_equal(decode_exact(b.data, b.len, &idx, why), AP_ERR_STORAGE);
	assert_string_equal(why, "not a tile index (bad magic)");
	buf_free(&b);
}

/* Mutations with a valid checksum: refused, or an index whose every answer
 * is in range; never a crash or an overread (a small fuzzer in the test). */
static void resealed_mutations_never_break_the_decoder(void **state)
{
	struct tileindex *idx;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	unsigned accepted = 0;
	struct buf b;
	char why[WHY];

	(void)state;
	small_index(&b);
	for (unsigned round = 0; round < 4000; round++) {
		unsigned char *q = malloc(b.len);
		unsigned edits = 1 + (unsigned)(rnd(&seed) % 4);

		assert_non_null(q);
		memcpy(q, b.data, b.len);
		while (edits--)
			q[rnd(&seed) % (b.len - TRAILER_LEN)] = (unsigned char)rnd(&seed);
		reseal(q, b.len);
		idx = NULL;
		if (decode_exact(q, b.len, &idx, why) == AP_OK) {
			const struct tileindex_grid *g = tileindex_grid(idx);

			accepted++;
			for (unsigned z = g->min_zoom; z <= g->max_zoom && z <= TILE_Z_MAX; z++)
				for (uint32_t y = 0; y < 8; y++)
					for (uint32_t x = 0; x < 8; x++)
						assert_int_equal(tileindex_lookup(idx, z, x, y) &
								 ~idx->formats, 0);
			tileindex_free(idx);
		}
		free(q);
	}
	print_message("%u of 4000 resealed mutations were still valid indexes\n", accepted);
	buf_free(&b);
}

/* ---- forged indexes: every check of the format, one at a time ---- */

/* A header by hand; the default describes levels 0 (2 x 2 cells) and
 * 1 (4 x 3 cells) of a 1000 x 600 image, JPEG only. */
struct hdr {
	const char *magic;
	unsigned version, formats, minz, maxz;
	uint32_t id, ts;
	uint64_t w, h;
	unsigned stamp_len;
	const char *stamp;
};

static const struct hdr HDR = {"APTI", 1, 1u << FMT_JPG, 0, 1, 17, 256, 1000, 600, 4, "2024"};

/* header + planes + a correct checksum */
static size_t forge(unsigned char *out, const struct hdr *h, const void *planes, size_t n)
{
	unsigned char *p = out;

	memcpy(p, h->magic, MAGIC_LEN);
	p += MAGIC_LEN;
	*p++ = (unsigned char)h->version;
	*p++ = (unsigned char)h->formats;
	*p++ = (unsigned char)h->minz;
	*p++ = (unsigned char)h->maxz;
	p = put_le(p, h->id, 4);
	p = put_le(p, h->ts, 4);
	p = put_le(p, h->w, 8);
	p = put_le(p, h->h, 8);
	*p++ = (unsigned char)h->stamp_len;
	memcpy(p, h->stamp, strlen(h->stamp));
	p += strlen(h->stamp);
	memcpy(p, planes, n);
	p += n;
	assert_true(sha256(out, (size_t)(p - out), p));
	return (size_t)(p - out) + TRAILER_LEN;
}

/* Decodes a forged index; expect_why NULL: it must be accepted. */
static void forged(const struct hdr *h, const void *planes, size_t n, const char *expect_why)
{
	unsigned char out[512];
	struct tileindex *idx = NULL;
	char why[WHY];
	enum ap_err e;

	assert_true(n + 100 + strlen(h->stamp) < sizeof(out));
	e = decode_exact(out, forge(out, h, planes, n), &idx, why);
	if (!expect_why && e)
		fail_msg("a valid forged index was refused: %s", why);
	if (expect_why && (e != AP_ERR_STORAGE || !strstr(why, expect_why)))
		fail_msg("expected a refusal for \"%s\", got %d (%s)", expect_why, e, why);
	tileindex_free(idx);
}

#define FORGED(h, why, ...) \
	do { \
		static const unsigned char pl_[] = {__VA_ARGS__}; \
		forged(h, pl_, sizeof(pl_), why); \
	} while (0)

/* level 0: cell 0 as a list; level 1: all 12 cells as a bitmap */
#define VALID_PLANES TI_PRESENT, 1, 0, TI_BITMAP, 0xff, 0x0f

static void a_forged_index_reads_as_written(void **state)
{
	unsigned char out[256];
	static const unsigned char pl[] = {VALID_PLANES};
	struct tileindex *idx;
	char why[WHY];

	(void)state;
	assert_int_equal(decode_exact(out, forge(out, &HDR, pl, sizeof(pl)), &idx, why), AP_OK);
	assert_string_equal(tileindex_updated_at(idx), "2024");
	assert_int_equal(tileindex_grid(idx)->dataset, 17);
	assert_int_equal(tileindex_lookup(idx, 0, 0, 0), 1u << FMT_JPG);
	assert_int_equal(tileindex_lookup(idx, 0, 1, 0), 0);
	assert_int_equal(tileindex_lookup(idx, 1, 3, 2), 1u << FMT_JPG);
	tileindex_free(idx);
	/* the other kinds of the same sets */
	FORGED(&HDR, NULL, TI_BITMAP, 0x01, TI_ABSENT, 0);
	FORGED(&HDR, NULL, TI_ABSENT, 3, 1, 1, 1,
	       TI_PRESENT, 12, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1);
}

static void forged_headers_are_refused(void **state)
{
	struct hdr h;

	(void)state;
	h = HDR, h.magic = "APTX";
	FORGED(&h, "magic", VALID_PLANES);
	h = HDR, h.version = 0;
	FORGED(&h, "version 0", VALID_PLANES);
	h = HDR, h.version = 2;
	FORGED(&h, "version 2", VALID_PLANES);
	h = HDR, h.formats = 1u << FMT__COUNT;
	FORGED(&h, "unknown formats", VALID_PLANES);
	h = HDR, h.minz = 2;
	FORGED(&h, "zoom range", VALID_PLANES);
	h = HDR, h.minz = 31, h.maxz = 31;
	FORGED(&h, "zoom range", VALID_PLANES);
	h = HDR, h.ts = TILE_SIZE_MIN - 1;
	FORGED(&h, "tile size", VALID_PLANES);
	h = HDR, h.ts = TILE_SIZE_MAX + 1;
	FORGED(&h, "tile size", VALID_PLANES);
	h = HDR, h.w = 0;
	FORGED(&h, "image size", VALID_PLANES);
	h = HDR, h.h = IMAGE_SIDE_MAX + 1;
	FORGED(&h, "image size", VALID_PLANES);
	h = HDR, h.id = DATASET_ID_MAX + 1u;
	FORGED(&h, "dataset id", VALID_PLANES);
	/* 2^36 x 2^36 cells: no overflow, a refusal */
	h = HDR, h.ts = 16, h.w = IMAGE_SIDE_MAX, h.h = IMAGE_SIDE_MAX, h.minz = 30, h.maxz = 30;
	FORGED(&h, "cells", VALID_PLANES);
	h = HDR, h.stamp_len = 9;	/* longer than what follows the header */
	FORGED(&h, "updated_at past the end", 0);
	h = HDR, h.stamp = "2024\x01", h.stamp_len = 5;
	FORGED(&h, "printable", VALID_PLANES);
	h = HDR, h.stamp = "0123456789012345678901234567890123456789012345678901234567890123X",
	h.stamp_len = 65;
	FORGED(&h, "longer than", VALID_PLANES);
}

static void forged_planes_are_refused(void **state)
{
	(void)state;
	forged(&HDR, "", 0, "level 0 jpg: missing");	/* no plane at all */
	FORGED(&HDR, "level 1 jpg: missing", TI_PRESENT, 1, 0);
	FORGED(&HDR, "unknown kind 3", 3, 1, 0, VALID_PLANES);
	FORGED(&HDR, "level 1 jpg: bitmap", TI_PRESENT, 1, 0, TI_BITMAP, 0xff);
	FORGED(&HDR, "past the last cell", TI_PRESENT, 1, 0, TI_BITMAP, 0xff, 0x1f);
	FORGED(&HDR, "past the last cell", TI_BITMAP, 0x11, TI_BITMAP, 0xff, 0x0f);
	FORGED(&HDR, "bytes after the last plane", VALID_PLANES, 0);
	/* counts: more than the cells, more than the bytes left */
	FORGED(&HDR, "5 entries for 4 cells", TI_PRESENT, 5, 0, 1, 1, 1, 1, TI_BITMAP, 0, 0);
	FORGED(&HDR, "12 entries for 12 cells in 1 bytes", TI_PRESENT, 1, 0, TI_ABSENT, 12, 0);
	FORGED(&HDR, "list length past the end", TI_PRESENT, 1, 0, TI_ABSENT, 0x80);
	/* entries: past the end, overlong, too long, repeated, outside the grid */
	FORGED(&HDR, "entry 0 past the end", TI_PRESENT, 1, 0, TI_PRESENT, 1, 0x81);
	FORGED(&HDR, "entry 0 past the end", TI_PRESENT, 1, 0x80, 0x00, TI_BITMAP, 0, 0);
	FORGED(&HDR, "entry 0 past the end", TI_PRESENT, 1, 0x80, 0x80, 0x80, 0x80, 0x00,
	       TI_BITMAP, 0, 0);
	FORGED(&HDR, "entry 1 repeats", TI_PRESENT, 2, 3, 0, TI_BITMAP, 0, 0);
	FORGED(&HDR, "cell 4 outside the 2x2 grid", TI_PRESENT, 1, 4, TI_BITMAP, 0, 0);
	FORGED(&HDR, "entry 1: cell 4 outside", TI_PRESENT, 2, 2, 2, TI_BITMAP, 0, 0);
	FORGED(&HDR, "cell 12 outside the 4x3 grid", TI_PRESENT, 1, 0, TI_ABSENT, 2, 0, 12);
	/* the largest gap a varint can carry does not wrap around */
	FORGED(&HDR, "outside", TI_PRESENT, 2, 1, 0xff, 0xff, 0xff, 0x7f, TI_BITMAP, 0, 0);
	/* the count's own varint must be in shortest form too */
	FORGED(&HDR, "list length", TI_PRESENT, 0x81, 0x00, 0, TI_BITMAP, 0, 0);
}

static void formats_without_a_plane_answer_nothing(void **state)
{
	struct hdr h = HDR;
	unsigned char out[256];
	static const unsigned char pl[] = {
		TI_ABSENT, 0, TI_PRESENT, 1, 3,			/* level 0: jpg, webp */
		TI_PRESENT, 0, TI_BITMAP, 0x08, 0x00,		/* level 1 */
	};
	struct tileindex_plane st;
	struct tileindex *idx;
	char why[WHY];

	(void)state;
	h.formats = 1u << FMT_JPG | 1u << FMT_WEBP;
	assert_int_equal(decode_exact(out, forge(out, &h, pl, sizeof(pl)), &idx, why), AP_OK);
	assert_int_equal(tileindex_lookup(idx, 0, 0, 0), 1u << FMT_JPG);
	assert_int_equal(tileindex_lookup(idx, 0, 1, 1), 1u << FMT_JPG | 1u << FMT_WEBP);
	assert_int_equal(tileindex_lookup(idx, 1, 3, 2), 0);
	assert_int_equal(tileindex_lookup(idx, 1, 3, 0), 1u << FMT_WEBP);
	assert_false(tileindex_plane(idx, 0, FMT_PNG, &st));
	assert_true(tileindex_plane(idx, 1, FMT_WEBP, &st));
	assert_int_equal(st.kind, TI_BITMAP);
	assert_int_equal(st.present, 1);
	assert_int_equal(st.bytes, 3);
	assert_true(tileindex_plane(idx, 0, FMT_JPG, &st));
	assert_int_equal(st.present, 4);
	tileindex_free(idx);
}

/* ---- describes ---- */

static void an_index_describes_only_its_own_metadata(void **state)
{
	struct dataset d = ds(18, 0, 3, 256, 2000, 1500), o;
	struct tileindex *idx;
	struct pyramid p;
	struct buf b;

	(void)state;
	pyr_init(&p, d, "2024-05-01T12:00:00Z");
	pyr_encode(&p, &b);
	idx = decode_ok(&b);
	assert_true(tileindex_describes(idx, &d, "2024-05-01T12:00:00Z"));
	assert_false(tileindex_describes(idx, &d, "2024-05-01T12:00:01Z"));
	assert_false(tileindex_describes(idx, &d, NULL));
	assert_false(tileindex_describes(idx, &d, ""));
	o = d, o.id = 19;
	assert_false(tileindex_describes(idx, &o, "2024-05-01T12:00:00Z"));
	o = d, o.min_zoom = 1;
	assert_false(tileindex_describes(idx, &o, "2024-05-01T12:00:00Z"));
	o = d, o.max_zoom = 4;
	assert_false(tileindex_describes(idx, &o, "2024-05-01T12:00:00Z"));
	o = d, o.tile_size = 512;
	assert_false(tileindex_describes(idx, &o, "2024-05-01T12:00:00Z"));
	o = d, o.width = 2001;
	assert_false(tileindex_describes(idx, &o, "2024-05-01T12:00:00Z"));
	o = d, o.height = 1499;
	assert_false(tileindex_describes(idx, &o, "2024-05-01T12:00:00Z"));
	tileindex_free(idx);
	buf_free(&b);
	pyr_free(&p);

	pyr_init(&p, d, NULL);	/* metadata without updated_at */
	pyr_encode(&p, &b);
	idx = decode_ok(&b);
	assert_string_equal(tileindex_updated_at(idx), "");
	assert_true(tileindex_describes(idx, &d, NULL));
	assert_true(tileindex_describes(idx, &d, ""));
	tileindex_free(idx);
	buf_free(&b);
	pyr_free(&p);
}

/* ---- figures for docs/tile-index.md ---- */

static void sizes_of_typical_shapes(void **state)
{
	static const struct {
		const char *what;
		unsigned minz, maxz;
		uint64_t w, h;
		unsigned permille, fmts;
	} shapes[] = {
		{"16384x8192 complete, jpg", 0, 14, 16384, 8192, 1000, 1u << FMT_JPG},
		{"16384x8192 complete, png", 0, 14, 16384, 8192, 1000, 1u << FMT_PNG},
		{"65536x65536, half holes, jpg", 0, 16, 65536, 65536, 500, 1u << FMT_JPG},
		{"65536x65536, 5 % present, jpg", 0, 16, 65536, 65536, 50, 1u << FMT_JPG},
		{"262144x131072, 1 % present, jpg", 0, 18, 262144, 131072, 10, 1u << FMT_JPG},
		{"65536x65536, mixed jpg/png", 0, 16, 65536, 65536, 1000, 3},
	};
	struct tileindex *idx;
	struct pyramid p;
	struct buf b;

	(void)state;
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		uint64_t cells = 0, tiles = 0;

		pyr_init(&p, ds(20, shapes[i].minz, shapes[i].maxz, 256, shapes[i].w, shapes[i].h),
			 "2024-05-01T12:00:00Z");
		pyr_fill(&p, shapes[i].permille, shapes[i].fmts, i + 1);
		for (unsigned l = 0; l <= shapes[i].maxz - shapes[i].minz; l++)
			for (uint64_t c = 0; c < p.cols[l] * p.rows[l]; c++, cells++)
				tiles += p.mask[l][c] != 0;
		pyr_encode(&p, &b);
		idx = decode_ok(&b);
		pyr_check(&p, idx);
		print_message("%-34s %8llu cells %8llu tiles: %7zu bytes, %7zu in memory\n",
			      shapes[i].what, (unsigned long long)cells, (unsigned long long)tiles,
			      b.len, tileindex_bytes(idx));
		/* never above one bit per cell and format, and a byte per plane */
		assert_true(b.len <= HEADER_FIXED + 64 + TRAILER_LEN +
			    (cells / 8 + 2 * (shapes[i].maxz + 1u)) *
			    (size_t)__builtin_popcount(shapes[i].fmts));
		tileindex_free(idx);
		buf_free(&b);
		pyr_free(&p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_dense_pyramid_round_trips),
		cmocka_unit_test(a_sparse_pyramid_round_trips),
		cmocka_unit_test(an_empty_index_has_no_format_and_no_tile),
		cmocka_unit_test(a_full_pyramid_costs_two_bytes_a_plane),
		cmocka_unit_test(a_single_tile_dataset_round_trips),
		cmocka_unit_test(edge_clipped_grids_follow_dataset_grid),
		cmocka_unit_test(every_format_combination_round_trips),
		cmocka_unit_test(long_lists_answer_at_every_sample_boundary),
		cmocka_unit_test(the_encoder_picks_the_smallest_encoding),
		cmocka_unit_test(a_large_sparse_level_is_smaller_than_its_bitmap),
		cmocka_unit_test(encoding_is_deterministic),
		cmocka_unit_test(encoding_appends_to_the_buffer),
		cmocka_unit_test(the_builder_refuses_what_is_outside_its_grid),
		cmocka_unit_test(the_cells_limit_is_checked_before_allocation),
		cmocka_unit_test(the_size_limit_holds_both_ways),
		cmocka_unit_test(truncation_at_every_offset_is_refused),
		cmocka_unit_test(flipping_any_byte_is_refused),
		cmocka_unit_test(resealed_mutations_never_break_the_decoder),
		cmocka_unit_test(a_forged_index_reads_as_written),
		cmocka_unit_test(forged_headers_are_refused),
		cmocka_unit_test(forged_planes_are_refused),
		cmocka_unit_test(formats_without_a_plane_answer_nothing),
		cmocka_unit_test(an_index_describes_only_its_own_metadata),
		cmocka_unit_test(sizes_of_typical_shapes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
