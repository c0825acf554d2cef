/*
 * test_redis.c - REDIS_URL (redis.h): both forms, every part optional where
 * it may be, each mistake refused with a reason that names REDIS_URL and
 * never contains the password.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include "redis.h"

static struct redis_target t;
static char why[256];

static enum ap_err parse(const char *url)
{
	why[0] = '\0';
	return redis_parse_url(url, &t, why, sizeof(why));
}

static void tcp_forms(void **state)
{
	(void)state;
	assert_int_equal(parse("redis://127.0.0.1"), AP_OK);
	assert_false(t.unix_socket);
	assert_string_equal(t.host, "127.0.0.1");
	assert_int_equal(t.port, 6379);
	assert_int_equal(t.db, 0);
	assert_string_equal(t.password, "");
	assert_int_equal(parse("redis://cache.internal:6380/3"), AP_OK);
	assert_string_equal(t.host, "cache.internal");
	assert_int_equal(t.port, 6380);
	assert_int_equal(t.db, 3);
	assert_int_equal(parse("redis://:s3cr@t:x@10.0.0.5:7000/15"), AP_OK);
	assert_string_equal(t.password, "s3cr@t:x");	/* up to the last '@', as is */
	assert_string_equal(t.host, "10.0.0.5");
	assert_int_equal(t.port, 7000);
	assert_int_equal(t.db, 15);
	assert_int_equal(parse("redis://[::1]:6390/1"), AP_OK);
	assert_string_equal(t.host, "::1");
	assert_int_equal(t.port, 6390);
	assert_int_equal(parse("redis://host/"), AP_OK);	/* empty db: 0 */
	assert_int_equal(t.db, 0);
}

static void unix_forms(void **state)
{
	(void)state;
	assert_int_equal(parse("unix:///run/redis-astropixel/redis.sock"), AP_OK);
	assert_true(t.unix_socket);
	assert_string_equal(t.host, "/run/redis-astropixel/redis.sock");
	assert_int_equal(t.db, 0);
	assert_int_equal(parse("unix:///tmp/r.sock?db=2"), AP_OK);
	assert_string_equal(t.host, "/tmp/r.sock");
	assert_int_equal(t.db, 2);
}

static void refused(const char *url, const char *reason)
{
	assert_int_equal(parse(url), AP_ERR_CONFIG);
	assert_non_null(strstr(why, "REDIS_URL"));
	assert_non_null(strstr(why, reason));
	assert_null(strstr(why, "hunter2"));
}

static void mistakes_refused_with_reason(void **state)
{
	char longurl[REDIS_URL_MAX + 16];

	(void)state;
	refused("http://127.0.0.1", "unknown scheme");
	refused("redis://", "no host");
	refused("redis://:6379", "no host");
	refused("redis://user:hunter2@host", "no user name");
	refused("redis://:@host", "credentials");
	refused("redis://:hunter2@host:0", "port");
	refused("redis://:hunter2@host:65536", "port");
	refused("redis://:hunter2@host:12ab", "port");
	refused("redis://host/1024", "database");
	refused("redis://host/-1", "database");
	refused("redis://[::1", "closing");
	refused("redis://[::1]x", "unexpected");
	refused("redis://h]:6379", "inside the host");	/* found by fuzz_redisurl */
	refused("redis://[a[b]", "inside the host");
	refused("unix://relative.sock", "absolute");
	refused("unix:///tmp/r.sock?database=1", "?db=N");
	refused("unix:///tmp/r.sock?db=x", "database");
	memset(longurl, 'a', sizeof(longurl));
	memcpy(longurl, "redis://", 8);
	longurl[sizeof(longurl) - 1] = '\0';
	refused(longurl, "too long");
	assert_int_equal(redis_parse_url(NULL, &t, why, sizeof(why)), AP_ERR_CONFIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tcp_forms),
		cmocka_unit_test(unix_forms),
		cmocka_unit_test(mistakes_refused_with_reason),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
