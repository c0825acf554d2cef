/*
 * engine.c - curl_multi transfers with retries and body validation.
 *
 * A transfer is on the engine's list (oldest first) from submit until it
 * completes (callback, then freed) or is cancelled (freed, no callback).
 * While on the list it is either RUNNING (its easy handle is in the multi)
 * or WAITING (not in the multi: backing off before a retry until ready_ms,
 * or queued for a slot).
 *
 * Admission: at most max_streams transfers are in the multi at once, the
 * rest wait their turn in submission order. libcurl 7.88 opens a new
 * connection for every transfer beyond a full HTTP/2 connection's stream
 * limit (PIPEWAIT only waits for a connection whose protocol is not yet
 * known), so without this a 100-tile batch on a 50-stream connection opens
 * 51 TLS connections. With it, a process uses one connection to an HTTP/2
 * origin, and up to max_streams to an HTTP/1.1 one.
 *
 * Driving: libcurl's multi_socket API on the process's event loop (ev.h).
 * libcurl says which sockets to watch (on_socket) and when to wake
 * (on_curl_timer); the loop calls back when they are ready, and only then
 * does libcurl work, on exactly those sockets, with no scan of every
 * transfer. The engine's own timer (wake) covers what libcurl does not
 * know: backoff ends and deadlines of transfers waiting for a slot.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include "engine.h"
#include "clock.h"
#include "decimal.h"
#include "ev.h"
#include "log.h"

enum xstate { X_RUNNING, X_WAITING };

struct xfer {
	struct engine *eng;
	struct xfer *prev, *next;	/* engine list */
	CURL *easy;
	struct curl_slist *headers;
	enum xstate state;
	const unsigned char *body;	/* request body (PUT) */
	size_t body_len, body_off;
	size_t max_body;
	long long deadline_ms;		/* monotonic */
	long long ready_ms;		/* WAITING: when to retry */
	long long started_ms;		/* submitted */
	long long first_attempt_ms;	/* got its first slot (0: not yet) */
	int retries_left;
	bool require_length;
	bool background;
	bool too_large;
	struct xfer_result res;
	xfer_done_fn done;
	void *ud;
	char errbuf[CURL_ERROR_SIZE];
};

/* A socket libcurl asked us to watch. */
struct esock {
	struct ev_io io;
	struct engine *e;
	curl_socket_t fd;
	struct esock *prev, *next;	/* the engine's sockets */
};

struct engine {
	CURLM *multi;
	CURLSH *share;
	struct engine_opts o;
	struct ev_loop *loop;
	bool own_loop;
	struct ev_timer curl_timer, wake;
	struct esock *socks;
	struct xfer *head, *tail;	/* oldest first */
	unsigned active;	/* on the list */
	unsigned in_multi;	/* RUNNING */
	unsigned bg_in_multi;	/* RUNNING background ones */
	unsigned long long rng;
	bool dispatched;	/* a callback ran during this engine_run */
};

#define now_ms clock_ms

/* xorshift64*: only for retry jitter */
static unsigned long long rnd(struct engine *e)
{
	e->rng ^= e->rng >> 12;
	e->rng ^= e->rng << 25;
	e->rng ^= e->rng >> 27;
	return e->rng * 2685821657736338717ULL;
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp);
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp);
static void esock_free(struct engine *e, struct esock *s);

enum ap_err engine_new(const struct engine_opts *o, struct engine **out)
{
	return engine_new_on(o, NULL, out);
}

enum ap_err engine_new_on(const struct engine_opts *o, struct ev_loop *loop, struct engine **out)
{
	struct engine *e = calloc(1, sizeof(*e));

	if (!e)
		return AP_ERR_NOMEM;
	e->o = *o;
	e->loop = loop;
	if (!loop) {
		if (ev_new(&e->loop)) {
			free(e);
			return AP_ERR_NOMEM;
		}
		e->own_loop = true;
	}
	if (e->o.max_background <= 0 || e->o.max_background > e->o.max_streams / ENGINE_BACKGROUND_SHARE)
		e->o.max_background = e->o.max_streams / ENGINE_BACKGROUND_SHARE;
	if (e->o.max_background < 1)
		e->o.max_background = 1;
	e->rng = ((unsigned long long)now_ms() << 20) ^ (unsigned long long)getpid() ^
		 0x9E3779B97F4A7C15ULL;
	e->multi = curl_multi_init();
	e->share = curl_share_init();
	if (!e->multi || !e->share) {
		engine_free(e);
		return AP_ERR_NOMEM;
	}
	/* one process = one thread: the share needs no lock callbacks */
	curl_share_setopt(e->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(e->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	curl_multi_setopt(e->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	curl_multi_setopt(e->multi, CURLMOPT_MAX_HOST_CONNECTIONS, o->max_host_conns);
	curl_multi_setopt(e->multi, CURLMOPT_MAX_CONCURRENT_STREAMS, o->max_streams);
	if (o->max_total_conns > 0)
		curl_multi_setopt(e->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, o->max_total_conns);
	curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
	curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
	curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
	*out = e;
	return AP_OK;
}

struct ev_loop *engine_loop(const struct engine *e)
{
	return e->loop;
}

static void xfer_unlink(struct engine *e, struct xfer *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		e->head = x->next;
	if (x->next)
		x->next->prev = x->prev;
	else
		e->tail = x->prev;
	x->prev = x->next = NULL;
	e->active--;
}

/* Takes a RUNNING transfer's easy handle out of the multi. */
static void leave_multi(struct engine *e, struct xfer *x)
{
	if (x->state == X_RUNNING) {
		curl_multi_remove_handle(e->multi, x->easy);
		e->in_multi--;
		if (x->background)
			e->bg_in_multi--;
	}
	x->state = X_WAITING;
}

static void xfer_free(struct xfer *x)
{
	if (x->easy) {
		leave_multi(x->eng, x);
		curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->headers);
	buf_free(&x->res.body);
	free(x);
}

void engine_free(struct engine *e)
{
	if (!e)
		return;
	while (e->head) {
		struct xfer *x = e->head;
		xfer_unlink(e, x);
		xfer_free(x);
	}
	if (e->multi)
		curl_multi_cleanup(e->multi);
	while (e->socks)	/* the ones libcurl did not say goodbye to */
		esock_free(e, e->socks);
	if (e->share)
		curl_share_cleanup(e->share);
	if (e->loop) {
		ev_timer_stop(e->loop, &e->curl_timer);
		ev_timer_stop(e->loop, &e->wake);
	}
	if (e->own_loop)
		ev_free(e->loop);
	free(e);
}


/* ---- libcurl callbacks ---------------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n;

	if (x->res.body.len + len > x->max_body) {
		x->too_large = true;
		return 0;	/* aborts with CURLE_WRITE_ERROR */
	}
	if (buf_add(&x->res.body, p, len))
		return 0;
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t len = size * n, vlen;
	const char *v;

	if (len > 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* a new response (after 100-continue or a redirect): start over */
		x->res.etag[0] = '\0';
		return len;
	}
	if (len > 5 && strncasecmp(p, "etag:", 5) == 0) {
		v = p + 5;
		vlen = len - 5;
		while (vlen && (*v == ' ' || *v == '\t'))
			v++, vlen--;
		while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
			vlen--;
		if (vlen < sizeof(x->res.etag)) {
			memcpy(x->res.etag, v, vlen);
			x->res.etag[vlen] = '\0';
		}
	} else if (len > 15 && strncasecmp(p, "content-length:", 15) == 0) {
		/* refuse an oversize object before its body arrives; a malformed
		 * length is left to libcurl, and to the length check at the end */
		uint64_t cl;
		v = p + 15;
		vlen = len - 15;
		while (vlen && (*v == ' ' || *v == '\t'))
			v++, vlen--;
		while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
			vlen--;
		if (dec_parse_u64(v, vlen, UINT64_MAX, DEC_LEADING_ZEROS, &cl) == AP_OK &&
		    cl > x->max_body) {
			x->too_large = true;
			return 0;
		}
	}
	return len;
}

static size_t on_read(char *p, size_t size, size_t n, void *ud)
{
	struct xfer *x = ud;
	size_t room = size * n, left = x->body_len - x->body_off;

	if (room > left)
		room = left;
	memcpy(p, x->body + x->body_off, room);
	x->body_off += room;
	return room;
}

/* libcurl rewinds the body itself when it resends on a fresh connection
 * (a reused keep-alive connection that died, a refused HTTP/2 stream);
 * without this it fails the PUT with "necessary data rewind wasn't possible". */
static int on_seek(void *ud, curl_off_t off, int origin)
{
	struct xfer *x = ud;

	if (origin != SEEK_SET || off < 0 || (size_t)off > x->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	x->body_off = (size_t)off;
	return CURL_SEEKFUNC_OK;
}

/* ---- submitting ----------------------------------------------------------- */

static enum ap_err start_attempt(struct engine *e, struct xfer *x)
{
	long long left = x->deadline_ms - now_ms();

	if (left < 1)
		left = 1;
	buf_reset(&x->res.body);
	x->res.etag[0] = '\0';
	x->errbuf[0] = '\0';
	x->too_large = false;
	x->res.too_large = false;
	x->body_off = 0;
	x->res.attempts++;
	if (!x->first_attempt_ms)
		x->first_attempt_ms = now_ms();
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long)left);
	if (curl_multi_add_handle(e->multi, x->easy) != CURLM_OK)
		return AP_ERR_INTERNAL;
	x->state = X_RUNNING;
	e->in_multi++;
	if (x->background)
		e->bg_in_multi++;
	return AP_OK;
}

/* May x take a slot now? See "Admission" in engine.h. */
static bool may_start(const struct engine *e, const struct xfer *x)
{
	unsigned fg = e->in_multi - e->bg_in_multi;

	if (!x->background)
		return fg < (unsigned)e->o.max_streams;
	return e->bg_in_multi < (unsigned)e->o.max_background &&
	       e->in_multi < (unsigned)e->o.max_streams;
}

static void rearm(struct engine *e);
static void on_wake(struct ev_timer *t);

/* The request's header lines, plus "Expect:" before a body (no
 * 100-continue round trip). */
static enum ap_err build_headers(struct xfer *x, const struct xfer_spec *s)
{
	for (size_t i = 0; i <= s->nheaders; i++) {
		const char *line = i < s->nheaders ? s->headers[i] : s->body ? "Expect:" : NULL;
		struct curl_slist *l;

		if (!line)
			break;
		if (strlen(line) >= ENGINE_HEADER_LINE_MAX)
			return AP_ERR_TOO_LARGE;
		l = curl_slist_append(x->headers, line);
		if (!l)
			return AP_ERR_NOMEM;
		x->headers = l;
	}
	return AP_OK;
}

static void set_method(CURL *h, struct xfer *x, const struct xfer_spec *s)
{
	if (strcmp(s->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (strcmp(s->method, "PUT") == 0) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, x);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, x);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)s->body_len);
	} else if (strcmp(s->method, "GET") != 0) {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, s->method);
	}
}

/* The easy handle of x with every option of the engine. */
static enum ap_err make_easy(struct engine *e, struct xfer *x, const struct xfer_spec *s)
{
	CURL *h = x->easy = curl_easy_init();

	if (!h)
		return AP_ERR_NOMEM;
	curl_easy_setopt(h, CURLOPT_PRIVATE, x);
	curl_easy_setopt(h, CURLOPT_URL, s->url);
	curl_easy_setopt(h, CURLOPT_SHARE, e->share);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, x->headers);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	/* wait for the connection in progress to say whether it multiplexes,
	 * rather than opening one connection per parallel transfer */
	curl_easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, e->o.connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_DNS_CACHE_TIMEOUT, e->o.dns_ttl_s);
	curl_easy_setopt(h, CURLOPT_MAXAGE_CONN, e->o.conn_max_age_s);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, e->o.tls_verify ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, e->o.tls_verify ? 2L : 0L);
	if (e->o.ca_bundle)
		curl_easy_setopt(h, CURLOPT_CAINFO, e->o.ca_bundle);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	set_method(h, x, s);
	return AP_OK;
}

static struct xfer *xfer_new(struct engine *e, const struct xfer_spec *s, xfer_done_fn done,
			     void *ud)
{
	struct xfer *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->eng = e;
	x->done = done;
	x->ud = ud;
	x->max_body = s->max_body;
	x->require_length = s->require_length;
	x->background = s->background;
	x->retries_left = s->max_retries;
	x->body = s->body;
	x->body_len = s->body_len;
	x->started_ms = now_ms();
	x->deadline_ms = x->started_ms + (s->timeout_ms > 0 ? s->timeout_ms : 10000);
	x->state = X_WAITING;
	x->ready_ms = x->started_ms;
	buf_init(&x->res.body, s->max_body);
	return x;
}

enum ap_err engine_submit(struct engine *e, const struct xfer_spec *s, xfer_done_fn done,
			  void *ud, struct xfer **out)
{
	struct xfer *x;
	enum ap_err err;

	if (!e || strlen(s->url) >= ENGINE_URL_MAX || s->nheaders > ENGINE_HEADERS_MAX)
		return AP_ERR_INTERNAL;
	x = xfer_new(e, s, done, ud);
	if (!x)
		return AP_ERR_NOMEM;
	if ((err = build_headers(x, s)) || (err = make_easy(e, x, s))) {
		xfer_free(x);
		return err;
	}
	x->prev = e->tail;
	if (e->tail)
		e->tail->next = x;
	else
		e->head = x;
	e->tail = x;
	e->active++;
	if (may_start(e, x) && start_attempt(e, x)) {
		xfer_unlink(e, x);
		xfer_free(x);
		return AP_ERR_INTERNAL;
	}
	if (x->state == X_WAITING)
		rearm(e);	/* its deadline while it waits for a slot */
	if (out)
		*out = x;
	return AP_OK;
}

void engine_foreground(struct engine *e, struct xfer *x)
{
	if (!e || !x || !x->background)
		return;
	x->background = false;
	if (x->state == X_RUNNING)
		e->bg_in_multi--;
	else if (ev_timer_start(e->loop, &e->wake, 0, on_wake, e))	/* may start now */
		log_error("engine: cannot arm its timer");
}

void engine_cancel(struct engine *e, struct xfer *x)
{
	if (!e || !x)
		return;
	xfer_unlink(e, x);
	xfer_free(x);
}

/* ---- completion ------------------------------------------------------------ */

static bool retryable_curl(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

static void complete(struct engine *e, struct xfer *x)
{
	xfer_unlink(e, x);
	x->res.seconds = (double)(now_ms() - x->started_ms) / 1000.0;
	e->dispatched = true;
	if (x->done)
		x->done(&x->res, x->ud);
	xfer_free(x);
}

/* Backs off and retries if the deadline allows; false if it does not. */
static bool schedule_retry(struct engine *e, struct xfer *x)
{
	long long base, delay, now = now_ms();

	if (x->retries_left <= 0)
		return false;
	base = (long long)ENGINE_RETRY_BASE_MS << (x->res.attempts - 1 < 6 ? x->res.attempts - 1 : 6);
	if (base > ENGINE_RETRY_CAP_MS)
		base = ENGINE_RETRY_CAP_MS;
	/* "equal jitter": half fixed, half random, so a pool does not retry in step */
	delay = base / 2 + (long long)(rnd(e) % (unsigned long long)(base / 2 + 1));
	if (now + delay >= x->deadline_ms)
		return false;
	x->retries_left--;
	x->ready_ms = now + delay;
	x->state = X_WAITING;
	log_debug("retrying in %lld ms: %s", delay, x->res.error);
	return true;
}

static void on_finished(struct engine *e, struct xfer *x, CURLcode code)
{
	long status = 0;
	curl_off_t cl = -1;
	struct xfer_result *r = &x->res;

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
	leave_multi(e, x);	/* until restarted */
	r->status = status;
	r->err = AP_OK;
	r->cls = XC_OK;
	r->error[0] = '\0';

	if (code != CURLE_OK) {
		if (x->too_large) {
			r->err = AP_ERR_STORAGE;
			r->cls = XC_OBJECT;
			r->too_large = true;
			snprintf(r->error, sizeof(r->error), "object larger than %zu bytes", x->max_body);
		} else {
			r->err = code == CURLE_OPERATION_TIMEDOUT ? AP_ERR_TIMEOUT : AP_ERR_STORAGE;
			r->cls = XC_SERVICE;
			/* a transfer that waited for its slot most of its time and then ran
			 * out of it says more about this process than about the service */
			if (code == CURLE_OPERATION_TIMEDOUT &&
			    x->first_attempt_ms - x->started_ms > (x->deadline_ms - x->started_ms) / 2)
				r->cls = XC_LOCAL;
			snprintf(r->error, sizeof(r->error), "%.60s%s%.180s", curl_easy_strerror(code),
				 x->errbuf[0] ? ": " : "", x->errbuf);
			if (retryable_curl(code) && schedule_retry(e, x))
				return;
		}
	} else if (status >= 500 || status == 429) {
		snprintf(r->error, sizeof(r->error), "HTTP %ld", status);
		if (schedule_retry(e, x))
			return;
	} else if (x->require_length && status >= 200 && status < 300) {
		/* libcurl 7.88 may report a truncated HTTP/2 body as success */
		if (cl < 0 || (size_t)cl != r->body.len) {
			r->err = AP_ERR_STORAGE;
			r->cls = XC_OBJECT;
			if (cl < 0)
				snprintf(r->error, sizeof(r->error), "response without Content-Length");
			else
				snprintf(r->error, sizeof(r->error),
					 "truncated body: %zu of %lld bytes", r->body.len, (long long)cl);
			if (schedule_retry(e, x))
				return;
		}
	}
	if (r->err)
		buf_reset(&r->body);
	complete(e, x);
}

/* Starts waiting transfers whose time has come, oldest first, while slots
 * are free; a transfer whose deadline passed while queued times out. */
static void restart_ready(struct engine *e, long long now)
{
	for (struct xfer *x = e->head, *next; x; x = next) {
		next = x->next;
		if (x->state != X_WAITING || x->ready_ms > now)
			continue;
		if (now >= x->deadline_ms) {
			x->res.err = AP_ERR_TIMEOUT;
			x->res.cls = XC_LOCAL;
			snprintf(x->res.error, sizeof(x->res.error),
				 "timed out waiting for a connection slot");
			complete(e, x);
			next = e->head;	/* a callback may have changed the list */
			continue;
		}
		if (!may_start(e, x))
			continue;	/* still scanned: deadlines */
		if (start_attempt(e, x)) {
			x->res.err = AP_ERR_INTERNAL;
			x->res.cls = XC_LOCAL;
			snprintf(x->res.error, sizeof(x->res.error), "cannot restart transfer");
			complete(e, x);
			next = e->head;
		}
	}
}

/* When the wait list must be looked at again: the next backoff end, or the
 * next deadline of a queued transfer (-1: nothing waits). */
static long long next_ready(struct engine *e, long long now)
{
	long long t = -1, when;

	for (struct xfer *x = e->head; x; x = x->next) {
		if (x->state != X_WAITING)
			continue;
		when = x->ready_ms > now ? x->ready_ms : x->deadline_ms;
		if (t < 0 || when < t)
			t = when;
	}
	return t;
}

static void on_wake(struct ev_timer *t);

/* Arms the wake timer for the wait list (after any change to it). */
static void rearm(struct engine *e)
{
	long long now = now_ms(), t = next_ready(e, now);

	if (t < 0)
		ev_timer_stop(e->loop, &e->wake);
	else if (ev_timer_start(e->loop, &e->wake, t - now, on_wake, e))
		log_error("engine: cannot arm its timer");
}

/* Runs the callbacks of the transfers libcurl finished. */
static void collect(struct engine *e)
{
	int msgs;
	CURLMsg *m;

	while ((m = curl_multi_info_read(e->multi, &msgs))) {
		struct xfer *x = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		if (x)
			on_finished(e, x, m->data.result);
	}
	restart_ready(e, now_ms());
	rearm(e);
}

static void on_wake(struct ev_timer *t)
{
	struct engine *e = t->ud;

	restart_ready(e, now_ms());
	rearm(e);
}

static void act(struct engine *e, curl_socket_t fd, int mask)
{
	int running;

	curl_multi_socket_action(e->multi, fd, mask, &running);
	collect(e);
}

static void on_io(struct ev_io *w, unsigned events)
{
	struct esock *s = w->ud;
	int mask = (events & EV_READ ? CURL_CSELECT_IN : 0) | (events & EV_WRITE ? CURL_CSELECT_OUT : 0) |
		   (events & EV_HUP ? CURL_CSELECT_ERR : 0);

	act(s->e, s->fd, mask);
}

static void on_timer_due(struct ev_timer *t)
{
	act(t->ud, CURL_SOCKET_TIMEOUT, 0);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct engine *e = userp;

	(void)multi;
	if (timeout_ms < 0) {
		ev_timer_stop(e->loop, &e->curl_timer);
		return 0;
	}
	/* libcurl asks for 0 from inside its own calls: run on the next loop
	 * iteration, never recursively */
	return ev_timer_start(e->loop, &e->curl_timer, timeout_ms, on_timer_due, e) ? -1 : 0;
}

static void esock_free(struct engine *e, struct esock *s)
{
	ev_io_stop(&s->io);
	if (s->prev)
		s->prev->next = s->next;
	else
		e->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct engine *e = userp;
	struct esock *s = socketp;
	unsigned ev = (what == CURL_POLL_IN || what == CURL_POLL_INOUT ? EV_READ : 0) |
		      (what == CURL_POLL_OUT || what == CURL_POLL_INOUT ? EV_WRITE : 0);

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			curl_multi_assign(e->multi, fd, NULL);
			esock_free(e, s);
		}
		return 0;
	}
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -1;
		s->e = e;
		s->fd = fd;
		s->next = e->socks;
		if (e->socks)
			e->socks->prev = s;
		e->socks = s;
		curl_multi_assign(e->multi, fd, s);
	}
	return ev_io_set(e->loop, &s->io, fd, ev, on_io, s) ? -1 : 0;
}

void engine_run(struct engine *e, int timeout_ms, struct pollfd *extra, unsigned nextra)
{
	long long until = now_ms() + timeout_ms;

	(void)extra;
	(void)nextra;
	if (!e)
		return;
	e->dispatched = false;
	while (!e->dispatched && e->active) {
		long long left = until - now_ms();

		if (left <= 0)
			break;
		ev_run_once(e->loop, (int)left);
	}
}

unsigned engine_active(const struct engine *e)
{
	return e ? e->active : 0;
}
