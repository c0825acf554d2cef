/*
 * test_accesslog.c - the access log (accesslog.h): the line format field by
 * field, no token ever written (however its name is spelled), one write()
 * per line and whole lines from many processes at once, bounded lines,
 * reopening for log rotation, and request ids.
 *
 * write() is wrapped at link time (-Wl,--wrap=write) to count the calls.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <regex.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "accesslog.h"

ssize_t __real_write(int fd, const void *p, size_t n);
ssize_t __wrap_write(int fd, const void *p, size_t n);
static unsigned writes;

ssize_t __wrap_write(int fd, const void *p, size_t n)
{
	writes++;
	return __real_write(fd, p, n);
}

static char dir[64];
static char path[128];
static char why[512];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/aptest-alog.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/access.log", dir);
	return 0;
}

static int teardown(void **state)
{
	char other[160];

	(void)state;
	unlink(path);
	snprintf(other, sizeof(other), "%s.1", path);
	unlink(other);
	rmdir(path);	/* where a test put a directory instead */
	return rmdir(dir);
}

static struct accesslog_entry entry(const char *query)
{
	struct accesslog_entry e = {
		.method = "GET", .path = "/api/tiles/7/3/1/2.jpg", .query = query, .status = 200,
		.bytes = 15360, .source = "r2", .duration_us = 12345, .request_id = "5f0c7a2e0000002a",
	};
	return e;
}

static char *format(const struct accesslog_entry *e)
{
	static char line[ACCESSLOG_LINE_MAX];
	size_t n = accesslog_format(e, line);

	assert_int_equal(n, strlen(line));
	assert_true(n < ACCESSLOG_LINE_MAX);
	assert_null(strchr(line, '\n'));
	return line;
}

/* The whole file as a string (caller frees). */
static char *slurp(const char *p)
{
	FILE *f = fopen(p, "r");
	char *text;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	text = calloc(1, (size_t)n + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return text;
}

static bool matches(const char *text, const char *re)
{
	regex_t r;
	bool ok;

	assert_int_equal(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0);
	ok = regexec(&r, text, 0, NULL, 0) == 0;
	regfree(&r);
	return ok;
}

static void test_line_has_every_field_in_order(void **state)
{
	struct accesslog_entry e = entry("x=1");
	char want[256], *line = format(&e);

	(void)state;
	snprintf(want, sizeof(want), "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\."
		 "[0-9]{3}Z %ld 5f0c7a2e0000002a GET /api/tiles/7/3/1/2\\.jpg\\?x=1 200 15360 r2 "
		 "0\\.012345$", (long)getpid());
	if (!matches(line, want))
		fail_msg("\"%s\" does not match %s", line, want);
}

static void test_missing_fields_are_dashes(void **state)
{
	struct accesslog_entry e = {.status = 404, .duration_us = -5};
	char *line = format(&e);

	(void)state;
	assert_true(matches(line, "Z [0-9]+ - - - 404 0 - 0\\.000000$"));
	e.request_id = "two words\n";	/* not an id: never written as is */
	assert_true(matches(format(&e), "Z [0-9]+ - - - 404 0 - 0\\.000000$"));
	e = entry("");
	e.duration_us = 2500000;
	assert_true(matches(format(&e), " /api/tiles/7/3/1/2\\.jpg 200 15360 r2 2\\.500000$"));
}

static void test_token_never_written(void **state)
{
	static const char *const queries[] = {
		"token=SECRETQ", "x=1&token=SECRETQ&y=2", "tiles=0/0/0.jpg&token=SECRETQ",
		"TOKEN=SECRETQ", "Token=SECRETQ", "%74oken=SECRETQ", "tok%65n=SECRETQ",
		"%54%4F%4B%45%4E=SECRETQ", "to+ken=x&token=SECRETQ", "token=SECRETQ&token=SECRETQ",
		"token=SECRETQ=more", "token=", "&&token=SECRETQ&&",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		struct accesslog_entry e = entry(queries[i]);
		char *line = format(&e);

		if (strstr(line, "SECRET"))
			fail_msg("token written: %s", line);
		if (strstr(queries[i], "SECRET") && !strstr(line, "=***"))
			fail_msg("token not marked as masked: %s", line);
	}
	/* names that are not token keep their values */
	struct accesslog_entry e = entry("tokens=a&atoken=b&token_x=c&x=token");
	assert_non_null(strstr(format(&e), "?tokens=a&atoken=b&token_x=c&x=token "));
}

static void test_cut_never_reveals_part_of_a_token(void **state)
{
	char q[ACCESSLOG_LINE_MAX + 200];

	(void)state;
	/* move the token across the cut, one byte at a time */
	for (size_t pad = ACCESSLOG_LINE_MAX - 200; pad < ACCESSLOG_LINE_MAX; pad++) {
		struct accesslog_entry e;
		char *line;

		memset(q, 'a', pad);
		snprintf(q + pad, sizeof(q) - pad, "&token=QQQQQQQQQQQQQQQQQQQQ");
		e = entry(q);
		line = format(&e);
		assert_null(strchr(line, 'Q'));
		assert_true(strlen(line) <= ACCESSLOG_LINE_MAX - 1);
	}
}

static void test_long_target_cut_with_mark_tail_kept(void **state)
{
	char q[3 * ACCESSLOG_LINE_MAX];
	struct accesslog_entry e;
	char *line;

	(void)state;
	memset(q, 'b', sizeof(q) - 1);
	q[sizeof(q) - 1] = '\0';
	e = entry(q);
	line = format(&e);
	assert_int_equal(strlen(line), ACCESSLOG_LINE_MAX - 1);	/* + '\n' = the bound */
	assert_true(matches(line, "b\\.\\.\\. 200 15360 r2 0\\.012345$"));
	memset(q, '\n', sizeof(q) - 1);	/* worst case: every byte escaped */
	e = entry(q);
	line = format(&e);
	assert_true(strlen(line) <= ACCESSLOG_LINE_MAX - 1);
	assert_true(matches(line, "(\\\\x0a)+\\.\\.\\. 200 "));
}

static void test_unsafe_bytes_escaped(void **state)
{
	struct accesslog_entry e = entry("a=1\n2&b=\"x\" y\\");
	char *line;

	(void)state;
	e.path = "/api/tiles/\xff\x01";
	e.method = "G T";
	line = format(&e);
	assert_non_null(strstr(line, " G\\x20T /api/tiles/\\xff\\x01?a=1\\x0a2&b=\\x22x\\x22\\x20y\\x5c 200 "));
	/* nine fields, one blank between each */
	assert_true(matches(line, "^[^ ]+( [^ ]+){8}$"));
}

static void test_one_write_per_line(void **state)
{
	struct accesslog *l = NULL;
	struct accesslog_entry e = entry("x=1");
	char *text;

	(void)state;
	assert_int_equal(accesslog_open(path, &l, why, sizeof(why)), AP_OK);
	writes = 0;
	for (int i = 0; i < 10; i++)
		assert_int_equal(accesslog_write(l, &e), AP_OK);
	assert_int_equal(writes, 10);
	accesslog_close(l);
	text = slurp(path);
	assert_true(matches(text, "^([^\n]+ r2 0\\.012345\n){10}$"));
	free(text);
}

/* Queued lines go out together, whole lines per write(), in order, and
 * never more than ACCESSLOG_LINE_MAX bytes at once. */
static void test_queue_gathers_lines_into_few_writes(void **state)
{
	struct accesslog *l = NULL;
	struct accesslog_entry e = entry("x=1");
	char one[ACCESSLOG_LINE_MAX], *text;
	size_t len = accesslog_format(&e, one) + 1;
	int per_write = (int)(ACCESSLOG_LINE_MAX / len), n = 3 * per_write + 1;

	(void)state;
	assert_int_equal(accesslog_open(path, &l, why, sizeof(why)), AP_OK);
	writes = 0;
	for (int i = 0; i < 10; i++)
		assert_int_equal(accesslog_queue(l, &e), AP_OK);
	assert_int_equal(writes, 0);
	text = slurp(path);
	assert_string_equal(text, "");	/* nothing before the flush */
	free(text);
	assert_int_equal(accesslog_flush(l), AP_OK);
	assert_int_equal(writes, 1);
	assert_int_equal(accesslog_flush(l), AP_OK);	/* an empty queue writes nothing */
	assert_int_equal(writes, 1);
	for (int i = 0; i < n; i++)
		assert_int_equal(accesslog_queue(l, &e), AP_OK);
	assert_int_equal(writes, 1 + 3);	/* three full queues went out */
	assert_int_equal(accesslog_write(l, &e), AP_OK);	/* the queue first, then it */
	assert_int_equal(writes, 1 + 3 + 2);
	accesslog_close(l);
	text = slurp(path);
	assert_int_equal(strlen(text), (size_t)(10 + n + 1) * len);
	assert_true(matches(text, "^([^\n]+ r2 0\\.012345\n)+$"));
	free(text);
}

static void test_many_processes_whole_lines(void **state)
{
	enum { NPROC = 6, LINES = 300 };
	char q[3000], *text, *save = NULL;
	pid_t pids[NPROC];
	int status, n = 0;

	(void)state;
	for (int i = 0; i < NPROC; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct accesslog *l = NULL;
			struct accesslog_entry e;

			memset(q, 'a' + i, sizeof(q) - 1);	/* long lines, one letter each */
			q[sizeof(q) - 1] = '\0';
			e = entry(q);
			if (accesslog_open(path, &l, why, sizeof(why)) != AP_OK)
				_exit(1);
			for (int j = 0; j < LINES; j++)
				if (accesslog_write(l, &e) != AP_OK)
					_exit(2);
			accesslog_close(l);
			_exit(0);
		}
	}
	for (int i = 0; i < NPROC; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	text = slurp(path);
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *qs = strchr(line, '?');

		assert_non_null(qs);
		/* a line of one process only: its letter throughout, then the tail */
		if (strspn(qs + 1, (char[]){qs[1], 0}) != sizeof(q) - 1 ||
		    strcmp(qs + sizeof(q), " 200 15360 r2 0.012345") != 0)
			fail_msg("line %d is not whole: %.80s...", n, line);
		n++;
	}
	assert_int_equal(n, NPROC * LINES);
	free(text);
}

static void test_reopen_after_rotation(void **state)
{
	struct accesslog *l = NULL;
	struct accesslog_entry e = entry("n=1");
	char rotated[160], *text;

	(void)state;
	snprintf(rotated, sizeof(rotated), "%s.1", path);
	assert_int_equal(accesslog_open(path, &l, why, sizeof(why)), AP_OK);
	assert_int_equal(accesslog_write(l, &e), AP_OK);
	assert_int_equal(rename(path, rotated), 0);	/* logrotate */
	e = entry("n=2");
	assert_int_equal(accesslog_write(l, &e), AP_OK);	/* no request yet: old file */
	accesslog_request_reopen();
	e = entry("n=3");
	assert_int_equal(accesslog_write(l, &e), AP_OK);
	accesslog_close(l);
	text = slurp(rotated);
	assert_true(matches(text, "\\?n=1 .*\n.*\\?n=2 [^\n]*\n$"));
	free(text);
	text = slurp(path);
	assert_true(matches(text, "^[^\n]*\\?n=3 [^\n]*\n$"));
	free(text);
}

static void test_failed_reopen_keeps_old_file(void **state)
{
	struct accesslog *l = NULL;
	struct accesslog_entry e = entry("n=1");
	char rotated[160], *text;
	int saved, fd;
	char err[600];
	ssize_t n;

	(void)state;
	snprintf(rotated, sizeof(rotated), "%s.1", path);
	assert_int_equal(accesslog_open(path, &l, why, sizeof(why)), AP_OK);
	assert_int_equal(rename(path, rotated), 0);
	assert_int_equal(mkdir(path, 0700), 0);	/* the path cannot be opened now */
	accesslog_request_reopen();
	fd = open(rotated, O_RDONLY);
	saved = dup(2);
	{
		char errpath[160];
		int efd;

		snprintf(errpath, sizeof(errpath), "%s/err", dir);
		efd = open(errpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
		dup2(efd, 2);
		assert_int_equal(accesslog_write(l, &e), AP_OK);
		dup2(saved, 2);
		n = pread(efd, err, sizeof(err) - 1, 0);
		err[n > 0 ? n : 0] = '\0';
		close(efd);
		unlink(errpath);
	}
	close(saved);
	close(fd);
	assert_non_null(strstr(err, "ACCESS_LOG: cannot open"));
	assert_non_null(strstr(err, "old file"));
	accesslog_close(l);
	text = slurp(rotated);
	assert_true(matches(text, "\\?n=1 "));
	free(text);
}

static void test_open_refusals_name_the_setting(void **state)
{
	struct accesslog *l = (struct accesslog *)1;
	char fifo[160];

	(void)state;
	assert_int_equal(accesslog_open("relative.log", &l, why, sizeof(why)), AP_ERR_CONFIG);
	assert_null(l);
	assert_non_null(strstr(why, "ACCESS_LOG"));
	assert_int_equal(accesslog_open(dir, &l, why, sizeof(why)), AP_ERR_IO);	/* a directory */
	assert_non_null(strstr(why, "ACCESS_LOG: cannot open"));
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(accesslog_open(fifo, &l, why, sizeof(why)), AP_ERR_IO);
	assert_non_null(strstr(why, "FIFO without a reader"));
	unlink(fifo);
	assert_int_equal(accesslog_open("/dev/null", &l, why, sizeof(why)), AP_OK);
	accesslog_close(l);
	accesslog_close(NULL);
}

static void test_created_file_mode(void **state)
{
	struct accesslog *l = NULL;
	struct stat st;
	mode_t old = umask(0);

	(void)state;
	assert_int_equal(accesslog_open(path, &l, why, sizeof(why)), AP_OK);
	umask(old);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	accesslog_close(l);
}

static void test_request_id_taken_when_sane(void **state)
{
	char id[REQUEST_ID_MAX + 1], longest[REQUEST_ID_MAX + 2];

	(void)state;
	request_id_make("abc-DEF_1.2", id);
	assert_string_equal(id, "abc-DEF_1.2");
	memset(longest, 'z', REQUEST_ID_MAX);
	longest[REQUEST_ID_MAX] = '\0';
	request_id_make(longest, id);
	assert_string_equal(id, longest);
	longest[REQUEST_ID_MAX] = 'z';	/* one too long */
	longest[REQUEST_ID_MAX + 1] = '\0';
	static const char *const bad[] = {NULL, "", "a b", "a\nb", "a\"b", "x/y", "\xc3\xa9"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]) + 1; i++) {
		request_id_make(i < sizeof(bad) / sizeof(bad[0]) ? bad[i] : longest, id);
		assert_int_equal(strlen(id), 16);
		assert_int_equal(strspn(id, "0123456789abcdef"), 16);
	}
}

static void test_generated_ids_differ_and_forks_get_a_new_prefix(void **state)
{
	char a[REQUEST_ID_MAX + 1], b[REQUEST_ID_MAX + 1];
	int fds[2], status;
	pid_t pid;

	(void)state;
	request_id_make(NULL, a);
	request_id_make(NULL, b);
	assert_string_not_equal(a, b);
	assert_memory_equal(a, b, 8);	/* the process's prefix */
	assert_int_equal(strtoul(b + 8, NULL, 16), strtoul(a + 8, NULL, 16) + 1);
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char c[REQUEST_ID_MAX + 1];

		request_id_make(NULL, c);
		_exit(write(fds[1], c, 17) == 17 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(read(fds[0], b, 17), 17);
	assert_memory_not_equal(a, b, 8);
	assert_string_equal(b + 8, "00000001");	/* its own counter */
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_has_every_field_in_order),
		cmocka_unit_test(test_missing_fields_are_dashes),
		cmocka_unit_test(test_token_never_written),
		cmocka_unit_test(test_cut_never_reveals_part_of_a_token),
		cmocka_unit_test(test_long_target_cut_with_mark_tail_kept),
		cmocka_unit_test(test_unsafe_bytes_escaped),
		cmocka_unit_test_setup_teardown(test_one_write_per_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_gathers_lines_into_few_writes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_processes_whole_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen_after_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_reopen_keeps_old_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_refusals_name_the_setting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_created_file_mode, setup, teardown),
		cmocka_unit_test(test_request_id_taken_when_sane),
		cmocka_unit_test(test_generated_ids_differ_and_forks_get_a_new_prefix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
