/*
 * imgenc.h - PNG and JPEG writers (libpng, libjpeg) and a synthetic star
 * field, for the tests of the WebP variants and for mkwebp.
 *
 * They make the fixtures the decoder is tested against, so they write what
 * they are told exactly (any PNG colour type and depth, palette, tRNS,
 * interlacing, zlib level; baseline or progressive JPEG) and nothing else.
 * Output goes to a struct buf bounded by IMGENC_MAX_BYTES.
 */
#ifndef AP_IMGENC_H
#define AP_IMGENC_H

#include <stdbool.h>
#include <stdint.h>
#include <png.h>
#include "buf.h"
#include "error.h"

#define IMGENC_MAX_BYTES (64u * 1024 * 1024)

struct png_spec {
	uint32_t width, height;
	int color_type;			/* PNG_COLOR_TYPE_* */
	int bit_depth;			/* 1, 2, 4, 8, 16 as the type allows */
	const unsigned char *rows;	/* packed samples as PNG stores them, */
	size_t rowbytes;		/* big-endian for 16 bits, no padding */
	const png_color *palette;	/* PNG_COLOR_TYPE_PALETTE */
	int npalette;
	const png_byte *trns;		/* palette alpha, ntrns entries */
	int ntrns;
	const png_color_16 *trns_color;	/* the transparent gray or RGB */
	int level;			/* zlib 0..9 */
	bool interlace;			/* Adam7 */
};

/* Appends the PNG file of s to out. */
enum ap_err imgenc_png(const struct png_spec *s, struct buf *out) AP_WARN_UNUSED;
enum imgenc_scans {
	IMGENC_BASELINE,
	IMGENC_PROGRESSIVE,	/* libjpeg's simple progression, 10 scans for RGB */
	IMGENC_SCAN_PER_COEF,	/* valid, 1 + 63 per component scans: 190 for RGB */
};
/* Appends a JPEG (4:2:0, libjpeg's quality scale) of packed RGB, or of a
 * gray plane if channels is 1, to out. */
enum ap_err imgenc_jpeg(const unsigned char *px, uint32_t w, uint32_t h, unsigned channels,
			int quality, enum imgenc_scans scans, struct buf *out) AP_WARN_UNUSED;
/* w x h pixels of `channels` (3 or 4) bytes: dark noisy sky, a nebula
 * gradient, gaussian stars; alpha (if 4) a ramp with 0 and 255 in it. The
 * same seed gives the same pixels. Returns malloc()ed memory or NULL. */
unsigned char *imgenc_starfield(uint32_t w, uint32_t h, unsigned channels, uint32_t seed);

#endif
