/*
 * sigv4_modes.c - presigned URLs and the generic path rules on the SigV4
 * core; see sigv4_modes.h. Test runner only: nothing here is in the server.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "sigv4_core.h"
#include "sigv4_modes.h"

#define ALGORITHM	"AWS4-HMAC-SHA256"
#define TERMINATOR	"aws4_request"
/* normalized (<= path), encoded (x3), encoded again (x3) */
#define CANONICAL_PATH_MAX (9 * (SIGV4_MAX_PATH + 1))

/* The parameters a presigned URL owns; a caller's query may not hold them. */
static const char *const presign_params[] = {
	"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
	"X-Amz-SignedHeaders", "X-Amz-Security-Token", "X-Amz-Signature",
};

/* No control characters (HTAB allowed): a wire path is sent as is. */
static int valid_wire(const char *v)
{
	size_t n = 0;

	for (; v[n]; n++) {
		unsigned char ch = (unsigned char)v[n];

		if (n >= SIGV4_MAX_PATH || (ch < ' ' && ch != '\t') || ch == 0x7f)
			return 0;
	}
	return 1;
}

/*
 * RFC 3986 remove_dot_segments, plus empty segments dropped ("//" -> "/"),
 * as the generic SigV4 rules ask. A trailing "/", "." or ".." keeps the
 * result a directory ("/a/b/.." -> "/a/").
 */
static enum ap_err normalize_path(const char *path, size_t len, struct buf *out)
{
	size_t seg_end[SIGV4_MAX_PATH / 2 + 1];	/* out->len after each segment */
	size_t depth = 0, i = 0, base = out->len;
	int dir = 0;
	enum ap_err e;

	while (i < len) {
		size_t j = i;

		while (j < len && path[j] != '/')
			j++;
		dir = j < len;	/* a '/' follows this segment */
		if (j == i || (j - i == 1 && path[i] == '.')) {
			dir = 1;
		} else if (j - i == 2 && path[i] == '.' && path[i + 1] == '.') {
			if (depth)
				depth--;
			out->len = depth ? seg_end[depth - 1] : base;
			dir = 1;
		} else {
			e = buf_add(out, "/", 1);
			if (!e)
				e = buf_add(out, path + i, j - i);
			if (e)
				return e;
			seg_end[depth++] = out->len;
		}
		i = j + 1;
	}
	if (depth == 0 || dir)
		return buf_add(out, "/", 1);
	out->data[out->len] = '\0';
	return AP_OK;
}

/* The canonical path of r under the path flags, into out. */
static enum ap_err canonical_path(const struct sigv4_request *r, int flags, struct buf *out)
{
	const char *path = r->path && r->path[0] ? r->path : "/";
	size_t len = strlen(path);
	struct buf norm, wire;
	enum ap_err e;

	if ((flags & SIGV4_PATH_ENCODED) && r->path && !valid_wire(r->path))
		return AP_ERR_BAD_REQUEST;
	buf_init(&norm, SIGV4_MAX_PATH + 1);
	buf_init(&wire, 3 * (SIGV4_MAX_PATH + 1));
	if (flags & SIGV4_NORMALIZE_PATH) {
		e = normalize_path(path, len, &norm);
		if (e)
			goto fail;
		path = norm.data;
		len = norm.len;
	}
	if (flags & SIGV4_PATH_ENCODED)
		e = buf_add(&wire, path, len);
	else
		e = sigv4_uri_encode(path, len, 1, &wire);
	if (e)
		goto fail;
	if (flags & SIGV4_DOUBLE_ENCODE)
		e = sigv4_uri_encode(wire.data, wire.len, 1, out);
	else
		e = buf_add(out, wire.data, wire.len);
fail:
	buf_free(&norm);
	buf_free(&wire);
	return e;
}

/* Prepares x for r; with a path flag its canonical path is computed into path. */
static enum ap_err prepare(struct sigv4_ctx *x, const struct sigv4_creds *c,
			   const struct sigv4_request *r, time_t now, int flags, int core_flags,
			   struct buf *path)
{
	enum ap_err e = sigv4_prepare(x, c, r, now, core_flags);

	if (e || !(flags & SIGV4_PATH_MODES))
		return e;
	if ((e = canonical_path(r, flags, path)))
		return e;
	x->canonical_path = path->data;
	return AP_OK;
}

enum ap_err sigv4_modes_sign_headers(const struct sigv4_creds *c, const struct sigv4_request *r,
				     time_t now, int flags, struct sigv4_out *out,
				     struct sigv4_trace *trace)
{
	struct sigv4_ctx x;
	struct buf path;
	enum ap_err e;

	if (!(flags & SIGV4_PATH_MODES))
		return sigv4_sign_headers(c, r, now, flags, out, trace);	/* the S3 rule */
	buf_init(&path, CANONICAL_PATH_MAX);
	e = prepare(&x, c, r, now, flags, flags & ~SIGV4_PATH_MODES, &path);
	if (!e)
		e = sigv4_sign_prepared(&x, out, trace);
	else
		memset(out, 0, sizeof(*out));
	buf_free(&path);
	return e;
}

/*
 * Does the caller's query name a parameter of presigned URLs? Only the
 * parameters the core would read are looked at; a name that does not
 * decode is left for the core to refuse.
 */
static int holds_presign_param(const char *q)
{
	struct buf tmp;
	size_t np = 0;
	int found = 0;

	buf_init(&tmp, SIGV4_MAX_QUERY + 1);
	while (*q && !found && np < SIGV4_MAX_QUERY_PARAMS) {
		const char *amp = strchr(q, '&'), *eq;
		size_t seg = amp ? (size_t)(amp - q) : strlen(q);

		if (seg) {
			eq = memchr(q, '=', seg);
			buf_reset(&tmp);
			if (!sigv4_uri_decode(q, eq ? (size_t)(eq - q) : seg, &tmp))
				for (size_t i = 0; i < sizeof(presign_params) / sizeof(presign_params[0]); i++)
					if (strlen(presign_params[i]) == tmp.len &&
					    strncasecmp(presign_params[i], tmp.data, tmp.len) == 0)
						found = 1;
			np++;
		}
		q += seg + (amp ? 1 : 0);
	}
	buf_free(&tmp);
	return found;
}

/* Appends "&name=encoded(value)"; no '&' first if the query is empty or ends in one. */
static enum ap_err add_query_param(struct buf *q, size_t start, const char *name,
				   const char *value)
{
	enum ap_err e = AP_OK;

	if (q->len > start && q->data[q->len - 1] != '&')
		e = buf_add(q, "&", 1);
	if (!e)
		e = buf_adds(q, name);
	if (!e)
		e = buf_add(q, "=", 1);
	if (!e)
		e = sigv4_uri_encode(value, strlen(value), 0, q);
	return e;
}

/* The query to send: the caller's, then the X-Amz-* parameters in the order
 * AWS's own signers emit them (servers sort before checking). */
static enum ap_err presigned_query(const struct sigv4_ctx *x, const char *credential,
				   const char *expires, const char *sig, struct buf *q)
{
	const char *query = x->r->query, *token = x->c->session_token;
	size_t start = q->len;
	enum ap_err e = AP_OK;

	if (query && query[0])
		e = buf_adds(q, query);
	if (!e)
		e = add_query_param(q, start, "X-Amz-Algorithm", ALGORITHM);
	if (!e)
		e = add_query_param(q, start, "X-Amz-Credential", credential);
	if (!e)
		e = add_query_param(q, start, "X-Amz-Date", x->amz_date);
	if (!e)
		e = add_query_param(q, start, "X-Amz-SignedHeaders", x->signed_headers);
	if (!e)
		e = add_query_param(q, start, "X-Amz-Expires", expires);
	if (!e && token)
		e = add_query_param(q, start, "X-Amz-Security-Token", token);
	if (!e)
		e = add_query_param(q, start, "X-Amz-Signature", sig);
	if (e) {
		q->len = start;
		if (q->data)
			q->data[start] = '\0';
	}
	return e;
}

enum ap_err sigv4_presign(const struct sigv4_creds *c, const struct sigv4_request *r,
			  time_t now, unsigned expires_s, int flags, struct buf *query_out,
			  struct sigv4_trace *trace)
{
	struct sigv4_ctx x;
	char credential[SIGV4_MAX_KEY_ID + SIGV4_MAX_SCOPE_PART * 2 + 32];
	char expires[16], sig[SIGV4_HASH_HEX + 1];
	struct sigv4_header extra[SIGV4_MAX_EXTRA_PARAMS];
	struct buf path;
	size_t nextra = 0;
	enum ap_err e;

	if (expires_s == 0 || expires_s > SIGV4_MAX_EXPIRES)
		return AP_ERR_BAD_REQUEST;
	buf_init(&path, CANONICAL_PATH_MAX);
	e = prepare(&x, c, r, now, flags, (flags & ~SIGV4_PATH_MODES) | SIGV4_PRESIGNED, &path);
	if (!e)
		e = sigv4_sort_headers(&x);
	if (!e && r->query && holds_presign_param(r->query))
		e = AP_ERR_BAD_REQUEST;
	if (e)
		goto fail;
	snprintf(credential, sizeof(credential), "%s/%s/%s/%s/" TERMINATOR, c->access_key,
		 x.date, c->region, c->service);	/* fits: all parts bounded */
	snprintf(expires, sizeof(expires), "%u", expires_s);
	extra[nextra++] = (struct sigv4_header){"X-Amz-Algorithm", ALGORITHM};
	extra[nextra++] = (struct sigv4_header){"X-Amz-Credential", credential};
	extra[nextra++] = (struct sigv4_header){"X-Amz-Date", x.amz_date};
	extra[nextra++] = (struct sigv4_header){"X-Amz-Expires", expires};
	extra[nextra++] = (struct sigv4_header){"X-Amz-SignedHeaders", x.signed_headers};
	if (c->session_token && !(flags & SIGV4_UNSIGNED_TOKEN))
		extra[nextra++] = (struct sigv4_header){"X-Amz-Security-Token", c->session_token};
	e = sigv4_sign(&x, extra, nextra, sig, trace);
	if (!e)
		e = presigned_query(&x, credential, expires, sig, query_out);
fail:
	buf_free(&path);
	return e;
}
