/*
 * buf.h - a growable byte buffer with a hard ceiling (after curl's dynbuf).
 *
 * Invariants: len <= cap <= max; data is NUL-terminated whenever cap > 0 (the
 * terminator is not counted in len). A write that would pass `max` fails with
 * AP_ERR_TOO_LARGE and leaves the buffer unchanged, so every caller states
 * how much it is willing to hold before any allocation happens.
 */
#ifndef AP_BUF_H
#define AP_BUF_H

#include <stddef.h>
#include <stdarg.h>
#include "error.h"

struct buf {
	char *data;
	size_t len;
	size_t cap;
	size_t max;
};

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);	/* len = 0, keeps memory */
enum ap_err buf_reserve(struct buf *b, size_t extra) AP_WARN_UNUSED;
enum ap_err buf_add(struct buf *b, const void *p, size_t n) AP_WARN_UNUSED;
enum ap_err buf_adds(struct buf *b, const char *s) AP_WARN_UNUSED;
enum ap_err buf_printf(struct buf *b, const char *fmt, ...) AP_PRINTF(2, 3) AP_WARN_UNUSED;
enum ap_err buf_vprintf(struct buf *b, const char *fmt, va_list ap) AP_WARN_UNUSED;

#endif
