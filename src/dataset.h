/*
 * dataset.h - what a dataset is: its metadata (metadata/datasets/{id}.json,
 * SPEC section 2) validated into a struct, and the geometry of its levels.
 *
 * Level geometry (the OpenSeadragon/DZI convention): level max_zoom is the
 * full image; level z is scaled by 2^(max_zoom - z), so its size is
 * ceil(width / 2^s) x ceil(height / 2^s) and its grid is that divided by
 * tile_size, rounded up.
 */
#ifndef AP_DATASET_H
#define AP_DATASET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "tilekey.h"

#define META_MAX_BYTES (64 * 1024)
#define DATASET_NAME_MAX 200
#define OWNER_ID_MAX 64
#define UPDATED_AT_MAX 64
#define TILE_SIZE_MIN 16
#define TILE_SIZE_MAX 4096
#define IMAGE_SIDE_MAX (1ull << 40)

enum ds_status { DS_COMPLETED, DS_PROCESSING, DS_PENDING, DS_FAILED, DS_OTHER };

struct dataset {
	uint32_t id;
	char name[DATASET_NAME_MAX + 1];
	bool has_owner;
	char owner[OWNER_ID_MAX + 1];	/* decimal string, compared with JWT sub */
	bool is_demo;
	uint8_t min_zoom, max_zoom;
	uint32_t tile_size;
	uint64_t width, height;
	enum ds_status status;
	char updated_at[UPDATED_AT_MAX + 1];	/* as written; "" if absent */
	int8_t format;		/* enum tile_fmt of "format" (a hint), -1 if absent */
};

/* Parses and validates metadata JSON; why gets a reason on failure. */
enum ap_err dataset_parse(const char *json, size_t len, uint32_t id, struct dataset *out,
			  char *why, size_t whylen) AP_WARN_UNUSED;
/* Is (z, x, y) inside the dataset's zoom range and that level's grid? */
bool dataset_has_tile(const struct dataset *d, const struct tilekey *k);
/* Grid of level z (0 if z is outside the zoom range). */
void dataset_grid(const struct dataset *d, unsigned z, uint64_t *cols, uint64_t *rows);
const char *ds_status_name(enum ds_status s);

#endif
