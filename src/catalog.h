/*
 * catalog.h - dataset metadata (metadata/datasets/{id}.json), remembered.
 *
 * A bounded map from dataset id to what storage said of it: its metadata,
 * or that it does not exist, or that its metadata is invalid. Known
 * datasets and the others live in two separate LRU pools
 * (CATALOG_DATASETS_MAX, CATALOG_NEGATIVE_MAX), so requests for unknown or
 * random ids can only push out other unknown ids, never a dataset that is
 * being served. Entries live for METADATA_CACHE_TTL seconds, and not past a
 * cache-clear of their dataset by any process (its generation is compared
 * on each get). Invalid metadata is logged once when it is read, so once
 * per TTL per process, not once per request. Storage failures are not
 * remembered: the next request asks again.
 */
#ifndef AP_CATALOG_H
#define AP_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "dataset.h"
#include "error.h"

#define CATALOG_DATASETS_MAX 1024	/* known datasets remembered per process */
#define CATALOG_NEGATIVE_MAX 1024	/* unknown or invalid ids remembered */
#define CATALOG_REASON_MAX 160

/* Fetches the raw JSON of key into out; returns AP_ERR_NOT_FOUND if absent. */
typedef enum ap_err (*meta_fetch_fn)(void *ud, const char *key, struct buf *out);

struct catalog;
struct gen_map;
/* gens may be NULL (no clears from other processes). */
struct catalog *catalog_new(long ttl_s, struct gen_map *gens, meta_fetch_fn fetch, void *ud);
void catalog_free(struct catalog *c);
/* Copies the dataset into out, or returns 404 (unknown), 502 (invalid or
 * storage failed; why says which) or 504. why may be NULL. */
enum ap_err catalog_get(struct catalog *c, uint32_t id, struct dataset *out, char *why,
			size_t whylen) AP_WARN_UNUSED;
void catalog_drop(struct catalog *c, uint32_t id);
/* Has a private (not is_demo) dataset been loaded? (health, R2_PUBLIC_URL) */
bool catalog_saw_private(const struct catalog *c);

#endif
