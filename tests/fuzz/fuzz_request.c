/*
 * fuzz_request.c - FastCGI parameters through request_parse (request.h),
 * route_match (route.h) and the error response (response.h).
 *
 * Input: parameters as lines "NAME=VALUE" (the first '=' splits; a name
 * given twice keeps its first value, as FCGX_GetParam does), e.g.
 *	REQUEST_METHOD=GET
 *	REQUEST_URI=/api/tiles/1/0/0/0.jpg?token=x
 *	HTTP_IF_NONE_MATCH="abc"
 *
 * Oracle: what request.h and route.h promise of an accepted request (sizes
 * under their limits, the path a prefix of REQUEST_URI, the query after its
 * '?', only allow-listed path characters reach a route, a tile route is the
 * spec the path spells), and that a refused one becomes an error response
 * whose body is one JSON object with a string "detail" and whose status is
 * a 4xx that SPEC section 3 lists.
 */
#include <json-c/json.h>
#include "fuzz.h"
#include "error.h"
#include "request.h"
#include "response.h"
#include "route.h"

#define PARAMS_MAX 32

struct param {
	char *name, *value;
};

struct params {
	struct param p[PARAMS_MAX];
	size_t n;
};

static const char *getparam(const char *name, void *ud)
{
	const struct params *ps = ud;

	for (size_t i = 0; i < ps->n; i++)
		if (strcmp(ps->p[i].name, name) == 0)
			return ps->p[i].value;
	return NULL;
}

static void read_params(const uint8_t *data, size_t size, struct params *ps)
{
	size_t pos = 0;
	char *line;

	ps->n = 0;
	while (ps->n < PARAMS_MAX && (line = fuzz_line(data, size, &pos))) {
		char *eq = strchr(line, '=');

		if (!eq) {
			free(line);
			continue;
		}
		*eq = '\0';
		ps->p[ps->n].name = line;
		ps->p[ps->n].value = eq + 1;
		ps->n++;
	}
}

static void check_accepted(struct request *r, const struct params *ps)
{
	const char *uri = getparam("REQUEST_URI", (void *)ps);
	size_t plen = strlen(r->path);

	FUZZ_CHECK(uri && plen <= REQ_PATH_MAX && strncmp(uri, r->path, plen) == 0,
		   "path is not the start of REQUEST_URI");
	FUZZ_CHECK(r->path[0] == '/' && !strchr(r->path, '?'), "path '%s'", r->path);
	FUZZ_CHECK(*r->query == '\0' || r->query == uri + plen + 1, "query not after the '?'");
	FUZZ_CHECK(!strchr(r->query, '#'), "'#' in query");
	FUZZ_CHECK(r->content_length >= 0 && r->content_length <= REQ_BODY_MAX,
		   "Content-Length %ld", r->content_length);
	FUZZ_CHECK(strlen(r->method_name) < sizeof(r->method_name), "method name");
	FUZZ_CHECK(!r->authorization || strlen(r->authorization) <= REQ_HEADER_MAX, "header size");
}

static void check_route(struct request *r, enum ap_err e, const struct route *rt)
{
	if (e) {
		FUZZ_CHECK(e == AP_ERR_BAD_REQUEST || e == AP_ERR_NOT_FOUND || e == AP_ERR_METHOD,
			   "route_match: %d", e);
		FUZZ_CHECK(e != AP_ERR_METHOD || r->allow, "405 without Allow");
		return;
	}
	for (const char *c = r->path; *c; c++)
		FUZZ_CHECK((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
			   (*c >= '0' && *c <= '9') || strchr("._-/", *c), "routed '%s'", r->path);
	/* no empty, "." or ".." segment: split at every '/' after the first */
	for (const char *seg = r->path + 1;; seg++) {
		size_t l = strcspn(seg, "/");

		FUZZ_CHECK(l > 0 && !(l == 1 && seg[0] == '.') && !(l == 2 && !strncmp(seg, "..", 2)),
			   "segment '%.*s' of '%s' routed", (int)l, seg, r->path);
		seg += l;
		if (!*seg)
			break;
	}
	if (rt->kind == R_TILE) {
		char spec[64];
		const char *ext = strrchr(r->path, '.') + 1;

		snprintf(spec, sizeof(spec), "%s/%u/%u/%u/%u.%s", API_PREFIX, rt->dataset,
			 (unsigned)rt->tile.z, rt->tile.x, rt->tile.y, ext);
		FUZZ_CHECK(strcmp(spec, r->path) == 0, "tile route %s for %s", spec, r->path);
	}
}

/* An error answer: a listed 4xx, one JSON object with a string detail. */
static void check_error(const struct request *r, enum ap_err e, FILE *devnull)
{
	static const int statuses[] = {400, 401, 403, 404, 405, 413, 414, 431};
	struct response res;
	struct json_object *o, *d;
	int listed = 0;

	response_init(&res);
	response_error(&res, r, e);
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		listed |= res.status == statuses[i];
	FUZZ_CHECK(listed, "error %d became status %d", e, res.status);
	FUZZ_CHECK(!res.headers_overflow, "headers overflow");
	o = json_tokener_parse(res.body ? (const char *)res.body : "");
	FUZZ_CHECK(o && json_object_object_get_ex(o, "detail", &d) &&
		   json_object_is_type(d, json_type_string), "error body %.*s", (int)res.body_len,
		   (const char *)res.body);
	json_object_put(o);
	FUZZ_CHECK(response_write(&res, devnull) == AP_OK, "response_write");
	response_free(&res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct params ps;
	struct request r;
	struct route rt;
	enum ap_err e;

	if (!devnull && !(devnull = fopen("/dev/null", "w")))
		abort();
	read_params(data, size, &ps);
	e = request_parse(&r, getparam, &ps);
	if (e == AP_OK) {
		check_accepted(&r, &ps);
		e = route_match(&r, &rt);
		check_route(&r, e, &rt);
	}
	if (e)
		check_error(&r, e, devnull);
	for (size_t i = 0; i < ps.n; i++)
		free(ps.p[i].name);
	return 0;
}
