/*
 * redis.h - one non-blocking Redis connection of a process, on its event
 * loop (hiredis's asynchronous context, attached to ev.h like hiredis's own
 * adapters attach to theirs).
 *
 * A command never blocks the process: it is written when the socket takes
 * it and its reply comes through the loop. hiredis 0.14 has no timeouts of
 * its own, so the product keeps them: every command has a deadline
 * (REDIS_TIMEOUT_MS); the oldest outstanding one arms a timer, and a
 * connection whose reply is late is dropped, which fails every command on
 * it. Replies come in order, so one timer is enough.
 *
 * The connection is made lazily, by the first command after the process
 * started (never inherited across a fork), with AUTH and SELECT first when
 * the URL asks for them. A circuit breaker (breaker.h) judges Redis: cannot
 * connect, late replies and error replies (wrong password, OOM, READONLY)
 * count; after REDIS_FAILURE_THRESHOLD of them in a row Redis is skipped
 * for REDIS_COOLDOWN_MS, then one command probes it again (background
 * commands probe all along). A skipped command fails at once
 * (AP_ERR_UNAVAILABLE): the caller goes to storage instead.
 */
#ifndef AP_REDIS_H
#define AP_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include "error.h"

#define REDIS_URL_MAX 1024
#define REDIS_ARGS_MAX 512		/* arguments of one command */
#define REDIS_PENDING_MAX 4096		/* commands outstanding at most */
#define REDIS_FAILURE_THRESHOLD 3
#define REDIS_COOLDOWN_MS 5000
#define REDIS_CONNECT_TIMEOUT_MIN_MS 100

struct ev_loop;
struct redisReply;
struct rconn;

/* Where and how: parsed from REDIS_URL. */
struct redis_target {
	bool unix_socket;
	char host[256];		/* or the socket path */
	int port;
	int db;
	char password[256];	/* "" if none; never logged */
};

/* redis://[:password@]host[:port][/db] or unix:///path/redis.sock[?db=N];
 * why names REDIS_URL and never contains the password. */
enum ap_err redis_parse_url(const char *url, struct redis_target *t, char *why,
			    size_t whylen) AP_WARN_UNUSED;

/* One command. done runs exactly once (possibly before redis_command
 * returns, when Redis is skipped) with the reply (valid only during the
 * call) and AP_OK, or NULL and why not: AP_ERR_UNAVAILABLE (skipped),
 * AP_ERR_TIMEOUT, AP_ERR_STORAGE (connection lost, error reply). done may
 * free the rcmd. */
struct rcmd {
	void (*done)(struct rcmd *c, struct redisReply *r, enum ap_err e, void *ud);
	void *ud;
	/* nobody waits on it (a poll): it goes even while Redis is skipped, and
	 * its success ends the skip, so recovery takes one poll, not a cool-down */
	bool background;
	/* private */
	struct rconn *rc;
	struct rcmd *next;
	long long deadline_ms;
	bool cancelled;
};

enum ap_err rconn_new(const struct redis_target *t, long timeout_ms, struct ev_loop *loop,
		      struct rconn **out) AP_WARN_UNUSED;
/* Drops the connection; outstanding commands are called with an error. */
void rconn_free(struct rconn *rc);
/* Would a command go to Redis now (breaker closed or this is its probe)? */
bool rconn_available(struct rconn *rc);
void redis_command(struct rconn *rc, struct rcmd *c, int argc, const char **argv,
		   const size_t *argvlen);
/* The caller no longer waits: done will not run. */
void redis_cancel(struct rcmd *c);

/* How a caller's command ended (internal ones, AUTH and SELECT, apart). */
enum rcmd_outcome { RCMD_OK, RCMD_ERROR, RCMD_TIMEOUT, RCMD_OUTCOMES };

struct redis_health {
	const char *state;	/* "ok", "degraded" (skipped, retry later), "connecting" */
	unsigned long long commands, errors, timeouts, openings;
	unsigned long long outcome[RCMD_OUTCOMES];
	long long retry_in_ms;
	char last_error[160];
};
void rconn_health(struct rconn *rc, struct redis_health *h);

#endif
