/*
 * jpegenc.c - baseline JPEG encoder (see jpegenc.h for the contract).
 *
 * Pipeline: RGB -> level-shifted YCbCr planes padded to whole MCUs by edge
 * replication -> (optional 2x2 chroma averaging) -> per 8x8 block a float
 * AAN forward DCT (Arai, Agui, Nakajima; the scaling the AAN butterflies
 * leave in each coefficient is folded into the quantizer divisors) ->
 * quantization -> zigzag run-length + Huffman coding with the Annex K tables.
 *
 * The bit writer keeps pending bits in a 64-bit accumulator; the output
 * buffer is grown before each MCU by more than an MCU can ever take (six
 * blocks of at most 64 codes of 27 bits, doubled for 0xFF stuffing), so the
 * inner loop never checks for space.
 */
#include "jpegenc.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Natural (row-major) index of the k-th coefficient in zigzag order. */
static const unsigned char zigzag[64] = {
	0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63
};

/* Annex K.1 quantization tables, natural order. */
static const unsigned char std_luma_q[64] = {
	16, 11, 10, 16, 24, 40, 51, 61,
	12, 12, 14, 19, 26, 58, 60, 55,
	14, 13, 16, 24, 40, 57, 69, 56,
	14, 17, 22, 29, 51, 87, 80, 62,
	18, 22, 37, 56, 68, 109, 103, 77,
	24, 35, 55, 64, 81, 104, 113, 92,
	49, 64, 78, 87, 103, 121, 120, 101,
	72, 92, 95, 98, 112, 100, 103, 99
};

static const unsigned char std_chroma_q[64] = {
	17, 18, 24, 47, 99, 99, 99, 99,
	18, 21, 26, 66, 99, 99, 99, 99,
	24, 26, 56, 99, 99, 99, 99, 99,
	47, 66, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99,
	99, 99, 99, 99, 99, 99, 99, 99
};

/* Annex K.3 Huffman tables: code counts per length 1..16, then symbols. */
static const unsigned char dc_luma_bits[16] = {
	0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0
};
static const unsigned char dc_chroma_bits[16] = {
	0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0
};
static const unsigned char dc_vals[12] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
};

static const unsigned char ac_luma_bits[16] = {
	0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d
};
static const unsigned char ac_luma_vals[162] = {
	0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12,
	0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
	0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08,
	0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
	0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16,
	0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
	0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39,
	0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
	0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59,
	0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
	0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79,
	0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
	0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98,
	0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
	0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6,
	0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
	0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4,
	0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
	0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea,
	0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
	0xf9, 0xfa
};

static const unsigned char ac_chroma_bits[16] = {
	0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77
};
static const unsigned char ac_chroma_vals[162] = {
	0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21,
	0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
	0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91,
	0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
	0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34,
	0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
	0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38,
	0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
	0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58,
	0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
	0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78,
	0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
	0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96,
	0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
	0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4,
	0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
	0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2,
	0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
	0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9,
	0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
	0xf9, 0xfa
};

/* Row/column scale factors the AAN butterflies leave: cos(k*pi/16)*sqrt2. */
static const float aan_scale[8] = {
	1.0f, 1.387039845f, 1.306562965f, 1.175875602f,
	1.0f, 0.785694958f, 0.541196100f, 0.275899379f
};

/* Worst case of one MCU in bytes: 6 blocks * 64 codes * 27 bits, stuffed. */
#define MCU_MAX_BYTES (6 * 64 * 27 / 8 * 2 + 64)

struct huff {
	uint16_t code[256];
	uint8_t size[256];
};

struct enc {
	unsigned char *p;
	size_t len, cap;
	uint64_t acc;		/* pending bits, the newest in the low end */
	int nbits;		/* how many of acc's low bits are pending */
	struct huff dc[2], ac[2];
	unsigned char q[2][64];	/* natural order, 1..255 */
	float qdiv[2][64];	/* 1 / (q * AAN scale * 8), natural order */
};

static int reserve(struct enc *e, size_t more)
{
	size_t ncap;
	unsigned char *np;

	if (e->cap - e->len >= more)
		return 0;
	ncap = e->cap ? e->cap : 4096;
	while (ncap - e->len < more) {
		if (ncap > SIZE_MAX / 2)
			return -1;
		ncap *= 2;
	}
	np = realloc(e->p, ncap);
	if (!np)
		return -1;
	e->p = np;
	e->cap = ncap;
	return 0;
}

/* Header bytes; space was reserved by the caller. */
static void put_byte(struct enc *e, unsigned v)
{
	e->p[e->len++] = (unsigned char)v;
}

static void put_u16(struct enc *e, unsigned v)
{
	put_byte(e, (v >> 8) & 0xFF);
	put_byte(e, v & 0xFF);
}

static inline void put_bits(struct enc *e, uint32_t code, int len)
{
	e->acc = (e->acc << len) | code;
	e->nbits += len;
	while (e->nbits >= 8) {
		unsigned char b;

		e->nbits -= 8;
		b = (unsigned char)(e->acc >> e->nbits);
		e->p[e->len++] = b;
		if (b == 0xFF)
			e->p[e->len++] = 0;
	}
}

static void flush_bits(struct enc *e)
{
	if (e->nbits > 0)
		put_bits(e, (1u << (8 - e->nbits)) - 1, 8 - e->nbits);
}

/* Annex C: canonical codes from the count-per-length list. */
static void build_huff(struct huff *h, const unsigned char bits[16],
		       const unsigned char *vals)
{
	unsigned code = 0;
	int k = 0;

	memset(h, 0, sizeof(*h));
	for (int len = 1; len <= 16; len++) {
		for (int i = 0; i < bits[len - 1]; i++) {
			h->code[vals[k]] = (uint16_t)code++;
			h->size[vals[k]] = (uint8_t)len;
			k++;
		}
		code <<= 1;
	}
}

/* IJG quality scaling of a base table. */
static void scale_quant(unsigned char out[64], const unsigned char base[64],
			int quality)
{
	long scale = quality < 50 ? 5000 / quality : 200 - 2L * quality;

	for (int i = 0; i < 64; i++) {
		long v = (base[i] * scale + 50) / 100;

		out[i] = (unsigned char)(v < 1 ? 1 : v > 255 ? 255 : v);
	}
}

static void write_headers(struct enc *e, int w, int h,
			  enum jpeg_subsampling sub)
{
	static const struct {
		int cls_id;
		const unsigned char *bits, *vals;
		int nvals;
	} tabs[4] = {
		{ 0x00, dc_luma_bits, dc_vals, 12 },
		{ 0x10, ac_luma_bits, ac_luma_vals, 162 },
		{ 0x01, dc_chroma_bits, dc_vals, 12 },
		{ 0x11, ac_chroma_bits, ac_chroma_vals, 162 },
	};
	int dht_len = 2;

	put_u16(e, 0xFFD8);			/* SOI */

	put_u16(e, 0xFFE0);			/* APP0 JFIF 1.01, aspect 1:1 */
	put_u16(e, 16);
	put_byte(e, 'J'); put_byte(e, 'F'); put_byte(e, 'I'); put_byte(e, 'F');
	put_byte(e, 0);
	put_byte(e, 1); put_byte(e, 1);
	put_byte(e, 0);
	put_u16(e, 1); put_u16(e, 1);
	put_byte(e, 0); put_byte(e, 0);

	put_u16(e, 0xFFDB);			/* DQT, both tables */
	put_u16(e, 2 + 2 * 65);
	for (int t = 0; t < 2; t++) {
		put_byte(e, (unsigned)t);
		for (int k = 0; k < 64; k++)
			put_byte(e, e->q[t][zigzag[k]]);
	}

	put_u16(e, 0xFFC0);			/* SOF0 */
	put_u16(e, 8 + 3 * 3);
	put_byte(e, 8);
	put_u16(e, (unsigned)h);
	put_u16(e, (unsigned)w);
	put_byte(e, 3);
	put_byte(e, 1); put_byte(e, sub == JPEG_SUBSAMPLE_420 ? 0x22 : 0x11);
	put_byte(e, 0);
	put_byte(e, 2); put_byte(e, 0x11); put_byte(e, 1);
	put_byte(e, 3); put_byte(e, 0x11); put_byte(e, 1);

	for (int t = 0; t < 4; t++)
		dht_len += 17 + tabs[t].nvals;
	put_u16(e, 0xFFC4);			/* DHT, all four tables */
	put_u16(e, (unsigned)dht_len);
	for (int t = 0; t < 4; t++) {
		put_byte(e, (unsigned)tabs[t].cls_id);
		for (int i = 0; i < 16; i++)
			put_byte(e, tabs[t].bits[i]);
		for (int i = 0; i < tabs[t].nvals; i++)
			put_byte(e, tabs[t].vals[i]);
	}

	put_u16(e, 0xFFDA);			/* SOS: 3 components, full band */
	put_u16(e, 6 + 2 * 3);
	put_byte(e, 3);
	put_byte(e, 1); put_byte(e, 0x00);
	put_byte(e, 2); put_byte(e, 0x11);
	put_byte(e, 3); put_byte(e, 0x11);
	put_byte(e, 0); put_byte(e, 63); put_byte(e, 0);
}

/* In-place float AAN forward DCT of one 8x8 block (natural order). */
static void fdct_aan(float *d)
{
	for (int pass = 0; pass < 2; pass++) {
		/* Pass 0 transforms rows, pass 1 columns. */
		int step = pass == 0 ? 1 : 8, next = pass == 0 ? 8 : 1;

		for (int i = 0; i < 8; i++) {
			float *p = d + i * next;
			float t0 = p[0 * step] + p[7 * step];
			float t7 = p[0 * step] - p[7 * step];
			float t1 = p[1 * step] + p[6 * step];
			float t6 = p[1 * step] - p[6 * step];
			float t2 = p[2 * step] + p[5 * step];
			float t5 = p[2 * step] - p[5 * step];
			float t3 = p[3 * step] + p[4 * step];
			float t4 = p[3 * step] - p[4 * step];
			float t10 = t0 + t3, t13 = t0 - t3;
			float t11 = t1 + t2, t12 = t1 - t2;
			float z1, z2, z3, z4, z5, z11, z13;

			p[0 * step] = t10 + t11;
			p[4 * step] = t10 - t11;
			z1 = (t12 + t13) * 0.707106781f;
			p[2 * step] = t13 + z1;
			p[6 * step] = t13 - z1;

			t10 = t4 + t5;
			t11 = t5 + t6;
			t12 = t6 + t7;
			z5 = (t10 - t12) * 0.382683433f;
			z2 = 0.541196100f * t10 + z5;
			z4 = 1.306562965f * t12 + z5;
			z3 = t11 * 0.707106781f;
			z11 = t7 + z3;
			z13 = t7 - z3;
			p[5 * step] = z13 + z2;
			p[3 * step] = z13 - z2;
			p[1 * step] = z11 + z4;
			p[7 * step] = z11 - z4;
		}
	}
}

static inline int bit_count(unsigned v)
{
	return v ? 32 - __builtin_clz(v) : 0;
}

static inline int quantize(float v, float div, int lim)
{
	/* Round half away from zero without a libm call. */
	int q = (int)(v * div + 16384.5f) - 16384;

	return q > lim ? lim : q < -lim ? -lim : q;
}

static void encode_block(struct enc *e, float *blk, int t, int *prev_dc)
{
	const struct huff *dc = &e->dc[t], *ac = &e->ac[t];
	const float *qd = e->qdiv[t];
	int diff, run = 0;
	unsigned a;
	int nb;

	fdct_aan(blk);

	diff = quantize(blk[0], qd[0], 1023);
	{
		int dcv = diff;

		diff = dcv - *prev_dc;
		*prev_dc = dcv;
	}
	a = (unsigned)(diff < 0 ? -diff : diff);
	nb = bit_count(a);
	put_bits(e, dc->code[nb], dc->size[nb]);
	if (nb)
		put_bits(e, (uint32_t)(diff < 0 ? diff - 1 : diff) &
			 ((1u << nb) - 1), nb);

	for (int k = 1; k < 64; k++) {
		int n = zigzag[k];
		int v = quantize(blk[n], qd[n], 1023);
		int sym;

		if (v == 0) {
			run++;
			continue;
		}
		while (run > 15) {
			put_bits(e, ac->code[0xF0], ac->size[0xF0]);
			run -= 16;
		}
		a = (unsigned)(v < 0 ? -v : v);
		nb = bit_count(a);
		sym = (run << 4) | nb;
		put_bits(e, ac->code[sym], ac->size[sym]);
		put_bits(e, (uint32_t)(v < 0 ? v - 1 : v) & ((1u << nb) - 1), nb);
		run = 0;
	}
	if (run > 0)
		put_bits(e, ac->code[0x00], ac->size[0x00]);
}

static void load_block(float *blk, const float *plane, size_t stride,
		       size_t x, size_t y)
{
	for (int r = 0; r < 8; r++)
		memcpy(blk + r * 8, plane + (y + (size_t)r) * stride + x,
		       8 * sizeof(float));
}

int jpeg_encode_rgb_ex(const unsigned char *rgb, int w, int h, int quality,
		       enum jpeg_subsampling sub,
		       unsigned char **out, size_t *outlen)
{
	struct enc *e = NULL;
	float *yp = NULL, *cbp = NULL, *crp = NULL;
	size_t mcu, pw, ph, cw, ch;
	int prev[3] = { 0, 0, 0 };
	float blk[64];

	if (!rgb || !out || !outlen || w < 1 || h < 1 || w > JPEG_MAX_DIM ||
	    h > JPEG_MAX_DIM || quality < 1 || quality > 100 ||
	    (sub != JPEG_SUBSAMPLE_420 && sub != JPEG_SUBSAMPLE_444)) {
		errno = EINVAL;
		return -1;
	}
	mcu = sub == JPEG_SUBSAMPLE_420 ? 16 : 8;
	pw = ((size_t)w + mcu - 1) / mcu * mcu;
	ph = ((size_t)h + mcu - 1) / mcu * mcu;

	e = calloc(1, sizeof(*e));
	yp = malloc(pw * ph * sizeof(float));
	cbp = malloc(pw * ph * sizeof(float));
	crp = malloc(pw * ph * sizeof(float));
	if (!e || !yp || !cbp || !crp)
		goto fail;

	scale_quant(e->q[0], std_luma_q, quality);
	scale_quant(e->q[1], std_chroma_q, quality);
	for (int t = 0; t < 2; t++)
		for (int i = 0; i < 64; i++)
			e->qdiv[t][i] = 1.0f / ((float)e->q[t][i] *
						aan_scale[i / 8] *
						aan_scale[i % 8] * 8.0f);
	build_huff(&e->dc[0], dc_luma_bits, dc_vals);
	build_huff(&e->ac[0], ac_luma_bits, ac_luma_vals);
	build_huff(&e->dc[1], dc_chroma_bits, dc_vals);
	build_huff(&e->ac[1], ac_chroma_bits, ac_chroma_vals);

	/* Level-shifted YCbCr (JFIF), padded by replicating the edges. */
	for (size_t y = 0; y < ph; y++) {
		size_t sy = y < (size_t)h ? y : (size_t)h - 1;
		float *yr = yp + y * pw, *cbr = cbp + y * pw, *crr = crp + y * pw;

		for (size_t x = 0; x < pw; x++) {
			size_t sx = x < (size_t)w ? x : (size_t)w - 1;
			const unsigned char *px = rgb + (sy * (size_t)w + sx) * 3;
			float r = px[0], g = px[1], b = px[2];

			yr[x] = 0.299f * r + 0.587f * g + 0.114f * b - 128.0f;
			cbr[x] = -0.168736f * r - 0.331264f * g + 0.5f * b;
			crr[x] = 0.5f * r - 0.418688f * g - 0.081312f * b;
		}
	}
	cw = pw;
	ch = ph;
	if (sub == JPEG_SUBSAMPLE_420) {
		/* Average 2x2 in place: the output row never overtakes input. */
		cw = pw / 2;
		ch = ph / 2;
		for (size_t y = 0; y < ch; y++)
			for (size_t x = 0; x < cw; x++) {
				size_t i = 2 * y * pw + 2 * x;

				cbp[y * cw + x] = 0.25f * (cbp[i] + cbp[i + 1] +
					cbp[i + pw] + cbp[i + pw + 1]);
				crp[y * cw + x] = 0.25f * (crp[i] + crp[i + 1] +
					crp[i + pw] + crp[i + pw + 1]);
			}
	}

	if (reserve(e, 1024 + pw * ph / 4))
		goto fail;
	write_headers(e, w, h, sub);

	for (size_t my = 0; my < ph / mcu; my++)
		for (size_t mx = 0; mx < pw / mcu; mx++) {
			if (reserve(e, MCU_MAX_BYTES))
				goto fail;
			if (sub == JPEG_SUBSAMPLE_420) {
				for (size_t b = 0; b < 4; b++) {
					load_block(blk, yp, pw,
						   mx * 16 + (b & 1) * 8,
						   my * 16 + (b >> 1) * 8);
					encode_block(e, blk, 0, &prev[0]);
				}
			} else {
				load_block(blk, yp, pw, mx * 8, my * 8);
				encode_block(e, blk, 0, &prev[0]);
			}
			load_block(blk, cbp, cw, mx * 8, my * 8);
			encode_block(e, blk, 1, &prev[1]);
			load_block(blk, crp, cw, mx * 8, my * 8);
			encode_block(e, blk, 1, &prev[2]);
		}

	if (reserve(e, 8))
		goto fail;
	flush_bits(e);
	put_u16(e, 0xFFD9);			/* EOI */

	*out = e->p;
	*outlen = e->len;
	free(yp);
	free(cbp);
	free(crp);
	free(e);
	return 0;

fail:
	if (e)
		free(e->p);
	free(e);
	free(yp);
	free(cbp);
	free(crp);
	errno = ENOMEM;
	return -1;
}

int jpeg_encode_rgb(const unsigned char *rgb, int w, int h, int quality,
		    unsigned char **out, size_t *outlen)
{
	return jpeg_encode_rgb_ex(rgb, w, h, quality, JPEG_SUBSAMPLE_420,
				  out, outlen);
}
