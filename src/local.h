/*
 * local.h - the local storage tree (SPEC section 2), read synchronously.
 *
 * Keys are built only from validated numbers (tilekey.h) or the fixed
 * metadata prefix, so no key can leave the root; the size is checked with
 * fstat before anything is read.
 */
#ifndef AP_LOCAL_H
#define AP_LOCAL_H

#include <stddef.h>
#include "buf.h"
#include "error.h"

/* Reads root/key into out (reset first). AP_ERR_NOT_FOUND if absent,
 * AP_ERR_TOO_LARGE if over max bytes, AP_ERR_IO otherwise. */
enum ap_err local_read(const char *root, const char *key, size_t max, struct buf *out) AP_WARN_UNUSED;
/* True if root is a readable directory (health). */
int local_ok(const char *root);

#endif
