/*
 * webp_variant.h - the WebP variant of one JPEG or PNG tile, made once at
 * upload time (issue 19) so that the responder only ever chooses.
 *
 * PNG -> lossless WebP: the pixels decode exactly to the PNG's (after the
 * expansion imgdecode.h states: RGB, or RGBA if the PNG has alpha or tRNS;
 * RGB under fully transparent pixels is kept too, libwebp's `exact`). A
 * 16-bit PNG gets no variant: 8-bit WebP cannot hold its samples.
 *
 * JPEG -> lossy WebP, its quality chosen per tile: a binary search over
 * WEBP_QUALITY_MIN..WEBP_QUALITY_MAX for the lowest quality whose decoded
 * WebP has SSIM (ssim.h, SSIM_LUMA) >= ssim_min against the decoded JPEG,
 * about 6 encodes. Lowest quality is taken as smallest output (encoded size
 * grows with quality nearly always; the search does not prove it). If even
 * WEBP_QUALITY_MAX misses the threshold the result says so (meets_ssim).
 * Alternatively a fixed quality: one encode, its SSIM still measured.
 *
 * The variant is worth uploading only if `smaller && meets_ssim`; the
 * uploader decides, this module never drops a result it made.
 *
 * Deterministic: the same file and options give the same bytes (with the
 * same libwebp), so an uploader can tell an unchanged variant by its hash.
 * That is also why the search takes no hint from the previous tile: a hint
 * would save encodes but make the result depend on the order of tiles.
 */
#ifndef AP_WEBP_VARIANT_H
#define AP_WEBP_VARIANT_H

#include <stdbool.h>
#include <stddef.h>
#include "error.h"
#include "imgdecode.h"

#define WEBP_SSIM_MIN_DEFAULT 0.98
#define WEBP_QUALITY_MIN 50
#define WEBP_QUALITY_MAX 100
#define WEBP_QUALITY_SEARCH 0	/* webp_opts.quality: search, not fixed */
/* libwebp's speed/size trade-off, 0 (fast) .. 6 (small); 4 is its default. */
#define WEBP_METHOD_DEFAULT 4
/* Lossless effort preset, 0..9 (WebPConfigLosslessPreset); 6 is cwebp's. */
#define WEBP_LOSSLESS_LEVEL_DEFAULT 6

struct webp_opts {
	double ssim_min;	/* JPEG: threshold of the search, (0, 1] */
	int quality;		/* JPEG: WEBP_QUALITY_SEARCH, or fixed 1..100 */
	int method;		/* lossy: 0..6 */
	int lossless_level;	/* PNG: 0..9 */
};

struct webp_variant {
	unsigned char *data;	/* the WebP file, len bytes (webp_variant_free) */
	size_t len;
	size_t orig_len;	/* bytes of the original file */
	enum img_format from;	/* IMG_JPEG or IMG_PNG */
	bool lossless;		/* from a PNG; quality is then -1 */
	int quality;		/* lossy quality used, 1..100 */
	double ssim;		/* reached (SSIM_LUMA); 1.0 if lossless */
	bool meets_ssim;	/* lossless, or ssim >= ssim_min */
	bool smaller;		/* len < orig_len */
	int encodes;		/* WebP encodes the search made */
	long long encode_us;	/* wall time of it all: decode, encodes, SSIMs */
	uint32_t width, height;
};

void webp_opts_default(struct webp_opts *o);

/*
 * Makes the variant of the file orig[0..len). Errors are img_decode's (the
 * file is refused: AP_ERR_BAD_REQUEST, AP_ERR_TOO_LARGE) and also
 * AP_ERR_BAD_REQUEST for a 16-bit PNG or options out of range,
 * AP_ERR_NOMEM, AP_ERR_INTERNAL if libwebp fails. On failure *out is zeroed.
 */
enum ap_err webp_variant_make(const void *orig, size_t len, const struct webp_opts *o,
			      struct webp_variant *out) AP_WARN_UNUSED;
void webp_variant_free(struct webp_variant *v);

#endif
