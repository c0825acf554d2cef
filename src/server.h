/*
 * server.h - the FastCGI front: one event loop serving many requests at
 * once.
 *
 * The loop (ev.h) watches the listening socket, every FastCGI connection
 * (conn.h), every socket of the storage engine, and its timers together. A
 * request is read when its connection is readable, a cached tile is
 * answered at once, a miss parks its connection until storage answers, and
 * the process goes on with everything else meanwhile. Kept connections
 * (nginx fastcgi_keep_conn, Apache mod_proxy_fcgi enablereuse) are all
 * watched, however many, and never closed while the web server may reuse
 * them (only after CONN_IDLE_MAX_S idle).
 *
 * Bounds: at most FRONT_CONNS_MAX connections and FRONT_REQUESTS_MAX
 * requests in flight per process; at either limit the listening socket is
 * left alone (new connections wait in its backlog, or go to another process
 * of the pool) and requests on kept connections wait their turn. Background
 * work (prefetch) runs only while nothing is ready.
 *
 * Signals only set a flag. SIGTERM, SIGINT and SIGUSR1 (mod_fcgid's
 * graceful stop) stop accepting, let every request in flight finish (up to
 * the storage deadlines), close the connections and end the loop.
 */
#ifndef AP_SERVER_H
#define AP_SERVER_H

#include "app.h"

#define FRONT_CONNS_MAX 1024
#define FRONT_REQUESTS_MAX 256
#define FRONT_ACCEPT_BATCH 32	/* connections taken per readiness of the socket */

/* Serves FastCGI on listen_fd (0 when spawned by a web server) until
 * SIGTERM/SIGINT/SIGUSR1; returns the process exit status. */
int server_run(struct app *a, int listen_fd);
/* Opens "HOST:PORT" or "/path.sock" (mode 0660) for --bind; returns the fd
 * or -1 (errno set). */
int server_bind(const char *spec, int backlog);

#endif
