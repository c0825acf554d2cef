/*
 * server.h - the FastCGI front: the accept loop and the one-shot mode.
 *
 * One request at a time (single-threaded). Between requests the process
 * drives background prefetch transfers while polling the listening socket
 * and any kept-alive connections of the web server (up to KEPT_CONNS_MAX,
 * served in turn, so no idle connection pins the process), and goes back
 * to work the moment a request waits. Signal handlers only set a flag:
 * SIGTERM lets the request in flight finish, then the loop ends.
 */
#ifndef AP_SERVER_H
#define AP_SERVER_H

#include "app.h"

#define SERVER_EXTRA_HEADERS_MAX 16

/* Serves FastCGI on listen_fd (0 when spawned by a web server) until
 * SIGTERM/SIGINT; returns the process exit status. */
int server_run(struct app *a, int listen_fd);
/* Answers one request ("GET /api/tiles/..."), writing CGI output to stdout. */
int server_one(struct app *a, const char *request_line, const char *const *headers,
	       size_t nheaders);
/* Opens "HOST:PORT" or "/path.sock" for --bind; returns the fd or -1. */
int server_bind(const char *spec, int backlog);

#endif
