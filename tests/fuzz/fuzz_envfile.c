/*
 * fuzz_envfile.c - the ENV_FILE parser (.env syntax) and the typed settings
 * it feeds (config.c): env_text_parse, then every setting of the table
 * through set_opt and the cross-field checks of config_check, exactly as
 * config_load takes them (defaults where the file says nothing). config.c
 * is included to reach its static functions; the input is the file's text
 * (a NUL byte ends it, as it ends what slurp() hands over).
 *
 * Oracle: config.h and SPEC section 5. Every parsed name and value is a
 * single line without surrounding blanks (unless quoted); every refusal
 * names the variable to fix ("NAME: ..."); no secret's value ever appears
 * in a message; an accepted integer is within its row's bounds; the masked
 * form of a URL with credentials hides them.
 */
#include "config.c"
#include "fuzz.h"

/* A message names a variable of the table, ENV_FILE, or is out of memory. */
static void check_names_variable(const char *why)
{
	size_t n = strcspn(why, ":");
	int named = n == 8 && !strncmp(why, "ENV_FILE", 8);

	for (size_t i = 0; i < N_OPTS && !named; i++)
		named = strlen(opts[i].name) == n && !strncmp(why, opts[i].name, n);
	FUZZ_CHECK((named && why[n] == ':') || !strcmp(why, "out of memory"),
		   "message names nothing: %s", why);
}

/* The settings of kvs into c and the checks, as config_load does them. */
static enum ap_err load(struct config *c, const struct kv *kvs, size_t n, char *why, size_t whylen)
{
	enum ap_err e = AP_OK;

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < N_OPTS && !e; i++) {
		const char *v = kv_get(kvs, n, opts[i].name);

		if (!v)
			v = opts[i].def;
		if (v)
			e = set_opt(c, &opts[i], v, why, whylen);
	}
	return e ? e : config_check(c, why, whylen);
}

/* No secret reaches a message: the same settings with every secret that
 * config.c takes as it is (non-empty, not over-long) replaced by a marker
 * no message or other value holds must give a message without it. */
#define SECRET_MARKER "\x7fSECRET\x7f"
static void check_no_secret(const struct kv *kvs, size_t n)
{
	struct kv *copy = malloc((n ? n : 1) * sizeof(*copy));
	struct config c;
	char why[512] = "";

	if (!copy)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (strstr(kvs[i].val, SECRET_MARKER)) {
			free(copy);	/* the input spells the marker: it proves nothing */
			return;
		}
		copy[i] = kvs[i];
		for (size_t j = 0; j < N_OPTS; j++)
			if ((opts[j].flags & F_SECRET) && !strcmp(kvs[i].key, opts[j].name) &&
			    kvs[i].val[0] && strlen(kvs[i].val) <= CONFIG_VALUE_MAX)
				copy[i].val = SECRET_MARKER;
	}
	if (load(&c, copy, n, why, sizeof(why)))
		FUZZ_CHECK(!strstr(why, SECRET_MARKER), "a secret in a message: %s", why);
	config_free(&c);
	free(copy);
}

static void check_pairs(const struct kv *kvs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t kl = strlen(kvs[i].key);

		FUZZ_CHECK(!strchr(kvs[i].key, '\n') && !strchr(kvs[i].val, '\n'), "newline kept");
		FUZZ_CHECK(!strchr(kvs[i].key, '='), "'=' in name '%s'", kvs[i].key);
		FUZZ_CHECK(kl == 0 || (!isspace((unsigned char)kvs[i].key[0]) &&
				       !isspace((unsigned char)kvs[i].key[kl - 1])),
			   "blanks around name '%s'", kvs[i].key);
	}
}

static void check_values(const struct config *c)
{
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct opt *o = &opts[i];
		const char *base = (const char *)c;

		if (o->type == T_INT) {
			long v = *(const long *)(base + o->off);
			FUZZ_CHECK(v >= o->min && v <= o->max, "%s = %ld", o->name, v);
		} else if (o->type == T_STR && (o->flags & F_URL) && *(char *const *)(base + o->off)) {
			const char *url = *(char *const *)(base + o->off);
			char masked[2 * CONFIG_VALUE_MAX];
			const char *auth = strstr(url, "://");

			config_mask_url(url, masked, sizeof(masked));
			if (auth && memchr(auth + 3, '@', strcspn(auth + 3, "/?#")))
				FUZZ_CHECK(strstr(masked, "***@"), "credentials shown: %s", masked);
		}
	}
}

/* The table over the parsed pairs, as config_load does it. */
static void configure(const struct kv *kvs, size_t n)
{
	struct config c;
	char why[512] = "";
	enum ap_err e = load(&c, kvs, n, why, sizeof(why));

	if (e) {
		FUZZ_CHECK(e == AP_ERR_CONFIG || e == AP_ERR_NOMEM, "error %d", e);
		check_names_variable(why);
	} else {
		check_values(&c);
	}
	config_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, why[512] = "";
	struct kv *kvs = NULL;
	size_t n = 0;
	enum ap_err e;

	if (size > CONFIG_ENV_FILE_MAX)
		return 0;	/* slurp() refuses those before parsing */
	text = fuzz_strndup(data, size);
	e = env_text_parse(text, "fuzz.env", &kvs, &n, why, sizeof(why));
	if (e) {
		FUZZ_CHECK(e == AP_ERR_CONFIG && !strncmp(why, "ENV_FILE: fuzz.env:", 19),
			   "refused with %d: %s", e, why);
	} else {
		check_pairs(kvs, n);
		configure(kvs, n);
		check_no_secret(kvs, n);
		kv_free(kvs, n);
	}
	free(text);
	return 0;
}
