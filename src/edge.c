/*
 * edge.c - Cache-Control for every cacheable answer; see edge.h.
 */
#include <string.h>
#include "edge.h"
#include "config.h"
#include "dataset.h"
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
