/*
 * fuzz_fcgi.c - the FastCGI record codec (fcgi.h), the first parser every
 * byte from the web server meets: record headers, BEGIN_REQUEST, PARAMS
 * name-value pairs, STDIN drained, management records, padding.
 *
 * Input: one byte of chunking (the sizes the stream is cut into), then the
 * stream. It is fed twice, as conn.c feeds it: once whole, once cut into
 * chunks of 1 to 16 bytes, acting on every event the way a connection does
 * (fcgi_request_done() after the body or an abort, an answer to a
 * management query, stop at an error).
 *
 * Oracle: both feedings report the same events with the same request ids
 * and parameters (a record split across reads is the same record); every
 * call consumes at least one byte unless it needs more; decoded parameters
 * stay within FCGI_PARAMS_COUNT_MAX and are found again by fcgi_param();
 * the answer to GET_VALUES is one well-formed record.
 */
#include "fuzz.h"
#include "fcgi.h"

#define EVENTS_MAX 4096

struct trace {
	unsigned n;
	uint32_t ev[EVENTS_MAX];	/* event, with the id and a digest of what it carries */
	uint64_t digest[EVENTS_MAX];
};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ull;
	return h;
}

/* Walks the decoded pairs: each is found again by name (the first pair of
 * that name wins, as fcgi_param promises). */
static uint64_t check_params(const struct fcgi_parser *p)
{
	const char *c = p->decoded.data, *end = c ? c + p->decoded.len : NULL;
	uint64_t h = 0xcbf29ce484222325ull;
	size_t count = 0;

	FUZZ_CHECK(p->nparams <= FCGI_PARAMS_COUNT_MAX, "%zu parameters", p->nparams);
	while (c && c < end) {
		size_t nl = strlen(c);
		const char *v = c + nl + 1, *found = fcgi_param(p, c);

		FUZZ_CHECK(nl > 0 && nl <= FCGI_NAME_MAX, "name of %zu bytes", nl);
		FUZZ_CHECK(found && (found == v || found < c), "%s not found again", c);
		h = mix(h, c, nl + 1 + strlen(v) + 1);
		c = v + strlen(v) + 1;
		count++;
	}
	FUZZ_CHECK(count == p->nparams, "%zu pairs, nparams %zu", count, p->nparams);
	return h;
}

static void check_get_values(const struct fcgi_parser *p)
{
	struct buf out;
	const unsigned char *r;

	buf_init(&out, 2 * FCGI_MGMT_MAX);
	FUZZ_CHECK(fcgi_get_values_result(p, 64, 64, &out) == AP_OK, "GET_VALUES answer failed");
	r = (const unsigned char *)out.data;
	FUZZ_CHECK(out.len >= FCGI_HEADER_LEN && r[0] == 1 && r[1] == FCGI_GET_VALUES_RESULT &&
			   (size_t)(r[4] << 8 | r[5]) == out.len - FCGI_HEADER_LEN,
		   "GET_VALUES_RESULT record malformed (%zu bytes)", out.len);
	buf_free(&out);
}

/* What a connection does with an event; returns false when it would close. */
static bool act(struct fcgi_parser *p, enum fcgi_event ev, struct trace *t)
{
	uint64_t d = 0;

	switch (ev) {
	case FCGI_EV_BEGIN:
		d = (uint64_t)p->req_id << 32 | (uint64_t)p->role << 1 | p->keep_conn;
		break;
	case FCGI_EV_PARAMS:
		d = check_params(p);
		break;
	case FCGI_EV_STDIN_END:
	case FCGI_EV_ABORT:
		d = p->req_id;
		fcgi_request_done(p);
		break;
	case FCGI_EV_GET_VALUES:
		check_get_values(p);
		d = mix(0, p->mgmt.data, p->mgmt.len);
		break;
	case FCGI_EV_UNKNOWN_TYPE:
		d = p->unknown_type;
		break;
	case FCGI_EV_CANT_MPX:
		d = p->other_id;
		break;
	case FCGI_EV_ERROR:
		FUZZ_CHECK(p->error && *p->error, "an error without a reason");
		break;
	default:
		FUZZ_CHECK(0, "unknown event %d", (int)ev);
	}
	if (t->n < EVENTS_MAX) {
		t->ev[t->n] = (uint32_t)ev;
		t->digest[t->n] = d;
		t->n++;
	}
	return ev != FCGI_EV_ERROR;
}

static void feed(const uint8_t *s, size_t n, unsigned chunking, struct trace *t)
{
	struct fcgi_parser p;
	size_t off = 0, step = 0;

	fcgi_parser_init(&p);
	t->n = 0;
	while (off < n) {
		size_t avail = n - off, used = 0;
		enum fcgi_event ev;

		if (chunking) {
			size_t c = 1 + (chunking + step++ * 7) % 16;
			avail = c < avail ? c : avail;
		}
		/* each read's bytes in a buffer of exactly their size */
		uint8_t *chunk = malloc(avail);
		if (!chunk)
			abort();
		memcpy(chunk, s + off, avail);
		size_t coff = 0;
		bool open = true;
		while (coff < avail) {
			ev = fcgi_feed(&p, chunk + coff, avail - coff, &used);
			FUZZ_CHECK(used <= avail - coff, "used %zu of %zu", used, avail - coff);
			FUZZ_CHECK(used > 0 || ev != FCGI_EV_NONE, "no progress");
			coff += used;
			if (ev == FCGI_EV_NONE)
				continue;
			if (!(open = act(&p, ev, t)))
				break;
		}
		free(chunk);
		off += coff;
		if (!open)
			break;
	}
	fcgi_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct trace whole, cut;

	if (size < 1)
		return 0;
	feed(data + 1, size - 1, 0, &whole);
	feed(data + 1, size - 1, 1u + data[0], &cut);
	FUZZ_CHECK(whole.n == cut.n, "%u events whole, %u cut", whole.n, cut.n);
	for (unsigned i = 0; i < whole.n; i++)
		FUZZ_CHECK(whole.ev[i] == cut.ev[i] && whole.digest[i] == cut.digest[i],
			   "event %u: %u/%llx whole, %u/%llx cut", i, whole.ev[i],
			   (unsigned long long)whole.digest[i], cut.ev[i],
			   (unsigned long long)cut.digest[i]);
	return 0;
}
