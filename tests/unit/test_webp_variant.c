/*
 * test_webp_variant.c - the WebP variants of issue 19 (webp_variant.h),
 * checked with the libraries directly rather than through the module:
 * lossless variants decode with libwebp to exactly the pixels worked out
 * from the PNG's samples (RGB, RGBA with RGB kept under alpha 0, gray,
 * palette, tRNS); lossy variants meet the SSIM threshold against the JPEG
 * as this test decodes it with libjpeg, at the lowest quality that does;
 * the result struct tells the truth (smaller, meets_ssim, quality, encodes);
 * 16-bit PNGs, garbage and bad options are refused with *out zeroed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jpeglib.h>
#include <webp/decode.h>
#include "imgenc.h"
#include "pngcases.h"
#include "ssim.h"
#include "webp_variant.h"

/* The test's own libjpeg decode (default error handling: trusted input). */
static unsigned char *jpeg_rgb(const struct buf *f, uint32_t w, uint32_t h)
{
	struct jpeg_decompress_struct c;
	struct jpeg_error_mgr jerr;
	unsigned char *px = malloc((size_t)w * h * 3);

	assert_non_null(px);
	c.err = jpeg_std_error(&jerr);
	jpeg_create_decompress(&c);
	jpeg_mem_src(&c, (const unsigned char *)f->data, f->len);
	assert_int_equal(jpeg_read_header(&c, TRUE), JPEG_HEADER_OK);
	c.out_color_space = JCS_RGB;
	jpeg_start_decompress(&c);
	assert_int_equal(c.output_width, w);
	assert_int_equal(c.output_height, h);
	while (c.output_scanline < h) {
		JSAMPROW row = px + (size_t)c.output_scanline * w * 3;

		jpeg_read_scanlines(&c, &row, 1);
	}
	jpeg_finish_decompress(&c);
	jpeg_destroy_decompress(&c);
	assert_int_equal(jerr.num_warnings, 0);
	return px;
}

static void make_jpeg(uint32_t w, uint32_t h, int quality, uint32_t seed, struct buf *f)
{
	unsigned char *px = imgenc_starfield(w, h, 3, seed);

	assert_non_null(px);
	buf_init(f, IMGENC_MAX_BYTES);
	assert_int_equal(imgenc_jpeg(px, w, h, 3, quality, IMGENC_BASELINE, f), AP_OK);
	free(px);
}

static void variant_of(const struct buf *f, int quality, double ssim_min, struct webp_variant *v)
{
	struct webp_opts o;

	webp_opts_default(&o);
	o.quality = quality;
	o.ssim_min = ssim_min;
	assert_int_equal(webp_variant_make(f->data, f->len, &o, v), AP_OK);
	assert_int_equal(v->orig_len, f->len);
	assert_true(v->smaller == (v->len < f->len));
	assert_true(v->encode_us >= 0);
}

static void lossless_variants_decode_to_exactly_the_png_pixels(void **state)
{
	(void)state;
	for (int k = 0; k < PC__COUNT; k++) {
		struct png_case c;
		struct webp_variant v;
		int w = 0, h = 0;
		uint8_t *back;

		if (k == PC_RGBA16)
			continue;	/* refused: see sixteen_bit_png_gets_no_variant */
		assert_int_equal(png_case_make(k, 61, 45, 0, &c), 0);
		variant_of(&c.file, WEBP_QUALITY_SEARCH, WEBP_SSIM_MIN_DEFAULT, &v);
		assert_true(v.lossless);
		assert_int_equal(v.from, IMG_PNG);
		assert_int_equal(v.quality, -1);
		assert_true(v.ssim == 1.0 && v.meets_ssim);
		assert_int_equal(v.encodes, 1);
		/* level-0 (stored) PNGs: every lossless variant is smaller */
		assert_true(v.smaller);
		back = WebPDecodeRGBA(v.data, v.len, &w, &h);
		assert_non_null(back);
		assert_int_equal(w, 61);
		assert_int_equal(h, 45);
		for (size_t i = 0; i < (size_t)61 * 45; i++) {
			const unsigned char *want = c.want + i * c.channels;

			if (memcmp(back + i * 4, want, 3) != 0 ||
			    back[i * 4 + 3] != (c.channels == 4 ? want[3] : 255))
				fail_msg("%s: pixel %zu differs", c.name, i);
		}
		WebPFree(back);
		webp_variant_free(&v);
		png_case_free(&c);
	}
}

static void rgb_under_transparent_pixels_is_kept(void **state)
{
	struct png_case c;
	struct webp_variant v;
	uint8_t *back;
	int w, h, hidden = 0;

	(void)state;
	assert_int_equal(png_case_make(PC_RGBA8, 64, 8, 9, &c), 0);
	for (size_t i = 0; i < (size_t)64 * 8; i++)
		hidden += c.want[i * 4 + 3] == 0 && (c.want[i * 4] | c.want[i * 4 + 1]) != 0;
	assert_true(hidden > 0);	/* the fixture has colour behind alpha 0 */
	variant_of(&c.file, WEBP_QUALITY_SEARCH, WEBP_SSIM_MIN_DEFAULT, &v);
	back = WebPDecodeRGBA(v.data, v.len, &w, &h);
	assert_non_null(back);
	assert_memory_equal(back, c.want, (size_t)64 * 8 * 4);
	WebPFree(back);
	webp_variant_free(&v);
	png_case_free(&c);
}

static void lossy_variant_meets_the_threshold_at_the_lowest_quality(void **state)
{
	static const double thresholds[] = {WEBP_SSIM_MIN_DEFAULT, 0.95, 0.99};

	(void)state;
	for (size_t t = 0; t < sizeof(thresholds) / sizeof(thresholds[0]); t++) {
		struct buf f;
		struct webp_variant v, lower;
		unsigned char *ref, *back;
		int w, h;
		double s;

		make_jpeg(128, 96, 90, (uint32_t)t + 20, &f);
		variant_of(&f, WEBP_QUALITY_SEARCH, thresholds[t], &v);
		print_message("ssim >= %.3f: quality %d, ssim %.5f, %zu -> %zu bytes, %d encodes\n",
			      thresholds[t], v.quality, v.ssim, f.len, v.len, v.encodes);
		assert_false(v.lossless);
		assert_int_equal(v.from, IMG_JPEG);
		assert_true(v.meets_ssim);
		assert_in_range(v.quality, WEBP_QUALITY_MIN, WEBP_QUALITY_MAX);
		assert_in_range(v.encodes, 1, 8);
		/* measured here: the test's JPEG decode against libwebp's */
		ref = jpeg_rgb(&f, 128, 96);
		back = WebPDecodeRGB(v.data, v.len, &w, &h);
		assert_non_null(back);
		assert_int_equal(ssim_compute(ref, back, 128, 96, 128 * 3, 3, SSIM_LUMA, &s), AP_OK);
		assert_true(s >= thresholds[t]);
		assert_float_equal(s, v.ssim, 1e-12);
		/* one quality lower misses it: the search found the lowest */
		if (v.quality > WEBP_QUALITY_MIN) {
			variant_of(&f, v.quality - 1, thresholds[t], &lower);
			assert_int_equal(lower.quality, v.quality - 1);
			assert_true(lower.ssim < thresholds[t]);
			assert_false(lower.meets_ssim);
			webp_variant_free(&lower);
		}
		WebPFree(back);
		free(ref);
		webp_variant_free(&v);
		buf_free(&f);
	}
}

static void fixed_quality_is_one_encode_and_still_measured(void **state)
{
	struct buf f;
	struct webp_variant v;

	(void)state;
	make_jpeg(64, 64, 90, 3, &f);
	variant_of(&f, 90, WEBP_SSIM_MIN_DEFAULT, &v);
	assert_int_equal(v.quality, 90);
	assert_int_equal(v.encodes, 1);
	assert_true(v.ssim > 0.5 && v.ssim < 1.0);
	assert_true(v.meets_ssim == (v.ssim >= WEBP_SSIM_MIN_DEFAULT));
	webp_variant_free(&v);
	buf_free(&f);
}

/* SSIM 1 cannot be reached lossy: the best quality is returned, flagged. */
static void unreachable_threshold_is_reported_not_hidden(void **state)
{
	struct buf f;
	struct webp_variant v;

	(void)state;
	make_jpeg(48, 48, 95, 8, &f);
	variant_of(&f, WEBP_QUALITY_SEARCH, 1.0, &v);
	assert_int_equal(v.quality, WEBP_QUALITY_MAX);
	assert_false(v.meets_ssim);
	assert_true(v.ssim < 1.0);
	assert_non_null(v.data);
	webp_variant_free(&v);
	buf_free(&f);
}

/* A heavily compressed JPEG is smaller than any WebP that keeps its blocks. */
static void variant_larger_than_the_original_says_so(void **state)
{
	struct buf f;
	struct webp_variant v;

	(void)state;
	make_jpeg(64, 64, 5, 4, &f);
	variant_of(&f, 100, WEBP_SSIM_MIN_DEFAULT, &v);
	assert_true(v.len >= f.len);
	assert_false(v.smaller);
	webp_variant_free(&v);
	buf_free(&f);
}

/* The uploader skips a variant already uploaded and unchanged: the same
 * file and options must give the same bytes, run after run. */
static void variants_are_deterministic(void **state)
{
	struct buf f;
	struct png_case c;
	struct webp_variant v1, v2;

	(void)state;
	make_jpeg(96, 64, 85, 6, &f);
	variant_of(&f, WEBP_QUALITY_SEARCH, WEBP_SSIM_MIN_DEFAULT, &v1);
	variant_of(&f, WEBP_QUALITY_SEARCH, WEBP_SSIM_MIN_DEFAULT, &v2);
	assert_int_equal(v1.len, v2.len);
	assert_memory_equal(v1.data, v2.data, v1.len);
	webp_variant_free(&v1);
	webp_variant_free(&v2);
	buf_free(&f);
	assert_int_equal(png_case_make(PC_RGB8, 40, 40, 6, &c), 0);
	variant_of(&c.file, WEBP_QUALITY_SEARCH, WEBP_SSIM_MIN_DEFAULT, &v1);
	variant_of(&c.file, WEBP_QUALITY_SEARCH, WEBP_SSIM_MIN_DEFAULT, &v2);
	assert_int_equal(v1.len, v2.len);
	assert_memory_equal(v1.data, v2.data, v1.len);
	webp_variant_free(&v1);
	webp_variant_free(&v2);
	png_case_free(&c);
}

static void assert_refused(const void *p, size_t n, const struct webp_opts *o, enum ap_err want)
{
	struct webp_variant v;

	assert_int_equal(webp_variant_make(p, n, o, &v), want);
	assert_null(v.data);
	assert_int_equal(v.len, 0);
	webp_variant_free(&v);
}

static void sixteen_bit_png_gets_no_variant(void **state)
{
	struct png_case c;
	struct webp_opts o;

	(void)state;
	webp_opts_default(&o);
	assert_int_equal(png_case_make(PC_RGBA16, 16, 16, 6, &c), 0);
	assert_refused(c.file.data, c.file.len, &o, AP_ERR_BAD_REQUEST);
	png_case_free(&c);
}

static void garbage_truncation_and_bad_options_are_refused(void **state)
{
	struct buf f;
	struct webp_opts o;

	(void)state;
	webp_opts_default(&o);
	make_jpeg(32, 32, 80, 1, &f);
	assert_refused("not an image", 12, &o, AP_ERR_BAD_REQUEST);
	assert_refused(f.data, f.len / 2, &o, AP_ERR_BAD_REQUEST);
	assert_refused(f.data, f.len - 1, &o, AP_ERR_BAD_REQUEST);
	o.ssim_min = 0;
	assert_refused(f.data, f.len, &o, AP_ERR_BAD_REQUEST);
	o.ssim_min = 1.5;
	assert_refused(f.data, f.len, &o, AP_ERR_BAD_REQUEST);
	webp_opts_default(&o);
	o.quality = 101;
	assert_refused(f.data, f.len, &o, AP_ERR_BAD_REQUEST);
	webp_opts_default(&o);
	o.method = 7;
	assert_refused(f.data, f.len, &o, AP_ERR_BAD_REQUEST);
	webp_opts_default(&o);
	o.lossless_level = 10;
	assert_refused(f.data, f.len, &o, AP_ERR_BAD_REQUEST);
	buf_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lossless_variants_decode_to_exactly_the_png_pixels),
		cmocka_unit_test(rgb_under_transparent_pixels_is_kept),
		cmocka_unit_test(lossy_variant_meets_the_threshold_at_the_lowest_quality),
		cmocka_unit_test(fixed_quality_is_one_encode_and_still_measured),
		cmocka_unit_test(unreachable_threshold_is_reported_not_hidden),
		cmocka_unit_test(variant_larger_than_the_original_says_so),
		cmocka_unit_test(variants_are_deterministic),
		cmocka_unit_test(sixteen_bit_png_gets_no_variant),
		cmocka_unit_test(garbage_truncation_and_bad_options_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
