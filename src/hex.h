/*
 * hex.h - the one lower-case hex encoder (ETags, digests, SigV4).
 */
#ifndef AP_HEX_H
#define AP_HEX_H

#include <stddef.h>

/* Writes 2 * n hex digits of p and a NUL into out (room for 2 * n + 1). */
void hex_encode(const void *p, size_t n, char *out);

#endif
