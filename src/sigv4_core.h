/*
 * sigv4_core.h - the steps of one SigV4 signature, for signers built on them.
 *
 * sigv4_sign_headers() (sigv4.h) is these steps in a row: prepare (check
 * every input against its bound, date, caller's headers, payload hash),
 * sigv4_sign_prepared() (the signer's own headers, sort, canonical request,
 * string to sign, HMAC, the headers to send). Modes the server does not use
 * (presigned URLs, the generic non-S3 path rules: tests/sigv4/sigv4_modes.h)
 * take the same steps with their own query parameters or canonical path, so
 * the server binary carries only what it sends while the AWS test suite
 * still runs this core.
 *
 * Invariants: a context is filled by sigv4_prepare() only; its pointers
 * lead into the creds and the request, which must outlive it. The secret
 * never enters a context: it is read and wiped inside sigv4_sign().
 */
#ifndef AP_SIGV4_CORE_H
#define AP_SIGV4_CORE_H

#include <stddef.h>
#include <time.h>
#include "buf.h"
#include "error.h"
#include "sigv4.h"

#define SIGV4_DATE_LEN		8	/* "20150830" */
/* caller headers plus x-amz-content-sha256, x-amz-date, x-amz-security-token */
#define SIGV4_CTX_HEADERS	(SIGV4_MAX_HEADERS + 3)
/* query parameters a mode may add to the caller's (a presigned URL has six) */
#define SIGV4_MAX_EXTRA_PARAMS	6

/* Flags of the core (sigv4.h has the public ones); others are refused. */
#define SIGV4_PRESIGNED		0x20	/* an s3 payload defaults to UNSIGNED-PAYLOAD */
#define SIGV4_CORE_FLAGS	(SIGV4_ADD_CONTENT_SHA256 | SIGV4_UNSIGNED_TOKEN | \
				 SIGV4_PRESIGNED)

struct sigv4_hdr {
	const char *name;
	size_t nlen;
	const char *value;	/* NUL-terminated, not yet trimmed */
};

struct sigv4_ctx {
	const struct sigv4_creds *c;
	const struct sigv4_request *r;
	int flags;
	char date[SIGV4_DATE_LEN + 1];
	char amz_date[SIGV4_AMZ_DATE_LEN + 1];
	char payload[SIGV4_HASH_HEX + 1];
	int payload_header;	/* the caller sent x-amz-content-sha256 */
	struct sigv4_hdr h[SIGV4_CTX_HEADERS];
	size_t nh;
	char signed_headers[SIGV4_MAX_SIGNED_HEADERS + 1];	/* by sigv4_sort_headers() */
	/* NULL: the S3 rule, r->path encoded once; else signed as is (at most
	 * SIGV4_MAX_CANONICAL bytes, kept alive by the caller) */
	const char *canonical_path;
};

/* Checks c and r against their bounds, formats the dates, collects the
 * caller's headers and settles the payload hash. */
enum ap_err sigv4_prepare(struct sigv4_ctx *x, const struct sigv4_creds *c,
			  const struct sigv4_request *r, time_t now, int flags) AP_WARN_UNUSED;
/* Sorts the headers (stable, by lower-cased name) and lists them in
 * x->signed_headers. */
enum ap_err sigv4_sort_headers(struct sigv4_ctx *x) AP_WARN_UNUSED;
/*
 * Canonical request (with extra[] raw name/value pairs added to the caller's
 * query, at most SIGV4_MAX_EXTRA_PARAMS), string to sign and signature,
 * kept in trace if any. Call after sigv4_sort_headers().
 */
enum ap_err sigv4_sign(const struct sigv4_ctx *x, const struct sigv4_header *extra,
		       size_t nextra, char sig[SIGV4_HASH_HEX + 1],
		       struct sigv4_trace *trace) AP_WARN_UNUSED;
/* Header mode from a prepared context: what sigv4_sign_headers() returns. */
enum ap_err sigv4_sign_prepared(struct sigv4_ctx *x, struct sigv4_out *out,
				struct sigv4_trace *trace) AP_WARN_UNUSED;

#endif
