/*
 * imgenc.c - fixture writers; see imgenc.h. setjmp is in the *_run
 * functions, whose locals are not read after a jump (as in src/imgdecode.c).
 */
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include "imgenc.h"

/* ---- PNG ------------------------------------------------------------------- */

struct png_out {
	struct buf *out;
	enum ap_err err;
};

static void png_write_mem(png_structp png, png_bytep p, size_t n)
{
	struct png_out *o = png_get_io_ptr(png);

	o->err = buf_add(o->out, p, n);
	if (o->err)
		png_error(png, "output");
}

static void png_flush_none(png_structp png)
{
	(void)png;
}

static void png_fail(png_structp png, png_const_charp msg)
{
	fprintf(stderr, "imgenc: libpng: %s\n", msg);
	png_longjmp(png, 1);
}

static enum ap_err png_run(png_structp png, png_infop info, const struct png_spec *s,
			   struct png_out *o)
{
	if (setjmp(png_jmpbuf(png)))
		return o->err ? o->err : AP_ERR_INTERNAL;
	png_set_write_fn(png, o, png_write_mem, png_flush_none);
	png_set_compression_level(png, s->level);
	png_set_IHDR(png, info, s->width, s->height, s->bit_depth, s->color_type,
		     s->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	if (s->palette)
		png_set_PLTE(png, info, s->palette, s->npalette);
	if (s->trns || s->trns_color)
		png_set_tRNS(png, info, s->trns, s->ntrns, s->trns_color);
	png_write_info(png, info);
	for (int pass = png_set_interlace_handling(png); pass > 0; pass--)
		for (uint32_t y = 0; y < s->height; y++)
			png_write_row(png, s->rows + (size_t)y * s->rowbytes);
	png_write_end(png, info);
	return AP_OK;
}

enum ap_err imgenc_png(const struct png_spec *s, struct buf *out)
{
	struct png_out o = {.out = out};
	png_structp png;
	png_infop info = NULL;
	enum ap_err e = AP_ERR_NOMEM;

	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_fail, NULL);
	if (!png)
		return AP_ERR_NOMEM;
	info = png_create_info_struct(png);
	if (info)
		e = png_run(png, info, s, &o);
	png_destroy_write_struct(&png, &info);
	return e;
}

/* ---- JPEG ------------------------------------------------------------------ */

struct jpeg_out {
	struct jpeg_error_mgr jerr;
	jmp_buf jmp;
	unsigned char *mem;	/* jpeg_mem_dest's buffer */
	unsigned long len;
	jpeg_scan_info script[1 + 63 * 3];
};

/* DC of all components, then each AC coefficient of each component alone. */
static void scan_per_coef(struct jpeg_compress_struct *c, struct jpeg_out *o)
{
	int n = 0;

	o->script[n].comps_in_scan = c->num_components;
	for (int k = 0; k < c->num_components; k++)
		o->script[n].component_index[k] = k;
	o->script[n].Ss = o->script[n].Se = o->script[n].Ah = o->script[n].Al = 0;
	n++;
	for (int k = 0; k < c->num_components; k++)
		for (int i = 1; i < 64; i++, n++) {
			o->script[n].comps_in_scan = 1;
			o->script[n].component_index[0] = k;
			o->script[n].Ss = o->script[n].Se = i;
			o->script[n].Ah = o->script[n].Al = 0;
		}
	c->scan_info = o->script;
	c->num_scans = n;
}

static void jpeg_fail(j_common_ptr c)
{
	char msg[JMSG_LENGTH_MAX];

	c->err->format_message(c, msg);
	fprintf(stderr, "imgenc: libjpeg: %s\n", msg);
	longjmp(((struct jpeg_out *)c->client_data)->jmp, 1);
}

static enum ap_err jpeg_run(struct jpeg_compress_struct *c, struct jpeg_out *o,
			    const unsigned char *px, uint32_t w, uint32_t h, unsigned channels,
			    int quality, enum imgenc_scans scans)
{
	if (setjmp(o->jmp))
		return AP_ERR_INTERNAL;
	jpeg_create_compress(c);	/* zeroes all but err and client_data */
	c->image_width = w;
	c->image_height = h;
	jpeg_mem_dest(c, &o->mem, &o->len);
	c->input_components = (int)channels;
	c->in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
	jpeg_set_defaults(c);
	jpeg_set_quality(c, quality, TRUE);
	if (scans == IMGENC_PROGRESSIVE)
		jpeg_simple_progression(c);
	else if (scans == IMGENC_SCAN_PER_COEF)
		scan_per_coef(c, o);
	jpeg_start_compress(c, TRUE);
	while (c->next_scanline < c->image_height) {
		JSAMPROW row = (JSAMPROW)px + (size_t)c->next_scanline * c->image_width * channels;

		(void)jpeg_write_scanlines(c, &row, 1);
	}
	jpeg_finish_compress(c);
	return AP_OK;
}

enum ap_err imgenc_jpeg(const unsigned char *px, uint32_t w, uint32_t h, unsigned channels,
			int quality, enum imgenc_scans scans, struct buf *out)
{
	struct jpeg_compress_struct c;
	struct jpeg_out o = {.mem = NULL};
	enum ap_err e;

	memset(&c, 0, sizeof(c));
	c.err = jpeg_std_error(&o.jerr);
	o.jerr.error_exit = jpeg_fail;
	c.client_data = &o;
	e = jpeg_run(&c, &o, px, w, h, channels, quality, scans);
	jpeg_destroy_compress(&c);
	if (!e)
		e = buf_add(out, o.mem, o.len);
	free(o.mem);
	return e;
}

/* ---- star field ------------------------------------------------------------ */

static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return *s >> 8;
}

static void add_star(float *f, uint32_t w, uint32_t h, uint32_t *seed)
{
	float cx = (float)(lcg(seed) % (w * 16)) / 16, cy = (float)(lcg(seed) % (h * 16)) / 16;
	float flux = 40.0f + (float)(lcg(seed) % 4000) / 10, sig = 0.7f + (float)(lcg(seed) % 100) / 80;
	float tint[3] = {1.0f, 0.85f + (float)(lcg(seed) % 30) / 100, 0.7f + (float)(lcg(seed) % 60) / 100};
	int r = (int)(sig * 4) + 1;

	for (int dy = -r; dy <= r; dy++)
		for (int dx = -r; dx <= r; dx++) {
			int x = (int)cx + dx, y = (int)cy + dy;
			float d2 = ((float)x - cx) * ((float)x - cx) + ((float)y - cy) * ((float)y - cy);
			float v;

			if (x < 0 || y < 0 || (uint32_t)x >= w || (uint32_t)y >= h)
				continue;
			v = flux * expf(-d2 / (2 * sig * sig));
			for (int c = 0; c < 3; c++)
				f[((size_t)y * w + (size_t)x) * 3 + (size_t)c] += v * tint[c];
		}
}

unsigned char *imgenc_starfield(uint32_t w, uint32_t h, unsigned channels, uint32_t seed)
{
	size_t n = (size_t)w * h;
	float *f = malloc(n * 3 * sizeof(float));
	unsigned char *px = malloc(n * channels);
	uint32_t nstars = (uint32_t)(n / 300) + 3;

	if (!f || !px || (channels != 3 && channels != 4)) {
		free(f);
		free(px);
		return NULL;
	}
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++) {
			float neb = 30.0f * expf(-(((float)x - 0.3f * (float)w) * ((float)x - 0.3f * (float)w) +
						 ((float)y - 0.6f * (float)h) * ((float)y - 0.6f * (float)h)) /
						(0.1f * (float)(w * w + h * h) + 1));
			float *p = f + ((size_t)y * w + x) * 3;

			p[0] = 6 + neb + (float)(lcg(&seed) % 6);
			p[1] = 6 + 0.3f * neb + (float)(lcg(&seed) % 6);
			p[2] = 10 + 0.5f * neb + (float)(lcg(&seed) % 6);
		}
	for (uint32_t i = 0; i < nstars; i++)
		add_star(f, w, h, &seed);
	for (size_t i = 0; i < n; i++) {
		for (unsigned c = 0; c < 3; c++)
			px[i * channels + c] = (unsigned char)(f[i * 3 + c] > 255 ? 255 : f[i * 3 + c]);
		if (channels == 4) {	/* 0 at the left edge, 255 from 3/4 on */
			size_t a = (i % w) * 340 / w;

			px[i * 4 + 3] = (unsigned char)(a > 255 ? 255 : a);
		}
	}
	free(f);
	return px;
}
