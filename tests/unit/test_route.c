/*
 * test_route.c - the endpoint table of SPEC section 3 and the allow-list
 * grammar of route.h: every endpoint is found, every spelling of traversal
 * is a 400 before anything is looked up, methods are checked per endpoint.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "route.h"

/* A request as request_parse() would leave it: raw path, method. */
static struct request req(const char *method, const char *path)
{
	struct request r;

	memset(&r, 0, sizeof(r));
	r.query = "";
	snprintf(r.method_name, sizeof(r.method_name), "%s", method);
	r.method = !strcmp(method, "GET") ? M_GET : !strcmp(method, "HEAD") ? M_HEAD :
		   !strcmp(method, "POST") ? M_POST : !strcmp(method, "OPTIONS") ? M_OPTIONS :
		   M_OTHER;
	assert_true(strlen(path) <= REQ_PATH_MAX);
	memcpy(r.path, path, strlen(path) + 1);
	return r;
}

static int status_of(const char *method, const char *path, struct route *rt)
{
	struct request r = req(method, path);
	struct route tmp;
	enum ap_err e = route_match(&r, rt ? rt : &tmp);

	if (e)
		assert_true(r.detail[0] != '\0');	/* every refusal says why */
	return ap_err_status(e);
}

#define EXPECT(method, path, status)                                                      \
	do {                                                                              \
		int got_ = status_of(method, path, NULL);                                 \
		if (got_ != (status))                                                     \
			fail_msg("%s %s: got %d, want %d", method, path, got_, (status)); \
	} while (0)

static void health_is_routed(void **state)
{
	struct route rt;

	(void)state;
	assert_int_equal(status_of("GET", "/api/tiles/health", &rt), 200);
	assert_int_equal(rt.kind, R_HEALTH);
	assert_int_equal(status_of("HEAD", "/api/tiles/health", &rt), 200);
	assert_int_equal(rt.kind, R_HEALTH);
}

static void single_tile_is_routed_with_its_key(void **state)
{
	struct route rt;

	(void)state;
	assert_int_equal(status_of("GET", "/api/tiles/12/3/5/6.png", &rt), 200);
	assert_int_equal(rt.kind, R_TILE);
	assert_int_equal(rt.dataset, 12);
	assert_int_equal(rt.tile.dataset, 12);
	assert_int_equal(rt.tile.z, 3);
	assert_int_equal(rt.tile.x, 5);
	assert_int_equal(rt.tile.y, 6);
	assert_int_equal(rt.tile.fmt, FMT_PNG);

	assert_int_equal(status_of("HEAD", "/api/tiles/1/0/0/0.webp", &rt), 200);
	assert_int_equal(rt.kind, R_TILE);
	assert_int_equal(rt.tile.fmt, FMT_WEBP);

	assert_int_equal(status_of("GET", "/api/tiles/1/0/0/0.jpg", &rt), 200);
	assert_int_equal(rt.tile.fmt, FMT_JPG);
}

static void jpeg_extension_maps_to_jpg(void **state)
{
	struct route rt;

	(void)state;
	assert_int_equal(status_of("GET", "/api/tiles/1/2/3/4.jpeg", &rt), 200);
	assert_int_equal(rt.kind, R_TILE);
	assert_int_equal(rt.tile.fmt, FMT_JPG);
}

static void largest_ids_and_coordinates_are_routed(void **state)
{
	struct route rt;

	(void)state;
	assert_int_equal(status_of("GET", "/api/tiles/2147483647/30/1073741823/1073741823.webp",
				   &rt), 200);
	assert_int_equal(rt.dataset, 2147483647u);
	assert_int_equal(rt.tile.z, 30);
	assert_int_equal(rt.tile.x, 1073741823u);
	assert_int_equal(rt.tile.y, 1073741823u);
	assert_int_equal(status_of("GET", "/api/tiles/0/0/0/0.jpg", &rt), 200);
	assert_int_equal(rt.dataset, 0);
}

static void dataset_endpoints_are_routed(void **state)
{
	static const struct {
		const char *method, *path;
		enum route_kind kind;
	} v[] = {
		{"GET", "/api/tiles/7/batch", R_BATCH},
		{"GET", "/api/tiles/7/cache-stats", R_STATS},
		{"POST", "/api/tiles/7/cache-clear", R_CLEAR},
		{"POST", "/api/tiles/7/prefetch", R_PREFETCH},
	};
	struct route rt;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		memset(&rt, 0xAA, sizeof(rt));
		if (status_of(v[i].method, v[i].path, &rt) != 200)
			fail_msg("%s %s must be routed", v[i].method, v[i].path);
		assert_int_equal(rt.kind, v[i].kind);
		assert_int_equal(rt.dataset, 7);
	}
}

static void options_is_accepted_on_every_endpoint(void **state)
{
	static const char *const paths[] = {
		"/api/tiles/health", "/api/tiles/1/0/0/0.jpg", "/api/tiles/1/batch",
		"/api/tiles/1/cache-stats", "/api/tiles/1/cache-clear", "/api/tiles/1/prefetch",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		EXPECT("OPTIONS", paths[i], 200);
}

static void wrong_method_is_405_with_allow(void **state)
{
	static const struct {
		const char *method, *path, *allow;
	} v[] = {
		{"POST", "/api/tiles/1/0/0/0.jpg", "GET, HEAD, OPTIONS"},
		{"DELETE", "/api/tiles/1/0/0/0.jpg", "GET, HEAD, OPTIONS"},
		{"PUT", "/api/tiles/health", "GET, HEAD, OPTIONS"},
		{"POST", "/api/tiles/1/batch", "GET, OPTIONS"},
		{"HEAD", "/api/tiles/1/batch", "GET, OPTIONS"},
		{"POST", "/api/tiles/1/cache-stats", "GET, OPTIONS"},
		{"GET", "/api/tiles/1/cache-clear", "POST, OPTIONS"},
		{"GET", "/api/tiles/1/prefetch", "POST, OPTIONS"},
		{"get", "/api/tiles/1/0/0/0.jpg", "GET, HEAD, OPTIONS"},	/* methods are case-sensitive */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct request r = req(v[i].method, v[i].path);
		struct route rt;

		if (route_match(&r, &rt) != AP_ERR_METHOD)
			fail_msg("%s %s must be 405", v[i].method, v[i].path);
		assert_non_null(r.allow);
		assert_string_equal(r.allow, v[i].allow);
		assert_string_equal(route_allow(rt.kind), v[i].allow);
	}
}

static void route_allow_names_the_methods_of_each_endpoint(void **state)
{
	(void)state;
	assert_string_equal(route_allow(R_TILE), "GET, HEAD, OPTIONS");
	assert_string_equal(route_allow(R_HEALTH), "GET, HEAD, OPTIONS");
	assert_string_equal(route_allow(R_BATCH), "GET, OPTIONS");
	assert_string_equal(route_allow(R_STATS), "GET, OPTIONS");
	assert_string_equal(route_allow(R_CLEAR), "POST, OPTIONS");
	assert_string_equal(route_allow(R_PREFETCH), "POST, OPTIONS");
}

static void traversal_in_every_form_is_400(void **state)
{
	static const char *const paths[] = {
		"/api/tiles/..",
		"/api/tiles/../../etc/passwd",
		"/api/tiles/1/../2/0/0/0.jpg",
		"/api/tiles/1/0/../0.jpg",
		"/api/tiles/1/0/0/..",
		"/api/tiles/1/%2e%2e/0/0.jpg",
		"/api/tiles/1/%2E%2E/0/0.jpg",
		"/api/tiles/1/.%2e/0/0.jpg",
		"/api/tiles/1%2F0/0/0.jpg",
		"/api/tiles/1/0%2f0/0.jpg",
		"/api/tiles//1/0/0/0.jpg",
		"/api/tiles/1//0/0/0.jpg",
		"/api/tiles/1/0/0//0.jpg",
		"/api/tiles/./1/0/0/0.jpg",
		"/api/tiles/1/./0/0/0.jpg",
		"/api/tiles/1/0/0/0.jpg%00",
		"/api/tiles/1/0/0/0%00.jpg",
		"/api/tiles/1/0/0/0.jpg%00.png",
		"/api/tiles/1\\0\\0\\0.jpg",
		"/api/tiles/1/0/0/..\\..\\0.jpg",
		"/api/tiles/1/0/0/0.jpg\xc0\xae",
		"/api/tiles/1/\xc0\xae\xc0\xae/0/0.jpg",
		"/api/tiles/1/0/0/\xe2\x80\xa4\xe2\x80\xa4.jpg",	/* one dot leader, twice */
		"/api/tiles/1/0/0/\xef\xbc\x8e\xef\xbc\x8e.jpg",	/* fullwidth full stops */
		"/api/tiles/\xd9\xa1/0/0/0.jpg",	/* Arabic-Indic digit one */
		"/api/tiles/1/0/0/0.jpg;.png",
		"/api/tiles/1/0/0/0.jpg:x",
		"/api/tiles/1/0/0/0 .jpg",
		"/api/tiles/1/0/0/0.jp%67",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		EXPECT("GET", paths[i], 400);
}

static void signs_leading_zeros_and_overflow_are_400(void **state)
{
	static const char *const paths[] = {
		"/api/tiles/+1/0/0/0.jpg",
		"/api/tiles/-1/0/0/0.jpg",
		"/api/tiles/1/-1/0/0.jpg",
		"/api/tiles/1/0/+1/0.jpg",
		"/api/tiles/1/0/0/-0.jpg",
		"/api/tiles/01/0/0/0.jpg",
		"/api/tiles/1/01/0/0.jpg",
		"/api/tiles/1/0/00/0.jpg",
		"/api/tiles/1/0/0/007.jpg",
		"/api/tiles/99999999999/0/0/0.jpg",
		"/api/tiles/2147483648/0/0/0.jpg",
		"/api/tiles/4294967296/0/0/0.jpg",
		"/api/tiles/1/99999999999/0/0.jpg",
		"/api/tiles/1/0/99999999999/0.jpg",
		"/api/tiles/1/0/0/99999999999.jpg",
		"/api/tiles/1/0/1073741824/0.jpg",
		"/api/tiles/1/0/0/1073741824.jpg",
		"/api/tiles/01/batch",
		"/api/tiles/-1/cache-stats",
		"/api/tiles/abc/batch",
		"/api/tiles/0x10/batch",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		EXPECT("GET", paths[i], 400);
}

static void z_30_is_routed_and_z_31_is_400(void **state)
{
	struct route rt;

	(void)state;
	assert_int_equal(status_of("GET", "/api/tiles/1/30/0/0.jpg", &rt), 200);
	assert_int_equal(rt.tile.z, 30);
	EXPECT("GET", "/api/tiles/1/31/0/0.jpg", 400);
	EXPECT("GET", "/api/tiles/1/287/0/0.jpg", 400);	/* 287 = 31 mod 256 */
	EXPECT("GET", "/api/tiles/1/256/0/0.jpg", 400);	/* 256 = 0 mod 256 */
}

static void unknown_extension_is_400(void **state)
{
	static const char *const paths[] = {
		"/api/tiles/1/0/0/0.gif", "/api/tiles/1/0/0/0.JPG", "/api/tiles/1/0/0/0.Png",
		"/api/tiles/1/0/0/0.tiff", "/api/tiles/1/0/0/0", "/api/tiles/1/0/0/0.",
		"/api/tiles/1/0/0/0.jpg.jpg", "/api/tiles/1/0/0/0.jpgx", "/api/tiles/1/0/0/.jpg",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		EXPECT("GET", paths[i], 400);
}

static void unknown_endpoint_is_404(void **state)
{
	static const char *const paths[] = {
		"/api/tiles",
		"/api/tiles/1",
		"/api/tiles/1/foo",
		"/api/tiles/1/Batch",
		"/api/tiles/1/cache_stats",
		"/api/tiles/1/0/0",
		"/api/tiles/1/0/0/0/0.jpg",
		"/api/tiles/1/batch/extra",
		"/api/tiles/healthz",
		"/api/tiles/1/2/3/4/5/6/7.jpg",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		EXPECT("GET", paths[i], 404);
}

static void prefix_other_than_api_tiles_is_404(void **state)
{
	static const char *const paths[] = {
		"/", "/api", "/api/", "/api/tile/1/0/0/0.jpg", "/api/tilesX/1/0/0/0.jpg",
		"/api/tiles2/health", "/API/tiles/health", "/api/Tiles/health",
		"/tiles/1/0/0/0.jpg", "/x/api/tiles/1/0/0/0.jpg", "/api/../api/tiles/health",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		EXPECT("GET", paths[i], 404);
}

/*
 * route.h: "empty segments are refused (400)". A trailing slash ends the
 * path with an empty segment, so it is refused like "//", never matched to
 * the endpoint without it.
 */
static void trailing_slash_is_refused_not_routed(void **state)
{
	static const char *const paths[] = {
		"/api/tiles/", "/api/tiles/health/", "/api/tiles/1/batch/",
		"/api/tiles/1/cache-stats/", "/api/tiles/1/0/0/0.jpg/",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		int st = status_of("GET", paths[i], NULL);
		if (st != 400)
			fail_msg("GET %s: got %d, want 400 (empty segment)", paths[i], st);
	}
}

static void syntax_is_checked_before_the_method(void **state)
{
	(void)state;
	/* a malformed path is a 400 whatever the method: no Allow leaks out */
	EXPECT("DELETE", "/api/tiles/1/../0/0.jpg", 400);
	EXPECT("POST", "/api/tiles/1/0/0/0.gif", 400);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(health_is_routed),
		cmocka_unit_test(single_tile_is_routed_with_its_key),
		cmocka_unit_test(jpeg_extension_maps_to_jpg),
		cmocka_unit_test(largest_ids_and_coordinates_are_routed),
		cmocka_unit_test(dataset_endpoints_are_routed),
		cmocka_unit_test(options_is_accepted_on_every_endpoint),
		cmocka_unit_test(wrong_method_is_405_with_allow),
		cmocka_unit_test(route_allow_names_the_methods_of_each_endpoint),
		cmocka_unit_test(traversal_in_every_form_is_400),
		cmocka_unit_test(signs_leading_zeros_and_overflow_are_400),
		cmocka_unit_test(z_30_is_routed_and_z_31_is_400),
		cmocka_unit_test(unknown_extension_is_400),
		cmocka_unit_test(unknown_endpoint_is_404),
		cmocka_unit_test(prefix_other_than_api_tiles_is_404),
		cmocka_unit_test(trailing_slash_is_refused_not_routed),
		cmocka_unit_test(syntax_is_checked_before_the_method),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
