/*
 * fuzz_iiif.c - the IIIF Image API parser and grid mapping (iiif.h) behind
 * route_match, info.json, the Accept and Host checks.
 *
 * Input: 14 bytes of geometry - width and height (5 bytes each, little
 * endian, 1 + value mod IMAGE_SIDE_MAX), tile size (2 bytes, TILE_SIZE_MIN
 * + value mod the range), max_zoom (1 byte mod TILE_Z_MAX + 1), min_zoom
 * (1 byte mod max_zoom + 1) - then the rest of a path after
 * "/iiif/3/7/v/0a1b2c3d/" (also used as an Accept and a Host header).
 *
 * Oracle: an accepted image request names a tile that the dataset has, at
 * a level it has, whose region (clipped at the edge as IIIF says) is
 * exactly the request's, and whose size is the request's within the
 * rounding the parser allows; the canonical URL of that tile maps back to
 * it. info.json always fits and parses, announces scale factors 1..2^top,
 * and the canonical URL of tile 0,0 of each maps to it. An accepted Host
 * yields an origin of host characters only.
 */
#include <json-c/json.h>
#include "fuzz.h"
#include "config.h"
#include "dataset.h"
#include "iiif.h"
#include "request.h"
#include "route.h"

#define GEOMETRY_BYTES 14
#define PREFIX "/iiif/3/7/v/0a1b2c3d/"

static uint64_t le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void geometry(const uint8_t *b, struct dataset *d)
{
	memset(d, 0, sizeof(*d));
	d->id = 7;
	d->width = 1 + le(b, 5) % IMAGE_SIDE_MAX;
	d->height = 1 + le(b + 5, 5) % IMAGE_SIDE_MAX;
	d->tile_size = TILE_SIZE_MIN + (uint32_t)(le(b + 10, 2) % (TILE_SIZE_MAX - TILE_SIZE_MIN + 1));
	d->max_zoom = (uint8_t)(b[12] % (TILE_Z_MAX + 1));
	d->min_zoom = (uint8_t)(b[13] % (d->max_zoom + 1));
	d->format = -1;
}

static uint64_t ceil_shift(uint64_t n, unsigned s)
{
	return (n + (1ull << s) - 1) >> s;
}

/* The tile's region at full resolution and its size. */
static void tile_box(const struct dataset *d, const struct tilekey *k, uint64_t box[6])
{
	unsigned s = d->max_zoom - k->z;
	uint64_t t = (uint64_t)d->tile_size << s;

	box[0] = k->x * t;
	box[1] = k->y * t;
	box[2] = d->width - box[0] < t ? d->width - box[0] : t;
	box[3] = d->height - box[1] < t ? d->height - box[1] : t;
	box[4] = ceil_shift(box[2], s);
	box[5] = ceil_shift(box[3], s);
}

static int map(const struct dataset *d, const char *path, struct tilekey *k)
{
	struct request r;
	struct route rt;
	char why[IIIF_WHY_MAX];

	memset(&r, 0, sizeof(r));
	r.query = "";
	r.method = M_GET;
	if (strlen(path) > REQ_PATH_MAX)
		return -1;
	memcpy(r.path, path, strlen(path) + 1);
	if (route_match(&r, &rt))
		return -1;
	if (rt.kind != R_TILE || rt.via != VIA_IIIF)
		return -2;
	if (iiif_map(d, &rt.iiif, k, why, sizeof(why))) {
		FUZZ_CHECK(why[0] != '\0', "a refusal without a reason");
		return -1;
	}
	/* the route kept what was asked: check it against the tile */
	{
		uint64_t box[6], rx = 0, ry = 0, rw = d->width, rh = d->height;
		unsigned s = d->max_zoom - k->z;
		const struct iiif_image *q = &rt.iiif;

		FUZZ_CHECK(k->z >= d->min_zoom && k->z <= d->max_zoom, "level %u outside", k->z);
		FUZZ_CHECK(k->x <= TILE_COORD_MAX && k->y <= TILE_COORD_MAX, "coordinates %u,%u", k->x, k->y);
		{
			struct tilekey kk = *k;

			FUZZ_CHECK(dataset_has_tile(d, &kk), "tile %u/%u/%u outside the grid", k->z, k->x, k->y);
		}
		tile_box(d, k, box);
		if (q->region == IIIF_REGION_XYWH) {
			rx = q->x;
			ry = q->y;
			rw = q->w < d->width - rx ? q->w : d->width - rx;
			rh = q->h < d->height - ry ? q->h : d->height - ry;
		}
		FUZZ_CHECK(rx == box[0] && ry == box[1] && rw == box[2] && rh == box[3],
			   "region is not the tile's");
		if (q->size == IIIF_SIZE_MAX)
			FUZZ_CHECK(s == 0, "max at scale 2^%u", s);
		if (q->size == IIIF_SIZE_W || q->size == IIIF_SIZE_WH)
			FUZZ_CHECK(q->sw == box[4] || q->sw == (box[2] >> s), "width %llu for %llu",
				   (unsigned long long)q->sw, (unsigned long long)box[4]);
		if (q->size == IIIF_SIZE_H || q->size == IIIF_SIZE_WH)
			FUZZ_CHECK(q->sh == box[5] || q->sh == (box[3] >> s), "height %llu for %llu",
				   (unsigned long long)q->sh, (unsigned long long)box[5]);
	}
	return 0;
}

/* The canonical URL of a tile maps back to it. */
static void round_trip(const struct dataset *d, const struct tilekey *k)
{
	uint64_t box[6];
	char path[256];
	struct tilekey back;

	tile_box(d, k, box);
	snprintf(path, sizeof(path), PREFIX "%llu,%llu,%llu,%llu/%llu,%llu/0/default.jpg",
		 (unsigned long long)box[0], (unsigned long long)box[1], (unsigned long long)box[2],
		 (unsigned long long)box[3], (unsigned long long)box[4], (unsigned long long)box[5]);
	FUZZ_CHECK(map(d, path, &back) == 0, "canonical %s refused", path);
	/* the same box can be two tiles' on degenerate 1-px edges: same box then */
	if (!tk_same_tile(&back, k)) {
		uint64_t b2[6];

		tile_box(d, &back, b2);
		FUZZ_CHECK(!memcmp(b2, box, sizeof(box)), "%s is %u/%u/%u, want %u/%u/%u", path, back.z,
			   back.x, back.y, k->z, k->x, k->y);
	}
}

static void info(const struct dataset *d)
{
	char text[IIIF_INFO_MAX];
	struct json_object *o, *t, *sf;
	unsigned top = iiif_top_scale(d);

	FUZZ_CHECK(top <= (unsigned)(d->max_zoom - d->min_zoom), "top scale %u", top);
	FUZZ_CHECK(iiif_info_json(d, d->width & 7, "https://h.example" PREFIX "x", text, sizeof(text)) == AP_OK,
		   "info.json does not fit");
	o = json_tokener_parse(text);
	FUZZ_CHECK(o != NULL, "info.json is not JSON: %s", text);
	FUZZ_CHECK(json_object_object_get_ex(o, "tiles", &t), "no tiles");
	FUZZ_CHECK(json_object_object_get_ex(json_object_array_get_idx(t, 0), "scaleFactors", &sf),
		   "no scaleFactors");
	FUZZ_CHECK(json_object_array_length(sf) == top + 1, "scale factors");
	json_object_put(o);
	for (unsigned s = 0; s <= top; s++) {
		struct tilekey k = {.dataset = 7, .z = (uint8_t)(d->max_zoom - s)};

		round_trip(d, &k);
	}
}

static void host(const char *h)
{
	struct config c;
	struct request r;
	char out[IIIF_HOST_MAX + 64];

	memset(&c, 0, sizeof(c));
	memset(&r, 0, sizeof(r));
	r.host = h;
	r.server_port = 8080;
	if (iiif_origin(&c, &r, out, sizeof(out)))
		return;
	for (const char *p = out + strlen("http://"); *p; p++)
		FUZZ_CHECK(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]", *p),
			   "origin %s", out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dataset d;
	struct tilekey k;
	char *tail, *path;
	size_t n;

	if (size < GEOMETRY_BYTES)
		return 0;
	geometry(data, &d);
	tail = fuzz_strndup(data + GEOMETRY_BYTES, size - GEOMETRY_BYTES);
	n = strlen(tail);
	path = malloc(strlen(PREFIX) + n + 1);
	if (!path)
		abort();
	memcpy(path, PREFIX, strlen(PREFIX));
	memcpy(path + strlen(PREFIX), tail, n + 1);
	if (map(&d, path, &k) == 0)
		round_trip(&d, &k);
	(void)iiif_wants_ld(tail);
	host(tail);
	if (data[0] & 1)	/* half the inputs: the geometry's info.json */
		info(&d);
	free(path);
	free(tail);
	return 0;
}
