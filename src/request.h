/*
 * request.h - one HTTP request as the web server handed it over FastCGI.
 *
 * Built from the CGI/FastCGI parameters (REQUEST_METHOD, REQUEST_URI, ...)
 * with every size checked against a named limit before it is copied, so a
 * handler only ever sees a request that is small and syntactically sane. The
 * raw REQUEST_URI is used (not the decoded PATH_INFO) so that encoded
 * traversal such as %2e%2e or %2f never reaches the router as a "/".
 */
#ifndef AP_REQUEST_H
#define AP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include "error.h"
#include "tilekey.h"

#define REQ_URI_MAX 16384	/* whole REQUEST_URI (414 beyond) */
#define REQ_PATH_MAX 512	/* path part (414 beyond) */
#define REQ_HEADER_MAX 8192	/* any header we read (431 beyond) */
#define REQ_BODY_MAX 4096	/* POST bodies are not used; larger is 413 */
#define REQ_QUERY_PARAMS_MAX 1000 /* parameters in one query string (400 beyond) */
#define REQ_PARAM_VALUE_MAX 4096 /* one decoded parameter value */
#define REQ_DETAIL_MAX 256

/* A batch URL must be able to carry BATCH_MAX_TILES entries: the largest
 * value that setting takes is derived from the URI limit, keeping room for
 * a token and other parameters. An entry is "tiles=" + a tile spec with
 * its two slashes percent-encoded (as URLSearchParams writes it) + '&'. */
#define REQ_URI_RESERVE 5120
#define BATCH_ENTRY_URI_MAX (6 + TILE_SPEC_MAX + 4 + 1)
#define BATCH_TILES_CEILING ((REQ_URI_MAX - REQ_URI_RESERVE) / BATCH_ENTRY_URI_MAX)
#define BATCH_TILES_CEILING_TEXT "261"	/* BATCH_TILES_CEILING, for help texts */
_Static_assert(BATCH_TILES_CEILING == 261, "update BATCH_TILES_CEILING_TEXT");

enum method { M_GET, M_HEAD, M_POST, M_OPTIONS, M_OTHER };

struct request {
	enum method method;
	char method_name[16];
	char path[REQ_PATH_MAX + 1];	/* raw, still percent-encoded */
	const char *query;		/* raw query string, "" if none */
	const char *authorization;	/* NULL if absent */
	const char *if_none_match;
	const char *origin;
	const char *accept;		/* NULL if absent */
	const char *host;		/* Host header, NULL if absent */
	bool https;			/* HTTPS=on or REQUEST_SCHEME=https */
	unsigned server_port;		/* SERVER_PORT, 0 if absent or not a port */
	const char *remote_addr;	/* REMOTE_ADDR, NULL if absent (metrics access) */
	long content_length;
	/* filled while handling */
	char detail[REQ_DETAIL_MAX];	/* error detail for the JSON body */
	const char *allow;		/* Allow header for 405 */
};

/* Reads the parameters of one request. getparam returns a parameter's value
 * or NULL (FCGX_GetParam over the request's envp, or getenv-like). */
typedef const char *(*param_fn)(const char *name, void *ud);
enum ap_err request_parse(struct request *r, param_fn getparam, void *ud) AP_WARN_UNUSED;

/* Does Accept name image/webp with a non-zero q? (Wildcards do not count:
 * a browser that takes WebP says so.) */
bool request_accepts_webp(const struct request *r);

/* Records a detail for the error response and returns e (for `return`). */
enum ap_err request_fail(struct request *r, enum ap_err e, const char *fmt, ...) AP_PRINTF(3, 4);

/*
 * Iterates query parameters: *cursor starts at r->query. Each call decodes
 * the next "name=value" (percent-decoding, '+' as space) into the given
 * buffers and returns AP_OK, or AP_ERR_NOT_FOUND at the end, or
 * AP_ERR_BAD_REQUEST on bad encoding or a name/value over its buffer.
 */
enum ap_err query_next(const char **cursor, char *name, size_t namecap,
		       char *value, size_t valuecap, size_t *valuelen) AP_WARN_UNUSED;
/* The first value of a parameter, decoded; AP_ERR_NOT_FOUND if absent. */
enum ap_err query_get(const char *query, const char *name, char *value, size_t cap) AP_WARN_UNUSED;

#endif
