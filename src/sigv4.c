/*
 * sigv4.c - the AWS Signature Version 4 core; see sigv4.h for the rules and
 * sigv4_core.h for the steps.
 *
 * One core: check every input against its bound, collect the headers to
 * sign (the caller's plus the signer's own), build the canonical request
 * into one bounded buffer, hash it into the string to sign, and HMAC that
 * with the key derived from the secret. The server signs headers with it;
 * the test runner's presigned URLs and generic path rules are built on the
 * same steps outside the server binary (tests/sigv4/sigv4_modes.c).
 *
 * Invariants: nothing here allocates before the sizes involved were
 * checked; the only copies of the secret and of the derived keys are the
 * stack arrays of sign_string(), wiped before it returns on every path.
 */
#include <string.h>
#include <stdio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "hex.h"
#include "sigv4.h"
#include "sigv4_core.h"

#define ALGORITHM	"AWS4-HMAC-SHA256"
#define TERMINATOR	"aws4_request"
#define SHA256_LEN	32
#define MAX_METHOD	32
/* caller parameters plus those a mode adds */
#define MAX_PARAMS	(SIGV4_MAX_QUERY_PARAMS + SIGV4_MAX_EXTRA_PARAMS)
/* encoded parameters: 3 bytes per byte of the query and of the added values
 * (a presigned URL's token, signed headers and credential) */
#define MAX_QUERY_STORE	\
	(3 * (SIGV4_MAX_QUERY + 3 * SIGV4_MAX_TOKEN + SIGV4_MAX_SIGNED_HEADERS + 512))

/* percent-encoding is upper-case hex (RFC 3986), unlike hex_encode() */
static const char hex_upper[] = "0123456789ABCDEF";

struct param {
	size_t name, nlen;	/* offsets into the store: encoded forms */
	size_t value, vlen;
};

static int is_unreserved(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	       (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

/* RFC 9110 token characters: header names and methods. */
static int is_tchar(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
	       (ch >= '0' && ch <= '9') || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static int is_blank(unsigned char ch)
{
	return ch == ' ' || ch == '\t';
}

static unsigned char lower(unsigned char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (unsigned char)(ch - 'A' + 'a') : ch;
}

static int hex_value(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* Case-insensitive equality of a counted name with a lower-case literal. */
static int name_is(const char *name, size_t nlen, const char *lit)
{
	size_t i;

	for (i = 0; i < nlen && lit[i]; i++)
		if (lower((unsigned char)name[i]) != (unsigned char)lit[i])
			return 0;
	return i == nlen && lit[i] == '\0';
}

/* Byte order of lower-cased names, as the canonical headers are sorted. */
static int name_cmp(const struct sigv4_hdr *a, const struct sigv4_hdr *b)
{
	size_t n = a->nlen < b->nlen ? a->nlen : b->nlen;

	for (size_t i = 0; i < n; i++) {
		unsigned char x = lower((unsigned char)a->name[i]);
		unsigned char y = lower((unsigned char)b->name[i]);

		if (x != y)
			return x < y ? -1 : 1;
	}
	return a->nlen < b->nlen ? -1 : a->nlen > b->nlen;
}

static int bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int d = memcmp(a, b, alen < blen ? alen : blen);

	if (d)
		return d;
	return alen < blen ? -1 : alen > blen;
}

/*
 * Printable ASCII, non-empty, at most max bytes, none of `forbid`: the
 * scope parts may not hold '/' or ',', which would split the credential.
 */
static int valid_word(const char *s, size_t max, const char *forbid)
{
	size_t n = 0;

	for (; s[n]; n++) {
		unsigned char ch = (unsigned char)s[n];

		if (n >= max || ch <= ' ' || ch >= 0x7f || strchr(forbid, ch))
			return 0;
	}
	return n > 0;
}

/* A payload hash: hex digest or a literal such as UNSIGNED-PAYLOAD. */
static int valid_payload_hash(const char *s, size_t n)
{
	if (n == 0 || n > SIGV4_HASH_HEX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_unreserved((unsigned char)s[i]) || s[i] == '.' || s[i] == '~')
			return 0;
	return 1;
}

enum ap_err sigv4_sha256_hex(const void *p, size_t n, char out[SIGV4_HASH_HEX + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (!p && n)
		return AP_ERR_INTERNAL;
	if (!EVP_Digest(p ? p : "", n, md, &len, EVP_sha256(), NULL) || len != SHA256_LEN)
		return AP_ERR_INTERNAL;
	hex_encode(md, SHA256_LEN, out);
	return AP_OK;
}

enum ap_err sigv4_uri_encode(const char *s, size_t len, int keep_slash, struct buf *out)
{
	size_t need = 0, i;
	char *p;
	enum ap_err e;

	/* size first: the bound is checked once, before anything is written */
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		need += is_unreserved(ch) || (keep_slash && ch == '/') ? 1 : 3;
	}
	e = buf_reserve(out, need);
	if (e)
		return e;
	p = out->data + out->len;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (is_unreserved(ch) || (keep_slash && ch == '/')) {
			*p++ = (char)ch;
		} else {
			*p++ = '%';
			*p++ = hex_upper[ch >> 4];
			*p++ = hex_upper[ch & 15];
		}
	}
	out->len += need;
	out->data[out->len] = '\0';
	return AP_OK;
}

enum ap_err sigv4_uri_decode(const char *s, size_t len, struct buf *out)
{
	size_t start = out->len, i;
	char *p;
	enum ap_err e = buf_reserve(out, len);	/* decoding never grows */

	if (e)
		return e;
	p = out->data + out->len;
	for (i = 0; i < len; i++) {
		if (s[i] != '%') {
			*p++ = s[i];
			continue;
		}
		if (len - i < 3 || hex_value((unsigned char)s[i + 1]) < 0 ||
		    hex_value((unsigned char)s[i + 2]) < 0) {
			out->data[start] = '\0';
			return AP_ERR_BAD_REQUEST;
		}
		*p++ = (char)(hex_value((unsigned char)s[i + 1]) * 16 +
			      hex_value((unsigned char)s[i + 2]));
		i += 2;
	}
	out->len = (size_t)(p - out->data);
	out->data[out->len] = '\0';
	return AP_OK;
}

/* The S3 rule, the key path encoded once; or the path a mode computed. */
static enum ap_err canonical_path(const struct sigv4_ctx *x, struct buf *cr)
{
	const char *path = x->r->path && x->r->path[0] ? x->r->path : "/";

	if (x->canonical_path)
		return buf_adds(cr, x->canonical_path);
	return sigv4_uri_encode(path, strlen(path), 1, cr);
}

/* Decodes then encodes one name or value of the caller's query. */
static enum ap_err add_param_part(const char *s, size_t n, struct buf *tmp,
				  struct buf *store, size_t *off, size_t *len)
{
	enum ap_err e;

	buf_reset(tmp);
	e = sigv4_uri_decode(s, n, tmp);
	if (e)
		return e;
	*off = store->len;
	e = sigv4_uri_encode(tmp->data ? tmp->data : "", tmp->len, 0, store);
	*len = store->len - *off;
	return e;
}

/* Insertion sort by encoded name, then value: at most MAX_PARAMS entries. */
static void sort_params(struct param *p, size_t np, const struct buf *store)
{
	for (size_t i = 1; i < np; i++) {
		struct param t = p[i];
		size_t j;

		for (j = i; j > 0; j--) {
			const struct param *a = &p[j - 1];
			int d = bytes_cmp(store->data + a->name, a->nlen,
					  store->data + t.name, t.nlen);

			if (!d)
				d = bytes_cmp(store->data + a->value, a->vlen,
					      store->data + t.value, t.vlen);
			if (d <= 0)
				break;
			p[j] = p[j - 1];
		}
		p[j] = t;
	}
}

/*
 * Canonical query: every parameter of the caller's query (decoded, then
 * encoded the one canonical way) plus `extra` (raw name/value pairs), sorted
 * by encoded name, then encoded value.
 */
static enum ap_err canonical_query(const struct sigv4_ctx *x, const struct sigv4_header *extra,
				   size_t nextra, struct buf *cr)
{
	struct param p[MAX_PARAMS];
	size_t np = 0, i;
	const char *q = x->r->query ? x->r->query : "";
	struct buf store, tmp;
	enum ap_err e = AP_OK;

	if (nextra > SIGV4_MAX_EXTRA_PARAMS)
		return AP_ERR_TOO_LARGE;
	buf_init(&store, MAX_QUERY_STORE);
	buf_init(&tmp, SIGV4_MAX_QUERY + SIGV4_MAX_TOKEN);
	while (*q) {
		const char *amp = strchr(q, '&'), *eq;
		size_t seg = amp ? (size_t)(amp - q) : strlen(q);

		if (seg) {
			if (np >= SIGV4_MAX_QUERY_PARAMS) {
				e = AP_ERR_TOO_LARGE;
				goto fail;
			}
			eq = memchr(q, '=', seg);
			e = add_param_part(q, eq ? (size_t)(eq - q) : seg, &tmp, &store,
					   &p[np].name, &p[np].nlen);
			p[np].value = store.len;	/* "name" alone: empty value */
			p[np].vlen = 0;
			if (!e && eq)
				e = add_param_part(eq + 1, seg - (size_t)(eq + 1 - q), &tmp,
						   &store, &p[np].value, &p[np].vlen);
			if (e)
				goto fail;
			np++;
		}
		q += seg + (amp ? 1 : 0);
	}
	for (i = 0; i < nextra; i++) {
		p[np].name = store.len;
		e = sigv4_uri_encode(extra[i].name, strlen(extra[i].name), 0, &store);
		p[np].nlen = store.len - p[np].name;
		p[np].value = store.len;
		if (!e)
			e = sigv4_uri_encode(extra[i].value, strlen(extra[i].value), 0, &store);
		p[np].vlen = store.len - p[np].value;
		if (e)
			goto fail;
		np++;
	}
	sort_params(p, np, &store);
	for (i = 0; i < np && !e; i++) {
		if (i)
			e = buf_add(cr, "&", 1);
		if (!e)
			e = buf_add(cr, store.data + p[i].name, p[i].nlen);
		if (!e)
			e = buf_add(cr, "=", 1);
		if (!e)
			e = buf_add(cr, store.data + p[i].value, p[i].vlen);
	}
fail:
	buf_free(&store);
	buf_free(&tmp);
	return e;
}

/* Appends a header value trimmed, with inner runs of blanks made one space. */
static enum ap_err add_trimmed(struct buf *b, const char *v)
{
	size_t n = strlen(v), i;
	int pending = 0, any = 0;
	char *p;
	enum ap_err e = buf_reserve(b, n);	/* trimming never grows */

	if (e)
		return e;
	p = b->data + b->len;
	for (i = 0; i < n; i++) {
		if (is_blank((unsigned char)v[i])) {
			pending = any;
			continue;
		}
		if (pending)
			*p++ = ' ';
		*p++ = v[i];
		pending = 0;
		any = 1;
	}
	b->len = (size_t)(p - b->data);
	b->data[b->len] = '\0';
	return AP_OK;
}

/* Trimmed bounds of a header value, for x-amz-content-sha256. */
static void trim(const char *v, const char **start, size_t *len)
{
	size_t n = strlen(v);

	while (n && is_blank((unsigned char)*v))
		v++, n--;
	while (n && is_blank((unsigned char)v[n - 1]))
		n--;
	*start = v;
	*len = n;
}

static enum ap_err check_creds(const struct sigv4_creds *c)
{
	size_t n;

	if (!c || !c->access_key || !c->secret_key || !c->region || !c->service)
		return AP_ERR_BAD_REQUEST;
	if (!valid_word(c->access_key, SIGV4_MAX_KEY_ID, "/,") ||
	    !valid_word(c->region, SIGV4_MAX_SCOPE_PART, "/,") ||
	    !valid_word(c->service, SIGV4_MAX_SCOPE_PART, "/,"))
		return AP_ERR_BAD_REQUEST;
	/* a token is base64: '/' is one of its characters */
	if (c->session_token && !valid_word(c->session_token, SIGV4_MAX_TOKEN, ""))
		return AP_ERR_BAD_REQUEST;
	n = strnlen(c->secret_key, SIGV4_MAX_SECRET + 1);
	if (n == 0 || n > SIGV4_MAX_SECRET)
		return AP_ERR_BAD_REQUEST;
	return AP_OK;
}

/* No control characters (HTAB allowed) in a value that goes into a request. */
static int valid_value(const char *v, size_t max)
{
	size_t n = 0;

	for (; v[n]; n++) {
		unsigned char ch = (unsigned char)v[n];

		if (n >= max || (ch < ' ' && ch != '\t') || ch == 0x7f)
			return 0;
	}
	return 1;
}

/* The request line and body against their bounds (headers: collect_headers). */
static enum ap_err check_request(const struct sigv4_request *r)
{
	size_t i, n;

	if (!r || !r->method || !r->method[0] || (!r->body && r->body_len))
		return AP_ERR_BAD_REQUEST;
	n = strnlen(r->method, MAX_METHOD + 1);
	if (n > MAX_METHOD)
		return AP_ERR_BAD_REQUEST;
	for (i = 0; i < n; i++)
		if (!is_tchar((unsigned char)r->method[i]))
			return AP_ERR_BAD_REQUEST;
	if (r->path && strnlen(r->path, SIGV4_MAX_PATH + 1) > SIGV4_MAX_PATH)
		return AP_ERR_TOO_LARGE;
	if (r->path && r->path[0] && r->path[0] != '/')
		return AP_ERR_BAD_REQUEST;	/* what is signed must be what is sent */
	if (r->query) {
		if (strnlen(r->query, SIGV4_MAX_QUERY + 1) > SIGV4_MAX_QUERY)
			return AP_ERR_TOO_LARGE;
		/* it is sent verbatim: nothing that would end the request target */
		for (i = 0; r->query[i]; i++) {
			unsigned char ch = (unsigned char)r->query[i];

			if (ch <= ' ' || ch == 0x7f || ch == '#')
				return AP_ERR_BAD_REQUEST;
		}
	}
	if (r->body_len > SIGV4_MAX_BODY)
		return AP_ERR_TOO_LARGE;
	if (r->nheaders > SIGV4_MAX_HEADERS)
		return AP_ERR_TOO_LARGE;
	if (r->nheaders && !r->headers)
		return AP_ERR_BAD_REQUEST;
	return AP_OK;
}

/* A caller's x-amz-content-sha256: one, well-formed, equal to payload_hash if given. */
static enum ap_err take_payload_header(struct sigv4_ctx *x, const char *value)
{
	const char *v;
	size_t vlen;

	trim(value, &v, &vlen);
	if (x->payload_header || !valid_payload_hash(v, vlen))
		return AP_ERR_BAD_REQUEST;
	if (x->r->payload_hash && (strlen(x->r->payload_hash) != vlen ||
				   memcmp(x->r->payload_hash, v, vlen) != 0))
		return AP_ERR_BAD_REQUEST;
	memcpy(x->payload, v, vlen);
	x->payload[vlen] = '\0';
	x->payload_header = 1;
	return AP_OK;
}

/* The caller's headers into x->h: tokens for names, no control characters
 * in values, none of the signer's own names, and a host. */
static enum ap_err collect_headers(struct sigv4_ctx *x)
{
	const struct sigv4_request *r = x->r;
	int host = 0;
	enum ap_err e;

	for (size_t i = 0; i < r->nheaders; i++) {
		const struct sigv4_header *h = &r->headers[i];
		size_t nlen;

		if (!h->name || !h->value)
			return AP_ERR_BAD_REQUEST;
		nlen = strnlen(h->name, SIGV4_MAX_NAME + 1);
		if (nlen == 0 || nlen > SIGV4_MAX_NAME)
			return AP_ERR_BAD_REQUEST;
		for (size_t n = 0; n < nlen; n++)
			if (!is_tchar((unsigned char)h->name[n]))
				return AP_ERR_BAD_REQUEST;
		if (!valid_value(h->value, SIGV4_MAX_VALUE))
			return strnlen(h->value, SIGV4_MAX_VALUE + 1) > SIGV4_MAX_VALUE ?
			       AP_ERR_TOO_LARGE : AP_ERR_BAD_REQUEST;
		if (name_is(h->name, nlen, "x-amz-date") ||
		    name_is(h->name, nlen, "authorization") ||
		    name_is(h->name, nlen, "x-amz-security-token"))
			return AP_ERR_BAD_REQUEST;
		if (name_is(h->name, nlen, "host"))
			host = 1;
		if (name_is(h->name, nlen, "x-amz-content-sha256") &&
		    (e = take_payload_header(x, h->value)))
			return e;
		x->h[x->nh].name = h->name;
		x->h[x->nh].nlen = nlen;
		x->h[x->nh].value = h->value;
		x->nh++;
	}
	return host ? AP_OK : AP_ERR_BAD_REQUEST;
}

/* The payload hash: the caller's header, or payload_hash, or the body's SHA-256. */
static enum ap_err settle_payload(struct sigv4_ctx *x)
{
	const struct sigv4_request *r = x->r;
	size_t n;

	if (x->payload_header)
		return AP_OK;
	if (r->payload_hash) {
		n = strlen(r->payload_hash);
		if (!valid_payload_hash(r->payload_hash, n))
			return AP_ERR_BAD_REQUEST;
		memcpy(x->payload, r->payload_hash, n + 1);
		return AP_OK;
	}
	if ((x->flags & SIGV4_PRESIGNED) && strcmp(x->c->service, "s3") == 0) {
		memcpy(x->payload, SIGV4_UNSIGNED_PAYLOAD, sizeof(SIGV4_UNSIGNED_PAYLOAD));
		return AP_OK;
	}
	return sigv4_sha256_hex(r->body, r->body_len, x->payload);
}

enum ap_err sigv4_prepare(struct sigv4_ctx *x, const struct sigv4_creds *c,
			  const struct sigv4_request *r, time_t now, int flags)
{
	struct tm tm;
	enum ap_err e;

	memset(x, 0, sizeof(*x));
	x->c = c;
	x->r = r;
	x->flags = flags;
	if (flags & ~SIGV4_CORE_FLAGS)
		return AP_ERR_BAD_REQUEST;	/* a mode's flag: the mode handles it */
	if ((e = check_creds(c)) || (e = check_request(r)))
		return e;
	if (!gmtime_r(&now, &tm) ||
	    strftime(x->amz_date, sizeof(x->amz_date), "%Y%m%dT%H%M%SZ", &tm) != SIGV4_AMZ_DATE_LEN)
		return AP_ERR_BAD_REQUEST;
	memcpy(x->date, x->amz_date, SIGV4_DATE_LEN);
	x->date[SIGV4_DATE_LEN] = '\0';
	if ((e = collect_headers(x)))
		return e;
	return settle_payload(x);
}

static void add_own_header(struct sigv4_ctx *x, const char *name, const char *value)
{
	x->h[x->nh].name = name;
	x->h[x->nh].nlen = strlen(name);
	x->h[x->nh].value = value;
	x->nh++;
}

enum ap_err sigv4_sort_headers(struct sigv4_ctx *x)
{
	size_t i, j, len = 0;

	for (i = 1; i < x->nh; i++) {
		struct sigv4_hdr t = x->h[i];

		for (j = i; j > 0 && name_cmp(&x->h[j - 1], &t) > 0; j--)
			x->h[j] = x->h[j - 1];
		x->h[j] = t;
	}
	for (i = 0; i < x->nh; i++) {
		if (i && name_cmp(&x->h[i - 1], &x->h[i]) == 0)
			continue;
		if (len + (len ? 1 : 0) + x->h[i].nlen > SIGV4_MAX_SIGNED_HEADERS)
			return AP_ERR_TOO_LARGE;
		if (len)
			x->signed_headers[len++] = ';';
		for (j = 0; j < x->h[i].nlen; j++)
			x->signed_headers[len++] = (char)lower((unsigned char)x->h[i].name[j]);
	}
	x->signed_headers[len] = '\0';
	return AP_OK;
}

static enum ap_err canonical_headers(const struct sigv4_ctx *x, struct buf *cr)
{
	enum ap_err e = AP_OK;

	for (size_t i = 0; i < x->nh && !e; i++) {
		const struct sigv4_hdr *h = &x->h[i];

		if (i && name_cmp(&x->h[i - 1], h) == 0) {
			e = buf_add(cr, ",", 1);	/* repeated name: values joined */
		} else {
			if (i)
				e = buf_add(cr, "\n", 1);
			for (size_t j = 0; j < h->nlen && !e; j++) {
				char ch = (char)lower((unsigned char)h->name[j]);

				e = buf_add(cr, &ch, 1);
			}
			if (!e)
				e = buf_add(cr, ":", 1);
		}
		if (!e)
			e = add_trimmed(cr, h->value);
	}
	if (!e && x->nh)
		e = buf_add(cr, "\n", 1);
	return e;
}

/* method \n path \n query \n headers \n signed headers \n payload hash */
static enum ap_err canonical_request(const struct sigv4_ctx *x, const struct sigv4_header *extra,
				     size_t nextra, struct buf *cr)
{
	enum ap_err e;

	buf_reset(cr);
	e = buf_printf(cr, "%s\n", x->r->method);
	if (!e)
		e = canonical_path(x, cr);
	if (!e)
		e = buf_add(cr, "\n", 1);
	if (!e)
		e = canonical_query(x, extra, nextra, cr);
	if (!e)
		e = buf_add(cr, "\n", 1);
	if (!e)
		e = canonical_headers(x, cr);
	if (!e)
		e = buf_printf(cr, "\n%s\n%s", x->signed_headers, x->payload);
	return e;
}

static enum ap_err hmac(const void *key, size_t klen, const void *d, size_t n,
			unsigned char out[SHA256_LEN])
{
	unsigned int len = 0;

	if (!HMAC(EVP_sha256(), key, (int)klen, d, n, out, &len) || len != SHA256_LEN)
		return AP_ERR_INTERNAL;
	return AP_OK;
}

/*
 * String to sign from the canonical request, then the signature:
 * HMAC(HMAC(HMAC(HMAC(HMAC("AWS4" secret, date), region), service),
 * "aws4_request"), string to sign).
 */
static enum ap_err sign_string(const struct sigv4_ctx *x, const struct buf *cr, struct buf *sts,
			       char sig[SIGV4_HASH_HEX + 1])
{
	unsigned char kbuf[4 + SIGV4_MAX_SECRET], k1[SHA256_LEN], k2[SHA256_LEN];
	char cr_hash[SIGV4_HASH_HEX + 1];
	size_t slen = strlen(x->c->secret_key);	/* bounded by check_creds() */
	enum ap_err e;

	e = sigv4_sha256_hex(cr->data, cr->len, cr_hash);
	if (e)
		return e;
	buf_reset(sts);
	e = buf_printf(sts, ALGORITHM "\n%s\n%s/%s/%s/" TERMINATOR "\n%s", x->amz_date,
		       x->date, x->c->region, x->c->service, cr_hash);
	if (e)
		return e;

	memcpy(kbuf, "AWS4", 4);
	memcpy(kbuf + 4, x->c->secret_key, slen);
	e = hmac(kbuf, 4 + slen, x->date, SIGV4_DATE_LEN, k1);
	if (!e)
		e = hmac(k1, SHA256_LEN, x->c->region, strlen(x->c->region), k2);
	if (!e)
		e = hmac(k2, SHA256_LEN, x->c->service, strlen(x->c->service), k1);
	if (!e)
		e = hmac(k1, SHA256_LEN, TERMINATOR, strlen(TERMINATOR), k2);
	if (!e)
		e = hmac(k2, SHA256_LEN, sts->data, sts->len, k1);
	if (!e)
		hex_encode(k1, SHA256_LEN, sig);
	OPENSSL_cleanse(kbuf, sizeof(kbuf));
	OPENSSL_cleanse(k1, sizeof(k1));
	OPENSSL_cleanse(k2, sizeof(k2));
	return e;
}

enum ap_err sigv4_sign(const struct sigv4_ctx *x, const struct sigv4_header *extra, size_t nextra,
		       char sig[SIGV4_HASH_HEX + 1], struct sigv4_trace *trace)
{
	struct buf cr_local, sts_local;
	struct buf *cr = trace ? &trace->canonical_request : &cr_local;
	struct buf *sts = trace ? &trace->string_to_sign : &sts_local;
	enum ap_err e;

	buf_init(&cr_local, SIGV4_MAX_CANONICAL);
	buf_init(&sts_local, SIGV4_MAX_CANONICAL);
	e = canonical_request(x, extra, nextra, cr);
	if (!e)
		e = sign_string(x, cr, sts, sig);
	if (!e && trace)
		memcpy(trace->signature, sig, SIGV4_HASH_HEX + 1);
	buf_free(&cr_local);
	buf_free(&sts_local);
	return e;
}

/* The headers to send, in the order sigv4.h promises. */
static void out_headers(const struct sigv4_ctx *x, struct sigv4_out *out)
{
	const struct sigv4_creds *c = x->c;

	if (c->session_token)
		out->headers[out->nheaders++] = (struct sigv4_header){
			"X-Amz-Security-Token", c->session_token };
	out->headers[out->nheaders++] = (struct sigv4_header){ "X-Amz-Date", out->amz_date };
	if ((x->flags & SIGV4_ADD_CONTENT_SHA256) && !x->payload_header)
		out->headers[out->nheaders++] = (struct sigv4_header){
			"x-amz-content-sha256", out->payload_hash };
	out->headers[out->nheaders++] = (struct sigv4_header){
		"Authorization", out->authorization };
}

enum ap_err sigv4_sign_prepared(struct sigv4_ctx *x, struct sigv4_out *out,
				struct sigv4_trace *trace)
{
	const struct sigv4_creds *c = x->c;
	int n;
	enum ap_err e;

	memset(out, 0, sizeof(*out));
	memcpy(out->amz_date, x->amz_date, sizeof(out->amz_date));
	memcpy(out->payload_hash, x->payload, sizeof(out->payload_hash));
	if ((x->flags & SIGV4_ADD_CONTENT_SHA256) && !x->payload_header)
		add_own_header(x, "x-amz-content-sha256", out->payload_hash);
	add_own_header(x, "x-amz-date", out->amz_date);
	if (c->session_token && !(x->flags & SIGV4_UNSIGNED_TOKEN))
		add_own_header(x, "x-amz-security-token", c->session_token);
	e = sigv4_sort_headers(x);
	if (e)
		goto fail;
	e = sigv4_sign(x, NULL, 0, out->signature, trace);
	if (e)
		goto fail;
	n = snprintf(out->authorization, sizeof(out->authorization),
		     ALGORITHM " Credential=%s/%s/%s/%s/" TERMINATOR
		     ", SignedHeaders=%s, Signature=%s", c->access_key, x->date, c->region,
		     c->service, x->signed_headers, out->signature);
	if (n < 0 || (size_t)n >= sizeof(out->authorization)) {
		e = AP_ERR_TOO_LARGE;	/* cannot happen: the bounds add up */
		goto fail;
	}
	out_headers(x, out);
	return AP_OK;
fail:
	memset(out, 0, sizeof(*out));
	return e;
}

enum ap_err sigv4_sign_headers(const struct sigv4_creds *c, const struct sigv4_request *r,
			       time_t now, int flags, struct sigv4_out *out,
			       struct sigv4_trace *trace)
{
	struct sigv4_ctx x;
	enum ap_err e = sigv4_prepare(&x, c, r, now, flags);

	if (e) {
		memset(out, 0, sizeof(*out));
		return e;
	}
	return sigv4_sign_prepared(&x, out, trace);
}
