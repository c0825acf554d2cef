/*
 * pngcases.c - see pngcases.h. Content is the star field of imgenc.h, so
 * the fixtures look like tiles (dark, noisy, a few bright points).
 */
#include <stdlib.h>
#include <string.h>
#include "imgenc.h"
#include "pngcases.h"

static const char *const NAMES[PC__COUNT] = {
	"rgb8", "rgba8", "gray8", "gray1", "gray2", "gray4", "graya8", "palette8",
	"palette4+trns", "gray8+trns", "rgb8+trns", "rgb8 adam7", "rgba16",
};

struct build {
	struct png_spec s;
	const unsigned char *src;	/* star field, RGBA */
	unsigned char *rows;
	unsigned char *want;
	png_color pal[256];
	png_byte pal_alpha[16];
	png_color_16 key;
};

static void put_want(struct build *b, struct png_case *c, size_t i, unsigned r, unsigned g,
		     unsigned bl, unsigned a)
{
	unsigned char *p = b->want + i * c->channels;

	p[0] = (unsigned char)r;
	p[1] = (unsigned char)g;
	p[2] = (unsigned char)bl;
	if (c->channels == 4)
		p[3] = (unsigned char)a;
}

/* Gray at depth d (1..8) packed MSB first. */
static void gray(struct build *b, struct png_case *c, int d)
{
	unsigned max = (1u << d) - 1;

	b->s.color_type = PNG_COLOR_TYPE_GRAY;
	b->s.bit_depth = d;
	b->s.rowbytes = (c->w * (unsigned)d + 7) / 8;
	for (uint32_t y = 0; y < c->h; y++)
		for (uint32_t x = 0; x < c->w; x++) {
			size_t i = (size_t)y * c->w + x;
			unsigned v = b->src[i * 4] >> (8 - d), o = x * (unsigned)d;
			unsigned w8 = v * 255 / max;

			b->rows[y * b->s.rowbytes + o / 8] |= (unsigned char)(v << (8 - d - o % 8));
			put_want(b, c, i, w8, w8, w8, 255);
		}
}

/* 8-bit samples of `n` channels per pixel, from the star field. */
static void direct(struct build *b, struct png_case *c, int type, unsigned n)
{
	b->s.color_type = type;
	b->s.bit_depth = 8;
	b->s.rowbytes = c->w * n;
	for (size_t i = 0; i < (size_t)c->w * c->h; i++) {
		const unsigned char *p = b->src + i * 4;

		memcpy(b->rows + i * n, p, n);
		if (n < 3) {	/* gray, gray+alpha: the red channel */
			b->rows[i * n] = p[0];
			if (n == 2)
				b->rows[i * n + 1] = p[3];
			put_want(b, c, i, p[0], p[0], p[0], n == 2 ? p[3] : 255);
		} else {
			put_want(b, c, i, p[0], p[1], p[2], n == 4 ? p[3] : 255);
		}
	}
}

static void palette(struct build *b, struct png_case *c, int d, int ntrns)
{
	unsigned n = 1u << d;

	b->s.color_type = PNG_COLOR_TYPE_PALETTE;
	b->s.bit_depth = d;
	b->s.rowbytes = (c->w * (unsigned)d + 7) / 8;
	for (unsigned k = 0; k < n; k++) {
		b->pal[k] = (png_color){(png_byte)(k * 37), (png_byte)(255 - k), (png_byte)(k * 11)};
		if ((int)k < ntrns)
			b->pal_alpha[k] = (png_byte)(k * 25);
	}
	b->s.palette = b->pal;
	b->s.npalette = (int)n;
	if (ntrns) {
		b->s.trns = b->pal_alpha;
		b->s.ntrns = ntrns;
	}
	for (uint32_t y = 0; y < c->h; y++)
		for (uint32_t x = 0; x < c->w; x++) {
			size_t i = (size_t)y * c->w + x;
			unsigned k = (b->src[i * 4] + b->src[i * 4 + 2] + x) % n, o = x * (unsigned)d;

			b->rows[y * b->s.rowbytes + o / 8] |= (unsigned char)(k << (8 - d - o % 8));
			put_want(b, c, i, b->pal[k].red, b->pal[k].green, b->pal[k].blue,
				 (int)k < ntrns ? b->pal_alpha[k] : 255);
		}
}

/* A tRNS colour: pixel (0, 0)'s value; pixels equal to it get alpha 0. */
static void keyed(struct build *b, struct png_case *c, int type)
{
	unsigned n = type == PNG_COLOR_TYPE_GRAY ? 1 : 3;

	direct(b, c, type, n);
	b->key.red = b->key.gray = b->rows[0];
	b->key.green = b->rows[n > 1 ? 1 : 0];
	b->key.blue = b->rows[n > 1 ? 2 : 0];
	b->s.trns_color = &b->key;
	for (size_t i = 0; i < (size_t)c->w * c->h; i++)
		b->want[i * 4 + 3] = memcmp(b->rows + i * n, b->rows, n) == 0 ? 0 : 255;
}

static void rgba16(struct build *b, struct png_case *c)
{
	b->s.color_type = PNG_COLOR_TYPE_RGB_ALPHA;
	b->s.bit_depth = 16;
	b->s.rowbytes = c->w * 8;
	for (size_t i = 0; i < (size_t)c->w * c->h; i++) {
		const unsigned char *p = b->src + i * 4;

		for (unsigned k = 0; k < 4; k++) {
			b->rows[i * 8 + k * 2] = p[k];
			b->rows[i * 8 + k * 2 + 1] = (unsigned char)(i * 7 + k);
		}
		put_want(b, c, i, p[0], p[1], p[2], p[3]);
	}
}

static void fill(struct build *b, struct png_case *c, enum png_kind k)
{
	switch (k) {
	case PC_RGB8: case PC_RGB8_ADAM7: direct(b, c, PNG_COLOR_TYPE_RGB, 3); break;
	case PC_RGBA8: direct(b, c, PNG_COLOR_TYPE_RGB_ALPHA, 4); break;
	case PC_GRAY8: direct(b, c, PNG_COLOR_TYPE_GRAY, 1); break;
	case PC_GRAY1: gray(b, c, 1); break;
	case PC_GRAY2: gray(b, c, 2); break;
	case PC_GRAY4: gray(b, c, 4); break;
	case PC_GRAYA8: direct(b, c, PNG_COLOR_TYPE_GRAY_ALPHA, 2); break;
	case PC_PALETTE8: palette(b, c, 8, 0); break;
	case PC_PALETTE4_TRNS: palette(b, c, 4, 10); break;
	case PC_GRAY8_TRNS: keyed(b, c, PNG_COLOR_TYPE_GRAY); break;
	case PC_RGB8_TRNS: keyed(b, c, PNG_COLOR_TYPE_RGB); break;
	case PC_RGBA16: rgba16(b, c); break;
	default: break;
	}
}

static unsigned want_channels(enum png_kind k)
{
	switch (k) {
	case PC_RGBA8: case PC_GRAYA8: case PC_PALETTE4_TRNS: case PC_GRAY8_TRNS:
	case PC_RGB8_TRNS: case PC_RGBA16:
		return 4;
	default:
		return 3;
	}
}

int png_case_make(enum png_kind k, uint32_t w, uint32_t h, int level, struct png_case *c)
{
	struct build b;
	unsigned char *src = imgenc_starfield(w, h, 4, (uint32_t)k + 1);
	int rc = -1;

	memset(c, 0, sizeof(*c));
	memset(&b, 0, sizeof(b));
	buf_init(&c->file, IMGENC_MAX_BYTES);
	c->name = NAMES[k];
	c->w = w;
	c->h = h;
	c->channels = want_channels(k);
	b.src = src;
	b.rows = calloc((size_t)w * h, 8);
	c->want = malloc((size_t)w * h * c->channels);
	if (!src || !b.rows || !c->want)
		goto fail;
	b.s.width = w;
	b.s.height = h;
	b.s.level = level;
	b.s.interlace = k == PC_RGB8_ADAM7;
	b.want = c->want;
	fill(&b, c, k);
	c->bit_depth = b.s.bit_depth;
	b.s.rows = b.rows;
	if (imgenc_png(&b.s, &c->file) == AP_OK)
		rc = 0;
fail:
	free(src);
	free(b.rows);
	if (rc)
		png_case_free(c);
	return rc;
}

void png_case_free(struct png_case *c)
{
	buf_free(&c->file);
	free(c->want);
	c->want = NULL;
}
