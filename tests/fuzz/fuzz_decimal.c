/*
 * fuzz_decimal.c - the one parser of untrusted numbers (decimal.h):
 * dec_parse_u64 and dec_parse_i64 over arbitrary text, with the bounds and
 * flags their callers use and bounds taken from the input.
 *
 * Input: the first 8 bytes (if there are as many) are a bound, little
 * endian; the rest is the text.
 *
 * Oracle: a reference written here with 128-bit arithmetic from the rules
 * of decimal.h (digits only, a '-' only for the signed parser and never
 * "-0", leading zeros only with DEC_LEADING_ZEROS, the value within its
 * bounds); the parsers must accept exactly what it accepts, with its value,
 * and leave *out untouched on a refusal.
 */
#include "fuzz.h"
#include "decimal.h"

/* The magnitude of s[0..n) if it is digits only (saturated), else -1. */
static __int128 ref_mag(const char *s, size_t n, unsigned flags)
{
	__int128 v = 0;
	const __int128 cap = (__int128)1 << 100;

	if (n == 0 || (s[0] == '0' && n > 1 && !(flags & DEC_LEADING_ZEROS)))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
		if (v > cap)
			v = cap;	/* above every bound */
	}
	return v;
}

static void check_u64(const char *s, size_t n, uint64_t max, unsigned flags)
{
	uint64_t got = 0x5a5a5a5a5a5a5a5aull;
	__int128 want = ref_mag(s, n, flags);
	int ok = dec_parse_u64(s, n, max, flags, &got) == AP_OK;
	int ref = want >= 0 && want <= (__int128)max;

	FUZZ_CHECK(ok == ref, "dec_parse_u64(\"%.*s\", max %llu, flags %u) says %d", (int)n, s,
		   (unsigned long long)max, flags, ok);
	FUZZ_CHECK(ok ? (__int128)got == want : got == 0x5a5a5a5a5a5a5a5aull, "value %llu",
		   (unsigned long long)got);
}

static void check_i64(const char *s, size_t n, int64_t min, int64_t max, unsigned flags)
{
	int64_t got = 0x5a5a5a5a5a5a5a5all;
	int neg = n > 0 && s[0] == '-';
	__int128 mag = ref_mag(s + neg, n - (size_t)neg, flags), want = neg ? -mag : mag;
	int ok = dec_parse_i64(s, n, min, max, flags, &got) == AP_OK;
	int ref = mag >= 0 && !(neg && mag == 0) && want >= min && want <= max;

	FUZZ_CHECK(ok == ref, "dec_parse_i64(\"%.*s\", %lld..%lld, flags %u) says %d", (int)n, s,
		   (long long)min, (long long)max, flags, ok);
	FUZZ_CHECK(ok ? got == want : got == 0x5a5a5a5a5a5a5a5all, "value %lld", (long long)got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t umax[] = {0, 1, 9, 10, 127, 4096, UINT32_MAX, INT64_MAX, UINT64_MAX};
	uint64_t bound = 0;
	size_t skip = size >= 8 ? 8 : 0;
	char *s;

	for (size_t i = 0; i < skip; i++)
		bound |= (uint64_t)data[i] << (8 * i);
	/* a copy of exactly the text: ASan sees any read past it */
	s = malloc(size - skip ? size - skip : 1);
	if (!s)
		abort();
	memcpy(s, data + skip, size - skip);
	for (unsigned flags = 0; flags <= DEC_LEADING_ZEROS; flags += DEC_LEADING_ZEROS) {
		for (size_t i = 0; i < sizeof(umax) / sizeof(umax[0]); i++)
			check_u64(s, size - skip, umax[i], flags);
		check_u64(s, size - skip, bound, flags);
		check_i64(s, size - skip, INT64_MIN, INT64_MAX, flags);
		check_i64(s, size - skip, -1, 30, flags);
		check_i64(s, size - skip, 1, 2147483647, flags);
		check_i64(s, size - skip, -(int64_t)(bound >> 1), (int64_t)(bound >> 2), flags);
	}
	free(s);
	return 0;
}
