/*
 * webp_variant.c - PNG to lossless WebP, JPEG to WebP at the lowest quality
 * that keeps SSIM; see webp_variant.h.
 *
 * Every encode is decoded again with libwebp into a buffer shaped like the
 * source (same channels and stride): lossy attempts are measured on it, and
 * a lossless result is compared byte for byte, so "pixels identical" is
 * checked on every variant made, not only in the tests.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <webp/decode.h>
#include <webp/encode.h>
#include "clock.h"
#include "ssim.h"
#include "webp_variant.h"

struct attempt {
	uint8_t *data;	/* WebPFree */
	size_t len;
	int quality;
	double ssim;
};

struct variant_job {
	struct img src;
	unsigned char *back;	/* an encode decoded again, like src */
	const struct webp_opts *o;
	int encodes;
};

void webp_opts_default(struct webp_opts *o)
{
	o->ssim_min = WEBP_SSIM_MIN_DEFAULT;
	o->quality = WEBP_QUALITY_SEARCH;
	o->method = WEBP_METHOD_DEFAULT;
	o->lossless_level = WEBP_LOSSLESS_LEVEL_DEFAULT;
}

static bool opts_valid(const struct webp_opts *o)
{
	return o->ssim_min > 0 && o->ssim_min <= 1 && o->quality >= 0 && o->quality <= 100 &&
	       o->method >= 0 && o->method <= 6 && o->lossless_level >= 0 &&
	       o->lossless_level <= 9;
}

/* One encode of im with cfg into *data (WebPFree), *len. */
static enum ap_err encode(const struct img *im, const WebPConfig *cfg, uint8_t **data,
			  size_t *len)
{
	WebPPicture pic;
	WebPMemoryWriter wr;
	enum ap_err e = AP_ERR_INTERNAL;
	int ok;

	if (!WebPPictureInit(&pic))
		return AP_ERR_INTERNAL;
	WebPMemoryWriterInit(&wr);
	pic.use_argb = 1;	/* the encoder converts to YUV as cfg says */
	pic.width = (int)im->width;
	pic.height = (int)im->height;
	pic.writer = WebPMemoryWrite;
	pic.custom_ptr = &wr;
	ok = im->channels == 4 ? WebPPictureImportRGBA(&pic, im->px, (int)im->stride)
			       : WebPPictureImportRGB(&pic, im->px, (int)im->stride);
	if (!ok) {
		e = AP_ERR_NOMEM;
		goto fail;
	}
	if (!WebPEncode(cfg, &pic)) {
		e = pic.error_code == VP8_ENC_ERROR_OUT_OF_MEMORY ? AP_ERR_NOMEM : AP_ERR_INTERNAL;
		goto fail;
	}
	*data = wr.mem;
	*len = wr.size;
	wr.mem = NULL;
	e = AP_OK;
fail:
	WebPMemoryWriterClear(&wr);
	WebPPictureFree(&pic);
	return e;
}

/* data[0..len) decoded into j->back with the source's shape. */
static enum ap_err decode_back(struct variant_job *j, const uint8_t *data, size_t len)
{
	size_t size = (size_t)j->src.stride * j->src.height;
	int w, h;
	uint8_t *p;

	if (!WebPGetInfo(data, len, &w, &h) || (uint32_t)w != j->src.width ||
	    (uint32_t)h != j->src.height)
		return AP_ERR_INTERNAL;
	p = j->src.channels == 4
		    ? WebPDecodeRGBAInto(data, len, j->back, size, (int)j->src.stride)
		    : WebPDecodeRGBInto(data, len, j->back, size, (int)j->src.stride);
	return p ? AP_OK : AP_ERR_INTERNAL;
}

static enum ap_err try_quality(struct variant_job *j, int q, struct attempt *a)
{
	WebPConfig cfg;
	enum ap_err e;

	memset(a, 0, sizeof(*a));
	if (!WebPConfigInit(&cfg))
		return AP_ERR_INTERNAL;
	cfg.quality = (float)q;
	cfg.method = j->o->method;
	e = encode(&j->src, &cfg, &a->data, &a->len);
	if (e)
		return e;
	j->encodes++;
	a->quality = q;
	e = decode_back(j, a->data, a->len);
	if (!e)
		e = ssim_compute(j->src.px, j->back, j->src.width, j->src.height, j->src.stride,
				 j->src.channels, SSIM_LUMA, &a->ssim);
	if (e) {
		WebPFree(a->data);
		a->data = NULL;
	}
	return e;
}

/* Lowest quality in [MIN, MAX] meeting ssim_min, or MAX if none does. */
static enum ap_err search(struct variant_job *j, struct attempt *best)
{
	int lo = WEBP_QUALITY_MIN, hi = WEBP_QUALITY_MAX;
	enum ap_err e;

	memset(best, 0, sizeof(*best));
	while (lo < hi) {	/* invariant: hi meets, or hi == MAX untried */
		int mid = lo + (hi - lo) / 2;
		struct attempt a;

		e = try_quality(j, mid, &a);
		if (e)
			return e;
		if (a.ssim >= j->o->ssim_min) {
			WebPFree(best->data);
			*best = a;
			hi = mid;
		} else {
			WebPFree(a.data);
			lo = mid + 1;
		}
	}
	return best->data ? AP_OK : try_quality(j, WEBP_QUALITY_MAX, best);
}

static enum ap_err make_lossy(struct variant_job *j, struct webp_variant *v)
{
	struct attempt a;
	enum ap_err e;

	if (j->o->quality == WEBP_QUALITY_SEARCH)
		e = search(j, &a);
	else
		e = try_quality(j, j->o->quality, &a);
	if (e)
		return e;
	v->data = a.data;
	v->len = a.len;
	v->quality = a.quality;
	v->ssim = a.ssim;
	v->meets_ssim = a.ssim >= j->o->ssim_min;
	return AP_OK;
}

static enum ap_err make_lossless(struct variant_job *j, struct webp_variant *v)
{
	WebPConfig cfg;
	enum ap_err e;

	if (j->src.bit_depth != 8)
		return AP_ERR_BAD_REQUEST;
	if (!WebPConfigInit(&cfg) || !WebPConfigLosslessPreset(&cfg, j->o->lossless_level))
		return AP_ERR_INTERNAL;
	cfg.exact = 1;	/* keep RGB under alpha 0: identical means identical */
	e = encode(&j->src, &cfg, &v->data, &v->len);
	if (e)
		return e;
	j->encodes++;
	e = decode_back(j, v->data, v->len);
	if (!e && memcmp(j->back, j->src.px, (size_t)j->src.stride * j->src.height) != 0)
		e = AP_ERR_INTERNAL;
	v->lossless = true;
	v->quality = -1;
	v->ssim = 1.0;
	v->meets_ssim = true;
	return e;
}

enum ap_err webp_variant_make(const void *orig, size_t len, const struct webp_opts *o,
			      struct webp_variant *out)
{
	struct variant_job j = {.o = o};
	long long t0 = clock_us();
	enum ap_err e = AP_ERR_BAD_REQUEST;

	memset(out, 0, sizeof(*out));
	if (!opts_valid(o))
		goto fail;
	e = img_decode(orig, len, &j.src);
	if (e)
		goto fail;
	e = AP_ERR_NOMEM;
	j.back = malloc((size_t)j.src.stride * j.src.height);
	if (!j.back)
		goto fail;
	out->from = j.src.format;
	e = j.src.format == IMG_PNG ? make_lossless(&j, out) : make_lossy(&j, out);
	if (e)
		goto fail;
	out->orig_len = len;
	out->smaller = out->len < len;
	out->encodes = j.encodes;
	out->width = j.src.width;
	out->height = j.src.height;
	out->encode_us = clock_us() - t0;
fail:
	if (e)
		webp_variant_free(out);
	free(j.back);
	img_free(&j.src);
	return e;
}

void webp_variant_free(struct webp_variant *v)
{
	WebPFree(v->data);
	memset(v, 0, sizeof(*v));
}
