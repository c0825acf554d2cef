/*
 * test_local.c - the local storage tree (local.h): an object is read whole
 * or not at all, absence and non-files are 404, and the size bound is
 * checked with fstat before a byte is allocated or read.
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
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "local.h"

struct fixture {
	char root[64];
	char paths[8][160];	/* files and dirs to remove, deepest first */
	int npaths;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (!f)
		return -1;
	snprintf(f->root, sizeof(f->root), "%s/aplocal.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(f->root))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	for (int i = f->npaths; i-- > 0;)
		remove(f->paths[i]);
	rmdir(f->root);
	free(f);
	return 0;
}

static const char *track(struct fixture *f, const char *rel)
{
	assert_true(f->npaths < 8);
	char tmp[sizeof(f->paths[0])];

	/* via a copy: root and paths live in the same struct (-Werror=restrict) */
	snprintf(tmp, sizeof(tmp), "%s/%s", f->root, rel);
	memcpy(f->paths[f->npaths], tmp, sizeof(tmp));
	return f->paths[f->npaths++];
}

static void mkdir_in(struct fixture *f, const char *rel)
{
	assert_int_equal(mkdir(track(f, rel), 0755), 0);
}

static void write_in(struct fixture *f, const char *rel, const void *p, size_t n)
{
	FILE *fp = fopen(track(f, rel), "wb");

	assert_non_null(fp);
	assert_int_equal(fwrite(p, 1, n, fp), n);
	fclose(fp);
}

static void reads_an_object_whole(void **state)
{
	static const unsigned char jpg[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F',
					    0x00, 0x01, 0xFF, 0xD9};
	struct fixture *f = *state;
	struct buf b;

	mkdir_in(f, "tiles");
	mkdir_in(f, "tiles/1");
	write_in(f, "tiles/1/0.jpg", jpg, sizeof(jpg));
	buf_init(&b, 1 << 20);
	assert_int_equal(local_read(f->root, "tiles/1/0.jpg", 1 << 20, &b), AP_OK);
	assert_int_equal(b.len, sizeof(jpg));
	assert_memory_equal(b.data, jpg, sizeof(jpg));	/* NUL bytes included */
	assert_int_equal(b.data[b.len], '\0');
	buf_free(&b);
}

static void missing_object_is_404(void **state)
{
	struct fixture *f = *state;
	struct buf b;

	buf_init(&b, 1 << 20);
	assert_int_equal(local_read(f->root, "tiles/1/0/0/0.jpg", 1 << 20, &b), AP_ERR_NOT_FOUND);
	assert_int_equal(local_read(f->root, "nothing.json", 1 << 20, &b), AP_ERR_NOT_FOUND);
	assert_int_equal(local_read(NULL, "nothing.json", 1 << 20, &b), AP_ERR_NOT_FOUND);
	assert_int_equal(local_read("/nonexistent-root-dir", "x", 1 << 20, &b), AP_ERR_NOT_FOUND);
	buf_free(&b);
}

static void a_path_through_a_file_is_404(void **state)
{
	struct fixture *f = *state;
	struct buf b;

	write_in(f, "file", "x", 1);
	buf_init(&b, 1 << 20);
	assert_int_equal(local_read(f->root, "file/child", 1 << 20, &b), AP_ERR_NOT_FOUND);
	buf_free(&b);
}

static void a_directory_is_404(void **state)
{
	struct fixture *f = *state;
	struct buf b;

	mkdir_in(f, "tiles");
	mkdir_in(f, "tiles/0.jpg");	/* a directory named like a tile */
	buf_init(&b, 1 << 20);
	assert_int_equal(local_read(f->root, "tiles/0.jpg", 1 << 20, &b), AP_ERR_NOT_FOUND);
	assert_int_equal(local_read(f->root, "tiles", 1 << 20, &b), AP_ERR_NOT_FOUND);
	buf_free(&b);
}

static void a_fifo_is_404_and_never_blocks(void **state)
{
	struct fixture *f = *state;
	struct buf b;

	assert_int_equal(mkfifo(track(f, "fifo.jpg"), 0644), 0);
	buf_init(&b, 1 << 20);
	alarm(5);	/* a blocking open would hang the test, not pass it */
	assert_int_equal(local_read(f->root, "fifo.jpg", 1 << 20, &b), AP_ERR_NOT_FOUND);
	alarm(0);
	buf_free(&b);
}

static void empty_file_is_an_empty_object(void **state)
{
	struct fixture *f = *state;
	struct buf b;

	write_in(f, "empty.json", "", 0);
	buf_init(&b, 1 << 20);
	assert_int_equal(local_read(f->root, "empty.json", 1 << 20, &b), AP_OK);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void exactly_max_bytes_is_read_and_one_more_is_too_large(void **state)
{
	struct fixture *f = *state;
	char data[100];
	struct buf b;

	memset(data, 'a', sizeof(data));
	write_in(f, "hundred", data, sizeof(data));
	buf_init(&b, 1 << 20);
	assert_int_equal(local_read(f->root, "hundred", 100, &b), AP_OK);
	assert_int_equal(b.len, 100);
	assert_int_equal(local_read(f->root, "hundred", 99, &b), AP_ERR_TOO_LARGE);
	assert_int_equal(ap_err_status(AP_ERR_TOO_LARGE), 413);
	buf_free(&b);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void size_is_checked_before_reading(void **state)
{
	struct fixture *f = *state;
	const char *path = track(f, "huge.jpg");
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	struct buf b;
	double t0;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1ll << 30), 0);	/* 1 GiB, sparse */
	close(fd);
	/* the buffer may hold up to 2 GiB: only local_read's max stops it */
	buf_init(&b, (size_t)2 << 30);
	t0 = now_s();
	assert_int_equal(local_read(f->root, "huge.jpg", 1 << 20, &b), AP_ERR_TOO_LARGE);
	assert_true(now_s() - t0 < 0.5);
	assert_int_equal(b.cap, 0);	/* nothing was allocated */
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void the_buffer_is_reset_first(void **state)
{
	struct fixture *f = *state;
	struct buf b;

	write_in(f, "two", "22", 2);
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_adds(&b, "previous content"), AP_OK);
	assert_int_equal(local_read(f->root, "two", 1 << 20, &b), AP_OK);
	assert_int_equal(b.len, 2);
	assert_string_equal(b.data, "22");
	/* and on failure nothing stale is left to be served */
	assert_int_equal(buf_adds(&b, "stale"), AP_OK);
	assert_int_equal(local_read(f->root, "absent", 1 << 20, &b), AP_ERR_NOT_FOUND);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

static void a_key_too_long_for_a_path_is_an_error_not_a_truncated_read(void **state)
{
	struct fixture *f = *state;
	char key[5000];
	struct buf b;

	memset(key, 'a', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	buf_init(&b, 1 << 20);
	assert_true(local_read(f->root, key, 1 << 20, &b) != AP_OK);
	buf_free(&b);
}

static void local_ok_only_for_a_readable_directory(void **state)
{
	struct fixture *f = *state;

	write_in(f, "plain", "x", 1);
	assert_true(local_ok(f->root));
	assert_false(local_ok(f->paths[0]));	/* a file */
	assert_false(local_ok("/nonexistent-root-dir"));
	assert_false(local_ok(NULL));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(reads_an_object_whole),
		T(missing_object_is_404),
		T(a_path_through_a_file_is_404),
		T(a_directory_is_404),
		T(a_fifo_is_404_and_never_blocks),
		T(empty_file_is_an_empty_object),
		T(exactly_max_bytes_is_read_and_one_more_is_too_large),
		T(size_is_checked_before_reading),
		T(the_buffer_is_reset_first),
		T(a_key_too_long_for_a_path_is_an_error_not_a_truncated_read),
		T(local_ok_only_for_a_readable_directory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
