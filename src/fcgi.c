/*
 * fcgi.c - FastCGI record parsing and encoding; see fcgi.h.
 *
 * The parser is a record reader (header, content, padding) feeding a small
 * request state machine: BEGIN_REQUEST -> PARAMS* -> empty PARAMS (event)
 * -> STDIN* -> empty STDIN (event). Content is consumed as it arrives; only
 * PARAMS bytes and a management query are copied, each under its limit.
 */
#include <stdio.h>
#include <string.h>
#include "fcgi.h"

#define FCGI_VERSION_1 1
#define FCGI_KEEP_CONN 1
#define FCGI_MGMT_ID 0

void fcgi_parser_init(struct fcgi_parser *p)
{
	memset(p, 0, sizeof(*p));
	buf_init(&p->params, FCGI_PARAMS_MAX);
	buf_init(&p->mgmt, FCGI_MGMT_MAX);
	buf_init(&p->decoded, FCGI_PARAMS_MAX + 2 * FCGI_PARAMS_COUNT_MAX);
}

void fcgi_parser_free(struct fcgi_parser *p)
{
	buf_free(&p->params);
	buf_free(&p->mgmt);
	buf_free(&p->decoded);
}

void fcgi_request_done(struct fcgi_parser *p)
{
	p->active = p->params_done = p->stdin_done = false;
	p->nparams = 0;
	buf_reset(&p->params);
	buf_reset(&p->decoded);
}

static enum fcgi_event fail(struct fcgi_parser *p, const char *why)
{
	p->error = why;
	return FCGI_EV_ERROR;
}

/* One length of a name-value pair: 1 byte < 128, else 4 bytes with the top bit. */
static bool nv_len(const unsigned char **q, const unsigned char *end, size_t *out)
{
	const unsigned char *c = *q;

	if (c >= end)
		return false;
	if (!(c[0] & 0x80)) {
		*out = c[0];
		*q = c + 1;
		return true;
	}
	if (end - c < 4)
		return false;
	*out = ((size_t)(c[0] & 0x7f) << 24) | ((size_t)c[1] << 16) | ((size_t)c[2] << 8) | c[3];
	*q = c + 4;
	return true;
}

/* Decodes the pairs into "name\0value\0" strings; a NUL inside, a length
 * past the end or a count over the limit is an error. */
static enum fcgi_event decode_params(struct fcgi_parser *p)
{
	const unsigned char *q = (const unsigned char *)p->params.data;
	const unsigned char *end = q ? q + p->params.len : NULL;	/* no pairs: no buffer */

	buf_reset(&p->decoded);
	p->nparams = 0;
	while (q && q < end) {
		size_t nl, vl;

		if (!nv_len(&q, end, &nl) || !nv_len(&q, end, &vl) || nl > (size_t)(end - q) ||
		    vl > (size_t)(end - q) - nl)
			return fail(p, "malformed parameter lengths");
		if (nl == 0 || nl > FCGI_NAME_MAX || memchr(q, 0, nl) || memchr(q + nl, 0, vl))
			return fail(p, "bad parameter name or value");
		if (++p->nparams > FCGI_PARAMS_COUNT_MAX)
			return fail(p, "too many parameters");
		if (buf_add(&p->decoded, q, nl) || buf_add(&p->decoded, "", 1) ||
		    buf_add(&p->decoded, q + nl, vl) || buf_add(&p->decoded, "", 1))
			return fail(p, "parameters too large");
		q += nl + vl;
	}
	return FCGI_EV_PARAMS;
}

const char *fcgi_param(const struct fcgi_parser *p, const char *name)
{
	const char *c = p->decoded.data, *end = c ? c + p->decoded.len : NULL;

	while (c && c < end) {
		size_t nl = strlen(c);
		const char *v = c + nl + 1;

		if (strcmp(c, name) == 0)
			return v;
		c = v + strlen(v) + 1;
	}
	return NULL;
}

/* A record's header is complete: check it and set up its content. */
static enum fcgi_event start_record(struct fcgi_parser *p)
{
	const unsigned char *h = p->hdr;

	if (h[0] != FCGI_VERSION_1)
		return fail(p, "not FastCGI version 1");
	p->type = h[1];
	p->id = (uint16_t)(h[2] << 8 | h[3]);
	p->content_left = (size_t)h[4] << 8 | h[5];
	p->padding_left = h[6];
	p->begin_have = 0;
	if (p->type == FCGI_BEGIN_REQUEST && p->content_left != 8)
		return fail(p, "BEGIN_REQUEST of the wrong size");
	if (p->type == FCGI_GET_VALUES)
		buf_reset(&p->mgmt);
	return FCGI_EV_NONE;
}

/* Content bytes c[0..n) of the current record arrived. */
static enum fcgi_event take_content(struct fcgi_parser *p, const unsigned char *c, size_t n)
{
	switch (p->type) {
	case FCGI_BEGIN_REQUEST:
		memcpy(p->begin + p->begin_have, c, n);
		p->begin_have += n;
		return FCGI_EV_NONE;
	case FCGI_PARAMS:
		if (p->active && p->id == p->req_id && !p->params_done && buf_add(&p->params, c, n))
			return fail(p, "parameters larger than the limit");
		return FCGI_EV_NONE;
	case FCGI_GET_VALUES:
		if (buf_add(&p->mgmt, c, n))
			return fail(p, "GET_VALUES larger than the limit");
		return FCGI_EV_NONE;
	default:
		return FCGI_EV_NONE;	/* STDIN is drained; DATA and the rest ignored */
	}
}

static enum fcgi_event on_begin(struct fcgi_parser *p)
{
	if (p->active) {
		p->other_id = p->id;
		return FCGI_EV_CANT_MPX;
	}
	if (p->id == FCGI_MGMT_ID)
		return fail(p, "BEGIN_REQUEST with the management id");
	fcgi_request_done(p);
	p->active = true;
	p->req_id = p->id;
	p->role = (uint16_t)(p->begin[0] << 8 | p->begin[1]);
	p->keep_conn = p->begin[2] & FCGI_KEEP_CONN;
	return FCGI_EV_BEGIN;
}

/* The current record is complete (content and padding consumed). */
static enum fcgi_event end_record(struct fcgi_parser *p, size_t content_len)
{
	bool ours = p->active && p->id == p->req_id;

	switch (p->type) {
	case FCGI_BEGIN_REQUEST:
		return on_begin(p);
	case FCGI_ABORT_REQUEST:
		return ours ? FCGI_EV_ABORT : FCGI_EV_NONE;
	case FCGI_PARAMS:
		if (!ours || p->params_done || content_len)
			return FCGI_EV_NONE;
		p->params_done = true;
		return decode_params(p);
	case FCGI_STDIN:
		if (!ours || !p->params_done || p->stdin_done || content_len)
			return FCGI_EV_NONE;
		p->stdin_done = true;
		return FCGI_EV_STDIN_END;
	case FCGI_GET_VALUES:
		return p->id == FCGI_MGMT_ID ? FCGI_EV_GET_VALUES : FCGI_EV_NONE;
	case FCGI_DATA:
		return FCGI_EV_NONE;
	default:
		if (p->id != FCGI_MGMT_ID)
			return FCGI_EV_NONE;
		p->unknown_type = p->type;
		return FCGI_EV_UNKNOWN_TYPE;
	}
}

enum fcgi_event fcgi_feed(struct fcgi_parser *p, const void *data, size_t len, size_t *used)
{
	const unsigned char *c = data;
	size_t off = 0;
	enum fcgi_event ev = FCGI_EV_NONE;

	while (off < len && ev == FCGI_EV_NONE) {
		if (p->hdr_have < FCGI_HEADER_LEN) {
			size_t n = FCGI_HEADER_LEN - p->hdr_have;
			size_t content_len;

			n = n < len - off ? n : len - off;
			memcpy(p->hdr + p->hdr_have, c + off, n);
			p->hdr_have += n;
			off += n;
			if (p->hdr_have < FCGI_HEADER_LEN)
				break;
			if ((ev = start_record(p)) != FCGI_EV_NONE)
				break;
			content_len = p->content_left;
			if (content_len == 0 && p->padding_left == 0) {
				p->hdr_have = 0;
				ev = end_record(p, 0);
			}
			continue;
		}
		if (p->content_left) {
			size_t n = p->content_left < len - off ? p->content_left : len - off;
			ev = take_content(p, c + off, n);
			p->content_left -= n;
			off += n;
		} else {
			size_t n = p->padding_left < len - off ? p->padding_left : len - off;
			p->padding_left -= n;
			off += n;
		}
		if (ev == FCGI_EV_NONE && !p->content_left && !p->padding_left) {
			size_t content_len = (size_t)p->hdr[4] << 8 | p->hdr[5];
			p->hdr_have = 0;
			ev = end_record(p, content_len);
		}
	}
	*used = off;
	return ev;
}

/* ---- encoding --------------------------------------------------------------- */

void fcgi_header(unsigned char out[FCGI_HEADER_LEN], enum fcgi_type type, uint16_t id,
		 size_t content_len)
{
	out[0] = FCGI_VERSION_1;
	out[1] = (unsigned char)type;
	out[2] = (unsigned char)(id >> 8);
	out[3] = (unsigned char)id;
	out[4] = (unsigned char)(content_len >> 8);
	out[5] = (unsigned char)content_len;
	out[6] = 0;
	out[7] = 0;
}

void fcgi_end_request(unsigned char out[16], uint16_t id, uint32_t app_status,
		      enum fcgi_status status)
{
	fcgi_header(out, FCGI_END_REQUEST, id, 8);
	out[8] = (unsigned char)(app_status >> 24);
	out[9] = (unsigned char)(app_status >> 16);
	out[10] = (unsigned char)(app_status >> 8);
	out[11] = (unsigned char)app_status;
	out[12] = (unsigned char)status;
	memset(out + 13, 0, 3);
}

void fcgi_unknown_type(unsigned char out[16], uint8_t t)
{
	fcgi_header(out, FCGI_UNKNOWN_TYPE, FCGI_MGMT_ID, 8);
	out[8] = t;
	memset(out + 9, 0, 7);
}

static enum ap_err add_pair(struct buf *b, const char *name, unsigned value)
{
	char v[16];
	unsigned char lens[2];
	int n = snprintf(v, sizeof(v), "%u", value);

	lens[0] = (unsigned char)strlen(name);
	lens[1] = (unsigned char)n;
	if (buf_add(b, lens, 2) || buf_adds(b, name) || buf_add(b, v, (size_t)n))
		return AP_ERR_NOMEM;
	return AP_OK;
}

enum ap_err fcgi_get_values_result(const struct fcgi_parser *p, unsigned max_conns,
				   unsigned max_reqs, struct buf *out)
{
	const unsigned char *q = (const unsigned char *)p->mgmt.data;
	const unsigned char *end = q ? q + p->mgmt.len : NULL;
	unsigned char hdr[FCGI_HEADER_LEN];
	struct buf body;
	enum ap_err e = AP_OK;

	buf_init(&body, FCGI_MGMT_MAX);
	/* answer the names asked for that we know, in their order */
	while (q && q < end && !e) {
		size_t nl, vl;
		char name[32];

		if (!nv_len(&q, end, &nl) || !nv_len(&q, end, &vl) || nl > (size_t)(end - q) ||
		    vl > (size_t)(end - q) - nl)
			break;
		snprintf(name, sizeof(name), "%.*s", (int)(nl < 31 ? nl : 31), (const char *)q);
		q += nl + vl;
		if (strcmp(name, "FCGI_MAX_CONNS") == 0)
			e = add_pair(&body, name, max_conns);
		else if (strcmp(name, "FCGI_MAX_REQS") == 0)
			e = add_pair(&body, name, max_reqs);
		else if (strcmp(name, "FCGI_MPXS_CONNS") == 0)
			e = add_pair(&body, name, 0);
	}
	fcgi_header(hdr, FCGI_GET_VALUES_RESULT, FCGI_MGMT_ID, body.len);
	if (!e && (buf_add(out, hdr, sizeof(hdr)) || (body.len && buf_add(out, body.data, body.len))))
		e = AP_ERR_NOMEM;
	buf_free(&body);
	return e;
}
