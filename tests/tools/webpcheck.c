/*
 * webpcheck.c - checks a WebP variant against its source, decoding both
 * with the libraries astropixel-sync uses (imgdecode.h for the JPEG or PNG,
 * libwebp for the WebP), for the integration tests.
 *
 *   webpcheck SOURCE WEBP
 *
 * Prints one line:
 *   from=png identical=yes|no mark=yes|no WxH
 *   from=jpg ssim=0.NNNNNN mark=yes|no WxH
 * identical: every byte of the decoded pixels (RGB or RGBA, as imgdecode.h
 * expands the PNG) equal; ssim: luma SSIM (ssim.h) against the decoded JPEG;
 * mark: the file carries astropixel-sync's "APSY" chunk.
 * Exit status: 0 compared, 1 a file does not decode or sizes differ, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <webp/decode.h>
#include <webp/mux.h>
#include "imgdecode.h"
#include "ssim.h"

#define WEBPCHECK_MAX_BYTES (16u * 1024 * 1024)

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *p = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && n <= (long)WEBPCHECK_MAX_BYTES &&
	    fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)n)) &&
	    fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		p = NULL;
	}
	if (p)
		*len = (size_t)n;
	fclose(f);
	return p;
}

static int has_mark(const unsigned char *p, size_t n)
{
	WebPData in = {p, n}, chunk;
	WebPMux *mux = WebPMuxCreate(&in, 0);
	int yes = mux && WebPMuxGetChunk(mux, "APSY", &chunk) == WEBP_MUX_OK;

	WebPMuxDelete(mux);
	return yes;
}

int main(int argc, char **argv)
{
	unsigned char *src, *webp, *back = NULL, *ok;
	size_t slen = 0, wlen = 0, size;
	struct img im;
	int w, h, rc = 1;
	double s;

	if (argc != 3) {
		fputs("usage: webpcheck SOURCE WEBP\n", stderr);
		return 2;
	}
	src = slurp(argv[1], &slen);
	webp = slurp(argv[2], &wlen);
	if (!src || !webp || img_decode(src, slen, &im) != AP_OK) {
		fprintf(stderr, "webpcheck: cannot read or decode %s\n", argv[1]);
		goto out;
	}
	size = (size_t)im.stride * im.height;
	if (!WebPGetInfo(webp, wlen, &w, &h) || (uint32_t)w != im.width || (uint32_t)h != im.height ||
	    !(back = malloc(size))) {
		fprintf(stderr, "webpcheck: %s does not decode to %ux%u\n", argv[2], im.width,
			im.height);
		goto free_img;
	}
	ok = im.channels == 4 ? WebPDecodeRGBAInto(webp, wlen, back, size, (int)im.stride)
			      : WebPDecodeRGBInto(webp, wlen, back, size, (int)im.stride);
	if (!ok) {
		fprintf(stderr, "webpcheck: %s does not decode\n", argv[2]);
		goto free_img;
	}
	if (im.format == IMG_PNG) {
		printf("from=png identical=%s", memcmp(back, im.px, size) ? "no" : "yes");
	} else if (ssim_compute(im.px, back, im.width, im.height, im.stride, im.channels, SSIM_LUMA,
				&s) == AP_OK) {
		printf("from=jpg ssim=%.6f", s);
	} else {
		goto free_img;
	}
	printf(" mark=%s %ux%u\n", has_mark(webp, wlen) ? "yes" : "no", im.width, im.height);
	rc = 0;
free_img:
	img_free(&im);
out:
	free(back);
	free(src);
	free(webp);
	return rc;
}
