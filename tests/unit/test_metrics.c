/*
 * test_metrics.c - pool-wide metrics (metrics.h): processes that share the
 * file see each other's counts exactly, a process killed with SIGKILL loses
 * nothing and its successor counts nothing twice, a reused pid is not taken
 * for a live process, a full file overflows into one shared slot, gauges
 * come from live processes only, and the rendering is the Prometheus text
 * format, line by line.
 *
 * The .c file is included to reach the file's layout and forge slots.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "metrics.c"

static char dir[64];
static char path[128];
static char why[512];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/aptest-met.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/metrics", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return rmdir(dir);
}

static struct metrics *open_m(void)
{
	struct metrics *m = NULL;

	why[0] = '\0';
	assert_int_equal(metrics_open(dir, "metrics", &m, why, sizeof(why)), AP_OK);
	assert_non_null(m);
	return m;
}

/* The rendering as a string (caller frees). */
static char *render(struct metrics *m)
{
	struct buf b;

	buf_init(&b, METRICS_RENDER_MAX);
	assert_int_equal(metrics_render(m, &b), AP_OK);
	assert_non_null(b.data);
	return b.data;
}

/* Whether text has exactly this line. */
static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

static void expect_line(struct metrics *m, const char *fmt, ...) AP_PRINTF(2, 3);
static void expect_line(struct metrics *m, const char *fmt, ...)
{
	char line[256], *text = render(m);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (!has_line(text, line))
		fail_msg("no line \"%s\" in:\n%s", line, text);
	free(text);
}

static uint64_t requests(struct metrics *m)
{
	return metrics_total(m, MET_REQUESTS, MET_EP_TILE, MET_2XX);
}

/* A child that opens its own map, counts n tile requests, reports its slot
 * on fd and then either exits cleanly or waits to be killed. */
static pid_t child_counting(unsigned n, int fd, bool wait_for_kill)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct metrics *m = NULL;
		int slot;

		if (metrics_open(dir, "metrics", &m, why, sizeof(why)) != AP_OK)
			_exit(1);
		for (unsigned i = 0; i < n; i++)
			metrics_count(m, MET_REQUESTS, MET_EP_TILE, MET_2XX);
		metrics_gauge_set(m, MET_CACHE_BYTES, 0, 1000);
		slot = m->priv->slot;
		if (write(fd, &slot, sizeof(slot)) != sizeof(slot))
			_exit(2);
		if (wait_for_kill)
			for (;;)
				pause();
		metrics_close(m);
		_exit(0);
	}
	return pid;
}

static int read_slot(int fd)
{
	int slot = -2;

	assert_int_equal(read(fd, &slot, sizeof(slot)), (ssize_t)sizeof(slot));
	return slot;
}

static void reap(pid_t pid, bool killed)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (killed)
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	else
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_two_handles_count_into_two_slots(void **state)
{
	struct metrics *a = open_m(), *b = open_m();

	(void)state;
	assert_int_not_equal(a->priv->slot, b->priv->slot);
	assert_true(a->own_slot && b->own_slot);
	metrics_count(a, MET_REQUESTS, MET_EP_TILE, MET_2XX);
	metrics_add(b, MET_REQUESTS, MET_EP_TILE, MET_2XX, 4);
	metrics_count(b, MET_STORAGE_REQUESTS, MET_BE_R2, MET_TIMEOUT);
	assert_int_equal(requests(a), 5);
	assert_int_equal(requests(b), 5);
	assert_int_equal(metrics_total(a, MET_STORAGE_REQUESTS, MET_BE_R2, MET_TIMEOUT), 1);
	assert_int_equal(metrics_total(a, MET_STORAGE_REQUESTS, MET_BE_R2, MET_OK), 0);
	assert_int_equal(metrics_processes_alive(a), 2);
	assert_true(metrics_shared(a));
	metrics_close(a);
	metrics_close(b);
}

static void test_concurrent_processes_count_exactly(void **state)
{
	enum { NPROC = 6, EACH = 50000 };
	struct metrics *m;
	pid_t pids[NPROC];
	int go[2];

	(void)state;
	assert_int_equal(pipe(go), 0);
	for (int i = 0; i < NPROC; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			struct metrics *mine = NULL;
			char c;

			close(go[1]);
			if (read(go[0], &c, 1) != 0)	/* all start together */
				_exit(2);
			if (metrics_open(dir, "metrics", &mine, why, sizeof(why)) != AP_OK)
				_exit(1);
			for (unsigned j = 0; j < EACH; j++) {
				metrics_count(mine, MET_REQUESTS, MET_EP_TILE, MET_2XX);
				metrics_observe(mine, MET_REQUEST_SECONDS, 0, j % 2000);
			}
			metrics_close(mine);
			_exit(0);
		}
	}
	close(go[0]);
	close(go[1]);
	for (int i = 0; i < NPROC; i++)
		reap(pids[i], false);
	m = open_m();
	assert_int_equal(requests(m), NPROC * EACH);
	expect_line(m, "astropixel_request_duration_seconds_count %d", NPROC * EACH);
	metrics_close(m);
}

static void test_sigkilled_process_keeps_counts_successor_no_double(void **state)
{
	struct metrics *m = open_m();
	int fds[2], dead_slot, slot;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	pid = child_counting(1000, fds[1], true);
	dead_slot = read_slot(fds[0]);
	assert_int_equal(requests(m), 1000);
	assert_int_equal(metrics_processes_alive(m), 2);
	expect_line(m, "astropixel_cache_bytes 1000");
	assert_int_equal(kill(pid, SIGKILL), 0);
	/* killed but not yet reaped (a zombie) is dead already */
	for (int i = 0; i < 500 && metrics_processes_alive(m) != 1; i++)
		usleep(2000);
	assert_int_equal(metrics_processes_alive(m), 1);
	assert_int_equal(kill(pid, 0), 0);	/* still there to be reaped */
	reap(pid, true);
	/* the dead process's counts stay; its gauges are no longer reported */
	assert_int_equal(requests(m), 1000);
	assert_int_equal(metrics_processes_alive(m), 1);
	expect_line(m, "astropixel_cache_bytes 0");
	/* its successor takes the dead slot over and adds to what it finds */
	pid = child_counting(500, fds[1], false);
	slot = read_slot(fds[0]);
	reap(pid, false);
	assert_int_equal(slot, dead_slot);
	assert_int_equal(requests(m), 1500);	/* not 500 (lost), not 2500 (twice) */
	expect_line(m, "astropixel_processes_reclaimed_total 1");
	expect_line(m, "astropixel_processes_started_total 3");
	expect_line(m, "astropixel_requests_total{endpoint=\"tile\",code=\"2xx\"} 1500");
	close(fds[0]);
	close(fds[1]);
	metrics_close(m);
}

static void test_totals_monotonic_while_slots_change_hands(void **state)
{
	enum { ROUNDS = 20 };
	struct metrics *m = open_m();
	uint64_t last = 0;
	int fds[2];

	(void)state;
	assert_int_equal(pipe(fds), 0);
	for (int r = 0; r < ROUNDS; r++) {
		pid_t pid = child_counting(100, fds[1], r % 2 == 0);
		uint64_t now;

		(void)read_slot(fds[0]);
		if (r % 2 == 0)
			assert_int_equal(kill(pid, SIGKILL), 0);
		reap(pid, r % 2 == 0);
		now = requests(m);
		assert_true(now >= last);
		last = now;
	}
	assert_int_equal(last, ROUNDS * 100);
	close(fds[0]);
	close(fds[1]);
	metrics_close(m);
}

static void test_clean_close_frees_slot_keeps_counts(void **state)
{
	struct metrics *a = open_m(), *b;
	int slot = a->priv->slot;

	(void)state;
	metrics_count(a, MET_REQUESTS, MET_EP_TILE, MET_2XX);
	metrics_gauge_set(a, MET_CACHE_TILES, 0, 7);
	metrics_close(a);
	b = open_m();
	assert_int_equal(b->priv->slot, slot);	/* free again */
	assert_int_equal(requests(b), 1);
	expect_line(b, "astropixel_cache_tiles 0");	/* gauges start afresh */
	expect_line(b, "astropixel_processes_reclaimed_total 0");	/* it was freed, not dead */
	metrics_close(b);
}

static void test_reused_pid_is_not_a_live_process(void **state)
{
	struct metrics *m = open_m();
	struct met_shm *s = m->priv->shm;
	uint64_t mine = ld(&s->slot[m->priv->slot].start);
	struct metrics *n;

	(void)state;
	assert_true(mine != 0);
	/* slot 1 claims to be a process with our pid that started at another
	 * time: the pid was reused, its holder is dead */
	assert_int_equal(m->priv->slot, 0);
	s->slot[1].start = mine + 1;
	s->slot[1].pid = getpid();
	s->slot[1].cell[C_REQUESTS] = 3;
	assert_int_equal(metrics_processes_alive(m), 1);
	n = open_m();
	assert_int_equal(n->priv->slot, 1);
	assert_int_equal(requests(n), 3);
	expect_line(n, "astropixel_processes_reclaimed_total 1");
	metrics_close(n);
	metrics_close(m);
}

static void test_start_time_read_despite_odd_command_name(void **state)
{
	char old[32] = "";
	uint64_t a = 0, b = 0;

	(void)state;
	assert_true(proc_start(getpid(), &a));
	assert_int_equal(prctl(PR_GET_NAME, old), 0);
	assert_int_equal(prctl(PR_SET_NAME, "x) 1 2 (y) z"), 0);
	assert_true(proc_start(getpid(), &b));
	assert_int_equal(prctl(PR_SET_NAME, old), 0);
	assert_int_equal(a, b);
	assert_false(proc_start(999999999, &a));	/* no such process */
	assert_false(slot_alive(999999999, 0));
	assert_false(slot_alive(0, 0));
}

/* Captures what fn writes to stderr while it runs. */
static void capture_stderr(void (*fn)(void *), void *arg, char *out, size_t cap)
{
	char tmp[160];
	int fd, saved;
	ssize_t n;

	snprintf(tmp, sizeof(tmp), "%s/stderr", dir);
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	saved = dup(2);
	dup2(fd, 2);
	fn(arg);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, out, cap - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(tmp);
}

static void open_into(void *arg)
{
	assert_int_equal(metrics_open(dir, "metrics", arg, why, sizeof(why)), AP_OK);
}

static void test_full_file_overflows_into_shared_slot(void **state)
{
	struct metrics *m = open_m(), *extra = NULL;
	struct met_shm *s = m->priv->shm;
	uint64_t start = ld(&s->slot[0].start);
	char log[1024];

	(void)state;
	for (int i = 1; i < METRICS_SLOTS; i++) {	/* as if live processes held them */
		s->slot[i].start = start;
		s->slot[i].pid = getpid();
	}
	capture_stderr(open_into, &extra, log, sizeof(log));
	assert_non_null(strstr(log, "all 256 slots"));
	assert_non_null(strstr(log, "overflow"));
	assert_false(extra->own_slot);
	metrics_add(extra, MET_REQUESTS, MET_EP_TILE, MET_2XX, 9);
	metrics_count(m, MET_REQUESTS, MET_EP_TILE, MET_2XX);
	metrics_gauge_set(extra, MET_CACHE_BYTES, 0, 5);	/* dropped */
	assert_int_equal(requests(m), 10);
	expect_line(m, "astropixel_cache_bytes 0");
	expect_line(m, "astropixel_metrics_slot_overflows_total 1");
	expect_line(m, "astropixel_processes_alive %d", METRICS_SLOTS);
	metrics_close(extra);	/* must not free anyone's slot */
	assert_int_equal(metrics_processes_alive(m), METRICS_SLOTS);
	for (int i = 1; i < METRICS_SLOTS; i++)
		s->slot[i].pid = 0;
	metrics_close(m);
}

static void test_gauges_summed_and_maxed_over_live_processes(void **state)
{
	struct metrics *a = open_m(), *b = open_m();

	(void)state;
	metrics_gauge_set(a, MET_CACHE_BYTES, 0, 100);
	metrics_gauge_set(b, MET_CACHE_BYTES, 0, 50);
	metrics_gauge_set(a, MET_PREFETCH_QUEUE, 0, 3);
	metrics_gauge_set(b, MET_PREFETCH_QUEUE, 0, 8);
	metrics_gauge_set(a, MET_BREAKER_OPEN, MET_BRK_BUCKET, 1);
	metrics_gauge_set(b, MET_BREAKER_OPEN, MET_BRK_BUCKET, 1);
	metrics_gauge_set(b, MET_BREAKER_OPEN, MET_BRK_REDIS, 1);
	metrics_gauge_set(b, MET_BREAKER_OPEN, MET_BRK__COUNT, 1);	/* ignored */
	expect_line(a, "astropixel_cache_bytes 150");
	expect_line(a, "astropixel_prefetch_queue_length 11");
	expect_line(a, "astropixel_prefetch_queue_longest 8");
	expect_line(a, "astropixel_breaker_open_processes{breaker=\"bucket\"} 2");
	expect_line(a, "astropixel_breaker_open_processes{breaker=\"redis\"} 1");
	metrics_gauge_set(b, MET_BREAKER_OPEN, MET_BRK_BUCKET, 0);
	expect_line(a, "astropixel_breaker_open_processes{breaker=\"bucket\"} 1");
	metrics_close(b);
	expect_line(a, "astropixel_cache_bytes 100");
	expect_line(a, "astropixel_processes_alive 1");
	metrics_close(a);
}

static void test_histogram_buckets_are_inclusive_and_cumulative(void **state)
{
	struct metrics *m = open_m();

	(void)state;
	metrics_observe(m, MET_REQUEST_SECONDS, 0, 100);	/* exactly 0.1 ms */
	metrics_observe(m, MET_REQUEST_SECONDS, 0, 101);
	metrics_observe(m, MET_REQUEST_SECONDS, 0, 10000000);	/* exactly 10 s */
	metrics_observe(m, MET_REQUEST_SECONDS, 0, 10000001);
	metrics_observe(m, MET_REQUEST_SECONDS, 1, 5);	/* no such label: ignored */
	expect_line(m, "astropixel_request_duration_seconds_bucket{le=\"0.0001\"} 1");
	expect_line(m, "astropixel_request_duration_seconds_bucket{le=\"0.00025\"} 2");
	expect_line(m, "astropixel_request_duration_seconds_bucket{le=\"5\"} 2");
	expect_line(m, "astropixel_request_duration_seconds_bucket{le=\"10\"} 3");
	expect_line(m, "astropixel_request_duration_seconds_bucket{le=\"+Inf\"} 4");
	expect_line(m, "astropixel_request_duration_seconds_sum 20.000202");
	expect_line(m, "astropixel_request_duration_seconds_count 4");
	metrics_observe(m, MET_STORAGE_SECONDS, MET_BE_LOCAL, 2500);
	expect_line(m, "astropixel_storage_request_duration_seconds_bucket{backend=\"local\","
		    "le=\"0.001\"} 0");
	expect_line(m, "astropixel_storage_request_duration_seconds_bucket{backend=\"local\","
		    "le=\"0.0025\"} 1");
	expect_line(m, "astropixel_storage_request_duration_seconds_count{backend=\"r2\"} 0");
	metrics_observe(m, MET_BATCH_TILES, 0, 1);
	metrics_observe(m, MET_BATCH_TILES, 0, 100);
	metrics_observe(m, MET_BATCH_TILES, 0, 101);
	expect_line(m, "astropixel_batch_tiles_bucket{le=\"1\"} 1");
	expect_line(m, "astropixel_batch_tiles_bucket{le=\"50\"} 1");
	expect_line(m, "astropixel_batch_tiles_bucket{le=\"100\"} 2");
	expect_line(m, "astropixel_batch_tiles_bucket{le=\"+Inf\"} 3");
	expect_line(m, "astropixel_batch_tiles_sum 202");
	metrics_close(m);
}

static void test_labels_out_of_range_count_nothing(void **state)
{
	struct metrics *m = open_m();
	struct met_view before, after;

	(void)state;
	view_read(m, &before);
	metrics_count(m, MET_REQUESTS, MET_EP__COUNT, MET_2XX);
	metrics_count(m, MET_REQUESTS, MET_EP_TILE, MET_CODE__COUNT);
	metrics_count(m, MET_TILES_SERVED, MET_SRC_R2, 1);
	metrics_count(m, MET_CACHE_EVICTIONS, 1, 0);
	metrics_mirror(m, MET_BREAKER_OPENINGS, MET_BRK__COUNT, 0, 5);
	metrics_count(NULL, MET_REQUESTS, MET_EP_TILE, MET_2XX);
	metrics_observe(NULL, MET_REQUEST_SECONDS, 0, 1);
	metrics_gauge_set(NULL, MET_CACHE_BYTES, 0, 1);
	view_read(m, &after);
	assert_memory_equal(before.cell, after.cell, sizeof(before.cell));
	metrics_close(m);
}

static void test_mirror_adds_differences(void **state)
{
	struct metrics *m = open_m();

	(void)state;
	metrics_mirror(m, MET_CACHE_EVICTIONS, 0, 0, 10);
	metrics_mirror(m, MET_CACHE_EVICTIONS, 0, 0, 10);
	metrics_mirror(m, MET_CACHE_EVICTIONS, 0, 0, 15);
	assert_int_equal(metrics_total(m, MET_CACHE_EVICTIONS, 0, 0), 15);
	metrics_mirror(m, MET_CACHE_EVICTIONS, 0, 0, 2);	/* reset: nothing, new base */
	assert_int_equal(metrics_total(m, MET_CACHE_EVICTIONS, 0, 0), 15);
	metrics_mirror(m, MET_CACHE_EVICTIONS, 0, 0, 6);
	assert_int_equal(metrics_total(m, MET_CACHE_EVICTIONS, 0, 0), 19);
	metrics_mirror(m, MET_BREAKER_OPENINGS, MET_BRK_REDIS, 0, 2);
	expect_line(m, "astropixel_breaker_openings_total{breaker=\"redis\"} 2");
	expect_line(m, "astropixel_cache_evictions_total 19");
	metrics_close(m);
}

static void test_status_classes(void **state)
{
	(void)state;
	assert_int_equal(metrics_code(200), MET_2XX);
	assert_int_equal(metrics_code(202), MET_2XX);
	assert_int_equal(metrics_code(304), MET_3XX);
	assert_int_equal(metrics_code(404), MET_4XX);
	assert_int_equal(metrics_code(499), MET_4XX);
	assert_int_equal(metrics_code(503), MET_5XX);
	assert_int_equal(metrics_code(100), MET_2XX);
}

/* ---- the text format, line by line ---------------------------------------- */

static bool name_ok(const char *s, size_t n)
{
	if (n == 0 || !(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z')))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* Checks one sample line against its family (name and type). */
static void check_sample(const char *line, const char *fam, const char *type)
{
	static const char *const allowed[] = {"endpoint=", "code=", "source=", "backend=",
					      "outcome=", "breaker=", "le=", "version="};
	size_t n = strcspn(line, "{ "), flen = strlen(fam);
	const char *p = line + n, *v;

	if (!name_ok(line, n))
		fail_msg("bad metric name in \"%s\"", line);
	if (strcmp(type, "histogram") == 0) {
		if (!(n > flen && memcmp(line, fam, flen) == 0 &&
		      (ends_with(line, n, "_bucket") || ends_with(line, n, "_sum") ||
		       ends_with(line, n, "_count")) && n - flen <= strlen("_bucket")))
			fail_msg("\"%s\" is not a sample of histogram %s", line, fam);
	} else if (n != flen || memcmp(line, fam, n) != 0) {
		fail_msg("\"%s\" is not a sample of %s", line, fam);
	}
	if (*p == '{') {
		const char *end = strchr(p, '}');

		assert_non_null(end);
		for (const char *q = p + 1; q < end; q = q + strcspn(q, ",}") + 1) {
			bool ok = false;

			for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
				ok = ok || strncmp(q, allowed[i], strlen(allowed[i])) == 0;
			if (!ok)
				fail_msg("label not in the closed set in \"%s\"", line);
		}
		p = end + 1;
	}
	if (*p != ' ')
		fail_msg("no blank before the value in \"%s\"", line);
	v = p + 1;
	if (!*v || strspn(v, "0123456789.") != strlen(v))
		fail_msg("value is not a plain number in \"%s\"", line);
}

static void test_render_is_the_text_format(void **state)
{
	struct metrics *m = open_m();
	char *text, *save = NULL, fam[128] = "", type[16] = "", *seen;
	unsigned nfam = 0, samples = 0;
	size_t seen_len = 0;

	(void)state;
	metrics_count(m, MET_REQUESTS, MET_EP_BATCH, MET_4XX);
	text = render(m);
	assert_true(text[0] != '\0' && text[strlen(text) - 1] == '\n');
	seen = calloc(1, strlen(text) + 1);
	assert_non_null(seen);
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "# HELP ", 7) == 0) {
			size_t n = strcspn(line + 7, " ");

			assert_true(n < sizeof(fam) && name_ok(line + 7, n));
			assert_true(strlen(line + 7) > n + 1);	/* a help text */
			memcpy(fam, line + 7, n);
			fam[n] = '\0';
			/* a family appears once */
			if (strstr(seen, fam) && strstr(seen, fam)[strlen(fam)] == '\n')
				fail_msg("family %s twice", fam);
			memcpy(seen + seen_len, fam, n);
			seen_len += n;
			seen[seen_len++] = '\n';
			type[0] = '\0';
			nfam++;
		} else if (strncmp(line, "# TYPE ", 7) == 0) {
			char want[160];

			assert_true(fam[0] && !type[0]);	/* right after its HELP */
			snprintf(want, sizeof(want), "# TYPE %s ", fam);
			assert_true(strncmp(line, want, strlen(want)) == 0);
			snprintf(type, sizeof(type), "%s", line + strlen(want));
			assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
				    strcmp(type, "histogram") == 0);
			if (strcmp(type, "counter") == 0)
				assert_true(ends_with(fam, strlen(fam), "_total"));
			else
				assert_false(ends_with(fam, strlen(fam), "_total"));
			assert_true(strncmp(fam, "astropixel_", 11) == 0);
		} else {
			assert_true(type[0]);	/* a sample after its family's TYPE */
			check_sample(line, fam, type);
			samples++;
		}
	}
	/* 19 families from cells, 6 of the pool; 36 request series alone */
	assert_int_equal(nfam, 25);
	assert_true(samples > 36 + 3 * 18);
	free(seen);
	free(text);
	expect_line(m, "astropixel_requests_total{endpoint=\"batch\",code=\"4xx\"} 1");
	expect_line(m, "astropixel_requests_total{endpoint=\"metrics\",code=\"5xx\"} 0");
	expect_line(m, "astropixel_build_info{version=\"" PACKAGE_VERSION "\"} 1");
	metrics_close(m);
}

static void test_render_refuses_a_small_buffer_whole(void **state)
{
	struct metrics *m = open_m();
	struct buf b;

	(void)state;
	buf_init(&b, 1000);
	assert_int_equal(buf_adds(&b, "kept"), AP_OK);
	assert_int_equal(metrics_render(m, &b), AP_ERR_TOO_LARGE);
	assert_string_equal(b.data, "kept");	/* never half a document */
	buf_free(&b);
	assert_int_equal(metrics_render(NULL, &b), AP_ERR_INTERNAL);
	metrics_close(m);
}

static void test_foreign_file_refused_untouched(void **state)
{
	struct metrics *m = NULL;
	size_t size = sizeof(struct met_shm);
	char *junk = malloc(size);
	struct stat st;
	int fd;

	(void)state;
	assert_non_null(junk);
	memset(junk, 'x', size);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, size), (ssize_t)size);
	close(fd);
	assert_int_equal(metrics_open(dir, "metrics", &m, why, sizeof(why)), AP_ERR_CONFIG);
	assert_null(m);
	assert_non_null(strstr(why, path));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, (off_t)size);
	free(junk);
}

static void test_private_metrics_count_and_render(void **state)
{
	struct metrics *m = metrics_open_private();

	(void)state;
	assert_non_null(m);
	assert_false(metrics_shared(m));
	metrics_count(m, MET_TILES_SERVED, MET_SRC_MEMORY, 0);
	assert_int_equal(metrics_total(m, MET_TILES_SERVED, MET_SRC_MEMORY, 0), 1);
	expect_line(m, "astropixel_tiles_served_total{source=\"memory\"} 1");
	expect_line(m, "astropixel_processes_alive 1");
	metrics_close(m);
	metrics_close(NULL);
}

static void test_truncated_file_costs_sharing_not_life(void **state)
{
	struct metrics *m = open_m();

	(void)state;
	metrics_count(m, MET_REQUESTS, MET_EP_TILE, MET_2XX);
	assert_int_equal(truncate(path, 0), 0);
	assert_int_equal(requests(m), 0);	/* zero pages now */
	metrics_count(m, MET_REQUESTS, MET_EP_TILE, MET_2XX);
	assert_int_equal(requests(m), 1);
	assert_false(metrics_shared(m));
	free(render(m));
	metrics_close(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_two_handles_count_into_two_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_processes_count_exactly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigkilled_process_keeps_counts_successor_no_double,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_totals_monotonic_while_slots_change_hands, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_clean_close_frees_slot_keeps_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reused_pid_is_not_a_live_process, setup, teardown),
		cmocka_unit_test(test_start_time_read_despite_odd_command_name),
		cmocka_unit_test_setup_teardown(test_full_file_overflows_into_shared_slot, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_gauges_summed_and_maxed_over_live_processes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_histogram_buckets_are_inclusive_and_cumulative,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_labels_out_of_range_count_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mirror_adds_differences, setup, teardown),
		cmocka_unit_test(test_status_classes),
		cmocka_unit_test_setup_teardown(test_render_is_the_text_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_render_refuses_a_small_buffer_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_file_refused_untouched, setup, teardown),
		cmocka_unit_test(test_private_metrics_count_and_render),
		cmocka_unit_test_setup_teardown(test_truncated_file_costs_sharing_not_life, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
