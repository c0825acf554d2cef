/*
 * response.c - building and writing responses; see response.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <fcgiapp.h>
#include <json-c/json.h>
#include "response.h"
#include "cache.h"

void response_init(struct response *res)
{
	memset(res, 0, sizeof(*res));
	res->status = 200;
	buf_init(&res->owned, RESP_JSON_MAX);
}

void response_free(struct response *res)
{
	buf_free(&res->owned);
	if (res->pin)
		tile_unref(res->pin);
	res->pin = NULL;
	res->body = NULL;
	res->body_len = 0;
}

void response_header(struct response *res, const char *name, const char *fmt, ...)
{
	size_t room = sizeof(res->headers) - res->hlen;
	va_list ap;
	int n, m;

	n = snprintf(res->headers + res->hlen, room, "%s: ", name);
	if (n < 0 || (size_t)n >= room)
		goto overflow;
	va_start(ap, fmt);
	m = vsnprintf(res->headers + res->hlen + n, room - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0 || (size_t)(n + m + 2) >= room)
		goto overflow;
	/* header values come from our own code; a CR or LF would split them */
	for (char *c = res->headers + res->hlen; c < res->headers + res->hlen + n + m; c++)
		if (*c == '\r' || *c == '\n')
			*c = ' ';
	memcpy(res->headers + res->hlen + n + m, "\r\n", 3);
	res->hlen += (size_t)(n + m + 2);
	return;
overflow:
	res->headers[res->hlen] = '\0';
	res->headers_overflow = true;
}

void response_json(struct response *res, int status, struct buf *json)
{
	buf_free(&res->owned);
	res->owned = *json;
	buf_init(json, json->max);
	res->status = status;
	res->body = res->owned.data;
	res->body_len = res->owned.len;
	response_header(res, "Content-Type", "application/json");
}

void response_error(struct response *res, const struct request *req, enum ap_err e)
{
	struct json_object *o = json_object_new_object();
	const char *detail = req && req->detail[0] ? req->detail : ap_err_str(e);
	struct buf b;
	int status = ap_err_status(e);

	/* keep headers a handler already set that still apply (CORS) */
	res->body = NULL;
	res->body_len = 0;
	if (res->pin) {
		tile_unref(res->pin);
		res->pin = NULL;
	}
	buf_init(&b, RESP_JSON_MAX);
	if (o) {
		json_object_object_add(o, "detail", json_object_new_string(detail));
		if (buf_adds(&b, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)))
			buf_reset(&b);
		json_object_put(o);
	}
	if (b.len == 0 && buf_adds(&b, "{\"detail\": \"error\"}"))
		buf_reset(&b);
	if (status == 401)
		response_header(res, "WWW-Authenticate", "Bearer");
	if (status == 405 && req && req->allow)
		response_header(res, "Allow", "%s", req->allow);
	response_header(res, "Cache-Control", "no-store");
	response_json(res, status, &b);
	if (req && req->method == M_HEAD)
		res->no_body = true;	/* HEAD: the length of the error, never its body */
}

static enum ap_err out_write(struct sink *out, const void *p, size_t n)
{
	if (n == 0)
		return AP_OK;
	if (out->fcgx) {
		/* FCGX_PutStr takes an int: write in pieces */
		const char *c = p;
		while (n > 0) {
			int chunk = n > (1u << 30) ? (1 << 30) : (int)n;
			if (FCGX_PutStr(c, chunk, out->fcgx) != chunk)
				return AP_ERR_IO;
			c += chunk;
			n -= (size_t)chunk;
		}
		return AP_OK;
	}
	return fwrite(p, 1, n, out->fp) == n ? AP_OK : AP_ERR_IO;
}

enum ap_err response_send(const struct response *res, struct sink *out)
{
	char head[128];
	int n;
	enum ap_err e;

	n = snprintf(head, sizeof(head), "Status: %d %s\r\n", res->status,
		     ap_status_reason(res->status));
	if ((e = out_write(out, head, (size_t)n)))
		return e;
	if ((e = out_write(out, res->headers, res->hlen)))
		return e;
	/* RFC 9110 8.6: never a Content-Length on 204 (OPTIONS) */
	if (res->status != 304 && res->status != 204) {
		n = snprintf(head, sizeof(head), "Content-Length: %zu\r\n", res->body_len);
		if ((e = out_write(out, head, (size_t)n)))
			return e;
	}
	if ((e = out_write(out, "\r\n", 2)))
		return e;
	if (!res->no_body && res->status != 304 && res->status != 204 && res->body)
		e = out_write(out, res->body, res->body_len);
	return e;
}
