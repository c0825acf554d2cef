/*
 * loopback.h - what faultd and delayproxy share: a non-blocking listening
 * socket on 127.0.0.1 only, and stop signals that are blocked except while
 * the caller waits in ppoll() with the returned mask (so a SIGTERM can only
 * arrive where the loop is ready to look at its flag).
 */
#ifndef AP_LOOPBACK_H
#define AP_LOOPBACK_H

#include <signal.h>

/* Installs handler for SIGTERM and SIGINT, ignores SIGPIPE, blocks both
 * stop signals and stores the mask to unblock them with in *orig. */
void loopback_signals(void (*handler)(int), sigset_t *orig);
/* A listening socket on 127.0.0.1:port (0 = any free port); returns the
 * fd and sets *bound to the port, or prints why (prefixed by name) and
 * returns -1. */
int loopback_listen(const char *name, long port, int backlog, unsigned *bound);

#endif
