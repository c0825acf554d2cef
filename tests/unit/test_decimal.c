/*
 * test_decimal.c - the one parser of untrusted numbers (decimal.h): digits
 * only, bounds without overflow, leading zeros only when asked for.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "decimal.h"

static enum ap_err u(const char *s, uint64_t max, unsigned flags, uint64_t *v)
{
	return dec_parse_u64(s, strlen(s), max, flags, v);
}

static void accepts_plain_numbers_up_to_max(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(u("0", 10, 0, &v), AP_OK);
	assert_int_equal(v, 0);
	assert_int_equal(u("10", 10, 0, &v), AP_OK);
	assert_int_equal(v, 10);
	assert_int_equal(u("18446744073709551615", UINT64_MAX, 0, &v), AP_OK);
	assert_true(v == UINT64_MAX);
	assert_int_equal(u("007", 10, DEC_LEADING_ZEROS, &v), AP_OK);
	assert_int_equal(v, 7);
	/* allowed zeros are not digits of the value, however many there are */
	assert_int_equal(u("0000000000000000000000065", 127, DEC_LEADING_ZEROS, &v), AP_OK);
	assert_int_equal(v, 65);
	assert_int_equal(u("000000000000000000000", 0, DEC_LEADING_ZEROS, &v), AP_OK);
	assert_int_equal(v, 0);
	assert_int_equal(u("0000018446744073709551615", UINT64_MAX, DEC_LEADING_ZEROS, &v), AP_OK);
	assert_true(v == UINT64_MAX);
	assert_int_equal(u("0000018446744073709551616", UINT64_MAX, DEC_LEADING_ZEROS, &v),
			 AP_ERR_BAD_REQUEST);
	assert_int_equal(u("0000000000000000000000065", 127, 0, &v), AP_ERR_BAD_REQUEST);
}

static void refuses_everything_else(void **state)
{
	static const char *const bad[] = {"", " 1", "1 ", "+1", "-1", "1.0", "0x10", "1e3", "١",
					  "18446744073709551616", "99999999999999999999", "007"};
	uint64_t v = 42;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (u(bad[i], UINT64_MAX, 0, &v) == AP_OK)
			fail_msg("'%s' must be refused", bad[i]);
	assert_int_equal(v, 42);	/* untouched on failure */
	assert_int_equal(u("11", 10, 0, &v), AP_ERR_BAD_REQUEST);
	/* a single digit above a max below 9 (max - d must not wrap) */
	assert_int_equal(u("5", 3, 0, &v), AP_ERR_BAD_REQUEST);
	assert_int_equal(u("3", 3, 0, &v), AP_OK);
	assert_int_equal(u("1", 0, 0, &v), AP_ERR_BAD_REQUEST);
	assert_int_equal(dec_parse_u64("12", 1, 9, 0, &v), AP_OK);	/* only len bytes */
	assert_int_equal(v, 1);
}

static void signed_bounds_hold(void **state)
{
	int64_t v;

	(void)state;
	assert_int_equal(dec_parse_i64("-5", 2, -10, 10, 0, &v), AP_OK);
	assert_int_equal(v, -5);
	assert_int_equal(dec_parse_i64("-11", 3, -10, 10, 0, &v), AP_ERR_BAD_REQUEST);
	assert_int_equal(dec_parse_i64("11", 2, -10, 10, 0, &v), AP_ERR_BAD_REQUEST);
	assert_int_equal(dec_parse_i64("-1", 2, 0, 10, 0, &v), AP_ERR_BAD_REQUEST);
	assert_int_equal(dec_parse_i64("-0", 2, -10, 10, 0, &v), AP_ERR_BAD_REQUEST);
	assert_int_equal(dec_parse_i64("5", 1, 7, 10, 0, &v), AP_ERR_BAD_REQUEST);
	assert_int_equal(dec_parse_i64("-9223372036854775808", 20, INT64_MIN, INT64_MAX, 0, &v), AP_OK);
	assert_true(v == INT64_MIN);
	assert_int_equal(dec_parse_i64("9223372036854775808", 19, INT64_MIN, INT64_MAX, 0, &v),
			 AP_ERR_BAD_REQUEST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accepts_plain_numbers_up_to_max),
		cmocka_unit_test(refuses_everything_else),
		cmocka_unit_test(signed_bounds_hold),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
