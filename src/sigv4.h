/*
 * sigv4.h - AWS Signature Version 4 for S3 (HMAC-SHA256 on OpenSSL libcrypto).
 *
 * One canonical request is built from a request description and signed with
 * a key derived from the secret, the day, the region and the service; the
 * result is carried in headers (Authorization, X-Amz-Date, ...). Proven on
 * the AWS SigV4 test suite and on the published S3 examples (tests/sigv4/,
 * which also holds the modes the server does not use: presigned URLs and the
 * generic, non-S3 path rules).
 *
 * The path is the raw key path; it is encoded once and never normalized
 * (the S3 rule): send exactly sigv4_uri_encode(path, keep_slash = 1).
 * Encoding keeps A-Za-z0-9-._~ (and '/' in paths), everything else becomes
 * %XX with upper-case hex.
 *
 * The query is given as it will be sent; the signer decodes every name and
 * value and re-encodes them canonically ('+' is a literal plus, not a space).
 * Header names are lower-cased, values trimmed with inner blanks collapsed,
 * repeated names joined with ',' in the order given. "host" is mandatory.
 * X-Amz-Date, Authorization and X-Amz-Security-Token belong to the signer
 * and are refused among the caller's headers. A caller's
 * x-amz-content-sha256 header, if any, is signed and is the payload hash.
 *
 * Limits: every input has a named bound below, checked before any
 * allocation. Secrets: the secret and every derived key live only on the
 * stack of one call and are wiped with OPENSSL_cleanse; nothing is logged.
 * Errors: AP_ERR_BAD_REQUEST malformed input (or a flag not listed here),
 * AP_ERR_TOO_LARGE a bound, AP_ERR_NOMEM, AP_ERR_INTERNAL (libcrypto failed).
 *
 * A signed S3 GET:
 *	struct sigv4_header h[] = {{"Host", host}, {"Range", "bytes=0-9"}};
 *	struct sigv4_request r = {.method = "GET", .path = "/bucket/a b.jpg",
 *				  .headers = h, .nheaders = 2};
 *	e = sigv4_sign_headers(&creds, &r, time(NULL), SIGV4_S3, &out, NULL);
 *	then send out.headers[0 .. out.nheaders) with h, to the URL built with
 *	sigv4_uri_encode("/bucket/a b.jpg", ..., 1, &url).
 */
#ifndef AP_SIGV4_H
#define AP_SIGV4_H

#include <stddef.h>
#include <time.h>
#include "buf.h"
#include "error.h"

#define SIGV4_MAX_HEADERS	64	/* request headers to sign */
#define SIGV4_MAX_QUERY_PARAMS	64	/* caller's query parameters */
#define SIGV4_MAX_NAME		128	/* one header name */
#define SIGV4_MAX_VALUE		8192	/* one header value */
#define SIGV4_MAX_PATH		4096	/* path, bytes */
#define SIGV4_MAX_QUERY		8192	/* caller's query string, bytes */
#define SIGV4_MAX_BODY		(64u * 1024 * 1024) /* body hashed here */
#define SIGV4_MAX_KEY_ID	128	/* access key id */
#define SIGV4_MAX_SECRET	128	/* secret access key */
#define SIGV4_MAX_TOKEN		4096	/* session token */
#define SIGV4_MAX_SCOPE_PART	64	/* region, service */
#define SIGV4_MAX_SIGNED_HEADERS 1024	/* "host;range;x-amz-date" */
#define SIGV4_MAX_CANONICAL	65536	/* canonical request */
#define SIGV4_HASH_HEX		64	/* hex SHA-256 / signature, w/o NUL */
#define SIGV4_AMZ_DATE_LEN	16	/* "20150830T123600Z" */
/* "AWS4-HMAC-SHA256 Credential=K/D/R/S/aws4_request, SignedHeaders=H, Signature=X" */
#define SIGV4_MAX_AUTHORIZATION	(96 + SIGV4_MAX_KEY_ID + 2 * SIGV4_MAX_SCOPE_PART + \
				 SIGV4_MAX_SIGNED_HEADERS + SIGV4_HASH_HEX)

#define SIGV4_UNSIGNED_PAYLOAD	"UNSIGNED-PAYLOAD"

/* Flags (0x01..0x04 are the test runner's path modes, tests/sigv4/sigv4_modes.h) */
#define SIGV4_ADD_CONTENT_SHA256 0x08	/* send and sign x-amz-content-sha256 */
#define SIGV4_UNSIGNED_TOKEN	 0x10	/* send the session token, do not sign it */
#define SIGV4_S3	SIGV4_ADD_CONTENT_SHA256

struct sigv4_creds {
	const char *access_key;
	const char *secret_key;
	const char *session_token;	/* NULL: none */
	const char *region;		/* "us-east-1", R2: "auto" */
	const char *service;		/* "s3" */
};

struct sigv4_header {
	const char *name;
	const char *value;
};

struct sigv4_request {
	const char *method;		/* "GET" */
	const char *path;		/* "/bucket/tiles/1/0/0/0.jpg" (raw); NULL = "/" */
	const char *query;		/* as sent, without '?'; NULL = none */
	const struct sigv4_header *headers;	/* host is mandatory */
	size_t nheaders;
	/* hex SHA-256 or SIGV4_UNSIGNED_PAYLOAD; NULL: SHA-256 of the body */
	const char *payload_hash;
	const void *body;
	size_t body_len;
};

/*
 * Header mode result. headers[] are the headers to add to the request, in
 * this order: X-Amz-Security-Token (if a token), X-Amz-Date,
 * x-amz-content-sha256 (if SIGV4_ADD_CONTENT_SHA256 and the caller gave
 * none), Authorization. Their values point into this struct and into the
 * creds: keep both alive while sending, do not copy the struct.
 */
#define SIGV4_OUT_HEADERS 4
struct sigv4_out {
	struct sigv4_header headers[SIGV4_OUT_HEADERS];
	size_t nheaders;
	char amz_date[SIGV4_AMZ_DATE_LEN + 1];
	char payload_hash[SIGV4_HASH_HEX + 1];	/* as signed */
	char signature[SIGV4_HASH_HEX + 1];
	char authorization[SIGV4_MAX_AUTHORIZATION + 1];
};

/*
 * What was signed, for the test suite and for debugging a 403 (contains no
 * secret): canonical request, string to sign, signature. The caller
 * buf_init()s both buffers (SIGV4_MAX_CANONICAL is enough) and frees them;
 * each call replaces their contents.
 */
struct sigv4_trace {
	struct buf canonical_request;
	struct buf string_to_sign;
	char signature[SIGV4_HASH_HEX + 1];
};

/* Signs r for sending at `now`; trace may be NULL. */
enum ap_err sigv4_sign_headers(const struct sigv4_creds *c, const struct sigv4_request *r,
			       time_t now, int flags, struct sigv4_out *out,
			       struct sigv4_trace *trace) AP_WARN_UNUSED;

/* Lower-case hex SHA-256 of p[0..n). */
enum ap_err sigv4_sha256_hex(const void *p, size_t n, char out[SIGV4_HASH_HEX + 1]) AP_WARN_UNUSED;
/* Appends the RFC 3986 encoding of s[0..len); keep_slash leaves '/' as is. */
enum ap_err sigv4_uri_encode(const char *s, size_t len, int keep_slash,
			     struct buf *out) AP_WARN_UNUSED;
/* Appends s[0..len) with %XX decoded; a malformed escape is AP_ERR_BAD_REQUEST. */
enum ap_err sigv4_uri_decode(const char *s, size_t len, struct buf *out) AP_WARN_UNUSED;

#endif
