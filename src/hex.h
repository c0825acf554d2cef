/*
 * hex.h - the one hex codec (ETags, digests, SigV4, the shared tier).
 */
#ifndef AP_HEX_H
#define AP_HEX_H

#include <stddef.h>
#include <stdint.h>
#include "error.h"

/* Writes 2 * n lower-case hex digits of p and a NUL into out (room for 2 * n + 1). */
void hex_encode(const void *p, size_t n, char *out);
/* 2 * n hex digits (either case) into n bytes; AP_ERR_BAD_REQUEST otherwise. */
enum ap_err hex_decode(const char *s, size_t n, void *out) AP_WARN_UNUSED;
/* 1..16 hex digits as a number. */
enum ap_err hex_parse_u64(const char *s, size_t len, uint64_t *out) AP_WARN_UNUSED;

#endif
