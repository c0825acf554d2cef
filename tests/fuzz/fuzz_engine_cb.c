/*
 * fuzz_engine_cb.c - the engine's libcurl callbacks (engine.c): on_header
 * and on_body, fed the header lines and body pieces of one response as
 * libcurl would hand them over, through a fake transfer. engine.c is
 * included to reach them; no curl handle, engine or network is involved.
 *
 * Input: lines, each with its '\n' (a header line is passed with it, as
 * libcurl does; the pieces are exactly the bytes given, never terminated):
 *	M 1000			max_body of the transfer (first line only; else 4096)
 *	H Content-Length: 10	a header line (status lines too: "H HTTP/1.1 200 OK")
 *	B some bytes		a piece of body (the line without its '\n')
 * A callback that refuses (returns other than its length) ends the
 * response, as libcurl aborts the transfer.
 *
 * Oracle: engine.h. A body never grows past max_body, and what is kept is
 * the bytes given, in order; a piece that would pass max_body is refused
 * and marks the transfer too large; a Content-Length above max_body is
 * refused when its header arrives; only that refuses a header; an ETag is
 * kept trimmed and terminated when it fits, and a new status line forgets
 * it.
 *
 * What the harness assumes of engine.c is only this block (the front and
 * engine rewrite keeps the two callbacks' names and roles): adapt it if
 * struct xfer changes.
 */
#include "engine.c"
#include "fuzz.h"

#define FAKE_MAX_BODY_DEFAULT 4096
#define FAKE_MAX_BODY_LIMIT (1u << 20)

static struct xfer *fake_xfer(size_t max_body)
{
	struct xfer *x = calloc(1, sizeof(*x));

	if (!x)
		abort();
	x->max_body = max_body;
	buf_init(&x->res.body, max_body);
	return x;
}
#define XFER_BODY(x) (&(x)->res.body)
#define XFER_ETAG(x) ((x)->res.etag)
#define XFER_TOO_LARGE(x) ((x)->too_large)
static void fake_free(struct xfer *x)
{
	buf_free(&x->res.body);
	free(x);
}
/* ---- end of what the harness assumes of engine.c ---- */

/* After a name of n bytes: the value with blanks and CR/LF trimmed. */
static void header_value(const char *p, size_t len, size_t n, const char **v, size_t *vlen)
{
	*v = p + n;
	*vlen = len - n;
	while (*vlen && (**v == ' ' || **v == '\t'))
		(*v)++, (*vlen)--;
	while (*vlen && (*v)[*vlen - 1] && strchr("\r\n ", (*v)[*vlen - 1]))
		(*vlen)--;
}

/* A length all digits (leading zeros allowed) above max? A value past
 * 2^64 - 1 is not judged: on_header leaves it to libcurl, which keeps the
 * connection to read until it closes, and on_body's bound still holds. */
static int length_above(const char *v, size_t n, size_t max)
{
	uint64_t cl = 0;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(v[i] - '0');

		if (v[i] < '0' || v[i] > '9' || cl > (UINT64_MAX - d) / 10)
			return 0;
		cl = cl * 10 + d;
	}
	return cl > max;
}

static int feed_header(struct xfer *x, const char *p, size_t len, size_t max_body)
{
	char before[ENGINE_ETAG_MAX];
	const char *v;
	size_t vlen, r;

	memcpy(before, XFER_ETAG(x), sizeof(before));
	r = on_header((char *)p, 1, len, x);
	FUZZ_CHECK(r == len || r == 0, "on_header returned %zu of %zu", r, len);
	FUZZ_CHECK(strnlen(XFER_ETAG(x), ENGINE_ETAG_MAX) < ENGINE_ETAG_MAX, "etag unterminated");
	if (len > 15 && !strncasecmp(p, "content-length:", 15)) {
		header_value(p, len, 15, &v, &vlen);
		if (length_above(v, vlen, max_body)) {
			FUZZ_CHECK(r == 0 && XFER_TOO_LARGE(x), "Content-Length %.*s > %zu accepted",
				   (int)vlen, v, max_body);
			return 0;
		}
	}
	FUZZ_CHECK(r == len, "header refused: %.*s", (int)len, p);
	if (len > 5 && !strncmp(p, "HTTP/", 5)) {
		FUZZ_CHECK(XFER_ETAG(x)[0] == '\0', "etag kept across responses");
	} else if (len > 5 && !strncasecmp(p, "etag:", 5)) {
		header_value(p, len, 5, &v, &vlen);
		/* byte for byte: a NUL inside ends the C string early, nothing worse */
		if (vlen < ENGINE_ETAG_MAX)
			FUZZ_CHECK(!memcmp(XFER_ETAG(x), v, vlen) && XFER_ETAG(x)[vlen] == '\0',
				   "etag '%s' for '%.*s'", XFER_ETAG(x), (int)vlen, v);
		else
			FUZZ_CHECK(!strcmp(XFER_ETAG(x), before), "an over-long etag changed it");
	} else {
		FUZZ_CHECK(!strcmp(XFER_ETAG(x), before), "etag changed by %.*s", (int)len, p);
	}
	return 1;
}

static int feed_body(struct xfer *x, const char *p, size_t len, size_t max_body)
{
	struct buf *b = XFER_BODY(x);
	size_t had = b->len, r = on_body((char *)p, 1, len, x);

	FUZZ_CHECK(b->len <= max_body, "body of %zu bytes > %zu", b->len, max_body);
	if (had + len > max_body) {
		FUZZ_CHECK(r != len && XFER_TOO_LARGE(x) && b->len == had,
			   "a piece past max_body accepted");
		return 0;
	}
	FUZZ_CHECK(r == len && b->len == had + len && (!len || !memcmp(b->data + had, p, len)),
		   "piece of %zu bytes kept as %zu", len, b->len - had);
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0, max_body = FAKE_MAX_BODY_DEFAULT;
	struct xfer *x;
	int going = 1;

	if (size > 2 && data[0] == 'M' && data[1] == ' ') {
		size_t m = 0;

		for (pos = 2; pos < size && data[pos] >= '0' && data[pos] <= '9'; pos++)
			m = (m * 10 + (size_t)(data[pos] - '0')) % FAKE_MAX_BODY_LIMIT;
		max_body = m;
		while (pos < size && data[pos++] != '\n')
			;
	}
	x = fake_xfer(max_body);
	while (going && pos + 2 <= size) {
		const uint8_t *nl = memchr(data + pos + 2, '\n', size - pos - 2);
		size_t end = nl ? (size_t)(nl - data) + 1 : size;
		/* a copy of exactly the piece: ASan sees any read past it */
		size_t n = end - pos - 2;
		char *piece = malloc(n ? n : 1);
		char kind = (char)data[pos];

		if (!piece)
			abort();
		memcpy(piece, data + pos + 2, n);
		if (kind == 'H')
			going = feed_header(x, piece, n, max_body);
		else if (kind == 'B')
			going = feed_body(x, piece, n && piece[n - 1] == '\n' ? n - 1 : n, max_body);
		free(piece);
		pos = end;
	}
	fake_free(x);
	return 0;
}
