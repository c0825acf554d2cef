/*
 * pngenc.h - a minimal PNG writer for 8-bit RGB images.
 *
 * The image data is a zlib stream of *stored* (uncompressed) deflate blocks
 * with filter type 0 on every row, so files are about 3*w*h bytes; CRC-32 of
 * every chunk and the Adler-32 of the zlib stream are exact, so any PNG
 * decoder accepts the result. Meant for test fixtures, not for storage.
 */
#ifndef SAMPLE_PNGENC_H
#define SAMPLE_PNGENC_H

#include <stddef.h>
#include <stdint.h>

/* Larger sides would make the raw data of one image exceed 2^31 bytes. */
#define PNG_MAX_DIM 16384

/*
 * Encodes w x h pixels of packed RGB (3 bytes per pixel, rows top-down, no
 * padding). On success returns 0 and stores a malloc()ed buffer in *out
 * (the caller frees it) and its length in *outlen. Returns -1 with errno
 * EINVAL (bad argument) or ENOMEM.
 */
int png_encode_rgb(const unsigned char *rgb, int w, int h,
		   unsigned char **out, size_t *outlen);

/* CRC-32 (ISO 3309, as PNG and zlib use it) of len bytes, chained by crc. */
uint32_t png_crc32(uint32_t crc, const unsigned char *p, size_t len);

#endif
