/*
 * sigv4_modes.h - the SigV4 modes only the test runner uses, on the core
 * of src/sigv4.c (sigv4_core.h): presigned URLs, and the generic (non-S3)
 * path rules of the AWS test suite. Compiled into the suite only, so the
 * server binary carries neither.
 *
 * The path, three rules chosen by flags:
 *   normalized = SIGV4_NORMALIZE_PATH ? remove_dots(path) : path
 *   wire       = SIGV4_PATH_ENCODED ? normalized : uri_encode(normalized)
 *   canonical  = SIGV4_DOUBLE_ENCODE ? uri_encode(wire) : wire
 * where remove_dots drops "." and ".." segments and collapses "//". Without
 * any of them a call is the S3 rule of sigv4.h, signed by the core as is.
 * Other flags and every error are those of sigv4.h.
 */
#ifndef AP_SIGV4_MODES_H
#define AP_SIGV4_MODES_H

#include <time.h>
#include "buf.h"
#include "error.h"
#include "sigv4.h"

#define SIGV4_NORMALIZE_PATH	0x01	/* drop "." "..", collapse "//" */
#define SIGV4_DOUBLE_ENCODE	0x02	/* canonical path = encode(wire path) */
#define SIGV4_PATH_ENCODED	0x04	/* r->path is already the wire form */
#define SIGV4_PATH_MODES	(SIGV4_NORMALIZE_PATH | SIGV4_DOUBLE_ENCODE | SIGV4_PATH_ENCODED)
#define SIGV4_GENERIC		(SIGV4_NORMALIZE_PATH | SIGV4_DOUBLE_ENCODE)
#define SIGV4_MAX_EXPIRES	604800	/* presigned URL lifetime: 7 days */

/* sigv4_sign_headers() with the path rules above. */
enum ap_err sigv4_modes_sign_headers(const struct sigv4_creds *c, const struct sigv4_request *r,
				     time_t now, int flags, struct sigv4_out *out,
				     struct sigv4_trace *trace) AP_WARN_UNUSED;

/*
 * Presigned URL valid expires_s seconds (1..SIGV4_MAX_EXPIRES) from `now`.
 * Appends to query_out the whole query to send after '?': r->query as given,
 * then X-Amz-Algorithm, -Credential, -Date, -SignedHeaders, -Expires,
 * -Security-Token (if any) and -Signature; a caller's query holding one of
 * those names is refused. The payload of service "s3" defaults to
 * UNSIGNED-PAYLOAD, as S3 documents. On error query_out is unchanged.
 * SIGV4_ADD_CONTENT_SHA256 has no effect here.
 */
enum ap_err sigv4_presign(const struct sigv4_creds *c, const struct sigv4_request *r,
			  time_t now, unsigned expires_s, int flags, struct buf *query_out,
			  struct sigv4_trace *trace) AP_WARN_UNUSED;

#endif
