/*
 * test_iiif.c - IIIF Image API level 0 (iiif.h) and DZI (dzi.h): every tile
 * URL a client computes for the 256 grid - OpenSeadragon 6's IIIF tile
 * source (3.0 and 2.x forms) re-done here - routes and maps to the stored
 * {z}/{x}/{y}; every other request is a 400 that says why; info.json says
 * what level 0 requires; hosts in ids are checked.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <math.h>
#include <cmocka.h>
#include <json-c/json.h>
#include "config.h"
#include "dataset.h"
#include "dzi.h"
#include "iiif.h"
#include "request.h"
#include "route.h"

static struct dataset ds(uint64_t w, uint64_t h, unsigned ts, unsigned minz)
{
	struct dataset d;
	unsigned z = 0;

	memset(&d, 0, sizeof(d));
	d.id = 7;
	d.width = w;
	d.height = h;
	d.tile_size = ts;
	while ((1ull << z) < (w > h ? w : h))
		z++;
	d.max_zoom = (uint8_t)z;
	d.min_zoom = (uint8_t)minz;
	d.format = -1;
	d.status = DS_COMPLETED;
	return d;
}

/* Routes path and maps it on d: the HTTP status, the tile in *k. */
static int map_path(const struct dataset *d, const char *path, struct tilekey *k)
{
	struct request r;
	struct route rt;
	char why[IIIF_WHY_MAX];
	enum ap_err e;

	memset(&r, 0, sizeof(r));
	r.query = "";
	r.method = M_GET;
	snprintf(r.method_name, sizeof(r.method_name), "GET");
	snprintf(r.path, sizeof(r.path), "%s", path);
	e = route_match(&r, &rt);
	if (e) {
		assert_true(r.detail[0] != '\0');
		return ap_err_status(e);
	}
	if (rt.kind != R_TILE || rt.via != VIA_IIIF)
		return 0;
	e = iiif_map(d, &rt.iiif, k, why, sizeof(why));
	if (e)
		assert_true(why[0] != '\0');
	return ap_err_status(e);
}

/* OpenSeadragon 6 IIIFTileSource.getTileUrl for a level-0 info.json with
 * one tiles entry (no usable sizes list): region and size of (level, x, y). */
static void osd_url(const struct dataset *d, unsigned maxlevel, unsigned level, uint64_t x,
		    uint64_t y, int version, char *out, size_t cap)
{
	double scale = pow(0.5, maxlevel - level);
	uint64_t lw = (uint64_t)ceil((double)d->width * scale), lh = (uint64_t)ceil((double)d->height * scale);
	uint64_t tw = d->tile_size, th = d->tile_size;
	uint64_t sw = (uint64_t)llround((double)tw / scale), sh = (uint64_t)llround((double)th / scale);
	char region[96], size[64];

	if (lw < tw && lh < th) {
		snprintf(region, sizeof(region), "full");
		if (version == 2 && lw == d->width)
			snprintf(size, sizeof(size), "full");
		else if (version == 3 && lw == d->width && lh == d->height)
			snprintf(size, sizeof(size), "max");
		else if (version == 3)
			snprintf(size, sizeof(size), "%llu,%llu", (unsigned long long)lw, (unsigned long long)lh);
		else
			snprintf(size, sizeof(size), "%llu,", (unsigned long long)lw);
	} else {
		uint64_t ix = x * sw, iy = y * sh;
		uint64_t iw = sw < d->width - ix ? sw : d->width - ix;
		uint64_t ih = sh < d->height - iy ? sh : d->height - iy;
		uint64_t zw = tw < lw - x * tw ? tw : lw - x * tw;
		uint64_t zh = th < lh - y * th ? th : lh - y * th;

		if (x == 0 && y == 0 && iw == d->width && ih == d->height)
			snprintf(region, sizeof(region), "full");
		else
			snprintf(region, sizeof(region), "%llu,%llu,%llu,%llu", (unsigned long long)ix,
				 (unsigned long long)iy, (unsigned long long)iw, (unsigned long long)ih);
		if (version == 2 && zw == d->width)
			snprintf(size, sizeof(size), "full");
		else if (version == 3 && zw == d->width && zh == d->height)
			snprintf(size, sizeof(size), "max");
		else if (version == 2)
			snprintf(size, sizeof(size), "%llu,", (unsigned long long)zw);
		else
			snprintf(size, sizeof(size), "%llu,%llu", (unsigned long long)zw, (unsigned long long)zh);
	}
	snprintf(out, cap, IIIF_PREFIX "/7/v/0a1b2c3d/%s/%s/0/default.jpg", region, size);
}

/* Every tile of every announced level, as OpenSeadragon asks for it. */
static void every_tile(const struct dataset *d, int version)
{
	unsigned top = iiif_top_scale(d);

	for (unsigned level = 0; level <= top; level++) {
		unsigned z = d->max_zoom - (top - level);
		uint64_t cols, rows;

		dataset_grid(d, z, &cols, &rows);
		assert_true(cols > 0 && rows > 0);
		for (uint64_t x = 0; x < cols; x++) {
			for (uint64_t y = 0; y < rows; y++) {
				char url[256];
				struct tilekey k;
				int st;

				osd_url(d, top, level, x, y, version, url, sizeof(url));
				memset(&k, 0xff, sizeof(k));
				st = map_path(d, url, &k);
				if (st == 200 && version == 2 && (k.z != z || k.x != x || k.y != y) &&
				    k.z <= d->max_zoom && (unsigned)(d->max_zoom - k.z) <= top) {
					/* 2.x's "w," leaves the height open: OpenSeadragon names two
					 * tiles with one URL on degenerate edges (513x200: 1 px wide
					 * columns at two scales); the answer is the tile whose height
					 * the spec's "w," means, if OpenSeadragon's URL for it is the same */
					char other[256];

					osd_url(d, top, top - (d->max_zoom - k.z), k.x, k.y, 2, other, sizeof(other));
					if (!strcmp(other, url))
						continue;
				}
				if (st != 200 || k.z != z || k.x != x || k.y != y || k.dataset != d->id ||
				    k.fmt != FMT_JPG)
					fail_msg("%llux%llu ts %u: %s -> %d %u/%u/%u, want %u/%llu/%llu",
						 (unsigned long long)d->width, (unsigned long long)d->height,
						 d->tile_size, url, st, k.z, k.x, k.y, z,
						 (unsigned long long)x, (unsigned long long)y);
			}
		}
	}
}

static void openseadragon_grids_map_to_stored_tiles(void **state)
{
	static const uint64_t dims[][2] = {
		{600, 400}, {4096, 2048}, {2048, 2048}, {513, 200}, {1, 1}, {256, 256}, {257, 3000},
		{1000, 1}, {255, 257}, {10007, 6151}, {65536, 300},
	};
	static const unsigned sizes[] = {256, 512, 100};

	(void)state;
	for (size_t i = 0; i < sizeof(dims) / sizeof(dims[0]); i++)
		for (size_t t = 0; t < sizeof(sizes) / sizeof(sizes[0]); t++) {
			struct dataset d = ds(dims[i][0], dims[i][1], sizes[t], 0);

			every_tile(&d, 3);
			every_tile(&d, 2);
		}
}

static void top_scale_is_the_single_tile_level(void **state)
{
	struct dataset d = ds(600, 400, 256, 0);

	(void)state;
	assert_int_equal(iiif_top_scale(&d), 2);	/* 150x100 */
	d = ds(256, 256, 256, 0);
	assert_int_equal(iiif_top_scale(&d), 0);
	d = ds(4096, 2048, 256, 0);
	assert_int_equal(iiif_top_scale(&d), 4);
	/* the dataset's lowest level comes first: 600 px wide at z 9 has 2x1 tiles */
	d = ds(1200, 400, 256, 10);
	assert_int_equal(iiif_top_scale(&d), 1);
}

static void min_zoom_limits_the_scale_factors(void **state)
{
	struct dataset d = ds(1200, 400, 256, 10);	/* max_zoom 11: levels 10 and 11 */
	struct tilekey k;

	(void)state;
	assert_int_equal(map_path(&d, "/iiif/3/7/0,0,512,400/256,200/0/default.jpg", &k), 200);
	assert_int_equal(k.z, 10);
	/* the whole image at scale 4 would be z 9, which the dataset does not have */
	assert_int_equal(map_path(&d, "/iiif/3/7/full/300,100/0/default.jpg", &k), 400);
}

static void edge_tiles_and_size_forms(void **state)
{
	struct dataset d = ds(600, 400, 256, 0);	/* max_zoom 10 */
	struct tilekey k;

	(void)state;
	/* clipped right/bottom tile at scale 1: x 2, y 1 */
	assert_int_equal(map_path(&d, "/iiif/3/7/512,256,88,144/88,144/0/default.jpg", &k), 200);
	assert_true(k.z == 10 && k.x == 2 && k.y == 1);
	assert_int_equal(map_path(&d, "/iiif/3/7/512,256,88,144/88,/0/default.png", &k), 200);
	assert_true(k.z == 10 && k.x == 2 && k.y == 1 && k.fmt == FMT_PNG);
	assert_int_equal(map_path(&d, "/iiif/3/7/512,256,88,144/,144/0/default.webp", &k), 200);
	assert_true(k.z == 10 && k.x == 2 && k.y == 1 && k.fmt == FMT_WEBP);
	assert_int_equal(map_path(&d, "/iiif/3/7/512,256,88,144/max/0/default.jpg", &k), 200);
	assert_true(k.z == 10 && k.x == 2 && k.y == 1);
	/* a region reaching past the edge is cropped there (3.0 section 4.1) */
	assert_int_equal(map_path(&d, "/iiif/3/7/512,256,256,256/88,144/0/default.jpg", &k), 200);
	assert_true(k.z == 10 && k.x == 2 && k.y == 1);
	/* scale 2: x 1 is 44 px (ceil(88 / 2)) */
	assert_int_equal(map_path(&d, "/iiif/3/7/512,0,88,400/44,200/0/default.jpg", &k), 200);
	assert_true(k.z == 9 && k.x == 1 && k.y == 0);
	/* the whole image at scale 4, 8, 1024 (1x1) */
	assert_int_equal(map_path(&d, "/iiif/3/7/full/150,100/0/default.jpg", &k), 200);
	assert_true(k.z == 8 && k.x == 0 && k.y == 0);
	assert_int_equal(map_path(&d, "/iiif/3/7/full/75,/0/default.jpg", &k), 200);
	assert_int_equal(k.z, 7);
	assert_int_equal(map_path(&d, "/iiif/3/7/full/1,1/0/default.jpg", &k), 200);
	assert_int_equal(k.z, 0);
	/* rounded down or to nearest (other clients) still names the tile */
	d = ds(601, 401, 256, 0);
	assert_int_equal(map_path(&d, "/iiif/3/7/full/150,100/0/default.jpg", &k), 200);
	assert_int_equal(k.z, 8);	/* 151x101 stored */
	/* the 2.x spelling of max */
	assert_int_equal(map_path(&d, "/iiif/3/7/0,0,256,256/full/0/default.jpg", &k), 200);
	assert_true(k.z == 10 && k.x == 0 && k.y == 0);
}

#define BAD(path)                                                                   \
	do {                                                                        \
		struct tilekey k_;                                                  \
		int st_ = map_path(&d, path, &k_);                                  \
		if (st_ != 400)                                                     \
			fail_msg("%s: got %d, want 400", path, st_);                \
	} while (0)

static void anything_else_is_400(void **state)
{
	struct dataset d = ds(600, 400, 256, 0);
	char path[REQ_PATH_MAX + 1];

	(void)state;
	BAD("/iiif/3/7/full/max/90/default.jpg");
	BAD("/iiif/3/7/full/max/!0/default.jpg");
	BAD("/iiif/3/7/full/max/0.0/default.jpg");
	BAD("/iiif/3/7/full/150,100/0/gray.jpg");
	BAD("/iiif/3/7/full/150,100/0/color.jpg");
	BAD("/iiif/3/7/full/150,100/0/default.gif");
	BAD("/iiif/3/7/full/150,100/0/default.tif");
	BAD("/iiif/3/7/full/150,100/0/default");
	BAD("/iiif/3/7/full/150,100/0/default.");
	BAD("/iiif/3/7/square/256,256/0/default.jpg");
	BAD("/iiif/3/7/pct:0,0,50,50/256,/0/default.jpg");
	BAD("/iiif/3/7/full/pct:25/0/default.jpg");
	BAD("/iiif/3/7/full/^max/0/default.jpg");
	BAD("/iiif/3/7/full/^300,200/0/default.jpg");
	BAD("/iiif/3/7/full/!150,100/0/default.jpg");
	BAD("/iiif/3/7/full/max/0/default.jpg");	/* 600x400 is not one tile */
	BAD("/iiif/3/7/full/300,200/0/default.jpg");	/* scale 2 has 2 tiles: a resize */
	BAD("/iiif/3/7/full/151,100/0/default.jpg");
	BAD("/iiif/3/7/full/,/0/default.jpg");
	BAD("/iiif/3/7/full/0,/0/default.jpg");
	BAD("/iiif/3/7/full/150/0/default.jpg");
	BAD("/iiif/3/7/full/150,100,1/0/default.jpg");
	BAD("/iiif/3/7/0,0,0,256/256,/0/default.jpg");
	BAD("/iiif/3/7/0,0,256/256,/0/default.jpg");
	BAD("/iiif/3/7/0,0,256,256,1/256,/0/default.jpg");
	BAD("/iiif/3/7/00,0,256,256/256,/0/default.jpg");	/* leading zero */
	BAD("/iiif/3/7/1,0,256,256/256,/0/default.jpg");	/* off the grid */
	BAD("/iiif/3/7/0,0,255,256/255,256/0/default.jpg");
	BAD("/iiif/3/7/0,0,256,256/128,128/0/default.jpg");	/* a downscale */
	BAD("/iiif/3/7/0,0,256,256/512,512/0/default.jpg");	/* an upscale */
	BAD("/iiif/3/7/600,0,10,10/10,/0/default.jpg");	/* outside */
	BAD("/iiif/3/7/0,400,10,10/10,/0/default.jpg");
	BAD("/iiif/3/7/0,0,1099511627777,256/256,/0/default.jpg");	/* > 2^40 */
	BAD("/iiif/3/7/0,0,99999999999999999999,256/256,/0/default.jpg");
	BAD("/iiif/3/7/full/99999999999999999999,/0/default.jpg");
	BAD("/iiif/3/7/-1,0,256,256/256,/0/default.jpg");
	BAD("/iiif/3/7/0,0,256,256/256,+1/0/default.jpg");
	BAD("/iiif/3/7/v/XYZ/full/150,100/0/default.jpg");	/* version grammar */
	BAD("/iiif/3/07/full/150,100/0/default.jpg");	/* dataset id grammar */
	BAD("/iiif/3/7/full/150%2C100/0/default.jpg");	/* no encodings */
	BAD("/iiif/3/7/../7/full/150,100/0/default.jpg");
	memset(path, 0, sizeof(path));
	snprintf(path, sizeof(path), "/iiif/3/7/full/150,100/0/default.jpg");
	/* a segment over IIIF_SEGMENT_MAX */
	snprintf(path, sizeof(path), "/iiif/3/7/0,0,256,256%0*d/256,/0/default.jpg",
		 IIIF_SEGMENT_MAX, 0);
	BAD(path);
}

static void other_iiif_paths(void **state)
{
	struct dataset d = ds(600, 400, 256, 0);
	struct request r;
	struct route rt;
	struct tilekey k;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.query = "";
	r.method = M_GET;
	snprintf(r.path, sizeof(r.path), "/iiif/3/7/info.json");
	assert_int_equal(route_match(&r, &rt), AP_OK);
	assert_int_equal(rt.kind, R_IIIF_INFO);
	assert_false(rt.versioned);
	snprintf(r.path, sizeof(r.path), "/iiif/3/7/v/0a1b/info.json");
	assert_int_equal(route_match(&r, &rt), AP_OK);
	assert_int_equal(rt.kind, R_IIIF_INFO);
	assert_true(rt.versioned);
	assert_string_equal(rt.version, "0a1b");
	snprintf(r.path, sizeof(r.path), "/iiif/3/7");
	assert_int_equal(route_match(&r, &rt), AP_OK);
	assert_int_equal(rt.kind, R_IIIF_BASE);
	snprintf(r.path, sizeof(r.path), "/iiif/3/7/v/0a1b/full/150,100/0/default.jpg");
	assert_int_equal(route_match(&r, &rt), AP_OK);
	assert_true(rt.kind == R_TILE && rt.via == VIA_IIIF && rt.versioned);
	r.method = M_POST;
	assert_int_equal(route_match(&r, &rt), AP_ERR_METHOD);
	assert_int_equal(map_path(&d, "/iiif/3", &k), 404);
	assert_int_equal(map_path(&d, "/iiif/3/7/info.xml", &k), 404);
	assert_int_equal(map_path(&d, "/iiif/3/7/full/max/0", &k), 404);
	assert_int_equal(map_path(&d, "/iiif/2/7/info.json", &k), 404);
	assert_int_equal(map_path(&d, "/iiif/3x/7/info.json", &k), 404);
}

static void dzi_routes_and_levels(void **state)
{
	struct request r;
	struct route rt;
	struct dataset d = ds(600, 400, 256, 0);

	(void)state;
	memset(&r, 0, sizeof(r));
	r.query = "";
	r.method = M_GET;
	snprintf(r.path, sizeof(r.path), "/api/tiles/7.dzi");
	assert_int_equal(route_match(&r, &rt), AP_OK);
	assert_true(rt.kind == R_DZI && rt.dataset == 7);
	snprintf(r.path, sizeof(r.path), "/api/tiles/7_files/10/2_1.png");
	assert_int_equal(route_match(&r, &rt), AP_OK);
	assert_true(rt.kind == R_TILE && rt.via == VIA_DZI && rt.tile.z == 10 && rt.tile.x == 2 &&
		    rt.tile.y == 1 && rt.tile.fmt == FMT_PNG && rt.tile.dataset == 7);
	snprintf(r.path, sizeof(r.path), "/api/tiles/7_files/10/2/1.png");
	assert_int_equal(route_match(&r, &rt), AP_ERR_BAD_REQUEST);
	snprintf(r.path, sizeof(r.path), "/api/tiles/7_files/10/2-1.png");
	assert_int_equal(route_match(&r, &rt), AP_ERR_BAD_REQUEST);
	snprintf(r.path, sizeof(r.path), "/api/tiles/7_files/10/2_1_1.png");
	assert_int_equal(route_match(&r, &rt), AP_ERR_BAD_REQUEST);
	snprintf(r.path, sizeof(r.path), "/api/tiles/_files/10/2_1.png");
	assert_int_equal(route_match(&r, &rt), AP_ERR_NOT_FOUND);
	snprintf(r.path, sizeof(r.path), "/api/tiles/x.dzi");
	assert_int_equal(route_match(&r, &rt), AP_ERR_BAD_REQUEST);
	assert_true(dzi_lines_up(&d));
	d.max_zoom = 12;
	assert_false(dzi_lines_up(&d));
	d = ds(1, 1, 256, 0);
	assert_true(dzi_lines_up(&d));
	d = ds(1024, 1024, 256, 0);
	assert_int_equal(d.max_zoom, 10);
	assert_true(dzi_lines_up(&d));
}

static struct json_object *info_of(const struct dataset *d, unsigned fmts)
{
	char text[IIIF_INFO_MAX];
	struct json_object *o;

	assert_int_equal(iiif_info_json(d, fmts, "https://h.example/iiif/3/7/v/0a1b2c3d", text,
					sizeof(text)), AP_OK);
	o = json_tokener_parse(text);
	assert_non_null(o);
	return o;
}

static const char *str_of(struct json_object *o, const char *k)
{
	struct json_object *v;

	assert_true(json_object_object_get_ex(o, k, &v));
	return json_object_get_string(v);
}

static void info_json_is_level0(void **state)
{
	struct dataset d = ds(600, 400, 256, 0);
	struct json_object *o = info_of(&d, 0), *v, *t, *sf;

	(void)state;
	assert_string_equal(str_of(o, "@context"), IIIF_CONTEXT);
	assert_string_equal(str_of(o, "id"), "https://h.example/iiif/3/7/v/0a1b2c3d");
	assert_string_equal(str_of(o, "type"), "ImageService3");
	assert_string_equal(str_of(o, "protocol"), "http://iiif.io/api/image");
	assert_string_equal(str_of(o, "profile"), "level0");
	assert_true(json_object_object_get_ex(o, "width", &v) && json_object_get_int64(v) == 600);
	assert_true(json_object_object_get_ex(o, "height", &v) && json_object_get_int64(v) == 400);
	assert_true(json_object_object_get_ex(o, "tiles", &v) && json_object_array_length(v) == 1);
	t = json_object_array_get_idx(v, 0);
	assert_true(json_object_object_get_ex(t, "width", &v) && json_object_get_int64(v) == 256);
	assert_false(json_object_object_get_ex(t, "height", NULL));	/* square */
	assert_true(json_object_object_get_ex(t, "scaleFactors", &sf));
	assert_int_equal(json_object_array_length(sf), 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(json_object_get_int64(json_object_array_get_idx(sf, (size_t)i)), 1 << i);
	assert_true(json_object_object_get_ex(o, "sizes", &v));
	t = json_object_array_get_idx(v, 0);
	assert_true(json_object_object_get_ex(t, "width", &sf) && json_object_get_int64(sf) == 150);
	assert_true(json_object_object_get_ex(o, "preferredFormats", &v));
	assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 0)), "jpg");
	assert_false(json_object_object_get_ex(o, "extraFormats", NULL));
	assert_false(json_object_object_get_ex(o, "maxWidth", NULL));	/* never a limit */
	json_object_put(o);
	d.format = FMT_PNG;
	o = info_of(&d, 0);
	assert_true(json_object_object_get_ex(o, "extraFormats", &v));
	assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 0)), "png");
	json_object_put(o);
	/* a tile index with WebP variants: webp first, then jpg; webp extra */
	d.format = FMT_JPG;
	o = info_of(&d, (1u << FMT_JPG) | (1u << FMT_WEBP));
	assert_true(json_object_object_get_ex(o, "preferredFormats", &v));
	assert_int_equal(json_object_array_length(v), 2);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 0)), "webp");
	assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 1)), "jpg");
	assert_true(json_object_object_get_ex(o, "extraFormats", &v));
	assert_int_equal(json_object_array_length(v), 1);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 0)), "webp");
	json_object_put(o);
	/* an index of jpg alone: no extras */
	o = info_of(&d, 1u << FMT_JPG);
	assert_false(json_object_object_get_ex(o, "extraFormats", NULL));
	json_object_put(o);
	/* the largest geometry still fits */
	d = ds(1ull << 40, 1ull << 40, 16, 0);
	o = info_of(&d, 0);
	json_object_put(o);
}

static void tile_coordinates_stay_in_range(void **state)
{
	/* 2^40 px, 16 px tiles: 2^36 columns at scale 1, more than a key holds */
	struct dataset d = ds(1ull << 40, 1ull << 40, 16, 0);
	struct tilekey k;
	char path[160];

	(void)state;
	d.max_zoom = 30;
	snprintf(path, sizeof(path), "/iiif/3/7/%llu,0,16,16/16,16/0/default.jpg",
		 (unsigned long long)(1ull << 32) * 16);
	assert_int_equal(map_path(&d, path, &k), 400);
	snprintf(path, sizeof(path), "/iiif/3/7/%llu,0,16,16/16,16/0/default.jpg",
		 (unsigned long long)TILE_COORD_MAX * 16);
	assert_int_equal(map_path(&d, path, &k), 200);
	assert_int_equal(k.x, TILE_COORD_MAX);
	snprintf(path, sizeof(path), "/iiif/3/7/%llu,0,16,16/16,16/0/default.jpg",
		 (unsigned long long)(TILE_COORD_MAX + 1ull) * 16);
	assert_int_equal(map_path(&d, path, &k), 400);
}

static void accept_and_hosts(void **state)
{
	struct config c;
	struct request r;
	char out[128];

	(void)state;
	assert_true(iiif_wants_ld("application/ld+json;profile=\"" IIIF_CONTEXT "\""));
	assert_true(iiif_wants_ld("text/html, application/ld+json"));
	assert_true(iiif_wants_ld("Application/LD+JSON; Profile=\"" IIIF_CONTEXT "\", */*"));
	assert_false(iiif_wants_ld("application/ld+json;profile=\"http://iiif.io/api/image/2/context.json\""));
	assert_false(iiif_wants_ld("application/json"));
	assert_false(iiif_wants_ld(NULL));
	memset(&c, 0, sizeof(c));
	memset(&r, 0, sizeof(r));
	assert_int_equal(iiif_origin(&c, &r, out, sizeof(out)), AP_ERR_BAD_REQUEST);
	r.host = "tiles.example.org";
	assert_int_equal(iiif_origin(&c, &r, out, sizeof(out)), AP_OK);
	assert_string_equal(out, "http://tiles.example.org");
	r.https = true;
	r.host = "127.0.0.1:8443";
	assert_int_equal(iiif_origin(&c, &r, out, sizeof(out)), AP_OK);
	assert_string_equal(out, "https://127.0.0.1:8443");
	r.host = "[::1]:80";
	assert_int_equal(iiif_origin(&c, &r, out, sizeof(out)), AP_OK);
	assert_string_equal(out, "https://[::1]:80");
	/* a Host without port: the server's port unless the scheme's default */
	r.host = "tiles.example.org";
	r.server_port = 443;
	assert_int_equal(iiif_origin(&c, &r, out, sizeof(out)), AP_OK);
	assert_string_equal(out, "https://tiles.example.org");
	r.server_port = 8443;
	assert_int_equal(iiif_origin(&c, &r, out, sizeof(out)), AP_OK);
	assert_string_equal(out, "https://tiles.example.org:8443");
	r.host = "[::1]";
	assert_int_equal(iiif_origin(&c, &r, out, sizeof(out)), AP_OK);
	assert_string_equal(out, "https://[::1]:8443");
	r.host = "h:99";
	assert_int_equal(iiif_origin(&c, &r, out, sizeof(out)), AP_OK);
	assert_string_equal(out, "https://h:99");
	r.server_port = 0;
	static const char *const bad[] = {"", "a b", "evil.example/x", "h:", "h:123456", ":80",
					  "[::1", "[::1]x", "h\"", "h@x", "h:8a"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r.host = bad[i];
		if (iiif_origin(&c, &r, out, sizeof(out)) != AP_ERR_BAD_REQUEST)
			fail_msg("host '%s' accepted", bad[i]);
	}
	c.iiif_base_url = "https://cdn.example/tiles";
	r.host = "evil example";
	assert_int_equal(iiif_origin(&c, &r, out, sizeof(out)), AP_OK);
	assert_string_equal(out, "https://cdn.example/tiles");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(openseadragon_grids_map_to_stored_tiles),
		cmocka_unit_test(top_scale_is_the_single_tile_level),
		cmocka_unit_test(min_zoom_limits_the_scale_factors),
		cmocka_unit_test(edge_tiles_and_size_forms),
		cmocka_unit_test(anything_else_is_400),
		cmocka_unit_test(other_iiif_paths),
		cmocka_unit_test(dzi_routes_and_levels),
		cmocka_unit_test(info_json_is_level0),
		cmocka_unit_test(tile_coordinates_stay_in_range),
		cmocka_unit_test(accept_and_hosts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
