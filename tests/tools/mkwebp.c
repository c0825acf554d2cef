/*
 * mkwebp.c - the WebP variant of one JPEG or PNG file, as astropixel-sync
 * will make it (webp_variant.h), and what it cost; for the benchmark.
 *
 *   mkwebp [--ssim S] [--quality Q] [--method M] [--lossless-level L]
 *          [--png9] [--out FILE] IN
 *
 * --ssim is the threshold (0.NNN or 1; default 0.98), --quality a fixed
 * quality 1..100 instead of the search, --png9 also re-encodes the decoded
 * pixels as a PNG at zlib level 9 (libpng's adaptive filters) and prints its
 * size, to compare against a properly compressed PNG. Prints one line:
 *
 *   IN from=jpg 256x256 orig=B webp=B ratio=R quality=Q|lossless ssim=S
 *   ssim_rgb=S smaller=yes|no meets=yes|no encodes=N ms=T [png9=B]
 *
 * ssim is the luma SSIM the variant is held to; ssim_rgb the mean over R, G
 * and B (information only). Exit status: 0 made, 1 refused or failed, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <webp/decode.h>
#include "decimal.h"
#include "imgdecode.h"
#include "imgenc.h"
#include "ssim.h"
#include "webp_variant.h"

#define SSIM_DIGITS_MAX 9

struct mk_args {
	struct webp_opts o;
	const char *in, *out;
	int png9;
};

static int usage(const char *why)
{
	if (why)
		fprintf(stderr, "mkwebp: %s\n", why);
	fputs("usage: mkwebp [--ssim S] [--quality Q] [--method M] [--lossless-level L]\n"
	      "              [--png9] [--out FILE] IN\n", stderr);
	return 2;
}

/* "1" or "0." and 1..SSIM_DIGITS_MAX digits. */
static int parse_fraction(const char *s, double *out)
{
	uint64_t v;
	size_t n;

	if (strcmp(s, "1") == 0) {
		*out = 1;
		return 0;
	}
	if (strncmp(s, "0.", 2) != 0)
		return -1;
	n = strlen(s + 2);
	if (n == 0 || n > SSIM_DIGITS_MAX ||
	    dec_parse_u64(s + 2, n, UINT64_MAX, DEC_LEADING_ZEROS, &v) != AP_OK)
		return -1;
	*out = (double)v;
	while (n--)
		*out /= 10;
	return 0;
}

static int parse_int(const char *s, int max, int *out)
{
	uint64_t v;

	if (dec_parse_u64(s, strlen(s), (uint64_t)max, 0, &v) != AP_OK)
		return -1;
	*out = (int)v;
	return 0;
}

static int parse_args(int argc, char **argv, struct mk_args *a)
{
	webp_opts_default(&a->o);
	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;

		if (strcmp(opt, "--png9") == 0) {
			a->png9 = 1;
			continue;
		}
		if (opt[0] != '-') {
			if (a->in)
				return usage("one input file");
			a->in = opt;
			continue;
		}
		if (!val)
			return usage("option without a value");
		if (strcmp(opt, "--ssim") == 0)
			bad = parse_fraction(val, &a->o.ssim_min);
		else if (strcmp(opt, "--quality") == 0)
			bad = parse_int(val, 100, &a->o.quality) || a->o.quality == 0;
		else if (strcmp(opt, "--method") == 0)
			bad = parse_int(val, 6, &a->o.method);
		else if (strcmp(opt, "--lossless-level") == 0)
			bad = parse_int(val, 9, &a->o.lossless_level);
		else if (strcmp(opt, "--out") == 0)
			a->out = val;
		else
			return usage("unknown option");
		if (bad)
			return usage("bad value");
		i++;
	}
	return a->in ? 0 : usage("no input file");
}

static enum ap_err read_file(const char *path, struct buf *b)
{
	FILE *f = fopen(path, "rb");
	char chunk[65536];
	size_t n;
	enum ap_err e = AP_OK;

	if (!f)
		return AP_ERR_IO;
	while (!e && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		e = buf_add(b, chunk, n);
	if (!e && ferror(f))
		e = AP_ERR_IO;
	fclose(f);
	return e;
}

static enum ap_err write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	int bad;

	if (!f)
		return AP_ERR_IO;
	bad = fwrite(p, 1, n, f) != n;
	bad |= fclose(f) != 0;
	return bad ? AP_ERR_IO : AP_OK;
}

/* ssim_rgb of the variant, and the decoded pixels re-encoded at level 9. */
static enum ap_err extras(const struct buf *in, const struct webp_variant *v, int png9,
			  double *ssim_rgb, size_t *png9_len)
{
	struct img im;
	struct buf p;
	uint8_t *back = NULL;
	int w, h;
	enum ap_err e = img_decode(in->data, in->len, &im);

	buf_init(&p, IMGENC_MAX_BYTES);
	*ssim_rgb = 1;
	if (e)
		return e;
	if (!v->lossless) {
		e = AP_ERR_INTERNAL;
		back = WebPDecodeRGB(v->data, v->len, &w, &h);
		if (!back)
			goto fail;
		e = ssim_compute(im.px, back, im.width, im.height, im.stride, 3, SSIM_RGB_MEAN,
				 ssim_rgb);
		if (e)
			goto fail;
	}
	if (png9) {
		struct png_spec s = {.width = im.width, .height = im.height, .bit_depth = 8,
				     .color_type = im.channels == 4 ? PNG_COLOR_TYPE_RGB_ALPHA
								    : PNG_COLOR_TYPE_RGB,
				     .rows = im.px, .rowbytes = im.stride, .level = 9};

		e = imgenc_png(&s, &p);
		*png9_len = p.len;
	}
fail:
	WebPFree(back);
	buf_free(&p);
	img_free(&im);
	return e;
}

int main(int argc, char **argv)
{
	struct mk_args a = {.in = NULL};
	struct buf in;
	struct webp_variant v = {.data = NULL};
	double ssim_rgb = 0;
	size_t png9_len = 0;
	enum ap_err e;
	int rc = parse_args(argc, argv, &a);

	if (rc)
		return rc;
	buf_init(&in, IMG_MAX_INPUT_BYTES);
	e = read_file(a.in, &in);
	if (!e)
		e = webp_variant_make(in.data, in.len, &a.o, &v);
	if (!e)
		e = extras(&in, &v, a.png9, &ssim_rgb, &png9_len);
	if (!e && a.out)
		e = write_file(a.out, v.data, v.len);
	if (e) {
		fprintf(stderr, "mkwebp: %s: %s\n", a.in, ap_err_str(e));
		rc = 1;
		goto out;
	}
	printf("%s from=%s %ux%u orig=%zu webp=%zu ratio=%.4f quality=", a.in,
	       v.from == IMG_PNG ? "png" : "jpg", v.width, v.height, v.orig_len, v.len,
	       (double)v.len / (double)v.orig_len);
	if (v.lossless)
		printf("lossless");
	else
		printf("%d", v.quality);
	printf(" ssim=%.5f ssim_rgb=%.5f smaller=%s meets=%s encodes=%d ms=%.2f", v.ssim,
	       ssim_rgb, v.smaller ? "yes" : "no", v.meets_ssim ? "yes" : "no", v.encodes,
	       (double)v.encode_us / 1000);
	if (a.png9)
		printf(" png9=%zu", png9_len);
	printf("\n");
out:
	webp_variant_free(&v);
	buf_free(&in);
	return rc;
}
