/*
 * test_cache.c - the LRU tile cache against its contract (cache.h).
 *
 * The .c file is included (as lighttpd's src/t/ does) to reach the static
 * hash, so that real collisions can be built, and the structure itself, so
 * that every test can check the invariants after it acts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "cache.c"

#define BIG (1u << 30)

static struct tilekey key(uint32_t ds, uint32_t z, uint32_t x, uint32_t y, enum tile_fmt f)
{
	struct tilekey k;

	memset(&k, 0, sizeof(k));
	k.dataset = ds;
	k.z = (uint8_t)z;
	k.x = x;
	k.y = y;
	k.fmt = (uint8_t)f;
	return k;
}

static struct tilekey nkey(uint32_t ds, uint32_t i)
{
	return key(ds, 10, i, i * 7 + 1, FMT_JPG);
}

/* A tile of len bytes, all equal to fill. */
static struct tile *mktile(struct tilekey k, size_t len, unsigned char fill)
{
	unsigned char *b = malloc(len ? len : 1);
	struct tile *t;

	assert_non_null(b);
	memset(b, fill, len);
	t = tile_new(&k, b, len);
	free(b);
	assert_non_null(t);
	return t;
}

/* Puts a fresh tile under the current generation and drops our reference. */
static bool put(struct cache *c, struct tilekey k, size_t len, unsigned char fill)
{
	struct tile *t = mktile(k, len, fill);
	bool ok = cache_put(c, t, cache_gen(c, k.dataset));

	tile_unref(t);
	return ok;
}

static bool has(struct cache *c, struct tilekey k)
{
	struct tile *t = cache_get(c, &k);

	tile_unref(t);
	return t != NULL;
}

/* Every structural invariant of cache.h, checked by walking everything. */
static void check(const struct cache *c)
{
	size_t n = 0, bytes = 0, chained = 0;
	const struct tile *t, *prev = NULL;

	for (t = c->pos.head; t; prev = t, t = t->next) {
		assert_ptr_equal(t->prev, prev);
		assert_true(t->flags & TILE_F_CACHED);
		assert_true(t->refs >= 1);
		assert_false(t->flags & TILE_F_ABSENT);
		assert_ptr_equal(lookup(&c->pos, &t->key), t);	/* findable, unique */
		assert_null(lookup(&c->neg, &t->key));		/* never both */
		n++;
		bytes += cache_entry_cost(c, t->len);
	}
	assert_ptr_equal(c->pos.tail, prev);
	for (size_t i = 0; i <= c->pos.mask; i++)
		for (t = c->pos.buckets[i]; t; t = t->hnext) {
			assert_int_equal((size_t)key_hash(&t->key) & c->pos.mask, i);
			chained++;
		}
	assert_int_equal(n, c->pos.count);
	assert_int_equal(chained, c->pos.count);
	assert_int_equal(bytes, c->bytes);
	assert_true(c->pos.count <= c->max_tiles);
	assert_true(c->bytes <= c->max_bytes);
	n = 0;
	prev = NULL;
	for (t = c->neg.head; t; prev = t, t = t->next) {
		assert_ptr_equal(t->prev, prev);
		assert_true(t->flags & TILE_F_ABSENT);
		assert_int_equal(t->len, 0);
		assert_ptr_equal(lookup(&c->neg, &t->key), t);
		n++;
	}
	assert_ptr_equal(c->neg.tail, prev);
	assert_int_equal(n, c->neg.count);
	assert_true(c->neg.count <= c->max_negative);
}

static struct cache *mkcache(size_t tiles, size_t bytes, struct gen_map *g)
{
	struct cache *c = NULL;

	assert_int_equal(cache_new(tiles, bytes, g, &c), AP_OK);
	assert_non_null(c);
	return c;
}

/* A temporary directory for a generation file, removed even if a test fails. */
static char tmpdir[64];
static char tmppath[128];

static int mktmp(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/aptest-cache.XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(tmppath, sizeof(tmppath), "%s/gen", tmpdir);
	return 0;
}

static int rmtmp(void **state)
{
	(void)state;
	unlink(tmppath);
	return rmdir(tmpdir);
}

/* ---- sizing and bounds ---- */

static void test_buckets_sized_once_power_of_two(void **state)
{
	struct cache *c;

	(void)state;
	c = mkcache(500, BIG, NULL);
	assert_int_equal(c->pos.mask + 1, 1024);	/* >= 667 */
	cache_free(c);
	c = mkcache(3, BIG, NULL);
	assert_int_equal(c->pos.mask + 1, 4);
	cache_free(c);
	c = mkcache(768, BIG, NULL);
	assert_int_equal(c->pos.mask + 1, 1024);	/* exactly 4/3 */
	cache_free(c);
}

static void test_limits_refused(void **state)
{
	struct cache *c = (struct cache *)1;

	(void)state;
	assert_int_equal(cache_new((size_t)CACHE_TILES_CEILING + 1, BIG, NULL, &c), AP_ERR_CONFIG);
	assert_null(c);
}

static void test_entry_cost_counts_overhead(void **state)
{
	struct cache *c;
	size_t share;

	(void)state;
	c = mkcache(500, BIG, NULL);
	share = (1024 * sizeof(void *) + 499) / 500;	/* 17 on LP64 */
	assert_int_equal(cache_entry_cost(c, 15000),
			 sizeof(struct tile) + 15000 + CACHE_MALLOC_OVERHEAD + share);
	assert_int_equal(cache_entry_cost(c, SIZE_MAX), SIZE_MAX);	/* no wrap */
	cache_free(c);
}

static void test_bound_by_count(void **state)
{
	struct cache *c;
	struct cache_stats s;

	(void)state;
	c = mkcache(3, BIG, NULL);
	for (uint32_t i = 0; i < 4; i++)
		assert_true(put(c, nkey(1, i), 100, 1));
	check(c);
	cache_get_stats(c, &s);
	assert_int_equal(s.count, 3);
	assert_int_equal(s.evictions, 1);
	assert_false(has(c, nkey(1, 0)));	/* the oldest went */
	for (uint32_t i = 1; i < 4; i++)
		assert_true(has(c, nkey(1, i)));
	cache_free(c);
}

static void test_bound_by_bytes(void **state)
{
	struct cache *c, *probe = mkcache(100, BIG, NULL);
	size_t cost = cache_entry_cost(probe, 1000);
	struct cache_stats s;

	(void)state;
	cache_free(probe);
	/* room for 3 entries of 1000 bytes and a bit: the count bound is far */
	c = mkcache(100, 3 * cost + cost / 2, NULL);
	assert_int_equal(cache_entry_cost(c, 1000), cost);	/* same bucket share */
	for (uint32_t i = 0; i < 5; i++) {
		assert_true(put(c, nkey(1, i), 1000, 1));
		check(c);
	}
	cache_get_stats(c, &s);
	assert_int_equal(s.count, 3);
	assert_int_equal(s.bytes, 3 * cost);
	assert_int_equal(s.evictions, 2);
	assert_false(has(c, nkey(1, 0)));
	assert_false(has(c, nkey(1, 1)));
	/* one large tile pushes out as many small ones as it needs */
	assert_true(put(c, nkey(1, 9), 2 * 1000 + cost, 2));
	check(c);
	cache_get_stats(c, &s);
	assert_int_equal(s.count, 1);
	assert_int_equal(s.evictions, 5);
	cache_free(c);
}

static void test_both_bounds_at_once(void **state)
{
	struct cache *c, *probe = mkcache(4, BIG, NULL);
	size_t small = cache_entry_cost(probe, 10), large = cache_entry_cost(probe, 5000);

	(void)state;
	cache_free(probe);
	c = mkcache(4, 2 * large + small, NULL);
	/* count binds: small tiles */
	for (uint32_t i = 0; i < 10; i++)
		assert_true(put(c, nkey(1, i), 10, 1));
	check(c);
	assert_int_equal(c->pos.count, 4);
	assert_int_equal(c->bytes, 4 * small);
	assert_int_equal(c->evictions, 6);
	/* first large: the count bound evicts one small, bytes still fit */
	assert_true(put(c, nkey(2, 0), 5000, 1));
	check(c);
	assert_int_equal(c->pos.count, 4);
	assert_int_equal(c->evictions, 7);
	/* second large: count evicts one small, then bytes evict one more */
	assert_true(put(c, nkey(2, 1), 5000, 1));
	check(c);
	assert_int_equal(c->pos.count, 3);
	assert_int_equal(c->bytes, 2 * large + small);
	assert_int_equal(c->evictions, 9);
	assert_true(has(c, nkey(2, 0)) && has(c, nkey(2, 1)) && has(c, nkey(1, 9)));
	cache_free(c);
}

static void test_eviction_is_lru_and_get_touches(void **state)
{
	struct cache *c;

	(void)state;
	c = mkcache(3, BIG, NULL);
	assert_true(put(c, nkey(1, 0), 10, 'a'));
	assert_true(put(c, nkey(1, 1), 10, 'b'));
	assert_true(put(c, nkey(1, 2), 10, 'c'));
	assert_true(has(c, nkey(1, 0)));	/* a becomes MRU: b is now LRU */
	assert_true(put(c, nkey(1, 3), 10, 'd'));
	check(c);
	assert_false(has(c, nkey(1, 1)));
	assert_true(has(c, nkey(1, 0)));
	assert_true(has(c, nkey(1, 2)));
	assert_true(has(c, nkey(1, 3)));
	/* order now, MRU first: 3 2 0 */
	assert_int_equal(c->pos.head->key.x, 3);
	assert_int_equal(c->pos.tail->key.x, 0);
	/* cache_contains must not touch */
	assert_true(cache_contains(c, &(struct tilekey){0}) == false);
	{
		struct tilekey k0 = nkey(1, 0);

		assert_true(cache_contains(c, &k0));
	}
	assert_int_equal(c->pos.tail->key.x, 0);
	cache_free(c);
}

static void test_put_existing_key_replaces(void **state)
{
	struct cache *c;
	struct tilekey k = nkey(1, 5);
	struct tile *old, *got;

	(void)state;
	c = mkcache(10, BIG, NULL);
	old = mktile(k, 100, 'o');
	assert_true(cache_put(c, old, 0));
	assert_true(put(c, nkey(1, 6), 10, 'x'));
	assert_true(put(c, k, 300, 'n'));
	check(c);
	assert_int_equal(c->pos.count, 2);
	assert_int_equal(c->evictions, 0);	/* a replacement is not an eviction */
	got = cache_get(c, &k);
	assert_non_null(got);
	assert_int_equal(got->len, 300);
	assert_int_equal(got->data[0], 'n');
	assert_ptr_equal(c->pos.head, got);		/* the new one is MRU */
	/* the replaced tile is still ours to read */
	assert_int_equal(old->refs, 1);
	assert_false(old->flags & TILE_F_CACHED);
	assert_int_equal(old->data[99], 'o');
	tile_unref(old);
	tile_unref(got);
	cache_free(c);
}

static void test_put_same_tile_twice_is_a_touch(void **state)
{
	struct cache *c, *other;
	struct tile *t = mktile(nkey(1, 0), 10, 1);

	(void)state;
	c = mkcache(10, BIG, NULL);
	assert_true(cache_put(c, t, 0));
	assert_true(put(c, nkey(1, 1), 10, 1));
	assert_true(cache_put(c, t, 0));
	check(c);
	assert_int_equal(t->refs, 2);		/* ours + one of the cache */
	assert_ptr_equal(c->pos.head, t);
	/* its links belong to c: another cache must refuse it */
	other = mkcache(10, BIG, NULL);
	assert_false(cache_put(other, t, 0));
	assert_int_equal(other->pos.count, 0);
	check(c);
	cache_free(other);
	tile_unref(t);
	cache_free(c);
}

static void test_format_is_part_of_key(void **state)
{
	struct cache *c;
	struct tilekey kj = key(1, 3, 4, 5, FMT_JPG), kp = key(1, 3, 4, 5, FMT_PNG);
	struct tile *t;

	(void)state;
	c = mkcache(10, BIG, NULL);
	assert_true(put(c, kj, 10, 'j'));
	assert_false(has(c, kp));
	assert_true(put(c, kp, 10, 'p'));
	check(c);
	t = cache_get(c, &kj);
	assert_int_equal(t->data[0], 'j');
	tile_unref(t);
	t = cache_get(c, &kp);
	assert_int_equal(t->data[0], 'p');
	tile_unref(t);
	assert_false(has(c, key(2, 3, 4, 5, FMT_JPG)));	/* nor another dataset */
	cache_free(c);
}

/* ---- too large, disabled ---- */

static void test_oversize_refused_but_usable(void **state)
{
	struct cache *c;
	struct tile *t;

	(void)state;
	c = mkcache(10, 4096, NULL);
	assert_true(put(c, nkey(1, 1), 100, 1));
	t = mktile(nkey(1, 2), 4096, 'z');	/* data alone fills the budget */
	assert_false(cache_put(c, t, 0));
	check(c);
	assert_int_equal(c->pos.count, 1);		/* nothing was evicted for it */
	assert_int_equal(c->evictions, 0);
	assert_int_equal(t->refs, 1);
	assert_int_equal(t->data[4095], 'z');	/* the caller still serves it */
	tile_unref(t);
	/* exactly the budget fits */
	assert_true(put(c, nkey(1, 3), 4096 - cache_entry_cost(c, 0), 1));
	check(c);
	assert_int_equal(c->pos.count, 1);
	cache_free(c);
}

static void test_zero_limits_hold_nothing(void **state)
{
	struct cache *c;

	(void)state;
	c = mkcache(0, BIG, NULL);
	assert_false(put(c, nkey(1, 1), 1, 1));
	assert_false(has(c, nkey(1, 1)));
	cache_free(c);
	c = mkcache(10, 0, NULL);
	assert_false(put(c, nkey(1, 1), 0, 1));
	check(c);
	cache_free(c);
}

/* ---- clearing ---- */

static void test_drop_dataset_leaves_others(void **state)
{
	struct cache *c;
	size_t n, b;

	(void)state;
	c = mkcache(100, BIG, NULL);
	for (uint32_t i = 0; i < 10; i++) {
		assert_true(put(c, nkey(1, i), 50, 1));
		assert_true(put(c, nkey(2, i), 70, 2));
	}
	assert_int_equal(cache_drop_dataset(c, 1), 10);
	check(c);
	assert_int_equal(c->pos.count, 10);
	for (uint32_t i = 0; i < 10; i++) {
		assert_false(has(c, nkey(1, i)));
		assert_true(has(c, nkey(2, i)));
	}
	cache_dataset_usage(c, 2, &n, &b);
	assert_int_equal(n, 10);
	assert_int_equal(b, 10 * cache_entry_cost(c, 70));
	cache_dataset_usage(c, 1, &n, &b);
	assert_int_equal(n, 0);
	assert_int_equal(b, 0);
	assert_int_equal(cache_drop_dataset(c, 3), 0);
	cache_clear(c);
	check(c);
	assert_int_equal(c->pos.count, 0);
	assert_int_equal(c->bytes, 0);
	cache_free(c);
}

/* ---- generations ---- */

static void test_put_with_stale_gen_refused(void **state)
{
	struct gen_map *g = gen_open_private();
	struct cache *c;
	struct tile *t;
	uint64_t before;

	(void)state;
	c = mkcache(10, BIG, g);
	before = cache_gen(c, 1);		/* read before the fetch */
	t = mktile(nkey(1, 0), 10, 1);
	gen_bump(g, 1);				/* a clear during the fetch */
	assert_false(cache_put(c, t, before));
	assert_int_equal(c->pos.count, 0);
	assert_true(cache_put(c, t, cache_gen(c, 1)));
	assert_int_equal(t->gen, before + 1);
	check(c);
	tile_unref(t);
	cache_free(c);
	gen_close(g);
}

static void test_bump_then_get_returns_null_and_frees(void **state)
{
	struct gen_map *g = gen_open_private();
	struct cache *c;
	struct tile *t = mktile(nkey(1, 0), 10, 1);

	(void)state;
	c = mkcache(10, BIG, g);
	assert_true(cache_put(c, t, cache_gen(c, 1)));
	assert_true(put(c, nkey(2, 0), 10, 1));
	assert_int_equal(t->refs, 2);
	gen_bump(g, 1);
	assert_false(has(c, nkey(1, 0)));
	check(c);
	assert_int_equal(t->refs, 1);		/* the cache let go of it */
	assert_int_equal(c->pos.count, 1);
	assert_true(has(c, nkey(2, 0)));
	tile_unref(t);
	cache_free(c);
	gen_close(g);
}

static void test_clear_dataset_bumps_and_drops(void **state)
{
	struct gen_map *g = gen_open_private();
	struct cache *c;
	uint64_t g1;

	(void)state;
	c = mkcache(10, BIG, g);
	g1 = cache_gen(c, 1);
	assert_true(put(c, nkey(1, 0), 10, 1));
	assert_true(put(c, nkey(2, 0), 10, 1));
	assert_int_equal(cache_clear_dataset(c, 1), 1);
	assert_int_equal(cache_gen(c, 1), g1 + 1);
	assert_int_equal(cache_gen(c, 2), 0);
	assert_true(has(c, nkey(2, 0)));
	check(c);
	cache_free(c);
	gen_close(g);
}

static void test_sync_sees_bump_of_other_process(void **state)
{
	struct gen_map *mine = NULL, *other = NULL;
	struct cache *c;
	size_t n, b;
	char why[256];

	(void)state;
	/* two handles on one file: what two processes of the pool have */
	assert_int_equal(gen_open(tmpdir, "gen", &mine, why, sizeof(why)), AP_OK);
	assert_int_equal(gen_open(tmpdir, "gen", &other, why, sizeof(why)), AP_OK);
	c = mkcache(100, BIG, mine);
	for (uint32_t i = 0; i < 20; i++) {
		assert_true(put(c, nkey(1, i), 10, 1));
		assert_true(put(c, nkey(2, i), 10, 1));
	}
	cache_sync(c);				/* nothing moved: nothing dropped */
	assert_int_equal(c->pos.count, 40);
	gen_bump(other, 1);
	assert_int_equal(c->pos.count, 40);		/* not before the sync */
	cache_sync(c);
	check(c);
	assert_int_equal(c->pos.count, 20);
	cache_dataset_usage(c, 1, &n, &b);
	assert_int_equal(n, 0);
	cache_dataset_usage(c, 2, &n, &b);
	assert_int_equal(n, 20);
	/* a bump of another dataset's generation between syncs */
	gen_bump(other, 2);
	cache_dataset_usage(c, 2, &n, &b);	/* usage drops stale entries too */
	assert_int_equal(n, 0);
	check(c);
	assert_int_equal(c->pos.count, 0);
	cache_free(c);
	gen_close(mine);
	gen_close(other);
}

static void test_slot_collision_clears_neighbour_only(void **state)
{
	struct gen_map *g = gen_open_private();
	struct cache *c;

	(void)state;
	c = mkcache(10, BIG, g);
	assert_true(put(c, nkey(7, 0), 10, 1));
	assert_true(put(c, nkey(7 + GEN_N_SLOTS, 0), 10, 1));
	assert_true(put(c, nkey(8, 0), 10, 1));
	gen_bump(g, 7);
	cache_sync(c);
	assert_int_equal(c->pos.count, 1);		/* documented: the neighbour too */
	assert_true(has(c, nkey(8, 0)));
	cache_free(c);
	gen_close(g);
}

/* ---- references ---- */

static void test_evicted_tile_readable_until_unref(void **state)
{
	struct cache *c;
	struct tile *held[100];

	(void)state;
	c = mkcache(4, BIG, NULL);
	/* a batch holds 100 tiles while its own inserts evict them */
	for (uint32_t i = 0; i < 100; i++) {
		held[i] = mktile(nkey(1, i), 64, (unsigned char)i);
		assert_true(cache_put(c, held[i], 0));
	}
	check(c);
	assert_int_equal(c->evictions, 96);
	for (uint32_t i = 0; i < 100; i++) {
		assert_int_equal(held[i]->data[63], (unsigned char)i);
		assert_int_equal(held[i]->refs, i >= 96 ? 2 : 1);
	}
	cache_clear(c);
	for (uint32_t i = 0; i < 100; i++) {
		assert_int_equal(held[i]->refs, 1);
		assert_int_equal(held[i]->data[0], (unsigned char)i);
		tile_unref(held[i]);
	}
	cache_free(c);
}

static void test_cache_free_keeps_referenced_tiles(void **state)
{
	struct cache *c;
	struct tile *t;
	struct tilekey k = nkey(1, 1);

	(void)state;
	c = mkcache(4, BIG, NULL);
	assert_true(put(c, k, 32, 'q'));
	t = cache_get(c, &k);
	assert_non_null(t);
	cache_free(c);
	assert_int_equal(t->refs, 1);
	assert_int_equal(t->data[31], 'q');
	tile_unref(t);
}

/* ---- hashing ---- */

/* Keys whose hash falls in bucket 0 of a table of mask+1 buckets. */
static size_t colliding_keys(size_t mask, struct tilekey *out, size_t want)
{
	size_t n = 0;

	for (uint32_t x = 0; n < want && x < 1u << 20; x++) {
		struct tilekey k = key(3, 12, x, 99, FMT_WEBP);

		if ((key_hash(&k) & mask) == 0)
			out[n++] = k;
	}
	return n;
}

static void test_many_keys_in_one_bucket(void **state)
{
	enum { MAXT = 64, N = 48 };
	struct tilekey ks[N];
	struct cache *c;
	size_t chain = 0;

	(void)state;
	c = mkcache(MAXT, BIG, NULL);
	assert_int_equal(colliding_keys(c->pos.mask, ks, N), N);
	for (int i = 0; i < N; i++)
		assert_true(put(c, ks[i], 8, (unsigned char)i));
	for (struct tile *t = c->pos.buckets[0]; t; t = t->hnext)
		chain++;
	assert_int_equal(chain, N);		/* really one chain */
	check(c);
	for (int i = 0; i < N; i++) {
		struct tile *t = cache_get(c, &ks[i]);

		assert_non_null(t);
		assert_int_equal(t->data[0], (unsigned char)i);
		tile_unref(t);
	}
	/* unlink from the middle, the head and the end of the chain */
	assert_true(put(c, ks[N / 2], 9, 200));
	assert_int_equal(cache_drop_dataset(c, 4), 0);
	{
		struct tile *t = cache_get(c, &ks[N / 2]);

		assert_int_equal(t->len, 9);
		tile_unref(t);
	}
	/* evict 20 of them from the chain by filling with other keys */
	for (uint32_t i = 0; i < MAXT - N + 20; i++)
		assert_true(put(c, nkey(9, i), 8, 1));
	check(c);
	assert_int_equal(c->pos.count, MAXT);
	cache_clear(c);
	check(c);
	assert_null(c->pos.buckets[0]);
	cache_free(c);
}

/* Keys that differ in one field only, forced into one chain: the equality
 * test, not the hash, must tell them apart. */
static void test_one_field_apart_in_one_bucket(void **state)
{
	struct cache *c;

	(void)state;
	c = mkcache(2, BIG, NULL);	/* 4 buckets: a neighbour is easy to find */
	for (int field = 0; field < 5; field++) {
		struct tilekey base, v;
		struct tile *t;

		/* move the base until its variant lands in the same bucket */
		for (uint32_t d = 0; d < 1000; d++) {
			base = v = key(5, 9, 100 + d, 200, FMT_PNG);
			switch (field) {
			case 0: v.dataset++; break;
			case 1: v.z++; break;
			case 2: v.x = 5000; break;
			case 3: v.y++; break;
			default: v.fmt = FMT_WEBP; break;
			}
			if (bucket_of(&c->pos, &v) == bucket_of(&c->pos, &base))
				break;
		}
		assert_ptr_equal(bucket_of(&c->pos, &v), bucket_of(&c->pos, &base));
		assert_true(put(c, base, 1, 'b'));
		assert_true(put(c, v, 1, 'v'));
		check(c);
		assert_int_equal(c->pos.count, 2);
		t = cache_get(c, &base);
		assert_non_null(t);
		assert_int_equal(t->data[0], 'b');
		tile_unref(t);
		t = cache_get(c, &v);
		assert_non_null(t);
		assert_int_equal(t->data[0], 'v');
		tile_unref(t);
		cache_clear(c);
	}
	cache_free(c);
}

static void test_hash_spreads_neighbour_tiles(void **state)
{
	enum { NB = 1024 };
	static unsigned hist[NB];
	unsigned max = 0;

	(void)state;
	memset(hist, 0, sizeof(hist));
	/* a 32x32 viewport block at one level: the usual working set */
	for (uint32_t x = 0; x < 32; x++)
		for (uint32_t y = 0; y < 32; y++) {
			struct tilekey k = key(1, 12, 1000 + x, 2000 + y, FMT_JPG);

			hist[key_hash(&k) & (NB - 1)]++;
		}
	for (int i = 0; i < NB; i++)
		max = hist[i] > max ? hist[i] : max;
	assert_true(max <= 8);		/* 1024 keys, 1024 buckets: Poisson(1) */
}

/* ---- statistics and ETag ---- */

static void test_stats_counters(void **state)
{
	struct cache *c;
	struct cache_stats s;
	struct tile *t;
	struct tilekey k0 = nkey(1, 0);

	(void)state;
	c = mkcache(2, BIG, NULL);
	cache_note(c, false);
	cache_note(c, false);
	cache_note(c, true);
	/* a prefetched tile: counted when put, its first hit counted once */
	t = mktile(k0, 10, 1);
	assert_true(cache_put(c, t, 0));
	cache_note_prefetch(c, t);
	tile_unref(t);
	assert_true(cache_contains(c, &k0));	/* planning does not count */
	assert_true(has(c, k0));
	assert_true(has(c, k0));
	/* a tile not in the cache is not counted as prefetched */
	t = mktile(nkey(1, 1), 10, 1);
	cache_note_prefetch(c, t);
	tile_unref(t);
	assert_true(put(c, nkey(1, 2), 10, 1));
	assert_true(put(c, nkey(1, 3), 10, 1));
	cache_get_stats(c, &s);
	assert_int_equal(s.requests, 3);
	assert_int_equal(s.hits, 1);
	assert_int_equal(s.misses, 2);
	assert_int_equal(s.prefetched, 1);
	assert_int_equal(s.prefetch_hits, 1);
	assert_int_equal(s.evictions, 1);
	assert_int_equal(s.count, 2);
	assert_int_equal(s.max_count, 2);
	assert_int_equal(s.bytes, 2 * cache_entry_cost(c, 10));
	assert_int_equal(s.max_bytes, BIG);
	cache_free(c);
}

static void test_etag_is_sha256_prefix(void **state)
{
	struct tilekey k = nkey(1, 0);
	struct tile *t = tile_new(&k, "abc", 3);
	struct tile *e = tile_new(&k, NULL, 0);

	(void)state;
	assert_non_null(t);
	assert_string_equal(t->etag, "\"ba7816bf8f01cfea414140de5dae2223\"");
	assert_int_equal(strlen(t->etag) + 1, TILE_ETAG_MAX);
	assert_int_equal(t->refs, 1);
	assert_int_equal(memcmp(t->data, "abc", 3), 0);
	assert_non_null(e);
	assert_string_equal(e->etag, "\"e3b0c44298fc1c149afbf4c8996fb924\"");
	tile_unref(t);
	tile_unref(e);
}


/* ---- negative entries ---- */

static void test_absent_is_remembered_per_format(void **state)
{
	struct cache *c;
	struct tile *t;
	struct tilekey kj = key(1, 3, 1, 1, FMT_JPG), kp = kj;
	struct cache_stats s;

	(void)state;
	kp.fmt = FMT_PNG;
	c = mkcache(10, BIG, NULL);
	cache_negative_limits(c, 4, 60000);
	assert_int_equal(cache_probe(c, &kj, &t), CACHE_UNKNOWN);
	assert_null(t);
	cache_put_absent(c, &kj, 0);
	assert_int_equal(cache_probe(c, &kj, &t), CACHE_ABSENT);
	assert_null(t);
	assert_int_equal(cache_probe(c, &kp, &t), CACHE_UNKNOWN);	/* another format */
	assert_true(put(c, kp, 10, 'p'));
	assert_int_equal(cache_probe(c, &kp, &t), CACHE_PRESENT);
	assert_non_null(t);
	assert_int_equal(t->data[0], 'p');
	tile_unref(t);
	cache_get_stats(c, &s);
	assert_int_equal(s.negative, 1);
	assert_int_equal(s.max_negative, 4);
	assert_int_equal(s.negative_hits, 1);
	assert_int_equal(s.count, 1);		/* negatives are not tiles */
	assert_int_equal(s.bytes, cache_entry_cost(c, 10));
	check(c);
	cache_free(c);
}

static void test_absent_and_tile_replace_each_other(void **state)
{
	struct cache *c;
	struct tile *t;
	struct tilekey k = nkey(1, 5);

	(void)state;
	c = mkcache(10, BIG, NULL);
	cache_negative_limits(c, 4, 60000);
	assert_true(put(c, k, 10, 1));
	cache_put_absent(c, &k, 0);		/* storage says it is gone */
	assert_int_equal(cache_probe(c, &k, &t), CACHE_ABSENT);
	assert_int_equal(c->pos.count, 0);
	assert_true(put(c, k, 10, 2));		/* it exists after all */
	assert_int_equal(c->neg.count, 0);
	assert_int_equal(cache_probe(c, &k, &t), CACHE_PRESENT);
	tile_unref(t);
	check(c);
	cache_free(c);
}

static void test_absent_bounded_and_never_evicts_tiles(void **state)
{
	struct cache *c;
	struct tile *t;

	(void)state;
	c = mkcache(3, BIG, NULL);
	cache_negative_limits(c, 5, 60000);
	for (uint32_t i = 0; i < 3; i++)
		assert_true(put(c, nkey(1, i), 10, 1));
	for (uint32_t i = 100; i < 200; i++) {
		struct tilekey k = nkey(2, i);
		cache_put_absent(c, &k, 0);
	}
	assert_int_equal(c->neg.count, 5);	/* the bound, newest kept */
	for (uint32_t i = 195; i < 200; i++) {
		struct tilekey k = nkey(2, i);
		assert_int_equal(cache_probe(c, &k, &t), CACHE_ABSENT);
	}
	for (uint32_t i = 0; i < 3; i++)
		assert_true(has(c, nkey(1, i)));	/* tiles untouched */
	assert_int_equal(c->evictions, 0);
	check(c);
	cache_free(c);
}

static void test_absent_expires(void **state)
{
	struct cache *c;
	struct tile *t;
	struct tilekey k = nkey(1, 1);

	(void)state;
	c = mkcache(3, BIG, NULL);
	cache_negative_limits(c, 5, 30);
	cache_put_absent(c, &k, 0);
	assert_int_equal(cache_probe(c, &k, &t), CACHE_ABSENT);
	usleep(60 * 1000);
	assert_int_equal(cache_probe(c, &k, &t), CACHE_UNKNOWN);
	assert_int_equal(c->neg.count, 0);	/* dropped when met */
	cache_negative_limits(c, 0, 30);	/* disabled: nothing kept */
	cache_put_absent(c, &k, 0);
	assert_int_equal(cache_probe(c, &k, &t), CACHE_UNKNOWN);
	cache_free(c);
}

static void test_absent_dropped_by_clear_and_generation(void **state)
{
	struct gen_map *g = gen_open_private();
	struct cache *c;
	struct tile *t;
	struct tilekey k1 = nkey(1, 1), k2 = nkey(2, 1);
	uint64_t before;

	(void)state;
	c = mkcache(3, BIG, g);
	cache_negative_limits(c, 5, 60000);
	cache_put_absent(c, &k1, cache_gen(c, 1));
	cache_put_absent(c, &k2, cache_gen(c, 2));
	cache_clear_dataset(c, 1);
	assert_int_equal(cache_probe(c, &k1, &t), CACHE_UNKNOWN);
	assert_int_equal(cache_probe(c, &k2, &t), CACHE_ABSENT);
	gen_bump(g, 2);				/* another process clears 2 */
	cache_sync(c);
	assert_int_equal(c->neg.count, 0);
	before = cache_gen(c, 1);
	gen_bump(g, 1);				/* a clear during the fetch */
	cache_put_absent(c, &k1, before);
	assert_int_equal(cache_probe(c, &k1, &t), CACHE_UNKNOWN);
	cache_free(c);
	gen_close(g);
}

/* ---- against a model ---- */

/* Random operations, compared after each with a naive model of the contract:
 * an array of keys with a last-use stamp, evicting the smallest stamp. */
static void test_random_ops_match_model(void **state)
{
	enum { NK = 60, OPS = 20000, MAXT = 16 };
	struct model { bool in; size_t len; uint64_t stamp; } m[NK];
	struct gen_map *g = gen_open_private();
	struct cache *c;
	uint64_t now = 0, rng = 42, evictions = 0;
	size_t maxb;

	(void)state;
	memset(m, 0, sizeof(m));
	c = mkcache(MAXT, 1, g);
	maxb = 6 * cache_entry_cost(c, 256);	/* both bounds bind, in turn */
	c->max_bytes = maxb;
	for (int op = 0; op < OPS; op++) {
		uint32_t i, r;

		rng = mix64(rng);
		i = (uint32_t)(rng % NK);
		r = (uint32_t)(rng >> 32) % 100;
		struct tilekey k = nkey(1 + i % 3, i);	/* three datasets */

		if (r < 45) {
			size_t len = (size_t)(rng >> 40) % 512, cnt = 0, bytes = 0;

			assert_true(put(c, k, len, (unsigned char)i));
			m[i].in = false;
			for (int j = 0; j < NK; j++)
				if (m[j].in) {
					cnt++;
					bytes += cache_entry_cost(c, m[j].len);
				}
			while (cnt >= MAXT || cache_entry_cost(c, len) > maxb - bytes) {
				int lru = -1;

				for (int j = 0; j < NK; j++)
					if (m[j].in && (lru < 0 || m[j].stamp < m[lru].stamp))
						lru = j;
				m[lru].in = false;
				cnt--;
				bytes -= cache_entry_cost(c, m[lru].len);
				evictions++;
			}
			m[i] = (struct model){true, len, ++now};
		} else if (r < 90) {
			struct tile *t = cache_get(c, &k);

			assert_int_equal(t != NULL, m[i].in);
			if (t) {
				assert_int_equal(t->len, m[i].len);
				m[i].stamp = ++now;
				tile_unref(t);
			}
		} else if (r < 95) {
			uint32_t ds = 1 + i % 3;

			cache_clear_dataset(c, ds);
			for (int j = 0; j < NK; j++)
				if (1 + (uint32_t)j % 3 == ds)
					m[j].in = false;
		} else {
			uint32_t ds = 1 + i % 3;

			gen_bump(g, ds);	/* as if by another process */
			cache_sync(c);
			for (int j = 0; j < NK; j++)
				if (1 + (uint32_t)j % 3 == ds)
					m[j].in = false;
		}
		if (op % 97 == 0)
			check(c);
		assert_int_equal(c->evictions, evictions);
	}
	check(c);
	cache_free(c);
	gen_close(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets_sized_once_power_of_two),
		cmocka_unit_test(test_limits_refused),
		cmocka_unit_test(test_entry_cost_counts_overhead),
		cmocka_unit_test(test_bound_by_count),
		cmocka_unit_test(test_bound_by_bytes),
		cmocka_unit_test(test_both_bounds_at_once),
		cmocka_unit_test(test_eviction_is_lru_and_get_touches),
		cmocka_unit_test(test_put_existing_key_replaces),
		cmocka_unit_test(test_put_same_tile_twice_is_a_touch),
		cmocka_unit_test(test_format_is_part_of_key),
		cmocka_unit_test(test_oversize_refused_but_usable),
		cmocka_unit_test(test_zero_limits_hold_nothing),
		cmocka_unit_test(test_drop_dataset_leaves_others),
		cmocka_unit_test(test_put_with_stale_gen_refused),
		cmocka_unit_test(test_bump_then_get_returns_null_and_frees),
		cmocka_unit_test(test_clear_dataset_bumps_and_drops),
		cmocka_unit_test_setup_teardown(test_sync_sees_bump_of_other_process, mktmp, rmtmp),
		cmocka_unit_test(test_slot_collision_clears_neighbour_only),
		cmocka_unit_test(test_evicted_tile_readable_until_unref),
		cmocka_unit_test(test_cache_free_keeps_referenced_tiles),
		cmocka_unit_test(test_many_keys_in_one_bucket),
		cmocka_unit_test(test_one_field_apart_in_one_bucket),
		cmocka_unit_test(test_hash_spreads_neighbour_tiles),
		cmocka_unit_test(test_stats_counters),
		cmocka_unit_test(test_etag_is_sha256_prefix),
		cmocka_unit_test(test_absent_is_remembered_per_format),
		cmocka_unit_test(test_absent_and_tile_replace_each_other),
		cmocka_unit_test(test_absent_bounded_and_never_evicts_tiles),
		cmocka_unit_test(test_absent_expires),
		cmocka_unit_test(test_absent_dropped_by_clear_and_generation),
		cmocka_unit_test(test_random_ops_match_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
