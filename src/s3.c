/*
 * s3.c - S3 API requests (path-style, SigV4) and the public-URL mode.
 *
 * Path-style ({endpoint}/{bucket}/{key}) works with R2, MinIO and Swift's
 * s3api alike and needs no wildcard DNS. The Host header is sent explicitly
 * so the signed value is exactly the one on the wire.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include "s3.h"
#include "config.h"
#include "decimal.h"
#include "sigv4.h"
#include "xml.h"

struct s3 {
	const struct config *cfg;
	char host[256];		/* host[:port] of the endpoint */
	char base[ENGINE_URL_MAX];	/* {endpoint}/{bucket} */
	struct sigv4_creds creds;
	bool public_reads;
};

static enum ap_err host_of(const char *url, char *out, size_t cap)
{
	const char *p = strstr(url, "://"), *end;

	if (!p)
		return AP_ERR_CONFIG;
	p += 3;
	end = p + strcspn(p, "/?#");
	if (end == p || (size_t)(end - p) >= cap)
		return AP_ERR_CONFIG;
	memcpy(out, p, (size_t)(end - p));
	out[end - p] = '\0';
	return AP_OK;
}

enum ap_err s3_new(const struct config *c, struct s3 **out)
{
	struct s3 *s = calloc(1, sizeof(*s));
	int n;

	if (!s)
		return AP_ERR_NOMEM;
	s->cfg = c;
	s->public_reads = c->public_url != NULL;
	if (c->endpoint) {
		if (host_of(c->endpoint, s->host, sizeof(s->host)) || !c->bucket)
			goto bad;
		n = snprintf(s->base, sizeof(s->base), "%s/%s", c->endpoint, c->bucket);
		if (n < 0 || (size_t)n >= sizeof(s->base))
			goto bad;
	}
	s->creds.access_key = c->access_key;
	s->creds.secret_key = c->secret_key_s3;
	s->creds.session_token = c->session_token;
	s->creds.region = c->region ? c->region : "auto";
	s->creds.service = "s3";
	*out = s;
	return AP_OK;
bad:
	free(s);
	return AP_ERR_CONFIG;
}

void s3_free(struct s3 *s)
{
	free(s);
}

/* Appends a header line to the request's storage. */
static enum ap_err add_line(struct s3_req *r, const char *name, const char *value)
{
	size_t room = sizeof(r->storage) - r->used;
	int n;

	if (r->spec.nheaders == ENGINE_HEADERS_MAX)
		return AP_ERR_TOO_LARGE;
	n = snprintf(r->storage + r->used, room, "%s: %s", name, value);
	if (n < 0 || (size_t)n >= room)
		return AP_ERR_TOO_LARGE;
	r->spec.headers[r->spec.nheaders++] = r->storage + r->used;
	r->used += (size_t)n + 1;
	return AP_OK;
}

/* Appends the caller's header lines ("Name: value") as given. */
static enum ap_err add_extra_lines(struct s3_req *r, const char *const *extra, size_t nextra)
{
	for (size_t i = 0; i < nextra; i++) {
		size_t l = strlen(extra[i]);
		if (r->used + l + 1 > sizeof(r->storage) || r->spec.nheaders == ENGINE_HEADERS_MAX)
			return AP_ERR_TOO_LARGE;
		memcpy(r->storage + r->used, extra[i], l + 1);
		r->spec.headers[r->spec.nheaders++] = r->storage + r->used;
		r->used += l + 1;
	}
	return AP_OK;
}

/* {R2_PUBLIC_URL}/{key}: unsigned, the extra lines sent as given. */
static enum ap_err prepare_public(struct s3 *s, struct s3_req *r, const char *enc_key,
				  const char *query, const char *const *extra, size_t nextra)
{
	int n = snprintf(r->url, sizeof(r->url), "%s/%s%s%s", s->cfg->public_url, enc_key,
			 query ? "?" : "", query ? query : "");

	if (n < 0 || (size_t)n >= sizeof(r->url))
		return AP_ERR_TOO_LARGE;
	return add_extra_lines(r, extra, nextra);
}

/*
 * The SigV4 headers of a request to {bucket}/{key}: host and the extra
 * lines ("Name: value") are signed with it; so holds what to add.
 */
static enum ap_err sign_request(struct s3 *s, const char *method, const char *key,
				const char *query, const void *body, size_t body_len,
				const char *payload_sha256, const char *const *extra, size_t nextra,
				struct sigv4_out *so)
{
	struct sigv4_header hdrs[ENGINE_HEADERS_MAX];
	char names[ENGINE_HEADERS_MAX][SIGV4_MAX_NAME];
	struct sigv4_request sr;
	struct buf path;
	size_t nh = 0;
	enum ap_err e;

	buf_init(&path, ENGINE_URL_MAX);
	if ((e = buf_printf(&path, "/%s/%s", s->cfg->bucket, key)))
		goto fail;
	hdrs[nh].name = "host";
	hdrs[nh++].value = s->host;
	for (size_t i = 0; i < nextra; i++) {
		const char *colon = strchr(extra[i], ':');
		size_t l = colon ? (size_t)(colon - extra[i]) : 0;
		if (!colon || l >= SIGV4_MAX_NAME) {
			e = AP_ERR_INTERNAL;
			goto fail;
		}
		memcpy(names[i], extra[i], l);
		names[i][l] = '\0';
		hdrs[nh].name = names[i];
		hdrs[nh].value = colon + 1 + strspn(colon + 1, " ");
		nh++;
	}
	memset(&sr, 0, sizeof(sr));
	sr.method = method;
	sr.path = path.data;
	sr.query = query;
	sr.headers = hdrs;
	sr.nheaders = nh;
	sr.body = body;
	sr.body_len = body_len;
	sr.payload_hash = payload_sha256 ? payload_sha256 : body ? NULL : SIGV4_UNSIGNED_PAYLOAD;
	e = sigv4_sign_headers(&s->creds, &sr, time(NULL), SIGV4_S3, so, NULL);
fail:
	buf_free(&path);
	return e;
}

/* Host, the extra lines as given, then the signer's headers. */
static enum ap_err add_signed_lines(struct s3 *s, struct s3_req *r, const char *const *extra,
				    size_t nextra, const struct sigv4_out *so)
{
	enum ap_err e;

	if ((e = add_line(r, "Host", s->host)) || (e = add_extra_lines(r, extra, nextra)))
		return e;
	for (size_t i = 0; i < so->nheaders; i++)
		if ((e = add_line(r, so->headers[i].name, so->headers[i].value)))
			return e;
	return AP_OK;
}

enum ap_err s3_prepare(struct s3 *s, struct s3_req *r, const char *method, const char *key,
		       const char *query, const void *body, size_t body_len,
		       const char *payload_sha256, const char *const *extra, size_t nextra)
{
	struct sigv4_out so;
	struct buf enc;
	enum ap_err e;
	int n;
	bool read = !strcmp(method, "GET") || !strcmp(method, "HEAD");

	memset(&r->spec, 0, sizeof(r->spec));
	memset(&so, 0, sizeof(so));
	r->used = 0;
	if (strlen(key) > S3_KEY_MAX || nextra + 5 > ENGINE_HEADERS_MAX)
		return AP_ERR_TOO_LARGE;
	buf_init(&enc, ENGINE_URL_MAX);
	if ((e = sigv4_uri_encode(key, strlen(key), 1, &enc)))
		goto fail;
	if (s->public_reads && read) {
		if ((e = prepare_public(s, r, enc.data, query, extra, nextra)))
			goto fail;
		goto done;
	}
	if (!s->base[0] || !s->creds.access_key || !s->creds.secret_key) {
		e = AP_ERR_CONFIG;	/* writes need the S3 API */
		goto fail;
	}
	n = snprintf(r->url, sizeof(r->url), "%s/%s%s%s", s->base, enc.data, query ? "?" : "",
		     query ? query : "");
	if (n < 0 || (size_t)n >= sizeof(r->url)) {
		e = AP_ERR_TOO_LARGE;
		goto fail;
	}
	if ((e = sign_request(s, method, key, query, body, body_len, payload_sha256, extra,
			      nextra, &so)))
		goto fail;
	if ((e = add_signed_lines(s, r, extra, nextra, &so)))
		goto fail;
done:
	r->spec.method = method;
	r->spec.url = r->url;
	r->spec.body = body;
	r->spec.body_len = body_len;
	buf_free(&enc);
	OPENSSL_cleanse(&so, sizeof(so));
	return AP_OK;
fail:
	buf_free(&enc);
	OPENSSL_cleanse(&so, sizeof(so));
	return e;
}

/* ---- ListObjectsV2 ---------------------------------------------------------- */

enum ap_err s3_parse_list(const char *xml, size_t len,
			  void (*fn)(const struct s3_object *o, void *ud), void *ud,
			  char *next_token, size_t token_cap)
{
	const char *end = xml + len, *p = xml, *c, *after;
	struct s3_object obj;
	char tmp[sizeof(obj.etag)];
	size_t n;
	const char *v;

	next_token[0] = '\0';
	/* a page cut short (the closing tag is missing) is not a complete listing */
	if (len > S3_LIST_BODY_MAX || !memmem(xml, len, "<ListBucketResult", 17) ||
	    !memmem(xml, len, "</ListBucketResult>", 19))
		return AP_ERR_STORAGE;
	while ((c = xml_elem(p, end, "Contents", &n, &after))) {
		const char *ce = c + n;
		memset(&obj, 0, sizeof(obj));
		v = xml_elem(c, ce, "Key", &n, NULL);
		if (!v || !xml_text(v, n, obj.key, sizeof(obj.key)))
			return AP_ERR_STORAGE;
		v = xml_elem(c, ce, "ETag", &n, NULL);
		if (v && xml_text(v, n, tmp, sizeof(tmp))) {
			char *t = tmp;
			size_t tl = strlen(t);
			if (tl >= 2 && t[0] == '"' && t[tl - 1] == '"') {
				t[tl - 1] = '\0';
				t++;
			}
			snprintf(obj.etag, sizeof(obj.etag), "%s", t);
			for (char *q = obj.etag; *q; q++)
				if (*q >= 'A' && *q <= 'F')
					*q = (char)(*q + 32);
		}
		v = xml_elem(c, ce, "Size", &n, NULL);
		if (v) {
			uint64_t size;
			if (dec_parse_u64(v, n, UINT64_MAX, DEC_LEADING_ZEROS, &size))
				return AP_ERR_STORAGE;	/* a size we cannot read cannot be compared */
			obj.size = size;
		}
		fn(&obj, ud);
		p = after;
	}
	v = xml_elem(xml, end, "IsTruncated", &n, NULL);
	if (v && n == 4 && memcmp(v, "true", 4) == 0) {
		v = xml_elem(xml, end, "NextContinuationToken", &n, NULL);
		if (!v || !xml_text(v, n, next_token, token_cap) || !next_token[0])
			return AP_ERR_STORAGE;
	}
	return AP_OK;
}

enum ap_err s3_list_query(const char *prefix, const char *token, struct buf *out)
{
	enum ap_err e;

	buf_reset(out);
	if ((e = buf_printf(out, "list-type=2&max-keys=%d&prefix=", S3_LIST_PAGE_MAX)))
		return e;
	if ((e = sigv4_uri_encode(prefix, strlen(prefix), 0, out)))
		return e;
	if (token && *token) {
		if ((e = buf_adds(out, "&continuation-token=")))
			return e;
		if ((e = sigv4_uri_encode(token, strlen(token), 0, out)))
			return e;
	}
	return AP_OK;
}
