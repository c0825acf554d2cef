/*
 * conn.h - one FastCGI connection of the web server, as a state machine on
 * the event loop.
 *
 *   IDLE --BEGIN_REQUEST--> READING --params complete--> HANDLING
 *   HANDLING --response ready--> WRITING --all written--> IDLE (kept) | closed
 *
 * Bytes are read whenever they arrive and fed to the FastCGI parser
 * (fcgi.h): request bodies are drained as they come, so a kept connection
 * stays in step after a POST. A request is handed to the API (api.h) as
 * soon as its parameters are complete; while it waits for storage the
 * loop serves every other connection. The response goes out as STDOUT
 * records with writev(), without blocking: what the socket does not take
 * now waits for it to be writable (the response itself is the only buffer:
 * a connection carries one request at a time), and nothing more is read
 * into a new request until it is out.
 *
 * Time limits: an idle kept connection lives CONN_IDLE_MAX_S (long: the
 * web server decides when to drop it, and reusing one we closed would cost
 * it an error), a request's parameters must arrive within
 * CONN_READ_TIMEOUT_S and a response be taken within CONN_WRITE_TIMEOUT_S.
 * A connection that closes while its request waits cancels only its wait.
 */
#ifndef AP_CONN_H
#define AP_CONN_H

#include <stdbool.h>
#include "app.h"

#define CONN_IDLE_MAX_S 900
#define CONN_READ_TIMEOUT_S 60
#define CONN_WRITE_TIMEOUT_S 60
#define CONN_READ_CHUNK (64 * 1024)	/* read per readiness event (fairness) */

struct conn;

/* What a connection needs from the front that owns it. */
struct conn_owner {
	struct app *a;
	unsigned max_conns, max_requests;	/* announced in FCGI_GET_VALUES */
	/* May a new request start now (the in-flight limit)? If not, the
	 * connection waits until conn_resume(). */
	bool (*may_start)(struct conn_owner *o);
	void (*request_started)(struct conn_owner *o);
	void (*request_ended)(struct conn_owner *o);
	/* The connection is closed and freed. */
	void (*closed)(struct conn_owner *o, struct conn *c);
};

/* Takes over fd (non-blocking) and starts reading; NULL if out of memory
 * (fd is then closed). */
struct conn *conn_open(struct conn_owner *o, int fd);
/* A connection held back by may_start() tries again. */
void conn_resume(struct conn *c);
/* Closes at once if idle (no request read, handled or written), else once
 * its current request is answered. Returns true if it closed now. */
bool conn_shutdown(struct conn *c);
/* Closes now, cancelling a request in progress. */
void conn_close(struct conn *c);
bool conn_busy(const struct conn *c);	/* a request is being read, handled or written */
bool conn_held(const struct conn *c);	/* waiting for conn_resume() */

#endif
