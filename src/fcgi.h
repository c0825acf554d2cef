/*
 * fcgi.h - the FastCGI protocol (version 1) as a pure byte codec.
 *
 * The parser is fed whatever bytes arrived and reports, one at a time, the
 * events a responder acts on: a request began, its parameters are complete,
 * its body ended, the web server aborted it, a management query. It never
 * blocks and never reads a socket, so it can be driven by an event loop and
 * by a fuzzer alike. Everything it keeps is bounded: a request's parameters
 * at most FCGI_PARAMS_MAX bytes and FCGI_PARAMS_COUNT_MAX pairs; request
 * bodies are not kept at all (the API takes none), only drained, so that a
 * kept connection stays in step after a POST.
 *
 * One request at a time per connection (FCGI_MPXS_CONNS is answered 0): a
 * BEGIN_REQUEST for another id while one is active is reported as
 * FCGI_EV_CANT_MPX, to be answered with END_REQUEST(CANT_MPX_CONN).
 *
 * The encoder writes record headers, END_REQUEST and the management
 * answers; the caller lays out STDOUT records itself (see fcgi_stdout_*).
 */
#ifndef AP_FCGI_H
#define AP_FCGI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "error.h"

#define FCGI_HEADER_LEN 8
#define FCGI_RECORD_MAX 65535	/* content bytes of one record */
#define FCGI_PARAMS_MAX (64 * 1024)	/* encoded parameters of one request */
#define FCGI_PARAMS_COUNT_MAX 256
#define FCGI_NAME_MAX 256	/* bytes of one parameter name */
#define FCGI_MGMT_MAX 1024	/* a GET_VALUES query kept for its answer */

enum fcgi_type {
	FCGI_BEGIN_REQUEST = 1, FCGI_ABORT_REQUEST, FCGI_END_REQUEST, FCGI_PARAMS, FCGI_STDIN,
	FCGI_STDOUT, FCGI_STDERR, FCGI_DATA, FCGI_GET_VALUES, FCGI_GET_VALUES_RESULT,
	FCGI_UNKNOWN_TYPE
};
enum fcgi_role { FCGI_RESPONDER = 1 };
enum fcgi_status { FCGI_REQUEST_COMPLETE, FCGI_CANT_MPX_CONN, FCGI_OVERLOADED, FCGI_UNKNOWN_ROLE };

enum fcgi_event {
	FCGI_EV_NONE,		/* need more bytes */
	FCGI_EV_BEGIN,		/* a request began: id, keep_conn, role */
	FCGI_EV_PARAMS,		/* its parameters are complete: fcgi_param() reads them */
	FCGI_EV_STDIN_END,	/* its body is over (drained, not kept) */
	FCGI_EV_ABORT,		/* the web server gave it up */
	FCGI_EV_GET_VALUES,	/* a management query: answer with fcgi_get_values_result() */
	FCGI_EV_UNKNOWN_TYPE,	/* a management record we do not know: answer its type */
	FCGI_EV_CANT_MPX,	/* a second request on this connection: refuse other_id */
	FCGI_EV_ERROR,		/* the stream is not FastCGI or breaks a limit: close */
};

struct fcgi_parser {
	/* the record being read */
	unsigned char hdr[FCGI_HEADER_LEN];
	size_t hdr_have;
	uint8_t type;
	uint16_t id;
	size_t content_left, padding_left;
	unsigned char begin[8];		/* BEGIN_REQUEST body */
	size_t begin_have;
	/* the request */
	bool active, params_done, stdin_done;
	uint16_t req_id;
	bool keep_conn;
	uint16_t role;
	struct buf params;		/* encoded name-value pairs */
	struct buf mgmt;		/* a GET_VALUES body */
	uint16_t other_id;		/* FCGI_EV_CANT_MPX */
	uint8_t unknown_type;		/* FCGI_EV_UNKNOWN_TYPE */
	const char *error;		/* FCGI_EV_ERROR: why */
	/* decoded parameters (after FCGI_EV_PARAMS) */
	struct buf decoded;		/* "name\0value\0" ... */
	size_t nparams;
};

void fcgi_parser_init(struct fcgi_parser *p);
void fcgi_parser_free(struct fcgi_parser *p);
/* Consumes bytes of p[0..len) up to and including the next event; sets *used
 * to how many. Call again with the rest until FCGI_EV_NONE. */
enum fcgi_event fcgi_feed(struct fcgi_parser *p, const void *data, size_t len, size_t *used);
/* Forgets the request (after its END_REQUEST went out); the stream goes on. */
void fcgi_request_done(struct fcgi_parser *p);
/* A parameter of the current request, NUL-terminated; NULL if absent. */
const char *fcgi_param(const struct fcgi_parser *p, const char *name);

/* A record header for content_len bytes (no padding) into out[8]. */
void fcgi_header(unsigned char out[FCGI_HEADER_LEN], enum fcgi_type type, uint16_t id,
		 size_t content_len);
/* The 16 bytes of END_REQUEST. */
void fcgi_end_request(unsigned char out[16], uint16_t id, uint32_t app_status,
		      enum fcgi_status status);
/* The whole GET_VALUES_RESULT record answering the query in p->mgmt. */
enum ap_err fcgi_get_values_result(const struct fcgi_parser *p, unsigned max_conns,
				   unsigned max_reqs, struct buf *out) AP_WARN_UNUSED;
/* The 16 bytes of UNKNOWN_TYPE for record type t. */
void fcgi_unknown_type(unsigned char out[16], uint8_t t);
/* Records needed to carry n content bytes. */
static inline size_t fcgi_records_for(size_t n) { return (n + FCGI_RECORD_MAX - 1) / FCGI_RECORD_MAX; }

#endif
