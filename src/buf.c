/*
 * buf.c - bounded growable buffer; see buf.h for the invariants.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include "buf.h"

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

enum ap_err buf_reserve(struct buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > b->max || b->len > b->max - extra)
		return AP_ERR_TOO_LARGE;
	need = b->len + extra + 1;	/* room for the terminator */
	if (need <= b->cap)
		return AP_OK;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	p = realloc(b->data, cap);
	if (!p)
		return AP_ERR_NOMEM;
	b->data = p;
	b->cap = cap;
	return AP_OK;
}

enum ap_err buf_add(struct buf *b, const void *p, size_t n)
{
	enum ap_err e = buf_reserve(b, n);

	if (e)
		return e;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return AP_OK;
}

enum ap_err buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

enum ap_err buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	enum ap_err e;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return AP_ERR_INTERNAL;
	e = buf_reserve(b, (size_t)n);
	if (e)
		return e;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return AP_OK;
}

enum ap_err buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	enum ap_err e;

	va_start(ap, fmt);
	e = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return e;
}
