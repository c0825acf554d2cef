/*
 * response.h - what a handler answers, and the one place it is written out.
 *
 * A handler fills a struct response (status, header lines, body); the front
 * sends response_head() and response_body() as FastCGI records (conn.c) or,
 * in --request mode, response_write() writes both to stdout in CGI form. The body is either borrowed from a
 * pinned cache tile (no copy) or owned in a buffer. HEAD keeps the headers,
 * Content-Length included, and drops the body.
 */
#ifndef AP_RESPONSE_H
#define AP_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "buf.h"
#include "error.h"
#include "request.h"

#define RESP_HEADERS_MAX 2048
#define RESP_JSON_MAX (64 * 1024)	/* small JSON documents (not batch) */
#define RESP_BODY_MAX (65u * 1024 * 1024)	/* the largest body of any endpoint (batch) */

struct tile;

struct response {
	int status;
	char headers[RESP_HEADERS_MAX];
	size_t hlen;
	bool headers_overflow;
	const void *body;
	size_t body_len;
	bool no_body;		/* HEAD, 304 */
	struct buf owned;	/* body storage when not borrowed */
	struct tile *pin;	/* tile whose bytes are the body */
};

void response_init(struct response *res);
void response_free(struct response *res);
void response_header(struct response *res, const char *name, const char *fmt, ...) AP_PRINTF(3, 4);
/* Takes the text in text (the buffer becomes the body) of that type. */
void response_text(struct response *res, int status, const char *type, struct buf *text);
/* Takes the JSON text in json (the buffer becomes the body). */
void response_json(struct response *res, int status, struct buf *json);
struct json_object;
/* Sends a JSON object (consumed) with Cache-Control: no-store. */
enum ap_err response_json_object(struct response *res, int status, struct json_object *o) AP_WARN_UNUSED;
/* An error as {"detail": ...} with the status of e (SPEC section 3); the
 * detail is made valid UTF-8 whatever bytes it held. */
void response_error(struct response *res, const struct request *req, enum ap_err e);

/* The CGI head of the response (Status, headers, Content-Length, blank line). */
enum ap_err response_head(const struct response *res, struct buf *out) AP_WARN_UNUSED;
/* The body to send after the head (none for HEAD, 204, 304): its length. */
size_t response_body(const struct response *res, const void **body);
/* Head and body to fp (--request mode). */
enum ap_err response_write(const struct response *res, FILE *fp) AP_WARN_UNUSED;

#endif
