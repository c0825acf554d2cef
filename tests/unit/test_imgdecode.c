/*
 * test_imgdecode.c - JPEG and PNG decoding (imgdecode.h): every PNG colour
 * type expands to the pixels worked out from its samples, JPEGs decode to
 * RGB close to what was encoded, and nothing that is not a whole, valid
 * file decodes: garbage, every truncation, corrupted bytes, too-large
 * dimensions (refused before allocating) and too many bytes. Leaks on the
 * longjmp paths are caught by LeakSanitizer in the sanitizer build.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "imgdecode.h"
#include "imgenc.h"
#include "pngcases.h"

static void sniffs_by_magic_bytes_only(void **state)
{
	static const unsigned char jpg[] = {0xff, 0xd8, 0xff, 0xe0};
	static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

	(void)state;
	assert_int_equal(img_sniff(jpg, sizeof(jpg)), IMG_JPEG);
	assert_int_equal(img_sniff(png, sizeof(png)), IMG_PNG);
	assert_int_equal(img_sniff(png, sizeof(png) - 1), IMG_UNKNOWN);
	assert_int_equal(img_sniff(jpg, 2), IMG_UNKNOWN);
	assert_int_equal(img_sniff("GIF89a", 6), IMG_UNKNOWN);
	assert_int_equal(img_sniff("", 0), IMG_UNKNOWN);
}

static void every_png_colour_type_expands_to_its_samples(void **state)
{
	(void)state;
	for (int k = 0; k < PC__COUNT; k++) {
		struct png_case c;
		struct img im;

		assert_int_equal(png_case_make(k, 37, 23, 6, &c), 0);
		assert_int_equal(img_decode(c.file.data, c.file.len, &im), AP_OK);
		assert_int_equal(im.format, IMG_PNG);
		assert_int_equal(im.width, 37);
		assert_int_equal(im.height, 23);
		assert_int_equal(im.channels, c.channels);
		assert_int_equal(im.stride, 37 * c.channels);
		assert_int_equal(im.bit_depth, c.bit_depth == 16 ? 16 : 8);
		if (memcmp(im.px, c.want, (size_t)37 * 23 * c.channels) != 0)
			fail_msg("%s: decoded pixels differ from the samples written", c.name);
		img_free(&im);
		png_case_free(&c);
	}
}

static void jpeg_decodes_to_rgb_near_the_encoded_pixels(void **state)
{
	unsigned char *px = imgenc_starfield(64, 48, 3, 7);
	struct buf f;
	struct img im;
	double err = 0;

	(void)state;
	assert_non_null(px);
	for (int progressive = 0; progressive <= 1; progressive++) {
		buf_init(&f, IMGENC_MAX_BYTES);
		assert_int_equal(imgenc_jpeg(px, 64, 48, 3, 95,
					     progressive ? IMGENC_PROGRESSIVE : IMGENC_BASELINE, &f),
				 AP_OK);
		assert_int_equal(img_decode(f.data, f.len, &im), AP_OK);
		assert_int_equal(im.format, IMG_JPEG);
		assert_int_equal(im.channels, 3);
		assert_int_equal(im.width, 64);
		assert_int_equal(im.height, 48);
		err = 0;
		for (size_t i = 0; i < (size_t)64 * 48 * 3; i++)
			err += abs((int)im.px[i] - (int)px[i]);
		/* quality 95: mean absolute error of a few levels at most */
		assert_true(err / (64 * 48 * 3) < 4.0);
		img_free(&im);
		buf_free(&f);
	}
	free(px);
}

static void gray_jpeg_is_replicated_to_rgb(void **state)
{
	unsigned char *rgb = imgenc_starfield(16, 16, 3, 3), g[256];
	struct buf f;
	struct img im;

	(void)state;
	assert_non_null(rgb);
	for (int i = 0; i < 256; i++)
		g[i] = rgb[i * 3];
	buf_init(&f, IMGENC_MAX_BYTES);
	assert_int_equal(imgenc_jpeg(g, 16, 16, 1, 90, IMGENC_BASELINE, &f), AP_OK);
	assert_int_equal(img_decode(f.data, f.len, &im), AP_OK);
	assert_int_equal(im.channels, 3);
	for (int i = 0; i < 256; i++) {
		assert_int_equal(im.px[i * 3], im.px[i * 3 + 1]);
		assert_int_equal(im.px[i * 3], im.px[i * 3 + 2]);
	}
	img_free(&im);
	buf_free(&f);
	free(rgb);
}

static void make_jpeg(struct buf *f)
{
	unsigned char *px = imgenc_starfield(40, 24, 3, 11);

	assert_non_null(px);
	buf_init(f, IMGENC_MAX_BYTES);
	assert_int_equal(imgenc_jpeg(px, 40, 24, 3, 85, IMGENC_BASELINE, f), AP_OK);
	free(px);
}

/* A failed decode leaves *out zeroed, so img_free on it is harmless. */
static void assert_refused(const void *p, size_t n, enum ap_err want)
{
	struct img im;

	assert_int_equal(img_decode(p, n, &im), want);
	assert_null(im.px);
	assert_int_equal(im.width, 0);
	img_free(&im);
}

static void every_truncation_is_refused(void **state)
{
	struct buf j;
	struct png_case c;

	(void)state;
	make_jpeg(&j);
	assert_int_equal(png_case_make(PC_RGBA8, 40, 24, 9, &c), 0);
	for (size_t n = 0; n < j.len; n++)
		assert_refused(j.data, n, AP_ERR_BAD_REQUEST);
	for (size_t n = 0; n < c.file.len; n++)
		assert_refused(c.file.data, n, AP_ERR_BAD_REQUEST);
	buf_free(&j);
	png_case_free(&c);
}

static void garbage_is_refused(void **state)
{
	unsigned char g[4096];
	uint32_t s = 12345;

	(void)state;
	for (size_t i = 0; i < sizeof(g); i++) {
		s = s * 1103515245u + 12345u;
		g[i] = (unsigned char)(s >> 16);
	}
	assert_refused(g, sizeof(g), AP_ERR_BAD_REQUEST);
	/* right magic, garbage after it */
	memcpy(g, "\xff\xd8\xff", 3);
	assert_refused(g, sizeof(g), AP_ERR_BAD_REQUEST);
	memcpy(g, "\x89PNG\r\n\x1a\n", 8);
	assert_refused(g, sizeof(g), AP_ERR_BAD_REQUEST);
	assert_refused("", 0, AP_ERR_BAD_REQUEST);
}

/* Bytes flipped anywhere: decoded or refused, never a crash, a leak or
 * another error; what decodes has the file's dimensions. */
static void corrupted_files_decode_or_are_refused(void **state)
{
	struct buf j;
	struct png_case c;
	uint32_t s = 99;

	(void)state;
	make_jpeg(&j);
	assert_int_equal(png_case_make(PC_PALETTE8, 40, 24, 9, &c), 0);
	for (int round = 0; round < 400; round++) {
		struct buf *f = round % 2 ? &j : &c.file;
		unsigned char *copy = malloc(f->len);
		struct img im;
		enum ap_err e;

		assert_non_null(copy);
		memcpy(copy, f->data, f->len);
		for (int k = 0; k < 1 + round % 4; k++) {
			s = s * 1664525u + 1013904223u;
			copy[(s >> 8) % f->len] ^= (unsigned char)(1u << (s % 8));
		}
		e = img_decode(copy, f->len, &im);
		assert_true(e == AP_OK || e == AP_ERR_BAD_REQUEST || e == AP_ERR_TOO_LARGE);
		if (e == AP_OK)
			assert_true(im.width * im.height > 0 && im.px != NULL);
		img_free(&im);
		free(copy);
	}
	buf_free(&j);
	png_case_free(&c);
}

/* The SOF0 frame header of a baseline JPEG: FFC0, length, precision, H, W. */
static void set_jpeg_dims(struct buf *f, unsigned w, unsigned h)
{
	unsigned char *p = (unsigned char *)f->data;

	for (size_t i = 0; i + 9 < f->len; i++)
		if (p[i] == 0xff && p[i + 1] == 0xc0) {
			p[i + 5] = (unsigned char)(h >> 8);
			p[i + 6] = (unsigned char)h;
			p[i + 7] = (unsigned char)(w >> 8);
			p[i + 8] = (unsigned char)w;
			return;
		}
	fail_msg("no SOF0 marker");
}

static void too_large_dimensions_are_refused_before_decoding(void **state)
{
	struct buf j;
	struct png_case c;

	(void)state;
	make_jpeg(&j);
	set_jpeg_dims(&j, 65000, 65000);
	assert_refused(j.data, j.len, AP_ERR_TOO_LARGE);
	set_jpeg_dims(&j, IMG_MAX_SIDE + 1, 8);
	assert_refused(j.data, j.len, AP_ERR_TOO_LARGE);
	set_jpeg_dims(&j, 2049, 2048);	/* each side allowed, the area not */
	assert_refused(j.data, j.len, AP_ERR_TOO_LARGE);
	buf_free(&j);
	/* real PNGs at and over the limits (1-bit gray: small files) */
	assert_int_equal(png_case_make(PC_GRAY1, IMG_MAX_SIDE + 1, 1, 9, &c), 0);
	assert_refused(c.file.data, c.file.len, AP_ERR_TOO_LARGE);
	png_case_free(&c);
	assert_int_equal(png_case_make(PC_GRAY1, 2048, 2049, 9, &c), 0);
	assert_refused(c.file.data, c.file.len, AP_ERR_TOO_LARGE);
	png_case_free(&c);
	assert_int_equal(png_case_make(PC_GRAY1, IMG_MAX_SIDE, 1, 9, &c), 0);
	{
		struct img im;

		assert_int_equal(img_decode(c.file.data, c.file.len, &im), AP_OK);
		assert_int_equal(im.width, IMG_MAX_SIDE);
		img_free(&im);
	}
	png_case_free(&c);
}

/* Each scan is a pass over the coefficients: a valid file of 190 scans
 * costs 19 times a normal progressive one, so it is refused. */
static void progressive_jpeg_with_too_many_scans_is_refused(void **state)
{
	unsigned char *px = imgenc_starfield(32, 32, 3, 5), g[32 * 32];
	struct buf f;

	(void)state;
	assert_non_null(px);
	buf_init(&f, IMGENC_MAX_BYTES);
	assert_int_equal(imgenc_jpeg(px, 32, 32, 3, 90, IMGENC_SCAN_PER_COEF, &f), AP_OK);
	assert_refused(f.data, f.len, AP_ERR_BAD_REQUEST);
	assert_true(3 * 63 + 1 > IMG_JPEG_MAX_SCANS);
	buf_free(&f);
	/* gray: 1 + 63 scans, under the limit, decodes */
	for (int i = 0; i < 32 * 32; i++)
		g[i] = px[i * 3];
	buf_init(&f, IMGENC_MAX_BYTES);
	assert_int_equal(imgenc_jpeg(g, 32, 32, 1, 90, IMGENC_SCAN_PER_COEF, &f), AP_OK);
	{
		struct img im;

		assert_int_equal(img_decode(f.data, f.len, &im), AP_OK);
		assert_int_equal(im.width, 32);
		img_free(&im);
	}
	buf_free(&f);
	free(px);
}

static void too_many_bytes_are_refused_unread(void **state)
{
	/* all zero: were it read, it would be garbage (BAD_REQUEST) */
	unsigned char *p = calloc(1, IMG_MAX_INPUT_BYTES + 1);

	(void)state;
	assert_non_null(p);
	memcpy(p, "\xff\xd8\xff", 3);
	assert_refused(p, IMG_MAX_INPUT_BYTES + 1, AP_ERR_TOO_LARGE);
	assert_refused(p, IMG_MAX_INPUT_BYTES, AP_ERR_BAD_REQUEST);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sniffs_by_magic_bytes_only),
		cmocka_unit_test(every_png_colour_type_expands_to_its_samples),
		cmocka_unit_test(jpeg_decodes_to_rgb_near_the_encoded_pixels),
		cmocka_unit_test(gray_jpeg_is_replicated_to_rgb),
		cmocka_unit_test(every_truncation_is_refused),
		cmocka_unit_test(garbage_is_refused),
		cmocka_unit_test(corrupted_files_decode_or_are_refused),
		cmocka_unit_test(too_large_dimensions_are_refused_before_decoding),
		cmocka_unit_test(progressive_jpeg_with_too_many_scans_is_refused),
		cmocka_unit_test(too_many_bytes_are_refused_unread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
