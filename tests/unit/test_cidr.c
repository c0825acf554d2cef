/*
 * test_cidr.c - the METRICS_ALLOW list (cidr.h): what it matches, what it
 * refuses to parse and why.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "cidr.h"

static char why[256];

static struct cidr_list *parse_ok(const char *text)
{
	static struct cidr_list l;

	why[0] = '\0';
	if (cidr_parse(text, &l, why, sizeof(why)) != AP_OK)
		fail_msg("\"%s\" refused: %s", text ? text : "(null)", why);
	return &l;
}

static void refused(const char *text, const char *reason)
{
	struct cidr_list l;

	why[0] = '\0';
	if (cidr_parse(text, &l, why, sizeof(why)) != AP_ERR_CONFIG)
		fail_msg("\"%s\" accepted", text);
	if (strncmp(why, "METRICS_ALLOW: ", 15) != 0 || !strstr(why, reason))
		fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", text, why, reason);
}

static void test_default_is_loopback_only(void **state)
{
	struct cidr_list *l = parse_ok(CIDR_DEFAULT);

	(void)state;
	assert_int_equal(l->n, 2);
	assert_true(cidr_match(l, "127.0.0.1"));
	assert_true(cidr_match(l, "127.255.0.9"));
	assert_true(cidr_match(l, "::1"));
	assert_true(cidr_match(l, "::ffff:127.0.0.1"));	/* a server listening on [::] */
	assert_false(cidr_match(l, "128.0.0.1"));
	assert_false(cidr_match(l, "10.0.0.1"));
	assert_false(cidr_match(l, "::2"));
	assert_false(cidr_match(l, "::ffff:10.0.0.1"));
}

static void test_networks_and_hosts(void **state)
{
	struct cidr_list *l = parse_ok("10.0.0.0/8, 192.168.1.7 ,\t2001:db8::/32,fe80::1/128");

	(void)state;
	assert_int_equal(l->n, 4);
	assert_true(cidr_match(l, "10.0.0.0"));
	assert_true(cidr_match(l, "10.255.255.255"));
	assert_false(cidr_match(l, "11.0.0.0"));
	assert_false(cidr_match(l, "9.255.255.255"));
	assert_true(cidr_match(l, "192.168.1.7"));
	assert_false(cidr_match(l, "192.168.1.8"));
	assert_true(cidr_match(l, "2001:db8:ffff::1"));
	assert_true(cidr_match(l, "2001:DB8::"));
	assert_false(cidr_match(l, "2001:db9::1"));
	assert_true(cidr_match(l, "fe80::1"));
	assert_false(cidr_match(l, "fe80::2"));
}

static void test_prefixes_not_on_byte_boundaries(void **state)
{
	struct cidr_list *l = parse_ok("172.16.0.0/12,2001:db8:8000::/33");

	(void)state;
	assert_true(cidr_match(l, "172.16.0.1"));
	assert_true(cidr_match(l, "172.31.255.255"));
	assert_false(cidr_match(l, "172.32.0.0"));
	assert_false(cidr_match(l, "172.15.255.255"));
	assert_true(cidr_match(l, "2001:db8:8000::1"));
	assert_true(cidr_match(l, "2001:db8:ffff::1"));
	assert_false(cidr_match(l, "2001:db8:7fff::1"));
}

static void test_everything_and_nothing(void **state)
{
	struct cidr_list *l = parse_ok("0.0.0.0/0,::/0");

	(void)state;
	assert_true(cidr_match(l, "203.0.113.9"));
	assert_true(cidr_match(l, "2001:db8::5"));
	l = parse_ok("");
	assert_int_equal(l->n, 0);
	assert_false(cidr_match(l, "127.0.0.1"));
	l = parse_ok(NULL);
	assert_int_equal(l->n, 0);
}

static void test_mapped_entry_is_ipv4(void **state)
{
	struct cidr_list *l = parse_ok("::ffff:10.1.0.0/112");

	(void)state;
	assert_true(cidr_match(l, "10.1.2.3"));
	assert_true(cidr_match(l, "::ffff:10.1.2.3"));
	assert_false(cidr_match(l, "10.2.0.0"));
	refused("::ffff:10.0.0.0/64", "IPv4-mapped");
}

static void test_what_is_not_an_address_matches_nothing(void **state)
{
	struct cidr_list *l = parse_ok("0.0.0.0/0,::/0");
	char longer[200];

	(void)state;
	memset(longer, '1', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	assert_false(cidr_match(l, NULL));
	assert_false(cidr_match(l, ""));
	assert_false(cidr_match(l, "unix:"));
	assert_false(cidr_match(l, "localhost"));
	assert_false(cidr_match(l, "fe80::1%eth0"));
	assert_false(cidr_match(l, "127.0.0.1 "));
	assert_false(cidr_match(l, "127.1"));
	assert_false(cidr_match(l, "[::1]"));
	assert_false(cidr_match(l, longer));
}

static void test_garbage_refused_with_a_reason(void **state)
{
	(void)state;
	refused("10.0.0.0/8,", "empty");
	refused(",127.0.0.1", "empty");
	refused("127.0.0.1,,::1", "empty");
	refused("  ", "empty");
	refused("localhost", "not an IPv4 or IPv6 address");
	refused("127.1", "not an IPv4 or IPv6 address");
	refused("127.0.0.01", "not an IPv4 or IPv6 address");
	refused("0x7f.0.0.1", "not an IPv4 or IPv6 address");
	refused("256.0.0.1", "not an IPv4 or IPv6 address");
	refused("10.0.0.0 /8", "not an IPv4 or IPv6 address");
	refused("fe80::1%eth0", "not an IPv4 or IPv6 address");
	refused("10.0.0.0/33", "want /0 to /32");
	refused("::/129", "want /0 to /128");
	refused("10.0.0.0/", "bad prefix");
	refused("10.0.0.0/08", "bad prefix");
	refused("10.0.0.0/-8", "bad prefix");
	refused("10.0.0.0/8/8", "bad prefix");
	refused("10.0.0.0/+8", "bad prefix");
	refused("10.0.0.1/8", "host bits");
	refused("2001:db8::1/32", "host bits");
	refused("127.0.0.1;10.0.0.0/8", "not an IPv4 or IPv6 address");
}

static void test_entries_bounded(void **state)
{
	char text[CIDR_ENTRIES_MAX * 12 + 16];
	size_t n = 0;

	(void)state;
	for (int i = 0; i < CIDR_ENTRIES_MAX; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s10.0.%d.1", i ? "," : "", i);
	assert_int_equal(parse_ok(text)->n, CIDR_ENTRIES_MAX);
	snprintf(text + n, sizeof(text) - n, ",10.1.0.1");
	refused(text, "more than 64 entries");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_is_loopback_only),
		cmocka_unit_test(test_networks_and_hosts),
		cmocka_unit_test(test_prefixes_not_on_byte_boundaries),
		cmocka_unit_test(test_everything_and_nothing),
		cmocka_unit_test(test_mapped_entry_is_ipv4),
		cmocka_unit_test(test_what_is_not_an_address_matches_nothing),
		cmocka_unit_test(test_garbage_refused_with_a_reason),
		cmocka_unit_test(test_entries_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
