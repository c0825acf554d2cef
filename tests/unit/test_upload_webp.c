/*
 * test_upload_webp.c - what astropixel-sync relies on to tell its WebP
 * variants from hand-made ones and to skip work on a second run
 * (src/upload_webp.c, #included to reach its static functions):
 *  - the ownership mark: added to a variant, found again with the same
 *    payload, absent from an unmarked file and from garbage; the marked
 *    file decodes to the same pixels and stays a valid WebP;
 *  - the mark's payload: the source MD5, the options that shape the bytes
 *    (for a PNG, not the JPEG options; for a JPEG, quality mode, threshold
 *    and method);
 *  - the memo of refusals: exact lines only, sorted for lookup, ignored
 *    whole if one line is off or it was made with other options.
 * The end-to-end behaviour (files, bucket, threads) is
 * tests/integration/sync-index.sh's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <webp/decode.h>
#include "../../src/upload_webp.c"
#include "imgenc.h"

static void opts(struct webp_opts *o)
{
	webp_opts_default(o);
}

/* A small PNG's lossless variant (unmarked), into v. */
static void make_variant(struct webp_variant *v, unsigned char **px_out)
{
	struct png_spec s = {.width = 32, .height = 24, .color_type = PNG_COLOR_TYPE_RGB,
			     .bit_depth = 8, .rowbytes = 32 * 3, .level = 9};
	unsigned char *px = imgenc_starfield(32, 24, 3, 7);
	struct webp_opts o;
	struct buf png;

	assert_non_null(px);
	s.rows = px;
	buf_init(&png, IMGENC_MAX_BYTES);
	assert_int_equal(imgenc_png(&s, &png), AP_OK);
	opts(&o);
	assert_int_equal(webp_variant_make(png.data, png.len, &o, v), AP_OK);
	buf_free(&png);
	*px_out = px;
}

static void test_mark_round_trip(void **state)
{
	unsigned char payload[UPLOAD_WEBP_MARK_BYTES], back[UPLOAD_WEBP_MARK_BYTES];
	unsigned char md5[UPLOAD_MD5_RAW], *px, *dec;
	struct webp_variant v;
	struct webp_opts o;
	WebPData marked;
	int w, h;

	(void)state;
	make_variant(&v, &px);
	for (int i = 0; i < UPLOAD_MD5_RAW; i++)
		md5[i] = (unsigned char)(i * 17 + 3);
	opts(&o);
	mark_payload(FMT_PNG, md5, &o, payload);
	assert_false(read_mark(v.data, v.len, back));	/* unmarked: not ours */
	assert_int_equal(mark(v.data, v.len, payload, &marked), AP_OK);
	assert_true(read_mark(marked.bytes, marked.size, back));
	assert_memory_equal(back, payload, sizeof(payload));
	/* one chunk and the extended header: the 50 bytes the docs name */
	assert_int_equal(marked.size, v.len + 8 + UPLOAD_WEBP_MARK_BYTES + 18);
	dec = WebPDecodeRGB(marked.bytes, marked.size, &w, &h);
	assert_non_null(dec);
	assert_int_equal(w, 32);
	assert_int_equal(h, 24);
	assert_memory_equal(dec, px, 32 * 24 * 3);	/* the pixels are untouched */
	WebPFree(dec);
	WebPDataClear(&marked);
	webp_variant_free(&v);
	free(px);
}

static void test_mark_not_found_in_garbage(void **state)
{
	unsigned char junk[256], back[UPLOAD_WEBP_MARK_BYTES];
	WebPData out;

	(void)state;
	memset(back, 0, sizeof(back));
	memset(junk, 0x41, sizeof(junk));
	memcpy(junk, "RIFF\xf8\0\0\0WEBPAPSY\x18\0\0\0\x01", 21);	/* a mark, but no image */
	assert_false(read_mark(junk, sizeof(junk), back));
	assert_false(read_mark(junk, 0, back));
	assert_int_equal(mark(junk, sizeof(junk), back, &out), AP_ERR_INTERNAL);
}

static void test_payload_options(void **state)
{
	unsigned char md5[UPLOAD_MD5_RAW] = {1, 2, 3}, a[UPLOAD_WEBP_MARK_BYTES],
		      b[UPLOAD_WEBP_MARK_BYTES];
	struct webp_opts o, p;

	(void)state;
	opts(&o);
	p = o;
	p.ssim_min = 0.99;
	p.quality = 80;
	p.method = 6;
	mark_payload(FMT_PNG, md5, &o, a);
	mark_payload(FMT_PNG, md5, &p, b);
	assert_memory_equal(a, b, sizeof(a));	/* lossless: the JPEG options do not matter */
	assert_memory_equal(a + 8, md5, UPLOAD_MD5_RAW);
	p = o;
	p.lossless_level = 9;
	mark_payload(FMT_PNG, md5, &p, b);
	assert_memory_not_equal(a, b, sizeof(a));
	mark_payload(FMT_JPG, md5, &o, a);
	p = o;
	p.ssim_min = 0.99;
	mark_payload(FMT_JPG, md5, &p, b);
	assert_memory_not_equal(a, b, sizeof(a));	/* the threshold decides what is kept */
	p = o;
	p.quality = 80;
	mark_payload(FMT_JPG, md5, &p, b);
	assert_memory_not_equal(a, b, sizeof(a));
	p = o;
	p.lossless_level = 9;
	mark_payload(FMT_JPG, md5, &p, b);
	assert_memory_equal(a, b, sizeof(a));	/* lossy: the lossless level does not matter */
	md5[0] ^= 1;
	mark_payload(FMT_JPG, md5, &o, b);
	assert_memory_not_equal(a, b, sizeof(a));
}

#define HEX32 "00112233445566778899aabbccddeeff"

static void test_memo_line(void **state)
{
	static const char *const bad[] = {
		"10/3/2.jpg " HEX32,			/* no reason */
		"10/3/2.jpg " HEX32 " ",		/* empty reason */
		"10/3/2.jpg " HEX32 " not-smaller ",	/* trailing blank */
		"10/3/2.jpg " HEX32 " bigger",		/* unknown reason */
		"10/3/2.jpg 00112233445566778899AABBCCDDEEFF not-smaller",	/* upper case */
		"10/3/2.jpg 00112233445566778899aabbccddeef not-smaller",	/* 31 digits */
		"10/03/2.jpg " HEX32 " not-smaller",	/* leading zero */
		"10/3/2.gif " HEX32 " not-smaller",	/* not a tile */
		"10/3/2.jpg  " HEX32 " not-smaller",	/* two blanks */
		"",
	};
	struct memo_entry e;

	(void)state;
	assert_true(memo_line("10/3/2.jpg " HEX32 " not-smaller",
			      strlen("10/3/2.jpg " HEX32 " not-smaller"), &e));
	assert_string_equal(e.spec, "10/3/2.jpg");
	assert_int_equal(e.why, O_NOT_SMALLER);
	assert_int_equal(e.md5[0], 0x00);
	assert_int_equal(e.md5[15], 0xff);
	assert_true(memo_line("0/0/0.png " HEX32 " below-ssim", strlen("0/0/0.png " HEX32
									" below-ssim"), &e));
	assert_int_equal(e.why, O_BELOW_SSIM);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(memo_line(bad[i], strlen(bad[i]), &e));
}

static void test_memo_parse(void **state)
{
	char good[] = "options s9800 q0 m4 l6\n"
		      "9/1/0.jpg " HEX32 " unreadable\n"
		      "10/0/0.png " HEX32 " not-smaller\n";
	char other[] = "options s9900 q0 m4 l6\n"
		       "10/0/0.png " HEX32 " not-smaller\n";
	char broken[] = "options s9800 q0 m4 l6\n"
			"10/0/0.png " HEX32 " not-smaller\n"
			"junk\n";
	char cut[] = "options s9800 q0 m4 l6\n"
		     "10/0/0.png " HEX32 " not-smaller";	/* no final newline */
	struct memo m = {0};

	(void)state;
	assert_true(memo_parse(&m, good, strlen(good), "s9800 q0 m4 l6"));
	assert_int_equal(m.n, 2);
	assert_string_equal(m.e[0].spec, "10/0/0.png");	/* sorted for bsearch */
	assert_non_null(memo_find(&m, "9/1/0.jpg"));
	assert_null(memo_find(&m, "9/1/1.jpg"));
	free(m.e);
	memset(&m, 0, sizeof(m));
	assert_false(memo_parse(&m, other, strlen(other), "s9800 q0 m4 l6"));
	free(m.e);
	memset(&m, 0, sizeof(m));
	assert_false(memo_parse(&m, broken, strlen(broken), "s9800 q0 m4 l6"));
	free(m.e);
	memset(&m, 0, sizeof(m));
	assert_false(memo_parse(&m, cut, strlen(cut), "s9800 q0 m4 l6"));
	free(m.e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mark_round_trip),
		cmocka_unit_test(test_mark_not_found_in_garbage),
		cmocka_unit_test(test_payload_options),
		cmocka_unit_test(test_memo_line),
		cmocka_unit_test(test_memo_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
