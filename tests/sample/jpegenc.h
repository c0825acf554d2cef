/*
 * jpegenc.h - a small baseline JPEG (JFIF) encoder for 8-bit RGB images.
 *
 * Output is sequential baseline DCT, Huffman coded with the standard tables
 * of ITU T.81 Annex K, quantization tables of Annex K scaled by quality the
 * way the IJG library does it (so "quality 85" means what users expect).
 * Any size from 1x1 to 65535x65535 is accepted; partial MCUs at the right and
 * bottom edges are filled by replicating the last column/row.
 *
 * The encoder has no state and no dependencies beyond libc and libm.
 */
#ifndef SAMPLE_JPEGENC_H
#define SAMPLE_JPEGENC_H

#include <stddef.h>

#define JPEG_MAX_DIM 65535

enum jpeg_subsampling {
	JPEG_SUBSAMPLE_420 = 0,	/* chroma halved both ways (smallest files) */
	JPEG_SUBSAMPLE_444	/* full-resolution chroma */
};

/*
 * Encodes w x h pixels of packed RGB (3 bytes per pixel, rows top-down, no
 * padding) at quality 1..100 with 4:2:0 chroma. On success returns 0 and
 * stores a malloc()ed buffer in *out (the caller frees it) and its length in
 * *outlen. Returns -1 with errno EINVAL (bad argument) or ENOMEM.
 */
int jpeg_encode_rgb(const unsigned char *rgb, int w, int h, int quality,
		    unsigned char **out, size_t *outlen);

/* The same with a choice of chroma subsampling. */
int jpeg_encode_rgb_ex(const unsigned char *rgb, int w, int h, int quality,
		       enum jpeg_subsampling sub,
		       unsigned char **out, size_t *outlen);

#endif
