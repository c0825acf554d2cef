/*
 * metrics.c - pool-wide metrics in a shared file; see metrics.h.
 *
 * Every slot is the same array of 64-bit cells: counters first, then per
 * histogram and label its buckets (the last one +Inf) and its sum, then the
 * gauges. Buckets are stored apart, not cumulatively, so that an
 * observation costs two increments; the render accumulates them, and a
 * histogram's _count is the sum of its buckets, so the two always agree.
 *
 * Slots are aligned to cache lines: processes on different cores never
 * write the same line. The claim is the only writer of a slot's identity
 * and runs under the file's lock (a flock on a second descriptor of the
 * file, which excludes shm.c's creation lock as well).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>
#include "ap_autoconf.h"
#include "decimal.h"
#include "log.h"
#include "metrics.h"
#include "shm.h"

#define MET_MAGIC "APTMETRC"
#define MET_MAGIC_LEN 8
#define MET_PROC_STAT_MAX 1024	/* /proc/PID/stat is a few hundred bytes */

/* ---- the cell layout ---------------------------------------------------- */
#define REQ_BOUNDS 16		/* 0.1 ms .. 10 s */
#define BATCH_BOUNDS 7		/* 1 .. 100 tiles */
#define HIST_CELLS(nb) ((nb) + 2)	/* buckets, +Inf, sum */

enum {
	C_REQUESTS = 0,
	C_TILES = C_REQUESTS + MET_EP__COUNT * MET_CODE__COUNT,
	C_STORAGE = C_TILES + MET_SRC__COUNT,
	C_REDIS = C_STORAGE + MET_BE__COUNT * MET_OUTCOME__COUNT,
	C_EVICTIONS = C_REDIS + MET_REDIS__COUNT,
	C_PF_QUEUED, C_PF_FETCHED, C_PF_HITS, C_PF_DROPPED,
	C_BREAKER_OPENINGS,
	H_REQUEST = C_BREAKER_OPENINGS + MET_BRK__COUNT,
	H_STORAGE = H_REQUEST + HIST_CELLS(REQ_BOUNDS),
	H_BATCH = H_STORAGE + MET_BE__COUNT * HIST_CELLS(REQ_BOUNDS),
	G_FIRST = H_BATCH + HIST_CELLS(BATCH_BOUNDS),	/* gauges from here on */
	G_CACHE_TILES = G_FIRST, G_CACHE_BYTES, G_CACHE_CAPACITY, G_NEGATIVE, G_PF_QUEUE,
	G_BREAKER_OPEN,
	MET_CELLS = G_BREAKER_OPEN + MET_BRK__COUNT
};

const struct met_dims met_counter_dims[MET_COUNTER__COUNT] = {
	[MET_REQUESTS] = {C_REQUESTS, MET_EP__COUNT, MET_CODE__COUNT},
	[MET_TILES_SERVED] = {C_TILES, MET_SRC__COUNT, 1},
	[MET_STORAGE_REQUESTS] = {C_STORAGE, MET_BE__COUNT, MET_OUTCOME__COUNT},
	[MET_REDIS_COMMANDS] = {C_REDIS, MET_REDIS__COUNT, 1},
	[MET_CACHE_EVICTIONS] = {C_EVICTIONS, 1, 1},
	[MET_PREFETCH_QUEUED] = {C_PF_QUEUED, 1, 1},
	[MET_PREFETCH_FETCHED] = {C_PF_FETCHED, 1, 1},
	[MET_PREFETCH_HITS] = {C_PF_HITS, 1, 1},
	[MET_PREFETCH_DROPPED] = {C_PF_DROPPED, 1, 1},
	[MET_BREAKER_OPENINGS] = {C_BREAKER_OPENINGS, MET_BRK__COUNT, 1},
};

const struct met_dims met_gauge_dims[MET_GAUGE__COUNT] = {
	[MET_CACHE_TILES] = {G_CACHE_TILES, 1, 1},
	[MET_CACHE_BYTES] = {G_CACHE_BYTES, 1, 1},
	[MET_CACHE_CAPACITY_BYTES] = {G_CACHE_CAPACITY, 1, 1},
	[MET_CACHE_NEGATIVE] = {G_NEGATIVE, 1, 1},
	[MET_PREFETCH_QUEUE] = {G_PF_QUEUE, 1, 1},
	[MET_BREAKER_OPEN] = {G_BREAKER_OPEN, MET_BRK__COUNT, 1},
};

/* Upper bounds (inclusive, as Prometheus' le) in the histogram's unit. */
static const uint64_t req_bounds_us[REQ_BOUNDS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000};
static const uint64_t batch_bounds[BATCH_BOUNDS] = {1, 2, 5, 10, 25, 50, 100};

struct met_hist {
	uint16_t base, nlabels, nbounds;
	const uint64_t *bounds;
	bool micro;		/* value in microseconds, rendered in seconds */
};

static const struct met_hist hists[MET_HISTOGRAM__COUNT] = {
	[MET_REQUEST_SECONDS] = {H_REQUEST, 1, REQ_BOUNDS, req_bounds_us, true},
	[MET_STORAGE_SECONDS] = {H_STORAGE, MET_BE__COUNT, REQ_BOUNDS, req_bounds_us, true},
	[MET_BATCH_TILES] = {H_BATCH, 1, BATCH_BOUNDS, batch_bounds, false},
};

/* ---- the shared file --------------------------------------------------- */
struct met_slot {
	int32_t pid;		/* 0: free */
	uint32_t pad;
	uint64_t start;		/* /proc/PID/stat starttime at claim; 0: unknown */
	uint64_t cell[MET_CELLS];
} __attribute__((aligned(64)));

struct met_shm {
	char magic[MET_MAGIC_LEN];
	uint32_t version, nslots, ncells, pad;
	uint64_t started;	/* claims */
	uint64_t reclaimed;	/* claims of a slot whose process died holding it */
	uint64_t overflowed;	/* claims that found no slot */
	struct met_slot overflow;
	struct met_slot slot[METRICS_SLOTS];
};

_Static_assert(__atomic_always_lock_free(sizeof(uint64_t), 0), "64-bit atomics must be lock-free");
_Static_assert(sizeof(struct met_slot) % 64 == 0, "slots fill whole cache lines");

struct metrics_priv {
	struct met_shm *shm;
	struct shm *file;	/* NULL: heap, this process only */
	int slot;		/* -1: the overflow slot */
	bool loss_logged;
	uint64_t last[G_FIRST];	/* metrics_mirror's previous totals */
};

static uint64_t ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void header_init(void *p, size_t size)
{
	struct met_shm *s = p;

	(void)size;
	s->version = METRICS_LAYOUT_VERSION;
	s->nslots = METRICS_SLOTS;
	s->ncells = MET_CELLS;
	memcpy(s->magic, MET_MAGIC, MET_MAGIC_LEN);
}

static bool header_zero(const void *p, size_t size)
{
	static const char zero[MET_MAGIC_LEN];
	const struct met_shm *s = p;

	(void)size;
	return memcmp(s->magic, zero, MET_MAGIC_LEN) == 0 && s->version == 0 && s->nslots == 0 &&
	       s->ncells == 0;
}

static bool header_valid(const void *p, size_t size)
{
	const struct met_shm *s = p;

	(void)size;
	return memcmp(s->magic, MET_MAGIC, MET_MAGIC_LEN) == 0 &&
	       s->version == METRICS_LAYOUT_VERSION && s->nslots == METRICS_SLOTS &&
	       s->ncells == MET_CELLS;
}

static const struct shm_kind met_kind = {header_valid, header_zero, header_init};

/* ---- liveness ------------------------------------------------------------ */

/* Fields 3 (state) and 22 (starttime, clock ticks since boot) of
 * /proc/PID/stat; false if unreadable, with errno ENOENT when the process
 * is gone. The command name (field 2) may hold blanks and parentheses, so
 * fields are counted from the last ')'. */
static bool proc_stat(pid_t pid, char *state, uint64_t *start)
{
	char path[64], text[MET_PROC_STAT_MAX + 1];
	const char *p, *end;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, text, MET_PROC_STAT_MAX);
	close(fd);
	if (n <= 0)
		return errno = EIO, false;
	text[n] = '\0';
	p = strrchr(text, ')');
	if (!p || p[1] != ' ' || !p[2])
		return errno = EINVAL, false;
	*state = p[2];
	for (int field = 2; p && field < 22; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return errno = EINVAL, false;
	end = p + 1 + strcspn(p + 1, " \n");
	if (dec_parse_u64(p + 1, (size_t)(end - p - 1), UINT64_MAX, 0, start))
		return errno = EINVAL, false;
	return true;
}

static bool proc_start(pid_t pid, uint64_t *start)
{
	char state;

	return proc_stat(pid, &state, start);
}

/* The process that claimed a slot still runs: kill(pid, 0) (EPERM means a
 * process of another user has that pid now), then, if a start time was
 * recorded, /proc: not a zombie (killed, not yet reaped by the web
 * server), and started when the claimer did (not a reused pid). */
static bool slot_alive(pid_t pid, uint64_t start)
{
	uint64_t now;
	char state;

	if (pid <= 0 || kill(pid, 0) != 0)
		return false;
	if (start == 0)
		return true;
	if (!proc_stat(pid, &state, &now))
		return errno != ENOENT;	/* no /proc here: kill's answer stands */
	return now == start && state != 'Z' && state != 'X';
}

/* ---- claiming a slot ----------------------------------------------------- */

static void slot_take(struct met_slot *s, pid_t pid, uint64_t start)
{
	for (int c = G_FIRST; c < MET_CELLS; c++)
		__atomic_store_n(&s->cell[c], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->start, start, __ATOMIC_RELAXED);
	/* release: whoever sees the new pid sees its start and zeroed gauges */
	__atomic_store_n(&s->pid, pid, __ATOMIC_RELEASE);
}

/* Under the lock: the first slot that is free or whose process is dead
 * (so the file stays compact and a respawn after a crash takes the dead
 * process's slot); -1 if every slot is held by a live process. */
static int slot_claim(struct met_shm *s, pid_t pid, uint64_t start)
{
	for (int i = 0; i < METRICS_SLOTS; i++) {
		struct met_slot *sl = &s->slot[i];
		pid_t holder = __atomic_load_n(&sl->pid, __ATOMIC_ACQUIRE);

		if (holder != 0 && slot_alive(holder, ld(&sl->start)))
			continue;
		if (holder != 0)
			__atomic_fetch_add(&s->reclaimed, 1, __ATOMIC_RELAXED);
		slot_take(sl, pid, start);
		return i;
	}
	return -1;
}

/* Runs slot_claim under the file's lock (waited on as briefly as shm.c does). */
static enum ap_err claim_locked(const char *path, struct metrics_priv *p, char *why,
				size_t whylen)
{
	struct timespec ts = {0, SHM_LOCK_WAIT_MS * 1000000L};
	pid_t pid = getpid();
	uint64_t start = 0;
	int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC), i;

	if (fd < 0) {
		snprintf(why, whylen, "%s: cannot open: %s", path, strerror(errno));
		return AP_ERR_IO;
	}
	for (i = 0; i < SHM_LOCK_TRIES && flock(fd, LOCK_EX | LOCK_NB) != 0; i++) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			snprintf(why, whylen, "%s: cannot lock: %s", path, strerror(errno));
			close(fd);
			return AP_ERR_IO;
		}
		nanosleep(&ts, NULL);
	}
	if (i == SHM_LOCK_TRIES) {
		snprintf(why, whylen, "%s: locked by another process for over %d ms", path,
			 SHM_LOCK_TRIES * SHM_LOCK_WAIT_MS);
		close(fd);
		return AP_ERR_UNAVAILABLE;
	}
	if (!proc_start(pid, &start))
		start = 0;
	p->slot = slot_claim(p->shm, pid, start);
	__atomic_fetch_add(p->slot < 0 ? &p->shm->overflowed : &p->shm->started, 1,
			   __ATOMIC_RELAXED);
	flock(fd, LOCK_UN);
	close(fd);
	return AP_OK;
}

/* A handle and its private part, before anything is mapped. */
static struct metrics *handle_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m && !(m->priv = calloc(1, sizeof(*m->priv)))) {
		free(m);
		m = NULL;
	}
	return m;
}

/* Points the handle at the slot it claimed. */
static void handle_bind(struct metrics *m)
{
	struct metrics_priv *p = m->priv;

	m->own_slot = p->slot >= 0;
	m->cells = m->own_slot ? p->shm->slot[p->slot].cell : p->shm->overflow.cell;
}

enum ap_err metrics_open(const char *dir, const char *name, struct metrics **out, char *why,
			 size_t whylen)
{
	char path[SHM_PATH_MAX];
	struct metrics *m = handle_new();
	struct metrics_priv *p;
	enum ap_err e;

	*out = NULL;
	if (!m)
		return AP_ERR_NOMEM;
	p = m->priv;
	e = shm_open_map(dir, name, sizeof(struct met_shm), &met_kind, &p->file, why, whylen);
	if (e)
		goto fail;
	p->shm = shm_base(p->file);
	snprintf(path, sizeof(path), "%s/%s", dir, name);	/* shm_open_map checked its length */
	if ((e = claim_locked(path, p, why, whylen)))
		goto fail;
	if (p->slot < 0)
		log_warn("metrics: all %d slots of %s are held by live processes: this process "
			 "counts into the shared overflow slot and its gauges are not reported",
			 METRICS_SLOTS, path);
	handle_bind(m);
	*out = m;
	return AP_OK;
fail:
	if (p->file)
		shm_close(p->file);
	free(p);
	free(m);
	return e;
}

struct metrics *metrics_open_private(void)
{
	struct metrics *m = handle_new();
	struct metrics_priv *p;

	if (!m)
		return NULL;
	p = m->priv;
	if (!(p->shm = calloc(1, sizeof(*p->shm)))) {
		free(p);
		free(m);
		return NULL;
	}
	header_init(p->shm, sizeof(*p->shm));
	p->slot = 0;
	slot_take(&p->shm->slot[0], getpid(), 0);
	p->shm->started = 1;
	handle_bind(m);
	return m;
}

void metrics_close(struct metrics *m)
{
	struct metrics_priv *p;

	if (!m)
		return;
	p = m->priv;
	if (p->slot >= 0) {
		struct met_slot *s = &p->shm->slot[p->slot];

		for (int c = G_FIRST; c < MET_CELLS; c++)
			__atomic_store_n(&s->cell[c], 0, __ATOMIC_RELAXED);
		__atomic_store_n(&s->pid, 0, __ATOMIC_RELEASE);
	}
	if (p->file)
		shm_close(p->file);
	else
		free(p->shm);
	free(p);
	free(m);
}

bool metrics_shared(struct metrics *m)
{
	struct metrics_priv *p;

	if (!m || !m->priv->file)
		return false;
	p = m->priv;
	if (!shm_lost(p->file))
		return true;
	if (!p->loss_logged) {
		p->loss_logged = true;
		log_error("the shared metrics file was truncated under this process: /metrics now "
			  "shows only what this process counts (restart the pool to share again)");
	}
	return false;
}

/* ---- counting ------------------------------------------------------------- */

void metrics_observe(struct metrics *m, enum met_histogram hid, unsigned a, uint64_t v)
{
	const struct met_hist *h = &hists[hid];
	uint64_t *c;
	unsigned i = 0;

	if (!m || a >= h->nlabels)
		return;
	c = m->cells + h->base + a * HIST_CELLS(h->nbounds);
	while (i < h->nbounds && v > h->bounds[i])
		i++;
	__atomic_fetch_add(&c[i], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c[h->nbounds + 1], v, __ATOMIC_RELAXED);
}

void metrics_mirror(struct metrics *m, enum met_counter c, unsigned a, unsigned b,
		    uint64_t total)
{
	const struct met_dims *d = &met_counter_dims[c];
	unsigned idx;
	uint64_t *last;

	if (!m || a >= d->n1 || b >= d->n2)
		return;
	idx = d->base + a * d->n2 + b;
	last = &m->priv->last[idx];
	if (total > *last)
		__atomic_fetch_add(&m->cells[idx], total - *last, __ATOMIC_RELAXED);
	*last = total;
}

enum met_code metrics_code(int status)
{
	if (status >= 500)
		return MET_5XX;
	if (status >= 400)
		return MET_4XX;
	if (status >= 300)
		return MET_3XX;
	return MET_2XX;
}

/* ---- reading ---------------------------------------------------------------- */

/* The pool at one moment (give or take concurrent increments). */
struct met_view {
	uint64_t cell[MET_CELLS];	/* gauges: summed over live slots */
	uint64_t queue_longest;
	unsigned alive;
	uint64_t started, reclaimed, overflowed;
};

static void view_add_slot(struct met_view *v, const struct met_slot *s, bool alive)
{
	for (int c = 0; c < G_FIRST; c++)
		v->cell[c] += ld(&s->cell[c]);
	if (!alive)
		return;
	for (int c = G_FIRST; c < MET_CELLS; c++)
		v->cell[c] += ld(&s->cell[c]);
	if (ld(&s->cell[G_PF_QUEUE]) > v->queue_longest)
		v->queue_longest = ld(&s->cell[G_PF_QUEUE]);
	v->alive++;
}

static void view_read(struct metrics *m, struct met_view *v)
{
	const struct met_shm *s = m->priv->shm;

	memset(v, 0, sizeof(*v));
	for (int i = 0; i < METRICS_SLOTS; i++) {
		const struct met_slot *sl = &s->slot[i];
		pid_t pid = __atomic_load_n(&sl->pid, __ATOMIC_ACQUIRE);
		view_add_slot(v, sl, slot_alive(pid, ld(&sl->start)));
	}
	view_add_slot(v, &s->overflow, false);
	v->started = ld(&s->started);
	v->reclaimed = ld(&s->reclaimed);
	v->overflowed = ld(&s->overflowed);
}

uint64_t metrics_total(struct metrics *m, enum met_counter c, unsigned a, unsigned b)
{
	const struct met_dims *d = &met_counter_dims[c];
	const struct met_shm *s;
	unsigned idx;
	uint64_t sum;

	if (!m || a >= d->n1 || b >= d->n2)
		return 0;
	s = m->priv->shm;
	idx = d->base + a * d->n2 + b;
	sum = ld(&s->overflow.cell[idx]);
	for (int i = 0; i < METRICS_SLOTS; i++)
		sum += ld(&s->slot[i].cell[idx]);
	return sum;
}

unsigned metrics_processes_alive(struct metrics *m)
{
	const struct met_shm *s;
	unsigned n = 0;

	if (!m)
		return 0;
	s = m->priv->shm;
	for (int i = 0; i < METRICS_SLOTS; i++)
		n += slot_alive(__atomic_load_n(&s->slot[i].pid, __ATOMIC_ACQUIRE),
				ld(&s->slot[i].start));
	return n;
}

/* ---- rendering ---------------------------------------------------------------- */

static const char *const endpoint_names[MET_EP__COUNT] = {
	"tile", "batch", "info", "stats", "clear", "prefetch", "health", "metrics", "other"};
static const char *const code_names[MET_CODE__COUNT] = {"2xx", "3xx", "4xx", "5xx"};
static const char *const source_names[MET_SRC__COUNT] = {"memory", "redis", "r2", "local"};
static const char *const backend_names[MET_BE__COUNT] = {"r2", "local"};
static const char *const outcome_names[MET_OUTCOME__COUNT] = {
	"ok", "not_found", "error", "timeout"};
static const char *const redis_names[MET_REDIS__COUNT] = {"ok", "miss", "error", "timeout"};
static const char *const breaker_names[MET_BRK__COUNT] = {"bucket", "redis"};

enum fam_kind { FAM_COUNTER, FAM_GAUGE, FAM_HISTOGRAM };

/* One metric family: cells [base ...) indexed by up to two labels. */
struct family {
	const char *name, *help;
	enum fam_kind kind;
	unsigned base;		/* cell, or histogram id */
	const char *l1;
	const char *const *v1;
	unsigned n1;
	const char *l2;
	const char *const *v2;
	unsigned n2;
};

#define NOLABEL NULL, NULL, 1
#define LABEL(name, values) name, values, sizeof(values) / sizeof(values[0])

static const struct family families[] = {
	{"astropixel_requests_total", "Requests answered, by endpoint and status class.",
	 FAM_COUNTER, C_REQUESTS, LABEL("endpoint", endpoint_names), LABEL("code", code_names)},
	{"astropixel_tiles_served_total", "Tiles delivered (single or in a batch), by where "
	 "they came from.", FAM_COUNTER, C_TILES, LABEL("source", source_names), NOLABEL},
	{"astropixel_storage_requests_total", "Object requests to storage, by back-end and "
	 "outcome.", FAM_COUNTER, C_STORAGE, LABEL("backend", backend_names),
	 LABEL("outcome", outcome_names)},
	{"astropixel_redis_commands_total", "Redis commands, by outcome.", FAM_COUNTER, C_REDIS,
	 LABEL("outcome", redis_names), NOLABEL},
	{"astropixel_request_duration_seconds", "Time from a request's arrival to its answer.",
	 FAM_HISTOGRAM, MET_REQUEST_SECONDS, NOLABEL, NOLABEL},
	{"astropixel_storage_request_duration_seconds", "Time of one object request to storage, "
	 "retries included.", FAM_HISTOGRAM, MET_STORAGE_SECONDS, LABEL("backend", backend_names),
	 NOLABEL},
	{"astropixel_batch_tiles", "Tiles asked for per batch request.", FAM_HISTOGRAM,
	 MET_BATCH_TILES, NOLABEL, NOLABEL},
	{"astropixel_cache_tiles", "Tiles in the memory caches of the live processes.", FAM_GAUGE,
	 G_CACHE_TILES, NOLABEL, NOLABEL},
	{"astropixel_cache_bytes", "Bytes held by the memory caches of the live processes "
	 "(entry overhead included).", FAM_GAUGE, G_CACHE_BYTES, NOLABEL, NOLABEL},
	{"astropixel_cache_capacity_bytes", "Byte bound of the memory caches of the live "
	 "processes.", FAM_GAUGE, G_CACHE_CAPACITY, NOLABEL, NOLABEL},
	{"astropixel_cache_negative_entries", "Tiles remembered as absent from storage.",
	 FAM_GAUGE, G_NEGATIVE, NOLABEL, NOLABEL},
	{"astropixel_cache_evictions_total", "Tiles evicted from memory caches to make room.",
	 FAM_COUNTER, C_EVICTIONS, NOLABEL, NOLABEL},
	{"astropixel_prefetch_queue_length", "Tiles waiting in the prefetch queues of the live "
	 "processes.", FAM_GAUGE, G_PF_QUEUE, NOLABEL, NOLABEL},
	{"astropixel_prefetch_queued_total", "Tiles queued for prefetch.", FAM_COUNTER,
	 C_PF_QUEUED, NOLABEL, NOLABEL},
	{"astropixel_prefetch_fetched_total", "Tiles fetched by prefetch.", FAM_COUNTER,
	 C_PF_FETCHED, NOLABEL, NOLABEL},
	{"astropixel_prefetch_hits_total", "Requests answered by a tile that prefetch brought.",
	 FAM_COUNTER, C_PF_HITS, NOLABEL, NOLABEL},
	{"astropixel_prefetch_dropped_total", "Queued prefetch tiles given up (queue full).",
	 FAM_COUNTER, C_PF_DROPPED, NOLABEL, NOLABEL},
	{"astropixel_breaker_openings_total", "Times a circuit breaker opened, by service.",
	 FAM_COUNTER, C_BREAKER_OPENINGS, LABEL("breaker", breaker_names), NOLABEL},
	{"astropixel_breaker_open_processes", "Live processes that skip a service now (breaker "
	 "open or half-open).", FAM_GAUGE, G_BREAKER_OPEN, LABEL("breaker", breaker_names),
	 NOLABEL},
};

/* Appends to out until the first error, which it keeps. */
struct sink_text {
	struct buf *out;
	enum ap_err err;
};

static void emit(struct sink_text *t, const char *fmt, ...) AP_PRINTF(2, 3);
static void emit(struct sink_text *t, const char *fmt, ...)
{
	va_list ap;

	if (t->err)
		return;
	va_start(ap, fmt);
	t->err = buf_vprintf(t->out, fmt, ap);
	va_end(ap);
}

static void emit_header(struct sink_text *t, const char *name, const char *help,
			const char *type)
{
	emit(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A microsecond count as decimal seconds without trailing zeros ("0.00025"). */
static void seconds_text(uint64_t us, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%" PRIu64 ".%06" PRIu64, us / 1000000, us % 1000000);

	while (n > 0 && out[n - 1] == '0')
		out[--n] = '\0';
	if (n > 0 && out[n - 1] == '.')
		out[--n] = '\0';
}

/* Appends to out[0..cap) at *n; a text that does not fit is cut, never
 * overrun (the label sets are closed and short: it always fits). */
static void add_text(char *out, size_t cap, size_t *n, const char *fmt, ...) AP_PRINTF(4, 5);
static void add_text(char *out, size_t cap, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(out + *n, cap - *n, fmt, ap);
	va_end(ap);
	if (r > 0)
		*n = *n + (size_t)r < cap ? *n + (size_t)r : cap - 1;
}

/* {a="x",b="y"} for label indices i, j of f, plus extra (le=...) if given. */
static void labels_text(const struct family *f, unsigned i, unsigned j, const char *extra,
			char *out, size_t cap)
{
	size_t n = 0;

	out[0] = '\0';
	if (!f->l1 && !extra)
		return;
	add_text(out, cap, &n, "{");
	if (f->l1)
		add_text(out, cap, &n, "%s=\"%s\"", f->l1, f->v1[i]);
	if (f->l2)
		add_text(out, cap, &n, ",%s=\"%s\"", f->l2, f->v2[j]);
	if (extra)
		add_text(out, cap, &n, "%s%s", f->l1 ? "," : "", extra);
	add_text(out, cap, &n, "}");
}

static void emit_histogram(struct sink_text *t, const struct family *f, const struct met_view *v)
{
	const struct met_hist *h = &hists[f->base];
	char labels[160], le[48], num[32];

	for (unsigned a = 0; a < f->n1; a++) {
		const uint64_t *c = v->cell + h->base + a * HIST_CELLS(h->nbounds);
		uint64_t cum = 0;

		for (unsigned b = 0; b <= h->nbounds; b++) {
			cum += c[b];
			if (b == h->nbounds)
				snprintf(num, sizeof(num), "+Inf");
			else if (h->micro)
				seconds_text(h->bounds[b], num, sizeof(num));
			else
				snprintf(num, sizeof(num), "%" PRIu64, h->bounds[b]);
			snprintf(le, sizeof(le), "le=\"%s\"", num);
			labels_text(f, a, 0, le, labels, sizeof(labels));
			emit(t, "%s_bucket%s %" PRIu64 "\n", f->name, labels, cum);
		}
		labels_text(f, a, 0, NULL, labels, sizeof(labels));
		if (h->micro)
			emit(t, "%s_sum%s %" PRIu64 ".%06" PRIu64 "\n", f->name, labels,
			     c[h->nbounds + 1] / 1000000, c[h->nbounds + 1] % 1000000);
		else
			emit(t, "%s_sum%s %" PRIu64 "\n", f->name, labels, c[h->nbounds + 1]);
		emit(t, "%s_count%s %" PRIu64 "\n", f->name, labels, cum);
	}
}

static void emit_family(struct sink_text *t, const struct family *f, const struct met_view *v)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};
	char labels[160];

	emit_header(t, f->name, f->help, types[f->kind]);
	if (f->kind == FAM_HISTOGRAM) {
		emit_histogram(t, f, v);
		return;
	}
	for (unsigned i = 0; i < f->n1; i++)
		for (unsigned j = 0; j < f->n2; j++) {
			labels_text(f, i, j, NULL, labels, sizeof(labels));
			emit(t, "%s%s %" PRIu64 "\n", f->name, labels, v->cell[f->base + i * f->n2 + j]);
		}
}

/* The values that are not cells of a slot. */
static void emit_pool(struct sink_text *t, const struct met_view *v)
{
	emit_header(t, "astropixel_prefetch_queue_longest", "The longest prefetch queue of one "
		    "live process (each is bounded by PREFETCH_QUEUE_MAX).", "gauge");
	emit(t, "astropixel_prefetch_queue_longest %" PRIu64 "\n", v->queue_longest);
	emit_header(t, "astropixel_processes_alive", "Processes of the pool that hold a metrics "
		    "slot and run.", "gauge");
	emit(t, "astropixel_processes_alive %u\n", v->alive);
	emit_header(t, "astropixel_processes_started_total", "Processes that joined the pool's "
		    "metrics.", "counter");
	emit(t, "astropixel_processes_started_total %" PRIu64 "\n", v->started + v->overflowed);
	emit_header(t, "astropixel_processes_reclaimed_total", "Slots taken over from processes "
		    "that died without closing them (killed or crashed).", "counter");
	emit(t, "astropixel_processes_reclaimed_total %" PRIu64 "\n", v->reclaimed);
	emit_header(t, "astropixel_metrics_slot_overflows_total", "Processes that found every "
		    "metrics slot held and count into the shared overflow slot.", "counter");
	emit(t, "astropixel_metrics_slot_overflows_total %" PRIu64 "\n", v->overflowed);
	emit_header(t, "astropixel_build_info", "The version of astropixel-tiles that answers.",
		    "gauge");
	emit(t, "astropixel_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
}

enum ap_err metrics_render(struct metrics *m, struct buf *out)
{
	struct sink_text t = {out, AP_OK};
	struct met_view v;
	size_t len0 = out->len;

	if (!m)
		return AP_ERR_INTERNAL;
	(void)metrics_shared(m);	/* logs a lost map once */
	view_read(m, &v);
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		emit_family(&t, &families[i], &v);
	emit_pool(&t, &v);
	if (t.err) {
		out->len = len0;	/* never half a document */
		if (out->data)
			out->data[len0] = '\0';
	}
	return t.err;
}
