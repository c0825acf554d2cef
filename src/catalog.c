/*
 * catalog.c - dataset metadata cache and validation; see catalog.h.
 *
 * Level geometry (the OpenSeadragon/DZI convention): level max_zoom is the
 * full image; level z is scaled by 2^(max_zoom - z), so its size is
 * ceil(width / 2^s) x ceil(height / 2^s) and its grid is that divided by
 * tile_size, rounded up.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "catalog.h"
#include "cache.h"
#include "log.h"

#define JSON_DEPTH_MAX 16

struct slot {
	bool used;
	bool missing;		/* negative entry */
	uint32_t id;
	time_t loaded;
	uint64_t gen;
	struct dataset ds;
};

struct catalog {
	long ttl_s;
	struct cache *cache;
	meta_fetch_fn fetch;
	void *ud;
	struct slot slots[CATALOG_SLOTS];
};

struct catalog *catalog_new(long ttl_s, struct cache *cache, meta_fetch_fn fetch, void *ud)
{
	struct catalog *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->ttl_s = ttl_s;
	c->cache = cache;
	c->fetch = fetch;
	c->ud = ud;
	return c;
}

void catalog_free(struct catalog *c)
{
	free(c);
}

const char *ds_status_name(enum ds_status s)
{
	static const char *const names[] = {"completed", "processing", "pending", "failed", "unknown"};
	return names[s <= DS_OTHER ? s : DS_OTHER];
}

static bool get_u64(struct json_object *o, const char *k, uint64_t max, uint64_t *out)
{
	struct json_object *v;
	int64_t x;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_int))
		return false;
	x = json_object_get_int64(v);
	if (x < 0 || (uint64_t)x > max)
		return false;
	*out = (uint64_t)x;
	return true;
}

enum ap_err dataset_parse(const char *json, size_t len, uint32_t id, struct dataset *d,
			  char *why, size_t whylen)
{
	struct json_tokener *tok = json_tokener_new_ex(JSON_DEPTH_MAX);
	struct json_object *o = NULL, *v;
	uint64_t minz, maxz, ts;
	enum ap_err e = AP_ERR_STORAGE;
	const char *s;

	memset(d, 0, sizeof(*d));
	d->id = id;
	if (!tok)
		return AP_ERR_NOMEM;
	if (len > META_MAX_BYTES) {
		snprintf(why, whylen, "metadata larger than %d bytes", META_MAX_BYTES);
		goto fail;
	}
	o = json_tokener_parse_ex(tok, json, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object)) {
		snprintf(why, whylen, "metadata is not a JSON object");
		goto fail;
	}
	if (json_object_object_get_ex(o, "name", &v) && json_object_is_type(v, json_type_string))
		snprintf(d->name, sizeof(d->name), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(o, "owner_id", &v) && !json_object_is_type(v, json_type_null)) {
		if (json_object_is_type(v, json_type_int))
			snprintf(d->owner, sizeof(d->owner), "%lld",
				 (long long)json_object_get_int64(v));
		else if (json_object_is_type(v, json_type_string) &&
			 json_object_get_string_len(v) > 0 &&
			 json_object_get_string_len(v) <= OWNER_ID_MAX)
			snprintf(d->owner, sizeof(d->owner), "%s", json_object_get_string(v));
		else {
			snprintf(why, whylen, "owner_id must be an integer, a string or null");
			goto fail;
		}
		d->has_owner = true;
	}
	if (json_object_object_get_ex(o, "is_demo", &v)) {
		if (!json_object_is_type(v, json_type_boolean)) {
			snprintf(why, whylen, "is_demo must be a boolean");
			goto fail;
		}
		d->is_demo = json_object_get_boolean(v);
	}
	if (!get_u64(o, "min_zoom", TILE_Z_MAX, &minz) || !get_u64(o, "max_zoom", TILE_Z_MAX, &maxz) ||
	    minz > maxz) {
		snprintf(why, whylen, "min_zoom/max_zoom missing or not 0 <= min <= max <= %d",
			 TILE_Z_MAX);
		goto fail;
	}
	if (!get_u64(o, "tile_size", TILE_SIZE_MAX, &ts) || ts < TILE_SIZE_MIN) {
		snprintf(why, whylen, "tile_size missing or outside %d..%d", TILE_SIZE_MIN, TILE_SIZE_MAX);
		goto fail;
	}
	if (!get_u64(o, "width", IMAGE_SIDE_MAX, &d->width) || d->width == 0 ||
	    !get_u64(o, "height", IMAGE_SIDE_MAX, &d->height) || d->height == 0) {
		snprintf(why, whylen, "width/height missing or not positive integers");
		goto fail;
	}
	d->min_zoom = (uint8_t)minz;
	d->max_zoom = (uint8_t)maxz;
	d->tile_size = (uint32_t)ts;
	d->status = DS_COMPLETED;	/* absent: the backend only writes finished ones */
	if (json_object_object_get_ex(o, "processing_status", &v)) {
		s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
		d->status = !strcmp(s, "completed") ? DS_COMPLETED :
			    !strcmp(s, "processing") ? DS_PROCESSING :
			    !strcmp(s, "pending") ? DS_PENDING :
			    !strcmp(s, "failed") ? DS_FAILED : DS_OTHER;
	}
	e = AP_OK;
fail:
	if (o)
		json_object_put(o);
	json_tokener_free(tok);
	return e;
}

void dataset_grid(const struct dataset *d, unsigned z, uint64_t *cols, uint64_t *rows)
{
	unsigned s;
	uint64_t w, h;

	*cols = *rows = 0;
	if (z < d->min_zoom || z > d->max_zoom)
		return;
	s = d->max_zoom - z;
	/* ceil(width / 2^s) without overflow: width < 2^40, s <= 30 */
	w = (d->width + (1ull << s) - 1) >> s;
	h = (d->height + (1ull << s) - 1) >> s;
	*cols = (w + d->tile_size - 1) / d->tile_size;
	*rows = (h + d->tile_size - 1) / d->tile_size;
}

bool dataset_has_tile(const struct dataset *d, const struct tilekey *k)
{
	uint64_t cols, rows;

	dataset_grid(d, k->z, &cols, &rows);
	return k->x < cols && k->y < rows;
}

static struct slot *slot_of(struct catalog *c, uint32_t id)
{
	return &c->slots[id % CATALOG_SLOTS];
}

void catalog_drop(struct catalog *c, uint32_t id)
{
	struct slot *s = slot_of(c, id);

	if (s->used && s->id == id)
		s->used = false;
}

enum ap_err catalog_get(struct catalog *c, uint32_t id, const struct dataset **out)
{
	struct slot *s = slot_of(c, id);
	time_t now = time(NULL);
	uint64_t gen = c->cache ? cache_gen(c->cache, id) : 0;
	char key[64], why[160];
	struct buf b;
	struct dataset ds;
	enum ap_err e;

	if (s->used && s->id == id && s->gen == gen && now - s->loaded < c->ttl_s &&
	    now >= s->loaded) {
		if (s->missing)
			return AP_ERR_NOT_FOUND;
		*out = &s->ds;
		return AP_OK;
	}
	snprintf(key, sizeof(key), "metadata/datasets/%u.json", id);
	buf_init(&b, META_MAX_BYTES);
	e = c->fetch(c->ud, key, &b);
	if (e == AP_ERR_NOT_FOUND) {
		s->used = true;
		s->missing = true;
		s->id = id;
		s->loaded = now;
		s->gen = gen;
		buf_free(&b);
		return AP_ERR_NOT_FOUND;
	}
	if (e) {
		buf_free(&b);
		if (e == AP_ERR_TOO_LARGE)
			log_error("dataset %u: metadata larger than %d bytes", id, META_MAX_BYTES);
		return e == AP_ERR_TIMEOUT ? e : AP_ERR_STORAGE;
	}
	e = dataset_parse(b.data ? b.data : "", b.len, id, &ds, why, sizeof(why));
	buf_free(&b);
	if (e) {
		log_error("dataset %u: invalid metadata: %s", id, why);
		return AP_ERR_STORAGE;
	}
	s->used = true;
	s->missing = false;
	s->id = id;
	s->loaded = now;
	s->gen = gen;
	s->ds = ds;
	*out = &s->ds;
	return AP_OK;
}
