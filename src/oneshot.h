/*
 * oneshot.h - answer one request without a web server (--request mode):
 * the request line and headers become the CGI parameters a web server would
 * pass, the API answers (waiting on storage like the front does), and the
 * response is written to stdout in CGI form.
 */
#ifndef AP_ONESHOT_H
#define AP_ONESHOT_H

#include <stddef.h>
#include "app.h"

#define ONESHOT_HEADERS_MAX 16	/* --header options at most */

/* Answers "GET /api/tiles/..." with the given "Name: value" headers;
 * returns the process exit status (2: bad arguments). */
int oneshot_run(struct app *a, const char *request_line, const char *const *headers,
		size_t nheaders);

#endif
