/*
 * tileindex.c - builder, encoder, decoder and lookup of the tile index; see
 * tileindex.h, and docs/tile-index.md for the byte format.
 *
 * The builder keeps one bitmap per (level, format), allocated with the first
 * tile of that plane, so the bytes do not depend on the order of additions
 * and a tile added twice counts once. The encoder measures the three
 * encodings of every plane before it writes, so the output is reserved once
 * at its exact size and refused before any allocation if it is too large.
 *
 * The decoder runs the same plane walker twice: the first pass validates
 * every byte of the input without allocating and counts what the index
 * needs; the second runs over the copy kept in the index and records one
 * sample (cell, offset of the next entry) every TILEINDEX_SKIP list entries.
 * A list lookup is then a binary search over the samples and at most
 * TILEINDEX_SKIP - 1 varints.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "tileindex.h"
#include "dataset.h"

#define MAGIC "APTI"
#define MAGIC_LEN 4
#define HEADER_FIXED 33		/* magic .. updated_at length byte */
#define TRAILER_LEN 32		/* SHA-256 of everything before it */
#define LEVELS_MAX (TILE_Z_MAX + 1)
#define PLANES_MAX (LEVELS_MAX * FMT__COUNT)
#define VARINT_MAX 4		/* 28 bits: above every cell index and count */
#define FMT_ALL ((1u << FMT__COUNT) - 1)

struct ti_level {
	uint32_t cols, rows;	/* cols * rows <= TILEINDEX_MAX_CELLS */
};

static uint64_t cells_of(const struct ti_level *l)
{
	return (uint64_t)l->cols * l->rows;
}

struct tileindex_builder {
	struct tileindex_grid g;
	char updated_at[TILEINDEX_UPDATED_AT_MAX + 1];
	struct ti_level lv[LEVELS_MAX];			/* [z - min_zoom] */
	uint64_t *bits[LEVELS_MAX][FMT__COUNT];		/* NULL: no tile yet */
};

/* One plane of a decoded index; offsets are into the index's payload. */
struct ti_plane {
	uint8_t kind, z, fmt;
	uint32_t cols, rows;
	uint32_t start;		/* the kind byte */
	uint32_t off;		/* first bitmap byte or first list entry */
	uint32_t end;		/* one past the plane */
	uint32_t count;		/* list entries, or bits set in a bitmap */
	uint32_t skip;		/* first sample of a list in samples[] */
};

struct ti_sample {
	uint32_t cell;		/* entry j * TILEINDEX_SKIP of a list */
	uint32_t next;		/* offset of the entry after it */
};

struct tileindex {
	struct tileindex_grid g;
	char updated_at[TILEINDEX_UPDATED_AT_MAX + 1];
	unsigned formats;	/* bit f: format f has a plane on every level */
	unsigned nfmt;
	size_t nplanes;
	struct ti_plane *planes;	/* [(z - min_zoom) * nfmt + rank of the format] */
	unsigned char *payload;	/* the planes' bytes, validated */
	size_t payload_len;
	struct ti_sample *samples;
	size_t nsamples;
};

/* ---- shared: geometry, limits, checksum ---- */

static enum ap_err why_fmt(enum ap_err e, char *why, size_t whylen, const char *fmt, ...)
	AP_PRINTF(4, 5);

static enum ap_err why_fmt(enum ap_err e, char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return e;
}

/* The geometry of catalog.c, taken from there so the two cannot drift. */
static void level_grid(const struct tileindex_grid *g, unsigned z, uint64_t *cols, uint64_t *rows)
{
	struct dataset d;

	memset(&d, 0, sizeof(d));
	d.min_zoom = g->min_zoom;
	d.max_zoom = g->max_zoom;
	d.tile_size = g->tile_size;
	d.width = g->width;
	d.height = g->height;
	dataset_grid(&d, z, cols, rows);
}

/* The limits of dataset_parse, then the cells limit; fills lv. */
static enum ap_err grid_check(const struct tileindex_grid *g, struct ti_level lv[LEVELS_MAX],
			      char *why, size_t whylen)
{
	uint64_t total = 0, cols, rows;

	if (g->dataset > DATASET_ID_MAX)
		return why_fmt(AP_ERR_BAD_REQUEST, why, whylen, "dataset id %u too large",
			       g->dataset);
	if (g->min_zoom > g->max_zoom || g->max_zoom > TILE_Z_MAX)
		return why_fmt(AP_ERR_BAD_REQUEST, why, whylen, "zoom range %u..%u invalid",
			       g->min_zoom, g->max_zoom);
	if (g->tile_size < TILE_SIZE_MIN || g->tile_size > TILE_SIZE_MAX)
		return why_fmt(AP_ERR_BAD_REQUEST, why, whylen, "tile size %u outside %d..%d",
			       g->tile_size, TILE_SIZE_MIN, TILE_SIZE_MAX);
	if (!g->width || !g->height || g->width > IMAGE_SIDE_MAX || g->height > IMAGE_SIDE_MAX)
		return why_fmt(AP_ERR_BAD_REQUEST, why, whylen, "image size invalid");
	for (unsigned z = g->min_zoom; z <= g->max_zoom; z++) {
		level_grid(g, z, &cols, &rows);
		/* cols, rows >= 1; the product is checked without overflow */
		if (cols > TILEINDEX_MAX_CELLS || rows > (TILEINDEX_MAX_CELLS - total) / cols)
			return why_fmt(AP_ERR_TOO_LARGE, why, whylen,
				       "grid of more than %u cells", TILEINDEX_MAX_CELLS);
		total += cols * rows;
		lv[z - g->min_zoom].cols = (uint32_t)cols;
		lv[z - g->min_zoom].rows = (uint32_t)rows;
	}
	return AP_OK;
}

/* updated_at: bounded, printable ASCII (it is logged and compared). */
static enum ap_err stamp_check(const char *s, size_t len, char *why, size_t whylen)
{
	if (len > TILEINDEX_UPDATED_AT_MAX)
		return why_fmt(AP_ERR_BAD_REQUEST, why, whylen,
			       "updated_at longer than %d bytes", TILEINDEX_UPDATED_AT_MAX);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return why_fmt(AP_ERR_BAD_REQUEST, why, whylen,
				       "updated_at is not printable ASCII");
	return AP_OK;
}

static bool sha256(const void *p, size_t n, unsigned char out[TRAILER_LEN])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (!EVP_Digest(n ? p : "", n, md, &len, EVP_sha256(), NULL) || len != TRAILER_LEN)
		return false;
	memcpy(out, md, TRAILER_LEN);
	return true;
}

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* ---- builder ---- */

enum ap_err tileindex_builder_new(const struct dataset *d, const char *updated_at,
				  struct tileindex_builder **out, char *why, size_t whylen)
{
	struct tileindex_builder *b;
	struct tileindex_grid g;
	struct ti_level lv[LEVELS_MAX];
	size_t len = updated_at ? strnlen(updated_at, TILEINDEX_UPDATED_AT_MAX + 1) : 0;
	enum ap_err e;

	*out = NULL;
	memset(&g, 0, sizeof(g));
	g.dataset = d->id;
	g.min_zoom = d->min_zoom;
	g.max_zoom = d->max_zoom;
	g.tile_size = d->tile_size;
	g.width = d->width;
	g.height = d->height;
	if ((e = grid_check(&g, lv, why, whylen)) ||
	    (e = stamp_check(updated_at, len, why, whylen)))
		return e;
	b = calloc(1, sizeof(*b));
	if (!b)
		return why_fmt(AP_ERR_NOMEM, why, whylen, "out of memory");
	b->g = g;
	memcpy(b->lv, lv, sizeof(lv));
	if (len)
		memcpy(b->updated_at, updated_at, len);
	*out = b;
	return AP_OK;
}

enum ap_err tileindex_builder_add(struct tileindex_builder *b, unsigned z, uint32_t x,
				  uint32_t y, enum tile_fmt f)
{
	const struct ti_level *l;
	uint64_t **w, cell;

	if ((unsigned)f >= FMT__COUNT || z < b->g.min_zoom || z > b->g.max_zoom)
		return AP_ERR_BAD_REQUEST;
	l = &b->lv[z - b->g.min_zoom];
	if (x >= l->cols || y >= l->rows)
		return AP_ERR_BAD_REQUEST;
	w = &b->bits[z - b->g.min_zoom][f];
	if (!*w) {
		*w = calloc((cells_of(l) + 63) / 64, sizeof(**w));
		if (!*w)
			return AP_ERR_NOMEM;
	}
	cell = (uint64_t)y * l->cols + x;
	(*w)[cell / 64] |= 1ull << (cell % 64);
	return AP_OK;
}

void tileindex_builder_free(struct tileindex_builder *b)
{
	if (!b)
		return;
	for (unsigned l = 0; l < LEVELS_MAX; l++)
		for (unsigned f = 0; f < FMT__COUNT; f++)
			free(b->bits[l][f]);
	free(b);
}

/* ---- encoder ---- */

/* The first cell >= from whose bit equals want, or cells. w NULL: all clear. */
static uint64_t next_cell(const uint64_t *w, uint64_t cells, bool want, uint64_t from)
{
	while (from < cells) {
		uint64_t i = from / 64, word = w ? w[i] : 0;

		if (!want)
			word = ~word;
		word &= ~0ull << (from % 64);
		if (word) {
			from = i * 64 + (uint64_t)__builtin_ctzll(word);
			return from < cells ? from : cells;
		}
		from = (i + 1) * 64;
	}
	return cells;
}

/* Bytes of the list of cells whose bit equals want, count included; stops
 * counting once past limit (that list will not be chosen). */
static size_t list_len(const uint64_t *w, uint64_t cells, bool want, size_t limit,
		       uint64_t *count)
{
	uint64_t c, prev = 0, n = 0;
	size_t len = 0;

	for (c = next_cell(w, cells, want, 0); c < cells && len <= limit;
	     c = next_cell(w, cells, want, c + 1)) {
		len += varint_len(n ? c - prev : c);
		prev = c;
		n++;
	}
	*count = n;
	return len + varint_len(n);
}

struct ti_choice {
	enum tileindex_kind kind;
	uint64_t count;		/* list entries */
	size_t bytes;		/* the whole plane */
};

/* The smallest encoding; on a tie the faster lookup: bitmap, then lists. */
static struct ti_choice choose(const uint64_t *w, uint64_t cells)
{
	struct ti_choice best = {TI_BITMAP, 0, 1 + (cells + 7) / 8};
	uint64_t n;
	size_t len;

	len = 1 + list_len(w, cells, true, best.bytes, &n);
	if (len < best.bytes)
		best = (struct ti_choice){TI_PRESENT, n, len};
	len = 1 + list_len(w, cells, false, best.bytes, &n);
	if (len < best.bytes)
		best = (struct ti_choice){TI_ABSENT, n, len};
	return best;
}

static unsigned char *put_le(unsigned char *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		*p++ = (unsigned char)(v >> (8 * i));
	return p;
}

static unsigned char *put_varint(unsigned char *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	*p++ = (unsigned char)v;
	return p;
}

static unsigned char *put_plane(unsigned char *p, const uint64_t *w, uint64_t cells,
				const struct ti_choice *c)
{
	uint64_t cell, prev = 0, n = 0;

	*p++ = (unsigned char)c->kind;
	if (c->kind == TI_BITMAP) {
		for (uint64_t i = 0; i < (cells + 7) / 8; i++)
			*p++ = w ? (unsigned char)(w[i / 8] >> (8 * (i % 8))) : 0;
		return p;
	}
	p = put_varint(p, c->count);
	for (cell = next_cell(w, cells, c->kind == TI_PRESENT, 0); cell < cells;
	     cell = next_cell(w, cells, c->kind == TI_PRESENT, cell + 1)) {
		p = put_varint(p, n ? cell - prev : cell);
		prev = cell;
		n++;
	}
	return p;
}

static unsigned char *put_header(unsigned char *p, const struct tileindex_builder *b,
				 unsigned formats)
{
	size_t len = strlen(b->updated_at);

	memcpy(p, MAGIC, MAGIC_LEN);
	p += MAGIC_LEN;
	*p++ = TILEINDEX_VERSION;
	*p++ = (unsigned char)formats;
	*p++ = b->g.min_zoom;
	*p++ = b->g.max_zoom;
	p = put_le(p, b->g.dataset, 4);
	p = put_le(p, b->g.tile_size, 4);
	p = put_le(p, b->g.width, 8);
	p = put_le(p, b->g.height, 8);
	*p++ = (unsigned char)len;
	memcpy(p, b->updated_at, len);
	return p + len;
}

/* tileindex_builder_encode with the size limit as a parameter (tests). */
static enum ap_err encode_max(const struct tileindex_builder *b, struct buf *out, size_t max)
{
	struct ti_choice ch[LEVELS_MAX][FMT__COUNT];
	unsigned nlv = b->g.max_zoom - b->g.min_zoom + 1u, formats = 0;
	size_t total = HEADER_FIXED + strlen(b->updated_at) + TRAILER_LEN;
	unsigned char *start, *p;
	enum ap_err e;

	for (unsigned l = 0; l < nlv; l++)
		for (unsigned f = 0; f < FMT__COUNT; f++)
			formats |= b->bits[l][f] ? 1u << f : 0;
	for (unsigned l = 0; l < nlv && total <= max; l++)
		for (unsigned f = 0; f < FMT__COUNT; f++)
			if (formats & (1u << f)) {
				ch[l][f] = choose(b->bits[l][f], cells_of(&b->lv[l]));
				total += ch[l][f].bytes;
			}
	if (total > max)
		return AP_ERR_TOO_LARGE;
	if ((e = buf_reserve(out, total)))
		return e;
	start = p = (unsigned char *)out->data + out->len;
	p = put_header(p, b, formats);
	for (unsigned l = 0; l < nlv; l++)
		for (unsigned f = 0; f < FMT__COUNT; f++)
			if (formats & (1u << f))
				p = put_plane(p, b->bits[l][f], cells_of(&b->lv[l]), &ch[l][f]);
	if ((size_t)(p - start) != total - TRAILER_LEN || !sha256(start, total - TRAILER_LEN, p))
		return AP_ERR_INTERNAL;
	out->len += total;
	out->data[out->len] = '\0';
	return AP_OK;
}

enum ap_err tileindex_builder_encode(const struct tileindex_builder *b, struct buf *out)
{
	return encode_max(b, out, TILEINDEX_MAX_BYTES);
}

/* ---- decoder ---- */

/* A bounded cursor: every read checks what is left first. */
struct ti_reader {
	const unsigned char *p;
	size_t pos, end;
};

static bool get_bytes(struct ti_reader *r, size_t n, const unsigned char **out)
{
	if (n > r->end - r->pos)
		return false;
	*out = r->p + r->pos;
	r->pos += n;
	return true;
}

static bool get_le(struct ti_reader *r, unsigned n, uint64_t *v)
{
	const unsigned char *q;

	if (!get_bytes(r, n, &q))
		return false;
	*v = 0;
	for (unsigned i = 0; i < n; i++)
		*v |= (uint64_t)q[i] << (8 * i);
	return true;
}

/* LEB128, at most VARINT_MAX bytes, shortest form only (one value, one text). */
static bool get_varint(struct ti_reader *r, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned i = 0; i < VARINT_MAX && r->pos < r->end; i++) {
		unsigned char c = r->p[r->pos++];

		x |= (uint64_t)(c & 0x7f) << (7 * i);
		if (!(c & 0x80)) {
			*v = x;
			return i == 0 || c != 0;
		}
	}
	return false;
}

/* Every reason of the decoder about a plane starts with where it is. */
#define PLANE_WHY(pl, msg, ...) \
	why_fmt(AP_ERR_STORAGE, why, whylen, "level %u %s: " msg, (unsigned)(pl)->z, \
		tk_fmt_ext((enum tile_fmt)(pl)->fmt), __VA_ARGS__)

static enum ap_err read_bitmap(struct ti_reader *r, struct ti_plane *pl, uint64_t cells,
			       char *why, size_t whylen)
{
	const unsigned char *bm;
	size_t nbytes = (size_t)((cells + 7) / 8);
	uint64_t set = 0;

	pl->off = (uint32_t)r->pos;
	if (!get_bytes(r, nbytes, &bm))
		return PLANE_WHY(pl, "bitmap of %zu bytes, %zu left", nbytes, r->end - r->pos);
	if (cells % 8 && bm[nbytes - 1] >> (cells % 8))
		return PLANE_WHY(pl, "%s", "bits set past the last cell");
	for (size_t i = 0; i < nbytes; i++)
		set += (uint64_t)__builtin_popcount(bm[i]);
	pl->count = (uint32_t)set;
	return AP_OK;
}

/* A count, then the first cell and the gaps (>= 1) to each next one. */
static enum ap_err read_list(struct ti_reader *r, struct ti_plane *pl, uint64_t cells,
			     struct ti_sample *samples, char *why, size_t whylen)
{
	uint64_t n, v, cell = 0;

	if (!get_varint(r, &n))
		return PLANE_WHY(pl, "%s", "list length past the end or not in shortest form");
	/* every entry takes at least one byte: checked before walking them */
	if (n > cells || n > r->end - r->pos)
		return PLANE_WHY(pl, "list of %llu entries for %llu cells in %zu bytes",
				 (unsigned long long)n, (unsigned long long)cells, r->end - r->pos);
	pl->count = (uint32_t)n;
	pl->off = (uint32_t)r->pos;
	for (uint64_t i = 0; i < n; i++) {
		if (!get_varint(r, &v))
			return PLANE_WHY(pl, "entry %llu past the end or not in shortest form",
					 (unsigned long long)i);
		if (i && !v)
			return PLANE_WHY(pl, "entry %llu repeats a cell", (unsigned long long)i);
		cell = i ? cell + v : v;
		if (cell >= cells)
			return PLANE_WHY(pl, "entry %llu: cell %llu outside the %ux%u grid",
					 (unsigned long long)i, (unsigned long long)cell, pl->cols,
					 pl->rows);
		if (samples && i % TILEINDEX_SKIP == 0)
			samples[pl->skip + i / TILEINDEX_SKIP] =
				(struct ti_sample){(uint32_t)cell, (uint32_t)r->pos};
	}
	return AP_OK;
}

static enum ap_err read_plane(struct ti_reader *r, struct ti_plane *pl, struct ti_sample *samples,
			      char *why, size_t whylen)
{
	uint64_t kind, cells = (uint64_t)pl->cols * pl->rows;
	enum ap_err e;

	pl->start = (uint32_t)r->pos;
	if (!get_le(r, 1, &kind))
		return PLANE_WHY(pl, "%s", "missing");
	if (kind >= TI__COUNT)
		return PLANE_WHY(pl, "unknown kind %u", (unsigned)kind);
	pl->kind = (uint8_t)kind;
	e = kind == TI_BITMAP ? read_bitmap(r, pl, cells, why, whylen) :
				read_list(r, pl, cells, samples, why, whylen);
	pl->end = (uint32_t)r->pos;
	return e;
}

/* All planes of p[0..len), level by level, formats in order. Pass 1
 * (samples NULL) checks and counts; pass 2 records the samples. */
static enum ap_err read_planes(const unsigned char *p, size_t len, const struct tileindex *h,
			       const struct ti_level lv[LEVELS_MAX], struct ti_plane pl[PLANES_MAX],
			       struct ti_sample *samples, size_t *nsamples, char *why,
			       size_t whylen)
{
	struct ti_reader r = {p, 0, len};
	size_t k = 0, skip = 0;
	enum ap_err e;

	for (unsigned z = h->g.min_zoom; z <= h->g.max_zoom; z++)
		for (unsigned f = 0; f < FMT__COUNT; f++) {
			struct ti_plane *q = &pl[k];

			if (!(h->formats & (1u << f)))
				continue;
			k++;
			memset(q, 0, sizeof(*q));
			q->z = (uint8_t)z;
			q->fmt = (uint8_t)f;
			q->cols = lv[z - h->g.min_zoom].cols;
			q->rows = lv[z - h->g.min_zoom].rows;
			q->skip = (uint32_t)skip;
			if ((e = read_plane(&r, q, samples, why, whylen)))
				return e;
			if (q->kind != TI_BITMAP)
				skip += (q->count + TILEINDEX_SKIP - 1) / TILEINDEX_SKIP;
		}
	if (r.pos != len)
		return why_fmt(AP_ERR_STORAGE, why, whylen, "%zu bytes after the last plane",
			       len - r.pos);
	*nsamples = skip;
	return AP_OK;
}

/* Magic and version come first, before the checksum: a file that is no
 * index, or an index of another version, is named as such. */
static enum ap_err read_ident(struct ti_reader *r, char *why, size_t whylen)
{
	const unsigned char *m;
	uint64_t ver = 0;

	if (!get_bytes(r, MAGIC_LEN, &m) || memcmp(m, MAGIC, MAGIC_LEN))
		return why_fmt(AP_ERR_STORAGE, why, whylen, "not a tile index (bad magic)");
	if (!get_le(r, 1, &ver) || ver != TILEINDEX_VERSION)
		return why_fmt(AP_ERR_STORAGE, why, whylen, "format version %u, expected %d",
			       (unsigned)ver, TILEINDEX_VERSION);
	return AP_OK;
}

/* Formats, grid, updated_at (docs/tile-index.md). */
static enum ap_err read_header(struct ti_reader *r, struct tileindex *h,
			       struct ti_level lv[LEVELS_MAX], char *why, size_t whylen)
{
	const unsigned char *s;
	uint64_t fm, minz, maxz, id, ts, w, ht, len;

	if (!get_le(r, 1, &fm) || !get_le(r, 1, &minz) || !get_le(r, 1, &maxz) ||
	    !get_le(r, 4, &id) || !get_le(r, 4, &ts) || !get_le(r, 8, &w) || !get_le(r, 8, &ht) ||
	    !get_le(r, 1, &len))
		return why_fmt(AP_ERR_STORAGE, why, whylen, "truncated header");
	if (fm & ~(uint64_t)FMT_ALL)
		return why_fmt(AP_ERR_STORAGE, why, whylen, "unknown formats 0x%02x", (unsigned)fm);
	h->g = (struct tileindex_grid){(uint32_t)id, (uint8_t)minz, (uint8_t)maxz, (uint32_t)ts,
				       w, ht};
	if (grid_check(&h->g, lv, why, whylen))
		return AP_ERR_STORAGE;
	if (!get_bytes(r, len, &s))
		return why_fmt(AP_ERR_STORAGE, why, whylen, "updated_at past the end");
	if (stamp_check((const char *)s, len, why, whylen))
		return AP_ERR_STORAGE;
	memcpy(h->updated_at, s, len);
	h->updated_at[len] = '\0';
	h->formats = (unsigned)fm;
	h->nfmt = (unsigned)__builtin_popcount((unsigned)fm);
	h->nplanes = (size_t)(h->g.max_zoom - h->g.min_zoom + 1) * h->nfmt;
	return AP_OK;
}

/* A copy of h owning the planes, a copy of the payload and room for samples. */
static struct tileindex *index_new(const struct tileindex *h, const unsigned char *payload)
{
	struct tileindex *idx = malloc(sizeof(*idx));

	if (!idx)
		return NULL;
	*idx = *h;
	idx->planes = calloc(h->nplanes ? h->nplanes : 1, sizeof(*idx->planes));
	idx->payload = malloc(h->payload_len ? h->payload_len : 1);
	idx->samples = calloc(h->nsamples ? h->nsamples : 1, sizeof(*idx->samples));
	if (!idx->planes || !idx->payload || !idx->samples) {
		tileindex_free(idx);
		return NULL;
	}
	if (h->payload_len)
		memcpy(idx->payload, payload, h->payload_len);
	return idx;
}

_Static_assert(TILEINDEX_MAX_BYTES < UINT32_MAX, "plane offsets are 32-bit");

/* tileindex_decode with the size limit as a parameter (tests). */
static enum ap_err decode_max(const void *p, size_t n, size_t max, struct tileindex **out,
			      char *why, size_t whylen)
{
	const unsigned char *in = p;
	struct ti_level lv[LEVELS_MAX];
	struct ti_plane pl[PLANES_MAX];
	struct tileindex h, *idx;
	struct ti_reader r = {in, 0, 0};
	unsigned char md[TRAILER_LEN];
	enum ap_err e;

	*out = NULL;
	memset(&h, 0, sizeof(h));
	if (n > max || max > TILEINDEX_MAX_BYTES)
		return why_fmt(AP_ERR_STORAGE, why, whylen, "%zu bytes: more than the limit of %zu",
			       n, max);
	if (n < HEADER_FIXED + TRAILER_LEN)
		return why_fmt(AP_ERR_STORAGE, why, whylen, "truncated: %zu bytes", n);
	r.end = n - TRAILER_LEN;
	if ((e = read_ident(&r, why, whylen)))
		return e;
	if (!sha256(in, n - TRAILER_LEN, md))
		return why_fmt(AP_ERR_NOMEM, why, whylen, "cannot compute SHA-256");
	if (memcmp(md, in + n - TRAILER_LEN, TRAILER_LEN))
		return why_fmt(AP_ERR_STORAGE, why, whylen, "checksum mismatch");
	if ((e = read_header(&r, &h, lv, why, whylen)) ||
	    (e = read_planes(in + r.pos, r.end - r.pos, &h, lv, pl, NULL, &h.nsamples, why,
			     whylen)))
		return e;
	h.payload_len = r.end - r.pos;
	idx = index_new(&h, in + r.pos);
	if (!idx)
		return why_fmt(AP_ERR_NOMEM, why, whylen, "out of memory");
	/* the same bytes passed pass 1: this cannot fail */
	if (read_planes(idx->payload, idx->payload_len, idx, lv, idx->planes, idx->samples,
			&idx->nsamples, why, whylen)) {
		tileindex_free(idx);
		return AP_ERR_INTERNAL;
	}
	*out = idx;
	return AP_OK;
}

enum ap_err tileindex_decode(const void *p, size_t n, struct tileindex **out, char *why,
			     size_t whylen)
{
	return decode_max(p, n, TILEINDEX_MAX_BYTES, out, why, whylen);
}

void tileindex_free(struct tileindex *idx)
{
	if (!idx)
		return;
	free(idx->planes);
	free(idx->payload);
	free(idx->samples);
	free(idx);
}

/* ---- lookup ---- */

/* Is cell one of the entries of a list plane? */
static bool list_has(const struct tileindex *idx, const struct ti_plane *pl, uint64_t cell)
{
	const struct ti_sample *s = idx->samples + pl->skip;
	size_t lo = 0, hi = (pl->count + TILEINDEX_SKIP - 1) / TILEINDEX_SKIP, left;
	struct ti_reader r;
	uint64_t c, v;

	if (!pl->count || cell < s[0].cell)
		return false;
	while (hi - lo > 1) {	/* the last sample at or before cell */
		size_t mid = lo + (hi - lo) / 2;

		if (s[mid].cell <= cell)
			lo = mid;
		else
			hi = mid;
	}
	c = s[lo].cell;
	left = pl->count - lo * TILEINDEX_SKIP - 1;
	if (left > TILEINDEX_SKIP - 1)
		left = TILEINDEX_SKIP - 1;
	r = (struct ti_reader){idx->payload, s[lo].next, pl->end};
	while (c < cell && left-- && get_varint(&r, &v))
		c += v;
	return c == cell;
}

static bool plane_has(const struct tileindex *idx, const struct ti_plane *pl, uint64_t cell)
{
	if (pl->kind == TI_BITMAP)
		return (idx->payload[pl->off + cell / 8] >> (cell % 8)) & 1;
	return list_has(idx, pl, cell) == (pl->kind == TI_PRESENT);
}

unsigned tileindex_lookup(const struct tileindex *idx, unsigned z, uint32_t x, uint32_t y)
{
	const struct ti_plane *pl;
	unsigned mask = 0;
	uint64_t cell;

	if (z < idx->g.min_zoom || z > idx->g.max_zoom || !idx->nfmt)
		return 0;
	pl = &idx->planes[(size_t)(z - idx->g.min_zoom) * idx->nfmt];
	if (x >= pl->cols || y >= pl->rows)
		return 0;
	cell = (uint64_t)y * pl->cols + x;
	for (unsigned f = 0; f < FMT__COUNT; f++)
		if (idx->formats & (1u << f))
			mask |= plane_has(idx, pl++, cell) ? 1u << f : 0;
	return mask;
}

/* ---- accessors ---- */

const struct tileindex_grid *tileindex_grid(const struct tileindex *idx)
{
	return &idx->g;
}

const char *tileindex_updated_at(const struct tileindex *idx)
{
	return idx->updated_at;
}

bool tileindex_describes(const struct tileindex *idx, const struct dataset *d,
			 const char *updated_at)
{
	const struct tileindex_grid *g = &idx->g;

	return g->dataset == d->id && g->min_zoom == d->min_zoom && g->max_zoom == d->max_zoom &&
	       g->tile_size == d->tile_size && g->width == d->width && g->height == d->height &&
	       !strcmp(idx->updated_at, updated_at ? updated_at : "");
}

bool tileindex_plane(const struct tileindex *idx, unsigned z, enum tile_fmt f,
		     struct tileindex_plane *out)
{
	const struct ti_plane *pl;

	if (z < idx->g.min_zoom || z > idx->g.max_zoom || (unsigned)f >= FMT__COUNT ||
	    !(idx->formats & (1u << f)))
		return false;
	pl = &idx->planes[(size_t)(z - idx->g.min_zoom) * idx->nfmt +
			  (unsigned)__builtin_popcount(idx->formats & ((1u << f) - 1))];
	out->kind = (enum tileindex_kind)pl->kind;
	out->cols = pl->cols;
	out->rows = pl->rows;
	out->present = pl->kind == TI_ABSENT ? (uint64_t)pl->cols * pl->rows - pl->count :
					       pl->count;
	out->bytes = pl->end - pl->start;
	return true;
}

size_t tileindex_bytes(const struct tileindex *idx)
{
	return sizeof(*idx) + idx->nplanes * sizeof(*idx->planes) + idx->payload_len +
	       idx->nsamples * sizeof(*idx->samples);
}

unsigned tileindex_formats(const struct tileindex *idx)
{
	struct tileindex_plane pl;
	unsigned fmts = 0;

	for (int f = 0; idx && f < FMT__COUNT; f++)
		if (tileindex_plane(idx, idx->g.min_zoom, (enum tile_fmt)f, &pl))
			fmts |= 1u << f;
	return fmts;
}
