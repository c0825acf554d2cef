/*
 * access.h - who may read or manage a dataset (SPEC section 4).
 *
 * Public (is_demo) datasets are readable by anyone, whatever token comes
 * with the request. Everything else needs a valid HS256 token whose `sub`
 * equals the dataset's owner_id: no or a bad token is 401, another user 403.
 */
#ifndef AP_ACCESS_H
#define AP_ACCESS_H

#include <stdbool.h>
#include <time.h>
#include "catalog.h"
#include "error.h"
#include "request.h"

struct config;

enum access_need { NEED_READ, NEED_OWNER };

/* AP_OK, or 401/403 with r->detail set. */
enum ap_err access_check(const struct config *cfg, struct request *r, const struct dataset *d,
			 enum access_need need, time_t now) AP_WARN_UNUSED;

#endif
