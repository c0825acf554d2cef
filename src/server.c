/*
 * server.c - the FastCGI front: accept, the connection set, the loop,
 * background work in the slack, signals; see server.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "server.h"
#include "accesslog.h"
#include "clock.h"
#include "conn.h"
#include "ev.h"
#include "log.h"
#include "observe.h"
#include "prefetch.h"
#include "store.h"

#define LOOP_WAIT_MS 1000	/* a signal's flag is seen within this */
#define IDLE_STEPS_MAX 64	/* background steps per quiet moment */
#define STOP_GRACE_EXTRA_MS 2000	/* beyond the storage deadlines */
#define STOP_IDLE_GRACE_MS 100	/* SIGTERM: a connection taken from the backlog
				 * gets this long to deliver its request */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* logrotate renamed the access log: the next line reopens its path */
static void on_hup(int sig)
{
	(void)sig;
	accesslog_request_reopen();
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* no SA_RESTART: epoll_wait returns EINTR and the loop looks at the flag */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);	/* mod_fcgid's graceful stop */
	sa.sa_handler = on_hup;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

struct front {
	struct conn_owner o;		/* first: conn callbacks get &o */
	struct app *a;
	int lfd;
	struct ev_io lio;
	bool listening, stopping, held;	/* held: some connection waits for capacity */
	long long idle_close_at;	/* stopping: when idle connections close (0: done) */
	struct conn **conns;
	unsigned nconns, inflight;
};

static void set_listening(struct front *f, bool on);

static bool may_start(struct conn_owner *o)
{
	struct front *f = (struct front *)o;
	bool ok = f->inflight < FRONT_REQUESTS_MAX;

	if (!ok)
		f->held = true;
	return ok;
}

static void request_started(struct conn_owner *o)
{
	((struct front *)o)->inflight++;
}

/* Capacity came back: held connections first, then the socket. */
static void resume(struct front *f)
{
	if (f->held) {
		f->held = false;
		for (unsigned i = 0; i < f->nconns && f->inflight < FRONT_REQUESTS_MAX; i++)
			if (conn_held(f->conns[i]))
				conn_resume(f->conns[i]);
	}
	if (!f->stopping && f->nconns < FRONT_CONNS_MAX && f->inflight < FRONT_REQUESTS_MAX)
		set_listening(f, true);
}

static void request_ended(struct conn_owner *o)
{
	struct front *f = (struct front *)o;

	f->inflight--;
	f->a->requests_served++;
	resume(f);
}

static void closed(struct conn_owner *o, struct conn *c)
{
	struct front *f = (struct front *)o;

	for (unsigned i = 0; i < f->nconns; i++)
		if (f->conns[i] == c) {
			f->conns[i] = f->conns[--f->nconns];
			break;
		}
	f->a->conns_open = f->nconns;
	resume(f);
}

/* ---- accepting ---------------------------------------------------------------- */

/* Takes up to n connections from the backlog, while there is capacity. */
static void accept_some(struct front *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct conn *c;
		int fd;

		if (f->nconns >= FRONT_CONNS_MAX || f->inflight >= FRONT_REQUESTS_MAX) {
			set_listening(f, false);	/* the rest waits in the backlog */
			return;
		}
		/* non-blocking: another process of the pool may take it first */
		fd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept: %s", strerror(errno));
			return;
		}
		c = conn_open(&f->o, fd);
		if (!c) {
			log_error("out of memory for a connection");
			continue;
		}
		f->conns[f->nconns++] = c;
		f->a->conns_accepted++;
		f->a->conns_open = f->nconns;
	}
}

static void on_accept(struct ev_io *w, unsigned events)
{
	(void)events;
	accept_some(w->ud, FRONT_ACCEPT_BATCH);
}

static void set_listening(struct front *f, bool on)
{
	if (on == f->listening)
		return;
	if (on && ev_io_set(f->a->loop, &f->lio, f->lfd, EV_READ | EV_EXCLUSIVE, on_accept, f)) {
		log_error("cannot watch the listening socket: %s", strerror(errno));
		return;
	}
	if (!on)
		ev_io_stop(&f->lio);
	f->listening = on;
}

/* ---- the loop ------------------------------------------------------------------------ */

/* Background work, one step at a time, only while nothing is ready: a
 * prefetch step may read the local tree synchronously. */
static void idle_work(struct app *a)
{
	for (int steps = 0; steps < IDLE_STEPS_MAX && !stop_requested; steps++) {
		bool progressed;

		if (ev_pending(a->loop))
			return;
		progressed = prefetch_pump(a->prefetch);
		progressed = store_idle_step(a->store) || progressed;
		if (!progressed)
			return;
	}
}

/* SIGTERM. The connections the web server has opened already wait in the
 * backlog, their request often written: they are taken and served, then the
 * socket is closed, so that a later connect is refused at once (the web
 * server sees a stopped backend) instead of reset with its request when the
 * process exits. Idle connections close after STOP_IDLE_GRACE_MS, busy
 * ones after their request; the loop ends when none is left or the grace
 * period is over. */
static long long begin_stop(struct front *f)
{
	long long grace = f->a->cfg.batch_timeout_ms > f->a->cfg.request_timeout_ms ?
			  f->a->cfg.batch_timeout_ms : f->a->cfg.request_timeout_ms;

	f->stopping = true;
	set_listening(f, false);
	accept_some(f, FRONT_CONNS_MAX);
	close(f->lfd);
	f->lfd = -1;
	f->idle_close_at = clock_ms() + STOP_IDLE_GRACE_MS;
	return clock_ms() + grace + STOP_GRACE_EXTRA_MS;
}

static void close_idle(struct front *f)
{
	for (unsigned i = f->nconns; i-- > 0;)
		if (i < f->nconns)
			conn_shutdown(f->conns[i]);
	f->idle_close_at = 0;
}

static void raise_fd_limit(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
		r.rlim_cur = r.rlim_max;
		setrlimit(RLIMIT_NOFILE, &r);
	}
}

static void loop(struct front *f)
{
	long long deadline = 0;

	while (!f->stopping || (f->nconns > 0 && clock_ms() < deadline)) {
		int wait = LOOP_WAIT_MS;

		if (stop_requested && !f->stopping)
			deadline = begin_stop(f);
		if (f->idle_close_at && clock_ms() >= f->idle_close_at)
			close_idle(f);
		if (f->idle_close_at) {
			long long left = f->idle_close_at - clock_ms();

			wait = left < 0 ? 0 : (int)left + 1;
		}
		if (ev_run_once(f->a->loop, wait) < 0 && errno != EINTR) {
			log_error("event loop: %s", strerror(errno));
			break;
		}
		obs_flush(f->a);
		obs_tick(f->a);
		idle_work(f->a);
	}
	while (f->nconns > 0)
		conn_close(f->conns[f->nconns - 1]);
	app_settle(f->a);
	obs_sync(f->a);	/* what the modules counted since the last tick */
}

int server_run(struct app *a, int listen_fd)
{
	struct front f;
	int flags;

	memset(&f, 0, sizeof(f));
	install_signals();
	raise_fd_limit();
	f.a = a;
	f.lfd = listen_fd;
	f.o.a = a;
	f.o.max_conns = FRONT_CONNS_MAX;
	f.o.max_requests = FRONT_REQUESTS_MAX;
	f.o.may_start = may_start;
	f.o.request_started = request_started;
	f.o.request_ended = request_ended;
	f.o.closed = closed;
	f.conns = calloc(FRONT_CONNS_MAX, sizeof(*f.conns));
	flags = fcntl(listen_fd, F_GETFL);
	if (!f.conns || flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		log_error("cannot set up the FastCGI socket on fd %d", listen_fd);
		free(f.conns);
		return 1;
	}
	set_listening(&f, true);
	if (!f.listening) {
		free(f.conns);
		return 1;
	}
	log_info("ready: serving FastCGI on fd %d (up to %d connections, %d requests at once)",
		 listen_fd, FRONT_CONNS_MAX, FRONT_REQUESTS_MAX);
	loop(&f);
	set_listening(&f, false);
	free(f.conns);
	log_info("stopping after %llu requests", a->requests_served);
	return 0;
}

/* ---- --bind ------------------------------------------------------------------------------ */

static int bind_unix(const char *path, int backlog)
{
	struct sockaddr_un sun;
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	unlink(path);	/* a stale socket of a previous run */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0 || chmod(path, 0660) != 0 ||
	    listen(fd, backlog) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int bind_tcp(const char *spec, int backlog)
{
	char host[256];
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints, *res = NULL;
	int fd = -1, one = 1;

	if (!colon || (size_t)(colon - spec) >= sizeof(host)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(host, spec, (size_t)(colon - spec));
	host[colon - spec] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res) != 0 || !res) {
		errno = EINVAL;
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
			bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, backlog) != 0)) {
		int e = errno;
		close(fd);
		fd = -1;
		errno = e;
	}
	freeaddrinfo(res);
	return fd;
}

int server_bind(const char *spec, int backlog)
{
	return spec[0] == '/' ? bind_unix(spec, backlog) : bind_tcp(spec, backlog);
}
