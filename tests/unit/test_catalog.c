/*
 * test_catalog.c - dataset metadata (SPEC section 2) through catalog.h:
 * the backend's JSON is accepted as written and validated, level grids
 * follow the OpenSeadragon convention, and the per-process cache honours
 * its TTL, caches unknown datasets negatively and never caches failures.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "catalog.h"
#include "store.h"
#include "generation.h"
#include "clock.h"
#include "ev.h"
#include "tileindex.h"

/* The JSON the AstroPixel backend writes (SPEC section 2), with extras. */
static const char spec_json[] =
	"{\"id\": 1, \"name\": \"Andromeda M31\", \"owner_id\": 7, \"is_demo\": false,"
	" \"min_zoom\": 0, \"max_zoom\": 14, \"tile_size\": 256,"
	" \"width\": 16384, \"height\": 8192, \"processing_status\": \"completed\","
	" \"updated_at\": \"2024-05-01T12:00:00Z\","
	" \"telescope\": {\"name\": \"HST\", \"filters\": [\"F435W\", \"F814W\"]},"
	" \"tags\": [1, 2.5, null, true], \"description\": null}";

static enum ap_err parse(const char *json, struct dataset *d, char *why)
{
	return dataset_parse(json, strlen(json), 5, d, why, 160);
}

/* Metadata with one field replaced (or added) by text. */
static enum ap_err parse_with(const char *field, const char *value, struct dataset *d, char *why)
{
	char json[1024];
	const char *base[][2] = {
		{"min_zoom", "0"}, {"max_zoom", "10"}, {"tile_size", "256"},
		{"width", "600"}, {"height", "400"}, {"is_demo", "true"},
		{"owner_id", "null"}, {"processing_status", "\"completed\""},
	};
	size_t o = 0;
	bool replaced = false;

	o += (size_t)snprintf(json + o, sizeof(json) - o, "{");
	for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++) {
		const char *v = base[i][1];
		if (strcmp(base[i][0], field) == 0) {
			replaced = true;
			if (!value)
				continue;	/* removed */
			v = value;
		}
		o += (size_t)snprintf(json + o, sizeof(json) - o, "%s\"%s\": %s",
				      o > 1 ? ", " : "", base[i][0], v);
	}
	if (!replaced && value)
		o += (size_t)snprintf(json + o, sizeof(json) - o, ", \"%s\": %s", field, value);
	snprintf(json + o, sizeof(json) - o, "}");
	return parse(json, d, why);
}

#define ACCEPTS(field, value)                                                             \
	do {                                                                              \
		char why_[160] = "";                                                      \
		if (parse_with(field, value, &d, why_) != AP_OK)                          \
			fail_msg("%s: %s must be accepted (%s)", field, #value, why_);    \
	} while (0)

#define REFUSES(field, value)                                                             \
	do {                                                                              \
		char why_[160] = "";                                                      \
		if (parse_with(field, value, &d, why_) == AP_OK)                          \
			fail_msg("%s: %s must be refused", field, #value);                \
		if (!why_[0])                                                             \
			fail_msg("%s: refusal of %s gives no reason", field, #value);     \
	} while (0)

/* ---- dataset_parse --------------------------------------------------------- */

static void spec_metadata_is_accepted_and_unknown_fields_ignored(void **state)
{
	struct dataset d;
	char why[160] = "";

	(void)state;
	assert_int_equal(parse(spec_json, &d, why), AP_OK);
	assert_int_equal(d.id, 5);	/* the id asked for, not the file's */
	assert_string_equal(d.name, "Andromeda M31");
	assert_true(d.has_owner);
	assert_string_equal(d.owner, "7");
	assert_false(d.is_demo);
	assert_int_equal(d.min_zoom, 0);
	assert_int_equal(d.max_zoom, 14);
	assert_int_equal(d.tile_size, 256);
	assert_int_equal(d.width, 16384);
	assert_int_equal(d.height, 8192);
	assert_int_equal(d.status, DS_COMPLETED);
}

static void owner_id_may_be_int_string_or_null(void **state)
{
	struct dataset d;
	char why[160];

	(void)state;
	assert_int_equal(parse_with("owner_id", "42", &d, why), AP_OK);
	assert_true(d.has_owner);
	assert_string_equal(d.owner, "42");
	assert_int_equal(parse_with("owner_id", "\"42\"", &d, why), AP_OK);
	assert_true(d.has_owner);
	assert_string_equal(d.owner, "42");
	assert_int_equal(parse_with("owner_id", "\"user-abc\"", &d, why), AP_OK);
	assert_string_equal(d.owner, "user-abc");
	assert_int_equal(parse_with("owner_id", "9007199254740993", &d, why), AP_OK);
	assert_string_equal(d.owner, "9007199254740993");	/* no float rounding */
	assert_int_equal(parse_with("owner_id", "null", &d, why), AP_OK);
	assert_false(d.has_owner);
	assert_int_equal(parse_with("owner_id", NULL, &d, why), AP_OK);	/* absent */
	assert_false(d.has_owner);
}

static void owner_id_of_another_type_is_refused(void **state)
{
	struct dataset d;

	(void)state;
	REFUSES("owner_id", "true");
	REFUSES("owner_id", "7.5");
	REFUSES("owner_id", "[7]");
	REFUSES("owner_id", "{\"id\": 7}");
	REFUSES("owner_id", "\"\"");
	/* longer than OWNER_ID_MAX */
	REFUSES("owner_id", "\"0123456789012345678901234567890123456789012345678901234567890123456789\"");
}

static void is_demo_must_be_a_boolean(void **state)
{
	struct dataset d;
	char why[160];

	(void)state;
	assert_int_equal(parse_with("is_demo", "true", &d, why), AP_OK);
	assert_true(d.is_demo);
	assert_int_equal(parse_with("is_demo", "false", &d, why), AP_OK);
	assert_false(d.is_demo);
	assert_int_equal(parse_with("is_demo", NULL, &d, why), AP_OK);
	assert_false(d.is_demo);	/* absent: private, never public by accident */
	REFUSES("is_demo", "1");
	REFUSES("is_demo", "\"true\"");
	REFUSES("is_demo", "null");
}

static void zoom_range_must_be_0_to_30_and_ordered(void **state)
{
	struct dataset d;

	(void)state;
	ACCEPTS("max_zoom", "30");
	ACCEPTS("min_zoom", "10");	/* min == max */
	REFUSES("max_zoom", "31");
	REFUSES("max_zoom", "-1");
	REFUSES("min_zoom", "-1");
	REFUSES("min_zoom", "11");	/* above max_zoom 10 */
	REFUSES("max_zoom", "2.5");
	REFUSES("max_zoom", "\"10\"");
	REFUSES("max_zoom", "null");
	REFUSES("max_zoom", NULL);
	REFUSES("min_zoom", NULL);
	REFUSES("max_zoom", "4294967306");	/* 2^32 + 10 must not wrap to 10 */
}

static void tile_size_and_image_size_are_bounded(void **state)
{
	struct dataset d;

	(void)state;
	ACCEPTS("tile_size", "16");
	ACCEPTS("tile_size", "4096");
	REFUSES("tile_size", "15");
	REFUSES("tile_size", "0");
	REFUSES("tile_size", "4097");
	REFUSES("tile_size", "-256");
	REFUSES("tile_size", "256.0");
	REFUSES("tile_size", NULL);
	ACCEPTS("width", "1");
	ACCEPTS("width", "1099511627776");	/* 2^40 */
	REFUSES("width", "1099511627777");
	REFUSES("width", "0");
	REFUSES("width", "-600");
	REFUSES("width", "\"600\"");
	REFUSES("width", "600.5");
	REFUSES("width", NULL);
	REFUSES("height", "0");
	REFUSES("height", NULL);
	REFUSES("height", "18446744073709551615");
}

static void processing_status_maps_to_its_state(void **state)
{
	static const struct {
		const char *json;
		enum ds_status s;
	} v[] = {
		{"\"completed\"", DS_COMPLETED}, {"\"processing\"", DS_PROCESSING},
		{"\"pending\"", DS_PENDING}, {"\"failed\"", DS_FAILED},
		{"\"archived\"", DS_OTHER}, {"\"Completed\"", DS_OTHER}, {"1", DS_OTHER},
		{"null", DS_OTHER},
	};
	struct dataset d;
	char why[160];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(parse_with("processing_status", v[i].json, &d, why), AP_OK);
		if (d.status != v[i].s)
			fail_msg("processing_status %s: got %d, want %d", v[i].json, (int)d.status,
				 (int)v[i].s);
	}
	assert_string_equal(ds_status_name(DS_COMPLETED), "completed");
	assert_string_equal(ds_status_name(DS_PROCESSING), "processing");
	assert_string_equal(ds_status_name(DS_PENDING), "pending");
	assert_string_equal(ds_status_name(DS_FAILED), "failed");
}

static void documents_that_are_not_json_objects_are_refused(void **state)
{
	static const char *const bad[] = {
		"", "null", "[]", "42", "\"x\"", "{", "{\"width\": }", "not json",
		"{\"min_zoom\": 0, \"max_zoom\": 10, \"tile_size\": 256, \"width\": 600,",
	};
	struct dataset d;
	char why[160];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		if (parse(bad[i], &d, why) == AP_OK)
			fail_msg("'%s' must be refused", bad[i]);
		assert_true(why[0] != '\0');
	}
}

static void only_len_bytes_are_parsed(void **state)
{
	char buf[600];
	struct dataset d;
	char why[160];
	size_t n;

	(void)state;
	n = (size_t)snprintf(buf, sizeof(buf), "%s", spec_json);
	buf[n] = 'X';	/* no terminator after the document */
	memset(buf + n, 'X', sizeof(buf) - n);
	assert_int_equal(dataset_parse(buf, n, 1, &d, why, sizeof(why)), AP_OK);
	assert_int_equal(d.width, 16384);
	/* and a length that cuts the document refuses it */
	assert_true(dataset_parse(buf, n - 1, 1, &d, why, sizeof(why)) != AP_OK);
}

static void nesting_is_bounded_even_in_unknown_fields(void **state)
{
	char json[512];
	struct dataset d;
	char why[160];
	size_t o;

	(void)state;
	o = (size_t)snprintf(json, sizeof(json), "{\"min_zoom\": 0, \"max_zoom\": 1, "
				 "\"tile_size\": 256, \"width\": 1, \"height\": 1, \"x\": ");
	for (int i = 0; i < 100; i++)
		json[o++] = '[';
	for (int i = 0; i < 100; i++)
		json[o++] = ']';
	json[o++] = '}';
	json[o] = '\0';
	assert_true(parse(json, &d, why) != AP_OK);
}

static void metadata_over_the_limit_is_refused_unread(void **state)
{
	size_t n = META_MAX_BYTES + 1;
	char *json = malloc(n + 1);
	struct dataset d;
	char why[160] = "";

	(void)state;
	assert_non_null(json);
	memset(json, ' ', n);
	memcpy(json, spec_json, strlen(spec_json));	/* valid, then padding */
	json[n] = '\0';
	assert_true(dataset_parse(json, n, 1, &d, why, sizeof(why)) != AP_OK);
	assert_true(why[0] != '\0');
	free(json);
}

/* ---- grids ----------------------------------------------------------------- */

static struct dataset ds(uint64_t w, uint64_t h, unsigned minz, unsigned maxz, uint32_t ts)
{
	struct dataset d;

	memset(&d, 0, sizeof(d));
	d.id = 1;
	d.width = w;
	d.height = h;
	d.min_zoom = (uint8_t)minz;
	d.max_zoom = (uint8_t)maxz;
	d.tile_size = ts;
	d.status = DS_COMPLETED;
	return d;
}

static void expect_grid(const struct dataset *d, unsigned z, uint64_t cols, uint64_t rows)
{
	uint64_t c = 99, r = 99;

	dataset_grid(d, z, &c, &r);
	if (c != cols || r != rows)
		fail_msg("%llux%llu image, level %u: grid %llux%llu, want %llux%llu",
			 (unsigned long long)d->width, (unsigned long long)d->height, z,
			 (unsigned long long)c, (unsigned long long)r, (unsigned long long)cols,
			 (unsigned long long)rows);
}

static void grid_of_a_16384_by_8192_image(void **state)
{
	struct dataset d = ds(16384, 8192, 0, 14, 256);

	(void)state;
	expect_grid(&d, 14, 64, 32);
	expect_grid(&d, 13, 32, 16);
	expect_grid(&d, 12, 16, 8);
	expect_grid(&d, 9, 2, 1);
	expect_grid(&d, 8, 1, 1);
	expect_grid(&d, 0, 1, 1);
}

static void grid_of_a_600_by_400_image_rounds_up(void **state)
{
	struct dataset d = ds(600, 400, 0, 10, 256);

	(void)state;
	expect_grid(&d, 10, 3, 2);
	expect_grid(&d, 9, 2, 1);	/* 300 x 200 */
	expect_grid(&d, 8, 1, 1);	/* 150 x 100 */
	expect_grid(&d, 0, 1, 1);
}

static void grid_outside_the_zoom_range_is_empty(void **state)
{
	struct dataset d = ds(600, 400, 3, 10, 256);

	(void)state;
	expect_grid(&d, 11, 0, 0);
	expect_grid(&d, 30, 0, 0);
	expect_grid(&d, 2, 0, 0);
	expect_grid(&d, 3, 1, 1);
}

static void grid_of_the_largest_image_does_not_overflow(void **state)
{
	struct dataset d = ds(1ull << 40, 1ull << 40, 0, 30, 16);

	(void)state;
	expect_grid(&d, 30, 1ull << 36, 1ull << 36);
	expect_grid(&d, 0, 64, 64);	/* 2^40 / 2^30 = 1024 px, 16-px tiles */
	d = ds((1ull << 40) - 1, 1, 0, 30, 4096);
	expect_grid(&d, 0, 1, 1);
}

static void has_tile_checks_the_grid_edges(void **state)
{
	struct dataset d = ds(600, 400, 0, 10, 256);
	struct tilekey k = {.dataset = 1, .fmt = FMT_JPG};

	(void)state;
#define HAS(z_, x_, y_) (k.z = (z_), k.x = (x_), k.y = (y_), dataset_has_tile(&d, &k))
	assert_true(HAS(10, 0, 0));
	assert_true(HAS(10, 2, 1));
	assert_false(HAS(10, 3, 0));
	assert_false(HAS(10, 0, 2));
	assert_false(HAS(10, 3, 2));
	assert_true(HAS(9, 1, 0));
	assert_false(HAS(9, 1, 1));
	assert_false(HAS(9, 2, 0));
	assert_true(HAS(0, 0, 0));
	assert_false(HAS(0, 1, 0));
	assert_false(HAS(11, 0, 0));
	assert_false(HAS(30, 0, 0));
	assert_false(HAS(10, TILE_COORD_MAX, 0));
	d.min_zoom = 5;
	assert_false(HAS(4, 0, 0));
	assert_true(HAS(5, 0, 0));
#undef HAS
}

/* ---- the cache ---------------------------------------------------------- */

struct fake {
	int calls;
	enum ap_err err;
	const char *json;
	char last_key[160];
	/* metadata/datasets/{id}.index: not counted in calls */
	int index_calls;
	enum ap_err index_err;
	const struct buf *index;	/* NULL: 404 */
};

static enum ap_err fake_fetch(void *ud, const char *key, struct buf *out)
{
	struct fake *f = ud;
	size_t n = strlen(key);

	if (n > 6 && !strcmp(key + n - 6, ".index")) {
		f->index_calls++;
		if (f->index_err)
			return f->index_err;
		return f->index ? buf_add(out, f->index->data, f->index->len) : AP_ERR_NOT_FOUND;
	}
	f->calls++;
	snprintf(f->last_key, sizeof(f->last_key), "%s", key);
	if (f->err)
		return f->err;
	return buf_adds(out, f->json);
}


/* The catalogue reads through store_object_start()-like functions; these
 * answer at once from the fakes above. */
static void answer_from(enum ap_err (*fn)(void *, const char *, struct buf *), void *ud,
			struct objget *o)
{
	struct buf b;
	enum ap_err e;

	buf_init(&b, o->max);
	e = fn(ud, o->key, &b);
	o->done(o, e, &b, o->ud);
	buf_free(&b);
}

static void fake_start(void *ud, struct objget *o)
{
	answer_from(fake_fetch, ud, o);
}

static void no_cancel(void *ud, struct objget *o)
{
	(void)ud;
	(void)o;
	fail_msg("nothing is in flight to cancel");
}

struct got {
	bool done;
	enum ap_err e;
};

static void on_got(struct catalog_wait *w, enum ap_err e, void *ud)
{
	struct got *g = ud;

	(void)w;
	g->done = true;
	g->e = e;
}

/* A get, answered at once (the fakes never make it wait). */
static enum ap_err get(struct catalog *c, uint32_t id, struct dataset *d, char *why, size_t whylen)
{
	struct got g = {false, AP_OK};
	struct catalog_wait w = {.out = d, .why = why, .whylen = whylen, .done = on_got, .ud = &g};

	catalog_get(c, id, &w);
	assert_true(g.done);
	return g.e;
}

static const char public_json[] = "{\"name\": \"demo\", \"owner_id\": null, \"is_demo\": true,"
				  " \"min_zoom\": 0, \"max_zoom\": 10, \"tile_size\": 256,"
				  " \"width\": 600, \"height\": 400, \"processing_status\": \"completed\"}";

static void catalog_reads_metadata_datasets_id_json(void **state)
{
	struct fake f = {.json = public_json};
	struct catalog *c = catalog_new(60, NULL, fake_start, no_cancel, &f);
	struct dataset d_, *d = &d_;

	(void)state;
	assert_non_null(c);
	assert_int_equal(get(c, 123, d, NULL, 0), AP_OK);
	assert_string_equal(f.last_key, "metadata/datasets/123.json");
	assert_non_null(d);
	assert_int_equal(d->id, 123);
	assert_true(d->is_demo);
	assert_int_equal(d->width, 600);
	catalog_free(c);
}

static void metadata_is_cached_within_ttl(void **state)
{
	struct fake f = {.json = public_json};
	struct catalog *c = catalog_new(60, NULL, fake_start, no_cancel, &f);
	struct dataset d_, *d = &d_;

	(void)state;
	assert_int_equal(get(c, 1, d, NULL, 0), AP_OK);
	assert_int_equal(get(c, 1, d, NULL, 0), AP_OK);
	assert_int_equal(f.calls, 1);
	assert_int_equal(d->id, 1);
	catalog_free(c);
}

static void metadata_is_refetched_after_ttl_0(void **state)
{
	struct fake f = {.json = public_json};
	struct catalog *c = catalog_new(0, NULL, fake_start, no_cancel, &f);
	struct dataset d_, *d = &d_;

	(void)state;
	assert_int_equal(get(c, 1, d, NULL, 0), AP_OK);
	assert_int_equal(get(c, 1, d, NULL, 0), AP_OK);
	assert_int_equal(f.calls, 2);
	catalog_free(c);
}

static void unknown_dataset_is_cached_negatively(void **state)
{
	struct fake f = {.err = AP_ERR_NOT_FOUND};
	struct catalog *c = catalog_new(60, NULL, fake_start, no_cancel, &f);
	struct dataset d_, *d = &d_;

	(void)state;
	assert_int_equal(get(c, 9, d, NULL, 0), AP_ERR_NOT_FOUND);
	assert_int_equal(get(c, 9, d, NULL, 0), AP_ERR_NOT_FOUND);
	assert_int_equal(f.calls, 1);
	assert_int_equal(ap_err_status(AP_ERR_NOT_FOUND), 404);
	/* the negative entry lives no longer than the TTL either */
	catalog_free(c);
	f.calls = 0;
	c = catalog_new(0, NULL, fake_start, no_cancel, &f);
	assert_int_equal(get(c, 9, d, NULL, 0), AP_ERR_NOT_FOUND);
	f.err = AP_OK;
	f.json = public_json;
	assert_int_equal(get(c, 9, d, NULL, 0), AP_OK);
	assert_int_equal(f.calls, 2);
	catalog_free(c);
}

static void fetch_errors_map_to_502_and_timeouts_to_504(void **state)
{
	static const struct {
		enum ap_err fetch, want;
	} v[] = {
		{AP_ERR_STORAGE, AP_ERR_STORAGE},
		{AP_ERR_IO, AP_ERR_STORAGE},
		{AP_ERR_INTERNAL, AP_ERR_STORAGE},
		{AP_ERR_UNAVAILABLE, AP_ERR_STORAGE},
		{AP_ERR_TIMEOUT, AP_ERR_TIMEOUT},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct fake f = {.err = v[i].fetch};
		struct catalog *c = catalog_new(60, NULL, fake_start, no_cancel, &f);
		struct dataset d_, *d = &d_;
		enum ap_err e = get(c, 1, d, NULL, 0);

		if (e != v[i].want)
			fail_msg("fetch error %d: got status %d, want %d", (int)v[i].fetch,
				 ap_err_status(e), ap_err_status(v[i].want));
		/* failures are not cached: the next get asks storage again */
		f.err = AP_OK;
		f.json = public_json;
		assert_int_equal(get(c, 1, d, NULL, 0), AP_OK);
		assert_int_equal(f.calls, 2);
		catalog_free(c);
	}
	assert_int_equal(ap_err_status(AP_ERR_STORAGE), 502);
	assert_int_equal(ap_err_status(AP_ERR_TIMEOUT), 504);
}

static void invalid_metadata_is_a_502_remembered_for_the_ttl(void **state)
{
	struct fake f = {.json = "{\"width\": \"wide\"}"};
	struct catalog *c = catalog_new(60, NULL, fake_start, no_cancel, &f);
	struct dataset d_, *d = &d_;
	char why[200] = "";

	(void)state;
	assert_int_equal(get(c, 1, d, why, sizeof(why)), AP_ERR_STORAGE);
	assert_non_null(strstr(why, "invalid metadata"));
	/* every request within the TTL gets the same answer, storage is not asked */
	for (int i = 0; i < 10; i++)
		assert_int_equal(get(c, 1, d, NULL, 0), AP_ERR_STORAGE);
	assert_int_equal(f.calls, 1);
	/* an object over the limit is invalid metadata too */
	f.err = AP_ERR_TOO_LARGE;
	assert_int_equal(get(c, 2, d, why, sizeof(why)), AP_ERR_STORAGE);
	assert_non_null(strstr(why, "larger than"));
	assert_int_equal(get(c, 2, d, NULL, 0), AP_ERR_STORAGE);
	assert_int_equal(f.calls, 2);
	f.err = AP_OK;
	catalog_free(c);
	/* the negative entry lives no longer than the TTL */
	f.calls = 0;
	c = catalog_new(0, NULL, fake_start, no_cancel, &f);
	f.json = "<html>502 Bad Gateway</html>";
	assert_int_equal(get(c, 1, d, NULL, 0), AP_ERR_STORAGE);
	f.json = public_json;
	assert_int_equal(get(c, 1, d, NULL, 0), AP_OK);
	assert_int_equal(f.calls, 2);
	catalog_free(c);
}

static void trailing_bytes_after_the_object_are_refused(void **state)
{
	struct fake f = {.json = "{\"min_zoom\": 0, \"max_zoom\": 1, \"tile_size\": 256, "
			 "\"width\": 1, \"height\": 1} {\"x\": 1}"};
	struct catalog *c = catalog_new(60, NULL, fake_start, no_cancel, &f);
	struct dataset d_, *d = &d_;

	(void)state;
	assert_int_equal(get(c, 1, d, NULL, 0), AP_ERR_STORAGE);
	f.json = "{\"min_zoom\": 0, \"max_zoom\": 1, \"tile_size\": 256, \"width\": 1, "
		 "\"height\": 1} \n";
	catalog_drop(c, 1);
	assert_int_equal(get(c, 1, d, NULL, 0), AP_OK);	/* blanks are fine */
	catalog_free(c);
}

static void catalog_drop_forces_a_refetch(void **state)
{
	struct fake f = {.json = public_json};
	struct catalog *c = catalog_new(60, NULL, fake_start, no_cancel, &f);
	struct dataset d_, *d = &d_;

	(void)state;
	assert_int_equal(get(c, 1, d, NULL, 0), AP_OK);
	catalog_drop(c, 1);
	assert_int_equal(get(c, 1, d, NULL, 0), AP_OK);
	assert_int_equal(f.calls, 2);
	/* dropping another dataset leaves this one cached */
	catalog_drop(c, 2);
	catalog_drop(c, 1 + 4096);
	assert_int_equal(get(c, 1, d, NULL, 0), AP_OK);
	assert_int_equal(f.calls, 2);
	catalog_free(c);
}

/* A fetch that knows datasets 1..KNOWN and nothing else. */
enum { KNOWN = 8 };
static enum ap_err known_fetch(void *ud, const char *key, struct buf *out)
{
	struct fake *f = ud;
	unsigned id = 0;

	f->calls++;
	snprintf(f->last_key, sizeof(f->last_key), "%s", key);
	if (sscanf(key, "metadata/datasets/%u.json", &id) != 1 || id == 0 || id > KNOWN)
		return AP_ERR_NOT_FOUND;
	return buf_adds(out, public_json);
}

static void known_start(void *ud, struct objget *o)
{
	answer_from(known_fetch, ud, o);
}

static void ids_sharing_a_hash_slot_are_not_confused(void **state)
{
	struct fake f = {0};
	struct catalog *c = catalog_new(60, NULL, known_start, no_cancel, &f);
	struct dataset d_, *d = &d_;

	(void)state;
	/* 1 and 1 + 4096k land in one bucket of the 4096 */
	assert_int_equal(get(c, 1, d, NULL, 0), AP_OK);
	assert_int_equal(d->id, 1);
	assert_int_equal(get(c, 1 + 4096, d, NULL, 0), AP_ERR_NOT_FOUND);
	assert_int_equal(get(c, 1 + 1024, d, NULL, 0), AP_ERR_NOT_FOUND);
	assert_int_equal(get(c, 1, d, NULL, 0), AP_OK);
	assert_int_equal(d->id, 1);
	assert_int_equal(f.calls, 3);	/* 1 was never pushed out */
	catalog_drop(c, 1 + 4096);
	assert_int_equal(get(c, 1, d, NULL, 0), AP_OK);
	assert_int_equal(f.calls, 3);
	catalog_free(c);
}

/* Issue 12.3: unknown or random ids never push a hot dataset out. */
static void unknown_ids_never_push_out_known_datasets(void **state)
{
	struct fake f = {0};
	struct catalog *c = catalog_new(60, NULL, known_start, no_cancel, &f);
	struct dataset d_, *d = &d_;
	uint64_t rng = 7;

	(void)state;
	for (uint32_t id = 1; id <= KNOWN; id++)
		assert_int_equal(get(c, id, d, NULL, 0), AP_OK);
	/* ten times more unknown ids than the negative pool holds, in between */
	for (int i = 0; i < 10 * CATALOG_NEGATIVE_MAX; i++) {
		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		assert_int_equal(get(c, KNOWN + 1 + (uint32_t)(rng >> 33), d, NULL, 0),
				 AP_ERR_NOT_FOUND);
		if (i % 97 == 0)
			assert_int_equal(get(c, 1 + (uint32_t)i % KNOWN, d, NULL, 0), AP_OK);
	}
	f.calls = 0;
	for (uint32_t id = 1; id <= KNOWN; id++) {
		assert_int_equal(get(c, id, d, NULL, 0), AP_OK);
		assert_int_equal(d->id, id);
	}
	assert_int_equal(f.calls, 0);	/* every known one still remembered */
	catalog_free(c);
}

/* The pools are bounded: many known datasets evict the least recently used. */
static void known_pool_is_bounded_lru(void **state)
{
	struct fake f = {.json = public_json};
	struct catalog *c = catalog_new(60, NULL, fake_start, no_cancel, &f);
	struct dataset d_, *d = &d_;

	(void)state;
	for (uint32_t id = 1; id <= CATALOG_DATASETS_MAX; id++)
		assert_int_equal(get(c, id, d, NULL, 0), AP_OK);
	assert_int_equal(get(c, 1, d, NULL, 0), AP_OK);	/* 1 is recent now */
	assert_int_equal(f.calls, CATALOG_DATASETS_MAX);
	assert_int_equal(get(c, CATALOG_DATASETS_MAX + 1, d, NULL, 0), AP_OK);
	assert_int_equal(get(c, 1, d, NULL, 0), AP_OK);	/* kept */
	assert_int_equal(f.calls, CATALOG_DATASETS_MAX + 1);
	assert_int_equal(get(c, 2, d, NULL, 0), AP_OK);	/* the LRU one went */
	assert_int_equal(f.calls, CATALOG_DATASETS_MAX + 2);
	catalog_free(c);
}

static void storage_failure_answers_the_last_known_metadata(void **state)
{
	struct fake f = {.json = public_json};
	struct catalog *c = catalog_new(0, NULL, fake_start, no_cancel, &f);	/* always stale */
	struct dataset d_, *d = &d_;

	(void)state;
	assert_int_equal(get(c, 1, d, NULL, 0), AP_OK);
	f.err = AP_ERR_TIMEOUT;
	assert_int_equal(get(c, 1, d, NULL, 0), AP_OK);	/* stale, not 504 */
	assert_int_equal(d->id, 1);
	assert_int_equal(get(c, 2, d, NULL, 0), AP_ERR_TIMEOUT);	/* never known */
	assert_true(catalog_saw_private(c) == false);
	catalog_free(c);
}

static void a_cache_clear_anywhere_in_the_pool_expires_metadata(void **state)
{
	struct fake f = {.json = public_json};
	struct gen_map *g = gen_open_private();
	struct catalog *c;
	struct dataset d_, *d = &d_;

	(void)state;
	assert_non_null(g);
	c = catalog_new(60, g, fake_start, no_cancel, &f);
	assert_int_equal(get(c, 1, d, NULL, 0), AP_OK);
	assert_int_equal(get(c, 1, d, NULL, 0), AP_OK);
	assert_int_equal(f.calls, 1);
	/* another process clears dataset 1: only the shared generation moves */
	gen_bump(g, 1);
	assert_int_equal(get(c, 1, d, NULL, 0), AP_OK);
	assert_int_equal(f.calls, 2);
	/* a clear of another dataset changes nothing here */
	gen_bump(g, 2);
	assert_int_equal(get(c, 1, d, NULL, 0), AP_OK);
	assert_int_equal(f.calls, 2);
	catalog_free(c);
	gen_close(g);
}

/* A fetch during which a clear happens (the fake bumps the generation
 * while "reading"): read again for the same request, not a 502; a clear
 * during every read, more than CATALOG_REREADS_MAX times, is the error. */
struct bumping {
	struct fake f;
	struct gen_map *g;
	int bumps;		/* clears to make, one per read */
};

static void bumping_start(void *ud, struct objget *o)
{
	struct bumping *b = ud;

	if (b->bumps > 0) {
		b->bumps--;
		gen_bump(b->g, 1);
	}
	answer_from(fake_fetch, &b->f, o);
}

static void a_clear_during_the_read_reads_again(void **state)
{
	struct bumping b = {.f = {.json = public_json}};
	struct catalog *c;
	struct dataset d_, *d = &d_;

	(void)state;
	b.g = gen_open_private();
	assert_non_null(b.g);
	c = catalog_new(60, b.g, bumping_start, no_cancel, &b);
	b.bumps = 2;
	assert_int_equal(get(c, 1, d, NULL, 0), AP_OK);
	assert_int_equal(b.f.calls, 3);		/* two reads crossed a clear */
	assert_int_equal(get(c, 1, d, NULL, 0), AP_OK);
	assert_int_equal(b.f.calls, 3);		/* the third is remembered */
	catalog_drop(c, 1);
	b.bumps = 100;
	b.f.calls = 0;
	assert_int_equal(get(c, 1, d, NULL, 0), AP_ERR_STORAGE);
	assert_int_equal(b.f.calls, 1 + CATALOG_REREADS_MAX);	/* bounded */
	catalog_free(c);
	gen_close(b.g);
}


/* ---- the tile index, read with the metadata ---------------------------------- */

/* An index of public_json's grid (600 x 400, levels 0..10) listing 10/1/0
 * as png and webp, built for updated_at (NULL: none). */
static void make_index(struct buf *out, const char *updated_at)
{
	struct tileindex_builder *b;
	struct dataset d;
	char why[160];

	assert_int_equal(dataset_parse(public_json, strlen(public_json), 1, &d, why, sizeof(why)), AP_OK);
	assert_int_equal(tileindex_builder_new(&d, updated_at, &b, why, sizeof(why)), AP_OK);
	assert_int_equal(tileindex_builder_add(b, 10, 1, 0, FMT_PNG), AP_OK);
	assert_int_equal(tileindex_builder_add(b, 10, 1, 0, FMT_WEBP), AP_OK);
	buf_init(out, TILEINDEX_MAX_BYTES);
	assert_int_equal(tileindex_builder_encode(b, out), AP_OK);
	tileindex_builder_free(b);
}

static const struct tileindex *index_of(struct catalog *c, struct fake *f, enum ap_err *e)
{
	struct dataset d;

	(void)f;
	*e = get(c, 1, &d, NULL, 0);
	return *e ? NULL : catalog_index(c, &d);
}

static void the_index_is_read_with_the_metadata(void **state)
{
	struct buf ix;
	struct fake f = {.json = public_json, .index = &ix};
	struct catalog *c = catalog_new(60, NULL, fake_start, no_cancel, &f);
	const struct tileindex *idx;
	enum ap_err e;

	(void)state;
	make_index(&ix, NULL);
	idx = index_of(c, &f, &e);
	assert_int_equal(e, AP_OK);
	assert_null(idx);			/* not read by default */
	assert_int_equal(f.index_calls, 0);
	catalog_drop(c, 1);
	catalog_set_index(c, TILEINDEX_MAX_BYTES, NULL);
	idx = index_of(c, &f, &e);
	assert_non_null(idx);
	assert_int_equal(f.index_calls, 1);
	assert_int_equal(tileindex_lookup(idx, 10, 1, 0), (1u << FMT_PNG) | (1u << FMT_WEBP));
	assert_int_equal(tileindex_lookup(idx, 10, 0, 0), 0);
	assert_non_null(index_of(c, &f, &e));	/* within the TTL: not read again */
	assert_int_equal(f.index_calls, 1);
	catalog_drop(c, 1);			/* a clear takes it with the metadata */
	f.index = NULL;
	assert_null(index_of(c, &f, &e));
	assert_int_equal(e, AP_OK);
	assert_int_equal(f.index_calls, 2);
	catalog_free(c);
	buf_free(&ix);
}

static void a_failed_index_read_never_fails_the_dataset(void **state)
{
	enum ap_err errs[] = {AP_ERR_STORAGE, AP_ERR_TIMEOUT, AP_ERR_NOT_FOUND};

	(void)state;
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		struct fake f = {.json = public_json, .index_err = errs[i]};
		struct catalog *c = catalog_new(60, NULL, fake_start, no_cancel, &f);
		enum ap_err e;

		catalog_set_index(c, TILEINDEX_MAX_BYTES, NULL);
		assert_null(index_of(c, &f, &e));
		assert_int_equal(e, AP_OK);
		catalog_free(c);
	}
}

static void an_index_that_does_not_fit_is_ignored(void **state)
{
	struct buf ix, old;
	struct fake f = {.json = public_json, .index = &ix};
	struct catalog *c = catalog_new(60, NULL, fake_start, no_cancel, &f);
	enum ap_err e;

	(void)state;
	catalog_set_index(c, TILEINDEX_MAX_BYTES, NULL);
	make_index(&ix, NULL);
	ix.data[ix.len / 2] ^= 0x10;		/* corrupt */
	assert_null(index_of(c, &f, &e));
	assert_int_equal(e, AP_OK);
	catalog_drop(c, 1);
	make_index(&old, "2025-01-01T00:00:00Z");	/* for other metadata */
	f.index = &old;
	assert_null(index_of(c, &f, &e));
	assert_int_equal(e, AP_OK);
	catalog_drop(c, 1);
	buf_free(&ix);
	make_index(&ix, NULL);
	f.index = &ix;
	catalog_set_index(c, ix.len - 1, NULL);	/* over the limit */
	assert_null(index_of(c, &f, &e));
	assert_int_equal(e, AP_OK);
	catalog_drop(c, 1);
	catalog_set_index(c, ix.len, NULL);
	assert_non_null(index_of(c, &f, &e));
	catalog_free(c);
	buf_free(&ix);
	buf_free(&old);
}

static void a_refresh_whose_index_read_fails_keeps_the_index(void **state)
{
	struct buf ix;
	struct fake f = {.json = public_json, .index = &ix};
	struct catalog *c = catalog_new(0, NULL, fake_start, no_cancel, &f);	/* always stale */
	enum ap_err e;

	(void)state;
	catalog_set_index(c, TILEINDEX_MAX_BYTES, NULL);
	make_index(&ix, NULL);
	assert_non_null(index_of(c, &f, &e));
	f.index_err = AP_ERR_TIMEOUT;
	assert_non_null(index_of(c, &f, &e));	/* answered from the entry, refreshed behind */
	assert_non_null(index_of(c, &f, &e));	/* the refresh kept it */
	assert_int_equal(f.index_calls, 3);
	f.index_err = AP_OK;
	f.index = NULL;				/* gone from storage: gone here */
	(void)index_of(c, &f, &e);
	assert_null(index_of(c, &f, &e));
	catalog_free(c);
	buf_free(&ix);
}

static void a_clear_elsewhere_retires_the_index(void **state)
{
	struct buf ix;
	struct fake f = {.json = public_json, .index = &ix};
	struct gen_map *g = gen_open_private();
	struct catalog *c;
	struct dataset d;

	(void)state;
	assert_non_null(g);
	c = catalog_new(60, g, fake_start, no_cancel, &f);
	catalog_set_index(c, TILEINDEX_MAX_BYTES, NULL);
	make_index(&ix, NULL);
	assert_int_equal(get(c, 1, &d, NULL, 0), AP_OK);
	assert_non_null(catalog_index(c, &d));
	gen_bump(g, 1);				/* another process cleared dataset 1 */
	assert_null(catalog_index(c, &d));
	assert_int_equal(get(c, 1, &d, NULL, 0), AP_OK);	/* read again */
	assert_non_null(catalog_index(c, &d));
	assert_int_equal(f.index_calls, 2);
	catalog_free(c);
	gen_close(g);
	buf_free(&ix);
}

/* An index read that hangs: the metadata answers at once, the index when
 * the test says so (or never). */
struct holding {
	struct fake f;
	struct objget *held;
	int cancels;
};

static void holding_start(void *ud, struct objget *o)
{
	struct holding *h = ud;
	size_t n = strlen(o->key);

	if (n > 6 && !strcmp(o->key + n - 6, ".index")) {
		h->held = o;
		return;
	}
	answer_from(fake_fetch, &h->f, o);
}

static void holding_cancel(void *ud, struct objget *o)
{
	struct holding *h = ud;

	assert_ptr_equal(o, h->held);
	h->held = NULL;
	h->cancels++;
}

static void a_hanging_index_read_does_not_hold_the_dataset(void **state)
{
	struct buf ix;
	struct holding h = {.f = {.json = public_json, .index = &ix}};
	struct ev_loop *loop;
	struct catalog *c;
	struct dataset d;
	struct got g = {false, AP_OK};
	struct catalog_wait w = {.out = &d, .done = on_got, .ud = &g};
	long long t0, t1;
	struct objget *o;

	(void)state;
	make_index(&ix, NULL);
	assert_int_equal(ev_new(&loop), AP_OK);
	c = catalog_new(60, NULL, holding_start, holding_cancel, &h);
	catalog_set_index(c, TILEINDEX_MAX_BYTES, loop);
	t0 = clock_ms();
	catalog_get(c, 1, &w);
	assert_false(g.done);			/* waits a little for the index */
	assert_non_null(h.held);
	while (!g.done && clock_ms() - t0 < 5000)
		(void)ev_run_once(loop, 50);
	t1 = clock_ms();
	assert_true(g.done);
	assert_int_equal(g.e, AP_OK);
	assert_true(t1 - t0 >= CATALOG_INDEX_WAIT_MS - 5);
	assert_true(t1 - t0 < CATALOG_INDEX_WAIT_MS + 1000);
	assert_null(catalog_index(c, &d));	/* served without it meanwhile */
	o = h.held;				/* the read goes on, and ends */
	h.held = NULL;
	answer_from(fake_fetch, &h.f, o);
	assert_non_null(catalog_index(c, &d));	/* it joined the entry */
	assert_int_equal(h.f.calls, 1);
	/* a read still hanging when the catalogue goes is cancelled */
	catalog_drop(c, 1);
	g.done = false;
	catalog_get(c, 1, &w);
	while (!g.done)
		(void)ev_run_once(loop, 50);
	assert_non_null(h.held);
	catalog_free(c);
	assert_int_equal(h.cancels, 1);
	ev_free(loop);
	buf_free(&ix);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(spec_metadata_is_accepted_and_unknown_fields_ignored),
		cmocka_unit_test(owner_id_may_be_int_string_or_null),
		cmocka_unit_test(owner_id_of_another_type_is_refused),
		cmocka_unit_test(is_demo_must_be_a_boolean),
		cmocka_unit_test(zoom_range_must_be_0_to_30_and_ordered),
		cmocka_unit_test(tile_size_and_image_size_are_bounded),
		cmocka_unit_test(processing_status_maps_to_its_state),
		cmocka_unit_test(documents_that_are_not_json_objects_are_refused),
		cmocka_unit_test(only_len_bytes_are_parsed),
		cmocka_unit_test(nesting_is_bounded_even_in_unknown_fields),
		cmocka_unit_test(metadata_over_the_limit_is_refused_unread),
		cmocka_unit_test(grid_of_a_16384_by_8192_image),
		cmocka_unit_test(grid_of_a_600_by_400_image_rounds_up),
		cmocka_unit_test(grid_outside_the_zoom_range_is_empty),
		cmocka_unit_test(grid_of_the_largest_image_does_not_overflow),
		cmocka_unit_test(has_tile_checks_the_grid_edges),
		cmocka_unit_test(catalog_reads_metadata_datasets_id_json),
		cmocka_unit_test(metadata_is_cached_within_ttl),
		cmocka_unit_test(metadata_is_refetched_after_ttl_0),
		cmocka_unit_test(unknown_dataset_is_cached_negatively),
		cmocka_unit_test(fetch_errors_map_to_502_and_timeouts_to_504),
		cmocka_unit_test(invalid_metadata_is_a_502_remembered_for_the_ttl),
		cmocka_unit_test(trailing_bytes_after_the_object_are_refused),
		cmocka_unit_test(catalog_drop_forces_a_refetch),
		cmocka_unit_test(ids_sharing_a_hash_slot_are_not_confused),
		cmocka_unit_test(unknown_ids_never_push_out_known_datasets),
		cmocka_unit_test(known_pool_is_bounded_lru),
		cmocka_unit_test(storage_failure_answers_the_last_known_metadata),
		cmocka_unit_test(a_cache_clear_anywhere_in_the_pool_expires_metadata),
		cmocka_unit_test(a_clear_during_the_read_reads_again),
		cmocka_unit_test(the_index_is_read_with_the_metadata),
		cmocka_unit_test(a_failed_index_read_never_fails_the_dataset),
		cmocka_unit_test(an_index_that_does_not_fit_is_ignored),
		cmocka_unit_test(a_refresh_whose_index_read_fails_keeps_the_index),
		cmocka_unit_test(a_clear_elsewhere_retires_the_index),
		cmocka_unit_test(a_hanging_index_read_does_not_hold_the_dataset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
