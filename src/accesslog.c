/*
 * accesslog.c - the access log and request ids; see accesslog.h.
 *
 * A line is built whole in a stack buffer: the fixed fields before and
 * after the target are formatted first, so the target gets exactly the
 * room that is left and the line can never pass ACCESSLOG_LINE_MAX.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "accesslog.h"
#include "hex.h"
#include "log.h"

#define TOKEN_PARAM "token"
#define TOKEN_MASK "***"
#define CUT_MARK "..."
/* the longest raw spelling of "token": every letter percent-encoded */
#define TOKEN_RAW_MAX (3 * (sizeof(TOKEN_PARAM) - 1))

struct accesslog {
	int fd;
	char *path;
	int seen;		/* reopen_generation when this fd was opened */
	char queued[ACCESSLOG_LINE_MAX];	/* whole lines not yet written */
	size_t nqueued;
};

/* Bumped by accesslog_request_reopen (maybe in a signal handler). */
static int reopen_generation;

/* ---- formatting --------------------------------------------------------- */

/* Writes escaped bytes into a fixed room, keeping space for CUT_MARK. */
struct room {
	char *p;
	size_t left;		/* bytes that may still be written, CUT_MARK excluded */
	bool cut;
};

static bool plain(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '"' && c != '\\';
}

static void put(struct room *r, const char *s, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n && !r->cut; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t need = plain(c) ? 1 : 4;

		if (need > r->left) {
			r->cut = true;
			break;
		}
		if (need == 1) {
			*r->p++ = (char)c;
		} else {
			*r->p++ = '\\';
			*r->p++ = 'x';
			*r->p++ = digits[c >> 4];
			*r->p++ = digits[c & 15];
		}
		r->left -= need;
	}
}

/* One separator, never escaped (the room counted it). */
static void put_blank(struct room *r)
{
	if (r->cut || r->left == 0) {
		r->cut = true;
		return;
	}
	*r->p++ = ' ';
	r->left--;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Does the raw parameter name s[0..n) decode to "token" (any case)? */
static bool is_token_name(const char *s, size_t n)
{
	char d[sizeof(TOKEN_PARAM)];
	size_t k = 0;

	if (n > TOKEN_RAW_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%' && i + 2 < n && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
			c = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (k == sizeof(TOKEN_PARAM) - 1)
			return false;
		d[k++] = c;
	}
	d[k] = '\0';
	return strcasecmp(d, TOKEN_PARAM) == 0;
}

/* The query with every token value masked. */
static void put_query(struct room *r, const char *q)
{
	while (*q && !r->cut) {
		size_t len = strcspn(q, "&");
		const char *eq = memchr(q, '=', len);
		size_t nlen = eq ? (size_t)(eq - q) : len;

		if (eq && is_token_name(q, nlen)) {
			put(r, q, nlen + 1);
			put(r, TOKEN_MASK, sizeof(TOKEN_MASK) - 1);
		} else {
			put(r, q, len);
		}
		q += len;
		if (*q == '&')
			put(r, q++, 1);
	}
}

static bool id_sane(const char *s)
{
	size_t n = 0;

	if (!s)
		return false;
	for (; s[n]; n++) {
		char c = s[n];

		if (n == REQUEST_ID_MAX ||
		    !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return n > 0;
}

static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

/* "2026-11-24T09:26:14.123Z PID ID " into out; its length. */
static size_t format_head(const struct accesslog_entry *e, char *out, size_t cap)
{
	static time_t when_sec = -1;	/* the second when[] shows: made once a second */
	static char when[32];
	struct timespec ts;
	struct tm tm;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != when_sec) {
		gmtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
		when_sec = ts.tv_sec;
	}
	n = snprintf(out, cap, "%s.%03ldZ %ld %.*s ", when, ts.tv_nsec / 1000000, (long)getpid(),
		     REQUEST_ID_MAX, id_sane(e->request_id) ? e->request_id : "-");
	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

size_t accesslog_format(const struct accesslog_entry *e, char *out)
{
	char tail[128];
	long long us = e->duration_us > 0 ? e->duration_us : 0;
	size_t head, tlen;
	struct room r;
	int n;

	n = snprintf(tail, sizeof(tail), " %d %" PRIu64 " %.32s %lld.%06lld", e->status, e->bytes,
		     or_dash(e->source), us / 1000000, us % 1000000);
	tlen = n < 0 ? 0 : (size_t)n < sizeof(tail) ? (size_t)n : sizeof(tail) - 1;
	head = format_head(e, out, ACCESSLOG_LINE_MAX);
	r.p = out + head;
	/* room for the method, the target, the tail, the newline, the cut mark */
	r.left = ACCESSLOG_LINE_MAX - head - tlen - 1 - (sizeof(CUT_MARK) - 1);
	r.cut = false;
	put(&r, or_dash(e->method), strnlen(or_dash(e->method), 16));
	put_blank(&r);
	put(&r, or_dash(e->path), strlen(or_dash(e->path)));
	if (e->query && *e->query) {
		put(&r, "?", 1);
		put_query(&r, e->query);
	}
	if (r.cut) {
		memcpy(r.p, CUT_MARK, sizeof(CUT_MARK) - 1);
		r.p += sizeof(CUT_MARK) - 1;
	}
	memcpy(r.p, tail, tlen);
	r.p += tlen;
	*r.p = '\0';
	return (size_t)(r.p - out);
}

/* ---- the file --------------------------------------------------------------- */

/* O_NONBLOCK: a FIFO without a reader fails at once, and a full pipe drops
 * a line instead of stalling a request; regular files ignore it. */
static enum ap_err open_fd(const char *path, int *fd_out, char *why, size_t whylen)
{
	struct stat st;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0640);

	if (fd < 0) {
		snprintf(why, whylen, "ACCESS_LOG: cannot open %s: %s", path,
			 errno == ENXIO ? "a FIFO without a reader" : strerror(errno));
		return AP_ERR_IO;
	}
	if (fstat(fd, &st) != 0 ||
	    !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode))) {
		snprintf(why, whylen, "ACCESS_LOG: %s is not a regular file, FIFO or device", path);
		close(fd);
		return AP_ERR_CONFIG;
	}
	*fd_out = fd;
	return AP_OK;
}

enum ap_err accesslog_open(const char *path, struct accesslog **out, char *why, size_t whylen)
{
	struct accesslog *l;
	enum ap_err e;

	*out = NULL;
	if (!path || path[0] != '/') {
		snprintf(why, whylen, "ACCESS_LOG: %s is not an absolute path", path ? path : "(none)");
		return AP_ERR_CONFIG;
	}
	l = calloc(1, sizeof(*l));
	if (!l || !(l->path = strdup(path))) {
		free(l);
		return AP_ERR_NOMEM;
	}
	l->seen = __atomic_load_n(&reopen_generation, __ATOMIC_SEQ_CST);
	if ((e = open_fd(path, &l->fd, why, whylen))) {
		free(l->path);
		free(l);
		return e;
	}
	*out = l;
	return AP_OK;
}

void accesslog_close(struct accesslog *l)
{
	if (!l)
		return;
	if (accesslog_flush(l))
		log_error("ACCESS_LOG: the last lines could not be written");
	close(l->fd);
	free(l->path);
	free(l);
}

void accesslog_request_reopen(void)
{
	__atomic_add_fetch(&reopen_generation, 1, __ATOMIC_SEQ_CST);
}

static void reopen(struct accesslog *l, int gen)
{
	char why[512];
	int fd;

	l->seen = gen;
	if (open_fd(l->path, &fd, why, sizeof(why))) {
		log_error("%s; the access log goes on into the old file", why);
		return;
	}
	close(l->fd);
	l->fd = fd;
}

/* One write() of whole lines, into the file the path names now. */
static enum ap_err write_lines(struct accesslog *l, const char *p, size_t n)
{
	int gen = __atomic_load_n(&reopen_generation, __ATOMIC_SEQ_CST);
	ssize_t w;

	if (gen != l->seen)
		reopen(l, gen);
	do
		w = write(l->fd, p, n);
	while (w < 0 && errno == EINTR);	/* nothing was written: safe to retry */
	return w == (ssize_t)n ? AP_OK : AP_ERR_IO;
}

enum ap_err accesslog_write(struct accesslog *l, const struct accesslog_entry *e)
{
	char line[ACCESSLOG_LINE_MAX + 1];
	size_t n;
	enum ap_err qe = accesslog_flush(l);	/* keeps the lines in order */

	n = accesslog_format(e, line);
	line[n++] = '\n';
	return write_lines(l, line, n) ? AP_ERR_IO : qe;
}

enum ap_err accesslog_queue(struct accesslog *l, const struct accesslog_entry *e)
{
	char line[ACCESSLOG_LINE_MAX + 1];
	size_t n = accesslog_format(e, line);
	enum ap_err fe = AP_OK;

	line[n++] = '\n';
	if (l->nqueued + n > sizeof(l->queued))
		fe = accesslog_flush(l);
	if (n > sizeof(l->queued))	/* a line of the limit exactly, with its newline */
		return write_lines(l, line, n) ? AP_ERR_IO : fe;
	memcpy(l->queued + l->nqueued, line, n);
	l->nqueued += n;
	return fe;
}

enum ap_err accesslog_flush(struct accesslog *l)
{
	size_t n = l->nqueued;

	if (n == 0)
		return AP_OK;
	l->nqueued = 0;	/* written or lost: never written twice */
	return write_lines(l, l->queued, n);
}

/* ---- request ids -------------------------------------------------------------- */

void request_id_make(const char *header, char *out)
{
	static pid_t owner;
	static uint32_t prefix, counter;
	unsigned char raw[8];
	pid_t pid;

	if (id_sane(header)) {
		memcpy(out, header, strlen(header) + 1);
		return;
	}
	pid = getpid();
	if (pid != owner) {	/* first call, or a forked child: a new prefix */
		if (getrandom(&prefix, sizeof(prefix), GRND_NONBLOCK) != sizeof(prefix))
			prefix = (uint32_t)pid * 2654435761u ^ (uint32_t)time(NULL);
		owner = pid;
		counter = 0;
	}
	counter++;
	for (int i = 0; i < 4; i++) {
		raw[i] = (unsigned char)(prefix >> (24 - 8 * i));
		raw[4 + i] = (unsigned char)(counter >> (24 - 8 * i));
	}
	hex_encode(raw, sizeof(raw), out);
}
