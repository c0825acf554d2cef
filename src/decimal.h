/*
 * decimal.h - the one parser of decimal numbers from untrusted text.
 *
 * Text from requests, storage answers, environment and files is parsed
 * only here: digits only (an optional '-' where a signed value is asked
 * for), no blanks, no '+', no leading zeros unless the caller allows them,
 * nothing after the digits, and a range checked without overflow. strtol
 * and friends accept all of those and overflow silently in the callers'
 * casts; they appear nowhere else.
 */
#ifndef AP_DECIMAL_H
#define AP_DECIMAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"

#define DEC_LEADING_ZEROS 1u	/* accept "007" (file names, Content-Length) */

/* s[0..len) as an unsigned number <= max; AP_ERR_BAD_REQUEST otherwise. */
enum ap_err dec_parse_u64(const char *s, size_t len, uint64_t max, unsigned flags,
			  uint64_t *out) AP_WARN_UNUSED;
/* The same for a signed number in [min, max] (a leading '-' allowed). */
enum ap_err dec_parse_i64(const char *s, size_t len, int64_t min, int64_t max, unsigned flags,
			  int64_t *out) AP_WARN_UNUSED;

#endif
