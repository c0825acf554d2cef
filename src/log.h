/*
 * log.h - one line per event on stderr (the web server's error log).
 *
 * Lines carry the pid so that a pool's processes can be told apart. Nothing
 * that is a secret may be passed here: config_log() masks them before.
 */
#ifndef AP_LOG_H
#define AP_LOG_H

#include "error.h"

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* The program name in each line (default "astropixel-tiles"); not copied. */
void log_set_ident(const char *name);
void log_set_level(enum log_level lvl);
/* Parses "error|warn|info|debug"; returns -1 if unknown. */
int log_parse_level(const char *s);
/* Lines logged until the next call end in " request_id=ID" (NULL: none);
 * id must stay valid meanwhile. Set while a request's own code runs. */
void log_set_request(const char *id);
void log_msg(enum log_level lvl, const char *fmt, ...) AP_PRINTF(2, 3);

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
