/*
 * test_base64.c - RFC 4648 vectors, exact output lengths, and the strictness
 * of the base64url decoder (one canonical spelling per byte string).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "base64.h"

/* RFC 4648 section 10. */
static const struct {
	const char *in, *std, *url;
} rfc4648[] = {
	{"", "", ""},
	{"f", "Zg==", "Zg"},
	{"fo", "Zm8=", "Zm8"},
	{"foo", "Zm9v", "Zm9v"},
	{"foob", "Zm9vYg==", "Zm9vYg"},
	{"fooba", "Zm9vYmE=", "Zm9vYmE"},
	{"foobar", "Zm9vYmFy", "Zm9vYmFy"},
};
#define NVEC (sizeof(rfc4648) / sizeof(rfc4648[0]))

static void standard_encoding_matches_rfc4648_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < NVEC; i++) {
		char out[16];
		size_t n = strlen(rfc4648[i].in);

		memset(out, '#', sizeof(out));
		b64_encode((const unsigned char *)rfc4648[i].in, n, out);
		assert_int_equal(b64_encoded_len(n), strlen(rfc4648[i].std));
		assert_memory_equal(out, rfc4648[i].std, strlen(rfc4648[i].std));
		/* exactly b64_encoded_len chars, no terminator */
		assert_int_equal(out[b64_encoded_len(n)], '#');
	}
}

static void url_encoding_matches_rfc4648_vectors_without_padding(void **state)
{
	(void)state;
	for (size_t i = 0; i < NVEC; i++) {
		char out[16];
		size_t n = strlen(rfc4648[i].in);

		memset(out, '#', sizeof(out));
		b64url_encode((const unsigned char *)rfc4648[i].in, n, out);
		assert_int_equal(b64url_encoded_len(n), strlen(rfc4648[i].url));
		assert_memory_equal(out, rfc4648[i].url, strlen(rfc4648[i].url));
		assert_int_equal(out[b64url_encoded_len(n)], '#');
	}
}

static void url_decoding_inverts_rfc4648_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < NVEC; i++) {
		unsigned char out[16];
		size_t outlen = 99, n = strlen(rfc4648[i].url);

		assert_int_equal(b64url_decode(rfc4648[i].url, n, out, sizeof(out), &outlen), AP_OK);
		assert_int_equal(outlen, strlen(rfc4648[i].in));
		assert_int_equal(b64url_decoded_len(n), outlen);
		assert_memory_equal(out, rfc4648[i].in, outlen);
	}
}

static void lengths_0_to_5(void **state)
{
	static const size_t std[] = {0, 4, 4, 4, 8, 8};
	static const size_t url[] = {0, 2, 3, 4, 6, 7};

	(void)state;
	for (size_t n = 0; n <= 5; n++) {
		assert_int_equal(b64_encoded_len(n), std[n]);
		assert_int_equal(b64url_encoded_len(n), url[n]);
		assert_int_equal(b64url_decoded_len(url[n]), n);
	}
}

static void lengths_saturate_instead_of_wrapping(void **state)
{
	(void)state;
	assert_int_equal(b64_encoded_len(SIZE_MAX), SIZE_MAX);
	assert_int_equal(b64url_encoded_len(SIZE_MAX), SIZE_MAX);
	assert_int_equal(b64_encoded_len(SIZE_MAX / 4 * 3), SIZE_MAX / 4 * 4);
}

static void alphabets_differ_only_in_chars_62_and_63(void **state)
{
	static const unsigned char in[] = {0xfb, 0xff, 0xbf};	/* 62 63 62 63 */
	char std[4], url[4];
	unsigned char back[3];
	size_t n;

	(void)state;
	b64_encode(in, 3, std);
	b64url_encode(in, 3, url);
	assert_memory_equal(std, "+/+/", 4);
	assert_memory_equal(url, "-_-_", 4);
	assert_int_equal(b64url_decode(url, 4, back, sizeof(back), &n), AP_OK);
	assert_int_equal(n, 3);
	assert_memory_equal(back, in, 3);
}

static void every_byte_value_round_trips_at_every_tail_length(void **state)
{
	unsigned char in[258], back[258];
	char enc[400];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 7 + 3);
	for (size_t len = 256; len <= 258; len++) {
		b64url_encode(in, len, enc);
		assert_int_equal(b64url_decode(enc, b64url_encoded_len(len), back,
					       sizeof(back), &n), AP_OK);
		assert_int_equal(n, len);
		assert_memory_equal(back, in, len);
	}
}

static void url_decode_refuses_every_char_outside_the_url_alphabet(void **state)
{
	(void)state;
	for (int c = 0; c < 256; c++) {
		char in[4] = {'A', 'A', 'A', (char)c};
		unsigned char out[3];
		size_t n;
		int valid = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '_';

		assert_int_equal(b64url_decode(in, 4, out, sizeof(out), &n),
				 valid ? AP_OK : AP_ERR_BAD_REQUEST);
	}
}

static void url_decode_refuses_padding_and_impossible_lengths(void **state)
{
	unsigned char out[16];
	size_t n;

	(void)state;
	/* padding is not part of base64url as JWT uses it */
	assert_int_equal(b64url_decode("Zg==", 4, out, sizeof(out), &n), AP_ERR_BAD_REQUEST);
	assert_int_equal(b64url_decode("Zm8=", 4, out, sizeof(out), &n), AP_ERR_BAD_REQUEST);
	/* a single char in the last group cannot carry a whole byte */
	assert_int_equal(b64url_decode("Z", 1, out, sizeof(out), &n), AP_ERR_BAD_REQUEST);
	assert_int_equal(b64url_decode("Zm9vY", 5, out, sizeof(out), &n), AP_ERR_BAD_REQUEST);
	/* the standard alphabet's own chars are foreign here */
	assert_int_equal(b64url_decode("+/+/", 4, out, sizeof(out), &n), AP_ERR_BAD_REQUEST);
	/* whitespace and NUL are never skipped */
	assert_int_equal(b64url_decode("Zm 9v", 5, out, sizeof(out), &n), AP_ERR_BAD_REQUEST);
	assert_int_equal(b64url_decode("Zm\0v", 4, out, sizeof(out), &n), AP_ERR_BAD_REQUEST);
}

static void url_decode_refuses_non_canonical_trailing_bits(void **state)
{
	unsigned char out[16];
	size_t n;

	(void)state;
	/* "Zg" is "f"; "Zh".."Zv" would decode to "f" too with stray low bits */
	assert_int_equal(b64url_decode("Zg", 2, out, sizeof(out), &n), AP_OK);
	assert_int_equal(b64url_decode("Zh", 2, out, sizeof(out), &n), AP_ERR_BAD_REQUEST);
	assert_int_equal(b64url_decode("Zv", 2, out, sizeof(out), &n), AP_ERR_BAD_REQUEST);
	/* "Zm8" is "fo"; "Zm9" has the 2 unused bits set */
	assert_int_equal(b64url_decode("Zm8", 3, out, sizeof(out), &n), AP_OK);
	assert_int_equal(b64url_decode("Zm9", 3, out, sizeof(out), &n), AP_ERR_BAD_REQUEST);
}

static void url_decode_output_is_bounded(void **state)
{
	unsigned char out[8];
	size_t n = 77;

	(void)state;
	memset(out, 0xaa, sizeof(out));
	/* "foobar" needs 6 bytes: 5 is refused before anything is written */
	assert_int_equal(b64url_decode("Zm9vYmFy", 8, out, 5, &n), AP_ERR_TOO_LARGE);
	assert_int_equal(out[0], 0xaa);
	assert_int_equal(n, 77);
	assert_int_equal(b64url_decode("Zm9vYmFy", 8, out, 6, &n), AP_OK);
	assert_int_equal(n, 6);
	/* empty text decodes to nothing, even with no room at all */
	assert_int_equal(b64url_decode("", 0, NULL, 0, &n), AP_OK);
	assert_int_equal(n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(standard_encoding_matches_rfc4648_vectors),
		cmocka_unit_test(url_encoding_matches_rfc4648_vectors_without_padding),
		cmocka_unit_test(url_decoding_inverts_rfc4648_vectors),
		cmocka_unit_test(lengths_0_to_5),
		cmocka_unit_test(lengths_saturate_instead_of_wrapping),
		cmocka_unit_test(alphabets_differ_only_in_chars_62_and_63),
		cmocka_unit_test(every_byte_value_round_trips_at_every_tail_length),
		cmocka_unit_test(url_decode_refuses_every_char_outside_the_url_alphabet),
		cmocka_unit_test(url_decode_refuses_padding_and_impossible_lengths),
		cmocka_unit_test(url_decode_refuses_non_canonical_trailing_bits),
		cmocka_unit_test(url_decode_output_is_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
