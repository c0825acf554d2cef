/*
 * log.c - stderr logging with a level, pid and UTC timestamp.
 */
#include <stdio.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "log.h"

/* long enough for the start-up line of every setting */
#define LOG_LINE_MAX 8192

static enum log_level cur_level = LOG_INFO;
static const char *ident = "astropixel-tiles";
static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *request_id;	/* the request being handled, or NULL */

void log_set_request(const char *id) { request_id = id; }

void log_set_ident(const char *name) { ident = name; }
void log_set_level(enum log_level lvl) { cur_level = lvl; }

int log_parse_level(const char *s)
{
	for (int i = 0; i <= LOG_DEBUG; i++)
		if (strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	char ts[32];
	struct tm tm;
	time_t now;
	va_list ap;
	int n;

	if (lvl > cur_level)
		return;
	now = time(NULL);
	gmtime_r(&now, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	n = snprintf(line, sizeof(line), "%s %s[%ld] %s: ", ts, ident, (long)getpid(),
		     level_names[lvl]);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	n = (int)strlen(line);
	if (request_id)	/* at the end: what greps the start of a line still matches */
		snprintf(line + n, sizeof(line) - (size_t)n, " request_id=%s", request_id);
	/* one write() per line so that lines of a pool do not interleave */
	n = (int)strlen(line);
	if ((size_t)n < sizeof(line) - 1)
		line[n++] = '\n';
	else
		line[sizeof(line) - 2] = '\n', n = (int)sizeof(line) - 1;
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}
