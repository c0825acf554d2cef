/*
 * s3.h - requests to the bucket: S3 API (path-style, SigV4) or public URL.
 *
 * s3_prepare() turns (method, key, query, body) into a ready xfer_spec:
 * the URL {S3_ENDPOINT_URL}/{bucket}/{key} with SigV4 header authorization
 * (x-amz-content-sha256 always sent and signed), or {R2_PUBLIC_URL}/{key}
 * unsigned when the public mode is configured and the method is a read.
 * Everything the spec points to lives inside struct s3_req, so a request
 * can be prepared on the stack (the engine copies what it keeps).
 */
#ifndef AP_S3_H
#define AP_S3_H

#include <stdbool.h>
#include <stddef.h>
#include "buf.h"
#include "engine.h"
#include "error.h"

#define S3_KEY_MAX 1024
#define S3_REQ_STORAGE 4096
#define S3_LIST_PAGE_MAX 1000
#define S3_LIST_BODY_MAX (4 * 1024 * 1024)

struct config;
struct s3;

struct s3_req {
	char url[ENGINE_URL_MAX];
	char storage[S3_REQ_STORAGE];	/* header lines */
	size_t used;
	struct xfer_spec spec;
};

enum ap_err s3_new(const struct config *c, struct s3 **out) AP_WARN_UNUSED;
void s3_free(struct s3 *s);
/*
 * Prepares a request. query is the raw, already encoded query string or
 * NULL; payload_sha256 is the body's hex SHA-256 (NULL: computed, or
 * UNSIGNED-PAYLOAD when there is no body); extra header lines
 * ("Content-Type: image/jpeg") are sent and signed.
 */
enum ap_err s3_prepare(struct s3 *s, struct s3_req *r, const char *method, const char *key,
		       const char *query, const void *body, size_t body_len,
		       const char *payload_sha256, const char *const *extra, size_t nextra) AP_WARN_UNUSED;

/* One object of a ListObjectsV2 page. */
struct s3_object {
	char key[S3_KEY_MAX + 1];
	char etag[64];	/* without quotes, lower-case hex for single-part uploads */
	unsigned long long size;
};
/* Parses a ListObjectsV2 XML page; calls fn for each object; sets the next
 * continuation token ("" when the listing is complete). */
enum ap_err s3_parse_list(const char *xml, size_t len,
			  void (*fn)(const struct s3_object *o, void *ud), void *ud,
			  char *next_token, size_t token_cap) AP_WARN_UNUSED;
/* Query string of a ListObjectsV2 page request (encoded). */
enum ap_err s3_list_query(const char *prefix, const char *token, struct buf *out) AP_WARN_UNUSED;

#endif
