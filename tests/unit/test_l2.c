/*
 * test_l2.c - the shared tier's value layout (l2.h): what is encoded
 * decodes to the same bytes, and a value that is truncated, padded, of
 * another tile (format, dataset, z, x or y), another layout version, garbage
 * or claims too much is refused (it is never served).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include "l2.h"
#include "buf.h"
#include "cache.h"
#include "hex.h"

static const unsigned char JPEG[] = {0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5, 0xff, 0xd9};

/* The ETag of SPEC: a quoted hex SHA-256 prefix; the value stores its 16 bytes. */
static void etag_of(const void *p, size_t n, char hexout[2 * L2_HASH_BYTES + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	assert_true(EVP_Digest(p, n, md, &len, EVP_sha256(), NULL));
	hex_encode(md, L2_HASH_BYTES, hexout);
}

static struct tilekey key(enum tile_fmt f)
{
	struct tilekey k = {.dataset = 42, .x = 1000, .y = 77, .z = 12, .fmt = (uint8_t)f};

	return k;
}

static void encoded(struct buf *b, enum tile_fmt f, const void *p, size_t n)
{
	char h[2 * L2_HASH_BYTES + 1];
	struct tilekey k = key(f);

	etag_of(p, n, h);
	buf_init(b, TILE_MAX_BYTES + L2_HEADER_LEN);
	assert_int_equal(l2_value_encode(&k, p, n, h, b), AP_OK);
}

static enum ap_err decode_as(const struct buf *b, size_t len, struct tilekey k)
{
	const void *d = NULL;
	size_t n = 0;
	enum ap_err e = l2_value_decode(b->data, len, &k, &d, &n);

	if (e)
		assert_null(d);
	return e;
}

static void round_trip(void **state)
{
	struct buf b;
	const void *d;
	size_t n;

	(void)state;
	encoded(&b, FMT_JPG, JPEG, sizeof(JPEG));
	assert_int_equal(b.len, L2_HEADER_LEN + sizeof(JPEG));
	assert_memory_equal(b.data, L2_VALUE_MAGIC, 4);
	assert_int_equal(l2_value_decode(b.data, b.len, &(struct tilekey){.dataset = 42, .x = 1000,
				.y = 77, .z = 12, .fmt = FMT_JPG}, &d, &n), AP_OK);
	assert_int_equal(n, sizeof(JPEG));
	assert_memory_equal(d, JPEG, n);
	buf_free(&b);
	encoded(&b, FMT_PNG, "", 0);	/* an empty tile is still a value */
	assert_int_equal(l2_value_decode(b.data, b.len, &(struct tilekey){.dataset = 42, .x = 1000,
				.y = 77, .z = 12, .fmt = FMT_PNG}, &d, &n), AP_OK);
	assert_int_equal(n, 0);
	buf_free(&b);
}

static void expect_refused(const struct buf *b, size_t len, enum tile_fmt f)
{
	assert_int_equal(decode_as(b, len, key(f)), AP_ERR_STORAGE);
}

static void another_tiles_value_refused(void **state)
{
	struct buf b;
	struct tilekey k;

	(void)state;
	encoded(&b, FMT_JPG, JPEG, sizeof(JPEG));
	assert_int_equal(decode_as(&b, b.len, key(FMT_JPG)), AP_OK);
	expect_refused(&b, b.len, FMT_PNG);		/* another format's value */
	k = key(FMT_JPG), k.dataset++;
	assert_int_equal(decode_as(&b, b.len, k), AP_ERR_STORAGE);
	k = key(FMT_JPG), k.z--;
	assert_int_equal(decode_as(&b, b.len, k), AP_ERR_STORAGE);
	k = key(FMT_JPG), k.x ^= 1u << 20;
	assert_int_equal(decode_as(&b, b.len, k), AP_ERR_STORAGE);
	k = key(FMT_JPG), k.y++;
	assert_int_equal(decode_as(&b, b.len, k), AP_ERR_STORAGE);
	buf_free(&b);
}

/* Flips one bit at off: refused; flips it back: accepted again. */
static void bit_refused(struct buf *b, size_t off, unsigned char bit)
{
	unsigned char *p = (unsigned char *)b->data;

	p[off] ^= bit;
	expect_refused(b, b->len, FMT_JPG);
	p[off] ^= bit;
	assert_int_equal(decode_as(b, b->len, key(FMT_JPG)), AP_OK);
}

static void damaged_values_refused(void **state)
{
	struct buf b;

	(void)state;
	encoded(&b, FMT_JPG, JPEG, sizeof(JPEG));
	expect_refused(&b, b.len - 1, FMT_JPG);		/* truncated */
	expect_refused(&b, L2_HEADER_LEN - 1, FMT_JPG);	/* not even a header */
	expect_refused(&b, 0, FMT_JPG);
	assert_int_equal(buf_add(&b, "x", 1), AP_OK);	/* padded */
	expect_refused(&b, b.len, FMT_JPG);
	b.len--;
	for (size_t off = 0; off < b.len; off++)	/* any bit of header or bytes */
		bit_refused(&b, off, (unsigned char)(1u << (off % 8)));
	assert_int_equal(l2_value_decode(NULL, 40, &(struct tilekey){0}, &(const void *){NULL},
					 &(size_t){0}), AP_ERR_STORAGE);
	buf_free(&b);
}

static void oversize_refused_before_hashing(void **state)
{
	struct buf big;
	static unsigned char huge[TILE_MAX_BYTES + 1];

	(void)state;
	/* a value longer than a tile may be, whatever its header says */
	buf_init(&big, sizeof(huge) + L2_HEADER_LEN);
	encoded(&big, FMT_JPG, JPEG, sizeof(JPEG));
	big.max = sizeof(huge) + L2_HEADER_LEN;
	assert_int_equal(buf_add(&big, huge, sizeof(huge) - sizeof(JPEG)), AP_OK);
	expect_refused(&big, big.len, FMT_JPG);
	buf_free(&big);
}

static void encode_refuses_what_is_no_tile(void **state)
{
	struct buf b;
	char h[2 * L2_HASH_BYTES + 1];

	(void)state;
	struct tilekey bad = key(FMT_JPG), k = key(FMT_JPG);

	etag_of(JPEG, sizeof(JPEG), h);
	buf_init(&b, 64);
	bad.fmt = FMT__COUNT;
	assert_int_equal(l2_value_encode(&bad, JPEG, sizeof(JPEG), h, &b), AP_ERR_INTERNAL);
	assert_int_equal(l2_value_encode(&k, JPEG, TILE_MAX_BYTES + 1, h, &b), AP_ERR_INTERNAL);
	h[5] = 'g';
	assert_int_equal(l2_value_encode(&k, JPEG, sizeof(JPEG), h, &b), AP_ERR_INTERNAL);
	h[5] = '\0';					/* a short hash */
	assert_int_equal(l2_value_encode(&k, JPEG, sizeof(JPEG), h, &b), AP_ERR_INTERNAL);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(another_tiles_value_refused),
		cmocka_unit_test(damaged_values_refused),
		cmocka_unit_test(oversize_refused_before_hashing),
		cmocka_unit_test(encode_refuses_what_is_no_tile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
