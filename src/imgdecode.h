/*
 * imgdecode.h - JPEG (libjpeg-turbo) and PNG (libpng) files in memory to
 * 8-bit RGB or RGBA pixels, for making WebP variants at upload time.
 *
 * The format is sniffed from the magic bytes, never taken from a name. The
 * input is untrusted (tiles of any dataset) and fuzzed: the byte count is
 * checked first, the dimensions after the header and before any pixel is
 * allocated, and a libjpeg/libpng error (they longjmp) frees everything.
 *
 * What comes out (invariants of struct img):
 *  - channels is 3 (RGB) or 4 (RGBA), rows top-down, stride = width * channels;
 *  - PNG: palette and grayscale are expanded to RGB, a tRNS chunk or an alpha
 *    channel gives RGBA, sub-8-bit samples are scaled to 8 bits exactly as
 *    libpng does, interlacing is undone; 16-bit samples are cut to their high
 *    byte and bit_depth says 16 (the buffer then does not hold the file's
 *    samples exactly; a lossless variant must not be made from it);
 *    gamma, ICC and colour chunks are ignored (pixel values as stored);
 *  - JPEG: always RGB (grayscale is replicated), decoded with libjpeg's
 *    defaults (islow DCT, fancy upsampling), so a test decoding with the same
 *    library sees the same pixels. A JPEG that decodes only with a warning
 *    (truncated, corrupt data, junk before a marker) is refused, as is CMYK.
 */
#ifndef AP_IMGDECODE_H
#define AP_IMGDECODE_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "tilekey.h"

/* Largest file accepted: a tile from storage (TILE_MAX_BYTES, 4 MiB). */
#define IMG_MAX_INPUT_BYTES TILE_MAX_BYTES
/* Largest side and pixel count: tiles are 256 px and 2048 is the largest
 * tile side the sample writer makes; 4 Mpx of RGBA is 16 MiB. A side may be
 * longer than the square's (a strip) but stays well under WebP's 16383. */
#define IMG_MAX_SIDE 4096u
#define IMG_MAX_PIXELS (2048u * 2048u)
/* A progressive JPEG may have any number of scans, each a pass over the
 * coefficients; real encoders write ~10. */
#define IMG_JPEG_MAX_SCANS 100
/* libjpeg's working memory (progressive coefficient buffers: ~6 bytes/px). */
#define IMG_JPEG_MAX_MEMORY (64L * 1024 * 1024)

enum img_format { IMG_UNKNOWN = 0, IMG_JPEG, IMG_PNG };

struct img {
	unsigned char *px;	/* malloc()ed, height * stride bytes */
	uint32_t width, height;
	uint32_t stride;	/* width * channels */
	uint8_t channels;	/* 3 or 4 */
	uint8_t bit_depth;	/* of the file's samples: 8, or 16 (cut to 8) */
	enum img_format format;
};

/* The format of data by its magic bytes (IMG_UNKNOWN if neither). */
enum img_format img_sniff(const void *data, size_t len);

/*
 * Decodes a JPEG or PNG file. AP_ERR_TOO_LARGE: over IMG_MAX_INPUT_BYTES or
 * the dimension limits; AP_ERR_BAD_REQUEST: not a JPEG or PNG, corrupt,
 * truncated or unsupported (CMYK); AP_ERR_NOMEM. On failure *out is zeroed.
 */
enum ap_err img_decode(const void *data, size_t len, struct img *out) AP_WARN_UNUSED;
void img_free(struct img *im);

#endif
