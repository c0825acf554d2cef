/*
 * decimal.c - strict decimal parsing; see decimal.h.
 */
#include "decimal.h"

enum ap_err dec_parse_u64(const char *s, size_t len, uint64_t max, unsigned flags,
			  uint64_t *out)
{
	uint64_t v = 0;

	if (!s || len == 0)
		return AP_ERR_BAD_REQUEST;
	if (s[0] == '0' && len > 1 && !(flags & DEC_LEADING_ZEROS))
		return AP_ERR_BAD_REQUEST;
	/* allowed zeros do not count against the 20 digits of 2^64 - 1 (found
	 * by tests/fuzz: "0000000000000000000000065" is 65) */
	while (len > 1 && s[0] == '0')
		s++, len--;
	if (len > 20)
		return AP_ERR_BAD_REQUEST;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9)
			return AP_ERR_BAD_REQUEST;
		/* v * 10 + d <= max, without overflowing */
		if (d > max || v > (max - d) / 10)
			return AP_ERR_BAD_REQUEST;
		v = v * 10 + d;
	}
	*out = v;
	return AP_OK;
}

enum ap_err dec_parse_i64(const char *s, size_t len, int64_t min, int64_t max, unsigned flags,
			  int64_t *out)
{
	uint64_t mag;

	if (!s || len == 0)
		return AP_ERR_BAD_REQUEST;
	if (s[0] == '-') {
		if (min >= 0 || dec_parse_u64(s + 1, len - 1, (uint64_t)-(min + 1) + 1, flags, &mag))
			return AP_ERR_BAD_REQUEST;
		if (mag == 0)
			return AP_ERR_BAD_REQUEST;	/* "-0" */
		*out = mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag;
		return AP_OK;
	}
	if (max < 0 || dec_parse_u64(s, len, (uint64_t)max, flags, &mag) || (int64_t)mag < min)
		return AP_ERR_BAD_REQUEST;
	*out = (int64_t)mag;
	return AP_OK;
}
