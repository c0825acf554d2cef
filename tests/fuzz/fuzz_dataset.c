/*
 * fuzz_dataset.c - dataset metadata validation (dataset.h): dataset_parse
 * over arbitrary bytes as metadata/datasets/{id}.json, then the level
 * geometry of whatever it accepted.
 *
 * Oracle: an accepted dataset satisfies every bound of dataset.h (zoom
 * range, tile size, image size, string lengths, printable updated_at, an
 * owner that is a decimal integer or a short string), and its geometry is
 * sane at every level: the full level is ceil(width / tile_size) tiles
 * wide, each level down is ceil(half) of the one above, the last cell of
 * a grid is inside and the next one outside; a refusal says why.
 */
#include "fuzz.h"
#include "dataset.h"
#include "error.h"

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

static void check_fields(const struct dataset *d)
{
	FUZZ_CHECK(d->min_zoom <= d->max_zoom && d->max_zoom <= TILE_Z_MAX, "zoom %u..%u",
		   d->min_zoom, d->max_zoom);
	FUZZ_CHECK(d->tile_size >= TILE_SIZE_MIN && d->tile_size <= TILE_SIZE_MAX, "tile size %u",
		   d->tile_size);
	FUZZ_CHECK(d->width >= 1 && d->width <= IMAGE_SIDE_MAX && d->height >= 1 &&
		   d->height <= IMAGE_SIDE_MAX, "size %llu x %llu", (unsigned long long)d->width,
		   (unsigned long long)d->height);
	FUZZ_CHECK(strlen(d->name) <= DATASET_NAME_MAX, "name");
	FUZZ_CHECK(strlen(d->owner) <= OWNER_ID_MAX && (d->has_owner == (d->owner[0] != '\0')),
		   "owner '%s' (has_owner %d)", d->owner, d->has_owner);
	for (const char *c = d->updated_at; *c; c++)
		FUZZ_CHECK((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f, "updated_at");
	FUZZ_CHECK(d->status <= DS_OTHER && ds_status_name(d->status), "status %d", d->status);
}

static void check_geometry(const struct dataset *d)
{
	uint64_t pw = 0, ph = 0;	/* level z + 1 in pixels */

	for (int z = d->max_zoom; z >= (int)d->min_zoom; z--) {
		uint64_t cols, rows, w, h;
		struct tilekey k = {.dataset = d->id, .z = (uint8_t)z};

		w = z == d->max_zoom ? d->width : ceil_div(pw, 2);
		h = z == d->max_zoom ? d->height : ceil_div(ph, 2);
		dataset_grid(d, (unsigned)z, &cols, &rows);
		FUZZ_CHECK(cols == ceil_div(w, d->tile_size) && rows == ceil_div(h, d->tile_size),
			   "level %d: %llu x %llu tiles for %llu x %llu px", z,
			   (unsigned long long)cols, (unsigned long long)rows, (unsigned long long)w,
			   (unsigned long long)h);
		/* tile coordinates are 30-bit: a grid wider than that is unreachable */
		if (cols - 1 <= TILE_COORD_MAX && rows - 1 <= TILE_COORD_MAX) {
			k.x = (uint32_t)(cols - 1);
			k.y = (uint32_t)(rows - 1);
			FUZZ_CHECK(dataset_has_tile(d, &k), "last tile of level %d outside", z);
		}
		if (cols <= TILE_COORD_MAX) {
			k.x = (uint32_t)cols;
			k.y = 0;
			FUZZ_CHECK(!dataset_has_tile(d, &k), "tile past the grid of level %d", z);
		}
		pw = w;
		ph = h;
	}
	if (d->min_zoom > 0) {
		struct tilekey k = {.dataset = d->id, .z = (uint8_t)(d->min_zoom - 1)};
		uint64_t cols, rows;

		dataset_grid(d, k.z, &cols, &rows);
		FUZZ_CHECK(cols == 0 && rows == 0 && !dataset_has_tile(d, &k), "below min_zoom");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a copy of exactly size bytes: ASan sees any read past the end */
	char *json = malloc(size ? size : 1), why[256] = "";
	struct dataset d;
	enum ap_err e;

	if (!json)
		abort();
	memcpy(json, data, size);
	e = dataset_parse(json, size, 42, &d, why, sizeof(why));
	if (e == AP_OK) {
		FUZZ_CHECK(d.id == 42, "id");
		check_fields(&d);
		check_geometry(&d);
	} else {
		FUZZ_CHECK((e == AP_ERR_STORAGE || e == AP_ERR_NOMEM) && why[0], "refused with %d '%s'",
			   e, why);
	}
	free(json);
	return 0;
}
