/*
 * test_config.c - SPEC section 5 through config.h: the defaults, the
 * environment winning over ENV_FILE, .env syntax, errors that name the
 * variable (and file:line), secrets never logged, and one table behind
 * the loader, --help and the Markdown docs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "config.h"
#include "request.h"

/* SPEC section 5: every name the product must accept, with its default
 * as the Markdown table shows it. */
static const struct {
	const char *name, *def;
} spec5[] = {
	{"USE_S3", "`false`"},
	{"AWS_ACCESS_KEY_ID", "—"},
	{"AWS_SECRET_ACCESS_KEY", "—"},
	{"AWS_BUCKET_NAME", "—"},
	{"S3_ENDPOINT_URL", "—"},
	{"S3_REGION", "`auto`"},
	{"R2_PUBLIC_URL", "—"},
	{"R2_UPLOAD_MAX_WORKERS", "`20`"},
	{"LOCAL_STORAGE_DIR", "—"},
	{"SECRET_KEY", "—"},
	{"TILE_CACHE_MAX_TILES", "`500`"},
	{"TILE_CACHE_MAX_MB", "`64`"},
	{"BATCH_MAX_TILES", "`100`"},
};
#define NSPEC (sizeof(spec5) / sizeof(spec5[0]))

struct fixture {
	char dir[64];		/* a valid LOCAL_STORAGE_DIR */
	char envfile[96];
	char why[512];
	struct config c;
	bool loaded;
};

/* Captures what f writes into a malloc'ed string (caller frees). */
static char *capture(void (*f)(FILE *))
{
	char *s = NULL;
	size_t n = 0;
	FILE *m = open_memstream(&s, &n);

	assert_non_null(m);
	f(m);
	fclose(m);
	return s;
}

/* Every variable of the table, from the Markdown (the one table). */
static size_t table_names(char names[][64], size_t max)
{
	char *md = capture(config_print_markdown), *p = md;
	size_t n = 0;

	while ((p = strstr(p, "| `")) && n < max) {
		char *end = strchr(p + 3, '`');
		assert_non_null(end);
		assert_true((size_t)(end - p - 3) < 64);
		memcpy(names[n], p + 3, (size_t)(end - p - 3));
		names[n][end - p - 3] = '\0';
		n++;
		p = strchr(end, '\n');
		if (!p)
			break;
	}
	free(md);
	return n;
}

/* The loader reads the real environment: start every test from nothing. */
static void clear_env(void)
{
	char names[128][64];
	size_t n = table_names(names, 128);

	assert_true(n >= NSPEC);
	for (size_t i = 0; i < n; i++)
		unsetenv(names[i]);
	unsetenv("ENV_FILE");
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/apcfg.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->envfile, sizeof(f->envfile), "%s/test.env", f->dir);
	clear_env();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->loaded)
		config_free(&f->c);
	unlink(f->envfile);
	rmdir(f->dir);
	clear_env();
	free(f);
	return 0;
}

static void write_env_file(struct fixture *f, const char *text)
{
	FILE *fp = fopen(f->envfile, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	setenv("ENV_FILE", f->envfile, 1);
}

static enum ap_err load(struct fixture *f)
{
	enum ap_err e;

	if (f->loaded)
		config_free(&f->c);
	f->loaded = false;
	f->why[0] = 'X';
	f->why[1] = '\0';
	e = config_load(&f->c, f->why, sizeof(f->why));
	f->loaded = e == AP_OK;
	return e;
}

static void load_ok(struct fixture *f)
{
	if (load(f) != AP_OK)
		fail_msg("config_load failed: %s", f->why);
}

/* The load fails and the message names the variable. */
static void load_fails_naming(struct fixture *f, const char *var)
{
	if (load(f) == AP_OK)
		fail_msg("config_load must fail and name %s", var);
	if (!strstr(f->why, var))
		fail_msg("message '%s' does not name %s", f->why, var);
}

/* ---- defaults and precedence ------------------------------------------- */

static void defaults_are_those_of_spec_section_5(void **state)
{
	struct fixture *f = *state;

	setenv("LOCAL_STORAGE_DIR", f->dir, 1);
	load_ok(f);
	assert_false(f->c.use_s3);
	assert_null(f->c.access_key);
	assert_null(f->c.secret_key_s3);
	assert_null(f->c.bucket);
	assert_null(f->c.endpoint);
	assert_string_equal(f->c.region, "auto");
	assert_null(f->c.public_url);
	assert_int_equal(f->c.upload_workers, 20);
	assert_string_equal(f->c.local_dir, f->dir);
	assert_null(f->c.jwt_secret);
	assert_int_equal(f->c.cache_max_tiles, 500);
	assert_int_equal(f->c.cache_max_mb, 64);
	assert_int_equal(f->c.batch_max_tiles, 100);
	/* SPEC 3.1: public tiles are "public, max-age=31536000, immutable" by default
	 * (issue 15: at their versioned URL; unversioned ones are short) */
	assert_int_equal(f->c.public_max_age_s, 31536000);
	assert_int_equal(f->c.unversioned_max_age_s, 60);
	assert_int_equal(f->c.stale_while_revalidate_s, 600);
	assert_string_equal(f->c.cors_origin, "*");
	assert_true(f->c.tls_verify);
}

static void environment_wins_over_env_file(void **state)
{
	struct fixture *f = *state;

	write_env_file(f, "TILE_CACHE_MAX_TILES=10\n"
			  "BATCH_MAX_TILES=7\n"
			  "S3_REGION=from-file\n");
	setenv("LOCAL_STORAGE_DIR", f->dir, 1);
	setenv("TILE_CACHE_MAX_TILES", "20", 1);
	setenv("S3_REGION", "from-env", 1);
	load_ok(f);
	assert_int_equal(f->c.cache_max_tiles, 20);
	assert_string_equal(f->c.region, "from-env");
	assert_int_equal(f->c.batch_max_tiles, 7);	/* only in the file: taken */
}

static void env_file_alone_configures_everything(void **state)
{
	struct fixture *f = *state;
	char text[256];

	snprintf(text, sizeof(text), "LOCAL_STORAGE_DIR=%s\nSECRET_KEY=k\n", f->dir);
	write_env_file(f, text);
	load_ok(f);
	assert_string_equal(f->c.local_dir, f->dir);
	assert_string_equal(f->c.jwt_secret, "k");
}

static void env_file_syntax_of_dot_env(void **state)
{
	struct fixture *f = *state;

	write_env_file(f,
		       "# a comment line\n"
		       "\n"
		       "   \n"
		       "  # an indented comment\n"
		       "export S3_REGION=eu-central\n"
		       "CORS_ALLOW_ORIGIN = \"https://app.example\"  \n"
		       "SECRET_KEY='single #not a comment'\n"
		       "LOG_LEVEL=debug # an inline comment\n"
		       "TILE_CACHE_MAX_MB=\"32\"\n"
		       "BATCH_MAX_TILES=50\r\n"
		       "R2_UPLOAD_MAX_WORKERS=3\n"
		       "R2_UPLOAD_MAX_WORKERS=4\n"	/* the last definition wins */
		       "AWS_BUCKET_NAME=a#b\n"		/* '#' without a blank before is data */
		       "TILE_CACHE_MAX_TILES=9");	/* no final newline */
	setenv("LOCAL_STORAGE_DIR", f->dir, 1);
	load_ok(f);
	assert_string_equal(f->c.region, "eu-central");
	assert_string_equal(f->c.cors_origin, "https://app.example");
	assert_string_equal(f->c.jwt_secret, "single #not a comment");
	assert_string_equal(f->c.log_level, "debug");
	assert_int_equal(f->c.cache_max_mb, 32);
	assert_int_equal(f->c.batch_max_tiles, 50);
	assert_int_equal(f->c.upload_workers, 4);
	assert_string_equal(f->c.bucket, "a#b");
	assert_int_equal(f->c.cache_max_tiles, 9);
}

/* Found by tests/fuzz/fuzz_envfile (corpus/envfile/regress-export-blanks):
 * blanks after "export" other than one space stayed in the name, so the
 * setting was silently ignored. */
static void env_file_export_takes_any_blanks(void **state)
{
	struct fixture *f = *state;

	write_env_file(f, "export  S3_REGION=two-spaces\n"
			  "export\tAWS_BUCKET_NAME=tab\n"
			  "export \f\tCORS_ALLOW_ORIGIN=https://a.example\n"
			  "exportLOG_LEVEL=warn\n");	/* not the keyword: a name of its own */
	setenv("LOCAL_STORAGE_DIR", f->dir, 1);
	load_ok(f);
	assert_string_equal(f->c.region, "two-spaces");
	assert_string_equal(f->c.bucket, "tab");
	assert_string_equal(f->c.cors_origin, "https://a.example");
	assert_string_equal(f->c.log_level, "info");
}

/* Found by tests/fuzz/fuzz_envfile (corpus/envfile/regress-empty-log-level):
 * an empty LOG_LEVEL unset the level and the check read it as NULL; it is
 * the default, as the sample env file says of every empty value. */
static void empty_log_level_is_the_default(void **state)
{
	struct fixture *f = *state;

	setenv("LOCAL_STORAGE_DIR", f->dir, 1);
	setenv("LOG_LEVEL", "", 1);
	load_ok(f);
	assert_string_equal(f->c.log_level, "info");
	unsetenv("LOG_LEVEL");
	write_env_file(f, "LOG_LEVEL=\n");
	load_ok(f);
	assert_string_equal(f->c.log_level, "info");
}

static void malformed_env_file_line_names_file_and_line(void **state)
{
	struct fixture *f = *state;
	char where[128];

	write_env_file(f, "# ok\nS3_REGION=x\nTHIS LINE HAS NO EQUALS\nBATCH_MAX_TILES=5\n");
	setenv("LOCAL_STORAGE_DIR", f->dir, 1);
	snprintf(where, sizeof(where), "%s:3", f->envfile);
	load_fails_naming(f, where);
}

static void missing_env_file_is_an_error_naming_it(void **state)
{
	struct fixture *f = *state;

	setenv("ENV_FILE", "/nonexistent/astropixel.env", 1);
	setenv("LOCAL_STORAGE_DIR", f->dir, 1);
	load_fails_naming(f, "/nonexistent/astropixel.env");
	assert_non_null(strstr(f->why, "ENV_FILE"));
}

/* ---- values ------------------------------------------------------------- */

static void bad_bool_names_the_variable(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {"maybe", "2", "tru", "yes please", "-1"};

	setenv("LOCAL_STORAGE_DIR", f->dir, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("USE_S3", bad[i], 1);
		load_fails_naming(f, "USE_S3");
	}
	unsetenv("USE_S3");
	setenv("S3_VERIFY_TLS", "nope", 1);
	load_fails_naming(f, "S3_VERIFY_TLS");
}

static void bool_spellings_are_accepted(void **state)
{
	struct fixture *f = *state;
	static const char *const no[] = {"false", "FALSE", "0", "no", "off", "Off"};

	setenv("LOCAL_STORAGE_DIR", f->dir, 1);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		setenv("USE_S3", no[i], 1);
		load_ok(f);
		assert_false(f->c.use_s3);
	}
	setenv("S3_VERIFY_TLS", "off", 1);
	load_ok(f);
	assert_false(f->c.tls_verify);
}

static void bad_or_out_of_range_int_names_the_variable(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *name, *value;
	} bad[] = {
		{"TILE_CACHE_MAX_TILES", "abc"},
		{"TILE_CACHE_MAX_TILES", "12x"},
		{"TILE_CACHE_MAX_TILES", ""},
		{"TILE_CACHE_MAX_TILES", "-1"},
		{"TILE_CACHE_MAX_TILES", "1.5"},
		{"TILE_CACHE_MAX_TILES", "99999999999999999999"},
		{"TILE_CACHE_MAX_TILES", "10000001"},
		{"TILE_CACHE_MAX_MB", "65537"},
		{"BATCH_MAX_TILES", "0"},
		{"BATCH_MAX_TILES", "1001"},
		{"R2_UPLOAD_MAX_WORKERS", "0"},
		{"R2_UPLOAD_MAX_WORKERS", "257"},
		{"METADATA_CACHE_TTL", "-5"},
	};

	setenv("LOCAL_STORAGE_DIR", f->dir, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv(bad[i].name, bad[i].value, 1);
		if (load(f) == AP_OK)
			fail_msg("%s='%s' must be refused", bad[i].name, bad[i].value);
		if (!strstr(f->why, bad[i].name))
			fail_msg("message '%s' does not name %s", f->why, bad[i].name);
		unsetenv(bad[i].name);
	}
}

static void int_bounds_are_inclusive(void **state)
{
	struct fixture *f = *state;

	setenv("LOCAL_STORAGE_DIR", f->dir, 1);
	setenv("BATCH_MAX_TILES", "1", 1);
	setenv("R2_UPLOAD_MAX_WORKERS", "256", 1);
	setenv("TILE_CACHE_MAX_TILES", "0", 1);
	load_ok(f);
	assert_int_equal(f->c.batch_max_tiles, 1);
	assert_int_equal(f->c.upload_workers, 256);
	assert_int_equal(f->c.cache_max_tiles, 0);
}

static void bad_value_in_env_file_names_the_variable(void **state)
{
	struct fixture *f = *state;

	write_env_file(f, "BATCH_MAX_TILES=lots\n");
	setenv("LOCAL_STORAGE_DIR", f->dir, 1);
	load_fails_naming(f, "BATCH_MAX_TILES");
}

static void overlong_value_names_the_variable(void **state)
{
	struct fixture *f = *state;
	char *v = malloc(CONFIG_VALUE_MAX + 2);

	assert_non_null(v);
	memset(v, 'a', CONFIG_VALUE_MAX + 1);
	v[CONFIG_VALUE_MAX + 1] = '\0';
	setenv("LOCAL_STORAGE_DIR", f->dir, 1);
	setenv("S3_REGION", v, 1);
	free(v);
	load_fails_naming(f, "S3_REGION");
}

/* ---- cross-field rules ------------------------------------------------- */

static void use_s3_without_bucket_names_aws_bucket_name(void **state)
{
	struct fixture *f = *state;

	setenv("USE_S3", "true", 1);
	setenv("S3_ENDPOINT_URL", "https://acct.r2.cloudflarestorage.com", 1);
	setenv("AWS_ACCESS_KEY_ID", "AKID", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SECRET", 1);
	load_fails_naming(f, "AWS_BUCKET_NAME");
	/* an empty value is no bucket either */
	setenv("AWS_BUCKET_NAME", "", 1);
	load_fails_naming(f, "AWS_BUCKET_NAME");
}

static void no_local_dir_without_s3_names_local_storage_dir(void **state)
{
	struct fixture *f = *state;

	load_fails_naming(f, "LOCAL_STORAGE_DIR");
	setenv("USE_S3", "false", 1);
	load_fails_naming(f, "LOCAL_STORAGE_DIR");
}

static void local_dir_that_is_not_a_directory_names_it(void **state)
{
	struct fixture *f = *state;

	setenv("LOCAL_STORAGE_DIR", "/nonexistent/tiles", 1);
	load_fails_naming(f, "LOCAL_STORAGE_DIR");
	write_env_file(f, "");
	setenv("LOCAL_STORAGE_DIR", f->envfile, 1);	/* a file */
	load_fails_naming(f, "LOCAL_STORAGE_DIR");
}

static void s3_endpoint_without_keys_names_the_missing_key(void **state)
{
	struct fixture *f = *state;

	setenv("USE_S3", "true", 1);
	setenv("AWS_BUCKET_NAME", "tiles", 1);
	setenv("S3_ENDPOINT_URL", "https://acct.r2.cloudflarestorage.com", 1);
	load_fails_naming(f, "AWS_ACCESS_KEY_ID");
	setenv("AWS_ACCESS_KEY_ID", "AKID", 1);
	load_fails_naming(f, "AWS_SECRET_ACCESS_KEY");
	setenv("AWS_SECRET_ACCESS_KEY", "SECRET", 1);
	load_ok(f);
	assert_true(f->c.use_s3);
}

static void s3_without_endpoint_or_public_url_names_the_endpoint(void **state)
{
	struct fixture *f = *state;

	setenv("USE_S3", "true", 1);
	setenv("AWS_BUCKET_NAME", "tiles", 1);
	setenv("AWS_ACCESS_KEY_ID", "AKID", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SECRET", 1);
	load_fails_naming(f, "S3_ENDPOINT_URL");
	setenv("S3_ENDPOINT_URL", "ftp://acct.example", 1);
	load_fails_naming(f, "S3_ENDPOINT_URL");
}

static void public_url_alone_needs_no_keys(void **state)
{
	struct fixture *f = *state;

	setenv("USE_S3", "true", 1);
	setenv("R2_PUBLIC_URL", "https://pub-123.r2.dev/", 1);
	load_ok(f);
	assert_string_equal(f->c.public_url, "https://pub-123.r2.dev");
	setenv("R2_PUBLIC_URL", "pub-123.r2.dev", 1);
	load_fails_naming(f, "R2_PUBLIC_URL");
}

static void trailing_slashes_of_s3_endpoint_url_are_stripped(void **state)
{
	struct fixture *f = *state;

	setenv("USE_S3", "true", 1);
	setenv("AWS_BUCKET_NAME", "tiles", 1);
	setenv("AWS_ACCESS_KEY_ID", "AKID", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "SECRET", 1);
	setenv("S3_ENDPOINT_URL", "https://acct.r2.cloudflarestorage.com///", 1);
	load_ok(f);
	assert_string_equal(f->c.endpoint, "https://acct.r2.cloudflarestorage.com");
	setenv("S3_ENDPOINT_URL", "http://127.0.0.1:9000/", 1);
	load_ok(f);
	assert_string_equal(f->c.endpoint, "http://127.0.0.1:9000");
	setenv("S3_ENDPOINT_URL", "https://acct.r2.cloudflarestorage.com", 1);
	load_ok(f);
	assert_string_equal(f->c.endpoint, "https://acct.r2.cloudflarestorage.com");
}

/* ---- logging and docs --------------------------------------------------- */

/* Runs config_log with fd 2 redirected to a file; returns what it wrote. */
static char *capture_log(const struct config *c)
{
	char path[] = "/tmp/apcfg-log.XXXXXX";
	int fd = mkstemp(path), saved;
	char *s;
	off_t n;

	assert_true(fd >= 0);
	unlink(path);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0);
	assert_true(dup2(fd, 2) >= 0);
	config_log(c);
	fflush(stderr);
	assert_true(dup2(saved, 2) >= 0);
	close(saved);
	n = lseek(fd, 0, SEEK_END);
	assert_true(n >= 0);
	s = calloc(1, (size_t)n + 1);
	assert_non_null(s);
	assert_int_equal(pread(fd, s, (size_t)n, 0), n);
	close(fd);
	return s;
}

static void config_log_never_prints_a_secret_value(void **state)
{
	struct fixture *f = *state;
	char *log;

	setenv("LOCAL_STORAGE_DIR", f->dir, 1);
	setenv("USE_S3", "true", 1);
	setenv("AWS_BUCKET_NAME", "tiles-bucket", 1);
	setenv("S3_ENDPOINT_URL", "https://acct.r2.cloudflarestorage.com", 1);
	setenv("AWS_ACCESS_KEY_ID", "AKIDVALUE1234", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "S3SECRETVALUE5678", 1);
	setenv("AWS_SESSION_TOKEN", "SESSIONTOKENVALUE", 1);
	setenv("SECRET_KEY", "JWTSECRETVALUE9", 1);
	load_ok(f);
	log = capture_log(&f->c);
	assert_null(strstr(log, "AKIDVALUE1234"));
	assert_null(strstr(log, "S3SECRETVALUE5678"));
	assert_null(strstr(log, "SESSIONTOKENVALUE"));
	assert_null(strstr(log, "JWTSECRETVALUE9"));
	assert_non_null(strstr(log, "(set)"));
	assert_non_null(strstr(log, "SECRET_KEY=(set)"));
	assert_non_null(strstr(log, "AWS_SECRET_ACCESS_KEY=(set)"));
	/* not secrets: shown */
	assert_non_null(strstr(log, "tiles-bucket"));
	free(log);
}

static void config_log_shows_every_effective_setting(void **state)
{
	struct fixture *f = *state;
	char names[128][64], *log;
	size_t n = table_names(names, 128);

	/* a realistic production set-up, not the shortest one */
	write_env_file(f, "");
	setenv("LOCAL_STORAGE_DIR", f->dir, 1);
	setenv("USE_S3", "true", 1);
	setenv("AWS_BUCKET_NAME", "astropixel-production-tiles", 1);
	setenv("S3_ENDPOINT_URL", "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com", 1);
	setenv("R2_PUBLIC_URL", "https://pub-0123456789abcdef0123456789abcdef.r2.dev", 1);
	setenv("AWS_ACCESS_KEY_ID", "0123456789abcdef0123456789abcdef", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "0123456789abcdef0123456789abcdef0123456789abcdef", 1);
	setenv("SECRET_KEY", "a-long-jwt-secret", 1);
	setenv("S3_CA_BUNDLE", f->envfile, 1);
	setenv("TILE_RUNTIME_DIR", "/run/astropixel-tiles", 1);
	setenv("CORS_ALLOW_ORIGIN", "https://astropixel.example.org", 1);
	load_ok(f);
	log = capture_log(&f->c);
	for (size_t i = 0; i < n; i++) {
		char want[80];
		snprintf(want, sizeof(want), " %s=", names[i]);
		if (!strstr(log, want))
			fail_msg("config_log does not show %s; it wrote: %s", names[i], log);
	}
	assert_non_null(strstr(log, "TILE_CACHE_MAX_TILES=500"));
	free(log);
}

/* The row of a variable in the Markdown table, without its newline. */
static void md_row(const char *md, const char *name, char *row, size_t cap)
{
	char head[80];
	const char *p, *end;

	snprintf(head, sizeof(head), "| `%s` |", name);
	p = strstr(md, head);
	if (!p)
		fail_msg("docs table lacks %s", name);
	end = strchr(p, '\n');
	assert_non_null(end);
	assert_true((size_t)(end - p) < cap);
	memcpy(row, p, (size_t)(end - p));
	row[end - p] = '\0';
}

static void markdown_lists_every_spec_variable_with_its_default(void **state)
{
	char *md = capture(config_print_markdown);
	char row[1024];

	(void)state;
	assert_non_null(strstr(md, "| name | meaning | default |"));
	for (size_t i = 0; i < NSPEC; i++) {
		char *cell, *end;

		md_row(md, spec5[i].name, row, sizeof(row));
		/* the last cell is the default: "... | `500` |" */
		end = row + strlen(row);
		assert_true(end - row > 4 && end[-1] == '|');
		end[-1] = '\0';
		cell = strrchr(row, '|');
		assert_non_null(cell);
		cell++;
		while (*cell == ' ')
			cell++;
		end = cell + strlen(cell);
		while (end > cell && end[-1] == ' ')
			*--end = '\0';
		if (strcmp(cell, spec5[i].def) != 0)
			fail_msg("%s: default cell '%s', want '%s'", spec5[i].name, cell,
				 spec5[i].def);
	}
	free(md);
}

static void markdown_marks_secrets(void **state)
{
	static const char *const secrets[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
					      "SECRET_KEY"};
	char *md = capture(config_print_markdown);
	char row[1024];

	(void)state;
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
		md_row(md, secrets[i], row, sizeof(row));
		if (!strstr(row, "Secret"))
			fail_msg("%s is not marked as a secret: %s", secrets[i], row);
	}
	free(md);
}

static void help_lists_the_same_table(void **state)
{
	char names[128][64], *help = capture(config_print_help);
	size_t n = table_names(names, 128);

	(void)state;
	assert_true(n >= NSPEC);
	for (size_t i = 0; i < n; i++) {
		char want[80];
		snprintf(want, sizeof(want), "  %s ", names[i]);
		if (!strstr(help, want))
			fail_msg("--help lacks %s", names[i]);
	}
	assert_non_null(strstr(help, "[default: 500]"));
	free(help);
}

/* Issue 12.9: storage set-up failures name the variable. */
static void url_without_host_names_the_variable(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {"https://", "http://", "https:///bucket", "https://:443",
					  "https://user:pw@", "ftp://host", "host.example"};

	setenv("LOCAL_STORAGE_DIR", f->dir, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("S3_ENDPOINT_URL", bad[i], 1);
		load_fails_naming(f, "S3_ENDPOINT_URL");
		unsetenv("S3_ENDPOINT_URL");
		setenv("R2_PUBLIC_URL", bad[i], 1);
		load_fails_naming(f, "R2_PUBLIC_URL");
		unsetenv("R2_PUBLIC_URL");
	}
	setenv("USE_S3", "true", 1);
	setenv("R2_PUBLIC_URL", "https://pub.example", 1);
	setenv("S3_ENDPOINT_URL", "https://acct.example", 1);
	load_fails_naming(f, "AWS_BUCKET_NAME");	/* an endpoint needs a bucket */
}

/* Issue 12.9: credentials inside a URL are masked in logs. */
static void credentials_in_urls_are_masked_in_the_log(void **state)
{
	struct fixture *f = *state;
	char *log, out[128];

	setenv("LOCAL_STORAGE_DIR", f->dir, 1);
	setenv("S3_ENDPOINT_URL", "https://AKIDUSER:sup3rs3cret@s3.example:9000", 1);
	setenv("R2_PUBLIC_URL", "https://reader:pa55w0rd@pub.example/tiles?x=@y", 1);
	load_ok(f);
	log = capture_log(&f->c);
	if (strstr(log, "sup3rs3cret") || strstr(log, "pa55w0rd") || strstr(log, "AKIDUSER"))
		fail_msg("a URL's credentials reached the log: %s", log);
	assert_non_null(strstr(log, "S3_ENDPOINT_URL=https://***@s3.example:9000"));
	assert_non_null(strstr(log, "R2_PUBLIC_URL=https://***@pub.example/tiles?x=@y"));
	free(log);
	config_mask_url("https://a:b@c@d.example/p", out, sizeof(out));
	assert_string_equal(out, "https://***@d.example/p");	/* the last '@' of the authority */
	config_mask_url("https://plain.example/a@b", out, sizeof(out));
	assert_string_equal(out, "https://plain.example/a@b");
}

/* Issue 12.6: BATCH_MAX_TILES cannot exceed what the URI limit carries. */
static void batch_max_tiles_is_bounded_by_the_uri_limit(void **state)
{
	struct fixture *f = *state;
	char v[16];

	assert_true(BATCH_TILES_CEILING * BATCH_ENTRY_URI_MAX + REQ_URI_RESERVE <= REQ_URI_MAX);
	setenv("LOCAL_STORAGE_DIR", f->dir, 1);
	snprintf(v, sizeof(v), "%d", BATCH_TILES_CEILING);
	setenv("BATCH_MAX_TILES", v, 1);
	load_ok(f);
	snprintf(v, sizeof(v), "%d", BATCH_TILES_CEILING + 1);
	setenv("BATCH_MAX_TILES", v, 1);
	load_fails_naming(f, "BATCH_MAX_TILES");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(defaults_are_those_of_spec_section_5),
		T(environment_wins_over_env_file),
		T(env_file_alone_configures_everything),
		T(env_file_syntax_of_dot_env),
		T(env_file_export_takes_any_blanks),
		T(empty_log_level_is_the_default),
		T(malformed_env_file_line_names_file_and_line),
		T(missing_env_file_is_an_error_naming_it),
		T(bad_bool_names_the_variable),
		T(bool_spellings_are_accepted),
		T(bad_or_out_of_range_int_names_the_variable),
		T(int_bounds_are_inclusive),
		T(bad_value_in_env_file_names_the_variable),
		T(overlong_value_names_the_variable),
		T(use_s3_without_bucket_names_aws_bucket_name),
		T(no_local_dir_without_s3_names_local_storage_dir),
		T(local_dir_that_is_not_a_directory_names_it),
		T(s3_endpoint_without_keys_names_the_missing_key),
		T(s3_without_endpoint_or_public_url_names_the_endpoint),
		T(public_url_alone_needs_no_keys),
		T(trailing_slashes_of_s3_endpoint_url_are_stripped),
		T(config_log_never_prints_a_secret_value),
		T(config_log_shows_every_effective_setting),
		T(markdown_lists_every_spec_variable_with_its_default),
		T(markdown_marks_secrets),
		T(help_lists_the_same_table),
		T(url_without_host_names_the_variable),
		T(credentials_in_urls_are_masked_in_the_log),
		T(batch_max_tiles_is_bounded_by_the_uri_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
