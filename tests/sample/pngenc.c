/*
 * pngenc.c - PNG writer with stored deflate blocks (see pngenc.h).
 *
 * Layout: signature, IHDR (8-bit truecolour, no interlace), one IDAT holding
 * the zlib stream "78 01, stored blocks of at most 65535 bytes, Adler-32",
 * IEND. The size of the whole file is known in advance, so it is allocated
 * once and filled front to back.
 */
#include "pngenc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define STORED_MAX 65535u

static uint32_t crc_table[256];
static int crc_ready;

static void crc_init(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[n] = c;
	}
	crc_ready = 1;
}

uint32_t png_crc32(uint32_t crc, const unsigned char *p, size_t len)
{
	if (!crc_ready)
		crc_init();
	crc = ~crc;
	while (len--)
		crc = crc_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
	return ~crc;
}

struct adler {
	uint32_t a, b;
};

static void adler_update(struct adler *s, const unsigned char *p, size_t len)
{
	/* 5552 is the most bytes before b can overflow 32 bits (zlib's NMAX). */
	while (len > 0) {
		size_t n = len < 5552 ? len : 5552;

		len -= n;
		while (n--) {
			s->a += *p++;
			s->b += s->a;
		}
		s->a %= 65521u;
		s->b %= 65521u;
	}
}

static unsigned char *put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
	return p + 4;
}

/* Writes the chunk trailer: CRC over type and data starting at start. */
static unsigned char *end_chunk(unsigned char *start, unsigned char *end)
{
	return put_u32(end, png_crc32(0, start, (size_t)(end - start)));
}

int png_encode_rgb(const unsigned char *rgb, int w, int h,
		   unsigned char **out, size_t *outlen)
{
	static const unsigned char sig[8] = {
		0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'
	};
	size_t row, raw, nblocks, zlen, total;
	unsigned char *buf, *p, *chunk;
	struct adler ad = { 1, 0 };
	size_t left, y = 0, xoff = 0;

	if (!rgb || !out || !outlen || w < 1 || h < 1 || w > PNG_MAX_DIM ||
	    h > PNG_MAX_DIM) {
		errno = EINVAL;
		return -1;
	}
	row = (size_t)w * 3 + 1;		/* filter byte + pixels */
	raw = row * (size_t)h;
	nblocks = (raw + STORED_MAX - 1) / STORED_MAX;
	zlen = 2 + nblocks * 5 + raw + 4;
	total = 8 + (12 + 13) + (12 + zlen) + 12;

	buf = malloc(total);
	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	memcpy(buf, sig, 8);
	p = buf + 8;

	p = put_u32(p, 13);
	chunk = p;
	memcpy(p, "IHDR", 4);
	p = put_u32(p + 4, (uint32_t)w);
	p = put_u32(p, (uint32_t)h);
	*p++ = 8;		/* bit depth */
	*p++ = 2;		/* colour type: truecolour */
	*p++ = 0;		/* deflate */
	*p++ = 0;		/* adaptive filtering (every row uses None) */
	*p++ = 0;		/* no interlace */
	p = end_chunk(chunk, p);

	p = put_u32(p, (uint32_t)zlen);
	chunk = p;
	memcpy(p, "IDAT", 4);
	p += 4;
	*p++ = 0x78;		/* CM 8, 32K window */
	*p++ = 0x01;		/* FCHECK: 0x7801 % 31 == 0, no dict, level 0 */
	left = raw;
	while (left > 0) {
		size_t n = left < STORED_MAX ? left : STORED_MAX;

		left -= n;
		*p++ = left == 0 ? 1 : 0;	/* BFINAL, BTYPE 00 */
		*p++ = (unsigned char)(n & 0xFF);
		*p++ = (unsigned char)(n >> 8);
		*p++ = (unsigned char)(~n & 0xFF);
		*p++ = (unsigned char)((~n >> 8) & 0xFF);
		/* The raw stream is rows of filter byte 0 + pixels; a stored
		 * block may start and end anywhere inside a row. */
		while (n > 0) {
			if (xoff == 0) {
				*p = 0;
				adler_update(&ad, p, 1);
				p++;
				xoff = 1;
				n--;
			} else {
				size_t take = row - xoff;
				const unsigned char *src = rgb +
					y * (row - 1) + (xoff - 1);

				if (take > n)
					take = n;
				memcpy(p, src, take);
				adler_update(&ad, p, take);
				p += take;
				n -= take;
				xoff += take;
				if (xoff == row) {
					xoff = 0;
					y++;
				}
			}
		}
	}
	p = put_u32(p, (ad.b << 16) | ad.a);
	p = end_chunk(chunk, p);

	p = put_u32(p, 0);
	chunk = p;
	memcpy(p, "IEND", 4);
	p = end_chunk(chunk, p + 4);

	*out = buf;
	*outlen = (size_t)(p - buf);
	return 0;
}
