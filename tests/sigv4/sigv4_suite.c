/*
 * sigv4_suite.c - runs SigV4 cases laid out as the AWS SigV4 test suite.
 *
 * usage: sigv4_suite DIR...
 *
 * Every sub-folder of a DIR is one case: context.json (credentials with an
 * optional token, region, service, timestamp, normalize, sign_body,
 * expiration_in_seconds, omit_session_token), request.txt (request line,
 * headers with repeated names and folded lines, blank line, body) and at
 * least one expected file. Each expected file present is checked; header-*
 * files against sigv4_modes_sign_headers() (for service "s3" that is
 * src/sigv4.c's sigv4_sign_headers() itself), query-* against
 * sigv4_presign(); both modes are in sigv4_modes.c, on the core the server
 * runs.
 *
 * request.txt holds the request as sent. For a generic service its path is
 * signed the aws-c-auth way (wire form, encoded once more); for service
 * "s3" it is decoded into the raw key the S3 client would give, so the
 * signer's own encoding is what is tested. A signed request must match
 * byte for byte, except that the order of query parameters is free (servers
 * sort them; AWS's documents and its signers disagree on that order).
 *
 * Output: one line per case, then "N passed, M failed". Exit 0 only when
 * M == 0 and N > 0; a DIR without cases counts as a failure.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* strptime, timegm */
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>
#include "sigv4.h"
#include "sigv4_modes.h"

#define SUITE_MAX_FILE		(1024 * 1024)	/* any file of a case */
#define SUITE_MAX_PATH		4096		/* a file name built here */
#define SUITE_MAX_CASES		4096		/* sub-folders of one DIR */
#define SUITE_MAX_WHY		2048		/* the reason of one failure */
#define SUITE_MAX_SHOWN		160		/* bytes of a line quoted in a reason */
#define SUITE_MAX_PARAMS	256		/* query parameters compared */

enum expected_id {
	H_CANON, H_STS, H_SIG, H_SIGNED,
	Q_CANON, Q_STS, Q_SIG, Q_SIGNED,
	N_EXPECTED
};

static const char *const expected_names[N_EXPECTED] = {
	"header-canonical-request", "header-string-to-sign", "header-signature",
	"header-signed-request", "query-canonical-request", "query-string-to-sign",
	"query-signature", "query-signed-request",
};

struct context {
	json_object *root;	/* owns the strings below */
	struct sigv4_creds creds;
	time_t when;
	int normalize, sign_body, omit_token;
	long long expires;	/* -1: not given */
};

struct request {
	struct buf text;	/* request.txt */
	struct buf store;	/* method, target, version, then name\0value\0 pairs */
	size_t method, target, version;	/* offsets into store */
	size_t target_len;
	const char *hdr_block;	/* the header lines exactly as in the file */
	size_t hdr_len;
	size_t name_off[SIGV4_MAX_HEADERS], value_off[SIGV4_MAX_HEADERS];
	struct sigv4_header headers[SIGV4_MAX_HEADERS];
	size_t nheaders;
	const char *body;
	size_t body_len;
};

struct outcome {
	char why[SUITE_MAX_WHY];	/* the first failure */
	int failures;
};

static void failf(struct outcome *o, const char *fmt, ...) AP_PRINTF(2, 3);

static void failf(struct outcome *o, const char *fmt, ...)
{
	va_list ap;

	if (o->failures++)
		return;	/* the first reason is the one worth reading */
	va_start(ap, fmt);
	vsnprintf(o->why, sizeof(o->why), fmt, ap);
	va_end(ap);
}

/* Reads a whole file, at most SUITE_MAX_FILE bytes; AP_ERR_NOT_FOUND if absent. */
static enum ap_err read_file(const char *path, struct buf *out)
{
	char chunk[8192];
	ssize_t n;
	enum ap_err e = AP_OK;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	buf_reset(out);
	if (fd < 0)
		return errno == ENOENT ? AP_ERR_NOT_FOUND : AP_ERR_IO;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			e = AP_ERR_IO;
			goto fail;
		}
		e = buf_add(out, chunk, (size_t)n);
		if (e)
			goto fail;
	}
	if (!out->data)
		e = buf_add(out, "", 0);	/* empty file: still a string */
fail:
	close(fd);
	return e;
}

static int join(char *out, const char *dir, const char *name, const char *ext)
{
	int n = snprintf(out, SUITE_MAX_PATH, "%s/%s%s", dir, name, ext);

	return n > 0 && n < SUITE_MAX_PATH;
}

/* s[0..n) quoted on one line: escapes, cut after SUITE_MAX_SHOWN bytes. */
static const char *shown(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	if (outlen < 8)
		return "";
	out[o++] = '"';
	for (size_t i = 0; i < n && o + 6 < outlen; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (i == SUITE_MAX_SHOWN) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (ch == '\n' || ch == '\r' || ch == '\t') {
			out[o++] = '\\';
			out[o++] = ch == '\n' ? 'n' : ch == '\r' ? 'r' : 't';
		} else if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", ch);
		} else {
			out[o++] = (char)ch;
		}
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

/*
 * Compares expected and actual texts; reports the first differing line.
 * Signatures are compared without trailing blanks (editors add newlines).
 */
static void check_text(struct outcome *o, enum expected_id id, const struct buf *want,
		       const char *got, size_t got_len)
{
	const char *a = want->data, *b = got;
	size_t alen = want->len, blen = got_len, line = 1;
	char sa[SUITE_MAX_SHOWN * 4 + 16], sb[SUITE_MAX_SHOWN * 4 + 16];

	if (id == H_SIG || id == Q_SIG) {
		while (alen && strchr(" \t\r\n", a[alen - 1]))
			alen--;
		while (blen && strchr(" \t\r\n", b[blen - 1]))
			blen--;
	}
	if (alen == blen && memcmp(a, b, alen) == 0)
		return;
	for (;;) {
		const char *ae = memchr(a, '\n', alen), *be = memchr(b, '\n', blen);
		size_t al = ae ? (size_t)(ae - a) : alen, bl = be ? (size_t)(be - b) : blen;

		if (al != bl || memcmp(a, b, al) != 0 || !ae || !be) {
			if (id == H_SIG || id == Q_SIG || (line == 1 && !ae && !be))
				failf(o, "%s differs: expected %s got %s", expected_names[id],
				      shown(a, al, sa, sizeof(sa)), shown(b, bl, sb, sizeof(sb)));
			else if (al == bl && memcmp(a, b, al) == 0)
				failf(o, "%s differs after line %zu: expected %s, got %s",
				      expected_names[id], line, ae ? "more lines" : "the end",
				      be ? "more lines" : "the end");
			else
				failf(o, "%s differs at line %zu: expected %s got %s",
				      expected_names[id], line, shown(a, al, sa, sizeof(sa)),
				      shown(b, bl, sb, sizeof(sb)));
			return;
		}
		a = ae + 1, alen -= al + 1;
		b = be + 1, blen -= bl + 1;
		line++;
	}
}

struct span {
	const char *p;
	size_t n;
};

static int span_cmp(const void *x, const void *y)
{
	const struct span *a = x, *b = y;
	int d = memcmp(a->p, b->p, a->n < b->n ? a->n : b->n);

	return d ? d : (a->n > b->n) - (a->n < b->n);
}

/* Splits the query of a request line ("M /p?q V") into sorted parameters. */
static size_t sorted_params(const char *line, size_t len, struct span *out, struct span *rest)
{
	const char *q = memchr(line, '?', len), *sp, *end = line + len;
	size_t n = 0;

	/* the version follows the last space; the target may hold spaces */
	for (sp = end; sp > line && sp[-1] != ' '; sp--)
		;
	if (!q || sp <= q)
		return 0;
	rest[0] = (struct span){ line, (size_t)(q - line) };
	rest[1] = (struct span){ sp - 1, (size_t)(end - sp + 1) };
	for (const char *p = q + 1; p < sp - 1 && n < SUITE_MAX_PARAMS;) {
		const char *amp = memchr(p, '&', (size_t)(sp - 1 - p));
		const char *e = amp ? amp : sp - 1;

		out[n++] = (struct span){ p, (size_t)(e - p) };
		p = e + 1;
	}
	qsort(out, n, sizeof(*out), span_cmp);
	return n;
}

/* A signed request: byte for byte, but its query parameters in any order. */
static void check_signed(struct outcome *o, enum expected_id id, const struct buf *want,
			 const struct buf *got)
{
	static struct span pa[SUITE_MAX_PARAMS], pb[SUITE_MAX_PARAMS];
	struct span ra[2], rb[2];
	const char *ae = memchr(want->data, '\n', want->len);
	const char *be = memchr(got->data, '\n', got->len);
	size_t na, nb, i, al, bl;

	if (want->len == got->len && memcmp(want->data, got->data, got->len) == 0)
		return;
	al = ae ? (size_t)(ae - want->data) : want->len;
	bl = be ? (size_t)(be - got->data) : got->len;
	if (want->len - al != got->len - bl || memcmp(want->data + al, got->data + bl,
						      got->len - bl) != 0)
		goto differ;	/* the difference is not in the request line */
	na = sorted_params(want->data, al, pa, ra);
	nb = sorted_params(got->data, bl, pb, rb);
	if (na == 0 || na != nb || span_cmp(&ra[0], &rb[0]) || span_cmp(&ra[1], &rb[1]))
		goto differ;
	for (i = 0; i < na; i++)
		if (span_cmp(&pa[i], &pb[i]))
			goto differ;
	return;
differ:
	check_text(o, id, want, got->data, got->len);
}

static const char *json_str(json_object *obj, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* 1: true, 0: false, -1: absent or not a boolean */
static int ctx_bool(json_object *obj, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_boolean))
		return -1;
	return json_object_get_boolean(v) ? 1 : 0;
}

static int parse_context(const struct buf *text, struct context *cx, struct outcome *o)
{
	json_object *cred, *v;
	const char *ts, *end;
	struct tm tm;

	memset(cx, 0, sizeof(*cx));
	cx->expires = -1;
	cx->root = json_tokener_parse(text->data);
	if (!cx->root || !json_object_is_type(cx->root, json_type_object)) {
		failf(o, "context.json is not a JSON object");
		return 0;
	}
	if (!json_object_object_get_ex(cx->root, "credentials", &cred) ||
	    !json_object_is_type(cred, json_type_object)) {
		failf(o, "context.json: no credentials object");
		return 0;
	}
	cx->creds.access_key = json_str(cred, "access_key_id");
	cx->creds.secret_key = json_str(cred, "secret_access_key");
	cx->creds.session_token = json_str(cred, "token");
	cx->creds.region = json_str(cx->root, "region");
	cx->creds.service = json_str(cx->root, "service");
	ts = json_str(cx->root, "timestamp");
	cx->normalize = ctx_bool(cx->root, "normalize");
	cx->sign_body = ctx_bool(cx->root, "sign_body");
	cx->omit_token = ctx_bool(cx->root, "omit_session_token");
	if (!cx->creds.access_key || !cx->creds.secret_key || !cx->creds.region ||
	    !cx->creds.service || !ts || cx->normalize < 0) {
		failf(o, "context.json: access_key_id, secret_access_key, region, service, "
		      "timestamp (strings) and normalize (boolean) are required");
		return 0;
	}
	if (cx->sign_body < 0)
		cx->sign_body = 0;
	if (cx->omit_token < 0)
		cx->omit_token = 0;
	if (json_object_object_get_ex(cx->root, "expiration_in_seconds", &v)) {
		if (!json_object_is_type(v, json_type_int)) {
			failf(o, "context.json: expiration_in_seconds is not an integer");
			return 0;
		}
		cx->expires = json_object_get_int64(v);
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end) {
		failf(o, "context.json: timestamp %s is not YYYY-MM-DDTHH:MM:SSZ", ts);
		return 0;
	}
	cx->when = timegm(&tm);
	return 1;
}

static int is_blank_char(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* The request line "METHOD TARGET VERSION" of p[0..l) into the store. */
static int parse_request_line(struct request *rq, const char *p, size_t l, struct outcome *o)
{
	const char *sp1, *sp2;
	enum ap_err e;

	sp1 = memchr(p, ' ', l);
	for (sp2 = p + l; sp2 > p && sp2[-1] != ' '; sp2--)
		;
	if (!sp1 || sp2 - 1 <= sp1 + 1 || sp2 == p + l) {
		failf(o, "request.txt: the first line is not \"METHOD TARGET VERSION\"");
		return 0;
	}
	rq->method = rq->store.len;
	e = buf_add(&rq->store, p, (size_t)(sp1 - p) + 0);
	if (!e)
		e = buf_add(&rq->store, "", 1);
	rq->target = rq->store.len;
	rq->target_len = (size_t)(sp2 - 1 - (sp1 + 1));
	if (!e)
		e = buf_add(&rq->store, sp1 + 1, rq->target_len);
	if (!e)
		e = buf_add(&rq->store, "", 1);
	rq->version = rq->store.len;
	if (!e)
		e = buf_add(&rq->store, sp2, (size_t)(p + l - sp2));
	if (!e)
		e = buf_add(&rq->store, "", 1);
	if (e) {
		failf(o, "request.txt: %s", ap_err_str(e));
		return 0;
	}
	return 1;
}

/* One header line p[0..l): "Name:value", or a continuation of the last value. */
static int parse_header_line(struct request *rq, const char *p, size_t l, struct outcome *o)
{
	const char *colon;
	enum ap_err e;

	if (is_blank_char(*p)) {
		/* a folded line: the value goes on after one space */
		if (!rq->nheaders) {
			failf(o, "request.txt: a continuation line before any header");
			return 0;
		}
		rq->store.len--;	/* reopen the last value */
		e = buf_add(&rq->store, " ", 1);
		if (!e)
			e = buf_add(&rq->store, p, l);
		if (!e)
			e = buf_add(&rq->store, "", 1);
	} else {
		colon = memchr(p, ':', l);
		if (!colon || colon == p) {
			failf(o, "request.txt: header line without a name and ':'");
			return 0;
		}
		if (rq->nheaders == SIGV4_MAX_HEADERS) {
			failf(o, "request.txt: more than %d headers", SIGV4_MAX_HEADERS);
			return 0;
		}
		rq->name_off[rq->nheaders] = rq->store.len;
		e = buf_add(&rq->store, p, (size_t)(colon - p));
		if (!e)
			e = buf_add(&rq->store, "", 1);
		rq->value_off[rq->nheaders] = rq->store.len;
		if (!e)
			e = buf_add(&rq->store, colon + 1, l - (size_t)(colon + 1 - p));
		if (!e)
			e = buf_add(&rq->store, "", 1);
		rq->nheaders++;
	}
	if (e) {
		failf(o, "request.txt: %s", ap_err_str(e));
		return 0;
	}
	return 1;
}

/*
 * request.txt: "METHOD TARGET VERSION", header lines ("Name:value", a line
 * starting with a blank continues the previous value), an empty line, the
 * body. Without an empty line the body is empty.
 */
static int parse_request(struct request *rq, struct outcome *o)
{
	const char *p = rq->text.data, *end = p + rq->text.len, *le;
	size_t l;

	le = memchr(p, '\n', (size_t)(end - p));
	l = le ? (size_t)(le - p) : (size_t)(end - p);
	if (l && p[l - 1] == '\r')
		l--;
	if (!parse_request_line(rq, p, l, o))
		return 0;
	p = le ? le + 1 : end;
	rq->hdr_block = p;
	while (p < end) {
		le = memchr(p, '\n', (size_t)(end - p));
		l = le ? (size_t)(le - p) : (size_t)(end - p);
		if (l && p[l - 1] == '\r')
			l--;
		if (l == 0) {
			rq->hdr_len = (size_t)(p - rq->hdr_block);
			rq->body = le ? le + 1 : end;
			rq->body_len = (size_t)(end - rq->body);
			break;
		}
		if (!parse_header_line(rq, p, l, o))
			return 0;
		p = le ? le + 1 : end;
	}
	if (!rq->body) {
		rq->hdr_len = (size_t)(end - rq->hdr_block);
		rq->body = end;
	}
	/* pointers only now: the store no longer moves */
	for (size_t i = 0; i < rq->nheaders; i++) {
		rq->headers[i].name = rq->store.data + rq->name_off[i];
		rq->headers[i].value = rq->store.data + rq->value_off[i];
	}
	return 1;
}

/* The request as sent: the line, the original headers, the signer's, the body. */
static enum ap_err signed_request(const struct request *rq, const char *query,
				  const struct sigv4_out *out, struct buf *b)
{
	const char *target = rq->store.data + rq->target;
	const char *qm = memchr(target, '?', rq->target_len);
	enum ap_err e;

	buf_reset(b);
	e = buf_printf(b, "%s ", rq->store.data + rq->method);
	if (!e && query)
		e = buf_add(b, target, qm ? (size_t)(qm - target) : rq->target_len);
	else if (!e)
		e = buf_add(b, target, rq->target_len);
	if (!e && query)
		e = buf_printf(b, "?%s", query);
	if (!e)
		e = buf_printf(b, " %s\n", rq->store.data + rq->version);
	if (!e)
		e = buf_add(b, rq->hdr_block, rq->hdr_len);
	if (!e && rq->hdr_len && rq->hdr_block[rq->hdr_len - 1] != '\n')
		e = buf_add(b, "\n", 1);
	for (size_t i = 0; out && i < out->nheaders && !e; i++)
		e = buf_printf(b, "%s:%s\n", out->headers[i].name, out->headers[i].value);
	if (!e)
		e = buf_add(b, "\n", 1);
	if (!e)
		e = buf_add(b, rq->body, rq->body_len);
	return e;
}

/* One case: what it expects, its inputs, and what the signer made of them. */
struct casework {
	struct buf want[N_EXPECTED];	/* .data NULL: the file is absent */
	int want_header, want_query;
	struct buf ctxt, path_part, raw_path, query_out, sreq;
	struct context cx;
	struct request rq;
	struct sigv4_request sr;
	int flags;
	struct sigv4_trace tr;
	struct sigv4_out out;
	struct outcome o;
};

static void case_init(struct casework *w)
{
	memset(w, 0, sizeof(*w));
	for (int i = 0; i < N_EXPECTED; i++)
		buf_init(&w->want[i], SUITE_MAX_FILE);
	buf_init(&w->ctxt, SUITE_MAX_FILE);
	buf_init(&w->path_part, SUITE_MAX_FILE);
	buf_init(&w->raw_path, SUITE_MAX_FILE);
	buf_init(&w->query_out, SIGV4_MAX_CANONICAL);
	buf_init(&w->sreq, 2 * SUITE_MAX_FILE);
	buf_init(&w->tr.canonical_request, SIGV4_MAX_CANONICAL);
	buf_init(&w->tr.string_to_sign, SIGV4_MAX_CANONICAL);
	buf_init(&w->rq.text, SUITE_MAX_FILE);
	buf_init(&w->rq.store, 2 * SUITE_MAX_FILE);
}

static void case_free(struct casework *w)
{
	if (w->cx.root)
		json_object_put(w->cx.root);
	for (int i = 0; i < N_EXPECTED; i++)
		buf_free(&w->want[i]);
	buf_free(&w->ctxt);
	buf_free(&w->path_part);
	buf_free(&w->raw_path);
	buf_free(&w->query_out);
	buf_free(&w->sreq);
	buf_free(&w->tr.canonical_request);
	buf_free(&w->tr.string_to_sign);
	buf_free(&w->rq.text);
	buf_free(&w->rq.store);
}

/* The expected files present in casedir, the context and the request. */
static int load_case(struct casework *w, const char *casedir)
{
	char path[SUITE_MAX_PATH];
	int present = 0;
	enum ap_err e;

	for (int i = 0; i < N_EXPECTED; i++) {
		if (!join(path, casedir, expected_names[i], ".txt")) {
			failf(&w->o, "path too long");
			return 0;
		}
		e = read_file(path, &w->want[i]);
		if (e == AP_ERR_NOT_FOUND)
			continue;
		if (e) {
			failf(&w->o, "%s.txt: %s", expected_names[i], ap_err_str(e));
			return 0;
		}
		present++;
		if (i < Q_CANON)
			w->want_header = 1;
		else
			w->want_query = 1;
	}
	if (!present) {
		failf(&w->o, "no expected file (header-*.txt or query-*.txt)");
		return 0;
	}
	if (!join(path, casedir, "context.json", "") || read_file(path, &w->ctxt)) {
		failf(&w->o, "cannot read context.json");
		return 0;
	}
	if (!parse_context(&w->ctxt, &w->cx, &w->o))
		return 0;
	if (!join(path, casedir, "request.txt", "") || read_file(path, &w->rq.text)) {
		failf(&w->o, "cannot read request.txt");
		return 0;
	}
	return parse_request(&w->rq, &w->o);
}

/* The request to sign and its flags, from the parsed request and context. */
static int make_request(struct casework *w)
{
	const char *target = w->rq.store.data + w->rq.target;
	const char *qm = memchr(target, '?', w->rq.target_len);
	struct sigv4_request *sr = &w->sr;
	enum ap_err e;

	sr->method = w->rq.store.data + w->rq.method;
	sr->headers = w->rq.headers;
	sr->nheaders = w->rq.nheaders;
	sr->body = w->rq.body;
	sr->body_len = w->rq.body_len;
	sr->query = qm ? qm + 1 : NULL;	/* the target is NUL-terminated in the store */
	e = buf_add(&w->path_part, target, qm ? (size_t)(qm - target) : w->rq.target_len);
	if (e) {
		failf(&w->o, "request.txt: path: %s", ap_err_str(e));
		return 0;
	}
	if (w->cx.normalize)
		w->flags |= SIGV4_NORMALIZE_PATH;
	if (w->cx.sign_body)
		w->flags |= SIGV4_ADD_CONTENT_SHA256;
	if (w->cx.omit_token)
		w->flags |= SIGV4_UNSIGNED_TOKEN;
	if (strcmp(w->cx.creds.service, "s3") == 0) {
		/* the raw key, as the S3 client holds it */
		e = sigv4_uri_decode(w->path_part.data, w->path_part.len, &w->raw_path);
		if (e || strlen(w->raw_path.data) != w->raw_path.len) {
			failf(&w->o, "request.txt: the path does not decode");
			return 0;
		}
		sr->path = w->raw_path.data;
	} else {
		w->flags |= SIGV4_DOUBLE_ENCODE | SIGV4_PATH_ENCODED;
		sr->path = w->path_part.data;
	}
	return 1;
}

/* header-* files against the header mode. */
static void check_header_mode(struct casework *w)
{
	const struct buf *want = w->want;
	struct outcome *o = &w->o;
	enum ap_err e;

	e = sigv4_modes_sign_headers(&w->cx.creds, &w->sr, w->cx.when, w->flags, &w->out, &w->tr);
	if (e) {
		failf(o, "sigv4_modes_sign_headers: %s", ap_err_str(e));
		return;
	}
	if (want[H_CANON].data)
		check_text(o, H_CANON, &want[H_CANON], w->tr.canonical_request.data,
			   w->tr.canonical_request.len);
	if (want[H_STS].data)
		check_text(o, H_STS, &want[H_STS], w->tr.string_to_sign.data,
			   w->tr.string_to_sign.len);
	if (want[H_SIG].data)
		check_text(o, H_SIG, &want[H_SIG], w->out.signature, strlen(w->out.signature));
	if (want[H_SIGNED].data) {
		e = signed_request(&w->rq, NULL, &w->out, &w->sreq);
		if (e)
			failf(o, "header-signed-request: %s", ap_err_str(e));
		else
			check_signed(o, H_SIGNED, &want[H_SIGNED], &w->sreq);
	}
}

/* query-* files against presigning. */
static void check_query_mode(struct casework *w)
{
	const struct buf *want = w->want;
	struct outcome *o = &w->o;
	enum ap_err e;

	if (w->cx.expires < 1 || w->cx.expires > SIGV4_MAX_EXPIRES) {
		failf(o, "context.json: expiration_in_seconds missing or out of 1..%d",
		      SIGV4_MAX_EXPIRES);
		return;
	}
	e = sigv4_presign(&w->cx.creds, &w->sr, w->cx.when, (unsigned)w->cx.expires, w->flags,
			  &w->query_out, &w->tr);
	if (e) {
		failf(o, "sigv4_presign: %s", ap_err_str(e));
		return;
	}
	if (want[Q_CANON].data)
		check_text(o, Q_CANON, &want[Q_CANON], w->tr.canonical_request.data,
			   w->tr.canonical_request.len);
	if (want[Q_STS].data)
		check_text(o, Q_STS, &want[Q_STS], w->tr.string_to_sign.data,
			   w->tr.string_to_sign.len);
	if (want[Q_SIG].data)
		check_text(o, Q_SIG, &want[Q_SIG], w->tr.signature, strlen(w->tr.signature));
	if (want[Q_SIGNED].data) {
		e = signed_request(&w->rq, w->query_out.data, NULL, &w->sreq);
		if (e)
			failf(o, "query-signed-request: %s", ap_err_str(e));
		else
			check_signed(o, Q_SIGNED, &want[Q_SIGNED], &w->sreq);
	}
}

static void run_case(const char *dir, const char *name, int *passed, int *failed)
{
	struct casework w;
	char casedir[SUITE_MAX_PATH];

	case_init(&w);
	if (!join(casedir, dir, name, ""))
		failf(&w.o, "path too long");
	else if (load_case(&w, casedir) && make_request(&w)) {
		if (w.want_header)
			check_header_mode(&w);
		if (w.want_query)
			check_query_mode(&w);
	}
	if (w.o.failures) {
		if (w.o.failures > 1)
			printf("FAIL %s: %s (and %d more)\n", name, w.o.why, w.o.failures - 1);
		else
			printf("FAIL %s: %s\n", name, w.o.why);
		(*failed)++;
	} else {
		printf("ok   %s\n", name);
		(*passed)++;
	}
	case_free(&w);
}

static int not_hidden(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

/* Runs every sub-folder of dir as a case; a dir without any is a failure. */
static void run_dir(const char *dir, int *passed, int *failed)
{
	struct dirent **list = NULL;
	char path[SUITE_MAX_PATH];
	struct stat st;
	int n, i, cases = 0;

	n = scandir(dir, &list, not_hidden, alphasort);
	if (n < 0) {
		printf("FAIL %s: cannot list: %s\n", dir, strerror(errno));
		(*failed)++;
		return;
	}
	for (i = 0; i < n; i++) {
		if (join(path, dir, list[i]->d_name, "") && stat(path, &st) == 0 &&
		    S_ISDIR(st.st_mode) && cases++ < SUITE_MAX_CASES)
			run_case(dir, list[i]->d_name, passed, failed);
		free(list[i]);
	}
	free(list);
	if (cases > SUITE_MAX_CASES) {
		printf("FAIL %s: more than %d cases\n", dir, SUITE_MAX_CASES);
		(*failed)++;
	}
	if (!cases) {
		printf("FAIL %s: no case folders\n", dir);
		(*failed)++;
	}
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++)
		run_dir(argv[i], &passed, &failed);
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 && passed > 0 ? 0 : 1;
}
