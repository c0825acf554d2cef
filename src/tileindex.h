/*
 * tileindex.h - which tiles of a dataset exist, in which formats: one
 * compact object per dataset, metadata/datasets/{id}.index (docs/tile-index.md).
 *
 * The index describes one grid (the geometry of dataset.h dataset_grid) and
 * the metadata `updated_at` it was built for. For each level and each format
 * it holds a "plane": the set of present cells, encoded as a bitmap (one bit
 * per cell), a sorted list of present cells or a sorted list of absent ones,
 * whichever is smallest. A SHA-256 trailer covers every byte before it.
 *
 * Invariants: a decoded index is internally consistent (every cell inside
 * its level's grid, lists strictly increasing, no byte unaccounted for);
 * tileindex_decode() is a pure function of its input that reads only
 * p[0..n) and checks every length and count against the bytes left and the
 * limits below before it allocates. The in-memory form is the validated
 * plane bytes plus one 8-byte sample per TILEINDEX_SKIP list entries, so an
 * index costs about its encoded size in every process that holds it.
 * Encoding is deterministic: the same tiles give the same bytes whatever
 * order they were added in.
 */
#ifndef AP_TILEINDEX_H
#define AP_TILEINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "error.h"
#include "tilekey.h"

#define TILEINDEX_MAX_BYTES (16u * 1024 * 1024)	/* encoded object, trailer included */
#define TILEINDEX_MAX_CELLS (1u << 27)	/* grid cells summed over all levels */
#define TILEINDEX_UPDATED_AT_MAX 64	/* bytes of `updated_at`, printable ASCII */
#define TILEINDEX_VERSION 1
#define TILEINDEX_SKIP 64		/* list entries per in-memory sample */

struct dataset;

/* The grid an index describes: the geometry fields of struct dataset. */
struct tileindex_grid {
	uint32_t dataset;
	uint8_t min_zoom, max_zoom;
	uint32_t tile_size;
	uint64_t width, height;
};

/* How a plane is stored (docs/tile-index.md). */
enum tileindex_kind { TI_BITMAP = 0, TI_PRESENT, TI_ABSENT, TI__COUNT };

/* What one plane holds (for --dump and logs). */
struct tileindex_plane {
	enum tileindex_kind kind;
	uint64_t cols, rows;
	uint64_t present;	/* tiles of this format at this level */
	size_t bytes;		/* encoded bytes of the plane, kind byte included */
};

/* ---- writing ---- */
struct tileindex_builder;

/* A builder for d's grid; updated_at is the metadata's (NULL or "" if none). */
enum ap_err tileindex_builder_new(const struct dataset *d, const char *updated_at,
				  struct tileindex_builder **out, char *why,
				  size_t whylen) AP_WARN_UNUSED;
/* Marks (z, x, y) present in format f; AP_ERR_BAD_REQUEST outside the grid. */
enum ap_err tileindex_builder_add(struct tileindex_builder *b, unsigned z, uint32_t x,
				  uint32_t y, enum tile_fmt f) AP_WARN_UNUSED;
/* Appends the encoded index to out; AP_ERR_TOO_LARGE past TILEINDEX_MAX_BYTES. */
enum ap_err tileindex_builder_encode(const struct tileindex_builder *b,
				     struct buf *out) AP_WARN_UNUSED;
void tileindex_builder_free(struct tileindex_builder *b);

/* ---- reading ---- */
struct tileindex;

/* Validates p[0..n) completely and builds the index; AP_ERR_STORAGE and a
 * reason in why if anything is wrong, AP_ERR_NOMEM. A fuzz harness seals
 * its input with a SHA-256 first to reach the structural checks. */
enum ap_err tileindex_decode(const void *p, size_t n, struct tileindex **out, char *why,
			     size_t whylen) AP_WARN_UNUSED;
/* Formats present at (z, x, y), bit f = format f; 0 outside the grid.
 * O(1) for bitmap planes, O(log n + TILEINDEX_SKIP) for list planes. */
unsigned tileindex_lookup(const struct tileindex *idx, unsigned z, uint32_t x, uint32_t y);
const struct tileindex_grid *tileindex_grid(const struct tileindex *idx);
const char *tileindex_updated_at(const struct tileindex *idx);
/* Was idx built for this metadata: same id, same grid, same updated_at
 * (NULL = none)? Anything else means the index must be ignored. */
bool tileindex_describes(const struct tileindex *idx, const struct dataset *d,
			 const char *updated_at);
/* Statistics of one plane; false if z or f has none (format absent). */
bool tileindex_plane(const struct tileindex *idx, unsigned z, enum tile_fmt f,
		     struct tileindex_plane *out);
/* The formats the index has planes for: bit f for format f (NULL: 0). */
unsigned tileindex_formats(const struct tileindex *idx);
/* Bytes of memory idx holds. */
size_t tileindex_bytes(const struct tileindex *idx);
void tileindex_free(struct tileindex *idx);

#endif
