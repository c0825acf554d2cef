/*
 * accesslog.h - one line per request (ACCESS_LOG), and request ids.
 *
 * Line format (fields separated by one blank, none of them ever holds a
 * blank; docs/operations.md "Access log"):
 *
 *   TIME PID REQUEST_ID METHOD TARGET STATUS BYTES SOURCE SECONDS
 *   2026-11-24T09:26:14.123Z 3873 5f0c7a2e0000002a GET /api/tiles/7/3/1/2.jpg?token=*** 200 15360 r2 0.012345
 *
 * TIME is UTC with milliseconds, TARGET the path and query as requested
 * with the value of every `token` parameter (the name compared after
 * percent-decoding, in any case) replaced by "***", BYTES the body bytes
 * sent, SOURCE the tile source ("-" if none), SECONDS the time from arrival
 * to answer. Bytes outside printable ASCII, '"' and '\' in METHOD and
 * TARGET are written as \xHH, so a line is always one line. A TARGET that
 * would make the line longer than ACCESSLOG_LINE_MAX is cut and ends in
 * "..." (after masking: a cut never reveals part of a token).
 *
 * Lines of many processes into one file never interleave: the file is
 * opened with O_APPEND once per process and every write() holds whole
 * lines, at most ACCESSLOG_LINE_MAX bytes (PIPE_BUF, so that holds for a
 * pipe too). accesslog_write() writes one line at once; accesslog_queue()
 * gathers lines and accesslog_flush() writes them together (the server
 * flushes when the queue is full or its oldest line half a second old,
 * observe.h: one write() per ~40 lines under load, which on a journalled
 * file system is most of the access log's cost).
 * Log rotation: after the file was renamed, accesslog_request_reopen()
 * (async-signal-safe: a SIGHUP handler may call it) makes the next write of
 * every log of the process reopen the path first; if that fails, the old
 * file is kept and the failure logged.
 *
 * A REQUEST_ID that request_id_make would not have kept is written as "-".
 *
 * Request ids: the web server's X-Request-Id (HTTP_X_REQUEST_ID) when it is
 * 1..REQUEST_ID_MAX characters of [A-Za-z0-9._-], else one made here: 16
 * lower-case hex digits, a random prefix drawn once per process (again
 * after a fork) and a counter.
 */
#ifndef AP_ACCESSLOG_H
#define AP_ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"

#define ACCESSLOG_LINE_MAX 4096		/* PIPE_BUF: one atomic write */
#define REQUEST_ID_MAX 64		/* longest X-Request-Id taken as is */

struct accesslog;

/* What one line says; NULL strings are written as "-". */
struct accesslog_entry {
	const char *method;
	const char *path;		/* raw, as in the request */
	const char *query;		/* raw, without '?'; NULL or "" if none */
	int status;
	uint64_t bytes;
	const char *source;		/* "memory-cache", "r2", ... */
	long long duration_us;
	const char *request_id;
};

/* Opens path for appending (created 0640 if absent); a regular file, a FIFO
 * or a character device. AP_ERR_CONFIG/AP_ERR_IO with why naming
 * ACCESS_LOG and the path. */
enum ap_err accesslog_open(const char *path, struct accesslog **out, char *why,
			   size_t whylen) AP_WARN_UNUSED;
void accesslog_close(struct accesslog *l);
/* Async-signal-safe: the next accesslog_write of every log reopens first. */
void accesslog_request_reopen(void);
/* Writes one line. AP_ERR_IO if the write failed or was short (never
 * retried: a second write could land inside another process's line). */
enum ap_err accesslog_write(struct accesslog *l, const struct accesslog_entry *e) AP_WARN_UNUSED;
/* Queues one line; writes the queue first if the line does not fit in it.
 * AP_ERR_IO if a write that this caused failed (those lines are lost). */
enum ap_err accesslog_queue(struct accesslog *l, const struct accesslog_entry *e) AP_WARN_UNUSED;
/* Writes the queued lines in one write() (nothing if none); accesslog_close
 * flushes too. A process killed before it flushes loses its queue. */
enum ap_err accesslog_flush(struct accesslog *l) AP_WARN_UNUSED;
/* The line accesslog_write would write, without its newline, into out
 * (ACCESSLOG_LINE_MAX bytes); returns its length. For tests and debugging. */
size_t accesslog_format(const struct accesslog_entry *e, char *out);

/* The request's id into out (REQUEST_ID_MAX + 1 bytes): header (the value
 * of HTTP_X_REQUEST_ID, may be NULL) if it is sane, else a new one. */
void request_id_make(const char *header, char *out);

#endif
