/*
 * error.h - the one error idiom of astropixel-tiles.
 *
 * Every function that can fail returns an enum ap_err (AP_OK == 0) and
 * cleans up through one `fail:` label. The only place an error becomes an
 * HTTP status is ap_err_status() in error.c, so the mapping of SPEC section 3
 * cannot drift between endpoints.
 */
#ifndef AP_ERROR_H
#define AP_ERROR_H

#if defined(__GNUC__)
#define AP_WARN_UNUSED __attribute__((warn_unused_result))
#define AP_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define AP_WARN_UNUSED
#define AP_PRINTF(a, b)
#endif

enum ap_err {
	AP_OK = 0,
	AP_ERR_BAD_REQUEST,	/* 400 bad syntax or value */
	AP_ERR_UNAUTHORIZED,	/* 401 no or invalid token */
	AP_ERR_FORBIDDEN,	/* 403 valid token, not allowed */
	AP_ERR_NOT_FOUND,	/* 404 unknown dataset or tile */
	AP_ERR_METHOD,		/* 405 wrong method */
	AP_ERR_TOO_LARGE,	/* 413 request body too large */
	AP_ERR_URI_TOO_LONG,	/* 414 URL or query too long */
	AP_ERR_HEADER_TOO_LARGE,/* 431 a header over its limit */
	AP_ERR_NOT_READY,	/* 503 dataset not completed */
	AP_ERR_UNAVAILABLE,	/* 503 service cannot work */
	AP_ERR_STORAGE,		/* 502 storage failed, no fallback had it */
	AP_ERR_TIMEOUT,		/* 504 storage timed out */
	AP_ERR_NOMEM,		/* 503 out of memory (transient) */
	AP_ERR_INTERNAL,	/* 500 a bug */
	AP_ERR_CONFIG,		/* start-up: misconfiguration */
	AP_ERR_IO,		/* local I/O failure */
	AP_ERR__COUNT
};

/* HTTP status for an error (AP_OK -> 200). */
int ap_err_status(enum ap_err e);
/* Reason phrase of an HTTP status ("Not Found"). */
const char *ap_status_reason(int status);
/* Short default text for an error, used when no detail was given. */
const char *ap_err_str(enum ap_err e);

#endif
