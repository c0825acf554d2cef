/*
 * fuzz_imgdecode.c - the image decoders of the uploader (imgdecode.h):
 * img_decode over arbitrary bytes as a tile file, through libjpeg-turbo
 * and libpng and the longjmp error paths around them. Built when the
 * WebP variants are (HAVE_WEBP_VARIANTS).
 *
 * Oracle: imgdecode.h. A decoded image has the format its magic bytes
 * say, 3 or 4 channels, a stride of width * channels, dimensions within
 * IMG_MAX_SIDE and IMG_MAX_PIXELS, a bit depth of 8 or 16 (16 only for
 * PNG), and every one of its height * stride bytes readable (each is read
 * here, so ASan sees a short buffer); a refusal is one of the documented
 * errors with *out zeroed; nothing leaks on either path.
 */
#include "fuzz.h"
#include "imgdecode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes: ASan sees any read past the end */
	unsigned char *p = malloc(size ? size : 1);
	struct img im, zero;
	enum ap_err e;

	if (!p)
		abort();
	memcpy(p, data, size);
	memset(&im, 0x5a, sizeof(im));	/* whatever the caller left there */
	memset(&zero, 0, sizeof(zero));
	e = img_decode(p, size, &im);
	if (e == AP_OK) {
		uint64_t sum = 0;
		size_t n = (size_t)im.height * im.stride;

		FUZZ_CHECK(im.format == img_sniff(p, size) && im.format != IMG_UNKNOWN, "format %d",
			   im.format);
		FUZZ_CHECK(im.channels == 3 || im.channels == 4, "%u channels", im.channels);
		FUZZ_CHECK(im.width >= 1 && im.height >= 1 && im.width <= IMG_MAX_SIDE &&
			   im.height <= IMG_MAX_SIDE && (uint64_t)im.width * im.height <= IMG_MAX_PIXELS,
			   "%ux%u", im.width, im.height);
		FUZZ_CHECK(im.stride == im.width * im.channels, "stride %u", im.stride);
		FUZZ_CHECK(im.bit_depth == 8 || (im.bit_depth == 16 && im.format == IMG_PNG),
			   "bit depth %u", im.bit_depth);
		FUZZ_CHECK(im.format != IMG_JPEG || im.channels == 3, "JPEG with alpha");
		for (size_t i = 0; i < n; i++)
			sum += im.px[i];
		/* keep the loop: the sum is used */
		FUZZ_CHECK(sum <= 255u * (uint64_t)n, "pixel sum");
		img_free(&im);
	} else {
		FUZZ_CHECK(e == AP_ERR_BAD_REQUEST || e == AP_ERR_TOO_LARGE || e == AP_ERR_NOMEM,
			   "refused with %d", e);
		FUZZ_CHECK(!memcmp(&im, &zero, sizeof(im)), "*out not zeroed after a refusal");
	}
	free(p);
	return 0;
}
