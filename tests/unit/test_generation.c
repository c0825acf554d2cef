/*
 * test_generation.c - shared generation counters (generation.h) in the
 * pool's private directory (shm.h): processes that share a file see each
 * other's bumps, creation is race-free, a file or directory that is not
 * ours (type, owner, mode, content) is refused and left untouched, a lock
 * held by someone else is not waited on for long, and a file truncated
 * under a running process costs that process its sharing, not its life.
 *
 * The .c file is included to know the file's size and layout.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "generation.c"
#include "clock.h"

#define GEN_FILE_SIZE sizeof(struct gen_shm)

static char dir[64];
static char path[128];
static char why[512];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/aptest-gen.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/gen", dir);
	return 0;
}

static enum ap_err open_gen(struct gen_map **g)
{
	why[0] = '\0';
	return gen_open(dir, "gen", g, why, sizeof(why));
}

static int teardown(void **state)
{
	char other[160];

	(void)state;
	unlink(path);
	snprintf(other, sizeof(other), "%s/target", dir);
	unlink(other);
	snprintf(other, sizeof(other), "%s/sub", dir);
	rmdir(other);
	return rmdir(dir);
}

static void write_file(const char *p, int byte, size_t len, mode_t mode)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	char *b = malloc(len + 1);

	assert_true(fd >= 0);
	assert_non_null(b);
	memset(b, byte, len);
	assert_int_equal(write(fd, b, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	free(b);
}

/* Whether the file still holds len bytes equal to byte. */
static bool file_is(const char *p, int byte, size_t len)
{
	unsigned char b[512];
	size_t total = 0;
	ssize_t n;
	int fd = open(p, O_RDONLY);

	if (fd < 0)
		return false;
	while ((n = read(fd, b, sizeof(b))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			if (b[i] != (unsigned char)byte) {
				close(fd);
				return false;
			}
		total += (size_t)n;
	}
	close(fd);
	return total == len;
}

static void test_two_maps_on_one_file_share(void **state)
{
	struct gen_map *a = NULL, *b = NULL;

	(void)state;
	assert_int_equal(open_gen(&a), AP_OK);
	assert_int_equal(open_gen(&b), AP_OK);
	assert_int_equal(gen_get(a, 42), 0);
	assert_int_equal(gen_epoch(a), 0);
	gen_bump(b, 42);
	gen_bump(b, 42);
	gen_bump(a, 7);
	assert_int_equal(gen_get(a, 42), 2);
	assert_int_equal(gen_get(b, 7), 1);
	assert_int_equal(gen_get(a, 43), 0);
	assert_int_equal(gen_epoch(a), 3);
	assert_int_equal(gen_epoch(b), 3);
	gen_close(a);
	gen_close(b);
}

static void test_counters_survive_reopen(void **state)
{
	struct gen_map *g = NULL;

	(void)state;
	assert_int_equal(open_gen(&g), AP_OK);
	gen_bump(g, 1);
	gen_close(g);
	assert_int_equal(open_gen(&g), AP_OK);
	assert_int_equal(gen_get(g, 1), 1);	/* a restarted process agrees */
	gen_close(g);
}

static void test_unrelated_child_bump_seen_by_parent(void **state)
{
	struct gen_map *g = NULL;
	pid_t pid;
	int status;

	(void)state;
	assert_int_equal(open_gen(&g), AP_OK);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* a fresh mapping of its own, as an unrelated process has */
		struct gen_map *mine = NULL;

		if (open_gen(&mine) != AP_OK)
			_exit(1);
		for (int i = 0; i < 3; i++)
			gen_bump(mine, 5);
		gen_close(mine);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(gen_get(g, 5), 3);
	assert_int_equal(gen_epoch(g), 3);
	gen_close(g);
}

static void test_processes_starting_together(void **state)
{
	enum { NPROC = 8, BUMPS = 2000 };
	struct gen_map *g = NULL;
	pid_t pids[NPROC];
	int go[2], status;

	(void)state;
	/* all children block on the pipe, then race to create the file */
	assert_int_equal(pipe(go), 0);
	for (int i = 0; i < NPROC; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct gen_map *mine = NULL;
			char c;

			close(go[1]);
			if (read(go[0], &c, 1) != 0)
				_exit(2);
			if (open_gen(&mine) != AP_OK)
				_exit(1);
			for (int j = 0; j < BUMPS; j++)
				gen_bump(mine, (uint32_t)(j % 3));
			gen_close(mine);
			_exit(0);
		}
	}
	close(go[0]);
	close(go[1]);
	for (int i = 0; i < NPROC; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(open_gen(&g), AP_OK);
	assert_int_equal(gen_epoch(g), NPROC * BUMPS);	/* no lost update */
	assert_int_equal(gen_get(g, 0) + gen_get(g, 1) + gen_get(g, 2), NPROC * BUMPS);
	gen_close(g);
}

static void test_bad_magic_refused_untouched(void **state)
{
	struct gen_map *g = (struct gen_map *)1;

	(void)state;
	write_file(path, 'x', GEN_FILE_SIZE, 0600);
	assert_int_equal(open_gen(&g), AP_ERR_CONFIG);
	assert_null(g);
	assert_true(file_is(path, 'x', GEN_FILE_SIZE));	/* not "repaired" */
}

static void test_other_version_refused(void **state)
{
	struct gen_map *g = NULL;
	struct gen_shm *s = calloc(1, sizeof(*s));
	int fd;

	(void)state;
	assert_non_null(s);
	header_init(s, sizeof(*s));
	s->version = GEN_VERSION + 1;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, s, sizeof(*s)), (ssize_t)sizeof(*s));
	close(fd);
	free(s);
	assert_int_equal(open_gen(&g), AP_ERR_CONFIG);
}

static void test_wrong_size_refused_untouched(void **state)
{
	struct gen_map *g = NULL;

	(void)state;
	write_file(path, 'y', 100, 0600);
	assert_int_equal(open_gen(&g), AP_ERR_CONFIG);
	assert_true(file_is(path, 'y', 100));
	write_file(path, 0, GEN_FILE_SIZE + 8, 0600);
	assert_int_equal(open_gen(&g), AP_ERR_CONFIG);
	assert_true(file_is(path, 0, GEN_FILE_SIZE + 8));
}

static void test_empty_or_zero_file_initialised(void **state)
{
	struct gen_map *g = NULL;

	(void)state;
	/* what a creator that died before or after growing the file leaves */
	write_file(path, 0, 0, 0600);
	assert_int_equal(open_gen(&g), AP_OK);
	gen_close(g);
	write_file(path, 0, GEN_FILE_SIZE, 0600);
	assert_int_equal(open_gen(&g), AP_OK);
	assert_true(header_valid(g->shm, GEN_FILE_SIZE));
	gen_close(g);
}

static void test_mode_is_0600_despite_umask(void **state)
{
	struct gen_map *g = NULL;
	struct stat st;
	mode_t old = umask(0);

	(void)state;
	assert_int_equal(open_gen(&g), AP_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(gen_shared(g));
	gen_close(g);
	umask(old);
}

static void test_group_or_world_access_refused(void **state)
{
	struct gen_map *g = NULL;
	static const mode_t modes[] = {0660, 0620, 0606, 0640, 0604, 0666};

	(void)state;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		write_file(path, 0, 0, modes[i]);
		assert_int_equal(open_gen(&g), AP_ERR_CONFIG);
		assert_non_null(strstr(why, "mode"));
		assert_true(file_is(path, 0, 0));	/* left as it was */
		unlink(path);
	}
}

static void test_file_of_another_owner_refused(void **state)
{
	struct gen_map *g = NULL;

	(void)state;
	if (geteuid() != 0) {
		print_message("skipped: changing a file's owner needs root\n");
		skip();
	}
	write_file(path, 0, 0, 0600);
	assert_int_equal(chown(path, 65534, 65534), 0);
	assert_int_equal(open_gen(&g), AP_ERR_CONFIG);
	assert_non_null(strstr(why, "owned by uid 65534"));
}

static void test_symlink_and_directory_refused(void **state)
{
	struct gen_map *g = NULL;
	char target[160];

	(void)state;
	snprintf(target, sizeof(target), "%s/target", dir);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(open_gen(&g), AP_ERR_IO);
	assert_non_null(strstr(why, "symbolic link"));
	assert_int_equal(access(target, F_OK), -1);	/* not created through it */
	unlink(path);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(open_gen(&g), AP_ERR_IO);	/* EISDIR */
	assert_null(g);
	rmdir(path);
}

static void test_dir_prepared_private(void **state)
{
	char sub[160], link[160];
	struct stat st;

	(void)state;
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	assert_int_equal(shm_dir_prepare(sub, why, sizeof(why)), AP_OK);	/* created */
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(shm_dir_prepare(sub, why, sizeof(why)), AP_OK);	/* again: fine */
	assert_int_equal(chmod(sub, 0750), 0);
	assert_int_equal(shm_dir_prepare(sub, why, sizeof(why)), AP_ERR_CONFIG);
	assert_non_null(strstr(why, "0750"));
	assert_int_equal(chmod(sub, 0777), 0);
	assert_int_equal(shm_dir_prepare(sub, why, sizeof(why)), AP_ERR_CONFIG);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0777);	/* refused, not "fixed" */
	assert_int_equal(chmod(sub, 0700), 0);
	snprintf(link, sizeof(link), "%s/target", dir);
	assert_int_equal(symlink(sub, link), 0);
	assert_int_equal(shm_dir_prepare(link, why, sizeof(why)), AP_ERR_CONFIG);
	assert_non_null(strstr(why, "symbolic link"));
	unlink(link);
	assert_int_equal(shm_dir_prepare("relative/dir", why, sizeof(why)), AP_ERR_CONFIG);
	if (geteuid() == 0) {
		assert_int_equal(chown(sub, 65534, 65534), 0);
		assert_int_equal(shm_dir_prepare(sub, why, sizeof(why)), AP_ERR_CONFIG);
		assert_non_null(strstr(why, "owned by uid 65534"));
	}
}

static void test_held_lock_is_not_waited_on_for_long(void **state)
{
	struct gen_map *g = NULL;
	long long t0;
	int fd;

	(void)state;
	write_file(path, 0, 0, 0600);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);	/* someone holds it */
	t0 = clock_ms();
	assert_int_equal(open_gen(&g), AP_ERR_UNAVAILABLE);
	assert_true(clock_ms() - t0 < 5 * SHM_LOCK_TRIES * SHM_LOCK_WAIT_MS);
	assert_non_null(strstr(why, "locked"));
	flock(fd, LOCK_UN);
	close(fd);
	assert_int_equal(open_gen(&g), AP_OK);
	gen_close(g);
}

static void test_truncated_under_us_costs_sharing_not_life(void **state)
{
	struct gen_map *g = NULL, *other = NULL;

	(void)state;
	assert_int_equal(open_gen(&g), AP_OK);
	assert_int_equal(open_gen(&other), AP_OK);
	gen_bump(g, 5);
	assert_int_equal(gen_get(other, 5), 1);
	assert_int_equal(truncate(path, 0), 0);	/* an operator's `> file` */
	/* every page of the map is gone: the loads must not kill us */
	assert_int_equal(gen_get(g, 5), 0);
	assert_int_equal(gen_epoch(g), 0);
	assert_false(gen_shared(g));
	gen_bump(g, 5);
	assert_int_equal(gen_get(g, 5), 1);
	assert_int_equal(gen_get(other, 5), 0);	/* private from now on */
	assert_false(gen_shared(other));
	gen_close(g);
	gen_close(other);
}

static void test_unusable_path_then_private_fallback(void **state)
{
	struct gen_map *g = NULL, *p, *q;
	char missing[160];

	(void)state;
	snprintf(missing, sizeof(missing), "%s/no/such/dir", dir);
	assert_int_equal(gen_open(missing, "gen", &g, why, sizeof(why)), AP_ERR_IO);
	assert_null(g);
	p = gen_open_private();
	q = gen_open_private();
	assert_non_null(p);
	assert_non_null(q);
	assert_int_equal(gen_get(p, 9), 0);
	gen_bump(p, 9);
	assert_int_equal(gen_get(p, 9), 1);
	assert_int_equal(gen_epoch(p), 1);
	assert_int_equal(gen_get(q, 9), 0);	/* private means private */
	gen_close(p);
	gen_close(q);
	gen_close(NULL);
}

static void test_slot_shared_modulo_n(void **state)
{
	struct gen_map *g = gen_open_private();

	(void)state;
	gen_bump(g, 3);
	assert_int_equal(gen_get(g, 3 + GEN_N_SLOTS), 1);
	assert_int_equal(gen_get(g, 3 + 2 * GEN_N_SLOTS), 1);
	assert_int_equal(gen_get(g, 4), 0);
	gen_bump(g, UINT32_MAX);
	assert_int_equal(gen_get(g, UINT32_MAX % GEN_N_SLOTS), 1);
	gen_close(g);
}

/* The shared tier's bookkeeping: a clear is pending until told to Redis,
 * one raise of the remembered Redis values wins, bump-all moves every slot. */
static void test_pending_until_done(void **state)
{
	struct gen_map *g = gen_open_private();
	size_t cur = 0;
	uint32_t id = 0;
	bool many = false;

	(void)state;
	assert_false(gen_pending(g, 5));
	assert_false(gen_next_pending(g, &cur, &id, &many));
	gen_bump(g, 5);
	assert_true(gen_pending(g, 5));
	assert_false(gen_pending(g, 5 + GEN_N_SLOTS));	/* same slot, other dataset */
	cur = 0;
	assert_true(gen_next_pending(g, &cur, &id, &many));
	assert_int_equal(id, 5);
	assert_false(many);
	assert_false(gen_next_pending(g, &cur, &id, &many));
	gen_bump(g, 5 + GEN_N_SLOTS);	/* a second dataset of the slot: both pending */
	assert_true(gen_pending(g, 5) && gen_pending(g, 5 + GEN_N_SLOTS));
	gen_done_pending(g, 5, false);	/* the first clear's answer covers not both */
	assert_true(gen_pending(g, 5));
	cur = 0;
	assert_true(gen_next_pending(g, &cur, &id, &many));
	assert_true(many);
	gen_done_pending(g, id, true);
	assert_false(gen_pending(g, 5) || gen_pending(g, 5 + GEN_N_SLOTS));
	gen_close(g);
}

static void test_remote_raise_once_and_bump_all(void **state)
{
	struct gen_map *g = gen_open_private();
	uint64_t before = gen_get(g, 9), e0 = gen_epoch(g);

	(void)state;
	assert_true(gen_note_remote(g, 9, 3));		/* cleared elsewhere: dropped here */
	assert_int_equal(gen_get(g, 9), before + 1);
	assert_false(gen_note_remote(g, 9, 3));		/* seen already */
	assert_false(gen_note_remote(g, 9, 2));		/* never goes back */
	assert_int_equal(gen_remote(g, 9), 3);
	assert_false(gen_pending(g, 9));		/* a remote clear is not ours to send */
	assert_true(gen_raise_remote_epoch(g, 7));
	assert_false(gen_raise_remote_epoch(g, 7));
	assert_false(gen_raise_remote_epoch(g, 6));
	gen_set_remote_epoch(g, 2);			/* a Redis that restarted */
	assert_int_equal(gen_remote_epoch(g), 2);
	before = gen_get(g, 1234);
	gen_bump_all(g);
	assert_int_equal(gen_get(g, 1234), before + 1);
	assert_true(gen_epoch(g) > e0);
	assert_true(gen_note_remote_all(g, 1));
	assert_int_equal(gen_get(g, 1234), before + 2);
	gen_drop(g, 77);
	assert_false(gen_pending(g, 77));
	gen_close(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_two_maps_on_one_file_share, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counters_survive_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unrelated_child_bump_seen_by_parent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_processes_starting_together, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_magic_refused_untouched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_version_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_size_refused_untouched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_or_zero_file_initialised, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mode_is_0600_despite_umask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_or_world_access_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_of_another_owner_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_and_directory_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dir_prepared_private, setup, teardown),
		cmocka_unit_test_setup_teardown(test_held_lock_is_not_waited_on_for_long, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_under_us_costs_sharing_not_life, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unusable_path_then_private_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slot_shared_modulo_n, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_until_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remote_raise_once_and_bump_all, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
