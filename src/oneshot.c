/*
 * oneshot.c - --request mode: one request from the command line, answered
 * on stdout in CGI form through the same request parsing and API as the
 * FastCGI front (debugging, valgrind, tests). See oneshot.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "oneshot.h"
#include "api.h"
#include "request.h"
#include "response.h"

#define ONE_SHOT_PARAMS_MAX (ONESHOT_HEADERS_MAX + 8)

struct one_shot {
	const char *names[ONE_SHOT_PARAMS_MAX];
	const char *values[ONE_SHOT_PARAMS_MAX];
	char storage[ONE_SHOT_PARAMS_MAX][2 * REQ_URI_MAX];	/* room to exceed any limit */
	size_t n;
};

static const char *one_param(const char *name, void *ud)
{
	struct one_shot *o = ud;

	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->names[i], name) == 0)
			return o->values[i];
	return NULL;
}

static int one_add(struct one_shot *o, const char *name, const char *value)
{
	size_t nlen = strlen(name);

	if (o->n == ONE_SHOT_PARAMS_MAX || nlen + strlen(value) + 2 > sizeof(o->storage[0]))
		return -1;
	memcpy(o->storage[o->n], name, nlen + 1);
	memcpy(o->storage[o->n] + nlen + 1, value, strlen(value) + 1);
	o->names[o->n] = o->storage[o->n];
	o->values[o->n] = o->storage[o->n] + nlen + 1;
	o->n++;
	return 0;
}

int oneshot_run(struct app *a, const char *line, const char *const *headers, size_t nheaders)
{
	struct one_shot *o = calloc(1, sizeof(*o));
	char method[16], cgi[128];
	const char *sp = strchr(line, ' ');
	struct request req;
	struct response res;
	enum ap_err pe;
	int rc = 2;

	if (!o)
		return 1;
	if (!sp || (size_t)(sp - line) >= sizeof(method)) {
		fprintf(stderr, "--request takes 'METHOD /path?query'\n");
		goto out;
	}
	memcpy(method, line, (size_t)(sp - line));
	method[sp - line] = '\0';
	if (one_add(o, "REQUEST_METHOD", method) || one_add(o, "REQUEST_URI", sp + 1))
		goto toolong;
	for (size_t i = 0; i < nheaders; i++) {
		const char *colon = strchr(headers[i], ':');
		size_t n, j;
		if (!colon || (size_t)(colon - headers[i]) + 6 > sizeof(cgi)) {
			fprintf(stderr, "--header takes 'Name: value'\n");
			goto out;
		}
		n = (size_t)snprintf(cgi, sizeof(cgi), "HTTP_");
		for (j = 0; headers[i] + j < colon; j++) {
			char c = headers[i][j];
			cgi[n++] = c == '-' ? '_' : (char)((c >= 'a' && c <= 'z') ? c - 32 : c);
		}
		cgi[n] = '\0';
		colon++;
		while (*colon == ' ')
			colon++;
		if (strcmp(cgi, "HTTP_CONTENT_LENGTH") == 0)
			memmove(cgi, cgi + 5, strlen(cgi + 5) + 1);
		if (one_add(o, cgi, colon))
			goto toolong;
	}
	pe = request_parse(&req, one_param, o);
	response_init(&res);
	if (pe) {
		api_cors(a, &res);
		response_error(&res, &req, pe);
	} else {
		res.no_body = req.method == M_HEAD;
		api_handle(a, &req, &res);
	}
	rc = response_write(&res, stdout) ? 1 : 0;
	fflush(stdout);
	response_free(&res);
	app_settle(a);
	goto out;
toolong:
	fprintf(stderr, "--request/--header: too long or too many\n");
out:
	free(o);
	return rc;
}

