/*
 * mksample - writes a synthetic star-field tile pyramid in the storage
 * layout of SPEC section 2:
 *
 *   OUT/tiles/{id}/{z}/{x}/{y}.{jpg|png}
 *   OUT/metadata/datasets/{id}.json
 *
 * Geometry (the server validates against exactly this): M = ceil(log2(max(W,
 * H))); level z shows the image reduced by d = 2^(M-z), wz = ceil(W/d), hz =
 * ceil(H/d); its grid is ceil(wz/T) x ceil(hz/T) tiles and edge tiles are
 * cropped, never padded (OpenSeadragon, no overlap).
 *
 * The scene lives in full-resolution pixel coordinates and is never drawn
 * as a whole: every tile is rendered directly at its level. A level pixel
 * is the average of the d x d scene pixels it covers, so each star's PSF is
 * widened by the pixel footprint and floored at PSF_MIN_SIGMA level pixels;
 * its flux is kept, so faint stars fade out at low zoom instead of aliasing
 * into single bright pixels. Stars are bucketed in a grid of STAR_CELL
 * scene pixels; a tile visits only the cells its footprint touches. Nebulae
 * are fBm clouds evaluated on a coarse lattice (a few level pixels apart,
 * bilinearly interpolated) with only the octaves that span at least
 * NEB_SAMPLES lattice steps, so their cost per tile is bounded at every
 * level and nothing finer than the lattice can alias.
 *
 * Linear intensities are mapped to 8 bits with an asinh stretch, the usual
 * display transfer of astronomical images. Everything random comes from
 * splitmix64 seeded by --seed, and per-pixel noise is a hash of (seed, z,
 * pixel), so a tile is the same whichever process renders it and in what
 * order: --jobs forks workers that split the tile list.
 *
 * Tiles are written to "name.tmp.PID" and renamed, so a crash never leaves a
 * truncated file under a final name; the metadata is written last.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jpegenc.h"
#include "pngenc.h"

#define DIM_MAX		262144		/* M <= 18 */
#define TILE_MIN	16
#define TILE_MAX	2048		/* scratch is 12 bytes per tile pixel */
#define NAME_MAX_LEN	200
#define JOBS_MAX	64
#define OUT_PATH_MAX	4096

#define STAR_CELL	128		/* scene px per grid cell side */
#define STARS_PER_PX	(1.0 / 400.0)	/* mean density of field stars */
#define STARS_MAX	4000000
#define STAR_FMIN	0.02		/* faintest flux (see scene units) */
#define STAR_FMAX	250.0
#define STAR_ALPHA	1.05		/* N(>F) ~ F^-alpha */
#define SEEING_SIGMA	0.85		/* PSF sigma of a faint star, scene px */
#define PSF_MIN_SIGMA	0.7		/* level px */
#define PSF_CUT		3.5		/* PSF drawn to this many sigma */
#define PSF_RAD_MAX	31		/* level px */
#define BRIGHT_PER_PX	(1.0 / 6.0e6)	/* stars with halo and spikes */
#define BRIGHT_MAX	64
#define FAINT_CUT	1.5e-4		/* contributions below are skipped */
#define CLOUDS_MAX	4
#define NEB_STEP	2		/* smallest nebula lattice step, level px */
#define NEB_STEP_MAX	8
#define NEB_SAMPLES	8		/* lattice steps per shortest octave */
#define NEB_DETAIL_MIN	32.0		/* shortest octave at all, scene px */
#define LOW_RASTER	1024.0		/* slow-field raster, points per side */
#define NEB_OCT_MAX	12
#define GLOW_LEVEL	0.0035		/* galactic band, linear */

/*
 * Scene units: a linear intensity of 1.0 is display white. A star of flux F
 * has its PSF integrate to F (scene px), so a faint star with F = 0.02 peaks
 * at about 0.004, just above the sky noise after the stretch.
 */
#define STRETCH_SOFT	0.02		/* asinh softening: linear below it */
#define SKY_R		0.0020
#define SKY_G		0.0024
#define SKY_B		0.0036
#define SKY_NOISE	0.0011		/* per scene px; averages down by 1/d */
#define LUT_SIZE	8192

/* ------------------------------------------------------------------ */
/* Randomness */

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double rng_unif(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static double rng_range(struct rng *r, double lo, double hi)
{
	return lo + (hi - lo) * rng_unif(r);
}

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static inline uint32_t hash2(int32_t x, int32_t y, uint32_t seed)
{
	uint32_t h = (uint32_t)x * 0x8DA6B343u ^ (uint32_t)y * 0xD8163841u ^
		     seed * 0xCB1AB31Fu;

	h ^= h >> 15;
	h *= 0x2C1B3C6Du;
	h ^= h >> 12;
	h *= 0x297A2D39u;
	h ^= h >> 15;
	return h;
}

/* ------------------------------------------------------------------ */
/* Gradient noise and fBm */

static const float grad_dir[16][2] = {
	{ 1.000f, 0.000f }, { 0.924f, 0.383f }, { 0.707f, 0.707f },
	{ 0.383f, 0.924f }, { 0.000f, 1.000f }, { -0.383f, 0.924f },
	{ -0.707f, 0.707f }, { -0.924f, 0.383f }, { -1.000f, 0.000f },
	{ -0.924f, -0.383f }, { -0.707f, -0.707f }, { -0.383f, -0.924f },
	{ 0.000f, -1.000f }, { 0.383f, -0.924f }, { 0.707f, -0.707f },
	{ 0.924f, -0.383f }
};

static inline float corner(int32_t xi, int32_t yi, uint32_t seed,
			   float fx, float fy)
{
	const float *g = grad_dir[hash2(xi, yi, seed) >> 28];

	return g[0] * fx + g[1] * fy;
}

/* Perlin-style gradient noise, roughly in [-0.7, 0.7]. */
static float gnoise(float x, float y, uint32_t seed)
{
	float flx = floorf(x), fly = floorf(y);
	int32_t xi = (int32_t)flx, yi = (int32_t)fly;
	float fx = x - flx, fy = y - fly;
	float u = fx * fx * fx * (fx * (fx * 6.0f - 15.0f) + 10.0f);
	float v = fy * fy * fy * (fy * (fy * 6.0f - 15.0f) + 10.0f);
	float a = corner(xi, yi, seed, fx, fy);
	float b = corner(xi + 1, yi, seed, fx - 1.0f, fy);
	float c = corner(xi, yi + 1, seed, fx, fy - 1.0f);
	float d = corner(xi + 1, yi + 1, seed, fx - 1.0f, fy - 1.0f);
	float ab = a + (b - a) * u, cd = c + (d - c) * u;

	return ab + (cd - ab) * v;
}

/*
 * fBm with octave weights w[k] in [0, 1] (0 ends the sum); each octave is
 * rotated and doubled so lattice directions do not line up.
 */
static float fbm(float x, float y, uint32_t seed, const float *w, int noct)
{
	float sum = 0.0f, amp = 1.0f;

	for (int k = 0; k < noct && w[k] > 0.0f; k++) {
		float nx;

		sum += amp * w[k] * gnoise(x, y, seed + (uint32_t)k * 101u);
		nx = 1.6f * x + 1.2f * y;
		y = -1.2f * x + 1.6f * y;
		x = nx;
		amp *= 0.5f;
	}
	return sum;
}

/* ------------------------------------------------------------------ */
/* The scene */

struct star {
	float x, y;		/* scene px */
	float flux;
	float sigma;		/* scene px */
	float col[3];		/* luminance-normalised colour */
};

struct bright {
	struct star s;
	float halo_flux, halo_r;	/* Moffat wing */
	float spike_flux, spike_len;	/* per axis */
	float angle;			/* spike orientation */
};

struct cloud {
	double cx, cy, radius, aspect, cs, sn;
	float col[3], tint[3];	/* the two colours the tint field mixes */
	float level;
	uint32_t seed;
	int dark;		/* dust: absorbs instead of emitting */
};

struct lowfield {
	long gw, gh;		/* raster points */
	double step;		/* scene px between points */
	int nf;			/* floats per point */
	float *v;
};

struct scene {
	long w, h;
	uint64_t seed;
	struct star *stars;	/* sorted by grid cell */
	size_t nstars;
	size_t *cell_start;	/* ncx * ncy + 1 prefix sums */
	long ncx, ncy;
	float max_sigma;
	struct bright bright[BRIGHT_MAX];
	int nbright;
	struct cloud cloud[CLOUDS_MAX];
	int nclouds;
	double band_a, band_c, band_w;	/* y/h = c + a (x/w - 1/2), width */
	uint32_t band_seed;
	struct lowfield low;
	float lut[LUT_SIZE + 1];	/* linear [0, 1] -> 0..255 */
};

/* Star colour for a temperature (Kelvin), normalised to luminance 1. */
static void temp_colour(double t, float col[3], double saturation)
{
	double t100 = t / 100.0, r, g, b, lum;

	if (t100 <= 66.0) {
		r = 255.0;
		g = 99.4708025861 * log(t100) - 161.1195681661;
	} else {
		r = 329.698727446 * pow(t100 - 60.0, -0.1332047592);
		g = 288.1221695283 * pow(t100 - 60.0, -0.0755148492);
	}
	if (t100 >= 66.0)
		b = 255.0;
	else if (t100 <= 19.0)
		b = 0.0;
	else
		b = 138.5177312231 * log(t100 - 10.0) - 305.0447927307;
	r = fmin(fmax(r, 0.0), 255.0) / 255.0;
	g = fmin(fmax(g, 0.0), 255.0) / 255.0;
	b = fmin(fmax(b, 0.0), 255.0) / 255.0;
	/* Toward white: real stars look only mildly tinted. */
	r = 1.0 + (r - 1.0) * saturation;
	g = 1.0 + (g - 1.0) * saturation;
	b = 1.0 + (b - 1.0) * saturation;
	lum = 0.2126 * r + 0.7152 * g + 0.0722 * b;
	col[0] = (float)(r / lum);
	col[1] = (float)(g / lum);
	col[2] = (float)(b / lum);
}

static double star_temperature(struct rng *r)
{
	double u = rng_unif(r);

	if (u < 0.45)
		return rng_range(r, 3000.0, 5200.0);	/* K, M: orange, red */
	if (u < 0.80)
		return rng_range(r, 5200.0, 7500.0);	/* G, F: white-yellow */
	return rng_range(r, 7500.0, 20000.0);		/* A, B: blue-white */
}

/* Shortest nebula wavelength at a level of d scene px per level px. */
static double neb_lambda_min(double d)
{
	return fmax(NEB_STEP * NEB_SAMPLES * d, NEB_DETAIL_MIN);
}

/* Lattice step (level px) at that level: NEB_SAMPLES per wavelength. */
static int neb_step(double d)
{
	int s = (int)(neb_lambda_min(d) / (NEB_SAMPLES * d));

	return s < NEB_STEP ? NEB_STEP : s > NEB_STEP_MAX ? NEB_STEP_MAX : s;
}

/*
 * Weight in [0, 1] of detail octave k of a cloud at a level of d scene px
 * per level px: octaves shorter than neb_lambda_min() are left out, the last
 * one faded in over one octave.
 */
static int octave_weights(const struct cloud *c, double d, float *w)
{
	int n = 0;

	for (int k = 0; k < NEB_OCT_MAX; k++) {
		/* Wavelength in scene px of octave k (base frequency 2). */
		double lambda = c->radius / (2.0 * (double)(1 << k));
		double lim = neb_lambda_min(d);
		double x = log2(lambda / lim) + 1.0;

		w[k] = (float)fmin(fmax(x, 0.0), 1.0);
		if (w[k] > 0.0f)
			n = k + 1;
	}
	return n;
}

/*
 * Sharpness of the filaments of a cloud at a level: (1 - |n|)^p is about
 * radius / 100 scene px wide at p = 8; where that is narrower than three
 * lattice steps p is lowered (widening them) and the brightness scaled by
 * p / 8 so that the mean brightness, i.e. what the eye sees when zoomed
 * out, stays the same.
 */
static float filament_power(const struct cloud *c, double d, int step)
{
	double ratio = 3.0 * step * d / (c->radius / 100.0);

	return (float)fmax(8.0 / fmax(ratio, 1.0), 1.0);
}

static const float low_w[4] = { 1.0f, 1.0f, 1.0f, 1.0f };

/* Distance from the galactic band's centre line, in band widths. */
static double band_dist(const struct scene *sc, double x, double y)
{
	return (y / (double)sc->h - sc->band_c -
		sc->band_a * (x / (double)sc->w - 0.5)) / sc->band_w;
}

static inline float clampf(float v, float lo, float hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/*
 * The slowly varying fields, precomputed once on a raster of at most
 * LOW_RASTER points per side: the galactic band glow, and per cloud the
 * domain-warped coordinates (px, py) and the tint mix t. Their shortest
 * wavelengths are tens of raster steps, so bilinear lookups are exact to
 * the eye at every level.
 */
static void low_compute(const struct scene *sc, double x, double y,
			float *f)
{
	float bd = (float)band_dist(sc, x, y);
	float glow = expf(-bd * bd);

	if (glow > 1e-3f) {
		float m = fbm((float)(x / sc->w) * 6.0f,
			      (float)(y / sc->w) * 6.0f, sc->band_seed,
			      low_w, 4);

		glow *= GLOW_LEVEL * clampf(0.6f + 1.2f * m, 0.0f, 2.0f);
	} else {
		glow = 0.0f;
	}
	f[0] = glow;
	for (int i = 0; i < sc->nclouds; i++) {
		const struct cloud *c = &sc->cloud[i];
		double dx = x - c->cx, dy = y - c->cy;
		float qx = (float)((dx * c->cs + dy * c->sn) / c->radius);
		float qy = (float)((-dx * c->sn + dy * c->cs) /
				   (c->radius * c->aspect));
		float *g = f + 1 + 3 * i;

		g[0] = qx + 0.6f * fbm(1.3f * qx + 5.2f, 1.3f * qy + 1.3f,
				       c->seed + 7u, low_w, 3);
		g[1] = qy + 0.6f * fbm(1.3f * qx + 8.3f, 1.3f * qy + 2.8f,
				       c->seed + 13u, low_w, 3);
		g[2] = clampf(0.5f + 1.6f * fbm(1.1f * g[0] + 3.1f,
						 1.1f * g[1] + 7.7f,
						 c->seed + 47u, low_w, 3),
			      0.0f, 1.0f);
	}
}

static int low_build(struct scene *sc)
{
	struct lowfield *lf = &sc->low;
	double side = (double)(sc->w > sc->h ? sc->w : sc->h);

	lf->step = fmax(1.0, side / LOW_RASTER);
	lf->gw = (long)ceil((double)sc->w / lf->step) + 2;
	lf->gh = (long)ceil((double)sc->h / lf->step) + 2;
	lf->nf = 1 + 3 * sc->nclouds;
	lf->v = malloc((size_t)(lf->gw * lf->gh * lf->nf) * sizeof(float));
	if (!lf->v)
		return -1;
	for (long j = 0; j < lf->gh; j++)
		for (long i = 0; i < lf->gw; i++)
			low_compute(sc, (double)i * lf->step,
				    (double)j * lf->step,
				    lf->v + (size_t)(j * lf->gw + i) * lf->nf);
	return 0;
}

/* Bilinear lookup of all slow fields at scene point (x, y). */
static void low_sample(const struct lowfield *lf, double x, double y,
		       float *f)
{
	double gx = x / lf->step, gy = y / lf->step;
	long ix = (long)floor(gx), iy = (long)floor(gy);
	float fx, fy;
	const float *a, *b, *c, *d;

	ix = ix < 0 ? 0 : ix > lf->gw - 2 ? lf->gw - 2 : ix;
	iy = iy < 0 ? 0 : iy > lf->gh - 2 ? lf->gh - 2 : iy;
	fx = clampf((float)(gx - (double)ix), 0.0f, 1.0f);
	fy = clampf((float)(gy - (double)iy), 0.0f, 1.0f);
	a = lf->v + (size_t)(iy * lf->gw + ix) * lf->nf;
	b = a + lf->nf;
	c = a + (size_t)lf->gw * lf->nf;
	d = c + lf->nf;
	for (int k = 0; k < lf->nf; k++) {
		float top = a[k] + (b[k] - a[k]) * fx;
		float bot = c[k] + (d[k] - c[k]) * fx;

		f[k] = top + (bot - top) * fy;
	}
}

/* Per-level constants of the nebula pass. */
struct neb_lod {
	float ow[CLOUDS_MAX][NEB_OCT_MAX];
	int noct[CLOUDS_MAX];
	float fil_pow[CLOUDS_MAX], fil_gain[CLOUDS_MAX];
};

/*
 * Nebula emission (rgb, linear) and dust transmission at scene point (x, y).
 * A cloud is a gaussian envelope of the warped coordinates, filled with
 * billowy fBm, threaded by ridged-fBm filaments and tinted between two
 * colours; the dust lane multiplies everything behind it.
 */
static void nebula_at(const struct scene *sc, const struct neb_lod *lod,
		      double x, double y, float rgb[3], float *trans)
{
	float f[1 + 3 * CLOUDS_MAX];

	low_sample(&sc->low, x, y, f);
	rgb[0] = f[0];
	rgb[1] = f[0] * 0.92f;
	rgb[2] = f[0] * 0.80f;
	*trans = 1.0f;
	for (int i = 0; i < sc->nclouds; i++) {
		const struct cloud *c = &sc->cloud[i];
		float px = f[1 + 3 * i], py = f[2 + 3 * i], t = f[3 + 3 * i];
		float e = expf(-1.5f * (px * px + py * py)), n, body, fil;

		if (e < 2e-4f)
			continue;
		n = fbm(2.0f * px, 2.0f * py, c->seed, lod->ow[i],
			lod->noct[i]);
		if (c->dark) {
			float a = clampf(0.45f + 1.5f * n, 0.0f, 1.0f);

			*trans *= 1.0f - c->level * e * a * a;
			continue;
		}
		body = clampf(0.4f + 1.1f * n, 0.0f, 1.3f);
		body = body * body + 0.15f;
		fil = 1.0f - fabsf(fbm(2.7f * px + 11.0f, 2.7f * py + 5.0f,
				       c->seed + 31u, lod->ow[i],
				       lod->noct[i]));
		fil = powf(clampf(fil, 0.0f, 1.0f), lod->fil_pow[i]) *
		      lod->fil_gain[i];
		for (int ch = 0; ch < 3; ch++) {
			float col = c->col[ch] + (c->tint[ch] - c->col[ch]) * t;

			rgb[ch] += c->level * e * col * (body + 0.8f * fil);
		}
	}
}

/* Grid cell of a star (float rounding may put x or y on the far edge). */
static size_t star_cell(const struct scene *sc, const struct star *s)
{
	long cx = (long)s->x / STAR_CELL, cy = (long)s->y / STAR_CELL;

	cx = cx < 0 ? 0 : cx >= sc->ncx ? sc->ncx - 1 : cx;
	cy = cy < 0 ? 0 : cy >= sc->ncy ? sc->ncy - 1 : cy;
	return (size_t)(cy * sc->ncx + cx);
}

static int build_scene(struct scene *sc, long w, long h, uint64_t seed)
{
	struct rng r = { seed ^ 0x5A17A5EEDull };
	double area = (double)w * (double)h;
	size_t want, n = 0, *count = NULL;
	struct star *tmp = NULL;
	double cl_x, cl_y, cl_r;

	memset(sc, 0, sizeof(*sc));
	sc->w = w;
	sc->h = h;
	sc->seed = seed;

	/* Clouds: two or three emission nebulae and one dust lane. */
	sc->nclouds = 2 + (int)(rng_next(&r) % 2);
	for (int i = 0; i < sc->nclouds; i++) {
		/* Two tints per kind: H-alpha with O III, O III with
		 * H-beta/S II, blue reflection with violet. */
		static const float body[3][3] = {
			{ 1.00f, 0.20f, 0.30f },
			{ 0.20f, 0.75f, 0.85f },
			{ 0.35f, 0.50f, 1.00f },
		};
		static const float rim[3][3] = {
			{ 0.30f, 0.75f, 0.80f },
			{ 0.90f, 0.35f, 0.55f },
			{ 0.70f, 0.45f, 1.00f },
		};
		struct cloud *c = &sc->cloud[i];
		double a = rng_range(&r, 0.0, M_PI);
		/* The first cloud is always the classic red H II region. */
		int kind = i == 0 ? 0 : 1 + (int)((seed + (uint64_t)i) % 2);

		c->radius = fmax((double)w, (double)h) * rng_range(&r, 0.09, 0.16);
		/* Keep clouds apart so each reads as its own nebula. */
		for (int tries = 0; tries < 50; tries++) {
			int clear = 1;

			c->cx = w * rng_range(&r, 0.2, 0.8);
			c->cy = h * rng_range(&r, 0.2, 0.8);
			for (int j = 0; j < i; j++)
				if (hypot(c->cx - sc->cloud[j].cx,
					  c->cy - sc->cloud[j].cy) <
				    1.6 * (c->radius + sc->cloud[j].radius))
					clear = 0;
			if (clear)
				break;
		}
		c->aspect = rng_range(&r, 0.55, 1.0);
		c->cs = cos(a);
		c->sn = sin(a);
		memcpy(c->col, body[kind], sizeof(c->col));
		memcpy(c->tint, rim[kind], sizeof(c->tint));
		c->level = (float)rng_range(&r, 0.035, 0.06);
		c->seed = (uint32_t)rng_next(&r);
	}
	{
		struct cloud *c = &sc->cloud[sc->nclouds++];
		const struct cloud *host = &sc->cloud[0];
		double a = rng_range(&r, 0.0, M_PI);

		c->cx = host->cx + host->radius * rng_range(&r, -0.4, 0.4);
		c->cy = host->cy + host->radius * rng_range(&r, -0.4, 0.4);
		c->radius = host->radius * rng_range(&r, 0.8, 1.1);
		c->aspect = rng_range(&r, 0.25, 0.4);
		c->cs = cos(a);
		c->sn = sin(a);
		c->level = 0.85f;
		c->seed = (uint32_t)rng_next(&r);
		c->dark = 1;
	}

	/* Field stars, denser along a faint diagonal band and in a cluster. */
	want = (size_t)fmin(area * STARS_PER_PX, (double)STARS_MAX);
	sc->band_a = rng_range(&r, -0.4, 0.4);
	sc->band_c = rng_range(&r, 0.35, 0.65);
	sc->band_w = rng_range(&r, 0.12, 0.2);
	sc->band_seed = (uint32_t)rng_next(&r);
	cl_x = w * rng_range(&r, 0.25, 0.75);
	cl_y = h * rng_range(&r, 0.25, 0.75);
	cl_r = fmax((double)w, (double)h) * 0.012;
	tmp = malloc((want + 1) * sizeof(*tmp));
	if (!tmp)
		goto fail;
	while (n < want) {
		struct star *s = &tmp[n];
		double x, y, u = rng_unif(&r), f;

		if (u < 0.04) {
			/* Plummer-like cluster profile. */
			double rr = cl_r / sqrt(pow(rng_unif(&r) + 1e-9, -2.0 / 3.0) - 1.0 + 1e-9);
			double th = rng_range(&r, 0.0, 2.0 * M_PI);

			x = cl_x + rr * cos(th);
			y = cl_y + rr * sin(th);
			if (x < 0 || y < 0 || x >= w || y >= h)
				continue;
		} else {
			double dist;

			x = rng_range(&r, 0.0, (double)w);
			y = rng_range(&r, 0.0, (double)h);
			dist = band_dist(sc, x, y);
			if (rng_unif(&r) > 0.4 + 0.6 * exp(-dist * dist))
				continue;
		}
		f = STAR_FMIN * pow(1.0 - rng_unif(&r), -1.0 / STAR_ALPHA);
		if (f > STAR_FMAX)
			f = STAR_FMAX * rng_range(&r, 0.6, 1.0);
		s->x = (float)x;
		s->y = (float)y;
		s->flux = (float)f;
		/* Bright stars look bigger: their wings rise above the sky. */
		s->sigma = (float)(SEEING_SIGMA *
				   (1.0 + 0.12 * log10(f / STAR_FMIN)));
		temp_colour(star_temperature(&r), s->col, 0.9);
		if (s->sigma > sc->max_sigma)
			sc->max_sigma = s->sigma;
		n++;
	}
	sc->nstars = n;

	/* Counting sort into grid cells. */
	sc->ncx = (w + STAR_CELL - 1) / STAR_CELL;
	sc->ncy = (h + STAR_CELL - 1) / STAR_CELL;
	count = calloc((size_t)(sc->ncx * sc->ncy) + 1, sizeof(*count));
	sc->stars = malloc((n + 1) * sizeof(*sc->stars));
	if (!count || !sc->stars)
		goto fail;
	for (size_t i = 0; i < n; i++)
		count[star_cell(sc, &tmp[i]) + 1]++;
	for (long i = 0; i < sc->ncx * sc->ncy; i++)
		count[i + 1] += count[i];
	sc->cell_start = count;
	{
		size_t *fill = malloc((size_t)(sc->ncx * sc->ncy) *
				      sizeof(*fill));

		if (!fill)
			goto fail;
		memcpy(fill, count, (size_t)(sc->ncx * sc->ncy) * sizeof(*fill));
		for (size_t i = 0; i < n; i++)
			sc->stars[fill[star_cell(sc, &tmp[i])]++] = tmp[i];
		free(fill);
	}
	free(tmp);
	tmp = NULL;

	/* A few bright stars with halo and diffraction spikes. */
	sc->nbright = (int)fmin(fmax(area * BRIGHT_PER_PX, 3.0), BRIGHT_MAX);
	for (int i = 0; i < sc->nbright; i++) {
		struct bright *b = &sc->bright[i];
		double f = 300.0 * pow(12.0, rng_unif(&r) * rng_unif(&r) * 2.0);

		b->s.x = (float)rng_range(&r, 0.0, (double)w);
		b->s.y = (float)rng_range(&r, 0.0, (double)h);
		b->s.flux = (float)f;
		b->s.sigma = (float)(SEEING_SIGMA * (1.3 + 0.25 * log10(f / 300.0)));
		temp_colour(star_temperature(&r), b->s.col, 0.75);
		b->halo_flux = (float)(0.35 * f);
		b->halo_r = (float)(2.5 * sqrt(f / 300.0) + 3.0);
		b->spike_flux = (float)(0.012 * f);
		b->spike_len = (float)(10.0 * sqrt(f / 300.0) + 6.0);
		b->angle = (float)(M_PI / 4.0 * 0.15);
	}

	if (low_build(sc))
		goto fail;

	for (int i = 0; i <= LUT_SIZE; i++) {
		double v = (double)i / LUT_SIZE;

		sc->lut[i] = (float)(255.0 * asinh(v / STRETCH_SOFT) /
				     asinh(1.0 / STRETCH_SOFT));
	}
	return 0;

fail:
	free(tmp);
	free(count);
	free(sc->stars);
	sc->stars = NULL;
	sc->cell_start = NULL;
	return -1;
}

static void free_scene(struct scene *sc)
{
	free(sc->stars);
	free(sc->cell_start);
	free(sc->low.v);
}

/* ------------------------------------------------------------------ */
/* Rendering one tile */

struct canvas {
	int w, h;		/* tile size in px */
	double ox, oy;		/* level px of the tile's top-left corner */
	double d;		/* scene px per level px */
	float *px;		/* w * h * 3, linear */
};

/* Level-pixel PSF sigma of a scene sigma: pixel footprint, then floor. */
static double level_sigma(double sigma, double d)
{
	double s = sqrt(sigma * sigma + (d * d - 1.0) / 12.0) / d;

	return s < PSF_MIN_SIGMA ? PSF_MIN_SIGMA : s;
}

static void splat_gauss(struct canvas *cv, const struct star *s, double flux)
{
	double sig = level_sigma(s->sigma, cv->d);
	double amp = flux / (cv->d * cv->d) / (2.0 * M_PI * sig * sig);
	double lx = s->x / cv->d - cv->ox, ly = s->y / cv->d - cv->oy;
	double inv = -0.5 / (sig * sig);
	int rad = (int)ceil(PSF_CUT * sig);
	int bx, by, x0, x1, y0, y1;
	float wx[2 * PSF_RAD_MAX + 1], wy[2 * PSF_RAD_MAX + 1];

	/* 1.8: the brightest channel of a luminance-1 colour. */
	if (amp * 1.8 < FAINT_CUT)
		return;
	if (rad > PSF_RAD_MAX)
		rad = PSF_RAD_MAX;
	bx = (int)floor(lx) - rad;
	by = (int)floor(ly) - rad;
	x0 = bx < 0 ? 0 : bx;
	y0 = by < 0 ? 0 : by;
	x1 = bx + 2 * rad >= cv->w ? cv->w - 1 : bx + 2 * rad;
	y1 = by + 2 * rad >= cv->h ? cv->h - 1 : by + 2 * rad;
	if (x0 > x1 || y0 > y1)
		return;
	for (int i = x0; i <= x1; i++) {
		double t = i + 0.5 - lx;

		wx[i - bx] = (float)exp(inv * t * t);
	}
	for (int j = y0; j <= y1; j++) {
		double t = j + 0.5 - ly;

		wy[j - by] = (float)(amp * exp(inv * t * t));
	}
	for (int j = y0; j <= y1; j++) {
		float *row = cv->px + (size_t)j * (size_t)cv->w * 3;

		for (int i = x0; i <= x1; i++) {
			float v = wy[j - by] * wx[i - bx];

			row[i * 3 + 0] += v * s->col[0];
			row[i * 3 + 1] += v * s->col[1];
			row[i * 3 + 2] += v * s->col[2];
		}
	}
}

/* Halo (Moffat, beta 2.5) and four diffraction spikes of a bright star. */
static void splat_bright(struct canvas *cv, const struct bright *b)
{
	const double beta = 2.5;
	double d = cv->d, d2 = d * d;
	double lx = b->s.x / d - cv->ox, ly = b->s.y / d - cv->oy;
	double hr = fmax(b->halo_r / d, PSF_MIN_SIGMA * 1.5);
	double hamp = b->halo_flux / d2 * (beta - 1.0) / (M_PI * hr * hr);
	double sl = fmax(b->spike_len / d, PSF_MIN_SIGMA);
	double sw = level_sigma(b->s.sigma * 0.6, d);
	double samp = b->spike_flux / d2 / (2.0 * sl) /
		      (sqrt(2.0 * M_PI) * sw);
	double ca = cos(b->angle), sa = sin(b->angle);
	double hext = 0.0, sext = 0.0, ext;
	int x0, x1, y0, y1;

	/* Where the halo and spikes fall below FAINT_CUT. */
	if (hamp > FAINT_CUT)
		hext = hr * sqrt(pow(hamp / FAINT_CUT, 1.0 / beta) - 1.0);
	if (samp > FAINT_CUT)
		sext = sl * log(samp / FAINT_CUT);
	ext = fmax(hext, sext) + 1.0;
	x0 = (int)floor(lx - ext);
	x1 = (int)ceil(lx + ext);
	y0 = (int)floor(ly - ext);
	y1 = (int)ceil(ly + ext);
	if (x1 < 0 || y1 < 0 || x0 >= cv->w || y0 >= cv->h)
		return;
	x0 = x0 < 0 ? 0 : x0;
	y0 = y0 < 0 ? 0 : y0;
	x1 = x1 >= cv->w ? cv->w - 1 : x1;
	y1 = y1 >= cv->h ? cv->h - 1 : y1;
	for (int j = y0; j <= y1; j++) {
		float *row = cv->px + ((size_t)j * cv->w) * 3;
		double dy = j + 0.5 - ly;

		for (int i = x0; i <= x1; i++) {
			double dx = i + 0.5 - lx;
			double r2 = (dx * dx + dy * dy) / (hr * hr);
			double v = 0.0;
			double u = dx * ca + dy * sa, t = -dx * sa + dy * ca;

			if (r2 < hext * hext / (hr * hr) + 1.0)
				v = hamp * pow(1.0 + r2, -beta);
			if (fabs(t) < 3.0 * sw)
				v += samp * exp(-fabs(u) / sl) *
				     exp(-0.5 * t * t / (sw * sw));
			if (fabs(u) < 3.0 * sw)
				v += samp * exp(-fabs(t) / sl) *
				     exp(-0.5 * u * u / (sw * sw));
			row[i * 3 + 0] += (float)(v * b->s.col[0]);
			row[i * 3 + 1] += (float)(v * b->s.col[1]);
			row[i * 3 + 2] += (float)(v * b->s.col[2]);
		}
	}
	splat_gauss(cv, &b->s, b->s.flux - b->halo_flux - 4.0 * b->spike_flux);
}

/*
 * Renders tile pixels into rgb (tw * th * 3 bytes). fbuf is scratch of
 * tw * th * 3 floats; nbuf of (tw / NEB_STEP + 2)^2 * 4 floats.
 */
static void render_tile(const struct scene *sc, int z, int maxz, int tsize,
			long tx, long ty, int tw, int th,
			float *fbuf, float *nbuf, unsigned char *rgb)
{
	struct canvas cv;
	double d = ldexp(1.0, maxz - z);
	struct neb_lod lod;
	int step = neb_step(d);
	int gw = tw / step + 2, gh = th / step + 2;
	double margin;
	long cx0, cx1, cy0, cy1;
	double noise_amp = SKY_NOISE / d;
	uint32_t nseed = (uint32_t)mix64(sc->seed ^ ((uint64_t)z << 56));

	cv.w = tw;
	cv.h = th;
	cv.ox = (double)tx * tsize;
	cv.oy = (double)ty * tsize;
	cv.d = d;
	cv.px = fbuf;
	memset(fbuf, 0, (size_t)tw * th * 3 * sizeof(float));

	/* Stars of every grid cell the tile footprint (plus PSF) touches. */
	margin = (PSF_CUT * level_sigma(sc->max_sigma, d) + 2.0) * d;
	cx0 = (long)floor((cv.ox * d - margin) / STAR_CELL);
	cx1 = (long)floor(((cv.ox + tw) * d + margin) / STAR_CELL);
	cy0 = (long)floor((cv.oy * d - margin) / STAR_CELL);
	cy1 = (long)floor(((cv.oy + th) * d + margin) / STAR_CELL);
	cx0 = cx0 < 0 ? 0 : cx0;
	cy0 = cy0 < 0 ? 0 : cy0;
	cx1 = cx1 >= sc->ncx ? sc->ncx - 1 : cx1;
	cy1 = cy1 >= sc->ncy ? sc->ncy - 1 : cy1;
	for (long cy = cy0; cy <= cy1; cy++)
		for (long cx = cx0; cx <= cx1; cx++) {
			size_t c = (size_t)(cy * sc->ncx + cx);

			for (size_t i = sc->cell_start[c];
			     i < sc->cell_start[c + 1]; i++)
				splat_gauss(&cv, &sc->stars[i],
					    sc->stars[i].flux);
		}
	for (int i = 0; i < sc->nbright; i++)
		splat_bright(&cv, &sc->bright[i]);

	/* Nebula emission and dust on the coarse lattice. */
	for (int i = 0; i < sc->nclouds; i++) {
		lod.noct[i] = octave_weights(&sc->cloud[i], d, lod.ow[i]);
		lod.fil_pow[i] = filament_power(&sc->cloud[i], d, step);
		lod.fil_gain[i] = lod.fil_pow[i] / 8.0f;
	}
	for (int j = 0; j < gh; j++)
		for (int i = 0; i < gw; i++) {
			float *g = nbuf + ((size_t)j * gw + i) * 4;

			nebula_at(sc, &lod, (cv.ox + i * step + 0.5) * d,
				  (cv.oy + j * step + 0.5) * d, g, &g[3]);
		}

	for (int j = 0; j < th; j++) {
		int gj = j / step;
		float fy = (float)(j % step) / (float)step;
		uint32_t py = (uint32_t)(cv.oy + j);

		for (int i = 0; i < tw; i++) {
			int gi = i / step;
			float fx = (float)(i % step) / (float)step;
			const float *g00 = nbuf + ((size_t)gj * gw + gi) * 4;
			const float *g10 = g00 + 4, *g01 = g00 + (size_t)gw * 4;
			const float *g11 = g01 + 4;
			float *p = fbuf + ((size_t)j * tw + i) * 3;
			uint32_t hsh = hash2((int32_t)(cv.ox + i),
					     (int32_t)py, nseed);
			/* Two-uniform sum: cheap, roughly gaussian noise. */
			float nz = ((float)(hsh & 0xFFFF) +
				    (float)(hsh >> 16)) * (1.0f / 65536.0f) - 1.0f;
			float dith = (float)((hsh * 0x9E3779B1u) >> 24) * (1.0f / 256.0f);
			float nb[4];
			static const float sky[3] = { SKY_R, SKY_G, SKY_B };

			for (int k = 0; k < 4; k++) {
				float a = g00[k] + (g10[k] - g00[k]) * fx;
				float b = g01[k] + (g11[k] - g01[k]) * fx;

				nb[k] = a + (b - a) * fy;
			}
			for (int ch = 0; ch < 3; ch++) {
				float v = (p[ch] + nb[ch]) * nb[3] + sky[ch] +
					  (float)noise_amp * 1.7f * nz;
				int idx;

				if (v <= 0.0f)
					v = 0.0f;
				idx = v >= 1.0f ? LUT_SIZE :
				      (int)(v * LUT_SIZE);
				v = sc->lut[idx] + dith;
				rgb[((size_t)j * tw + i) * 3 + ch] =
					(unsigned char)(v > 255.0f ? 255.0f : v);
			}
		}
	}
}

/* ------------------------------------------------------------------ */
/* Output */

struct options {
	const char *out;
	long id;
	long width, height;
	int tile_size;
	int png;
	int quality;
	const char *name;
	long owner;		/* -1: null */
	int private_;
	const char *status;
	uint64_t seed;
	int quiet;
	int zmin, zmax;		/* --only-levels, -1 when absent */
	int jobs;
};

static int max_zoom_of(long w, long h)
{
	long m = w > h ? w : h;
	int z = 0;

	while ((1L << z) < m)
		z++;
	return z;
}

static long level_dim(long full, int maxz, int z)
{
	long d = 1L << (maxz - z);
	long v = (full + d - 1) / d;

	return v < 1 ? 1 : v;
}

/* mkdir -p of the directory part of path (path itself is a file name). */
static int make_parents(char *path)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST) {
			fprintf(stderr, "mksample: mkdir %s: %s\n", path,
				strerror(errno));
			*p = '/';
			return -1;
		}
		*p = '/';
	}
	return 0;
}

/* Writes len bytes to path via a temporary name and rename(2). */
static int write_atomic(char *path, const void *data, size_t len)
{
	char tmp[OUT_PATH_MAX + 32];
	FILE *f;
	int n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		fprintf(stderr, "mksample: path too long: %s\n", path);
		return -1;
	}
	f = fopen(tmp, "wb");
	if (!f && errno == ENOENT) {
		if (make_parents(path))
			return -1;
		f = fopen(tmp, "wb");
	}
	if (!f) {
		fprintf(stderr, "mksample: %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	if (fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "mksample: write %s: %s\n", tmp,
			strerror(errno));
		if (f)
			(void)unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) != 0) {
		fprintf(stderr, "mksample: rename %s: %s\n", path,
			strerror(errno));
		(void)unlink(tmp);
		return -1;
	}
	return 0;
}

struct totals {
	uint64_t tiles, bytes;
};

/* Renders and writes every tile whose running index is job (mod jobs). */
static int run_worker(const struct scene *sc, const struct options *o,
		      int maxz, int job, int jobs, struct totals *tot)
{
	size_t tsz = (size_t)o->tile_size;
	float *fbuf = malloc(tsz * tsz * 3 * sizeof(float));
	float *nbuf = malloc((tsz / NEB_STEP + 2) * (tsz / NEB_STEP + 2) * 4 *
			     sizeof(float));
	unsigned char *rgb = malloc(tsz * tsz * 3);
	uint64_t index = 0;
	int rc = -1;

	if (!fbuf || !nbuf || !rgb) {
		fprintf(stderr, "mksample: out of memory\n");
		goto done;
	}
	for (int z = o->zmin; z <= o->zmax; z++) {
		long wz = level_dim(o->width, maxz, z);
		long hz = level_dim(o->height, maxz, z);
		long cols = (wz + o->tile_size - 1) / o->tile_size;
		long rows = (hz + o->tile_size - 1) / o->tile_size;

		for (long x = 0; x < cols; x++)
			for (long y = 0; y < rows; y++) {
				int tw = (int)((x + 1) * o->tile_size > wz ?
					       wz - x * o->tile_size : o->tile_size);
				int th = (int)((y + 1) * o->tile_size > hz ?
					       hz - y * o->tile_size : o->tile_size);
				char path[OUT_PATH_MAX];
				unsigned char *enc = NULL;
				size_t enclen = 0;
				int n, err;

				if (index++ % (uint64_t)jobs != (uint64_t)job)
					continue;
				render_tile(sc, z, maxz, o->tile_size, x, y,
					    tw, th, fbuf, nbuf, rgb);
				err = o->png ?
				      png_encode_rgb(rgb, tw, th, &enc, &enclen) :
				      jpeg_encode_rgb(rgb, tw, th, o->quality,
						      &enc, &enclen);
				if (err) {
					fprintf(stderr, "mksample: encode %d/%ld/%ld: %s\n",
						z, x, y, strerror(errno));
					goto done;
				}
				n = snprintf(path, sizeof(path),
					     "%s/tiles/%ld/%d/%ld/%ld.%s",
					     o->out, o->id, z, x, y,
					     o->png ? "png" : "jpg");
				if (n < 0 || (size_t)n >= sizeof(path)) {
					fprintf(stderr, "mksample: path too long\n");
					free(enc);
					goto done;
				}
				err = write_atomic(path, enc, enclen);
				free(enc);
				if (err)
					goto done;
				tot->tiles++;
				tot->bytes += enclen;
			}
	}
	rc = 0;
done:
	free(fbuf);
	free(nbuf);
	free(rgb);
	return rc;
}

/* Runs o->jobs forked workers; each reports its totals through a pipe. */
static int run_jobs(const struct scene *sc, const struct options *o,
		    int maxz, struct totals *tot)
{
	pid_t pids[JOBS_MAX];
	int fds[JOBS_MAX];
	int rc = 0, started = 0;

	if (o->jobs == 1)
		return run_worker(sc, o, maxz, 0, 1, tot);
	fflush(NULL);
	for (int j = 0; j < o->jobs; j++) {
		int p[2];

		if (pipe(p) != 0) {
			perror("mksample: pipe");
			rc = -1;
			break;
		}
		pids[j] = fork();
		if (pids[j] < 0) {
			perror("mksample: fork");
			close(p[0]);
			close(p[1]);
			rc = -1;
			break;
		}
		if (pids[j] == 0) {
			struct totals t = { 0, 0 };
			int r;

			close(p[0]);
			r = run_worker(sc, o, maxz, j, o->jobs, &t);
			if (write(p[1], &t, sizeof(t)) != (ssize_t)sizeof(t))
				r = -1;
			_exit(r == 0 ? 0 : 1);
		}
		close(p[1]);
		fds[j] = p[0];
		started++;
	}
	for (int j = 0; j < started; j++) {
		struct totals t;
		int status;

		if (read(fds[j], &t, sizeof(t)) == (ssize_t)sizeof(t)) {
			tot->tiles += t.tiles;
			tot->bytes += t.bytes;
		}
		close(fds[j]);
		while (waitpid(pids[j], &status, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			rc = -1;
	}
	return rc;
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static int write_metadata(const struct options *o, int maxz)
{
	char path[OUT_PATH_MAX];
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int n, rc;

	n = snprintf(path, sizeof(path), "%s/metadata/datasets/%ld.json",
		     o->out, o->id);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		fprintf(stderr, "mksample: path too long\n");
		return -1;
	}
	f = open_memstream(&buf, &len);
	if (!f) {
		perror("mksample: open_memstream");
		return -1;
	}
	fprintf(f, "{\"id\": %ld, \"name\": ", o->id);
	json_string(f, o->name);
	if (o->owner >= 0)
		fprintf(f, ", \"owner_id\": %ld", o->owner);
	else
		fputs(", \"owner_id\": null", f);
	fprintf(f, ", \"is_demo\": %s, \"min_zoom\": 0, \"max_zoom\": %d, "
		"\"tile_size\": %d, \"width\": %ld, \"height\": %ld, "
		"\"processing_status\": \"%s\", "
		"\"updated_at\": \"2026-01-01T00:00:00Z\", \"format\": \"%s\"}\n",
		o->private_ ? "false" : "true", maxz, o->tile_size,
		o->width, o->height, o->status, o->png ? "png" : "jpg");
	if (fclose(f) != 0) {
		perror("mksample: metadata");
		free(buf);
		return -1;
	}
	rc = write_atomic(path, buf, len);
	free(buf);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Command line */

static void usage(FILE *f)
{
	fputs("usage: mksample --out DIR --id N [--width W] [--height H]\n"
	      "         [--tile-size T] [--format jpg|png] [--quality Q]\n"
	      "         [--name TEXT] [--owner ID] [--private]\n"
	      "         [--status completed|processing|pending|failed]\n"
	      "         [--seed S] [--only-levels A-B] [--jobs N] [--quiet]\n"
	      "Writes a synthetic star-field tile pyramid:\n"
	      "  DIR/tiles/N/z/x/y.jpg and DIR/metadata/datasets/N.json\n"
	      "Defaults: 16384x8192, tile 256, jpg quality 85, public,\n"
	      "status completed, seed 1, every level, one job per CPU.\n", f);
}

static int parse_long(const char *opt, const char *s, long lo, long hi,
		      long *out)
{
	char *end;
	long v;

	if (!s) {
		fprintf(stderr, "mksample: %s needs a value\n", opt);
		return -1;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	/* strtol also takes blanks and '+': only plain decimals are wanted. */
	if (!(isdigit((unsigned char)s[0]) || s[0] == '-') || errno ||
	    end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "mksample: %s: expected an integer in %ld..%ld, got '%s'\n",
			opt, lo, hi, s);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_levels(const char *s, int *a, int *b)
{
	char *end;
	long x, y;

	if (!s || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	x = strtol(s, &end, 10);
	if (errno || end == s || x < 0 || x > 64)
		return -1;
	if (*end == '\0') {
		*a = *b = (int)x;
		return 0;
	}
	if (*end != '-')
		return -1;
	s = end + 1;
	if (!isdigit((unsigned char)s[0]))
		return -1;
	y = strtol(s, &end, 10);
	if (errno || end == s || *end || y < x || y > 64)
		return -1;
	*a = (int)x;
	*b = (int)y;
	return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	long v;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	memset(o, 0, sizeof(*o));
	o->id = -1;
	o->width = 16384;
	o->height = 8192;
	o->tile_size = 256;
	o->quality = 85;
	o->name = NULL;
	o->owner = -1;
	o->status = "completed";
	o->seed = 1;
	o->zmin = o->zmax = -1;
	o->jobs = ncpu < 1 ? 1 : ncpu > 8 ? 8 : (int)ncpu;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--quiet")) {
			o->quiet = 1;
		} else if (!strcmp(a, "--private")) {
			o->private_ = 1;
		} else if (!strcmp(a, "--out")) {
			if (!val || !*val) {
				fprintf(stderr, "mksample: --out needs a directory\n");
				return -1;
			}
			o->out = val;
			i++;
		} else if (!strcmp(a, "--name")) {
			if (!val || strlen(val) > NAME_MAX_LEN) {
				fprintf(stderr, "mksample: --name needs a text of at most %d bytes\n",
					NAME_MAX_LEN);
				return -1;
			}
			o->name = val;
			i++;
		} else if (!strcmp(a, "--format")) {
			if (val && !strcmp(val, "jpg"))
				o->png = 0;
			else if (val && !strcmp(val, "png"))
				o->png = 1;
			else {
				fprintf(stderr, "mksample: --format is jpg or png\n");
				return -1;
			}
			i++;
		} else if (!strcmp(a, "--status")) {
			if (!val || (strcmp(val, "completed") &&
				     strcmp(val, "processing") &&
				     strcmp(val, "pending") &&
				     strcmp(val, "failed"))) {
				fprintf(stderr, "mksample: --status is completed, processing, pending or failed\n");
				return -1;
			}
			o->status = val;
			i++;
		} else if (!strcmp(a, "--only-levels")) {
			if (parse_levels(val, &o->zmin, &o->zmax)) {
				fprintf(stderr, "mksample: --only-levels expects A-B or A (0 <= A <= B)\n");
				return -1;
			}
			i++;
		} else if (!strcmp(a, "--seed")) {
			char *end;
			unsigned long long s;

			errno = 0;
			s = val ? strtoull(val, &end, 10) : 0;
			if (!val || !isdigit((unsigned char)val[0]) || errno ||
			    end == val || *end) {
				fprintf(stderr, "mksample: --seed expects an unsigned integer\n");
				return -1;
			}
			o->seed = s;
			i++;
		} else if (!strcmp(a, "--id")) {
			if (parse_long(a, val, 0, 2147483647L, &o->id))
				return -1;
			i++;
		} else if (!strcmp(a, "--width")) {
			if (parse_long(a, val, 1, DIM_MAX, &o->width))
				return -1;
			i++;
		} else if (!strcmp(a, "--height")) {
			if (parse_long(a, val, 1, DIM_MAX, &o->height))
				return -1;
			i++;
		} else if (!strcmp(a, "--tile-size")) {
			if (parse_long(a, val, TILE_MIN, TILE_MAX, &v))
				return -1;
			o->tile_size = (int)v;
			i++;
		} else if (!strcmp(a, "--quality")) {
			if (parse_long(a, val, 1, 100, &v))
				return -1;
			o->quality = (int)v;
			i++;
		} else if (!strcmp(a, "--owner")) {
			if (parse_long(a, val, 0, 2147483647L, &o->owner))
				return -1;
			i++;
		} else if (!strcmp(a, "--jobs")) {
			if (parse_long(a, val, 1, JOBS_MAX, &v))
				return -1;
			o->jobs = (int)v;
			i++;
		} else {
			fprintf(stderr, "mksample: unknown argument '%s'\n", a);
			usage(stderr);
			return -1;
		}
	}
	if (!o->out || o->id < 0) {
		fprintf(stderr, "mksample: --out and --id are required\n");
		usage(stderr);
		return -1;
	}
	if (o->private_ && o->owner < 0) {
		fprintf(stderr, "mksample: --private requires --owner\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct options o;
	struct scene *sc;
	struct totals tot = { 0, 0 };
	struct timespec t0, t1;
	char defname[64];
	int maxz;
	double secs;

	if (parse_args(argc, argv, &o))
		return 2;
	maxz = max_zoom_of(o.width, o.height);
	if (o.zmin < 0) {
		o.zmin = 0;
		o.zmax = maxz;
	} else if (o.zmax > maxz) {
		fprintf(stderr, "mksample: --only-levels %d-%d: levels are 0..%d for %ldx%ld\n",
			o.zmin, o.zmax, maxz, o.width, o.height);
		return 2;
	}
	if (!o.name) {
		snprintf(defname, sizeof(defname), "Synthetic star field %ld",
			 o.id);
		o.name = defname;
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	sc = malloc(sizeof(*sc));
	if (!sc || build_scene(sc, o.width, o.height, o.seed)) {
		fprintf(stderr, "mksample: out of memory building the scene\n");
		free(sc);
		return 1;
	}
	if (run_jobs(sc, &o, maxz, &tot) || write_metadata(&o, maxz)) {
		free_scene(sc);
		free(sc);
		return 1;
	}
	free_scene(sc);
	free(sc);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (!o.quiet)
		printf("mksample: dataset %ld: %llu tiles, levels %d-%d of 0-%d, "
		       "%llu bytes, %.2f s\n", o.id,
		       (unsigned long long)tot.tiles, o.zmin, o.zmax, maxz,
		       (unsigned long long)tot.bytes, secs);
	return 0;
}
