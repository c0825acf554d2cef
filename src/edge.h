/*
 * edge.h - what the caches between a viewer and the responder (the
 * browser's, a CDN's, the web server's own) may keep: the Cache-Control of
 * every cacheable answer is decided here, and nowhere else.
 *
 *   URL                          public dataset                          private dataset
 *   tile at the current version  public, max-age=PUBLIC_MAX_AGE, immutable  private, max-age=PRIVATE_MAX_AGE
 *   tile at an older version     307 to the current one, public, short   307, private, short
 *   tile without version         public, max-age=short, stale-while-revalidate=SWR   private, max-age=short
 *   info                         public, max-age=short                   private, max-age=short
 * where short is UNVERSIONED_MAX_AGE and SWR STALE_WHILE_REVALIDATE. A
 * request that carries its token in the URL (?token=) is answered private
 * whatever the dataset, so that no shared cache keeps an entry under a URL
 * that names a token. Errors and the control endpoints are no-store
 * (response.h).
 */
#ifndef AP_EDGE_H
#define AP_EDGE_H

#include <stdbool.h>
#include "error.h"

struct config;
struct dataset;
struct request;
struct response;

/* EDGE_INFO_VARIES: an info answer that depends on Accept (the dataset has
 * WebP variants, docs/api.md): it carries Vary: Accept and is private, so
 * that no shared cache that ignores Vary (some CDNs do for JSON) hands a
 * .webp template to a client that did not ask for it. */
enum edge_kind { EDGE_CURRENT, EDGE_REDIRECT, EDGE_UNVERSIONED, EDGE_INFO, EDGE_INFO_VARIES };

void edge_cache_control(const struct config *c, const struct dataset *d, const struct request *r,
			enum edge_kind k, struct response *res);
/* A small document of a dataset (info, IIIF info.json, DZI): text as the
 * body of that type, a strong ETag of its bytes, the Cache-Control of k,
 * and 304 when If-None-Match names it. */
enum ap_err edge_document(const struct config *c, const struct dataset *d, const struct request *r,
			  enum edge_kind k, const char *type, const char *text, struct response *res)
	AP_WARN_UNUSED;
/* If-None-Match (a list, "*", weak or strong) against a strong ETag. */
bool edge_etag_matches(const char *if_none_match, const char *etag);

#endif
