/*
 * l2.c - the shared tile tier on Redis; see l2.h.
 *
 * Three scripts do all the work, each one round trip and atomic on the
 * Redis side: LOOKUP (the generations, repaired upward to what this host
 * saw, the epoch, and the tiles), CLEAR (a dataset's generation and the
 * epoch up by one, and an entry in the clear log) and POLL (the instance
 * id, the epoch, and the clear log if either moved).
 * Dynamic key names inside scripts tie this to a single Redis server (no
 * cluster), which is what a tile cache of a few hosts needs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <hiredis.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "l2.h"
#include "buf.h"
#include "cache.h"
#include "clock.h"
#include "config.h"
#include "decimal.h"
#include "ev.h"
#include "generation.h"
#include "hex.h"
#include "log.h"
#include "redis.h"

static const char LOOKUP[] =
	"local p, id = ARGV[1], ARGV[2]\n"
	"local g = tonumber(redis.call('HGET', p .. 'gens', id) or '0')\n"
	"local a = tonumber(redis.call('GET', p .. 'gall') or '0')\n"
	"local sg, sa = tonumber(ARGV[3]), tonumber(ARGV[4])\n"
	"if g < sg then redis.call('HSET', p .. 'gens', id, sg); g = sg end\n"
	"if a < sa then redis.call('SET', p .. 'gall', sa); a = sa end\n"
	"local i = redis.call('GET', p .. 'inst')\n"
	"if not i then i = ARGV[5]; redis.call('SET', p .. 'inst', i) end\n"
	"local out = {tostring(g), tostring(a), redis.call('GET', p .. 'epoch') or '0', i}\n"
	"for k = 6, #ARGV do\n"
	"  out[#out + 1] = redis.call('GET', p .. 't:' .. id .. ':' .. a .. '.' .. g .. ':' .. ARGV[k]) or false\n"
	"end\n"
	"return out\n";
static const char CLEAR[] =
	"local p = ARGV[1]\n"
	"local g = ARGV[2] == '*' and redis.call('INCR', p .. 'gall') or "
	"redis.call('HINCRBY', p .. 'gens', ARGV[2], 1)\n"
	"local e = redis.call('INCR', p .. 'epoch')\n"
	"redis.call('RPUSH', p .. 'log', e .. ' ' .. ARGV[2])\n"
	"redis.call('LTRIM', p .. 'log', -tonumber(ARGV[3]), -1)\n"
	"return g\n";
static const char POLL[] =
	"local p = ARGV[1]\n"
	"local i = redis.call('GET', p .. 'inst')\n"
	"if not i then i = ARGV[3]; redis.call('SET', p .. 'inst', i) end\n"
	"local e = redis.call('GET', p .. 'epoch') or '0'\n"
	"if e == ARGV[2] and i == ARGV[4] then return {i, e} end\n"
	"return {i, e, redis.call('LRANGE', p .. 'log', 0, -1)}\n";

struct l2 {
	struct rconn *rc;
	struct ev_loop *loop;
	struct gen_map *gens;
	char prefix[CONFIG_VALUE_MAX + 1];
	long ttl_s;
	struct ev_timer flush, poll;
	struct l2_wait *queue;
	unsigned nwrites;		/* writes and deletes not answered yet */
	bool polling;
	char inst[17];		/* the instance id the next poll proposes, random */
	struct l2_stats st;
};

/* ---- values ------------------------------------------------------------------- */

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* magic 4, version, format, z, 0, dataset 4, x 4, y 4, length 4, hash 16 */
static void header(unsigned char h[L2_HEADER_LEN], const struct tilekey *k, size_t len)
{
	memcpy(h, L2_VALUE_MAGIC, 4);
	h[4] = L2_VALUE_VERSION;
	h[5] = k->fmt;
	h[6] = k->z;
	h[7] = 0;
	put32(h + 8, k->dataset);
	put32(h + 12, k->x);
	put32(h + 16, k->y);
	put32(h + 20, (uint32_t)len);
}

enum ap_err l2_value_encode(const struct tilekey *k, const void *data, size_t len,
			    const char etag_hex[2 * L2_HASH_BYTES + 1], struct buf *out)
{
	unsigned char h[L2_HEADER_LEN];

	if (k->fmt >= FMT__COUNT || len > TILE_MAX_BYTES)
		return AP_ERR_INTERNAL;
	header(h, k, len);
	if (strlen(etag_hex) < 2 * L2_HASH_BYTES || hex_decode(etag_hex, L2_HASH_BYTES, h + 24))
		return AP_ERR_INTERNAL;
	if (buf_add(out, h, sizeof(h)) || buf_add(out, data, len))
		return AP_ERR_NOMEM;
	return AP_OK;
}

enum ap_err l2_value_decode(const void *p, size_t n, const struct tilekey *want, const void **data,
			    size_t *len)
{
	const unsigned char *v = p;
	unsigned char h[L2_HEADER_LEN], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	size_t l;

	if (!p || n < L2_HEADER_LEN || n - L2_HEADER_LEN > TILE_MAX_BYTES)
		return AP_ERR_STORAGE;
	l = n - L2_HEADER_LEN;
	/* everything but the hash must be what this key's value would say */
	header(h, want, l);
	if (memcmp(v, h, 24) != 0)
		return AP_ERR_STORAGE;
	if (!EVP_Digest(v + L2_HEADER_LEN, l, md, &mdlen, EVP_sha256(), NULL) ||
	    mdlen < L2_HASH_BYTES || memcmp(md, v + 24, L2_HASH_BYTES) != 0)
		return AP_ERR_STORAGE;
	*data = v + L2_HEADER_LEN;
	*len = l;
	return AP_OK;
}

/* ---- set-up ------------------------------------------------------------------------ */

static void on_flush(struct ev_timer *t);
static void on_poll(struct ev_timer *t);

/* An instance id to propose to a Redis that has none (just started). */
static void new_inst(char out[17])
{
	unsigned char r[8];

	if (RAND_bytes(r, sizeof(r)) != 1) {
		/* not secret, only distinct: time and pid will do */
		uint64_t v = (uint64_t)clock_ms() * 1000003u ^ (uint64_t)getpid();
		memcpy(r, &v, sizeof(r));
	}
	r[0] |= 0x80;	/* never all zeros: 0 means "none yet" */
	hex_encode(r, sizeof(r), out);
}

enum ap_err l2_new(const struct config *c, struct ev_loop *loop, struct gen_map *gens,
		   struct l2 **out, char *why, size_t whylen)
{
	struct redis_target t;
	struct l2 *l;
	enum ap_err e;

	*out = NULL;
	if (!c->redis_url)
		return AP_OK;
	if ((e = redis_parse_url(c->redis_url, &t, why, whylen)))
		return e;
	l = calloc(1, sizeof(*l));
	if (!l)
		return AP_ERR_NOMEM;
	l->loop = loop;
	l->gens = gens;
	l->ttl_s = c->redis_ttl_s;
	snprintf(l->prefix, sizeof(l->prefix), "%s", c->redis_prefix ? c->redis_prefix : "");
	if ((e = rconn_new(&t, c->redis_timeout_ms, loop, &l->rc))) {
		snprintf(why, whylen, "REDIS_URL: cannot set up the connection");
		free(l);
		return e;
	}
	/* the first poll connects, lazily, once the loop runs */
	if (ev_timer_start(loop, &l->poll, L2_POLL_MS, on_poll, l)) {
		l2_free(l);
		return AP_ERR_NOMEM;
	}
	*out = l;
	return AP_OK;
}

void l2_free(struct l2 *l)
{
	if (!l)
		return;
	ev_timer_stop(l->loop, &l->flush);
	ev_timer_stop(l->loop, &l->poll);
	while (l->queue) {
		struct l2_wait *w = l->queue;
		l->queue = w->next;
		w->queued = false;
	}
	rconn_free(l->rc);
	free(l);
}

bool l2_usable(struct l2 *l, uint32_t dataset)
{
	return l && rconn_available(l->rc) && !gen_pending(l->gens, dataset);
}

static void schedule(struct l2 *l)
{
	if (!ev_timer_pending(&l->flush) && ev_timer_start(l->loop, &l->flush, 0, on_flush, l))
		log_error("redis: cannot arm its timer");
}

/* ---- lookups ----------------------------------------------------------------------------- */

/* One EVAL in flight: its keys (a wait and a format each) and its waits
 * (a wait may have no key: it asks only for the generations). */
#define LOOKUP_HEAD 4		/* generation, all, epoch, instance; then the tiles */
struct lookup_cmd {
	struct rcmd rc;
	struct l2 *l;
	uint32_t dataset;
	size_t n, nw;
	struct l2_wait *w[L2_LOOKUP_TILES_MAX];		/* per key */
	uint8_t fmt[L2_LOOKUP_TILES_MAX];
	struct l2_wait *waits[L2_LOOKUP_TILES_MAX];	/* NULL: cancelled */
};

static void wait_done(struct l2_wait *w)
{
	w->l2 = NULL;
	w->cmd = NULL;
	w->done(w, w->ud);
}

/* A command whose answer only counts: its context is freed with it. */
struct oneway {
	struct rcmd rc;
	struct l2 *l;
	uint64_t seen, inst;	/* a poll: the host's epoch and instance when sent */
};

static void on_oneway(struct rcmd *c, redisReply *r, enum ap_err e, void *ud)
{
	struct oneway *o = ud;

	(void)c;
	(void)r;
	if (e && e != AP_ERR_UNAVAILABLE)
		o->l->st.errors++;
	o->l->nwrites--;
	free(o);
}

static void oneway(struct l2 *l, int argc, const char **argv, const size_t *argvlen)
{
	struct oneway *o = calloc(1, sizeof(*o));

	if (!o)
		return;
	o->l = l;
	o->rc.done = on_oneway;
	o->rc.ud = o;
	l->nwrites++;
	redis_command(l->rc, &o->rc, argc, argv, argvlen);
}

static void tile_key(const struct l2 *l, const struct tilekey *k, const uint64_t tag[2], char *out,
		     size_t cap)
{
	snprintf(out, cap, "%st:%u:%llu.%llu:%u:%u:%u:%s", l->prefix, k->dataset,
		 (unsigned long long)tag[0], (unsigned long long)tag[1], (unsigned)k->z, k->x, k->y,
		 tk_fmt_ext((enum tile_fmt)k->fmt));
}

static void forget_key(struct l2 *l, const struct tilekey *k, const uint64_t tag[2])
{
	char key[L2_KEY_MAX + CONFIG_VALUE_MAX];

	tile_key(l, k, tag, key, sizeof(key));
	oneway(l, 2, (const char *[]){"DEL", key}, NULL);
}

/* A value of the reply for wait w and format f: a verified tile or NULL. */
static struct tile *take_value(struct l2 *l, struct l2_wait *w, enum tile_fmt f,
			       const redisReply *v)
{
	struct tilekey k = w->key;
	const void *data;
	size_t len;
	struct tile *t;

	if (!v || v->type != REDIS_REPLY_STRING) {
		l->st.misses++;
		return NULL;
	}
	k.fmt = (uint8_t)f;
	if (l2_value_decode(v->str, v->len, &k, &data, &len) || !(t = tile_new(&k, data, len))) {
		l->st.bad_values++;
		forget_key(l, &k, w->gen_tag);	/* never served; the next write replaces it */
		return NULL;
	}
	l->st.hits++;
	return t;
}

static bool reply_number(const redisReply *r, uint64_t *v)
{
	return r && r->type == REDIS_REPLY_STRING && !dec_parse_u64(r->str, r->len, UINT64_MAX, 0, v);
}

static bool reply_inst(const redisReply *r, uint64_t *v)
{
	return r && r->type == REDIS_REPLY_STRING && r->len == 16 &&
	       !hex_parse_u64(r->str, r->len, v) && *v != 0;
}

static void note_epoch(struct l2 *l, uint64_t e)
{
	/* look now; the poll timer is always armed, so re-arming it cannot fail */
	if (e != gen_remote_epoch(l->gens) && ev_timer_start(l->loop, &l->poll, 0, on_poll, l))
		log_error("redis: cannot arm its poll timer");
}

/* The reply's head: the generations, the epoch and the instance. */
static bool lookup_head(struct l2 *l, const struct lookup_cmd *lc, const redisReply *r,
			enum ap_err e, uint64_t v[LOOKUP_HEAD])
{
	bool ok = !e && r && r->type == REDIS_REPLY_ARRAY && r->elements == lc->n + LOOKUP_HEAD &&
		  reply_number(r->element[0], &v[0]) && reply_number(r->element[1], &v[1]) &&
		  reply_number(r->element[2], &v[2]) && reply_inst(r->element[3], &v[3]);

	if (!ok && !e)
		snprintf(l->st.last_error, sizeof(l->st.last_error), "unexpected lookup reply");
	if (!ok && e != AP_ERR_UNAVAILABLE)
		l->st.errors++;
	if (ok) {
		gen_note_remote(l->gens, lc->dataset, v[0]);	/* cleared elsewhere: drop it here */
		gen_note_remote_all(l->gens, v[1]);
		note_epoch(l, v[2]);
	}
	return ok;
}

static void on_lookup(struct rcmd *c, redisReply *r, enum ap_err e, void *ud)
{
	struct lookup_cmd *lc = ud;
	struct l2 *l = lc->l;
	uint64_t v[LOOKUP_HEAD] = {0};
	bool ok = lookup_head(l, lc, r, e, v);

	(void)c;
	for (size_t i = 0; i < lc->nw; i++) {
		struct l2_wait *w = lc->waits[i];
		if (!w)
			continue;	/* cancelled */
		w->ok = ok;
		w->gen_tag[0] = v[1];
		w->gen_tag[1] = v[0];
		w->inst = v[3];
	}
	for (size_t i = 0; ok && i < lc->n; i++)
		if (lc->w[i])
			lc->w[i]->tiles[lc->fmt[i]] = take_value(l, lc->w[i], (enum tile_fmt)lc->fmt[i],
								  r->element[LOOKUP_HEAD + i]);
	for (size_t i = 0; i < lc->nw; i++)	/* each once, after all of its formats */
		if (lc->waits[i])
			wait_done(lc->waits[i]);
	free(lc);
}

static void send_lookup(struct l2 *l, struct lookup_cmd *lc)
{
	char seen[2][24], id[16], inst[17], suffix[L2_LOOKUP_TILES_MAX][64];
	const char *argv[L2_LOOKUP_TILES_MAX + 8];
	int argc = 0;

	snprintf(seen[0], sizeof(seen[0]), "%llu", (unsigned long long)gen_remote(l->gens, lc->dataset));
	snprintf(seen[1], sizeof(seen[1]), "%llu", (unsigned long long)gen_remote_all(l->gens));
	snprintf(id, sizeof(id), "%u", lc->dataset);
	new_inst(inst);
	/* hiredis copies the arguments before redis_command returns */
	argv[argc++] = "EVAL";
	argv[argc++] = LOOKUP;
	argv[argc++] = "0";
	argv[argc++] = l->prefix;
	argv[argc++] = id;
	argv[argc++] = seen[0];
	argv[argc++] = seen[1];
	argv[argc++] = inst;
	for (size_t i = 0; i < lc->n; i++) {
		const struct tilekey *k = &lc->w[i]->key;
		snprintf(suffix[i], sizeof(suffix[i]), "%u:%u:%u:%s", (unsigned)k->z, k->x, k->y,
			 tk_fmt_ext((enum tile_fmt)lc->fmt[i]));
		argv[argc++] = suffix[i];
	}
	lc->rc.done = on_lookup;
	lc->rc.ud = lc;
	redis_command(l->rc, &lc->rc, argc, argv, NULL);
}

/* Takes the queued waits of one dataset (at most a command's worth). */
static struct lookup_cmd *group(struct l2 *l)
{
	struct lookup_cmd *lc = calloc(1, sizeof(*lc));
	struct l2_wait **pp = &l->queue;

	if (!lc)
		return NULL;
	lc->l = l;
	lc->dataset = l->queue->key.dataset;
	while (*pp) {
		struct l2_wait *w = *pp;
		unsigned nf = (unsigned)__builtin_popcount(w->fmts);

		if (w->key.dataset != lc->dataset || lc->n + nf > L2_LOOKUP_TILES_MAX ||
		    lc->nw == L2_LOOKUP_TILES_MAX) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		w->queued = false;
		w->cmd = lc;
		lc->waits[lc->nw++] = w;
		for (int f = 0; f < FMT__COUNT; f++)
			if (w->fmts & (1u << f)) {
				lc->w[lc->n] = w;
				lc->fmt[lc->n++] = (uint8_t)f;
			}
	}
	return lc;
}

static void on_flush(struct ev_timer *t)
{
	struct l2 *l = t->ud;

	while (l->queue) {
		struct lookup_cmd *lc = group(l);

		if (!lc) {	/* out of memory: they go to storage */
			struct l2_wait *w = l->queue;
			l->queue = w->next;
			w->queued = false;
			w->ok = false;
			wait_done(w);
			continue;
		}
		send_lookup(l, lc);
	}
}

void l2_lookup(struct l2 *l, struct l2_wait *w)
{
	memset(w->tiles, 0, sizeof(w->tiles));
	w->ok = false;
	w->inst = 0;
	w->cmd = NULL;
	w->l2 = l;
	w->next = l->queue;
	l->queue = w;
	w->queued = true;
	schedule(l);
}

void l2_cancel(struct l2_wait *w)
{
	struct l2 *l = w->l2;

	if (!l)
		return;
	if (w->queued) {
		struct l2_wait **pp = &l->queue;
		while (*pp && *pp != w)
			pp = &(*pp)->next;
		if (*pp)
			*pp = w->next;
		w->queued = false;
	}
	if (w->cmd) {
		/* in flight: its command finds NULLs and skips them */
		for (size_t i = 0; i < w->cmd->n; i++)
			if (w->cmd->w[i] == w)
				w->cmd->w[i] = NULL;
		for (size_t i = 0; i < w->cmd->nw; i++)
			if (w->cmd->waits[i] == w)
				w->cmd->waits[i] = NULL;
		w->cmd = NULL;
	}
	w->l2 = NULL;
}

/* ---- writes ---------------------------------------------------------------------------------- */

void l2_put(struct l2 *l, const struct tile *t, const uint64_t gen_tag[2])
{
	char key[L2_KEY_MAX + CONFIG_VALUE_MAX], ttl[24];
	const char *argv[5];
	size_t argvlen[5];
	struct buf v;

	if (!l || !rconn_available(l->rc) || gen_pending(l->gens, t->key.dataset))
		return;
	if (l->nwrites >= L2_WRITES_MAX) {
		l->st.dropped_writes++;
		return;
	}
	buf_init(&v, TILE_MAX_BYTES + L2_HEADER_LEN);
	if (l2_value_encode(&t->key, t->data, t->len, t->etag + 1, &v)) {
		buf_free(&v);
		return;
	}
	tile_key(l, &t->key, gen_tag, key, sizeof(key));
	snprintf(ttl, sizeof(ttl), "%ld", l->ttl_s);
	argv[0] = "SET", argvlen[0] = 3;
	argv[1] = key, argvlen[1] = strlen(key);
	argv[2] = v.data, argvlen[2] = v.len;
	argv[3] = "EX", argvlen[3] = 2;
	argv[4] = ttl, argvlen[4] = strlen(ttl);
	/* queued in hiredis's buffer now; written when the loop gets there,
	 * after the response that fetched the tile */
	oneway(l, 5, argv, argvlen);
	l->st.writes++;
	buf_free(&v);
}

/* ---- clears ----------------------------------------------------------------------------------- */

struct clear_cmd {
	struct rcmd rc;
	struct l2 *l;
	uint32_t dataset;
	bool all;
	struct l2_clear_wait *w;	/* who waits for it, if anyone */
};

static void on_clear(struct rcmd *c, redisReply *r, enum ap_err e, void *ud)
{
	struct clear_cmd *cc = ud;
	struct l2 *l = cc->l;
	uint64_t g;

	(void)c;
	if (!e && r && r->type == REDIS_REPLY_INTEGER && r->integer >= 0) {
		g = (uint64_t)r->integer;
		if (cc->all)
			gen_note_remote_all(l->gens, g);
		else
			gen_note_remote(l->gens, cc->dataset, g);
		gen_done_pending(l->gens, cc->dataset, cc->all);
	} else if (e != AP_ERR_UNAVAILABLE) {
		l->st.errors++;
	}
	if (cc->w) {
		struct l2_clear_wait *w = cc->w;
		w->cmd = NULL;
		w->done(w, !gen_pending(l->gens, cc->dataset), w->ud);
	}
	free(cc);
}

/* background: a pending clear resent by the poll, which goes even while
 * Redis is skipped (the poll's success ends the skip) */
static void send_clear(struct l2 *l, uint32_t dataset, bool all, struct l2_clear_wait *w,
		       bool background)
{
	struct clear_cmd *cc = calloc(1, sizeof(*cc));
	char id[16], keep[16];

	if (!cc) {
		if (w)
			w->done(w, false, w->ud);
		return;
	}
	cc->l = l;
	cc->dataset = dataset;
	cc->all = all;
	cc->w = w;
	if (w)
		w->cmd = cc;
	cc->rc.done = on_clear;
	cc->rc.ud = cc;
	cc->rc.background = background;
	snprintf(id, sizeof(id), "%u", dataset);
	snprintf(keep, sizeof(keep), "%d", L2_LOG_MAX);
	redis_command(l->rc, &cc->rc, 6,
		      (const char *[]){"EVAL", CLEAR, "0", l->prefix, all ? "*" : id, keep}, NULL);
}

void l2_clear(struct l2 *l, uint32_t dataset, struct l2_clear_wait *w)
{
	send_clear(l, dataset, false, w, false);
}

void l2_clear_cancel(struct l2_clear_wait *w)
{
	if (w->cmd)
		w->cmd->w = NULL;	/* the clear goes on: it must reach Redis */
	w->cmd = NULL;
}

/* Clears of this host that have not reached Redis yet (a process died, or
 * Redis was away): sent again, by whichever process polls first. */
static void send_pending(struct l2 *l)
{
	size_t cursor = 0;
	uint32_t id;
	bool many;

	while (gen_next_pending(l->gens, &cursor, &id, &many))
		send_clear(l, id, many, NULL, true);
}

/* ---- polling ------------------------------------------------------------------------------------ */

/* One entry of the clear log: "EPOCH ID" or "EPOCH *". */
static bool log_entry(const redisReply *r, uint64_t *epoch, uint64_t *id, bool *all)
{
	const char *sp;

	if (!r || r->type != REDIS_REPLY_STRING || !(sp = memchr(r->str, ' ', r->len)))
		return false;
	*all = (size_t)(sp + 1 - r->str) == r->len - 1 && sp[1] == '*';
	*id = 0;
	return !dec_parse_u64(r->str, (size_t)(sp - r->str), UINT64_MAX, 0, epoch) &&
	       (*all || !dec_parse_u64(sp + 1, r->len - (size_t)(sp + 1 - r->str), UINT32_MAX, 0, id));
}

/* Drops here what was cleared elsewhere in (seen, ep]; false if the log
 * does not cover all of it (trimmed, lost, or garbage). */
static bool apply_log(struct l2 *l, const redisReply *log, uint64_t seen, uint64_t ep)
{
	uint64_t covered = 0, e, id;
	bool all;

	if (!log || log->type != REDIS_REPLY_ARRAY)
		return false;
	for (size_t i = 0; i < log->elements; i++) {
		if (!log_entry(log->element[i], &e, &id, &all))
			return false;
		if (e <= seen || e > ep)
			continue;
		covered++;
		if (all)
			gen_bump_all(l->gens);
		else
			gen_drop(l->gens, (uint32_t)id);
		log_info("redis: %s cleared on another process or host (clear %llu)",
			 all ? "everything" : "a dataset", (unsigned long long)e);
	}
	return covered == ep - seen;
}

/* Redis forgot what it knew (restarted empty, flushed, lost keys): this
 * host cannot know which clears it missed, so it drops everything rather
 * than keep old tiles. */
static void forgotten(struct l2 *l, const char *what, uint64_t inst, uint64_t ep)
{
	log_warn("redis: %s; dropping this host's memory caches", what);
	gen_bump_all(l->gens);
	gen_set_remote_inst(l->gens, inst);
	gen_set_remote_epoch(l->gens, ep);
}

static void on_polled(struct rcmd *c, redisReply *r, enum ap_err e, void *ud)
{
	struct oneway *o = ud;
	struct l2 *l = o->l;
	uint64_t ep, inst, seen = o->seen, known = o->inst;

	(void)c;
	l->polling = false;
	free(o);
	if (e || !r || r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
	    !reply_inst(r->element[0], &inst) || !reply_number(r->element[1], &ep))
		return;
	if (known && inst != known) {
		forgotten(l, "another Redis instance answers (restarted, flushed or replaced)", inst, ep);
		return;
	}
	if (!known)
		gen_set_remote_inst(l->gens, inst);
	if (ep == seen)
		return;
	if (ep < seen) {
		forgotten(l, "the clear epoch went back (keys lost)", inst, ep);
		return;
	}
	/* one process of the host applies (seen, ep]: the one that moves the
	 * host's epoch; the others find it moved and their memory dropped */
	if (gen_raise_remote_epoch(l->gens, ep) &&
	    !apply_log(l, r->elements == 3 ? r->element[2] : NULL, seen, ep)) {
		log_warn("redis: more clears than its log holds since the last look; dropping this "
			 "host's memory caches");
		gen_bump_all(l->gens);
	}
}

static void on_poll(struct ev_timer *t)
{
	struct l2 *l = t->ud;
	char seen[24], known[17];
	struct oneway *o;

	if (ev_timer_start(l->loop, &l->poll, L2_POLL_MS, on_poll, l))
		log_error("redis: cannot arm its poll timer");
	if (l->polling || !(o = calloc(1, sizeof(*o))))
		return;
	send_pending(l);
	o->seen = gen_remote_epoch(l->gens);
	o->inst = gen_remote_inst(l->gens);
	new_inst(l->inst);	/* fresh each time: a restarted Redis gets a new one */
	snprintf(seen, sizeof(seen), "%llu", (unsigned long long)o->seen);
	snprintf(known, sizeof(known), "%016llx", (unsigned long long)o->inst);
	o->l = l;
	o->rc.background = true;
	o->rc.done = on_polled;
	o->rc.ud = o;
	l->polling = true;
	redis_command(l->rc, &o->rc, 7,
		      (const char *[]){"EVAL", POLL, "0", l->prefix, seen, l->inst, known}, NULL);
}

bool l2_writing(const struct l2 *l)
{
	return l && l->nwrites > 0;
}

void l2_get_stats(struct l2 *l, struct l2_stats *s)
{
	struct redis_health h;

	*s = l->st;
	rconn_health(l->rc, &h);
	s->state = h.state;
	s->commands = h.commands;
	s->timeouts = h.timeouts;
	s->openings = h.openings;
	s->cmd_ok = h.outcome[RCMD_OK];
	s->cmd_error = h.outcome[RCMD_ERROR];
	s->cmd_timeout = h.outcome[RCMD_TIMEOUT];
	s->retry_in_ms = h.retry_in_ms;
	if (h.last_error[0])
		snprintf(s->last_error, sizeof(s->last_error), "%s", h.last_error);
}
