/*
 * fuzz_query.c - query decoding (request.h): query_next and query_get over
 * an arbitrary query string.
 *
 * Oracle: a reference decoder written here from the contract in request.h
 * (parameters split at '&', name and value at the first '=', %XX with two
 * hex digits, never %00, '+' as space, a result that does not fit its
 * buffer is refused). query_next must agree with it on every parameter, for
 * a roomy and for a tight value buffer, and always make progress;
 * query_get must return the first parameter of its name, as documented.
 */
#include "fuzz.h"
#include "error.h"
#include "request.h"

#define NAME_CAP 64	/* what query_get and the endpoints use */
#define TIGHT_CAP 8

static int hexv(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decoded length of s[0..n) into cap bytes (NUL included), or -1. */
static long ref_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%') {
			if (n - i < 3 || hexv(s[i + 1]) < 0 || hexv(s[i + 2]) < 0)
				return -1;
			c = (char)(hexv(s[i + 1]) * 16 + hexv(s[i + 2]));
			if (c == '\0')
				return -1;
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (o + 1 >= cap)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return (long)o;
}

struct ref_param {
	const char *p, *eq, *amp;	/* eq == amp: no '=' */
};

/* The next parameter at or after *cur; 0 at the end. */
static int ref_next(const char **cur, struct ref_param *r)
{
	const char *p = *cur;

	while (*p == '&')
		p++;
	if (!*p)
		return 0;
	r->p = p;
	r->amp = strchr(p, '&');
	if (!r->amp)
		r->amp = p + strlen(p);
	r->eq = memchr(p, '=', (size_t)(r->amp - p));
	if (!r->eq)
		r->eq = r->amp;
	*cur = r->amp;
	return 1;
}

/* Walks q with query_next and the reference side by side. */
static void check_walk(const char *q, size_t valuecap)
{
	const char *cur = q, *rcur = q;
	char name[NAME_CAP], value[REQ_PARAM_VALUE_MAX + 1];
	char rname[NAME_CAP], rvalue[REQ_PARAM_VALUE_MAX + 1];
	struct ref_param rp;

	for (;;) {
		const char *before = cur;
		size_t vlen = (size_t)-1;
		enum ap_err e = query_next(&cur, name, sizeof(name), value, valuecap, &vlen);
		long rn, rv;

		if (!ref_next(&rcur, &rp)) {
			FUZZ_CHECK(e == AP_ERR_NOT_FOUND, "a parameter after the end (%d)", e);
			return;
		}
		FUZZ_CHECK(cur == rcur && cur > before, "cursor at %td, want %td", cur - q, rcur - q);
		rn = ref_decode(rp.p, (size_t)(rp.eq - rp.p), rname, sizeof(rname));
		if (rn < 0) {
			FUZZ_CHECK(e == AP_ERR_BAD_REQUEST && name[0] == '\0',
				   "bad name accepted (%d)", e);
			continue;
		}
		rv = rp.eq == rp.amp ? ref_decode("", 0, rvalue, valuecap) :
		     ref_decode(rp.eq + 1, (size_t)(rp.amp - rp.eq - 1), rvalue, valuecap);
		if (rv < 0) {
			FUZZ_CHECK(e == AP_ERR_BAD_REQUEST, "bad value accepted");
			continue;
		}
		FUZZ_CHECK(e == AP_OK, "good parameter refused (%d)", e);
		FUZZ_CHECK(strcmp(name, rname) == 0, "name '%s', want '%s'", name, rname);
		FUZZ_CHECK(vlen == (size_t)rv && strlen(value) == vlen && memcmp(value, rvalue, vlen) == 0,
			   "value of %zu bytes, want %ld", vlen, rv);
	}
}

/* query_get as documented: the first parameter of that name, at most
 * REQ_QUERY_PARAMS_MAX parameters read. */
static enum ap_err ref_get(const char *q, const char *want, char *value, size_t cap)
{
	char n[NAME_CAP];
	struct ref_param rp;
	int count = 0;

	while (ref_next(&q, &rp)) {
		if (++count > REQ_QUERY_PARAMS_MAX)
			return AP_ERR_BAD_REQUEST;
		if (ref_decode(rp.p, (size_t)(rp.eq - rp.p), n, sizeof(n)) < 0 || strcmp(n, want))
			continue;
		if (rp.eq == rp.amp)
			return ref_decode("", 0, value, cap) < 0 ? AP_ERR_BAD_REQUEST : AP_OK;
		return ref_decode(rp.eq + 1, (size_t)(rp.amp - rp.eq - 1), value, cap) < 0 ?
		       AP_ERR_BAD_REQUEST : AP_OK;
	}
	return AP_ERR_NOT_FOUND;
}

static void check_get(const char *q, const char *name, size_t cap)
{
	char v[REQ_PARAM_VALUE_MAX + 1], rv[REQ_PARAM_VALUE_MAX + 1];
	enum ap_err e = query_get(q, name, v, cap), re = ref_get(q, name, rv, cap);

	FUZZ_CHECK(e == re, "query_get(%s) = %d, want %d", name, e, re);
	FUZZ_CHECK(e != AP_OK || strcmp(v, rv) == 0, "query_get(%s) = '%s', want '%s'", name, v, rv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const names[] = {"tiles", "token", "z", "x0", "prefetch", "ext", "a b"};
	char *q = fuzz_strndup(data, size);
	char first[NAME_CAP];
	struct ref_param rp;
	const char *cur = q;

	check_walk(q, REQ_PARAM_VALUE_MAX + 1);
	check_walk(q, TIGHT_CAP);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		check_get(q, names[i], REQ_PARAM_VALUE_MAX + 1);
	/* the name of the first parameter, so that query_get finds something */
	if (ref_next(&cur, &rp) &&
	    ref_decode(rp.p, (size_t)(rp.eq - rp.p), first, sizeof(first)) > 0) {
		check_get(q, first, REQ_PARAM_VALUE_MAX + 1);
		check_get(q, first, TIGHT_CAP);
	}
	free(q);
	return 0;
}
