/*
 * upload_webp.c - the WebP variants of a dataset's JPEG and PNG tiles
 * (issue 19), made at upload time and written beside their sources, so that
 * the local tree and the bucket hold them like any other tile: the scan's
 * list gains them, the index lists them, the plan skips them by ETag.
 *
 * Which tiles: every key y.jpg (a file y.jpg or y.jpeg) and every y.png
 * without a y.jpg; the variant is y.webp (webp_variant.h: lossless from a
 * PNG, lossy from a JPEG at the lowest quality keeping SSIM, or a fixed
 * quality). A variant is kept only if it meets the SSIM threshold and is
 * smaller than its source; else there is no y.webp and the index says so.
 *
 * Ours and theirs. A variant we make carries one extra RIFF chunk, "APSY"
 * (UPLOAD_WEBP_MARK_BYTES bytes of payload, 50 bytes with the chunk header
 * and the VP8X header it needs): a version, the source's format, the
 * options that matter for it, and the MD5 of the source. Decoders skip
 * unknown chunks (the WebP container specification says they must), and
 * the pixels are untouched. So:
 *   - a y.webp without the chunk was not made by us: it is never
 *     overwritten nor removed, and is uploaded as it is;
 *   - ours, with the source's MD5 and today's options: up to date, not
 *     encoded again (a second run reads each source and variant once and
 *     encodes nothing; a new libwebp does not re-encode the tree either);
 *   - ours but stale: made again, or removed if the new one is refused;
 *   - ours with no source left: removed.
 * The mark travels with the file (a tree copied or restored from the
 * bucket keeps it), which a list kept beside the tree would not.
 *
 * Refusals are remembered in LOCAL_STORAGE_DIR/.astropixel-sync/{id}.webp-
 * refused (source key, its MD5, why), so that a tile whose variant was not
 * smaller is not encoded again on every run while its source and the
 * options stay the same. The file is a cache, outside the layout the
 * bucket mirrors: lost or unreadable, it only costs encoding time.
 *
 * Parallelism: one job per source tile, taken by `webp_jobs` threads from a
 * shared counter (each reads, hashes, checks and encodes; ~65 ms of CPU for
 * a searched JPEG, nothing for an up-to-date one). Threads only touch their
 * own job and the files of its tile; the main thread shows progress, turns
 * the stop flag into a stop for the threads, and afterwards applies the
 * results to the dataset's list and reports them. Memory: each thread holds
 * one source, one variant and two decoded images (at most 4 MiB + 4 MiB +
 * 2 x 16 MiB for the largest tile imgdecode.h accepts).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <webp/mux.h>
#include "clock.h"
#include "hex.h"
#include "tilekey.h"
#include "upload.h"
#include "upload_int.h"
#include "webp_variant.h"

#define UPLOAD_WEBP_MARK_FOURCC "APSY"
#define UPLOAD_WEBP_MARK_BYTES 24
#define UPLOAD_WEBP_MARK_VERSION 1
#define UPLOAD_WEBP_MEMO_DIR ".astropixel-sync"
#define UPLOAD_WEBP_MEMO_MAX_BYTES (16u * 1024 * 1024)	/* about 300 000 refusals */
#define UPLOAD_WEBP_OPTS_MAX 32		/* "s9800 q0 m4 l6" */
#define NO_FILE ((size_t)-1)

enum outcome {
	O_NONE,			/* not done: stopped */
	O_MADE, O_FRESH, O_HANDMADE, O_NOT_SMALLER, O_BELOW_SSIM, O_UNREADABLE,
	O_REMEMBERED, O_REMOVED, O_FAILED, O_WOULD_MAKE,
};
/* Why a variant was refused, as the memo spells it (indexed by outcome). */
static const char *const refusal_name[] = {
	[O_NOT_SMALLER] = "not-smaller", [O_BELOW_SSIM] = "below-ssim",
	[O_UNREADABLE] = "unreadable",
};

struct vjob {			/* one source tile (or one orphan variant) */
	size_t src;		/* in d->local: the JPEG or PNG, NO_FILE for an orphan */
	size_t webp;		/* in d->local: its y.webp, or NO_FILE */
	char webp_key[UPLOAD_ID_KEY_MAX];
	uint8_t outcome;	/* enum outcome */
	uint8_t remembered_as;	/* O_REMEMBERED: the refusal the memo names */
	bool removed;		/* an old variant of ours was deleted locally */
	bool src_failed;	/* O_FAILED reading the source: its own PUT will say why */
	unsigned char md5[UPLOAD_MD5_RAW];	/* of the source */
	size_t orig_len, webp_len;
	int quality, encodes;
	double ssim;
	long long us;
	char why[UPLOAD_WHY_MAX];	/* O_FAILED, O_UNREADABLE */
};

struct memo_entry {
	char spec[TILE_SPEC_MAX + 1];	/* "z/x/y.ext" of the source key */
	unsigned char md5[UPLOAD_MD5_RAW];
	uint8_t why;		/* enum outcome: O_NOT_SMALLER, O_BELOW_SSIM, O_UNREADABLE */
};

struct memo {
	struct memo_entry *e;
	size_t n;
	char opts[UPLOAD_WEBP_OPTS_MAX];	/* the options it was made with */
};

struct vrun {			/* one dataset's variants */
	struct upload *u;
	struct upload_dataset *d;
	const struct webp_opts *o;
	struct vjob *jobs;
	size_t n;
	struct memo memo;
	atomic_size_t next, done;
	atomic_bool stop;
	size_t prefix_len;	/* of "tiles/{id}/" */
};

bool upload_webp_supported(void)
{
	return true;
}

/* ---- the mark ------------------------------------------------------------------- */

/* The payload a variant of this source (format f, MD5 md5) carries with options o:
 * only the options that shape its bytes, so a change of the SSIM threshold does not
 * remake the lossless variants. */
static void mark_payload(enum tile_fmt f, const unsigned char md5[UPLOAD_MD5_RAW],
			 const struct webp_opts *o, unsigned char out[UPLOAD_WEBP_MARK_BYTES])
{
	unsigned ssim = (unsigned)(o->ssim_min * 10000.0 + 0.5);

	memset(out, 0, UPLOAD_WEBP_MARK_BYTES);
	out[0] = UPLOAD_WEBP_MARK_VERSION;
	out[1] = f == FMT_PNG ? 'p' : 'j';
	if (f == FMT_PNG) {
		out[7] = (unsigned char)o->lossless_level;
	} else {	/* the threshold too: with a fixed quality it decides what is kept */
		out[2] = o->quality == WEBP_QUALITY_SEARCH ? 0 : 1;
		out[3] = (unsigned char)o->quality;
		out[4] = (unsigned char)(ssim & 0xff);
		out[5] = (unsigned char)(ssim >> 8);
		out[6] = (unsigned char)o->method;
	}
	memcpy(out + 8, md5, UPLOAD_MD5_RAW);
}

/* The file p[0..n) with our chunk added (VP8X container); WebPDataClear(out). */
static enum ap_err mark(const uint8_t *p, size_t n, const unsigned char *payload,
			WebPData *out)
{
	WebPData in = {p, n}, chunk = {payload, UPLOAD_WEBP_MARK_BYTES};
	WebPMux *mux = WebPMuxCreate(&in, 0);
	enum ap_err e = AP_ERR_INTERNAL;

	WebPDataInit(out);
	if (!mux)
		return e;
	if (WebPMuxSetChunk(mux, UPLOAD_WEBP_MARK_FOURCC, &chunk, 1) == WEBP_MUX_OK &&
	    WebPMuxAssemble(mux, out) == WEBP_MUX_OK)
		e = AP_OK;
	WebPMuxDelete(mux);
	return e;
}

/* Is p[0..n) a WebP file of ours? Its mark into payload. */
static bool read_mark(const uint8_t *p, size_t n, unsigned char payload[UPLOAD_WEBP_MARK_BYTES])
{
	WebPData in = {p, n}, chunk;
	WebPMux *mux = WebPMuxCreate(&in, 0);
	bool ours;

	if (!mux)
		return false;
	ours = WebPMuxGetChunk(mux, UPLOAD_WEBP_MARK_FOURCC, &chunk) == WEBP_MUX_OK &&
	       chunk.size == UPLOAD_WEBP_MARK_BYTES && chunk.bytes[0] == UPLOAD_WEBP_MARK_VERSION;
	if (ours)
		memcpy(payload, chunk.bytes, UPLOAD_WEBP_MARK_BYTES);
	WebPMuxDelete(mux);
	return ours;
}

/* ---- the memo of refusals ------------------------------------------------------- */

static void opts_text(const struct webp_opts *o, char *out, size_t cap)
{
	upload_text(out, cap, "s%u q%d m%d l%d", (unsigned)(o->ssim_min * 10000.0 + 0.5),
		    o->quality, o->method, o->lossless_level);
}

static bool memo_path(const struct vrun *r, char *out, size_t cap, bool tmp)
{
	char rel[UPLOAD_ID_KEY_MAX];

	snprintf(rel, sizeof(rel), UPLOAD_WEBP_MEMO_DIR "/%s%u.webp-refused%s", tmp ? "." : "",
		 r->d->id, tmp ? ".tmp" : "");
	return upload_path_of(r->u, rel, out, cap);
}

static int cmp_memo(const void *a, const void *b)
{
	return strcmp(((const struct memo_entry *)a)->spec, ((const struct memo_entry *)b)->spec);
}

/* One line "z/x/y.ext md5hex reason"; false if it is not exactly that. */
static bool memo_line(const char *s, size_t n, struct memo_entry *e)
{
	const char *sp = memchr(s, ' ', n), *sp2;
	struct tilekey k;
	size_t sl, rl;

	if (!sp || (sl = (size_t)(sp - s)) > TILE_SPEC_MAX || tk_parse_spec(s, sl, &k) ||
	    (size_t)(s + n - sp) < 2 + UPLOAD_MD5_HEX || sp[1 + UPLOAD_MD5_HEX] != ' ')
		return false;
	memcpy(e->spec, s, sl);
	e->spec[sl] = '\0';
	for (size_t i = 0; i < UPLOAD_MD5_RAW; i++) {
		unsigned v = 0;
		for (size_t j = 0; j < 2; j++) {
			char c = sp[1 + 2 * i + j];
			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
				return false;
			v = v * 16 + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
		}
		e->md5[i] = (unsigned char)v;
	}
	sp2 = sp + 1 + UPLOAD_MD5_HEX + 1;
	rl = (size_t)(s + n - sp2);
	for (unsigned w = O_NOT_SMALLER; w <= O_UNREADABLE; w++)
		if (strlen(refusal_name[w]) == rl && !memcmp(sp2, refusal_name[w], rl)) {
			e->why = (uint8_t)w;
			return true;
		}
	return false;
}

/* Parses the memo text t[0..n); false (and nothing kept) if any line is off. */
static bool memo_parse(struct memo *m, char *t, size_t n, const char *opts)
{
	char head[UPLOAD_WEBP_OPTS_MAX + 16];
	size_t lines = 0, cap;
	char *p = t, *end = t + n;

	snprintf(head, sizeof(head), "options %s\n", opts);
	if (n < strlen(head) || memcmp(t, head, strlen(head)))
		return false;	/* other options: every refusal is tried again */
	p += strlen(head);
	for (char *q = p; q < end; q++)
		lines += *q == '\n';
	cap = lines ? lines : 1;
	if (!(m->e = calloc(cap, sizeof(*m->e))))
		return false;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl || m->n == cap || !memo_line(p, (size_t)(nl - p), &m->e[m->n]))
			return false;
		m->n++;
		p = nl + 1;
	}
	qsort(m->e, m->n, sizeof(*m->e), cmp_memo);
	return true;
}

/* Loads the memo, if it exists and was made with these options. */
static void memo_load(struct vrun *r)
{
	char path[UPLOAD_PATH_MAX], why[UPLOAD_WHY_MAX];
	unsigned char *t = NULL;
	struct stat st;
	size_t n = 0;

	opts_text(r->o, r->memo.opts, sizeof(r->memo.opts));
	if (!memo_path(r, path, sizeof(path), false) ||
	    upload_slurp(path, UPLOAD_WEBP_MEMO_MAX_BYTES, &t, &n, &st, why, sizeof(why)))
		return;
	if (!memo_parse(&r->memo, (char *)t, n, r->memo.opts)) {
		free(r->memo.e);
		r->memo.e = NULL;
		r->memo.n = 0;
	}
	free(t);
}

static const struct memo_entry *memo_find(const struct memo *m, const char *spec)
{
	struct memo_entry key;

	if (!m->n || strlen(spec) > TILE_SPEC_MAX)
		return NULL;
	snprintf(key.spec, sizeof(key.spec), "%s", spec);
	return bsearch(&key, m->e, m->n, sizeof(*m->e), cmp_memo);
}

/* ---- one job -------------------------------------------------------------------- */

static const char *spec_of(const struct vrun *r, const char *key)
{
	return key + r->prefix_len;
}

/* path of key under local_dir, and the temporary name beside it (".y.webp.tmp"). */
static bool paths_of(const struct vrun *r, const char *key, char *path, char *tmp, size_t cap)
{
	const char *slash = strrchr(key, '/');
	char rel[UPLOAD_ID_KEY_MAX + 8];

	snprintf(rel, sizeof(rel), "%.*s.%s.tmp", (int)(slash + 1 - key), key, slash + 1);
	return upload_path_of(r->u, key, path, cap) && upload_path_of(r->u, rel, tmp, cap);
}

/* Moves tmp to path; unless replace, only if path does not exist (EEXIST). */
static int put_in_place(const char *tmp, const char *path, bool replace)
{
	if (replace)
		return rename(tmp, path);
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (link(tmp, path) != 0)	/* a file system without RENAME_NOREPLACE */
		return -1;
	unlink(tmp);
	return 0;
}

/*
 * path gets p[0..n) whole or not at all (a temporary file beside it, then a
 * rename). A new variant (replace false) never takes the place of a file
 * that appeared since the scan: that one is someone else's, and *exists
 * says so.
 */
static enum ap_err write_variant(const char *path, const char *tmp, const uint8_t *p, size_t n,
				 bool replace, bool *exists, char *why, size_t whylen)
{
	int fd;
	size_t off = 0;

	*exists = false;
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		goto fail;
	while (off < n) {
		ssize_t w = write(fd, p + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		off += (size_t)w;
	}
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (put_in_place(tmp, path, replace) != 0) {
		*exists = errno == EEXIST;
		goto fail;
	}
	return AP_OK;
fail:
	snprintf(why, whylen, "cannot write %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return AP_ERR_IO;
}

/* Encodes the source body[0..len) of job j, keeps or refuses the variant. */
static void encode_job(struct vrun *r, struct vjob *j, const unsigned char *body, size_t len,
		       enum tile_fmt f, bool stale_ours)
{
	char path[UPLOAD_PATH_MAX], tmp[UPLOAD_PATH_MAX];
	unsigned char payload[UPLOAD_WEBP_MARK_BYTES];
	struct webp_variant v;
	WebPData marked;
	enum ap_err e = webp_variant_make(body, len, r->o, &v);

	if (e == AP_ERR_BAD_REQUEST || e == AP_ERR_TOO_LARGE) {
		j->outcome = O_UNREADABLE;
		upload_text(j->why, sizeof(j->why), "the source does not decode as an 8-bit "
			    "JPEG or PNG (%s)", ap_err_str(e));
	} else if (e) {
		j->outcome = O_FAILED;
		upload_text(j->why, sizeof(j->why), "encoding failed (%s)", ap_err_str(e));
		return;
	}
	if (!e) {
		j->quality = v.quality;
		j->ssim = v.ssim;
		j->encodes = v.encodes;
		j->us = v.encode_us;
		mark_payload(f, j->md5, r->o, payload);
		if (mark(v.data, v.len, payload, &marked)) {
			j->outcome = O_FAILED;
			snprintf(j->why, sizeof(j->why), "cannot add the ownership chunk (libwebpmux)");
			webp_variant_free(&v);
			return;
		}
		j->webp_len = marked.size;
		j->outcome = !v.meets_ssim ? O_BELOW_SSIM : marked.size >= len ? O_NOT_SMALLER : O_MADE;
		webp_variant_free(&v);
	}
	if (!paths_of(r, j->webp_key, path, tmp, sizeof(path))) {
		j->outcome = O_FAILED;
		snprintf(j->why, sizeof(j->why), "path too long");
	} else if (j->outcome == O_MADE) {
		bool exists;
		if (write_variant(path, tmp, marked.bytes, marked.size, stale_ours, &exists, j->why,
				  sizeof(j->why)))
			j->outcome = exists ? O_HANDMADE : O_FAILED;	/* appeared meanwhile: kept */
	} else if (stale_ours && unlink(path) == 0) {
		j->removed = true;	/* refused now: the old variant of ours goes */
	}
	if (!e)
		WebPDataClear(&marked);
}

/* What the existing y.webp of j is: ours up to date, ours stale, or theirs. */
static enum outcome check_existing(struct vrun *r, struct vjob *j, enum tile_fmt f)
{
	char path[UPLOAD_PATH_MAX], why[UPLOAD_WHY_MAX];
	unsigned char want[UPLOAD_WEBP_MARK_BYTES], have[UPLOAD_WEBP_MARK_BYTES], *p = NULL;
	struct stat st;
	size_t n = 0;
	bool ours;

	if (!upload_path_of(r->u, j->webp_key, path, sizeof(path)) ||
	    upload_slurp(path, UPLOAD_TILE_MAX_BYTES, &p, &n, &st, why, sizeof(why)))
		return O_HANDMADE;	/* unreadable: not ours to touch (the scan reports it) */
	ours = read_mark(p, n, have);
	free(p);
	if (!ours)
		return O_HANDMADE;
	mark_payload(f, j->md5, r->o, want);
	if (memcmp(want, have, sizeof(want)) == 0) {
		j->webp_len = n;
		return O_FRESH;
	}
	return O_NONE;	/* ours, stale */
}

static void source_job(struct vrun *r, struct vjob *j)
{
	const struct upload_file *src = &r->d->local[j->src];
	char path[UPLOAD_PATH_MAX], hex[UPLOAD_MD5_HEX + 1];
	unsigned char *body = NULL;
	const struct memo_entry *m;
	struct stat st;
	size_t len = 0;
	struct tilekey k;
	enum tile_fmt f;
	enum outcome o = O_NONE;

	if (tk_parse_spec(spec_of(r, src->key), strlen(spec_of(r, src->key)), &k) ||
	    !upload_path_of(r->u, src->src ? src->src : src->key, path, sizeof(path)) ||
	    upload_slurp(path, UPLOAD_TILE_MAX_BYTES, &body, &len, &st, j->why, sizeof(j->why)) ||
	    upload_md5(body, len, j->md5, hex)) {
		j->outcome = O_FAILED;
		j->src_failed = true;
		if (!j->why[0])
			snprintf(j->why, sizeof(j->why), "cannot read the source");
		free(body);
		return;
	}
	j->orig_len = len;
	f = (enum tile_fmt)k.fmt;
	if (j->webp != NO_FILE && (o = check_existing(r, j, f)) != O_NONE) {
		j->outcome = (uint8_t)o;
	} else if (j->webp == NO_FILE && (m = memo_find(&r->memo, spec_of(r, src->key))) &&
		   !memcmp(m->md5, j->md5, UPLOAD_MD5_RAW)) {
		j->outcome = O_REMEMBERED;
		j->remembered_as = m->why;
	} else if (r->u->o.dry_run) {
		j->outcome = O_WOULD_MAKE;
	} else {
		encode_job(r, j, body, len, f, j->webp != NO_FILE);
	}
	free(body);
}

/* A y.webp with no source: ours goes, theirs stays. */
static void orphan_job(struct vrun *r, struct vjob *j)
{
	char path[UPLOAD_PATH_MAX], why[UPLOAD_WHY_MAX];
	unsigned char have[UPLOAD_WEBP_MARK_BYTES], *p = NULL;
	struct stat st;
	size_t n = 0;
	bool ours = false;

	if (upload_path_of(r->u, j->webp_key, path, sizeof(path)) &&
	    !upload_slurp(path, UPLOAD_TILE_MAX_BYTES, &p, &n, &st, why, sizeof(why)))
		ours = read_mark(p, n, have);
	free(p);
	j->outcome = O_HANDMADE;
	if (ours && !r->u->o.dry_run && unlink(path) == 0) {
		j->outcome = O_REMOVED;
		j->removed = true;
	}
}

static void *worker(void *arg)
{
	struct vrun *r = arg;

	while (!atomic_load(&r->stop)) {
		size_t i = atomic_fetch_add(&r->next, 1);
		if (i >= r->n)
			break;
		if (r->jobs[i].src == NO_FILE)
			orphan_job(r, &r->jobs[i]);
		else
			source_job(r, &r->jobs[i]);
		atomic_fetch_add(&r->done, 1);
	}
	return NULL;
}

/* ---- the dataset ---------------------------------------------------------------- */

/* Index of key in d->local (sorted, one file per key), or NO_FILE. */
static size_t find_key(const struct upload_dataset *d, const char *key)
{
	size_t lo = 0, hi = d->nlocal;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(d->local[mid].key, key);
		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NO_FILE;
}

/* key with its extension replaced by ext ("tiles/1/0/0/0.jpg" -> "...0.webp"). */
static void with_ext(const char *key, const char *ext, char *out, size_t cap)
{
	const char *dot = strrchr(key, '.');

	upload_text(out, cap, "%.*s.%s", (int)(dot - key), key, ext);
}

/* The jobs of d: a source per tile (y.jpg, else y.png), then the orphan variants. */
static enum ap_err plan_jobs(struct vrun *r)
{
	struct upload_dataset *d = r->d;
	char other[UPLOAD_ID_KEY_MAX];

	r->jobs = calloc(d->nlocal ? d->nlocal : 1, sizeof(*r->jobs));
	if (!r->jobs)
		return AP_ERR_NOMEM;
	for (size_t i = 0; i < d->nlocal; i++) {
		const struct upload_file *f = &d->local[i];
		const char *dot = strrchr(f->key, '.');
		struct vjob *j = &r->jobs[r->n];
		bool png = dot && !strcmp(dot, ".png");

		if (f->kind != OBJ_TILE || !dot || f->bad)
			continue;
		if (!strcmp(dot, ".webp")) {	/* an orphan if it has no JPEG or PNG */
			with_ext(f->key, "jpg", other, sizeof(other));
			if (find_key(d, other) != NO_FILE)
				continue;
			with_ext(f->key, "png", other, sizeof(other));
			if (find_key(d, other) != NO_FILE && !d->local[find_key(d, other)].bad)
				continue;
			j->src = NO_FILE;
			j->webp = i;
			snprintf(j->webp_key, sizeof(j->webp_key), "%s", f->key);
			r->n++;
			continue;
		}
		if (png) {		/* a y.jpg is the source when both exist */
			with_ext(f->key, "jpg", other, sizeof(other));
			if (find_key(d, other) != NO_FILE)
				continue;
		} else if (strcmp(dot, ".jpg")) {
			continue;
		}
		j->src = i;
		with_ext(f->key, "webp", j->webp_key, sizeof(j->webp_key));
		j->webp = find_key(d, j->webp_key);
		r->n++;
	}
	return AP_OK;
}

/* Runs the jobs on webp_jobs threads; the main thread shows progress and relays stop. */
static enum ap_err run_jobs(struct vrun *r, char *why, size_t whylen)
{
	struct upload *u = r->u;
	unsigned nt = u->o.webp_jobs < r->n ? u->o.webp_jobs : (unsigned)r->n, started = 0;
	unsigned long long base = u->st.variants_done;
	pthread_t th[UPLOAD_WEBP_JOBS_MAX];
	enum ap_err e = AP_OK;

	for (; started < nt; started++)
		if (pthread_create(&th[started], NULL, worker, r) != 0)
			break;
	if (started == 0 && r->n) {
		snprintf(why, whylen, "cannot start an encoding thread");
		return AP_ERR_NOMEM;
	}
	while (atomic_load(&r->done) < r->n) {
		if (upload_stop_requested(u)) {
			atomic_store(&r->stop, true);
			u->st.interrupted = true;
			break;
		}
		poll(NULL, 0, UPLOAD_TICK_MS);
		u->st.variants_done = base + atomic_load(&r->done);
		upload_progress(u);
	}
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	u->st.variants_done = base + atomic_load(&r->done);
	upload_progress(u);
	return e;
}

/* ---- results -------------------------------------------------------------------- */

/* Drops the files flagged in drop from d->local. */
static void drop_files(struct upload *u, struct upload_dataset *d, const bool *drop, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < d->nlocal; i++) {
		if (i < n && drop[i]) {
			free(d->local[i].key);
			free(d->local[i].src);
			free(d->local[i].bad);
			free(d->local[i].body);
			u->st.local_objects--;
			u->nobjects--;
			continue;
		}
		d->local[o++] = d->local[i];
	}
	d->nlocal = o;
}

/* A variant that could not be written: reported as a failed object. */
static enum ap_err failed_file(struct vrun *r, struct vjob *j, char *why, size_t whylen)
{
	char bad[UPLOAD_WHY_MAX + 32];

	upload_text(bad, sizeof(bad), "WebP variant: %s", j->why);
	if (j->webp == NO_FILE)
		return upload_add_local(r->u, r->d, j->webp_key, NULL, 0, bad, OBJ_TILE, NULL, why,
					whylen);
	free(r->d->local[j->webp].bad);	/* a stale variant of ours: not sent either */
	r->d->local[j->webp].bad = strdup(bad);
	return r->d->local[j->webp].bad ? AP_OK : AP_ERR_NOMEM;
}

/* New variants join d->local, removed ones leave it. */
static enum ap_err apply(struct vrun *r, char *why, size_t whylen)
{
	struct upload_dataset *d = r->d;
	size_t n = d->nlocal;
	bool *drop = calloc(n ? n : 1, sizeof(*drop));
	enum ap_err e = AP_OK;

	if (!drop)
		return AP_ERR_NOMEM;
	for (size_t i = 0; i < r->n && !e; i++) {
		struct vjob *j = &r->jobs[i];
		if (j->outcome == O_MADE && j->webp != NO_FILE)
			d->local[j->webp].size = j->webp_len;
		else if (j->outcome == O_MADE)
			e = upload_add_local(r->u, d, j->webp_key, NULL, j->webp_len, NULL, OBJ_TILE,
					     NULL, why, whylen);
		else if (j->outcome == O_FAILED && !j->src_failed)
			e = failed_file(r, j, why, whylen);
		if (j->removed && j->webp != NO_FILE)
			drop[j->webp] = true;
	}
	if (!e) {
		drop_files(r->u, d, drop, n);
		upload_sort_local(d);
	}
	free(drop);
	return e;
}

/* One line about job j (UEV_VARIANT), for the outcomes worth a line. */
static void tell_job(struct vrun *r, const struct vjob *j)
{
	const char *src = j->src == NO_FILE ? "" : strrchr(r->d->local[j->src].key, '/') + 1;
	char text[2 * UPLOAD_WHY_MAX], how[64];

	if (j->quality < 0)
		snprintf(how, sizeof(how), "lossless");
	else
		snprintf(how, sizeof(how), "quality %d, SSIM %.4f", j->quality, j->ssim);
	switch (j->outcome) {
	case O_MADE:
		upload_text(text, sizeof(text), "made from %s: %zu of %zu bytes (%.3f), %s, %d "
			    "encode%s, %.1f ms", src, j->webp_len, j->orig_len,
			    (double)j->webp_len / (double)(j->orig_len ? j->orig_len : 1), how,
			    j->encodes, j->encodes == 1 ? "" : "s", (double)j->us / 1000.0);
		break;
	case O_NOT_SMALLER:
		upload_text(text, sizeof(text), "not made: %zu bytes (%s), not smaller than the "
			    "%zu of %s", j->webp_len, how, j->orig_len, src);
		break;
	case O_BELOW_SSIM:
		upload_text(text, sizeof(text), "not made: SSIM %.4f below %.4f even at quality %d",
			    j->ssim, r->o->ssim_min, j->quality);
		break;
	case O_UNREADABLE:
	case O_FAILED:
		upload_text(text, sizeof(text), "%s: %s", j->outcome == O_FAILED ? "failed" :
			    "not made", j->why);
		break;
	case O_REMOVED:
		upload_text(text, sizeof(text), "removed from the local tree: a variant "
			    "astropixel-sync made, whose source is gone");
		break;
	default:
		return;
	}
	if (j->removed && j->outcome != O_REMOVED)
		upload_text(text + strlen(text), sizeof(text) - strlen(text), "; the previous "
			    "variant (ours) was removed from the local tree");
	upload_emit(r->u, UEV_VARIANT, j->webp_key, j->webp_len, text);
}

/* Counts job j into the dataset's figures and the run's. */
static void count(struct upload_variant_stats *v, const struct vjob *j)
{
	unsigned long long *by[] = {
		[O_MADE] = &v->made, [O_FRESH] = &v->fresh, [O_HANDMADE] = &v->handmade,
		[O_NOT_SMALLER] = &v->not_smaller, [O_BELOW_SSIM] = &v->below_ssim,
		[O_UNREADABLE] = &v->unreadable, [O_REMEMBERED] = &v->remembered,
		[O_REMOVED] = &v->removed, [O_FAILED] = &v->failed,
		[O_WOULD_MAKE] = &v->would_make,
	};

	if (j->src != NO_FILE)
		v->sources++;
	if (j->outcome != O_NONE)
		(*by[j->outcome])++;
	if (j->removed && j->outcome != O_REMOVED)
		v->removed++;
	if (j->outcome == O_MADE) {
		v->orig_bytes += j->orig_len;
		v->webp_bytes += j->webp_len;
	}
	if (j->outcome == O_MADE || j->outcome == O_NOT_SMALLER || j->outcome == O_BELOW_SSIM) {
		v->encodes += (unsigned long long)j->encodes;
		v->encode_us += j->us;
	}
}

static void add_stats(struct upload_variant_stats *to, const struct upload_variant_stats *v)
{
	to->sources += v->sources;
	to->made += v->made;
	to->fresh += v->fresh;
	to->handmade += v->handmade;
	to->not_smaller += v->not_smaller;
	to->below_ssim += v->below_ssim;
	to->remembered += v->remembered;
	to->unreadable += v->unreadable;
	to->removed += v->removed;
	to->failed += v->failed;
	to->would_make += v->would_make;
	to->orig_bytes += v->orig_bytes;
	to->webp_bytes += v->webp_bytes;
	to->encodes += v->encodes;
	to->encode_us += v->encode_us;
	to->wall_us += v->wall_us;
}

/* Appends ", N what" to text if N is not 0. */
static void tally(char *text, size_t cap, unsigned long long n, const char *what)
{
	size_t l = strlen(text);

	if (n && l < cap)
		upload_text(text + l, cap - l, ", %llu %s", n, what);
}

/* The events of every job, and the dataset's summary (UEV_NOTE). */
static void report(struct vrun *r, long long wall_us)
{
	struct upload_variant_stats v;
	char text[3 * UPLOAD_WHY_MAX];
	unsigned long long encoded;
	size_t l;

	memset(&v, 0, sizeof(v));
	for (size_t i = 0; i < r->n; i++) {
		tell_job(r, &r->jobs[i]);
		count(&v, &r->jobs[i]);
	}
	v.wall_us = wall_us;
	add_stats(&r->u->st.webp, &v);
	encoded = v.made + v.not_smaller + v.below_ssim;
	upload_text(text, sizeof(text), "dataset %u: WebP variants of %llu tiles: %llu made "
		    "(%llu bytes for %llu)", r->d->id, v.sources, v.made, v.webp_bytes,
		    v.orig_bytes);
	tally(text, sizeof(text), v.fresh, "up to date");
	tally(text, sizeof(text), v.handmade, "hand-made kept");
	tally(text, sizeof(text), v.not_smaller, "not smaller");
	tally(text, sizeof(text), v.below_ssim, "below SSIM");
	tally(text, sizeof(text), v.unreadable, "unreadable");
	tally(text, sizeof(text), v.remembered, "refused before");
	tally(text, sizeof(text), v.removed, "removed");
	tally(text, sizeof(text), v.failed, "failed");
	tally(text, sizeof(text), v.would_make, "to make (dry run: not encoded)");
	l = strlen(text);
	upload_text(text + l, sizeof(text) - l, "; %.1f ms a variant encoded, %u thread%s, "
		    "%.1f s", encoded ? (double)v.encode_us / 1000.0 / (double)encoded : 0.0,
		    r->u->o.webp_jobs, r->u->o.webp_jobs == 1 ? "" : "s", (double)wall_us / 1e6);
	upload_emit(r->u, UEV_NOTE, NULL, 0, text);
}

/* ---- saving the memo ------------------------------------------------------------ */

/* The memo's text after this run into b: every refusal with its source's MD5. */
static enum ap_err memo_text(const struct vrun *r, struct buf *b)
{
	char hex[UPLOAD_MD5_HEX + 1];
	enum ap_err e = buf_printf(b, "options %s\n", r->memo.opts);

	for (size_t i = 0; i < r->n && !e; i++) {
		const struct vjob *j = &r->jobs[i];
		uint8_t why = j->outcome == O_REMEMBERED ? j->remembered_as : j->outcome;
		if (j->src == NO_FILE || why < O_NOT_SMALLER || why > O_UNREADABLE)
			continue;
		hex_encode(j->md5, UPLOAD_MD5_RAW, hex);
		e = buf_printf(b, "%s %s %s\n", spec_of(r, r->d->local[j->src].key), hex,
			       refusal_name[why]);
	}
	return e;
}

/* Writes the memo if it changed (or removes it when nothing is refused). */
static void memo_save(struct vrun *r)
{
	char path[UPLOAD_PATH_MAX], tmp[UPLOAD_PATH_MAX], dir[UPLOAD_PATH_MAX];
	char why[UPLOAD_WHY_MAX + UPLOAD_PATH_MAX], warning[sizeof(why) + 64];
	unsigned char *old = NULL;
	struct stat st;
	size_t oldlen = 0;
	struct buf b;
	bool none, exists;

	buf_init(&b, UPLOAD_WEBP_MEMO_MAX_BYTES);
	if (!memo_path(r, path, sizeof(path), false) || !memo_path(r, tmp, sizeof(tmp), true) ||
	    !upload_path_of(r->u, UPLOAD_WEBP_MEMO_DIR, dir, sizeof(dir)) || memo_text(r, &b))
		goto out;	/* a cache: without it, refusals are only tried again */
	none = b.len == strlen("options ") + strlen(r->memo.opts) + 1;
	if (!upload_slurp(path, UPLOAD_WEBP_MEMO_MAX_BYTES, &old, &oldlen, &st, why, sizeof(why)) &&
	    oldlen == b.len && !memcmp(old, b.data, b.len))
		goto out;
	if (none) {
		unlink(path);
		goto out;
	}
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		upload_text(why, sizeof(why), "%s: %s", dir, strerror(errno));
	else if (!write_variant(path, tmp, (const uint8_t *)b.data, b.len, true, &exists, why,
				sizeof(why)))
		goto out;
	upload_text(warning, sizeof(warning), "dataset %u: the list of refused WebP variants "
		    "was not saved (%s): they are tried again next time", r->d->id, why);
	upload_emit(r->u, UEV_WARNING, NULL, 0, warning);
out:
	free(old);
	buf_free(&b);
}

enum ap_err upload_webp_dataset(struct upload *u, struct upload_dataset *d, char *why,
				size_t whylen)
{
	char prefix[UPLOAD_ID_KEY_MAX];
	long long t0 = clock_us();
	struct vrun r;
	enum ap_err e;

	memset(&r, 0, sizeof(r));
	r.u = u;
	r.d = d;
	r.o = u->o.webp;
	r.prefix_len = (size_t)snprintf(prefix, sizeof(prefix), "tiles/%u/", d->id);
	atomic_init(&r.next, 0);
	atomic_init(&r.done, 0);
	atomic_init(&r.stop, false);
	if ((e = plan_jobs(&r))) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	memo_load(&r);
	u->st.phase = UP_VARIANTS;
	u->st.variants_total += r.n;
	if ((e = run_jobs(&r, why, whylen)))
		goto out;
	/* before apply(), which moves the files the jobs point to */
	report(&r, clock_us() - t0);
	if (!u->st.interrupted && !u->o.dry_run)
		memo_save(&r);
	if ((e = apply(&r, why, whylen)))
		snprintf(why, whylen, "out of memory");
out:
	free(r.jobs);
	free(r.memo.e);
	u->st.phase = UP_SCANNING;
	return e;
}
