/*
 * engine.h - the per-process HTTP engine: one curl_multi, one share handle.
 *
 * Every request to storage (single tiles, batches, prefetch, metadata, the
 * uploader's PUTs) is a transfer on this one multi handle, so they all share
 * one connection pool (HTTP/2 multiplexed where the origin offers it, with
 * PIPEWAIT so parallel transfers wait for ALPN instead of opening their own
 * connections), one DNS cache and one TLS session cache. The process is
 * single-threaded; transfers progress and completion callbacks run from its
 * event loop (ev.h), never from inside engine_submit() or engine_cancel().
 *
 * A transfer completes exactly once through its callback, unless cancelled.
 * Retries (5xx, 429, connection errors) with jittered exponential backoff
 * happen inside the engine within the transfer's deadline.
 *
 * Admission: foreground transfers may hold max_streams slots; background
 * ones (prefetch) at most max_background more, and only while the
 * foreground leaves room, so that a foreground transfer never waits behind
 * a background one. A body longer
 * than max_body, or whose length differs from its Content-Length, is an
 * error (libcurl 7.88 can report a truncated HTTP/2 body as success).
 */
#ifndef AP_ENGINE_H
#define AP_ENGINE_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include "buf.h"
#include "error.h"

#define ENGINE_HEADERS_MAX 12	/* request header lines per transfer */
#define ENGINE_HEADER_LINE_MAX 2048
#define ENGINE_URL_MAX 4096
#define ENGINE_ERROR_MAX 256
#define ENGINE_ETAG_MAX 128
#define ENGINE_RETRY_BASE_MS 50
#define ENGINE_RETRY_CAP_MS 2000
/* Background transfers hold at most 1/this of max_streams (and >= 1). */
#define ENGINE_BACKGROUND_SHARE 4

struct engine_opts {
	long connect_timeout_ms;
	long max_host_conns;
	long max_streams;
	long dns_ttl_s;
	long conn_max_age_s;
	bool tls_verify;
	const char *ca_bundle;	/* NULL: system store */
	long max_total_conns;	/* 0: unlimited */
	long max_background;	/* background in flight at most; 0: the share above */
};

struct xfer_spec {
	const char *method;	/* "GET", "HEAD", "PUT", "DELETE" */
	const char *url;
	const char *headers[ENGINE_HEADERS_MAX];	/* "Name: value" */
	size_t nheaders;
	const void *body;	/* request body (PUT): must outlive the transfer */
	size_t body_len;
	size_t max_body;	/* largest response body accepted */
	long timeout_ms;	/* deadline of the whole transfer, retries included */
	int max_retries;
	bool require_length;	/* a 2xx body must come with a matching Content-Length */
	bool background;	/* prefetch: admitted only within the background share */
};

/* Why a transfer failed, for a circuit breaker (breaker.h): only XC_SERVICE
 * says anything about the service's health. */
enum xfer_class {
	XC_OK,		/* a whole response arrived (any status) */
	XC_SERVICE,	/* connect, TLS, transport or timeout, after retries */
	XC_OBJECT,	/* this object's answer was unusable: too large, short body */
	XC_LOCAL,	/* waited for a slot (most of) its deadline, or an internal error */
};

struct xfer_result {
	long status;		/* HTTP status of the final attempt (0: none) */
	enum ap_err err;	/* AP_OK: a whole response arrived (any status) */
	enum xfer_class cls;
	bool too_large;		/* the object exceeded max_body */
	struct buf body;	/* the response body; the callback may steal it */
	char etag[ENGINE_ETAG_MAX];
	int attempts;
	double seconds;
	char error[ENGINE_ERROR_MAX];	/* why, when err != AP_OK */
};

struct engine;
struct xfer;
typedef void (*xfer_done_fn)(struct xfer_result *res, void *ud);

struct ev_loop;
/* An engine on the process's event loop (loop NULL: a private one, driven
 * only by engine_run: the uploader and tools). */
enum ap_err engine_new_on(const struct engine_opts *o, struct ev_loop *loop,
			  struct engine **out) AP_WARN_UNUSED;
enum ap_err engine_new(const struct engine_opts *o, struct engine **out) AP_WARN_UNUSED;
struct ev_loop *engine_loop(const struct engine *e);
void engine_free(struct engine *e);
/* Queues a transfer; the callback runs later, from the event loop. */
enum ap_err engine_submit(struct engine *e, const struct xfer_spec *s, xfer_done_fn done,
			  void *ud, struct xfer **out) AP_WARN_UNUSED;
/* Drops a transfer; its callback will not run. */
void engine_cancel(struct engine *e, struct xfer *x);
/* A background transfer becomes a foreground one (a request waits for it). */
void engine_foreground(struct engine *e, struct xfer *x);
/* Runs the event loop for at most timeout_ms, returning early once a
 * completion callback ran or nothing is in flight (blocking callers: the
 * uploader, tools, one-shot mode). extra/nextra must be NULL/0 (kept for
 * the uploader's callers). */
void engine_run(struct engine *e, int timeout_ms, struct pollfd *extra, unsigned nextra);
/* Transfers submitted and not yet completed (including backoff waits). */
unsigned engine_active(const struct engine *e);

#endif
