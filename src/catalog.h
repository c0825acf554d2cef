/*
 * catalog.h - dataset metadata (metadata/datasets/{id}.json), cached.
 *
 * Entries live for METADATA_CACHE_TTL seconds, and not past a cache-clear of
 * their dataset by any process (their generation is checked on each get).
 * Unknown datasets are cached too (negatively), so random ids cannot make
 * every request go to storage.
 */
#ifndef AP_CATALOG_H
#define AP_CATALOG_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include "buf.h"
#include "error.h"
#include "tilekey.h"

#define META_MAX_BYTES (64 * 1024)
#define CATALOG_SLOTS 1024	/* datasets remembered per process */
#define DATASET_NAME_MAX 200
#define OWNER_ID_MAX 64
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
};

/* Fetches the raw JSON of key into out; returns AP_ERR_NOT_FOUND if absent. */
typedef enum ap_err (*meta_fetch_fn)(void *ud, const char *key, struct buf *out);

struct catalog;
struct cache;
struct catalog *catalog_new(long ttl_s, struct cache *cache, meta_fetch_fn fetch, void *ud);
void catalog_free(struct catalog *c);
/* The dataset (valid until the next catalog call) or 404 / 502 / 504. */
enum ap_err catalog_get(struct catalog *c, uint32_t id, const struct dataset **out) AP_WARN_UNUSED;
void catalog_drop(struct catalog *c, uint32_t id);

/* Parses and validates metadata JSON; why gets a reason on failure. */
enum ap_err dataset_parse(const char *json, size_t len, uint32_t id, struct dataset *out,
			  char *why, size_t whylen) AP_WARN_UNUSED;
/* Is (z, x, y) inside the dataset's zoom range and that level's grid? */
bool dataset_has_tile(const struct dataset *d, const struct tilekey *k);
/* Grid of level z (0 if z is outside the zoom range). */
void dataset_grid(const struct dataset *d, unsigned z, uint64_t *cols, uint64_t *rows);
const char *ds_status_name(enum ds_status s);

#endif
