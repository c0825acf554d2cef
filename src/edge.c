/*
 * edge.c - Cache-Control for every cacheable answer; see edge.h.
 */
#include <string.h>
#include <openssl/evp.h>
#include "edge.h"
#include "config.h"
#include "dataset.h"
#include "hex.h"
#include "request.h"
#include "response.h"

static bool token_in_url(const struct request *r)
{
	char v[2];

	/* present, whatever its value (too long for v is present too) */
	return query_get(r->query, "token", v, sizeof(v)) != AP_ERR_NOT_FOUND;
}

void edge_cache_control(const struct config *c, const struct dataset *d, const struct request *r,
			enum edge_kind k, struct response *res)
{
	bool pub = d->is_demo && !token_in_url(r);

	switch (k) {
	case EDGE_CURRENT:
		if (pub)
			response_header(res, "Cache-Control", "public, max-age=%ld, immutable",
					c->public_max_age_s);
		else
			response_header(res, "Cache-Control", "private, max-age=%ld",
					c->private_max_age_s);
		return;
	case EDGE_UNVERSIONED:
		if (pub) {
			response_header(res, "Cache-Control", "public, max-age=%ld, stale-while-revalidate=%ld",
					c->unversioned_max_age_s, c->stale_while_revalidate_s);
			return;
		}
		break;
	case EDGE_REDIRECT:
	case EDGE_INFO:
		if (pub) {
			response_header(res, "Cache-Control", "public, max-age=%ld",
					c->unversioned_max_age_s);
			return;
		}
		break;
	case EDGE_INFO_VARIES:
		break;	/* private whatever the dataset: see edge.h */
	}
	response_header(res, "Cache-Control", "private, max-age=%ld", c->unversioned_max_age_s);
}

bool edge_etag_matches(const char *inm, const char *etag)
{
	const char *p = inm;
	size_t elen = strlen(etag);

	while (*p) {
		const char *q;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '*')
			return true;
		if (p[0] == 'W' && p[1] == '/')
			p += 2;	/* weak comparison: the opaque tags must match */
		q = p;
		while (*q && *q != ',')
			q++;
		while (q > p && (q[-1] == ' ' || q[-1] == '\t'))
			q--;
		if ((size_t)(q - p) == elen && memcmp(p, etag, elen) == 0)
			return true;
		p = q;
		while (*p && *p != ',')
			p++;
	}
	return false;
}

enum ap_err edge_document(const struct config *c, const struct dataset *d, const struct request *r,
			  enum edge_kind k, const char *type, const char *text, struct response *res)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char etag[2 * 16 + 3];
	struct buf b;
	enum ap_err e;

	if (!EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL))
		return AP_ERR_INTERNAL;
	etag[0] = '"';
	hex_encode(md, 16, etag + 1);
	memcpy(etag + 33, "\"", 2);
	buf_init(&b, RESP_JSON_MAX);
	if ((e = buf_adds(&b, text))) {
		buf_free(&b);
		return e;
	}
	response_text(res, 200, type, &b);
	response_header(res, "ETag", "%s", etag);
	edge_cache_control(c, d, r, k, res);
	if (r->if_none_match && edge_etag_matches(r->if_none_match, etag)) {
		res->status = 304;
		res->no_body = true;
	}
	return AP_OK;
}
