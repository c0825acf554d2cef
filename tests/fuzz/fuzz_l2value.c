/*
 * fuzz_l2value.c - the values of the shared tier read from Redis
 * (l2_value_decode, l2.h): anything in Redis may have been written by
 * another version, another product sharing the instance, or an attacker
 * with access to it, and must never be served as a tile unless it is one.
 *
 * Input: 14 bytes of the key asked for (dataset, x, y little endian, z,
 * format), a mode byte, then:
 *   mode even: the value as Redis returned it;
 *   mode odd:  2 bytes of position and 1 byte of mask, then tile bytes: the
 *              harness encodes them under the key (l2_value_encode), flips
 *              the masked bits at the position, and decodes.
 *
 * Oracle: a raw value is accepted exactly when a reference written here
 * from l2.h's layout accepts it (magic, version, format, z, reserved 0,
 * dataset, x, y, length = what follows, SHA-256 prefix of what follows),
 * and then points at those bytes. An encoded value decodes to its bytes
 * under its key, is refused under a neighbour key, and is refused after
 * any bit flip (every byte of a value is checked).
 */
#include <openssl/evp.h>
#include "fuzz.h"
#include "buf.h"
#include "hex.h"
#include "l2.h"

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void sha256(const uint8_t *p, size_t n, unsigned char md[32])
{
	unsigned int l = 0;

	if (!EVP_Digest(p, n, md, &l, EVP_sha256(), NULL) || l != 32)
		abort();
}

static int ref_ok(const uint8_t *v, size_t n, const struct tilekey *k)
{
	unsigned char md[32];

	if (n < L2_HEADER_LEN || n - L2_HEADER_LEN > TILE_MAX_BYTES)
		return 0;
	if (memcmp(v, L2_VALUE_MAGIC, 4) || v[4] != L2_VALUE_VERSION || v[5] != k->fmt ||
	    v[6] != k->z || v[7] != 0 || get32(v + 8) != k->dataset || get32(v + 12) != k->x ||
	    get32(v + 16) != k->y || get32(v + 20) != n - L2_HEADER_LEN)
		return 0;
	sha256(v + L2_HEADER_LEN, n - L2_HEADER_LEN, md);
	return memcmp(md, v + 24, L2_HASH_BYTES) == 0;
}

static void raw(const uint8_t *v, size_t n, const struct tilekey *k)
{
	uint8_t *copy = malloc(n ? n : 1);	/* exactly n bytes: ASan sees over-reads */
	const void *d = NULL;
	size_t l = 0;
	int ok;

	if (!copy)
		abort();
	memcpy(copy, v, n);
	ok = l2_value_decode(copy, n, k, &d, &l) == AP_OK;
	FUZZ_CHECK(ok == ref_ok(copy, n, k), "decode says %d", ok);
	if (ok)
		FUZZ_CHECK(d == copy + L2_HEADER_LEN && l == n - L2_HEADER_LEN, "points elsewhere");
	free(copy);
}

static void encoded(const uint8_t *in, size_t n, struct tilekey k)
{
	unsigned char md[32];
	char etag[2 * L2_HASH_BYTES + 1];
	struct tilekey other = k;
	struct buf b;
	const void *d = NULL;
	size_t l = 0, pos;
	uint8_t mask;

	if (n < 3)
		return;
	pos = (size_t)in[0] | (size_t)in[1] << 8;
	mask = in[2];
	in += 3;
	n -= 3;
	k.fmt %= FMT__COUNT;
	sha256(in, n, md);
	hex_encode(md, L2_HASH_BYTES, etag);
	buf_init(&b, L2_HEADER_LEN + n);
	FUZZ_CHECK(l2_value_encode(&k, in, n, etag, &b) == AP_OK && b.len == L2_HEADER_LEN + n,
		   "encode of %zu bytes", n);
	FUZZ_CHECK(l2_value_decode(b.data, b.len, &k, &d, &l) == AP_OK && l == n &&
			   (n == 0 || memcmp(d, in, n) == 0),
		   "a value does not decode to its bytes");
	other.x ^= 1u << (pos % 32);
	FUZZ_CHECK(l2_value_decode(b.data, b.len, &other, &d, &l) != AP_OK,
		   "accepted under another key");
	((uint8_t *)b.data)[pos % b.len] ^= mask;
	FUZZ_CHECK((l2_value_decode(b.data, b.len, &k, &d, &l) == AP_OK) == (mask == 0),
		   "flip %02x at %zu: decode disagrees", mask, pos % b.len);
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tilekey k;

	if (size < 15)
		return 0;
	k.dataset = get32(data);
	k.x = get32(data + 4);
	k.y = get32(data + 8);
	k.z = data[12];
	k.fmt = data[13];
	if (data[14] & 1)
		encoded(data + 15, size - 15, k);
	else
		raw(data + 15, size - 15, &k);
	return 0;
}
