/*
 * test_ssim.c - SSIM (ssim.h): exactly 1 for identical images of any size,
 * exactly symmetric, below 1 and falling as noise grows, the closed form on
 * flat images, alpha and row padding ignored, arguments checked.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "imgenc.h"
#include "ssim.h"

#define C1 (0.01 * 255 * 0.01 * 255)

/* a copy of px with noise of amplitude amp on every channel (alpha kept) */
static unsigned char *noisy(const unsigned char *px, size_t n, unsigned ch, int amp, uint32_t s)
{
	unsigned char *q = malloc(n * ch);

	assert_non_null(q);
	for (size_t i = 0; i < n * ch; i++) {
		int v = px[i];

		s = s * 1664525u + 1013904223u;
		if (i % ch != 3)
			v += (int)((s >> 8) % (2u * (unsigned)amp + 1)) - amp;
		q[i] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
	}
	return q;
}

static double ssim_of(const unsigned char *a, const unsigned char *b, uint32_t w, uint32_t h,
		      unsigned ch, enum ssim_mode m)
{
	double v = -2;

	assert_int_equal(ssim_compute(a, b, w, h, w * ch, ch, m, &v), AP_OK);
	return v;
}

static void identical_images_give_exactly_one_at_any_size(void **state)
{
	static const uint32_t sizes[][2] = {{1, 1}, {1, 9}, {7, 3}, {11, 11}, {12, 40}, {256, 256}};

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint32_t w = sizes[i][0], h = sizes[i][1];
		unsigned char *a = imgenc_starfield(w, h, 4, (uint32_t)i);

		assert_non_null(a);
		assert_true(ssim_of(a, a, w, h, 4, SSIM_LUMA) == 1.0);
		assert_true(ssim_of(a, a, w, h, 4, SSIM_RGB_MEAN) == 1.0);
		free(a);
	}
}

static void noise_lowers_ssim_and_more_noise_lowers_it_more(void **state)
{
	unsigned char *a = imgenc_starfield(96, 64, 3, 5);
	double prev = 1.0;

	(void)state;
	assert_non_null(a);
	for (int amp = 1; amp <= 32; amp *= 2) {
		unsigned char *b = noisy(a, 96 * 64, 3, amp, 77);
		double l = ssim_of(a, b, 96, 64, 3, SSIM_LUMA);
		double c = ssim_of(a, b, 96, 64, 3, SSIM_RGB_MEAN);

		print_message("noise +-%d: luma %.4f rgb %.4f\n", amp, l, c);
		assert_true(l < prev);
		assert_true(l > -1.0 && c > -1.0 && c < 1.0);
		prev = l;
		free(b);
	}
	assert_true(prev < 0.6);	/* +-32 on a dark sky: hardly similar */
	free(a);
}

static void ssim_is_exactly_symmetric(void **state)
{
	unsigned char *a = imgenc_starfield(50, 33, 4, 9), *b;

	(void)state;
	assert_non_null(a);
	b = noisy(a, 50 * 33, 4, 6, 3);
	assert_true(ssim_of(a, b, 50, 33, 4, SSIM_LUMA) == ssim_of(b, a, 50, 33, 4, SSIM_LUMA));
	assert_true(ssim_of(a, b, 50, 33, 4, SSIM_RGB_MEAN) ==
		    ssim_of(b, a, 50, 33, 4, SSIM_RGB_MEAN));
	free(a);
	free(b);
}

/* Flat images: no variance, so SSIM is the luminance term alone. */
static void flat_images_follow_the_closed_form(void **state)
{
	unsigned char a[20 * 10 * 3], b[20 * 10 * 3];
	double want = (2.0 * 100 * 110 + C1) / (100.0 * 100 + 110.0 * 110 + C1);

	(void)state;
	memset(a, 100, sizeof(a));
	memset(b, 110, sizeof(b));
	assert_float_equal(ssim_of(a, b, 20, 10, 3, SSIM_LUMA), want, 1e-9);
	assert_float_equal(ssim_of(a, b, 20, 10, 3, SSIM_RGB_MEAN), want, 1e-9);
}

static void alpha_and_row_padding_are_ignored(void **state)
{
	enum { W = 30, H = 20, STRIDE = W * 4 + 5 };
	unsigned char *a = imgenc_starfield(W, H, 4, 2), *pa = malloc(STRIDE * H),
		      *pb = malloc(STRIDE * H);
	double v;

	(void)state;
	assert_non_null(a);
	assert_non_null(pa);
	assert_non_null(pb);
	for (int y = 0; y < H; y++) {
		memcpy(pa + y * STRIDE, a + y * W * 4, W * 4);
		memcpy(pb + y * STRIDE, a + y * W * 4, W * 4);
		memset(pa + y * STRIDE + W * 4, 0, 5);
		memset(pb + y * STRIDE + W * 4, 255, 5);
		for (int x = 0; x < W; x++)
			pb[y * STRIDE + x * 4 + 3] ^= 0x5a;
	}
	assert_int_equal(ssim_compute(pa, pb, W, H, STRIDE, 4, SSIM_LUMA, &v), AP_OK);
	assert_true(v == 1.0);
	assert_int_equal(ssim_compute(pa, pb, W, H, STRIDE, 4, SSIM_RGB_MEAN, &v), AP_OK);
	assert_true(v == 1.0);
	free(a);
	free(pa);
	free(pb);
}

/* Red up and blue down by amounts that cancel in luma: a chroma change
 * SSIM_LUMA hardly sees and SSIM_RGB_MEAN does. */
static void rgb_mean_sees_chroma_that_luma_does_not(void **state)
{
	unsigned char *a = imgenc_starfield(64, 64, 3, 4), *b = malloc(64 * 64 * 3);

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	for (int i = 0; i < 64 * 64; i++) {
		int s = i % 2 ? 1 : -1;

		for (int c = 0; c < 3; c++)
			a[i * 3 + c] = (unsigned char)(100 + a[i * 3 + c] / 4);
		b[i * 3] = (unsigned char)(a[i * 3] + 8 * s);
		b[i * 3 + 1] = a[i * 3 + 1];
		b[i * 3 + 2] = (unsigned char)(a[i * 3 + 2] - 21 * s);
	}
	assert_true(ssim_of(a, b, 64, 64, 3, SSIM_LUMA) > 0.999);
	assert_true(ssim_of(a, b, 64, 64, 3, SSIM_RGB_MEAN) < 0.99);
	free(a);
	free(b);
}

static void bad_arguments_are_refused(void **state)
{
	unsigned char px[16 * 3] = {0};
	double v = 5;

	(void)state;
	assert_int_equal(ssim_compute(px, px, 0, 1, 3, 3, SSIM_LUMA, &v), AP_ERR_BAD_REQUEST);
	assert_true(v == 0);
	assert_int_equal(ssim_compute(px, px, 1, 0, 3, 3, SSIM_LUMA, &v), AP_ERR_BAD_REQUEST);
	assert_int_equal(ssim_compute(px, px, 4, 4, 12, 2, SSIM_LUMA, &v), AP_ERR_BAD_REQUEST);
	assert_int_equal(ssim_compute(px, px, 4, 4, 11, 3, SSIM_LUMA, &v), AP_ERR_BAD_REQUEST);
	assert_int_equal(ssim_compute(px, px, SSIM_MAX_WIDTH + 1, 1, 3 * (SSIM_MAX_WIDTH + 1), 3,
				      SSIM_LUMA, &v), AP_ERR_TOO_LARGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(identical_images_give_exactly_one_at_any_size),
		cmocka_unit_test(noise_lowers_ssim_and_more_noise_lowers_it_more),
		cmocka_unit_test(ssim_is_exactly_symmetric),
		cmocka_unit_test(flat_images_follow_the_closed_form),
		cmocka_unit_test(alpha_and_row_padding_are_ignored),
		cmocka_unit_test(rgb_mean_sees_chroma_that_luma_does_not),
		cmocka_unit_test(bad_arguments_are_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
