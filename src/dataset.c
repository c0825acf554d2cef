/*
 * dataset.c - metadata validation and level geometry; see dataset.h.
 */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "dataset.h"

#define JSON_DEPTH_MAX 16

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

/* owner_id: an integer, a non-empty string of at most OWNER_ID_MAX, or null. */
static bool parse_owner(struct json_object *o, struct dataset *d)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, "owner_id", &v) || json_object_is_type(v, json_type_null))
		return true;
	if (json_object_is_type(v, json_type_int))
		snprintf(d->owner, sizeof(d->owner), "%lld", (long long)json_object_get_int64(v));
	else if (json_object_is_type(v, json_type_string) && json_object_get_string_len(v) > 0 &&
		 json_object_get_string_len(v) <= OWNER_ID_MAX)
		snprintf(d->owner, sizeof(d->owner), "%s", json_object_get_string(v));
	else
		return false;
	d->has_owner = true;
	return true;
}

static bool only_blanks(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
			return false;
	return true;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* Zoom range, tile size and image size; false with a reason. */
static bool parse_geometry(struct json_object *o, struct dataset *d, char *why, size_t whylen)
{
	uint64_t minz, maxz, ts;

	if (!get_u64(o, "min_zoom", TILE_Z_MAX, &minz) || !get_u64(o, "max_zoom", TILE_Z_MAX, &maxz) ||
	    minz > maxz) {
		snprintf(why, whylen, "min_zoom/max_zoom missing or not 0 <= min <= max <= %d",
			 TILE_Z_MAX);
		return false;
	}
	if (!get_u64(o, "tile_size", TILE_SIZE_MAX, &ts) || ts < TILE_SIZE_MIN) {
		snprintf(why, whylen, "tile_size missing or outside %d..%d", TILE_SIZE_MIN, TILE_SIZE_MAX);
		return false;
	}
	if (!get_u64(o, "width", IMAGE_SIDE_MAX, &d->width) || d->width == 0 ||
	    !get_u64(o, "height", IMAGE_SIDE_MAX, &d->height) || d->height == 0) {
		snprintf(why, whylen, "width/height missing or not positive integers");
		return false;
	}
	d->min_zoom = (uint8_t)minz;
	d->max_zoom = (uint8_t)maxz;
	d->tile_size = (uint32_t)ts;
	return true;
}

/* name, is_demo, processing_status, updated_at; false with a reason. */
static bool parse_state(struct json_object *o, struct dataset *d, char *why, size_t whylen)
{
	struct json_object *v;
	const char *s;

	if (json_object_object_get_ex(o, "name", &v) && json_object_is_type(v, json_type_string))
		snprintf(d->name, sizeof(d->name), "%s", json_object_get_string(v));
	if (json_object_object_get_ex(o, "is_demo", &v)) {
		if (!json_object_is_type(v, json_type_boolean)) {
			snprintf(why, whylen, "is_demo must be a boolean");
			return false;
		}
		d->is_demo = json_object_get_boolean(v);
	}
	d->status = DS_COMPLETED;	/* absent: the backend only writes finished ones */
	if (json_object_object_get_ex(o, "processing_status", &v)) {
		s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
		d->status = !strcmp(s, "completed") ? DS_COMPLETED :
			    !strcmp(s, "processing") ? DS_PROCESSING :
			    !strcmp(s, "pending") ? DS_PENDING :
			    !strcmp(s, "failed") ? DS_FAILED : DS_OTHER;
	}
	if (json_object_object_get_ex(o, "updated_at", &v) && !json_object_is_type(v, json_type_null)) {
		if (!json_object_is_type(v, json_type_string) ||
		    json_object_get_string_len(v) > UPDATED_AT_MAX ||
		    !printable(json_object_get_string(v))) {
			snprintf(why, whylen, "updated_at must be a string of at most %d printable "
				 "characters", UPDATED_AT_MAX);
			return false;
		}
		snprintf(d->updated_at, sizeof(d->updated_at), "%s", json_object_get_string(v));
	}
	/* the format the tiles were written in: a hint (a tile may still be
	 * stored in another one), unknown values are ignored */
	d->format = -1;
	if (json_object_object_get_ex(o, "format", &v) && json_object_is_type(v, json_type_string)) {
		enum tile_fmt f;

		s = json_object_get_string(v);
		if (!tk_parse_ext(s, strlen(s), &f))
			d->format = (int8_t)f;
	}
	return true;
}

enum ap_err dataset_parse(const char *json, size_t len, uint32_t id, struct dataset *d,
			  char *why, size_t whylen)
{
	struct json_tokener *tok;
	struct json_object *o = NULL;
	enum ap_err e = AP_ERR_STORAGE;

	memset(d, 0, sizeof(*d));
	d->id = id;
	if (len > META_MAX_BYTES) {
		snprintf(why, whylen, "metadata larger than %d bytes", META_MAX_BYTES);
		return AP_ERR_STORAGE;
	}
	tok = json_tokener_new_ex(JSON_DEPTH_MAX);
	if (!tok)
		return AP_ERR_NOMEM;
	o = json_tokener_parse_ex(tok, json, (int)len);
	/* one object and nothing after it but blanks */
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object) ||
	    !only_blanks(json + json_tokener_get_parse_end(tok), len - json_tokener_get_parse_end(tok))) {
		snprintf(why, whylen, "metadata is not one JSON object");
		goto fail;
	}
	if (!parse_owner(o, d)) {
		snprintf(why, whylen, "owner_id must be an integer, a string or null");
		goto fail;
	}
	if (!parse_geometry(o, d, why, whylen) || !parse_state(o, d, why, whylen))
		goto fail;
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
