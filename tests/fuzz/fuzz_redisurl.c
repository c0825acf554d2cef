/*
 * fuzz_redisurl.c - REDIS_URL (redis_parse_url, redis.h): an operator's
 * setting, but read from a file anyone with deploy rights can write, and
 * the only parser of redis.c.
 *
 * Input: the URL (cut at a NUL byte, as an environment variable would be).
 *
 * Oracle: an accepted URL gives a target within its bounds (a host or an
 * absolute socket path, NUL-terminated, port 1..65535, database 0..1023),
 * and the URL written back from that target (host always in brackets)
 * parses to the same target: nothing the parser accepts is taken apart in
 * two ways. A refused one says why, naming REDIS_URL.
 */
#include "fuzz.h"
#include "redis.h"

static int same_target(const struct redis_target *a, const struct redis_target *b)
{
	return a->unix_socket == b->unix_socket && strcmp(a->host, b->host) == 0 &&
	       a->port == b->port && a->db == b->db && strcmp(a->password, b->password) == 0;
}

static void check_bounds(const struct redis_target *t)
{
	FUZZ_CHECK(memchr(t->host, 0, sizeof(t->host)) && t->host[0], "host not terminated or empty");
	FUZZ_CHECK(memchr(t->password, 0, sizeof(t->password)), "password not terminated");
	FUZZ_CHECK(t->db >= 0 && t->db <= 1023, "db %d", t->db);
	if (t->unix_socket)
		FUZZ_CHECK(t->host[0] == '/' && !strchr(t->host, '?'), "socket path %s", t->host);
	else
		FUZZ_CHECK(t->port >= 1 && t->port <= 65535 && !strchr(t->host, ']') &&
				   !strchr(t->host, '@'),
			   "port %d host %s", t->port, t->host);
}

/* The URL of t, written the one way this product documents. */
static void write_back(const struct redis_target *t, char *out, size_t n)
{
	int w;

	if (t->unix_socket)
		w = snprintf(out, n, "unix://%s?db=%d", t->host, t->db);
	else
		w = snprintf(out, n, "redis://%s%s%s[%s]:%d/%d", t->password[0] ? ":" : "",
			     t->password, t->password[0] ? "@" : "", t->host, t->port, t->db);
	FUZZ_CHECK(w > 0 && (size_t)w < n, "written back: %d bytes", w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *url = fuzz_strndup(data, size), why[256] = "", why2[256] = "";
	char again[2 * REDIS_URL_MAX];
	struct redis_target t, t2;

	if (redis_parse_url(url, &t, why, sizeof(why)) == AP_OK) {
		check_bounds(&t);
		write_back(&t, again, sizeof(again));
		/* the written-back URL may be longer than REDIS_URL_MAX: then refused */
		if (strlen(again) < REDIS_URL_MAX) {
			FUZZ_CHECK(redis_parse_url(again, &t2, why2, sizeof(why2)) == AP_OK,
				   "%s refused: %s", again, why2);
			FUZZ_CHECK(same_target(&t, &t2), "%s differs from %s", again, url);
		}
	} else {
		FUZZ_CHECK(strncmp(why, "REDIS_URL: ", 11) == 0, "why: %s", why);
	}
	free(url);
	return 0;
}
