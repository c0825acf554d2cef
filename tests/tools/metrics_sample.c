/*
 * metrics_sample.c - prints a /metrics document of a small pool, for
 * `promtool check metrics` and the dashboard check (metrics-format.sh).
 *
 * Makes a private directory, lets three processes (this one and two
 * children, one of which exits) count a little of everything with every
 * label value, renders the pool to stdout and removes the directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "metrics.h"
#include "shm.h"

/* Counts every series once or more, so that no value is special. */
static void count_everything(struct metrics *m, unsigned k)
{
	for (unsigned a = 0; a < MET_EP__COUNT; a++)
		for (unsigned b = 0; b < MET_CODE__COUNT; b++)
			metrics_add(m, MET_REQUESTS, a, b, k + a + b);
	for (unsigned a = 0; a < MET_SRC__COUNT; a++)
		metrics_add(m, MET_TILES_SERVED, a, 0, k * 10 + a);
	for (unsigned a = 0; a < MET_BE__COUNT; a++)
		for (unsigned b = 0; b < MET_OUTCOME__COUNT; b++)
			metrics_add(m, MET_STORAGE_REQUESTS, a, b, k + b);
	for (unsigned a = 0; a < MET_REDIS__COUNT; a++)
		metrics_add(m, MET_REDIS_COMMANDS, a, 0, k + a);
	for (unsigned c = MET_CACHE_EVICTIONS; c <= MET_PREFETCH_DROPPED; c++)
		metrics_add(m, (enum met_counter)c, 0, 0, k);
	metrics_mirror(m, MET_BREAKER_OPENINGS, MET_BRK_BUCKET, 0, k);
	for (unsigned i = 0; i < 40; i++) {
		metrics_observe(m, MET_REQUEST_SECONDS, 0, 37ull << (i % 24));
		metrics_observe(m, MET_STORAGE_SECONDS, i % MET_BE__COUNT, 900ull << (i % 14));
		metrics_observe(m, MET_BATCH_TILES, 0, 1 + i * 3);
	}
	metrics_gauge_set(m, MET_CACHE_TILES, 0, 120 * k);
	metrics_gauge_set(m, MET_CACHE_BYTES, 0, 1843200ull * k);
	metrics_gauge_set(m, MET_CACHE_CAPACITY_BYTES, 0, 64ull << 20);
	metrics_gauge_set(m, MET_CACHE_NEGATIVE, 0, k);
	metrics_gauge_set(m, MET_PREFETCH_QUEUE, 0, 3 * k);
	metrics_gauge_set(m, MET_BREAKER_OPEN, MET_BRK_BUCKET, k % 2);
}

int main(void)
{
	char dir[] = "/tmp/ap-metrics-sample.XXXXXX", why[512], file[128];
	struct metrics *m = NULL;
	struct buf out;
	int rc = 1, status;
	pid_t pid;

	if (!mkdtemp(dir))
		return perror("mkdtemp"), 1;
	snprintf(file, sizeof(file), "%s/metrics", dir);
	if (metrics_open(dir, "metrics", &m, why, sizeof(why)) != AP_OK) {
		fprintf(stderr, "metrics_sample: %s\n", why);
		goto done;
	}
	count_everything(m, 1);
	pid = fork();
	if (pid == 0) {	/* a process that counted and left */
		struct metrics *mine = NULL;

		if (metrics_open(dir, "metrics", &mine, why, sizeof(why)) != AP_OK)
			_exit(1);
		count_everything(mine, 2);
		metrics_close(mine);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		fprintf(stderr, "metrics_sample: the child process failed\n");
		goto done;
	}
	buf_init(&out, METRICS_RENDER_MAX);
	if (metrics_render(m, &out) != AP_OK) {
		fprintf(stderr, "metrics_sample: rendering failed\n");
		buf_free(&out);
		goto done;
	}
	fwrite(out.data, 1, out.len, stdout);
	buf_free(&out);
	rc = 0;
done:
	metrics_close(m);
	unlink(file);
	rmdir(dir);
	return rc;
}
