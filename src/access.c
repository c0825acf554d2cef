/*
 * access.c - token extraction and the read/owner policy; see access.h.
 */
#include <string.h>
#include <strings.h>
#include "access.h"
#include "config.h"
#include "jwt.h"

/* The token from "Authorization: Bearer ..." or, failing that, ?token=. */
static enum ap_err find_token(struct request *r, char *tok, size_t cap, size_t *len)
{
	const char *a = r->authorization;
	enum ap_err e;

	if (a && strncasecmp(a, "Bearer ", 7) == 0) {
		a += 7;
		while (*a == ' ')
			a++;
		*len = strlen(a);
		while (*len > 0 && a[*len - 1] == ' ')
			(*len)--;
		if (*len >= cap)
			return request_fail(r, AP_ERR_UNAUTHORIZED, "token longer than %d bytes",
					    JWT_MAX_LEN);
		memcpy(tok, a, *len);
		tok[*len] = '\0';
		return *len ? AP_OK : AP_ERR_NOT_FOUND;
	}
	e = query_get(r->query, "token", tok, cap);
	if (e == AP_OK) {
		*len = strlen(tok);
		return *len ? AP_OK : AP_ERR_NOT_FOUND;
	}
	if (e == AP_ERR_BAD_REQUEST)
		return request_fail(r, AP_ERR_UNAUTHORIZED, "malformed or over-long token parameter");
	return AP_ERR_NOT_FOUND;
}

enum ap_err access_check(const struct config *cfg, struct request *r, const struct dataset *d,
			 enum access_need need, time_t now)
{
	char tok[JWT_MAX_LEN + 1];
	struct jwt_claims claims;
	const char *why = NULL;
	size_t len = 0;
	enum ap_err e;

	if (need == NEED_READ && d->is_demo)
		return AP_OK;
	e = find_token(r, tok, sizeof(tok), &len);
	if (e == AP_ERR_NOT_FOUND) {
		return request_fail(r, AP_ERR_UNAUTHORIZED, "authentication required");
	}
	if (e) {
		return e;
	}
	if (!cfg->jwt_secret) {
		return request_fail(r, AP_ERR_UNAUTHORIZED,
				    "tokens cannot be verified: SECRET_KEY is not configured");
	}
	e = jwt_verify_hs256(tok, len, cfg->jwt_secret, strlen(cfg->jwt_secret), now, &claims, &why);
	memset(tok, 0, sizeof(tok));
	if (e) {
		return request_fail(r, AP_ERR_UNAUTHORIZED, "invalid token: %s",
				    why ? why : "rejected");
	}
	if (!d->has_owner || strcmp(claims.sub, d->owner) != 0)
		return request_fail(r, AP_ERR_FORBIDDEN, need == NEED_OWNER ?
				    "only the dataset's owner may do this" :
				    "this dataset is private");
	return AP_OK;
}
