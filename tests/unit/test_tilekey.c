/*
 * test_tilekey.c - the tile grammar of tilekey.h: plain decimal numbers,
 * z <= 30, x and y < 2^30, four extensions; fallback order, magic numbers
 * and storage keys (SPEC sections 2 and 3.1).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "tilekey.h"

static enum ap_err spec(const char *s, struct tilekey *k)
{
	return tk_parse_spec(s, strlen(s), k);
}

static enum ap_err num(const char *s, uint32_t max, uint32_t *out)
{
	return tk_parse_uint(s, strlen(s), max, out);
}

static void plain_decimal_numbers_are_accepted(void **state)
{
	uint32_t v = 99;

	(void)state;
	assert_int_equal(num("0", 10, &v), AP_OK);
	assert_int_equal(v, 0);
	assert_int_equal(num("7", 10, &v), AP_OK);
	assert_int_equal(v, 7);
	assert_int_equal(num("10", 10, &v), AP_OK);
	assert_int_equal(v, 10);
	assert_int_equal(num("4294967295", UINT32_MAX, &v), AP_OK);
	assert_int_equal(v, UINT32_MAX);
}

static void signs_spaces_leading_zeros_and_overflow_are_refused(void **state)
{
	static const char *const bad[] = {
		"", "+1", "-1", " 1", "1 ", "01", "00", "0x1", "1e3", "1.0", "١",
		"4294967296", "99999999999", "18446744073709551617", "00000000001",
	};
	uint32_t v = 1234;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (num(bad[i], UINT32_MAX, &v) != AP_ERR_BAD_REQUEST)
			fail_msg("'%s' must be refused", bad[i]);
		assert_int_equal(v, 1234);	/* untouched on failure */
	}
	assert_int_equal(num("11", 10, &v), AP_ERR_BAD_REQUEST);	/* over max */
}

static void only_the_given_length_is_read(void **state)
{
	uint32_t v = 0;

	(void)state;
	assert_int_equal(tk_parse_uint("12abc", 2, 100, &v), AP_OK);
	assert_int_equal(v, 12);
	assert_int_equal(tk_parse_uint("12abc", 3, 100, &v), AP_ERR_BAD_REQUEST);
}

static void the_four_extensions_are_known_and_jpeg_is_jpg(void **state)
{
	enum tile_fmt f = FMT__COUNT;

	(void)state;
	assert_int_equal(tk_parse_ext("jpg", 3, &f), AP_OK);
	assert_int_equal(f, FMT_JPG);
	f = FMT__COUNT;
	assert_int_equal(tk_parse_ext("jpeg", 4, &f), AP_OK);
	assert_int_equal(f, FMT_JPG);
	assert_int_equal(tk_parse_ext("png", 3, &f), AP_OK);
	assert_int_equal(f, FMT_PNG);
	assert_int_equal(tk_parse_ext("webp", 4, &f), AP_OK);
	assert_int_equal(f, FMT_WEBP);
}

static void unknown_or_differently_spelled_extensions_are_refused(void **state)
{
	static const char *const bad[] = {"", "gif", "JPG", "Jpeg", "jp", "jpgx", "png ",
					  "tif", "webP", "jpg.", ".jpg"};
	enum tile_fmt f;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (tk_parse_ext(bad[i], strlen(bad[i]), &f) != AP_ERR_BAD_REQUEST)
			fail_msg("extension '%s' must be refused", bad[i]);
}

static void a_spec_is_z_x_y_dot_ext(void **state)
{
	struct tilekey k;

	(void)state;
	memset(&k, 0, sizeof(k));
	k.dataset = 77;
	assert_int_equal(spec("3/5/6.png", &k), AP_OK);
	assert_int_equal(k.z, 3);
	assert_int_equal(k.x, 5);
	assert_int_equal(k.y, 6);
	assert_int_equal(k.fmt, FMT_PNG);
	assert_int_equal(k.dataset, 77);	/* untouched */

	assert_int_equal(spec("30/1073741823/1073741823.webp", &k), AP_OK);
	assert_int_equal(k.z, 30);
	assert_int_equal(k.x, TILE_COORD_MAX);
	assert_int_equal(k.y, TILE_COORD_MAX);
	assert_int_equal(k.fmt, FMT_WEBP);

	assert_int_equal(spec("0/0/0.jpeg", &k), AP_OK);
	assert_int_equal(k.fmt, FMT_JPG);
}

static void z_31_and_coordinates_from_2_pow_30_are_refused(void **state)
{
	struct tilekey k;

	(void)state;
	assert_int_equal(spec("30/0/0.jpg", &k), AP_OK);
	assert_int_equal(spec("31/0/0.jpg", &k), AP_ERR_BAD_REQUEST);
	assert_int_equal(spec("255/0/0.jpg", &k), AP_ERR_BAD_REQUEST);
	assert_int_equal(spec("256/0/0.jpg", &k), AP_ERR_BAD_REQUEST);	/* not z = 0 */
	assert_int_equal(spec("0/1073741824/0.jpg", &k), AP_ERR_BAD_REQUEST);
	assert_int_equal(spec("0/0/1073741824.jpg", &k), AP_ERR_BAD_REQUEST);
	assert_int_equal(spec("0/4294967296/0.jpg", &k), AP_ERR_BAD_REQUEST);
}

static void malformed_specs_are_refused(void **state)
{
	static const char *const bad[] = {
		"", "0", "0/0", "0/0/0", "0/0/0.", "0/0.jpg", "0/0/0/0.jpg", "/0/0/0.jpg",
		"0//0/0.jpg", "0/0/0.jpg/", "0/0/0.jpg.jpg", "0/0/0..jpg", "0/0/.jpg",
		"0/0/0.JPG", "0/0/0.gif", "01/0/0.jpg", "0/00/0.jpg", "0/0/01.jpg",
		"+1/0/0.jpg", "-1/0/0.jpg", "0/-0/0.jpg", "0/0/0 .jpg", " 0/0/0.jpg",
		"0/0/0.jpg ", "a/0/0.jpg", "0\\0\\0.jpg", "../0/0.jpg", "0/../0.jpg",
		"0/0/0.jpg%00", "0/0/0.j%70g", "9/99999999999/0.jpg",
		"30/1073741823/1073741823.webpX", /* 30 bytes, and wrong */
		"000000000000000000000000000000/0/0.jpg", /* over TILE_SPEC_MAX */
	};
	struct tilekey k;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (spec(bad[i], &k) != AP_ERR_BAD_REQUEST)
			fail_msg("spec '%s' must be refused", bad[i]);
}

static void a_spec_is_parsed_to_its_exact_length(void **state)
{
	const char *s = "1/2/3.jpgXYZ";
	struct tilekey k;

	(void)state;
	assert_int_equal(tk_parse_spec(s, 9, &k), AP_OK);
	assert_int_equal(k.fmt, FMT_JPG);
	assert_int_equal(tk_parse_spec(s, 10, &k), AP_ERR_BAD_REQUEST);
	assert_int_equal(tk_parse_spec("1/2/3.jpg", 8, &k), AP_ERR_BAD_REQUEST);	/* "jp" */
	assert_int_equal(tk_parse_spec("1/2/3.jpg", 0, &k), AP_ERR_BAD_REQUEST);
}

static void spec_and_object_key_round_trip(void **state)
{
	static const struct {
		const char *spec, *key;
	} v[] = {
		{"0/0/0.jpg", "tiles/42/0/0/0.jpg"},
		{"0/0/0.jpeg", "tiles/42/0/0/0.jpg"},	/* one object for both spellings */
		{"10/2/1.png", "tiles/42/10/2/1.png"},
		{"14/63/31.webp", "tiles/42/14/63/31.webp"},
		{"30/1073741823/1073741823.webp", "tiles/42/30/1073741823/1073741823.webp"},
	};
	struct tilekey k;
	char key[64];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		memset(&k, 0, sizeof(k));
		k.dataset = 42;
		assert_int_equal(spec(v[i].spec, &k), AP_OK);
		tk_object_key(&k, key, sizeof(key));
		assert_string_equal(key, v[i].key);
		/* and back: the key minus "tiles/42/" parses to the same tile */
		{
			struct tilekey k2;
			memset(&k2, 0, sizeof(k2));
			k2.dataset = 42;
			assert_int_equal(spec(key + strlen("tiles/42/"), &k2), AP_OK);
			assert_memory_equal(&k, &k2, sizeof(k));
		}
	}
}

static void object_key_of_the_largest_tile_fits_in_64_bytes(void **state)
{
	struct tilekey k = {.dataset = DATASET_ID_MAX, .z = TILE_Z_MAX, .x = TILE_COORD_MAX,
			    .y = TILE_COORD_MAX, .fmt = FMT_WEBP};
	char key[64];

	(void)state;
	tk_object_key(&k, key, sizeof(key));
	assert_string_equal(key, "tiles/2147483647/30/1073741823/1073741823.webp");
}

static void fallback_is_requested_first_then_jpg_png_webp(void **state)
{
	static const enum tile_fmt want[FMT__COUNT][FMT__COUNT] = {
		[FMT_JPG] = {FMT_JPG, FMT_PNG, FMT_WEBP},
		[FMT_PNG] = {FMT_PNG, FMT_JPG, FMT_WEBP},
		[FMT_WEBP] = {FMT_WEBP, FMT_JPG, FMT_PNG},
	};
	enum tile_fmt out[FMT__COUNT];

	(void)state;
	for (int f = 0; f < FMT__COUNT; f++) {
		memset(out, 0xff, sizeof(out));
		tk_fallback_order((enum tile_fmt)f, out);
		for (int i = 0; i < FMT__COUNT; i++)
			if (out[i] != want[f][i])
				fail_msg("fallback for %s: position %d is %d, want %d",
					 tk_fmt_ext((enum tile_fmt)f), i, (int)out[i], (int)want[f][i]);
	}
}

static void extensions_and_mime_types_of_formats(void **state)
{
	(void)state;
	assert_string_equal(tk_fmt_ext(FMT_JPG), "jpg");
	assert_string_equal(tk_fmt_ext(FMT_PNG), "png");
	assert_string_equal(tk_fmt_ext(FMT_WEBP), "webp");
	assert_string_equal(tk_fmt_mime(FMT_JPG), "image/jpeg");
	assert_string_equal(tk_fmt_mime(FMT_PNG), "image/png");
	assert_string_equal(tk_fmt_mime(FMT_WEBP), "image/webp");
}

static void sniff_recognises_jpeg_png_and_webp_magic(void **state)
{
	static const unsigned char jpg[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F'};
	static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0};
	static const unsigned char webp[] = {'R', 'I', 'F', 'F', 0x24, 0, 0, 0,
					     'W', 'E', 'B', 'P', 'V', 'P', '8', ' '};

	(void)state;
	assert_int_equal(tk_sniff(jpg, sizeof(jpg)), FMT_JPG);
	assert_int_equal(tk_sniff(jpg, 3), FMT_JPG);
	assert_int_equal(tk_sniff(png, sizeof(png)), FMT_PNG);
	assert_int_equal(tk_sniff(png, 8), FMT_PNG);
	assert_int_equal(tk_sniff(webp, sizeof(webp)), FMT_WEBP);
	assert_int_equal(tk_sniff(webp, 12), FMT_WEBP);
}

static void sniff_refuses_truncated_or_foreign_bytes(void **state)
{
	static const unsigned char jpg[] = {0xFF, 0xD8, 0xFF};
	static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
	static const unsigned char webp[] = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'E', 'B', 'P'};
	static const unsigned char wav[] = {'R', 'I', 'F', 'F', 0, 0, 0, 0, 'W', 'A', 'V', 'E'};
	static const unsigned char gif[] = {'G', 'I', 'F', '8', '9', 'a'};
	static const unsigned char png_bad[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, 0};

	(void)state;
	assert_int_equal(tk_sniff(jpg, 2), -1);
	assert_int_equal(tk_sniff(png, 7), -1);
	assert_int_equal(tk_sniff(webp, 11), -1);
	assert_int_equal(tk_sniff(wav, sizeof(wav)), -1);
	assert_int_equal(tk_sniff(gif, sizeof(gif)), -1);
	assert_int_equal(tk_sniff(png_bad, sizeof(png_bad)), -1);
	assert_int_equal(tk_sniff((const unsigned char *)"", 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_decimal_numbers_are_accepted),
		cmocka_unit_test(signs_spaces_leading_zeros_and_overflow_are_refused),
		cmocka_unit_test(only_the_given_length_is_read),
		cmocka_unit_test(the_four_extensions_are_known_and_jpeg_is_jpg),
		cmocka_unit_test(unknown_or_differently_spelled_extensions_are_refused),
		cmocka_unit_test(a_spec_is_z_x_y_dot_ext),
		cmocka_unit_test(z_31_and_coordinates_from_2_pow_30_are_refused),
		cmocka_unit_test(malformed_specs_are_refused),
		cmocka_unit_test(a_spec_is_parsed_to_its_exact_length),
		cmocka_unit_test(spec_and_object_key_round_trip),
		cmocka_unit_test(object_key_of_the_largest_tile_fits_in_64_bytes),
		cmocka_unit_test(fallback_is_requested_first_then_jpg_png_webp),
		cmocka_unit_test(extensions_and_mime_types_of_formats),
		cmocka_unit_test(sniff_recognises_jpeg_png_and_webp_magic),
		cmocka_unit_test(sniff_refuses_truncated_or_foreign_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
