/*
 * conn.c - a FastCGI connection on the event loop; see conn.h.
 *
 * Lifetime: a connection may be closed from inside one of its own
 * callbacks (a handler finding the peer gone, a response finishing on a
 * connection that is not kept). Every entry point from the loop counts
 * itself in `busy`; conn_close() then only marks the connection dead and
 * releases what it holds, and the outermost entry point frees it on the
 * way out. Nothing touches a connection after it was freed.
 *
 * Output: one response at a time as an iovec array over bytes of its own
 * (record headers, the CGI head, END_REQUEST) and the body, borrowed from
 * the response (a pinned cache tile or the response's buffer) until it is
 * out. Management answers (GET_VALUES, UNKNOWN_TYPE, CANT_MPX) wait in a
 * small buffer of their own and go out between responses.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include "conn.h"
#include "api.h"
#include "ev.h"
#include "fcgi.h"
#include "log.h"
#include "observe.h"

#define CONN_CTL_MAX (16 * 1024)	/* management answers waiting at most */
#define CONN_IOV_BATCH 512		/* iovecs per writev */
/* Own output bytes of the largest response: its head, a record header per
 * FCGI_RECORD_MAX bytes of content, the empty STDOUT and END_REQUEST. */
#define CONN_OB_MAX (RESP_HEADERS_MAX + 1024 + \
		     FCGI_HEADER_LEN * ((RESP_BODY_MAX + RESP_HEADERS_MAX + 1024) / FCGI_RECORD_MAX + 3))

/* DRAINING: answered on a connection that is not kept, waiting for the rest
 * of the request body (or the close) before closing, so that the web server
 * is never cut off while it still writes. */
enum cstate { C_IDLE, C_READING, C_HELD, C_HANDLING, C_WRITING, C_DRAINING };

struct conn {
	struct conn_owner *o;
	int fd;
	struct ev_io io;
	struct ev_timer timer;
	enum cstate state;
	int busy;		/* entry points on the stack */
	bool dead;		/* closed; freed when busy drops to 0 */
	bool closing;		/* close once the current response is out */
	bool counted;		/* request_started() was called */
	struct fcgi_parser p;
	unsigned char *in;	/* read but not yet fed (held for capacity) */
	size_t in_len, in_off;
	struct request req;
	struct response res;
	struct call call;
	struct obs_req obs;	/* its request id and arrival (metrics, access log) */
	/* output */
	struct buf ob;		/* bytes the iovecs point into */
	struct iovec *iov;
	size_t niov, iov_cap, iov_pos;
	bool sending_response;	/* the output is the current response */
	bool feeding;		/* inside feed(): it goes on by itself */
	struct buf ctl;		/* management answers waiting */
};

static void on_io(struct ev_io *w, unsigned events);
static void on_timer(struct ev_timer *t);
static void feed(struct conn *c);
static void flush(struct conn *c);

/* ---- life ---------------------------------------------------------------------- */

static void enter(struct conn *c)
{
	c->busy++;
}

/* Leaves an entry point; frees the connection if it died meanwhile. */
static void leave(struct conn *c)
{
	struct conn_owner *o = c->o;

	if (--c->busy > 0 || !c->dead)
		return;
	fcgi_parser_free(&c->p);
	buf_free(&c->ob);
	buf_free(&c->ctl);
	free(c->iov);
	free(c->in);
	o->closed(o, c);
	free(c);
}

static void set_timer(struct conn *c, long long seconds)
{
	struct ev_loop *l = c->o->a->loop;

	if (seconds <= 0)
		ev_timer_stop(l, &c->timer);
	else if (ev_timer_start(l, &c->timer, seconds * 1000, on_timer, c))
		log_error("connection: cannot arm its timer");
}

static void watch(struct conn *c)
{
	unsigned ev = 0;

	if (c->dead)
		return;
	if (c->state != C_HELD)
		ev |= EV_READ;
	if (c->iov_pos < c->niov)
		ev |= EV_WRITE;
	if (ev_io_set(c->o->a->loop, &c->io, c->fd, ev, on_io, c))
		log_error("connection: cannot watch fd %d", c->fd);
}

/* The request is over (answered, aborted or its connection gone). */
static void end_request(struct conn *c)
{
	if (c->state == C_HANDLING)
		api_cancel(&c->call);
	response_free(&c->res);
	fcgi_request_done(&c->p);
	if (c->counted) {
		c->counted = false;
		c->o->request_ended(c->o);
	}
	c->state = C_IDLE;
}

void conn_close(struct conn *c)
{
	if (c->dead)
		return;
	enter(c);
	end_request(c);
	ev_io_stop(&c->io);
	ev_timer_stop(c->o->a->loop, &c->timer);
	close(c->fd);
	c->fd = -1;
	c->dead = true;
	leave(c);
}

bool conn_held(const struct conn *c)
{
	return !c->dead && c->state == C_HELD;
}

bool conn_busy(const struct conn *c)
{
	return !c->dead && (c->state != C_IDLE || c->iov_pos < c->niov);
}

bool conn_shutdown(struct conn *c)
{
	if (!conn_busy(c)) {
		conn_close(c);
		return true;
	}
	c->closing = true;
	return false;
}

struct conn *conn_open(struct conn_owner *o, int fd)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c || !(c->in = malloc(CONN_READ_CHUNK))) {
		free(c);
		close(fd);
		return NULL;
	}
	c->o = o;
	c->fd = fd;
	c->state = C_IDLE;
	fcgi_parser_init(&c->p);
	buf_init(&c->ob, CONN_OB_MAX);
	buf_init(&c->ctl, CONN_CTL_MAX);
	enter(c);
	watch(c);
	set_timer(c, CONN_IDLE_MAX_S);
	leave(c);
	return c;
}

/* ---- output ------------------------------------------------------------------------ */

static bool iov_room(struct conn *c, size_t n)
{
	struct iovec *v;

	if (n <= c->iov_cap)
		return true;
	v = realloc(c->iov, n * sizeof(*v));
	if (!v)
		return false;
	c->iov = v;
	c->iov_cap = n;
	return true;
}

static void iov_add(struct conn *c, const void *p, size_t n)
{
	if (n) {
		c->iov[c->niov].iov_base = (void *)p;
		c->iov[c->niov].iov_len = n;
		c->niov++;
	}
}

/* Lays out head + body as STDOUT records, the empty STDOUT and END_REQUEST. */
static enum ap_err queue_response(struct conn *c)
{
	uint16_t id = c->p.req_id;
	const unsigned char *body;
	size_t blen = response_body(&c->res, (const void **)&body), hlen, content, nrec, off;
	const unsigned char *head;
	enum ap_err e;

	buf_reset(&c->ob);
	if ((e = response_head(&c->res, &c->ob)))
		return e;
	hlen = c->ob.len;
	content = hlen + blen;
	nrec = fcgi_records_for(content);
	/* room first, so that nothing moves while the iovecs point into it */
	if (blen > SIZE_MAX / 4 || (e = buf_reserve(&c->ob, nrec * FCGI_HEADER_LEN + FCGI_HEADER_LEN + 16)))
		return e ? e : AP_ERR_TOO_LARGE;
	if (!iov_room(c, 3 * nrec + 2))
		return AP_ERR_NOMEM;
	head = (const unsigned char *)c->ob.data;
	c->niov = c->iov_pos = 0;
	for (off = 0; off < content; off += FCGI_RECORD_MAX) {
		size_t n = content - off < FCGI_RECORD_MAX ? content - off : FCGI_RECORD_MAX;
		unsigned char *h = (unsigned char *)c->ob.data + c->ob.len;

		fcgi_header(h, FCGI_STDOUT, id, n);
		c->ob.len += FCGI_HEADER_LEN;
		iov_add(c, h, FCGI_HEADER_LEN);
		if (off < hlen)
			iov_add(c, head + off, (off + n < hlen ? off + n : hlen) - off);
		if (off + n > hlen) {
			size_t b0 = off > hlen ? off - hlen : 0;
			iov_add(c, body + b0, off + n - hlen - b0);
		}
	}
	fcgi_header((unsigned char *)c->ob.data + c->ob.len, FCGI_STDOUT, id, 0);
	fcgi_end_request((unsigned char *)c->ob.data + c->ob.len + FCGI_HEADER_LEN, id, 0,
			 FCGI_REQUEST_COMPLETE);
	iov_add(c, c->ob.data + c->ob.len, FCGI_HEADER_LEN + 16);
	c->ob.len += FCGI_HEADER_LEN + 16;
	c->sending_response = true;
	return AP_OK;
}

/* Management answers go out when no response is on the way. */
static void queue_ctl(struct conn *c)
{
	if (c->iov_pos < c->niov || !c->ctl.len || !iov_room(c, 1))
		return;
	buf_reset(&c->ob);
	if (buf_add(&c->ob, c->ctl.data, c->ctl.len))
		return;
	buf_reset(&c->ctl);
	c->niov = c->iov_pos = 0;
	iov_add(c, c->ob.data, c->ob.len);
	c->sending_response = false;
}

/* A management answer (or an END_REQUEST of a refused request). */
static void add_ctl(struct conn *c, const void *p, size_t n)
{
	if (buf_add(&c->ctl, p, n)) {
		log_warn("FastCGI connection floods management records: closed");
		conn_close(c);
		return;
	}
	queue_ctl(c);
}

static void written(struct conn *c)
{
	c->niov = c->iov_pos = 0;
	if (c->sending_response) {
		c->sending_response = false;
		if (!c->p.keep_conn && !c->p.stdin_done && !c->closing) {
			/* the parser keeps the request until its body's end arrives */
			response_free(&c->res);
			if (c->counted) {
				c->counted = false;
				c->o->request_ended(c->o);
			}
			shutdown(c->fd, SHUT_WR);
			c->state = C_DRAINING;
			set_timer(c, CONN_READ_TIMEOUT_S);
			if (c->in_off < c->in_len && !c->feeding)
				feed(c);
			return;
		}
		end_request(c);
		if (c->closing || !c->p.keep_conn) {
			conn_close(c);
			return;
		}
		set_timer(c, CONN_IDLE_MAX_S);
	}
	queue_ctl(c);
	if (c->iov_pos < c->niov)
		flush(c);
	else if (c->in_off < c->in_len && !c->feeding)
		feed(c);	/* what came in while we were answering */
}

static void flush(struct conn *c)
{
	while (!c->dead && c->iov_pos < c->niov) {
		size_t cnt = c->niov - c->iov_pos;
		ssize_t n = writev(c->fd, c->iov + c->iov_pos,
				   (int)(cnt < CONN_IOV_BATCH ? cnt : CONN_IOV_BATCH));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			watch(c);	/* backpressure: wait until the web server reads */
			set_timer(c, CONN_WRITE_TIMEOUT_S);
			return;
		}
		if (n < 0) {
			log_debug("FastCGI connection: write failed: %s", strerror(errno));
			conn_close(c);
			return;
		}
		while (n > 0) {
			struct iovec *v = &c->iov[c->iov_pos];
			size_t k = (size_t)n < v->iov_len ? (size_t)n : v->iov_len;

			v->iov_base = (char *)v->iov_base + k;
			v->iov_len -= k;
			n -= (ssize_t)k;
			if (v->iov_len == 0)
				c->iov_pos++;
		}
	}
	if (!c->dead) {
		written(c);
		watch(c);
	}
}

/* ---- requests ---------------------------------------------------------------------- */

static void respond(struct conn *c)
{
	obs_end(c->o->a, &c->obs, &c->req, api_endpoint(&c->call), api_tile_source(&c->call),
		&c->res);
	c->state = C_WRITING;
	if (queue_response(c)) {
		/* cannot even lay it out (out of memory): drop the connection */
		conn_close(c);
		return;
	}
	flush(c);
}

static void on_call_done(struct call *call)
{
	struct conn *c = call->ud;

	enter(c);
	log_set_request(c->obs.id);
	respond(c);
	log_set_request(NULL);
	leave(c);
}

static const char *getparam(const char *name, void *ud)
{
	return fcgi_param(ud, name);
}

static void dispatch(struct conn *c)
{
	struct app *a = c->o->a;
	enum ap_err pe;

	obs_begin(&c->obs, fcgi_param(&c->p, "HTTP_X_REQUEST_ID"));
	pe = request_parse(&c->req, getparam, &c->p);
	c->state = C_HANDLING;
	set_timer(c, 0);
	response_init(&c->res);
	c->counted = true;
	c->o->request_started(c->o);
	memset(&c->call, 0, sizeof(c->call));
	c->call.req = &c->req;
	log_set_request(c->obs.id);	/* what this request logs before it waits */
	if (pe) {
		api_cors(a, &c->res);
		response_error(&c->res, &c->req, pe);
		respond(c);
		log_set_request(NULL);
		return;
	}
	c->res.no_body = c->req.method == M_HEAD;
	c->call.a = a;
	c->call.res = &c->res;
	c->call.done = on_call_done;
	c->call.ud = c;
	api_start(&c->call);
	log_set_request(NULL);
}

void conn_resume(struct conn *c)
{
	if (c->dead || c->state != C_HELD || !c->o->may_start(c->o))
		return;
	enter(c);
	dispatch(c);
	if (!c->dead) {
		watch(c);
		if (c->state == C_IDLE && c->in_off < c->in_len)
			feed(c);
	}
	leave(c);
}

static void on_begin(struct conn *c)
{
	unsigned char end[16];

	if (c->p.role != FCGI_RESPONDER) {
		fcgi_end_request(end, c->p.req_id, 0, FCGI_UNKNOWN_ROLE);
		fcgi_request_done(&c->p);
		add_ctl(c, end, sizeof(end));
		return;
	}
	c->state = C_READING;
	set_timer(c, CONN_READ_TIMEOUT_S);
}

static void on_abort(struct conn *c)
{
	unsigned char end[16];

	if (c->state == C_WRITING)
		return;		/* part of it is out already: let it finish */
	fcgi_end_request(end, c->p.req_id, 0, FCGI_REQUEST_COMPLETE);
	end_request(c);
	add_ctl(c, end, sizeof(end));
}

/* One parser event; false to stop feeding for now. */
static bool on_event(struct conn *c, enum fcgi_event ev)
{
	unsigned char rec[16];
	struct buf b;

	switch (ev) {
	case FCGI_EV_NONE:
		return true;
	case FCGI_EV_STDIN_END:
		if (c->state == C_DRAINING)
			conn_close(c);	/* answered, and the web server is done writing */
		return !c->dead;
	case FCGI_EV_BEGIN:
		on_begin(c);
		return true;
	case FCGI_EV_PARAMS:
		if (!c->o->may_start(c->o)) {
			c->state = C_HELD;	/* the in-flight limit: wait for conn_resume */
			return false;
		}
		dispatch(c);
		return true;
	case FCGI_EV_ABORT:
		on_abort(c);
		return true;
	case FCGI_EV_GET_VALUES:
		buf_init(&b, FCGI_MGMT_MAX + FCGI_HEADER_LEN);
		if (!fcgi_get_values_result(&c->p, c->o->max_conns, c->o->max_requests, &b))
			add_ctl(c, b.data, b.len);
		buf_free(&b);
		return true;
	case FCGI_EV_UNKNOWN_TYPE:
		fcgi_unknown_type(rec, c->p.unknown_type);
		add_ctl(c, rec, sizeof(rec));
		return true;
	case FCGI_EV_CANT_MPX:
		fcgi_end_request(rec, c->p.other_id, 0, FCGI_CANT_MPX_CONN);
		add_ctl(c, rec, sizeof(rec));
		return true;
	case FCGI_EV_ERROR:
		log_warn("FastCGI connection: %s: closed", c->p.error);
		conn_close(c);
		return false;
	}
	return true;
}

/* Feeds what was read to the parser, event by event. */
static void feed(struct conn *c)
{
	c->feeding = true;
	while (!c->dead && c->in_off < c->in_len && c->state != C_HELD) {
		size_t used = 0;
		enum fcgi_event ev = fcgi_feed(&c->p, c->in + c->in_off, c->in_len - c->in_off, &used);

		c->in_off += used;
		if (!on_event(c, ev) || ev == FCGI_EV_NONE)
			break;
	}
	if (c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
	c->feeding = false;
}

static void read_some(struct conn *c)
{
	ssize_t n;

	if (c->in_off < c->in_len)
		return;		/* held input first */
	n = read(c->fd, c->in, CONN_READ_CHUNK);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		/* the web server closed it (or it broke): a request in flight is
		 * cancelled, its storage work goes on for the caches */
		conn_close(c);
		return;
	}
	c->in_len = (size_t)n;
	c->in_off = 0;
	if (c->state == C_IDLE || c->state == C_READING)
		set_timer(c, c->state == C_IDLE ? CONN_IDLE_MAX_S : CONN_READ_TIMEOUT_S);
	feed(c);
}

static void on_io(struct ev_io *w, unsigned events)
{
	struct conn *c = w->ud;

	enter(c);
	if (events & EV_WRITE)
		flush(c);
	if (!c->dead && (events & (EV_READ | EV_HUP)) && c->state != C_HELD)
		read_some(c);
	if (!c->dead)
		watch(c);
	leave(c);
}

static void on_timer(struct ev_timer *t)
{
	struct conn *c = t->ud;

	enter(c);
	if (c->state == C_IDLE || c->state == C_DRAINING)
		log_debug("FastCGI connection idle: closed");
	else
		log_warn("FastCGI connection stalled (%s): closed",
			 c->state == C_WRITING ? "the web server does not read its answer" :
						 "a request arrives too slowly");
	conn_close(c);
	leave(c);
}
