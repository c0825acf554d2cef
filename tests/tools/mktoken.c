/*
 * mktoken.c - mints JWTs for the integration tests.
 *
 *   mktoken SECRET SUB [TTL_SECONDS] [--alg none|HS256|HS512] [--exp UNIX]
 *
 * Prints one token and a newline. exp is now + TTL_SECONDS (default 3600,
 * negative for an already expired token) or exactly --exp; giving both is
 * an error. The default is a token the server must accept. --alg forges
 * one it must refuse for the alg alone: the header names that alg, the
 * signature is a correct HS256 one over the token's own bytes (HS512), or
 * is empty (none). The claims are built like jwt_sign_hs256() builds them,
 * so SUB is JSON-escaped but otherwise taken as given, to allow odd subs.
 *
 * Exit status: 0 token printed, 1 could not build or print it, 2 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <limits.h>
#include <json-c/json.h>
#include "jwt.h"

#define DEFAULT_TTL_S 3600LL
/* A token never needs more; jwt_sign_json() refuses parts beyond its own cap. */
#define TOKEN_BUF_MAX (4 * JWT_MAX_LEN)

static const char USAGE[] =
	"usage: mktoken SECRET SUB [TTL_SECONDS] [--alg none|HS256|HS512] [--exp UNIX]\n";

static int usage(const char *why)
{
	if (why)
		fprintf(stderr, "mktoken: %s\n", why);
	fputs(USAGE, stderr);
	return 2;
}

/* Whole decimal number, optional '-', nothing else (no spaces, no '+'). */
static int parse_ll(const char *s, long long *out)
{
	char *end;
	long long v;

	if (!((s[0] >= '0' && s[0] <= '9') || (s[0] == '-' && s[1] >= '0' && s[1] <= '9')))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

/* {"sub":sub,"exp":exp} exactly as jwt_sign_hs256() writes it. */
static enum ap_err claims_json(const char *sub, long long exp, struct buf *out)
{
	struct json_object *claims = NULL, *v = NULL;
	const char *s;
	enum ap_err e = AP_ERR_NOMEM;

	claims = json_object_new_object();
	if (!claims)
		goto fail;
	v = json_object_new_string(sub);
	if (!v || json_object_object_add(claims, "sub", v) != 0)
		goto fail;
	v = json_object_new_int64(exp);
	if (!v || json_object_object_add(claims, "exp", v) != 0)
		goto fail;
	v = NULL;
	s = json_object_to_json_string_ext(claims,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s)
		goto fail;
	e = buf_adds(out, s);
fail:
	json_object_put(v);
	json_object_put(claims);
	return e;
}

int main(int argc, char **argv)
{
	const char *pos[3] = {NULL, NULL, NULL};
	const char *alg = "HS256";
	const char *header;
	long long ttl = DEFAULT_TTL_S, exp = 0, now;
	int npos = 0, have_exp = 0, rc = 1;
	struct buf payload, token;
	enum ap_err e;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0) {
			fputs(USAGE, stdout);
			return 0;
		} else if (strcmp(argv[i], "--alg") == 0) {
			if (++i == argc)
				return usage("--alg needs a value");
			alg = argv[i];
		} else if (strcmp(argv[i], "--exp") == 0) {
			if (++i == argc || parse_ll(argv[i], &exp) != 0)
				return usage("--exp needs a whole number of seconds");
			have_exp = 1;
		} else if (strncmp(argv[i], "--", 2) == 0) {
			return usage("unknown option");
		} else if (npos < 3) {
			pos[npos++] = argv[i];
		} else {
			return usage("too many arguments");
		}
	}
	if (npos < 2)
		return usage(NULL);
	if (pos[0][0] == '\0')
		return usage("SECRET must not be empty");
	if (npos == 3 && parse_ll(pos[2], &ttl) != 0)
		return usage("TTL_SECONDS must be a whole number");
	if (npos == 3 && have_exp)
		return usage("give TTL_SECONDS or --exp, not both");

	if (strcmp(alg, "HS256") == 0)
		header = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	else if (strcmp(alg, "HS512") == 0)
		header = "{\"alg\":\"HS512\",\"typ\":\"JWT\"}";
	else if (strcmp(alg, "none") == 0)
		header = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
	else
		return usage("--alg must be none, HS256 or HS512");

	if (!have_exp) {
		now = (long long)time(NULL);
		if ((ttl > 0 && now > LLONG_MAX - ttl) || (ttl < 0 && now < LLONG_MIN - ttl))
			return usage("TTL_SECONDS out of range");
		exp = now + ttl;
	}

	buf_init(&payload, TOKEN_BUF_MAX);
	buf_init(&token, TOKEN_BUF_MAX);
	e = claims_json(pos[1], exp, &payload);
	if (e)
		goto fail;
	e = jwt_sign_json(header, payload.data, pos[0], strlen(pos[0]), &token);
	if (e)
		goto fail;
	if (strcmp(alg, "none") == 0)
		token.len = (size_t)(strrchr(token.data, '.') + 1 - token.data);
	if (fwrite(token.data, 1, token.len, stdout) != token.len ||
	    fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
		fprintf(stderr, "mktoken: cannot write the token\n");
		goto out;
	}
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "mktoken: %s\n", ap_err_str(e));
out:
	buf_free(&payload);
	buf_free(&token);
	return rc;
}
