/*
 * bench_cache_lookup.c - what a cache hit costs, and what a full cache weighs.
 *
 * 1. Memory: VmRSS of the process before and after filling a cache bounded
 *    at 64 MiB with 15 KB tiles (twice its capacity is inserted, so eviction
 *    runs), against the goal of at most 64 MiB + 12 MiB more than the empty
 *    process. `mixed` as argument uses sizes spread over 5..25 KB instead.
 * 2. Lookup: a cache of 100 000 tiles of 64 bytes; 1 000 000 cache_get +
 *    tile_unref of random present keys, timed in batches of 1000 with
 *    clock_gettime; the per-lookup average of each batch gives min, median
 *    and p99 (the median against the goal of 1 us).
 *
 * Memory is measured first, while the heap is still clean. Build it
 * optimised and without sanitizers. Exit status 1 if a goal is missed.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cache.h"
#include "generation.h"

#define LOOKUP_TILES 100000
#define LOOKUP_TILE_LEN 64
#define LOOKUP_BATCH 1000
#define LOOKUP_BATCHES 1000
#define LOOKUP_GOAL_NS 1000.0
#define MEM_CACHE_BYTES (64u << 20)
#define MEM_TILE_LEN (15u << 10)
#define MEM_MIXED_MIN (5u << 10)
#define MEM_MIXED_MAX (25u << 10)
#define MEM_MAX_TILES 20000
#define MEM_GOAL_EXTRA (12u << 20)

static uint64_t rng_state = 0x853c49e6748fea9bULL;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static long rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* Tile i of a realistic working set: 4 datasets, one level, a dense block. */
static struct tilekey lookup_key(uint32_t i)
{
	struct tilekey k;

	memset(&k, 0, sizeof(k));
	k.dataset = 1 + (i & 3);
	k.z = 17;
	k.x = 40000 + (i >> 2) % 160;
	k.y = 30000 + (i >> 2) / 160;
	k.fmt = FMT_JPG;
	return k;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static bool bench_memory(bool mixed)
{
	unsigned char *src = malloc(MEM_MIXED_MAX);
	struct gen_map *g = gen_open_private();
	struct cache *c = NULL;
	struct cache_stats s;
	struct tilekey k;
	long before, after;
	double extra_mib;
	size_t inserted = 0;

	if (!src || !g)
		return false;
	for (size_t i = 0; i < MEM_MIXED_MAX; i++)
		src[i] = (unsigned char)rng();
	tile_unref(tile_new(&(struct tilekey){0}, src, 16));	/* load OpenSSL now */
	before = rss_kib();
	if (cache_new(MEM_MAX_TILES, MEM_CACHE_BYTES, g, &c) != AP_OK)
		return false;
	/* twice what fits, so that evictions run and freed memory is reused */
	for (uint32_t i = 0; i < 2 * MEM_CACHE_BYTES / MEM_TILE_LEN; i++) {
		size_t len = mixed ? MEM_MIXED_MIN + rng() % (MEM_MIXED_MAX - MEM_MIXED_MIN + 1)
				   : MEM_TILE_LEN;
		struct tile *t;

		k = lookup_key(i);
		t = tile_new(&k, src, len);
		if (!t)
			return false;
		inserted += cache_put(c, t, cache_gen(c, k.dataset));
		tile_unref(t);
	}
	after = rss_kib();
	cache_get_stats(c, &s);
	extra_mib = (double)(after - before) / 1024.0;
	printf("memory (%s tiles): %zu inserted, %zu cached, %zu evicted\n",
	       mixed ? "5..25 KB" : "15 KB", inserted, s.count, (size_t)s.evictions);
	printf("  accounted %.2f MiB of %.2f MiB; VmRSS %.1f MiB empty -> %.1f MiB full: +%.2f MiB\n",
	       (double)s.bytes / 1048576.0, (double)s.max_bytes / 1048576.0,
	       (double)before / 1024.0, (double)after / 1024.0, extra_mib);
	printf("  goal: +%.0f MiB at most (64 MiB + 12 MiB): %s\n",
	       (double)(MEM_CACHE_BYTES + MEM_GOAL_EXTRA) / 1048576.0,
	       extra_mib <= (double)(MEM_CACHE_BYTES + MEM_GOAL_EXTRA) / 1048576.0 ? "met"
										  : "MISSED");
	cache_free(c);
	gen_close(g);
	free(src);
	return extra_mib <= (double)(MEM_CACHE_BYTES + MEM_GOAL_EXTRA) / 1048576.0;
}

static bool bench_lookup(void)
{
	static double per[LOOKUP_BATCHES], miss[LOOKUP_BATCHES];
	unsigned char data[LOOKUP_TILE_LEN];
	struct gen_map *g = gen_open_private();
	struct cache *c = NULL;
	uint32_t *idx = malloc(sizeof(*idx) * LOOKUP_BATCH * LOOKUP_BATCHES);
	unsigned sink = 0;

	if (!g || !idx || cache_new(LOOKUP_TILES, (size_t)1 << 30, g, &c) != AP_OK)
		return false;
	memset(data, 0xab, sizeof(data));
	for (uint32_t i = 0; i < LOOKUP_TILES; i++) {
		struct tilekey k = lookup_key(i);
		struct tile *t = tile_new(&k, data, sizeof(data));

		if (!t || !cache_put(c, t, cache_gen(c, k.dataset)))
			return false;
		tile_unref(t);
	}
	for (size_t i = 0; i < (size_t)LOOKUP_BATCH * LOOKUP_BATCHES; i++)
		idx[i] = (uint32_t)(rng() % LOOKUP_TILES);
	for (uint32_t i = 0; i < LOOKUP_TILES; i++) {	/* warm up */
		struct tilekey k = lookup_key(i);

		tile_unref(cache_get(c, &k));
	}
	for (int b = 0; b < LOOKUP_BATCHES; b++) {
		const uint32_t *ix = idx + (size_t)b * LOOKUP_BATCH;
		double t0 = now_ns();

		for (int j = 0; j < LOOKUP_BATCH; j++) {
			struct tilekey k = lookup_key(ix[j]);
			struct tile *t = cache_get(c, &k);

			if (!t)
				return false;
			sink += t->data[0];
			tile_unref(t);
		}
		per[b] = (now_ns() - t0) / LOOKUP_BATCH;
	}
	/* the same for absent keys (other format): the cost of a miss */
	for (int b = 0; b < LOOKUP_BATCHES; b++) {
		const uint32_t *ix = idx + (size_t)b * LOOKUP_BATCH;
		double t0 = now_ns();

		for (int j = 0; j < LOOKUP_BATCH; j++) {
			struct tilekey k = lookup_key(ix[j]);

			k.fmt = FMT_PNG;
			sink += cache_get(c, &k) != NULL;
		}
		miss[b] = (now_ns() - t0) / LOOKUP_BATCH;
	}
	qsort(per, LOOKUP_BATCHES, sizeof(per[0]), cmp_double);
	qsort(miss, LOOKUP_BATCHES, sizeof(miss[0]), cmp_double);
	printf("lookup: %d tiles of %d bytes, %d x %d random hits (get + unref)\n", LOOKUP_TILES,
	       LOOKUP_TILE_LEN, LOOKUP_BATCHES, LOOKUP_BATCH);
	printf("  per lookup, over batch averages: min %.1f ns, median %.1f ns, p99 %.1f ns\n",
	       per[0], per[LOOKUP_BATCHES / 2], per[LOOKUP_BATCHES * 99 / 100]);
	printf("  misses: median %.1f ns\n", miss[LOOKUP_BATCHES / 2]);
	printf("  goal: median under %.0f ns: %s (checksum %u)\n", LOOKUP_GOAL_NS,
	       per[LOOKUP_BATCHES / 2] < LOOKUP_GOAL_NS ? "met" : "MISSED", sink);
	cache_free(c);
	gen_close(g);
	free(idx);
	return per[LOOKUP_BATCHES / 2] < LOOKUP_GOAL_NS;
}

int main(int argc, char **argv)
{
	bool mixed = argc > 1 && strcmp(argv[1], "mixed") == 0;
	bool ok = bench_memory(mixed);

	ok = bench_lookup() && ok;
	return ok ? 0 : 1;
}
