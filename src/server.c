/*
 * server.c - FastCGI accept loop, idle-time prefetch, one-shot mode.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcgiapp.h>
#include "server.h"
#include "api.h"
#include "engine.h"
#include "log.h"
#include "prefetch.h"
#include "request.h"
#include "response.h"
#include "store.h"

#define IDLE_POLL_MS 1000
/* Kept-alive FastCGI connections (nginx fastcgi_keep_conn) one process
 * serves in turn; one more slot is always free for a new connection. */
#define KEPT_CONNS_MAX 8
#define ONE_SHOT_PARAMS_MAX (SERVER_EXTRA_HEADERS_MAX + 8)
/* A request body is read and dropped up to this much, so that a kept
 * connection stays in step; past it the connection is closed instead. */
#define REQ_DRAIN_MAX (1024 * 1024)

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: a blocking poll/accept returns EINTR and we look at the flag */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);	/* mod_fcgid's graceful stop */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
}

static const char *fcgx_param(const char *name, void *ud)
{
	return FCGX_GetParam(name, ((FCGX_Request *)ud)->envp);
}

static void handle(struct app *a, struct request *req, struct response *res, enum ap_err pe)
{
	if (pe) {
		api_cors(a, res);
		response_error(res, req, pe);
	} else {
		api_handle(a, req, res);
	}
}

/* Background work, one step at a time, only while no request waits: a
 * prefetch step may read the local tree synchronously. */
static void idle_work(struct app *a, struct pollfd *pfd, unsigned n)
{
	for (int steps = 0; steps < 1000 && !stop_requested; steps++) {
		bool progressed;

		if (poll(pfd, n, 0) != 0)
			return;	/* a request waits (or poll failed: let the caller see) */
		progressed = prefetch_pump(a->prefetch);
		progressed = store_idle_step(a->store) || progressed;
		if (!progressed)
			return;
	}
}

/* Reads and drops what is left of the request body (see REQ_DRAIN_MAX). */
static void drain_stdin(FCGX_Request *fr)
{
	char sink[4096];
	size_t total = 0;
	int n;

	while ((n = FCGX_GetStr(sink, sizeof(sink), fr->in)) > 0) {
		total += (size_t)n;
		if (total > REQ_DRAIN_MAX) {
			fr->keepConnection = 0;
			return;
		}
	}
}

/*
 * Waits for the next request: on the listening socket, or on one of the
 * kept-alive connections a web server may hold open (FCGI_KEEP_CONN). All
 * are watched at once, so a process is never pinned to one web-server
 * connection that idles while others queue on the socket - the classic way
 * single-threaded FastCGI pools starve behind nginx. Meanwhile background
 * prefetch transfers make progress; the wait returns the moment a request
 * arrives. Returns the ready slot, the free slot for a new connection
 * (dropping the least recently used kept one if none is free), or -1.
 */
static int wait_request(struct app *a, FCGX_Request *slots, unsigned nslots, int listen_fd,
			const unsigned long *last_used, bool *prefer_new)
{
	struct pollfd pfd[KEPT_CONNS_MAX + 2];
	int owner[KEPT_CONNS_MAX + 2];

	while (!stop_requested) {
		unsigned n = 0;
		int kept = -1, fresh = -1, lru = -1;

		pfd[n].fd = listen_fd;
		pfd[n].events = POLLIN;
		owner[n++] = -1;
		for (unsigned i = 0; i < nslots; i++) {
			if (slots[i].ipcFd < 0)
				continue;
			pfd[n].fd = slots[i].ipcFd;
			pfd[n].events = POLLIN;
			owner[n++] = (int)i;
		}
		idle_work(a, pfd, n);
		for (unsigned i = 0; i < n; i++)
			pfd[i].revents = 0;
		if (engine_active(a->engine)) {
			engine_run(a->engine, IDLE_POLL_MS, pfd, n);
		} else if (poll(pfd, n, IDLE_POLL_MS) < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			return -1;
		}
		for (unsigned i = 1; i < n; i++)
			if (pfd[i].revents && kept < 0)
				kept = owner[i];
		if (kept >= 0 && !(pfd[0].revents && *prefer_new)) {
			*prefer_new = true;	/* both waiting: the socket goes next */
			return kept;
		}
		if (!pfd[0].revents)
			continue;
		*prefer_new = false;
		for (unsigned i = 0; i < nslots; i++) {
			if (slots[i].ipcFd < 0 && fresh < 0)
				fresh = (int)i;
			if (slots[i].ipcFd >= 0 && (lru < 0 || last_used[i] < last_used[lru]))
				lru = (int)i;
		}
		if (fresh < 0) {
			log_debug("dropping an idle kept-alive FastCGI connection: all %u slots in use",
				  nslots);
			FCGX_Free(&slots[lru], 1);
			fresh = lru;
		}
		return fresh;
	}
	return -1;
}

int server_run(struct app *a, int listen_fd)
{
	FCGX_Request slots[KEPT_CONNS_MAX + 1];
	unsigned long last_used[KEPT_CONNS_MAX + 1] = {0};
	unsigned long served = 0;
	unsigned nslots = KEPT_CONNS_MAX + 1;
	bool prefer_new = false;
	int flags;

	install_signals();
	if (FCGX_Init() != 0) {
		log_error("FCGX_Init failed");
		return 1;
	}
	/* non-blocking accept: in a pool sharing one socket another process may
	 * take the connection we were woken for; then we simply wait again */
	flags = fcntl(listen_fd, F_GETFL);
	if (flags >= 0)
		fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK);
	for (unsigned i = 0; i < nslots; i++)
		if (FCGX_InitRequest(&slots[i], listen_fd, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
			log_error("FCGX_InitRequest failed");
			return 1;
		}
	log_info("ready: serving FastCGI on fd %d", listen_fd);
	while (!stop_requested) {
		struct request req;
		struct response res;
		struct sink out;
		enum ap_err pe;
		FCGX_Request *fr;
		int s = wait_request(a, slots, nslots, listen_fd, last_used, &prefer_new);

		if (s < 0 || stop_requested)
			break;
		fr = &slots[s];
		{
			bool fresh_conn = fr->ipcFd < 0;

			if (FCGX_Accept_r(fr) < 0)
				continue;	/* lost the race, interrupted, or the peer went away */
			if (fresh_conn)
				a->conns_accepted++;
		}
		pe = request_parse(&req, fcgx_param, fr);
		response_init(&res);
		if (!pe)
			res.no_body = req.method == M_HEAD;
		handle(a, &req, &res, pe);
		out.fcgx = fr->out;
		out.fp = NULL;
		if (response_send(&res, &out))
			log_debug("client went away before the response was written");
		response_free(&res);
		drain_stdin(fr);
		/* hand the response to the web server before any idle work */
		FCGX_Finish_r(fr);
		last_used[s] = ++served;
		a->requests_served = served;
	}
	for (unsigned i = 0; i < nslots; i++)
		FCGX_Free(&slots[i], 1);
	log_info("stopping after %lu requests", served);
	return 0;
}

struct one_shot {
	const char *names[ONE_SHOT_PARAMS_MAX];
	const char *values[ONE_SHOT_PARAMS_MAX];
	char storage[ONE_SHOT_PARAMS_MAX][2 * REQ_URI_MAX];	/* room to exceed any limit */
	size_t n;
};

static const char *one_param(const char *name, void *ud)
{
	struct one_shot *o = ud;

	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->names[i], name) == 0)
			return o->values[i];
	return NULL;
}

static int one_add(struct one_shot *o, const char *name, const char *value)
{
	size_t nlen = strlen(name);

	if (o->n == ONE_SHOT_PARAMS_MAX || nlen + strlen(value) + 2 > sizeof(o->storage[0]))
		return -1;
	memcpy(o->storage[o->n], name, nlen + 1);
	memcpy(o->storage[o->n] + nlen + 1, value, strlen(value) + 1);
	o->names[o->n] = o->storage[o->n];
	o->values[o->n] = o->storage[o->n] + nlen + 1;
	o->n++;
	return 0;
}

int server_one(struct app *a, const char *line, const char *const *headers, size_t nheaders)
{
	struct one_shot *o = calloc(1, sizeof(*o));
	char method[16], cgi[128];
	const char *sp = strchr(line, ' ');
	struct request req;
	struct response res;
	struct sink out = {.fcgx = NULL, .fp = stdout};
	enum ap_err pe;
	int rc = 2;

	if (!o)
		return 1;
	if (!sp || (size_t)(sp - line) >= sizeof(method)) {
		fprintf(stderr, "--request takes 'METHOD /path?query'\n");
		goto out;
	}
	memcpy(method, line, (size_t)(sp - line));
	method[sp - line] = '\0';
	if (one_add(o, "REQUEST_METHOD", method) || one_add(o, "REQUEST_URI", sp + 1))
		goto toolong;
	for (size_t i = 0; i < nheaders; i++) {
		const char *colon = strchr(headers[i], ':');
		size_t n, j;
		if (!colon || (size_t)(colon - headers[i]) + 6 > sizeof(cgi)) {
			fprintf(stderr, "--header takes 'Name: value'\n");
			goto out;
		}
		n = (size_t)snprintf(cgi, sizeof(cgi), "HTTP_");
		for (j = 0; headers[i] + j < colon; j++) {
			char c = headers[i][j];
			cgi[n++] = c == '-' ? '_' : (char)((c >= 'a' && c <= 'z') ? c - 32 : c);
		}
		cgi[n] = '\0';
		colon++;
		while (*colon == ' ')
			colon++;
		if (strcmp(cgi, "HTTP_CONTENT_LENGTH") == 0)
			memmove(cgi, cgi + 5, strlen(cgi + 5) + 1);
		if (one_add(o, cgi, colon))
			goto toolong;
	}
	pe = request_parse(&req, one_param, o);
	response_init(&res);
	if (!pe)
		res.no_body = req.method == M_HEAD;
	handle(a, &req, &res, pe);
	rc = response_send(&res, &out) ? 1 : 0;
	fflush(stdout);
	response_free(&res);
	goto out;
toolong:
	fprintf(stderr, "--request/--header: too long or too many\n");
out:
	free(o);
	return rc;
}

int server_bind(const char *spec, int backlog)
{
	char path[256];
	int fd, n;

	/* FCGX_OpenSocket takes ":port", "host:port" or a path */
	n = snprintf(path, sizeof(path), "%s", spec);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -1;
	if (spec[0] == '/')
		unlink(spec);	/* a stale socket of a previous run */
	if (FCGX_Init() != 0)
		return -1;
	fd = FCGX_OpenSocket(path, backlog);
	if (fd >= 0 && spec[0] == '/')
		chmod(spec, 0660);
	return fd;
}
