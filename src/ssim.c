/*
 * ssim.c - SSIM with a clipped gaussian window; see ssim.h.
 *
 * The window is separable and clipping it to the image keeps it a product
 * of a row and a column window, whose weight sums multiply: so a horizontal
 * pass, each row normalised by its own clipped weight sum, followed by a
 * vertical pass normalised the same way is exactly the clipped, renormalised
 * 2-D window. The horizontal pass fills a ring of SSIM_WINDOW rows of the
 * five local sums (a, b, a^2, b^2, ab); output row y is made as soon as
 * rows up to y + radius are in the ring, so memory is O(width).
 */
#include <math.h>
#include <stdlib.h>
#include "ssim.h"

#define RADIUS (SSIM_WINDOW / 2)
#define NSUM 5	/* a, b, a*a, b*b, a*b */
#define C1 (0.01 * 255 * 0.01 * 255)
#define C2 (0.03 * 255 * 0.03 * 255)
#define SEL_LUMA (-1)

struct ssim_job {
	const unsigned char *a, *b;
	uint32_t w, h, stride;
	unsigned ch;
	double g[SSIM_WINDOW];	/* gaussian weights, g[RADIUS] = 1 */
	double gn[SSIM_WINDOW];	/* the same / their sum: the unclipped window */
	double *line;		/* [NSUM][w]: a, b, a*a, b*b, a*b of one row */
	double *ring;		/* [SSIM_WINDOW][NSUM][w]: rows through the window */
	double *acc;		/* [NSUM][w]: one output row's local means */
};

static double *ring_at(const struct ssim_job *j, uint32_t row, unsigned k)
{
	return j->ring + ((size_t)(row % SSIM_WINDOW) * NSUM + k) * j->w;
}

/* Luma (sel < 0) or channel sel of row r of one image. */
static void samples(const struct ssim_job *j, const unsigned char *im, uint32_t r, int sel,
		    double *out)
{
	const unsigned char *p = im + (size_t)r * j->stride;

	for (uint32_t x = 0; x < j->w; x++, p += j->ch)
		out[x] = sel < 0 ? 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2] : p[sel];
}

/* The window at x clipped to [0, w), renormalised (the borders). */
static double clipped(const struct ssim_job *j, const double *in, uint32_t x)
{
	uint32_t x0 = x >= RADIUS ? x - RADIUS : 0;
	uint32_t x1 = x + RADIUS < j->w ? x + RADIUS : j->w - 1;
	double ws = 0, s = 0;

	for (uint32_t i = x0; i <= x1; i++) {
		ws += j->g[i + RADIUS - x];
		s += j->g[i + RADIUS - x] * in[i];
	}
	return s / ws;
}

static void hfilter(const struct ssim_job *j, const double *in, double *out)
{
	uint32_t x = 0;

	for (; x < j->w && x < RADIUS; x++)
		out[x] = clipped(j, in, x);
	if (j->w > 2 * RADIUS) {	/* tap by tap: no dependency chain along x */
		uint32_t end = j->w - RADIUS;

		for (uint32_t i = x; i < end; i++)
			out[i] = 0;
		for (int t = 0; t < SSIM_WINDOW; t++) {
			const double *p = in + t - RADIUS;
			double g = j->gn[t];

			for (uint32_t i = x; i < end; i++)
				out[i] += g * p[i];
		}
		x = end;
	}
	for (; x < j->w; x++)
		out[x] = clipped(j, in, x);
}

/* Row r through the horizontal window into its ring slot. */
static void load_row(struct ssim_job *j, uint32_t r, int sel)
{
	double *la = j->line, *lb = la + j->w, *aa = lb + j->w, *bb = aa + j->w, *ab = bb + j->w;

	samples(j, j->a, r, sel, la);
	samples(j, j->b, r, sel, lb);
	for (uint32_t x = 0; x < j->w; x++) {
		aa[x] = la[x] * la[x];
		bb[x] = lb[x] * lb[x];
		ab[x] = la[x] * lb[x];
	}
	for (unsigned k = 0; k < NSUM; k++)
		hfilter(j, j->line + (size_t)k * j->w, ring_at(j, r, k));
}

/* Sum over row y of the SSIM map, from the ring rows y - RADIUS .. y + RADIUS. */
static double emit_row(const struct ssim_job *j, uint32_t y)
{
	uint32_t r0 = y >= RADIUS ? y - RADIUS : 0;
	uint32_t r1 = y + RADIUS < j->h ? y + RADIUS : j->h - 1;
	size_t n = (size_t)NSUM * j->w;
	const double *m0 = j->acc, *m1 = m0 + j->w, *m2 = m1 + j->w, *m3 = m2 + j->w,
		     *m4 = m3 + j->w;
	double ws = 0, total = 0;

	for (uint32_t r = r0; r <= r1; r++)
		ws += j->g[r + RADIUS - y];
	for (size_t i = 0; i < n; i++)
		j->acc[i] = 0;
	for (uint32_t r = r0; r <= r1; r++) {
		double g = j->g[r + RADIUS - y] / ws;

		for (unsigned k = 0; k < NSUM; k++) {
			const double *p = ring_at(j, r, k);
			double *a = j->acc + (size_t)k * j->w;

			for (uint32_t x = 0; x < j->w; x++)
				a[x] += g * p[x];
		}
	}
	for (uint32_t x = 0; x < j->w; x++) {
		double va = m2[x] - m0[x] * m0[x], vb = m3[x] - m1[x] * m1[x];
		double cov = m4[x] - m0[x] * m1[x];

		total += ((2 * m0[x] * m1[x] + C1) * (2 * cov + C2)) /
			 ((m0[x] * m0[x] + m1[x] * m1[x] + C1) * (va + vb + C2));
	}
	return total;
}

static double plane_ssim(struct ssim_job *j, int sel)
{
	uint32_t loaded = 0;	/* rows [0, loaded) have been through load_row */
	double total = 0;

	for (uint32_t y = 0; y < j->h; y++) {
		uint32_t need = y + RADIUS < j->h ? y + RADIUS + 1 : j->h;

		while (loaded < need)
			load_row(j, loaded++, sel);
		total += emit_row(j, y);
	}
	return total / ((double)j->w * j->h);
}

enum ap_err ssim_compute(const unsigned char *a, const unsigned char *b, uint32_t width,
			 uint32_t height, uint32_t stride, unsigned channels, enum ssim_mode mode,
			 double *out)
{
	struct ssim_job j = {.a = a, .b = b, .w = width, .h = height, .stride = stride,
			     .ch = channels};
	enum ap_err e = AP_ERR_NOMEM;
	double gsum = 0;

	*out = 0;
	if (width == 0 || height == 0 || (channels != 3 && channels != 4) ||
	    (uint64_t)stride < (uint64_t)width * channels)
		return AP_ERR_BAD_REQUEST;
	if (width > SSIM_MAX_WIDTH)
		return AP_ERR_TOO_LARGE;
	for (int i = 0; i < SSIM_WINDOW; i++) {
		j.g[i] = exp(-(double)((i - RADIUS) * (i - RADIUS)) / (2 * SSIM_SIGMA * SSIM_SIGMA));
		gsum += j.g[i];
	}
	for (int i = 0; i < SSIM_WINDOW; i++)
		j.gn[i] = j.g[i] / gsum;
	j.line = malloc((size_t)NSUM * width * sizeof(double));
	j.acc = malloc((size_t)NSUM * width * sizeof(double));
	j.ring = malloc((size_t)SSIM_WINDOW * NSUM * width * sizeof(double));
	if (!j.line || !j.acc || !j.ring)
		goto fail;
	if (mode == SSIM_LUMA)
		*out = plane_ssim(&j, SEL_LUMA);
	else
		*out = (plane_ssim(&j, 0) + plane_ssim(&j, 1) + plane_ssim(&j, 2)) / 3;
	e = AP_OK;
fail:
	free(j.line);
	free(j.acc);
	free(j.ring);
	return e;
}
