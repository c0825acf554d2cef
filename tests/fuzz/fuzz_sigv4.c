/*
 * fuzz_sigv4.c - SigV4 canonicalisation (sigv4.h, sigv4_core.h): arbitrary
 * requests through sigv4_sign_headers with fixed credentials and a fixed
 * clock, in the server's mode (SIGV4_S3), without it, and with a session
 * token sent unsigned.
 *
 * Input: NUL-separated fields (no field can hold a NUL: all are C strings)
 *	METHOD \0 PATH \0 QUERY \0 NAME \0 VALUE \0 NAME \0 VALUE ... [\0 BODY]
 * a header named "@payload" gives payload_hash instead of a header; a field
 * left without its pair is the body.
 *
 * Oracle: a reference signer written here from sigv4.h and the AWS
 * documentation builds the canonical request of every accepted request
 * independently (path encoded once, query decoded and re-encoded, sorted by
 * name then value, header names lower-cased, stable-sorted, repeated ones
 * joined, values trimmed with inner blanks collapsed), then the string to
 * sign and the HMAC chain with OpenSSL; both must be byte for byte what
 * the signer produced, and so must the Authorization header. An accepted
 * request must also be one sigv4.h allows (token names, no control
 * characters, none of the signer's own headers, a host); a query the
 * reference cannot decode must be refused.
 */
#include <ctype.h>
#include <strings.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "fuzz.h"
#include "buf.h"
#include "sigv4.h"

#define NOW 1440938160	/* 20150830T123600Z, the date of the AWS examples */
#define REF_MAX (2 * SIGV4_MAX_CANONICAL)

static const struct sigv4_creds CREDS = {
	"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL, "us-east-1", "s3",
};
static const struct sigv4_creds CREDS_TOKEN = {
	"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "IQoJb3JpZ2luX2VjEXAMPLE/+=",
	"auto", "s3",
};

struct input {
	const char *f[2 * SIGV4_MAX_HEADERS + 8];
	size_t n;
};

/* ---- the reference ---------------------------------------------------------- */

struct ref {
	char *p;
	size_t len;
	int overflow;
};

static void ref_add(struct ref *r, const void *p, size_t n)
{
	if (r->overflow || n > REF_MAX - r->len) {
		r->overflow = 1;
		return;
	}
	memcpy(r->p + r->len, p, n);
	r->len += n;
}

static void ref_adds(struct ref *r, const char *s)
{
	ref_add(r, s, strlen(s));
}

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static void ref_encode(struct ref *r, const char *s, size_t n, int keep_slash)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[4];

		if (unreserved(c) || (keep_slash && c == '/')) {
			ref_add(r, &s[i], 1);
		} else {
			snprintf(esc, sizeof(esc), "%%%02X", c);
			ref_add(r, esc, 3);
		}
	}
}

static int hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decoded s[0..n) into out (room >= n); its length, or -1. */
static long ref_decode(const char *s, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		if (n - i < 3 || hexv(s[i + 1]) < 0 || hexv(s[i + 2]) < 0)
			return -1;
		out[o++] = (char)(hexv(s[i + 1]) * 16 + hexv(s[i + 2]));
		i += 2;
	}
	return (long)o;
}

struct qparam {
	char *name, *value;	/* encoded, malloc'd */
	size_t nlen, vlen;
};

static int qcmp(const struct qparam *a, const struct qparam *b)
{
	size_t n = a->nlen < b->nlen ? a->nlen : b->nlen;
	int d = memcmp(a->name, b->name, n);

	if (d || a->nlen != b->nlen)
		return d ? d : (a->nlen < b->nlen ? -1 : 1);
	n = a->vlen < b->vlen ? a->vlen : b->vlen;
	d = memcmp(a->value, b->value, n);
	return d ? d : (a->vlen < b->vlen ? -1 : a->vlen > b->vlen);
}

/* Encoded form of one decoded part; -1 if it does not decode. */
static int ref_part(const char *s, size_t n, char **out, size_t *len)
{
	char *dec = malloc(n + 1);
	struct ref r = {malloc(3 * n + 1), 0, 0};
	long dl;

	if (!dec || !r.p)
		abort();
	dl = ref_decode(s, n, dec);
	if (dl >= 0)
		ref_encode(&r, dec, (size_t)dl, 0);
	free(dec);
	*out = r.p;
	*len = r.len;
	return dl < 0 ? -1 : 0;
}

/* The canonical query; -1 if a part does not decode. */
static int ref_query(struct ref *r, const char *q)
{
	struct qparam p[SIGV4_MAX_QUERY_PARAMS + 1];
	size_t np = 0;
	int bad = 0;

	for (const char *s = q; *s && np <= SIGV4_MAX_QUERY_PARAMS;) {
		size_t seg = strcspn(s, "&");
		const char *eq = memchr(s, '=', seg);

		if (seg) {
			bad |= ref_part(s, eq ? (size_t)(eq - s) : seg, &p[np].name, &p[np].nlen);
			bad |= ref_part(eq ? eq + 1 : s + seg, eq ? seg - (size_t)(eq + 1 - s) : 0,
					&p[np].value, &p[np].vlen);
			np++;
		}
		s += seg + (s[seg] == '&');
	}
	for (size_t i = 1; i < np; i++)	/* insertion sort */
		for (size_t j = i; j > 0 && qcmp(&p[j - 1], &p[j]) > 0; j--) {
			struct qparam t = p[j];
			p[j] = p[j - 1];
			p[j - 1] = t;
		}
	for (size_t i = 0; i < np; i++) {
		if (i)
			ref_adds(r, "&");
		ref_add(r, p[i].name, p[i].nlen);
		ref_adds(r, "=");
		ref_add(r, p[i].value, p[i].vlen);
		free(p[i].name);
		free(p[i].value);
	}
	return bad ? -1 : 0;
}

struct rhdr {
	char name[SIGV4_MAX_NAME + 32];	/* lower-cased */
	const char *value;
};

static void ref_trimmed(struct ref *r, const char *v)
{
	int pending = 0, any = 0;

	for (; *v; v++) {
		if (*v == ' ' || *v == '\t') {
			pending = any;
			continue;
		}
		if (pending)
			ref_adds(r, " ");
		ref_add(r, v, 1);
		pending = 0;
		any = 1;
	}
}

/* Canonical headers and the signed-header list of hs[0..n) (sorted here). */
static void ref_headers(struct ref *r, struct ref *signed_list, struct rhdr *hs, size_t n)
{
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(hs[j - 1].name, hs[j].name) > 0; j--) {
			struct rhdr t = hs[j];
			hs[j] = hs[j - 1];
			hs[j - 1] = t;
		}
	for (size_t i = 0; i < n; i++) {
		if (i && !strcmp(hs[i - 1].name, hs[i].name)) {
			ref_adds(r, ",");
		} else {
			if (i)
				ref_adds(r, "\n");
			ref_adds(r, hs[i].name);
			ref_adds(r, ":");
			if (signed_list->len)
				ref_adds(signed_list, ";");
			ref_adds(signed_list, hs[i].name);
		}
		ref_trimmed(r, hs[i].value);
	}
	if (n)
		ref_adds(r, "\n");
}

static void hmac(const void *k, size_t kl, const void *d, size_t n, unsigned char out[32])
{
	unsigned int l = 0;

	FUZZ_CHECK(HMAC(EVP_sha256(), k, (int)kl, d, n, out, &l) && l == 32, "HMAC");
}

static void hexs(const unsigned char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* ---- the harness ------------------------------------------------------------ */

static void parse_input(const uint8_t *data, size_t size, struct input *in, char **store)
{
	char *s = fuzz_strndup(data, size);
	size_t pos = 0;

	*store = s;
	in->n = 0;
	while (in->n < sizeof(in->f) / sizeof(in->f[0])) {
		in->f[in->n++] = s + pos;
		pos += strlen(s + pos) + 1;
		if (pos > size)
			break;
	}
}

static void check_valid(const struct sigv4_request *r)
{
	int host = 0;

	for (const char *m = r->method; *m; m++)
		FUZZ_CHECK(strchr("!#$%&'*+-.^_`|~", *m) || unreserved((unsigned char)*m),
			   "method with 0x%02x", (unsigned char)*m);
	for (size_t i = 0; i < r->nheaders; i++) {
		const struct sigv4_header *h = &r->headers[i];

		FUZZ_CHECK(h->name[0], "empty header name");
		for (const char *c = h->name; *c; c++)
			FUZZ_CHECK(strchr("!#$%&'*+-.^_`|~", *c) || unreserved((unsigned char)*c),
				   "header name with 0x%02x", (unsigned char)*c);
		for (const char *c = h->value; *c; c++)
			FUZZ_CHECK(((unsigned char)*c >= ' ' || *c == '\t') && *c != 0x7f,
				   "control character in a header value");
		FUZZ_CHECK(strcasecmp(h->name, "authorization") && strcasecmp(h->name, "x-amz-date") &&
			   strcasecmp(h->name, "x-amz-security-token"), "signer's header %s", h->name);
		host |= !strcasecmp(h->name, "host");
	}
	FUZZ_CHECK(host, "signed without a host");
	for (const char *c = r->query ? r->query : ""; *c; c++)
		FUZZ_CHECK((unsigned char)*c > ' ' && *c != 0x7f && *c != '#', "query with 0x%02x",
			   (unsigned char)*c);
}

/* The whole signature, rebuilt by the reference. */
static void check_signed(const struct sigv4_creds *c, const struct sigv4_request *r, int flags,
			 const struct sigv4_out *out, const struct sigv4_trace *tr, int chain)
{
	static char crbuf[REF_MAX], slbuf[REF_MAX];
	struct rhdr hs[SIGV4_MAX_HEADERS + 3];
	struct ref cr = {crbuf, 0, 0}, sl = {slbuf, 0, 0};
	const char *path = r->path && r->path[0] ? r->path : "/", *payload = out->payload_hash;
	unsigned char md[32], k1[32], k2[32], kbuf[4 + SIGV4_MAX_SECRET];
	char hex[65], sts[512], auth[SIGV4_MAX_AUTHORIZATION + 1];
	size_t n = 0, sl_len = strlen(c->secret_key);
	int caller_sha = 0;

	for (size_t i = 0; i < r->nheaders; i++, n++) {
		for (size_t j = 0; j <= strlen(r->headers[i].name); j++)
			hs[n].name[j] = (char)tolower((unsigned char)r->headers[i].name[j]);
		hs[n].value = r->headers[i].value;
		caller_sha |= !strcmp(hs[n].name, "x-amz-content-sha256");
	}
	if ((flags & SIGV4_ADD_CONTENT_SHA256) && !caller_sha)
		hs[n++] = (struct rhdr){"x-amz-content-sha256", payload};
	hs[n++] = (struct rhdr){"x-amz-date", "20150830T123600Z"};
	if (c->session_token && !(flags & SIGV4_UNSIGNED_TOKEN))
		hs[n++] = (struct rhdr){"x-amz-security-token", c->session_token};

	ref_adds(&cr, r->method);
	ref_adds(&cr, "\n");
	ref_encode(&cr, path, strlen(path), 1);
	ref_adds(&cr, "\n");
	FUZZ_CHECK(ref_query(&cr, r->query ? r->query : "") == 0, "undecodable query signed");
	ref_adds(&cr, "\n");
	ref_headers(&cr, &sl, hs, n);
	ref_adds(&cr, "\n");
	ref_add(&cr, sl.p, sl.len);
	ref_adds(&cr, "\n");
	ref_adds(&cr, payload);
	FUZZ_CHECK(!cr.overflow && cr.len == tr->canonical_request.len &&
		   !memcmp(cr.p, tr->canonical_request.data, cr.len),
		   "canonical request differs:\n--- signer\n%s\n--- reference\n%.*s",
		   tr->canonical_request.data, (int)cr.len, cr.p);

	if (!caller_sha && !r->payload_hash) {
		EVP_Digest(r->body, r->body_len, md, NULL, EVP_sha256(), NULL);
		hexs(md, 32, hex);
		FUZZ_CHECK(!strcmp(hex, payload), "payload hash is not the body's");
	}
	EVP_Digest(cr.p, cr.len, md, NULL, EVP_sha256(), NULL);
	hexs(md, 32, hex);
	snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/%s/%s/aws4_request\n%s",
		 c->region, c->service, hex);
	FUZZ_CHECK(!strcmp(sts, tr->string_to_sign.data), "string to sign differs");
	if (!chain)
		return;	/* the HMAC chain is the same code for every mode: checked once */
	memcpy(kbuf, "AWS4", 4);
	memcpy(kbuf + 4, c->secret_key, sl_len);
	hmac(kbuf, 4 + sl_len, "20150830", 8, k1);
	hmac(k1, 32, c->region, strlen(c->region), k2);
	hmac(k2, 32, c->service, strlen(c->service), k1);
	hmac(k1, 32, "aws4_request", 12, k2);
	hmac(k2, 32, sts, strlen(sts), k1);
	hexs(k1, 32, hex);
	FUZZ_CHECK(!strcmp(hex, out->signature), "signature differs");
	snprintf(auth, sizeof(auth), "AWS4-HMAC-SHA256 Credential=%s/20150830/%s/%s/aws4_request, "
		 "SignedHeaders=%.*s, Signature=%s", c->access_key, c->region, c->service,
		 (int)sl.len, sl.p, hex);
	FUZZ_CHECK(!strcmp(auth, out->authorization), "Authorization differs");
}

static void sign_one(const struct sigv4_creds *c, const struct sigv4_request *r, int flags,
		     int chain)
{
	struct sigv4_out out;
	struct sigv4_trace tr;
	enum ap_err e;

	buf_init(&tr.canonical_request, SIGV4_MAX_CANONICAL);
	buf_init(&tr.string_to_sign, SIGV4_MAX_CANONICAL);
	e = sigv4_sign_headers(c, r, NOW, flags, &out, &tr);
	if (e == AP_OK) {
		check_valid(r);
		check_signed(c, r, flags, &out, &tr, chain);
	} else {
		FUZZ_CHECK(e == AP_ERR_BAD_REQUEST || e == AP_ERR_TOO_LARGE, "refused with %d", e);
		FUZZ_CHECK(out.nheaders == 0 && out.authorization[0] == '\0', "output after a refusal");
	}
	buf_free(&tr.canonical_request);
	buf_free(&tr.string_to_sign);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sigv4_header h[SIGV4_MAX_HEADERS + 4];
	struct sigv4_request r = {0};
	struct input in;
	char *store;
	size_t i;

	parse_input(data, size, &in, &store);
	r.method = in.f[0];
	r.path = in.n > 1 ? in.f[1] : NULL;
	r.query = in.n > 2 ? in.f[2] : NULL;
	for (i = 3; i + 1 < in.n; i += 2) {
		if (!strcmp(in.f[i], "@payload")) {
			r.payload_hash = in.f[i + 1];
		} else if (r.nheaders < sizeof(h) / sizeof(h[0])) {
			h[r.nheaders++] = (struct sigv4_header){in.f[i], in.f[i + 1]};
		}
	}
	if (i < in.n) {
		r.body = in.f[i];
		r.body_len = strlen(in.f[i]);
	}
	r.headers = h;
	sign_one(&CREDS, &r, SIGV4_S3, 1);
	sign_one(&CREDS, &r, 0, 0);
	sign_one(&CREDS_TOKEN, &r, SIGV4_S3 | SIGV4_UNSIGNED_TOKEN, 0);
	free(store);
	return 0;
}
