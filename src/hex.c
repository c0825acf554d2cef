/*
 * hex.c - lower-case hex; see hex.h.
 */
#include "hex.h"

void hex_encode(const void *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		*out++ = digits[b[i] >> 4];
		*out++ = digits[b[i] & 15];
	}
	*out = '\0';
}

static int digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

enum ap_err hex_decode(const char *s, size_t n, void *out)
{
	unsigned char *b = out;

	for (size_t i = 0; i < n; i++) {
		int hi = digit(s[2 * i]), lo = hi < 0 ? -1 : digit(s[2 * i + 1]);

		if (lo < 0)
			return AP_ERR_BAD_REQUEST;
		b[i] = (unsigned char)(hi << 4 | lo);
	}
	return AP_OK;
}

enum ap_err hex_parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 16)
		return AP_ERR_BAD_REQUEST;
	for (size_t i = 0; i < len; i++) {
		int d = digit(s[i]);

		if (d < 0)
			return AP_ERR_BAD_REQUEST;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return AP_OK;
}
