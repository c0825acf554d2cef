/*
 * test_breaker.c - the circuit breaker (breaker.h): only failures count,
 * consecutive ones open it, the cool-down ends in half-open where exactly
 * one probe goes, and neutral outcomes change nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>
#include "breaker.h"

static bool allow(struct breaker *b, bool *probe)
{
	return breaker_allow(b, probe);
}

static void fail_n(struct breaker *b, int n)
{
	bool p;

	for (int i = 0; i < n; i++) {
		assert_true(allow(b, &p));
		breaker_report(b, BREAKER_FAILURE, p);
	}
}

static void closed_until_threshold_consecutive_failures(void **state)
{
	struct breaker b;
	bool p;

	(void)state;
	breaker_init(&b, 3, 1000);
	fail_n(&b, 2);
	assert_int_equal(breaker_state(&b), BREAKER_CLOSED);
	assert_true(allow(&b, &p));
	breaker_report(&b, BREAKER_SUCCESS, p);		/* a success resets the count */
	fail_n(&b, 2);
	assert_int_equal(breaker_state(&b), BREAKER_CLOSED);
	fail_n(&b, 1);
	assert_int_equal(breaker_state(&b), BREAKER_OPEN);
	assert_false(allow(&b, &p));
	assert_int_equal(b.openings, 1);
	assert_true(breaker_retry_in_ms(&b) > 0 && breaker_retry_in_ms(&b) <= 1000);
}

static void neutral_outcomes_change_nothing(void **state)
{
	struct breaker b;
	bool p;

	(void)state;
	breaker_init(&b, 2, 1000);
	for (int i = 0; i < 100; i++) {
		assert_true(allow(&b, &p));
		breaker_report(&b, BREAKER_NEUTRAL, p);	/* e.g. no transfer slot in time */
	}
	assert_int_equal(breaker_state(&b), BREAKER_CLOSED);
	fail_n(&b, 1);
	assert_true(allow(&b, &p));
	breaker_report(&b, BREAKER_NEUTRAL, p);
	fail_n(&b, 1);				/* still consecutive: neutral is not success */
	assert_int_equal(breaker_state(&b), BREAKER_OPEN);
}

static void half_open_lets_exactly_one_probe_through(void **state)
{
	struct breaker b;
	bool p, q;

	(void)state;
	breaker_init(&b, 1, 30);
	fail_n(&b, 1);
	assert_false(allow(&b, &p));
	usleep(50 * 1000);
	assert_int_equal(breaker_state(&b), BREAKER_HALF_OPEN);
	assert_true(allow(&b, &p));
	assert_true(p);
	for (int i = 0; i < 10; i++)
		assert_false(allow(&b, &q));	/* the others are still skipped */
	/* the probe fails: another full cool-down */
	assert_true(breaker_report(&b, BREAKER_FAILURE, p));
	assert_int_equal(breaker_state(&b), BREAKER_OPEN);
	assert_int_equal(b.openings, 2);
	usleep(50 * 1000);
	assert_true(allow(&b, &p));
	assert_true(p);
	/* a neutral probe lets the next request be the probe */
	breaker_report(&b, BREAKER_NEUTRAL, p);
	assert_int_equal(breaker_state(&b), BREAKER_HALF_OPEN);
	assert_true(allow(&b, &p));
	assert_true(p);
	assert_true(breaker_report(&b, BREAKER_SUCCESS, p));
	assert_int_equal(breaker_state(&b), BREAKER_CLOSED);
	assert_true(allow(&b, &q));
	assert_false(q);
}

static void late_failures_of_requests_sent_before_do_not_extend_it(void **state)
{
	struct breaker b;
	bool p1, p2;

	(void)state;
	breaker_init(&b, 1, 10000);
	assert_true(allow(&b, &p1));
	assert_true(allow(&b, &p2));		/* two in flight */
	breaker_report(&b, BREAKER_FAILURE, p1);	/* opens */
	long long left = breaker_retry_in_ms(&b);
	usleep(20 * 1000);
	assert_false(breaker_report(&b, BREAKER_FAILURE, p2));	/* not a new opening */
	assert_true(breaker_retry_in_ms(&b) <= left);
	assert_int_equal(b.openings, 1);
	/* a late success of one of them does prove the service is back */
	assert_true(breaker_report(&b, BREAKER_SUCCESS, false));
	assert_int_equal(breaker_state(&b), BREAKER_CLOSED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(closed_until_threshold_consecutive_failures),
		cmocka_unit_test(neutral_outcomes_change_nothing),
		cmocka_unit_test(half_open_lets_exactly_one_probe_through),
		cmocka_unit_test(late_failures_of_requests_sent_before_do_not_extend_it),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
