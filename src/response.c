/*
 * response.c - building and writing responses; see response.h.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
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

void response_text(struct response *res, int status, const char *type, struct buf *text)
{
	buf_free(&res->owned);
	res->owned = *text;
	buf_init(text, text->max);
	res->status = status;
	res->body = res->owned.data;
	res->body_len = res->owned.len;
	response_header(res, "Content-Type", "%s", type);
}

void response_json(struct response *res, int status, struct buf *json)
{
	response_text(res, status, "application/json", json);
}

enum ap_err response_json_object(struct response *res, int status, struct json_object *o)
{
	struct buf b;
	enum ap_err e;

	buf_init(&b, RESP_JSON_MAX);
	e = buf_adds(&b, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	if (e) {
		buf_free(&b);
		return e;
	}
	response_header(res, "Cache-Control", "no-store");
	response_json(res, status, &b);
	return AP_OK;
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *p)
{
	size_t n = p[0] < 0x80 ? 1 : (p[0] & 0xE0) == 0xC0 ? 2 : (p[0] & 0xF0) == 0xE0 ? 3 :
		   (p[0] & 0xF8) == 0xF0 ? 4 : 0;
	uint32_t cp;

	if (n <= 1)
		return n;	/* ASCII, controls included: JSON escapes them */
	cp = p[0] & (0x7F >> n);
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3F);
	}
	/* overlong forms, surrogates and beyond U+10FFFF are not UTF-8 */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
		return 0;
	return n;
}

/* Copies s into out, replacing every byte that is not part of valid UTF-8
 * with '?'. */
static void utf8_clean(const char *s, char *out, size_t cap)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	while (*p && o + 1 < cap) {
		size_t n = utf8_len(p);

		if (n == 0 || o + n >= cap) {
			out[o++] = '?';
			p++;
			continue;
		}
		memcpy(out + o, p, n);
		o += n;
		p += n;
	}
	out[o] = '\0';
}

void response_error(struct response *res, const struct request *req, enum ap_err e)
{
	struct json_object *o = json_object_new_object();
	char detail[REQ_DETAIL_MAX];
	struct buf b;
	int status = ap_err_status(e);

	utf8_clean(req && req->detail[0] ? req->detail : ap_err_str(e), detail, sizeof(detail));
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

enum ap_err response_head(const struct response *res, struct buf *out)
{
	enum ap_err e;

	if ((e = buf_printf(out, "Status: %d %s\r\n", res->status, ap_status_reason(res->status))) ||
	    (e = buf_add(out, res->headers, res->hlen)))
		return e;
	/* RFC 9110 8.6: never a Content-Length on 204 (OPTIONS) */
	if (res->status != 304 && res->status != 204 &&
	    (e = buf_printf(out, "Content-Length: %zu\r\n", res->body_len)))
		return e;
	return buf_add(out, "\r\n", 2);
}

size_t response_body(const struct response *res, const void **body)
{
	if (res->no_body || res->status == 304 || res->status == 204 || !res->body) {
		*body = NULL;
		return 0;
	}
	*body = res->body;
	return res->body_len;
}

enum ap_err response_write(const struct response *res, FILE *fp)
{
	struct buf head;
	const void *body;
	size_t n = response_body(res, &body);
	enum ap_err e;

	buf_init(&head, RESP_HEADERS_MAX + 256);
	e = response_head(res, &head);
	if (!e && fwrite(head.data, 1, head.len, fp) != head.len)
		e = AP_ERR_IO;
	if (!e && n && fwrite(body, 1, n, fp) != n)
		e = AP_ERR_IO;
	buf_free(&head);
	return e;
}
