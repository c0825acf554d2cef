/*
 * request.c - bounded parsing of the FastCGI parameters; see request.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "request.h"

enum ap_err request_fail(struct request *r, enum ap_err e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
	return e;
}

static const char *header(struct request *r, param_fn get, void *ud, const char *name,
			  enum ap_err *e)
{
	const char *v = get(name, ud);

	if (v && strlen(v) > REQ_HEADER_MAX)
		*e = request_fail(r, AP_ERR_HEADER_TOO_LARGE, "%s header longer than %d bytes",
				  name + 5, REQ_HEADER_MAX);
	return v;
}

/* The web server's word on the scheme (lighttpd and Apache set HTTPS=on,
 * nginx's fastcgi_params HTTPS and REQUEST_SCHEME). */
static bool is_https(param_fn get, void *ud)
{
	const char *https = get("HTTPS", ud), *scheme = get("REQUEST_SCHEME", ud);

	return (https && (!strcasecmp(https, "on") || !strcmp(https, "1"))) ||
	       (scheme && !strcasecmp(scheme, "https"));
}

static unsigned port_of(const char *v)
{
	unsigned p = 0;

	if (!v || !*v || strlen(v) > 5)
		return 0;
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return 0;
		p = p * 10 + (unsigned)(*v - '0');
	}
	return p <= 65535 ? p : 0;
}

enum ap_err request_parse(struct request *r, param_fn get, void *ud)
{
	const char *m, *uri, *q, *cl;
	enum ap_err e = AP_OK;
	size_t plen;

	memset(r, 0, sizeof(*r));
	r->query = "";
	m = get("REQUEST_METHOD", ud);
	if (!m || !*m || strlen(m) >= sizeof(r->method_name))
		return request_fail(r, AP_ERR_BAD_REQUEST, "missing or bad request method");
	memcpy(r->method_name, m, strlen(m) + 1);
	r->method = !strcmp(m, "GET") ? M_GET : !strcmp(m, "HEAD") ? M_HEAD :
		    !strcmp(m, "POST") ? M_POST : !strcmp(m, "OPTIONS") ? M_OPTIONS : M_OTHER;

	uri = get("REQUEST_URI", ud);
	if (!uri || uri[0] != '/')
		return request_fail(r, AP_ERR_BAD_REQUEST, "missing or bad REQUEST_URI");
	if (strlen(uri) > REQ_URI_MAX)
		return request_fail(r, AP_ERR_URI_TOO_LONG, "URL longer than %d bytes", REQ_URI_MAX);
	q = strchr(uri, '?');
	plen = q ? (size_t)(q - uri) : strlen(uri);
	if (plen > REQ_PATH_MAX)
		return request_fail(r, AP_ERR_URI_TOO_LONG, "path longer than %d bytes", REQ_PATH_MAX);
	memcpy(r->path, uri, plen);
	r->path[plen] = '\0';
	/* a fragment never reaches a server; a '#' is therefore garbage */
	if (q) {
		r->query = q + 1;
		if (strchr(r->query, '#'))
			return request_fail(r, AP_ERR_BAD_REQUEST, "bad character in query");
	}

	r->authorization = header(r, get, ud, "HTTP_AUTHORIZATION", &e);
	if (!r->authorization) /* Apache without CGIPassAuth sets this one instead */
		r->authorization = header(r, get, ud, "REDIRECT_HTTP_AUTHORIZATION", &e);
	r->if_none_match = header(r, get, ud, "HTTP_IF_NONE_MATCH", &e);
	r->origin = header(r, get, ud, "HTTP_ORIGIN", &e);
	r->accept = header(r, get, ud, "HTTP_ACCEPT", &e);
	r->host = header(r, get, ud, "HTTP_HOST", &e);
	r->https = is_https(get, ud);
	r->server_port = port_of(get("SERVER_PORT", ud));
	r->remote_addr = get("REMOTE_ADDR", ud);
	if (e)
		return e;
	cl = get("CONTENT_LENGTH", ud);
	if (cl && *cl) {
		long v = 0;
		for (const char *p = cl; *p; p++) {
			if (*p < '0' || *p > '9' || v > 1000000000L)
				return request_fail(r, AP_ERR_BAD_REQUEST, "bad Content-Length");
			v = v * 10 + (*p - '0');
		}
		if (v > REQ_BODY_MAX)
			return request_fail(r, AP_ERR_TOO_LARGE, "request body larger than %d bytes",
					    REQ_BODY_MAX);
		r->content_length = v;
	}
	return AP_OK;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes s[0..n) into out (cap includes the NUL). NUL bytes are refused. */
static enum ap_err decode(const char *s, size_t n, char *out, size_t cap, size_t *outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%') {
			int hi, lo;
			if (i + 2 >= n)
				return AP_ERR_BAD_REQUEST;
			hi = hexval(s[i + 1]);
			lo = hexval(s[i + 2]);
			if (hi < 0 || lo < 0)
				return AP_ERR_BAD_REQUEST;
			c = (char)(hi * 16 + lo);
			i += 2;
			if (c == '\0')
				return AP_ERR_BAD_REQUEST;
		} else if (c == '+') {
			c = ' ';
		}
		if (o + 1 >= cap)
			return AP_ERR_BAD_REQUEST;
		out[o++] = c;
	}
	out[o] = '\0';
	if (outlen)
		*outlen = o;
	return AP_OK;
}

enum ap_err query_next(const char **cursor, char *name, size_t namecap,
		       char *value, size_t valuecap, size_t *valuelen)
{
	const char *p = *cursor, *amp, *eq;

	while (*p == '&')
		p++;
	if (*p == '\0')
		return AP_ERR_NOT_FOUND;
	amp = strchr(p, '&');
	if (!amp)
		amp = p + strlen(p);
	eq = memchr(p, '=', (size_t)(amp - p));
	*cursor = amp;
	if (!eq)
		eq = amp;
	if (decode(p, (size_t)(eq - p), name, namecap, NULL)) {
		name[0] = '\0';	/* no partial name can match a caller's */
		return AP_ERR_BAD_REQUEST;
	}
	if (eq == amp) {
		value[0] = '\0';
		if (valuelen)
			*valuelen = 0;
		return AP_OK;
	}
	return decode(eq + 1, (size_t)(amp - eq - 1), value, valuecap, valuelen);
}

enum ap_err query_get(const char *query, const char *name, char *value, size_t cap)
{
	const char *cur = query;
	char n[64];
	int count = 0;
	enum ap_err e;

	while ((e = query_next(&cur, n, sizeof(n), value, cap, NULL)) != AP_ERR_NOT_FOUND) {
		if (++count > REQ_QUERY_PARAMS_MAX)
			return AP_ERR_BAD_REQUEST;
		/* ours but malformed or over-long: refused, not "absent" */
		if (strcmp(n, name) == 0)
			return e;
		/* a malformed or over-long parameter of another name is not ours */
	}
	return AP_ERR_NOT_FOUND;
}

/* Is the parameter list p[0..n) of one media range free of q=0? */
static bool q_nonzero(const char *p, size_t n)
{
	while (n) {
		size_t k = 0;

		while (k < n && p[k] != ';')
			k++;
		const char *q = p;
		size_t m = k;

		while (m && (*q == ' ' || *q == '\t')) {
			q++;
			m--;
		}
		if (m >= 2 && (q[0] == 'q' || q[0] == 'Q') && q[1] == '=') {
			q += 2;
			m -= 2;
			/* q=0, q=0.0, q=0.000: zero; anything else is a preference */
			if (m && q[0] == '0') {
				size_t i = 1;

				if (i < m && q[i] == '.')
					for (i++; i < m && q[i] == '0'; i++)
						;
				while (i < m && (q[i] == ' ' || q[i] == '\t'))
					i++;
				if (i == m)
					return false;
			}
		}
		p += k < n ? k + 1 : k;
		n -= k < n ? k + 1 : k;
	}
	return true;
}

bool request_accepts_webp(const struct request *r)
{
	const char *p = r->accept;

	while (p && *p) {
		size_t n = strcspn(p, ",");
		size_t t;
		const char *s = p;

		while (n && (*s == ' ' || *s == '\t')) {
			s++;
			n--;
		}
		t = strcspn(s, ";,");
		if (t > n)
			t = n;
		while (t && (s[t - 1] == ' ' || s[t - 1] == '\t'))
			t--;
		if (t == 10 && !strncasecmp(s, "image/webp", 10)) {
			size_t rest = strcspn(s, ",");
			const char *semi = memchr(s, ';', rest);

			return !semi || q_nonzero(semi + 1, rest - (size_t)(semi + 1 - s));
		}
		p = s + strcspn(s, ",");
		if (*p == ',')
			p++;
	}
	return false;
}
