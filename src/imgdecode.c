/*
 * imgdecode.c - JPEG and PNG to RGB(A); see imgdecode.h for the contract.
 *
 * Both libraries report errors by longjmp. The setjmp() is in a function
 * (jpeg_run, png_run) whose own locals are never read after the jump: all
 * state it changes lives in a job struct owned by its caller, which frees
 * whatever is in the job whether the run returned or jumped. That is what
 * keeps garbage input from leaking (C11 7.13.2.1: locals of the function
 * that called setjmp and changed after it are indeterminate after longjmp).
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include "imgdecode.h"

static const unsigned char PNG_MAGIC[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
/* libpng keeps at most this many ancillary chunks (sPLT, unknown ones). */
#define IMG_PNG_MAX_CHUNKS 128

enum img_format img_sniff(const void *data, size_t len)
{
	const unsigned char *p = data;

	if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
		return IMG_JPEG;
	if (len >= sizeof(PNG_MAGIC) && memcmp(p, PNG_MAGIC, sizeof(PNG_MAGIC)) == 0)
		return IMG_PNG;
	return IMG_UNKNOWN;
}

/* Checked before any pixel is allocated. */
static enum ap_err check_dims(uint32_t w, uint32_t h)
{
	if (w == 0 || h == 0)
		return AP_ERR_BAD_REQUEST;
	if (w > IMG_MAX_SIDE || h > IMG_MAX_SIDE || (uint64_t)w * h > IMG_MAX_PIXELS)
		return AP_ERR_TOO_LARGE;
	return AP_OK;
}

static enum ap_err alloc_pixels(struct img *out, uint32_t w, uint32_t h, unsigned channels)
{
	out->width = w;
	out->height = h;
	out->channels = (uint8_t)channels;
	out->stride = w * channels;
	out->px = malloc((size_t)out->stride * h);
	return out->px ? AP_OK : AP_ERR_NOMEM;
}

/* ---- JPEG ------------------------------------------------------------------ */

struct jpeg_job {
	struct jpeg_decompress_struct cinfo;
	struct jpeg_error_mgr jerr;	/* first: cinfo.err points here */
	struct jpeg_progress_mgr progress;
	jmp_buf jmp;
	enum ap_err err;
	struct img *out;
};

static struct jpeg_job *job_of(j_common_ptr c)
{
	return (struct jpeg_job *)c->client_data;
}

static void jpeg_fail(j_common_ptr c)
{
	struct jpeg_job *j = job_of(c);

	j->err = c->err->msg_code == JERR_OUT_OF_MEMORY ? AP_ERR_NOMEM : AP_ERR_BAD_REQUEST;
	longjmp(j->jmp, 1);
}

/* Level -1 is a warning, i.e. corrupt data libjpeg would paper over; the
 * rest are traces. Nothing is printed either way. */
static void jpeg_message(j_common_ptr c, int level)
{
	if (level < 0) {
		job_of(c)->err = AP_ERR_BAD_REQUEST;
		longjmp(job_of(c)->jmp, 1);
	}
}

static void jpeg_silent(j_common_ptr c)
{
	(void)c;
}

static void jpeg_scan_limit(j_common_ptr c)
{
	if (c->is_decompressor &&
	    ((j_decompress_ptr)c)->input_scan_number > IMG_JPEG_MAX_SCANS) {
		job_of(c)->err = AP_ERR_BAD_REQUEST;
		longjmp(job_of(c)->jmp, 1);
	}
}

static enum ap_err jpeg_run(struct jpeg_job *j, const unsigned char *data, size_t len)
{
	j_decompress_ptr c = &j->cinfo;
	enum ap_err e;

	if (setjmp(j->jmp))
		return j->err;
	jpeg_create_decompress(c);	/* keeps err and client_data */
	c->progress = &j->progress;
	c->mem->max_memory_to_use = IMG_JPEG_MAX_MEMORY;
	jpeg_mem_src(c, data, (unsigned long)len);
	(void)jpeg_read_header(c, TRUE);
	e = check_dims(c->image_width, c->image_height);
	if (e)
		return e;
	c->out_color_space = JCS_RGB;	/* CMYK/YCCK cannot: start_decompress fails */
	(void)jpeg_start_decompress(c);
	if (c->output_components != 3 || c->output_width != c->image_width ||
	    c->output_height != c->image_height)
		return AP_ERR_BAD_REQUEST;
	e = alloc_pixels(j->out, c->output_width, c->output_height, 3);
	if (e)
		return e;
	while (c->output_scanline < c->output_height) {
		JSAMPROW row = j->out->px + (size_t)c->output_scanline * j->out->stride;

		if (jpeg_read_scanlines(c, &row, 1) != 1)
			return AP_ERR_BAD_REQUEST;
	}
	(void)jpeg_finish_decompress(c);
	return AP_OK;
}

static enum ap_err jpeg_decode(const unsigned char *data, size_t len, struct img *out)
{
	struct jpeg_job *j = calloc(1, sizeof(*j));	/* ~1 KiB, and jmp_buf */
	enum ap_err e;

	if (!j)
		return AP_ERR_NOMEM;
	j->out = out;
	j->cinfo.err = jpeg_std_error(&j->jerr);
	j->jerr.error_exit = jpeg_fail;
	j->jerr.emit_message = jpeg_message;
	j->jerr.output_message = jpeg_silent;
	j->progress.progress_monitor = jpeg_scan_limit;
	/* error_exit finds the job through client_data, which
	 * jpeg_create_decompress keeps; set it before anything can fail */
	j->cinfo.client_data = j;
	e = jpeg_run(j, data, len);
	jpeg_destroy_decompress(&j->cinfo);	/* no-op if create failed */
	free(j);
	return e;
}

/* ---- PNG ------------------------------------------------------------------- */

struct png_job {
	png_structp png;
	png_infop info;
	const unsigned char *data;
	size_t len, pos;
	png_bytep *rows;
	struct img *out;
};

static void png_fail(png_structp png, png_const_charp msg)
{
	(void)msg;
	png_longjmp(png, 1);
}

static void png_warn(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

static void png_read_mem(png_structp png, png_bytep dst, size_t n)
{
	struct png_job *j = png_get_io_ptr(png);

	if (n > j->len - j->pos)
		png_error(png, "truncated");
	memcpy(dst, j->data + j->pos, n);
	j->pos += n;
}

/* Every colour type to 8-bit RGB or RGBA (see imgdecode.h). */
static void png_normalise(struct png_job *j, int depth, int ctype)
{
	if (depth == 16)
		png_set_strip_16(j->png);
	png_set_expand(j->png);	/* palette, gray < 8 bits, tRNS -> alpha */
	if (!(ctype & PNG_COLOR_MASK_COLOR))
		png_set_gray_to_rgb(j->png);
	(void)png_set_interlace_handling(j->png);
	png_read_update_info(j->png, j->info);
}

static enum ap_err png_run(struct png_job *j)
{
	png_uint_32 w, h;
	int depth, ctype;
	unsigned ch;
	enum ap_err e;

	if (setjmp(png_jmpbuf(j->png)))
		return AP_ERR_BAD_REQUEST;
	png_set_read_fn(j->png, j, png_read_mem);
	png_set_chunk_malloc_max(j->png, IMG_MAX_INPUT_BYTES);
	/* libpng reads with benign errors as warnings, and "chunk data is too
	 * large" (past the limit above) is one: it then allocates the length a
	 * chunk claims, 1.8 GB for 100 bytes of input (found by tests/fuzz,
	 * corpus/imgdecode/regress-splt-length). Corrupt input is refused. */
	png_set_benign_errors(j->png, 0);
	png_set_chunk_cache_max(j->png, IMG_PNG_MAX_CHUNKS);
	png_read_info(j->png, j->info);
	if (!png_get_IHDR(j->png, j->info, &w, &h, &depth, &ctype, NULL, NULL, NULL))
		return AP_ERR_BAD_REQUEST;
	e = check_dims(w, h);
	if (e)
		return e;
	j->out->bit_depth = depth == 16 ? 16 : 8;
	png_normalise(j, depth, ctype);
	ch = png_get_channels(j->png, j->info);
	if ((ch != 3 && ch != 4) || png_get_bit_depth(j->png, j->info) != 8 ||
	    png_get_rowbytes(j->png, j->info) != (size_t)w * ch)
		return AP_ERR_INTERNAL;
	e = alloc_pixels(j->out, w, h, ch);
	if (e)
		return e;
	j->rows = malloc(h * sizeof(*j->rows));
	if (!j->rows)
		return AP_ERR_NOMEM;
	for (png_uint_32 y = 0; y < h; y++)
		j->rows[y] = j->out->px + (size_t)y * j->out->stride;
	png_read_image(j->png, j->rows);
	png_read_end(j->png, NULL);	/* to IEND: CRCs of what follows, truncation */
	return AP_OK;
}

static enum ap_err png_decode(const unsigned char *data, size_t len, struct img *out)
{
	struct png_job j = {.data = data, .len = len, .out = out};
	enum ap_err e = AP_ERR_NOMEM;

	j.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, png_fail, png_warn);
	if (!j.png)
		goto fail;
	j.info = png_create_info_struct(j.png);
	if (!j.info)
		goto fail;
	e = png_run(&j);
fail:
	if (j.png)
		png_destroy_read_struct(&j.png, j.info ? &j.info : NULL, NULL);
	free(j.rows);
	return e;
}

/* ---- both ------------------------------------------------------------------ */

enum ap_err img_decode(const void *data, size_t len, struct img *out)
{
	enum ap_err e;

	memset(out, 0, sizeof(*out));
	if (len > IMG_MAX_INPUT_BYTES)
		return AP_ERR_TOO_LARGE;
	out->format = img_sniff(data, len);
	out->bit_depth = 8;
	switch (out->format) {
	case IMG_JPEG:
		e = jpeg_decode(data, len, out);
		break;
	case IMG_PNG:
		e = png_decode(data, len, out);
		break;
	default:
		e = AP_ERR_BAD_REQUEST;
	}
	if (e)
		img_free(out);
	return e;
}

void img_free(struct img *im)
{
	free(im->px);
	memset(im, 0, sizeof(*im));
}
