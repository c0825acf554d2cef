/*
 * redis.c - a hiredis asynchronous context on the process's event loop,
 * with the deadlines and the circuit breaker hiredis 0.14 does not have;
 * see redis.h.
 *
 * Every command is an internal slot (struct rslot) in a FIFO of the
 * connection: hiredis's callbacks get the slot, never the caller's rcmd, so
 * a caller may cancel and free its rcmd at any time (the slot then simply
 * has no one to tell). hiredis answers in order; the head of the FIFO is
 * the oldest command and its deadline arms the one timer.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <hiredis.h>
#include <async.h>
#include "redis.h"
#include "breaker.h"
#include "clock.h"
#include "decimal.h"
#include "ev.h"
#include "log.h"

#define REDIS_LOG_INTERVAL_MS 10000

struct rslot {
	struct rcmd *c;			/* NULL: cancelled */
	struct rconn *rc;
	struct rslot *next;
	long long deadline_ms;
	bool probe, internal;
};

struct rconn {
	struct redis_target t;
	char ip[64];			/* resolved once, at start */
	char unresolved[160];		/* why not, if it could not be */
	bool setup_failed;		/* AUTH or SELECT refused on this connection */
	long timeout_ms;
	struct ev_loop *loop;
	redisAsyncContext *ac;
	struct ev_io io;
	unsigned want;			/* EV_READ | EV_WRITE asked by hiredis */
	struct ev_timer timer;
	struct rslot *head, *tail;
	unsigned npending;
	struct breaker br;
	enum ap_err drop_reason;	/* why the connection is being dropped */
	unsigned long long commands, errors, timeouts;
	unsigned long long outcome[RCMD_OUTCOMES];	/* callers' commands, by how they ended */
	long long last_log_ms;
	char last_error[160];
	long long last_error_ms;	/* when (0: never) */
};

/* ---- REDIS_URL ------------------------------------------------------------------ */

static enum ap_err bad_url(char *why, size_t whylen, const char *what)
{
	snprintf(why, whylen, "REDIS_URL: %s (redis://[:password@]host[:port][/db] or "
		 "unix:///path/redis.sock[?db=N])", what);
	return AP_ERR_CONFIG;
}

static enum ap_err parse_db(const char *s, size_t n, int *db, char *why, size_t whylen)
{
	uint64_t v;

	if (n == 0)
		return AP_OK;
	if (dec_parse_u64(s, n, 1023, 0, &v))
		return bad_url(why, whylen, "the database must be a number from 0 to 1023");
	*db = (int)v;
	return AP_OK;
}

static enum ap_err parse_unix(const char *p, struct redis_target *t, char *why, size_t whylen)
{
	const char *q = strchr(p, '?');
	size_t n = q ? (size_t)(q - p) : strlen(p);

	t->unix_socket = true;
	if (n == 0 || p[0] != '/' || n >= sizeof(t->host))
		return bad_url(why, whylen, "unix:// needs an absolute socket path");
	memcpy(t->host, p, n);
	t->host[n] = '\0';
	if (q && strncmp(q, "?db=", 4) != 0)
		return bad_url(why, whylen, "the only parameter is ?db=N");
	return q ? parse_db(q + 4, strlen(q + 4), &t->db, why, whylen) : AP_OK;
}

/* The password (everything between ':' and the last '@', taken as is),
 * or none; *rest is what follows. */
static enum ap_err parse_password(const char *p, struct redis_target *t, const char **rest,
				  char *why, size_t whylen)
{
	const char *at = strrchr(p, '@'), *pw;
	size_t n;

	*rest = p;
	if (!at)
		return AP_OK;
	pw = memchr(p, ':', (size_t)(at - p));
	n = pw ? (size_t)(at - pw - 1) : 0;
	if (!pw || pw != p || n == 0 || n >= sizeof(t->password))
		return bad_url(why, whylen, "credentials must be ':password@' (no user name)");
	memcpy(t->password, pw + 1, n);
	t->password[n] = '\0';
	*rest = at + 1;
	return AP_OK;
}

/* host, [v6] or v4 address, then :port and /db, both optional */
static enum ap_err parse_tcp(const char *p, struct redis_target *t, char *why, size_t whylen)
{
	const char *host, *end, *after;
	uint64_t port = 6379;
	enum ap_err e = parse_password(p, t, &p, why, whylen);

	if (e)
		return e;
	if (*p == '[') {
		host = p + 1;
		end = strchr(host, ']');
		if (!end)
			return bad_url(why, whylen, "an IPv6 address needs its closing ']'");
		after = end + 1;
	} else {
		host = p;
		end = host + strcspn(host, ":/");
		after = end;
	}
	if (end == host)
		return bad_url(why, whylen, "no host");
	if ((size_t)(end - host) >= sizeof(t->host))
		return bad_url(why, whylen, "host name too long");
	/* a bracket outside its place would make the URL mean two things */
	if (memchr(host, '[', (size_t)(end - host)) || memchr(host, ']', (size_t)(end - host)))
		return bad_url(why, whylen, "a '[' or ']' inside the host");
	memcpy(t->host, host, (size_t)(end - host));
	t->host[end - host] = '\0';
	if (*after == ':') {
		size_t n = strcspn(after + 1, "/");

		if (dec_parse_u64(after + 1, n, 65535, 0, &port) || port == 0)
			return bad_url(why, whylen, "the port must be a number from 1 to 65535");
		after += 1 + n;
	}
	t->port = (int)port;
	if (*after == '/')
		return parse_db(after + 1, strlen(after + 1), &t->db, why, whylen);
	return *after ? bad_url(why, whylen, "unexpected text after the host") : AP_OK;
}

enum ap_err redis_parse_url(const char *url, struct redis_target *t, char *why, size_t whylen)
{
	memset(t, 0, sizeof(*t));
	if (!url || strlen(url) >= REDIS_URL_MAX)
		return bad_url(why, whylen, "missing or too long");
	if (strncmp(url, "unix://", 7) == 0)
		return parse_unix(url + 7, t, why, whylen);
	if (strncmp(url, "redis://", 8) == 0)
		return parse_tcp(url + 8, t, why, whylen);
	return bad_url(why, whylen, "unknown scheme");
}

/* ---- the connection -------------------------------------------------------------------- */

static void note_error(struct rconn *rc, const char *what)
{
	long long now = clock_ms();

	snprintf(rc->last_error, sizeof(rc->last_error), "%.150s", what);
	rc->last_error_ms = now;
	if (rc->last_log_ms == 0 || now - rc->last_log_ms >= REDIS_LOG_INTERVAL_MS) {
		log_warn("redis: %s", what);
		rc->last_log_ms = now;
	}
}

static void arm(struct rconn *rc)
{
	if (!rc->head)
		ev_timer_stop(rc->loop, &rc->timer);
	else if (ev_timer_start(rc->loop, &rc->timer, rc->head->deadline_ms - clock_ms(),
				rc->timer.fn, rc))
		log_error("redis: cannot arm its timer");
}

static void on_io(struct ev_io *w, unsigned events)
{
	struct rconn *rc = w->ud;

	if (rc->ac && (events & (EV_READ | EV_HUP)))
		redisAsyncHandleRead(rc->ac);	/* may drop the connection */
	if (rc->ac && (events & EV_WRITE))
		redisAsyncHandleWrite(rc->ac);
}

static void watch(struct rconn *rc)
{
	if (!rc->ac)
		return;
	if (ev_io_set(rc->loop, &rc->io, rc->ac->c.fd, rc->want, on_io, rc))
		log_error("redis: cannot watch its socket");
}

static void hook_add_read(void *p) { struct rconn *rc = p; rc->want |= EV_READ; watch(rc); }
static void hook_del_read(void *p) { struct rconn *rc = p; rc->want &= ~EV_READ; watch(rc); }
static void hook_add_write(void *p) { struct rconn *rc = p; rc->want |= EV_WRITE; watch(rc); }
static void hook_del_write(void *p) { struct rconn *rc = p; rc->want &= ~EV_WRITE; watch(rc); }

static void hook_cleanup(void *p)
{
	struct rconn *rc = p;

	rc->want = 0;
	ev_io_stop(&rc->io);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct rconn *rc = ac->data;

	(void)status;
	rc->ac = NULL;	/* hiredis frees it after this; its callbacks ran already */
	rc->drop_reason = AP_OK;
	ev_io_stop(&rc->io);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct rconn *rc = ac->data;
	char why[200];

	if (status == REDIS_OK)
		return;
	snprintf(why, sizeof(why), "cannot connect to %.64s: %.80s",
		 rc->t.unix_socket ? rc->t.host : rc->ip, ac->errstr[0] ? ac->errstr : "failed");
	note_error(rc, why);
	/* hiredis frees ac when this returns, without calling on_disconnect
	 * (it never was connected): forget it here; its pending commands fail
	 * through their callbacks as it is freed */
	rc->ac = NULL;
	rc->drop_reason = AP_ERR_STORAGE;
	ev_io_stop(&rc->io);
}

/* Delivers a slot's outcome (if anyone still waits) and frees it. */
static void finish_slot(struct rconn *rc, struct rslot *s, redisReply *r, enum ap_err e)
{
	struct rcmd *c = s->c;

	breaker_report(&rc->br, e ? BREAKER_FAILURE : BREAKER_SUCCESS, s->probe);
	if (e)
		rc->errors++;
	if (!s->internal)
		rc->outcome[!e ? RCMD_OK : e == AP_ERR_TIMEOUT ? RCMD_TIMEOUT : RCMD_ERROR]++;
	free(s);
	if (c) {
		c->rc = NULL;
		c->done(c, e ? NULL : r, e, c->ud);
	}
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rconn *rc = ac->data;
	struct rslot *s = privdata;
	redisReply *r = reply;
	enum ap_err e = AP_OK;

	/* replies come in order: s is the head */
	rc->head = s->next;
	if (!rc->head)
		rc->tail = NULL;
	rc->npending--;
	if (!r) {
		e = rc->drop_reason ? rc->drop_reason : AP_ERR_STORAGE;
	} else if (r->type == REDIS_REPLY_ERROR) {
		char why[200];

		/* the commands behind a refused AUTH fail with NOAUTH: the
		 * AUTH's own answer is the reason worth keeping */
		snprintf(why, sizeof(why), "%s%.150s", s->internal ? "AUTH or SELECT refused: " : "",
			 r->str ? r->str : "error reply");
		if (s->internal || !rc->setup_failed)
			note_error(rc, why);
		rc->setup_failed |= s->internal;
		e = AP_ERR_STORAGE;
	}
	finish_slot(rc, s, r, e);
	arm(rc);
}

static void on_deadline(struct ev_timer *t)
{
	struct rconn *rc = t->ud;

	if (!rc->head || rc->head->deadline_ms > clock_ms()) {
		arm(rc);
		return;
	}
	rc->timeouts++;
	note_error(rc, "no reply in time (REDIS_TIMEOUT_MS): connection dropped");
	rc->drop_reason = AP_ERR_TIMEOUT;
	if (rc->ac)
		redisAsyncFree(rc->ac);	/* every outstanding command fails */
	rc->ac = NULL;
	rc->drop_reason = AP_OK;
}

static enum ap_err resolve(struct rconn *rc, char *why, size_t whylen)
{
	struct addrinfo hints, *res = NULL;

	if (rc->t.unix_socket)
		return AP_OK;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	/* once, at start: hiredis would resolve names on every connect, blocking */
	if (getaddrinfo(rc->t.host, NULL, &hints, &res) != 0 || !res ||
	    getnameinfo(res->ai_addr, res->ai_addrlen, rc->ip, sizeof(rc->ip), NULL, 0, NI_NUMERICHOST)) {
		if (res)
			freeaddrinfo(res);
		snprintf(why, whylen, "REDIS_URL: cannot resolve the host %.100s", rc->t.host);
		return AP_ERR_CONFIG;
	}
	freeaddrinfo(res);
	return AP_OK;
}

enum ap_err rconn_new(const struct redis_target *t, long timeout_ms, struct ev_loop *loop,
		      struct rconn **out)
{
	struct rconn *rc = calloc(1, sizeof(*rc));
	char why[160];
	enum ap_err e;

	*out = NULL;
	if (!rc)
		return AP_ERR_NOMEM;
	rc->t = *t;
	rc->timeout_ms = timeout_ms;
	rc->loop = loop;
	rc->timer.fn = on_deadline;
	breaker_init(&rc->br, REDIS_FAILURE_THRESHOLD, REDIS_COOLDOWN_MS);
	/* fail open: a name that does not resolve leaves Redis skipped (health
	 * says why), not the service down */
	e = resolve(rc, why, sizeof(why));
	if (e) {
		log_error("%s: the shared tier stays off until a restart; an IP address in "
			  "REDIS_URL needs no lookup", why);
		snprintf(rc->unresolved, sizeof(rc->unresolved), "%s", why);
	}
	*out = rc;
	return AP_OK;
}

void rconn_free(struct rconn *rc)
{
	if (!rc)
		return;
	if (rc->ac)
		redisAsyncFree(rc->ac);
	ev_timer_stop(rc->loop, &rc->timer);
	while (rc->head) {	/* not reached: hiredis called every callback */
		struct rslot *s = rc->head;
		rc->head = s->next;
		free(s);
	}
	free(rc);
}

/* Queues an internal command (AUTH, SELECT) ahead of the callers'. */
static void internal(struct rconn *rc, int argc, const char **argv);

static bool connect_now(struct rconn *rc)
{
	redisAsyncContext *ac;
	char why[160], db[16];

	if (rc->unresolved[0]) {
		note_error(rc, rc->unresolved);
		return false;
	}
	ac = rc->t.unix_socket ? redisAsyncConnectUnix(rc->t.host) : redisAsyncConnect(rc->ip, rc->t.port);
	if (!ac || ac->err) {
		snprintf(why, sizeof(why), "cannot connect: %s", ac ? ac->errstr : "out of memory");
		note_error(rc, why);
		if (ac)
			redisAsyncFree(ac);
		return false;
	}
	ac->data = rc;
	ac->ev.data = rc;
	ac->ev.addRead = hook_add_read;
	ac->ev.delRead = hook_del_read;
	ac->ev.addWrite = hook_add_write;
	ac->ev.delWrite = hook_del_write;
	ac->ev.cleanup = hook_cleanup;
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	rc->ac = ac;
	rc->want = 0;
	rc->setup_failed = false;
	hook_add_write(rc);	/* the connect completes when the socket is writable */
	if (rc->t.password[0])
		internal(rc, 2, (const char *[]){"AUTH", rc->t.password});
	if (rc->t.db) {
		snprintf(db, sizeof(db), "%d", rc->t.db);
		internal(rc, 2, (const char *[]){"SELECT", db});
	}
	return true;
}

static struct rslot *enqueue(struct rconn *rc, struct rcmd *c, bool probe, int argc,
			     const char **argv, const size_t *argvlen)
{
	struct rslot *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->c = c;
	s->rc = rc;
	s->probe = probe;
	s->internal = c == NULL;
	s->deadline_ms = clock_ms() + rc->timeout_ms;
	if (redisAsyncCommandArgv(rc->ac, on_reply, s, argc, argv, argvlen) != REDIS_OK) {
		free(s);
		return NULL;
	}
	if (rc->tail)
		rc->tail->next = s;
	else
		rc->head = s;
	rc->tail = s;
	rc->npending++;
	if (rc->head == s)
		arm(rc);
	return s;
}

static void internal(struct rconn *rc, int argc, const char **argv)
{
	if (!enqueue(rc, NULL, false, argc, argv, NULL))
		note_error(rc, "cannot queue a command");
}

bool rconn_available(struct rconn *rc)
{
	return rc && breaker_state(&rc->br) != BREAKER_OPEN;
}

void redis_command(struct rconn *rc, struct rcmd *c, int argc, const char **argv,
		   const size_t *argvlen)
{
	bool probe = false;

	c->rc = NULL;
	c->cancelled = false;
	if (!breaker_allow(&rc->br, &probe) && !c->background) {
		c->done(c, NULL, AP_ERR_UNAVAILABLE, c->ud);
		return;
	}
	rc->commands++;
	if (rc->npending >= REDIS_PENDING_MAX || (!rc->ac && !connect_now(rc))) {
		breaker_report(&rc->br, rc->ac ? BREAKER_NEUTRAL : BREAKER_FAILURE, probe);
		rc->errors++;
		rc->outcome[RCMD_ERROR]++;
		c->done(c, NULL, rc->ac ? AP_ERR_NOMEM : AP_ERR_STORAGE, c->ud);
		return;
	}
	if (!enqueue(rc, c, probe, argc, argv, argvlen)) {
		breaker_report(&rc->br, BREAKER_NEUTRAL, probe);
		c->done(c, NULL, AP_ERR_NOMEM, c->ud);
		return;
	}
	c->rc = rc;
}

void redis_cancel(struct rcmd *c)
{
	struct rconn *rc = c->rc;

	if (!rc)
		return;
	for (struct rslot *s = rc->head; s; s = s->next)
		if (s->c == c)
			s->c = NULL;	/* the reply will find no one */
	c->rc = NULL;
	c->cancelled = true;
}

void rconn_health(struct rconn *rc, struct redis_health *h)
{
	memset(h, 0, sizeof(*h));
	switch (rc->unresolved[0] ? BREAKER_OPEN : breaker_state(&rc->br)) {
	case BREAKER_CLOSED:
		/* an error in the last cool-down's time is news, even if the
		 * poll since succeeded (a read-only replica answers reads) */
		h->state = rc->last_error_ms && clock_ms() - rc->last_error_ms < REDIS_COOLDOWN_MS ?
			   "failing" : "ok";
		break;
	case BREAKER_OPEN: h->state = "degraded"; break;
	case BREAKER_HALF_OPEN: h->state = "probing"; break;
	}
	h->commands = rc->commands;
	h->errors = rc->errors;
	h->timeouts = rc->timeouts;
	h->openings = rc->br.openings;
	memcpy(h->outcome, rc->outcome, sizeof(h->outcome));
	h->retry_in_ms = breaker_retry_in_ms(&rc->br);
	snprintf(h->last_error, sizeof(h->last_error), "%s",
		 rc->unresolved[0] ? rc->unresolved : rc->last_error);
}
