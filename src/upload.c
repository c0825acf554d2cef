/*
 * upload.c - the upload plan (list, compare) and its execution (send).
 *
 * Data: per dataset, the local files found by the scan and the bucket
 * objects found by the listing, both sorted by key and merged once into the
 * dataset's items (what to PUT or DELETE, in stage order). Skipped keys
 * become no item at all, so a second run holds nothing but counters.
 *
 * Execution is one loop around engine_run(): fill() starts items while
 * fewer than `workers` transfers are in flight and the next body fits in
 * UPLOAD_INFLIGHT_BYTES_MAX; completion callbacks only record results, the
 * loop submits. The stop flag (a signal) ends filling; transfers in flight
 * get UPLOAD_STOP_GRACE_MS, then are cancelled. Because skipping is by ETag,
 * whatever was not sent is sent by the next run.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <openssl/evp.h>
#include "upload.h"
#include "base64.h"
#include "buf.h"
#include "engine.h"
#include "s3.h"
#include "sigv4.h"

#define UPLOAD_TICK_MS 100		/* longest engine_run(): the stop flag is seen this fast */
#define UPLOAD_GIVE_UP_FAILURES 20	/* consecutive storage failures that end the run */
#define UPLOAD_LIST_TIMEOUT_MIN_MS 30000	/* a listing page may be 1000 keys of XML */
#define UPLOAD_RESPONSE_MAX (64 * 1024)	/* PUT/DELETE answers: an error document at most */
#define UPLOAD_LIST_TOKEN_MAX 1024	/* continuation token of ListObjectsV2 */
#define UPLOAD_PATH_MAX 4096
#define UPLOAD_ETAG_MAX 48		/* "md5hex" or "md5hex-N" (multipart: never equal) */
#define UPLOAD_S3_TEXT_MAX 120		/* <Code>/<Message> quoted from an error document */
#define MD5_RAW 16
#define MD5_HEX (2 * MD5_RAW)
#define MD5_B64 24			/* base64 of 16 bytes, for Content-MD5 */
/* "metadata/datasets/2147483647.json", "tiles/2147483647/": keys made from an id */
#define UPLOAD_ID_KEY_MAX 64
#define UPLOAD_XML_TAG_MAX 32		/* "<Message>" and its closing tag */
#define UPLOAD_HEADER_MAX 128		/* one header line we add (type, cache, MD5) */

_Static_assert(UPLOAD_TILE_MAX_BYTES <= UPLOAD_INFLIGHT_BYTES_MAX &&
	       UPLOAD_META_MAX_BYTES <= UPLOAD_INFLIGHT_BYTES_MAX,
	       "any single file must fit in the in-flight byte budget");
_Static_assert(UPLOAD_TILE_MAX_BYTES <= SIGV4_MAX_BODY, "the signer must hash any body");

/* Stages of a dataset, in the order they run. */
enum stage { ST_META_DELETE, ST_TILES, ST_META, ST_TILE_DELETE, ST__COUNT };
enum action { A_PUT_NEW, A_PUT_CHANGED, A_DELETE, A_BAD };
enum istate { I_PENDING, I_RUNNING, I_DONE, I_FAILED, I_CANCELLED };

struct lfile {			/* a local file found by the scan */
	char *key;
	unsigned long long size;
	char *bad;		/* why it cannot be sent, or NULL */
	bool meta;
};

struct robj {			/* a bucket object found by the listing */
	char *key;
	char etag[UPLOAD_ETAG_MAX];
	unsigned long long size;
};

struct item {			/* one thing to do */
	char *key;
	unsigned long long size;
	char *why;		/* failure reason */
	uint8_t stage, action, state;
	bool meta;
};

struct dsrun {
	uint32_t id;
	struct lfile *local;
	size_t nlocal, caplocal;
	struct robj *remote;
	size_t nremote, capremote;
	struct item *items;	/* sorted by (stage, key) */
	size_t nitems, capitems;
	size_t next;		/* first item not started */
	size_t remaining[ST__COUNT];	/* items of a stage not completed */
	size_t failed[ST__COUNT];
};

struct lister {
	struct upload *u;
	size_t ds;
	bool meta;		/* the one metadata key, not the tiles prefix */
	char prefix[UPLOAD_ID_KEY_MAX];
	char token[UPLOAD_LIST_TOKEN_MAX];
	bool busy, done;
	struct xfer *x;
};

struct job {
	struct upload *u;
	struct dsrun *d;
	struct item *it;
	unsigned char *body;
	size_t len;
	struct stat st;		/* of the file when read */
	char md5[MD5_HEX + 1];
	struct xfer *x;
	bool busy;
};

struct upload {
	struct upload_opts o;
	struct engine *eng;
	struct s3 *s3;
	struct dsrun *ds;
	size_t nds, capds;
	size_t first_open;	/* datasets before it have started every item */
	unsigned long long nobjects;	/* local + bucket, bounded */
	struct upload_stats st;
	struct job *jobs;
	unsigned consecutive_failures;
	bool abort;
	enum ap_err abort_err;
	char abort_why[UPLOAD_WHY_MAX];
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* snprintf whose truncation is acceptable (messages, names in notes). */
static void text(char *out, size_t cap, const char *fmt, ...) AP_PRINTF(3, 4);
static void text(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, cap, fmt, ap);
	va_end(ap);
}

static bool stop_requested(const struct upload *u)
{
	return u->o.stop && *u->o.stop;
}

static void emit(struct upload *u, enum upload_ev kind, const char *key,
		 unsigned long long bytes, const char *why)
{
	struct upload_event ev = {.kind = kind, .key = key, .bytes = bytes, .why = why};

	if (u->o.event)
		u->o.event(&ev, u->o.ud);
}

static void progress(struct upload *u)
{
	if (u->o.progress)
		u->o.progress(&u->st, u->o.ud);
}

static void set_abort(struct upload *u, enum ap_err e, const char *fmt, ...) AP_PRINTF(3, 4);
static void set_abort(struct upload *u, enum ap_err e, const char *fmt, ...)
{
	va_list ap;

	if (u->abort)
		return;	/* the first reason is the one that matters */
	u->abort = true;
	u->abort_err = e;
	u->st.aborted = true;
	va_start(ap, fmt);
	vsnprintf(u->abort_why, sizeof(u->abort_why), fmt, ap);
	va_end(ap);
}

static bool path_of(const struct upload *u, const char *key, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", u->o.local_dir, key);

	return n > 0 && (size_t)n < cap;
}

/* Copies printable ASCII of an S3 error element (<Code>, <Message>), bounded. */
static void s3_text(const struct buf *b, const char *tag, char *out, size_t cap)
{
	char open[UPLOAD_XML_TAG_MAX], close[UPLOAD_XML_TAG_MAX];
	const char *p, *q;
	size_t o = 0;

	out[0] = '\0';
	if (!b->data || !b->len)
		return;
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	p = memmem(b->data, b->len, open, strlen(open));
	if (!p)
		return;
	p += strlen(open);
	q = memmem(p, b->len - (size_t)(p - b->data), close, strlen(close));
	if (!q)
		return;
	for (; p < q && o + 1 < cap && o < UPLOAD_S3_TEXT_MAX; p++)
		out[o++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
	out[o] = '\0';
}

/* "HTTP 403 SignatureDoesNotMatch: The request signature ..." */
static void http_reason(const struct xfer_result *r, char *out, size_t cap)
{
	char code[UPLOAD_S3_TEXT_MAX + 1], msg[UPLOAD_S3_TEXT_MAX + 1];

	if (r->err) {
		snprintf(out, cap, "%s", r->error[0] ? r->error : ap_err_str(r->err));
		return;
	}
	s3_text(&r->body, "Code", code, sizeof(code));
	s3_text(&r->body, "Message", msg, sizeof(msg));
	snprintf(out, cap, "HTTP %ld%s%s%s%s", r->status, code[0] ? " " : "", code,
		 msg[0] ? ": " : "", msg);
}

/* ---- local files ------------------------------------------------------------ */

/* Opens a regular file of at most max bytes; why explains a refusal. */
static enum ap_err open_file(const char *path, size_t max, int *fd, struct stat *st,
			     char *why, size_t whylen)
{
	*fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (*fd < 0) {
		if (errno == ENOENT)
			snprintf(why, whylen, "vanished: no such file (a dangling link?)");
		else
			snprintf(why, whylen, "cannot open: %s", strerror(errno));
		return errno == ENOENT ? AP_ERR_NOT_FOUND : AP_ERR_IO;
	}
	if (fstat(*fd, st) != 0) {
		snprintf(why, whylen, "cannot stat: %s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(why, whylen, "not a regular file");
		goto fail;
	}
	if ((unsigned long long)st->st_size > max) {
		snprintf(why, whylen, "%lld bytes: larger than %zu, the largest object the "
			 "server accepts", (long long)st->st_size, max);
		close(*fd);
		*fd = -1;
		return AP_ERR_TOO_LARGE;
	}
	return AP_OK;
fail:
	close(*fd);
	*fd = -1;
	return AP_ERR_IO;
}

/* Reads exactly n bytes, and checks that the file has no more. */
static enum ap_err read_exact(int fd, unsigned char *p, size_t n, char *why, size_t whylen)
{
	size_t got = 0;
	unsigned char extra;
	ssize_t r;

	while (got < n) {
		r = read(fd, p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(why, whylen, "read failed: %s", strerror(errno));
			return AP_ERR_IO;
		}
		if (r == 0) {
			snprintf(why, whylen, "changed while being read (shrank)");
			return AP_ERR_IO;
		}
		got += (size_t)r;
	}
	do
		r = read(fd, &extra, 1);
	while (r < 0 && errno == EINTR);
	if (r != 0) {
		snprintf(why, whylen, r > 0 ? "changed while being read (grew)" : "read failed");
		return AP_ERR_IO;
	}
	return AP_OK;
}

static enum ap_err md5_of(const void *p, size_t n, unsigned char raw[MD5_RAW],
		      char hex[MD5_HEX + 1])
{
	static const char digits[] = "0123456789abcdef";
	unsigned int len = 0;

	if (!EVP_Digest(p, n, raw, &len, EVP_md5(), NULL) || len != MD5_RAW)
		return AP_ERR_INTERNAL;
	for (unsigned i = 0; i < MD5_RAW; i++) {
		hex[2 * i] = digits[raw[i] >> 4];
		hex[2 * i + 1] = digits[raw[i] & 15];
	}
	hex[MD5_HEX] = '\0';
	return AP_OK;
}

/* Reads a whole file (at most max bytes) into a new allocation. */
static enum ap_err slurp(const char *path, size_t max, unsigned char **body, size_t *len,
			 struct stat *st, char *why, size_t whylen)
{
	enum ap_err e;
	int fd;

	unsigned char *p;
	size_t n;

	*body = NULL;
	*len = 0;
	if ((e = open_file(path, max, &fd, st, why, whylen)))
		return e;
	n = (size_t)st->st_size;
	p = malloc(n ? n : 1);
	if (!p) {
		close(fd);
		snprintf(why, whylen, "out of memory");
		return AP_ERR_NOMEM;
	}
	e = read_exact(fd, p, n, why, whylen);
	close(fd);
	if (e) {
		free(p);
		return e;
	}
	*body = p;
	*len = n;
	return AP_OK;
}

/* ---- the scan ----------------------------------------------------------------- */

static enum ap_err count_object(struct upload *u, char *why, size_t whylen)
{
	if (u->nobjects >= UPLOAD_OBJECTS_MAX) {
		snprintf(why, whylen, "more than %u objects (local files and bucket objects) "
			 "in one run: sync fewer datasets at a time", UPLOAD_OBJECTS_MAX);
		return AP_ERR_TOO_LARGE;
	}
	u->nobjects++;
	return AP_OK;
}

static enum ap_err add_local(struct upload *u, struct dsrun *d, const char *key,
			     unsigned long long size, const char *bad, bool meta,
			     char *why, size_t whylen)
{
	struct lfile *f;
	enum ap_err e;

	if ((e = count_object(u, why, whylen)))
		return e;
	if (d->nlocal == d->caplocal) {
		size_t cap = d->caplocal ? d->caplocal * 2 : 256;
		struct lfile *n = realloc(d->local, cap * sizeof(*n));
		if (!n)
			goto nomem;
		d->local = n;
		d->caplocal = cap;
	}
	f = &d->local[d->nlocal];
	memset(f, 0, sizeof(*f));
	f->key = strdup(key);
	f->bad = bad ? strdup(bad) : NULL;
	if (!f->key || (bad && !f->bad)) {
		free(f->key);
		free(f->bad);
		goto nomem;
	}
	f->size = size;
	f->meta = meta;
	d->nlocal++;
	u->st.local_objects++;
	return AP_OK;
nomem:
	snprintf(why, whylen, "out of memory");
	return AP_ERR_NOMEM;
}

struct ignored {
	unsigned long long n;
	char first[UPLOAD_PATH_MAX];
};

static void ignore(struct ignored *ig, const char *rel)
{
	if (ig->n++ == 0)
		snprintf(ig->first, sizeof(ig->first), "%s", rel);
}

static bool is_dot(const char *name)
{
	return !strcmp(name, ".") || !strcmp(name, "..");
}

/* Adds one candidate tile file tiles/{id}/{rel}; rel = "z/x/y.ext" passed the grammar. */
static enum ap_err scan_tile(struct upload *u, struct dsrun *d, const char *rel,
			     char *why, size_t whylen)
{
	char key[UPLOAD_PATH_MAX], path[UPLOAD_PATH_MAX], bad[UPLOAD_WHY_MAX];
	struct stat st;
	const char *b = NULL;

	int n = snprintf(key, sizeof(key), "tiles/%u/%s", d->id, rel);

	if (n < 0 || (size_t)n >= sizeof(key) || !path_of(u, key, path, sizeof(path))) {
		snprintf(why, whylen, "LOCAL_STORAGE_DIR: path too long");
		return AP_ERR_CONFIG;
	}
	memset(&st, 0, sizeof(st));
	if (stat(path, &st) != 0) {
		snprintf(bad, sizeof(bad), errno == ENOENT ?
			 "vanished: no such file (a dangling link?)" : "cannot stat: %s",
			 strerror(errno));
		b = bad;
	} else if (!S_ISREG(st.st_mode)) {
		b = "not a regular file";
	} else if ((unsigned long long)st.st_size > UPLOAD_TILE_MAX_BYTES) {
		snprintf(bad, sizeof(bad), "%lld bytes: larger than %u, the largest tile the "
			 "server accepts (TILE_MAX_BYTES)", (long long)st.st_size,
			 UPLOAD_TILE_MAX_BYTES);
		b = bad;
	}
	return add_local(u, d, key, b ? 0 : (unsigned long long)st.st_size, b, false, why, whylen);
}

/*
 * Walks tiles/{id}/{z}/{x}/{y}.{ext}: exactly three levels, every name
 * checked against the tile grammar (tilekey.h). Anything else is ignored
 * and reported, never uploaded: the bucket gets the layout of SPEC 2 only.
 */
static enum ap_err scan_tiles(struct upload *u, struct dsrun *d, bool *found,
			      struct ignored *ig, char *why, size_t whylen)
{
	char top[UPLOAD_PATH_MAX], zdir[UPLOAD_PATH_MAX], xdir[UPLOAD_PATH_MAX];
	char rel[UPLOAD_PATH_MAX], key[UPLOAD_PATH_MAX];
	DIR *dz = NULL, *dx = NULL, *dy = NULL;
	struct dirent *ez, *ex, *ey;
	enum ap_err e = AP_OK;
	uint32_t v;

	*found = false;
	snprintf(key, sizeof(key), "tiles/%u", d->id);
	if (!path_of(u, key, top, sizeof(top)))
		return AP_ERR_CONFIG;
	dz = opendir(top);
	if (!dz) {
		if (errno == ENOENT)
			return AP_OK;
		snprintf(why, whylen, "%s: %s", top, strerror(errno));
		return AP_ERR_IO;
	}
	*found = true;
	while (!e && (ez = readdir(dz))) {
		if (is_dot(ez->d_name))
			continue;
		text(rel, sizeof(rel), "%s/%s", key, ez->d_name);
		if (tk_parse_uint(ez->d_name, strlen(ez->d_name), TILE_Z_MAX, &v) ||
		    (size_t)snprintf(zdir, sizeof(zdir), "%s/%s", top, ez->d_name) >= sizeof(zdir) ||
		    !(dx = opendir(zdir))) {
			ignore(ig, rel);
			continue;
		}
		while (!e && (ex = readdir(dx))) {
			if (is_dot(ex->d_name))
				continue;
			text(rel, sizeof(rel), "%s/%s/%s", key, ez->d_name, ex->d_name);
			if (tk_parse_uint(ex->d_name, strlen(ex->d_name), TILE_COORD_MAX, &v) ||
			    (size_t)snprintf(xdir, sizeof(xdir), "%s/%s", zdir, ex->d_name) >=
				    sizeof(xdir) ||
			    !(dy = opendir(xdir))) {
				ignore(ig, rel);
				continue;
			}
			while (!e && (ey = readdir(dy))) {
				struct tilekey k;
				int n;
				if (is_dot(ey->d_name))
					continue;
				n = snprintf(rel, sizeof(rel), "%s/%s/%s", ez->d_name, ex->d_name,
					     ey->d_name);
				if (n < 0 || (size_t)n >= sizeof(rel) ||
				    tk_parse_spec(rel, (size_t)n, &k)) {
					text(rel, sizeof(rel), "%s/%s/%s/%s", key, ez->d_name,
					     ex->d_name, ey->d_name);
					ignore(ig, rel);
					continue;
				}
				e = scan_tile(u, d, rel, why, whylen);
			}
			closedir(dy);
			dy = NULL;
		}
		closedir(dx);
		dx = NULL;
	}
	closedir(dz);
	return e;
}

/* metadata/datasets/{id}.json: must be what the server will accept. */
static enum ap_err scan_meta(struct upload *u, struct dsrun *d, bool *found, char *why,
			     size_t whylen)
{
	char key[UPLOAD_ID_KEY_MAX], path[UPLOAD_PATH_MAX], bad[UPLOAD_WHY_MAX];
	char reason[UPLOAD_WHY_MAX];
	unsigned char *body = NULL;
	struct dataset ds;
	struct stat st;
	size_t len = 0;
	enum ap_err e;

	snprintf(key, sizeof(key), "metadata/datasets/%u.json", d->id);
	if (!path_of(u, key, path, sizeof(path)))
		return AP_ERR_CONFIG;
	*found = false;
	if (lstat(path, &st) != 0 && errno == ENOENT)
		return AP_OK;
	*found = true;
	e = slurp(path, UPLOAD_META_MAX_BYTES, &body, &len, &st, bad, sizeof(bad));
	if (!e && dataset_parse((const char *)body, len, d->id, &ds, reason, sizeof(reason))) {
		text(bad, sizeof(bad), "invalid metadata, the server would refuse it: %s", reason);
		e = AP_ERR_BAD_REQUEST;
	}
	free(body);
	return add_local(u, d, key, e ? 0 : len, e ? bad : NULL, true, why, whylen);
}

enum ap_err upload_add_dataset(struct upload *u, uint32_t id, char *why, size_t whylen)
{
	struct ignored ig = {0};
	struct dsrun *d;
	bool has_tiles, has_meta;
	enum ap_err e;

	for (size_t i = 0; i < u->nds; i++)
		if (u->ds[i].id == id)
			return AP_OK;
	if (u->nds >= UPLOAD_DATASETS_MAX) {
		snprintf(why, whylen, "more than %d datasets in one run", UPLOAD_DATASETS_MAX);
		return AP_ERR_TOO_LARGE;
	}
	if (u->nds == u->capds) {
		size_t cap = u->capds ? u->capds * 2 : 16;
		struct dsrun *n = realloc(u->ds, cap * sizeof(*n));
		if (!n) {
			snprintf(why, whylen, "out of memory");
			return AP_ERR_NOMEM;
		}
		u->ds = n;
		u->capds = cap;
	}
	d = &u->ds[u->nds++];
	memset(d, 0, sizeof(*d));
	d->id = id;
	if ((e = scan_tiles(u, d, &has_tiles, &ig, why, whylen)))
		return e;
	if ((e = scan_meta(u, d, &has_meta, why, whylen)))
		return e;
	if (!has_tiles && !has_meta) {
		snprintf(why, whylen, "dataset %u: neither tiles/%u/ nor metadata/datasets/%u.json "
			 "under LOCAL_STORAGE_DIR", id, id, id);
		return AP_ERR_NOT_FOUND;
	}
	if (ig.n) {
		char note[UPLOAD_WHY_MAX + UPLOAD_PATH_MAX];
		snprintf(note, sizeof(note), "dataset %u: ignored %llu entr%s that %s not "
			 "z/x/y.{jpg,jpeg,png,webp} tiles (e.g. %s)", id, ig.n,
			 ig.n == 1 ? "y" : "ies", ig.n == 1 ? "is" : "are", ig.first);
		emit(u, UEV_NOTE, NULL, 0, note);
	}
	if (!has_meta) {
		char note[UPLOAD_WHY_MAX];
		snprintf(note, sizeof(note), "dataset %u: no metadata/datasets/%u.json locally: "
			 "the server will not serve its tiles until it exists", id, id);
		emit(u, UEV_NOTE, NULL, 0, note);
	}
	return AP_OK;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Adds the ids named by the entries of dir: "{id}{suffix}". */
static enum ap_err ids_in(const char *dir, const char *suffix, bool want_dir, uint32_t *ids,
			  size_t cap, size_t *n, char *why, size_t whylen)
{
	size_t sl = strlen(suffix);
	struct dirent *de;
	DIR *dp = opendir(dir);

	if (!dp)
		return errno == ENOENT ? AP_OK : (snprintf(why, whylen, "%s: %s", dir,
							   strerror(errno)), AP_ERR_IO);
	while ((de = readdir(dp))) {
		size_t l = strlen(de->d_name);
		uint32_t id;
		if (l <= sl || strcmp(de->d_name + l - sl, suffix) ||
		    tk_parse_uint(de->d_name, l - sl, DATASET_ID_MAX, &id))
			continue;
		if (want_dir && de->d_type != DT_DIR && de->d_type != DT_UNKNOWN &&
		    de->d_type != DT_LNK)
			continue;
		if (*n == cap) {
			closedir(dp);
			snprintf(why, whylen, "more than %zu datasets under %s", cap, dir);
			return AP_ERR_TOO_LARGE;
		}
		ids[(*n)++] = id;
	}
	closedir(dp);
	return AP_OK;
}

enum ap_err upload_find_datasets(const char *local_dir, uint32_t *ids, size_t cap, size_t *n,
				 char *why, size_t whylen)
{
	char dir[UPLOAD_PATH_MAX];
	size_t o = 0;
	enum ap_err e;

	*n = 0;
	snprintf(dir, sizeof(dir), "%s/metadata/datasets", local_dir);
	if ((e = ids_in(dir, ".json", false, ids, cap, n, why, whylen)))
		return e;
	snprintf(dir, sizeof(dir), "%s/tiles", local_dir);
	if ((e = ids_in(dir, "", true, ids, cap, n, why, whylen)))
		return e;
	if (*n)
		qsort(ids, *n, sizeof(*ids), cmp_u32);
	for (size_t i = 0; i < *n; i++)
		if (o == 0 || ids[o - 1] != ids[i])
			ids[o++] = ids[i];
	*n = o;
	return AP_OK;
}

/* ---- the listing ----------------------------------------------------------------- */

static void on_list_object(const struct s3_object *ob, void *ud)
{
	struct lister *l = ud;
	struct upload *u = l->u;
	struct dsrun *d = &u->ds[l->ds];
	size_t pl = strlen(l->prefix);
	struct tilekey k;
	struct robj *r;
	char why[UPLOAD_WHY_MAX];

	if (u->abort)
		return;
	/* only keys this run could have written: nothing else is compared or deleted */
	if (l->meta ? strcmp(ob->key, l->prefix) != 0 :
		      strncmp(ob->key, l->prefix, pl) != 0 ||
			      tk_parse_spec(ob->key + pl, strlen(ob->key + pl), &k))
		return;
	if (count_object(u, why, sizeof(why))) {
		set_abort(u, AP_ERR_TOO_LARGE, "%s", why);
		return;
	}
	if (d->nremote == d->capremote) {
		size_t cap = d->capremote ? d->capremote * 2 : 256;
		struct robj *n = realloc(d->remote, cap * sizeof(*n));
		if (!n)
			goto nomem;
		d->remote = n;
		d->capremote = cap;
	}
	r = &d->remote[d->nremote];
	r->key = strdup(ob->key);
	if (!r->key)
		goto nomem;
	text(r->etag, sizeof(r->etag), "%s", ob->etag);
	r->size = ob->size;
	d->nremote++;
	u->st.bucket_objects++;
	return;
nomem:
	set_abort(u, AP_ERR_NOMEM, "out of memory while listing the bucket");
}

static void on_list(struct xfer_result *r, void *ud)
{
	struct lister *l = ud;
	struct upload *u = l->u;
	char reason[UPLOAD_WHY_MAX];
	const char *end = "</ListBucketResult>";
	size_t n;

	l->busy = false;
	l->x = NULL;
	http_reason(r, reason, sizeof(reason));
	if (r->err) {
		set_abort(u, r->err == AP_ERR_TIMEOUT ? AP_ERR_TIMEOUT : AP_ERR_STORAGE,
			  "cannot list the bucket: %s (check S3_ENDPOINT_URL)", reason);
		return;
	}
	if (r->status == 401 || r->status == 403) {
		set_abort(u, AP_ERR_FORBIDDEN, "the bucket refused the credentials (%s): check "
			  "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", reason);
		return;
	}
	if (r->status == 404) {
		set_abort(u, AP_ERR_NOT_FOUND, "no such bucket (%s): check AWS_BUCKET_NAME and "
			  "S3_ENDPOINT_URL", reason);
		return;
	}
	if (r->status != 200) {
		set_abort(u, AP_ERR_STORAGE, "listing the bucket failed: %s", reason);
		return;
	}
	/* a cut-off page would parse as a short, complete listing: insist on its end */
	n = r->body.len;
	while (n && (r->body.data[n - 1] == '\n' || r->body.data[n - 1] == '\r' ||
		     r->body.data[n - 1] == ' '))
		n--;
	if (n < strlen(end) || memcmp(r->body.data + n - strlen(end), end, strlen(end))) {
		set_abort(u, AP_ERR_STORAGE, "listing the bucket failed: incomplete "
			  "ListObjectsV2 page (%zu bytes)", r->body.len);
		return;
	}
	if (s3_parse_list(r->body.data, r->body.len, on_list_object, l, l->token,
			  sizeof(l->token))) {
		set_abort(u, AP_ERR_STORAGE, "listing the bucket failed: unreadable "
			  "ListObjectsV2 page");
		return;
	}
	if (!l->token[0])
		l->done = true;
}

static enum ap_err list_start(struct upload *u, struct lister *l)
{
	struct s3_req req;
	struct buf q;
	enum ap_err e;

	buf_init(&q, SIGV4_MAX_QUERY);
	if ((e = s3_list_query(l->prefix, l->token, &q)))
		goto fail;
	if ((e = s3_prepare(u->s3, &req, "GET", "", q.data, NULL, 0, NULL, NULL, 0)))
		goto fail;
	req.spec.max_body = S3_LIST_BODY_MAX;
	req.spec.timeout_ms = u->o.timeout_ms > UPLOAD_LIST_TIMEOUT_MIN_MS ?
				      u->o.timeout_ms : UPLOAD_LIST_TIMEOUT_MIN_MS;
	req.spec.max_retries = u->o.max_retries;
	req.spec.require_length = false;	/* the closing tag is checked instead */
	if ((e = engine_submit(u->eng, &req.spec, on_list, l, &l->x)))
		goto fail;
	l->busy = true;
fail:
	buf_free(&q);
	return e;
}

static enum ap_err list_all(struct upload *u, char *why, size_t whylen)
{
	size_t nl = u->nds * 2;
	struct lister *ls = calloc(nl ? nl : 1, sizeof(*ls));
	enum ap_err e = AP_OK;

	if (!ls) {
		snprintf(why, whylen, "out of memory");
		return AP_ERR_NOMEM;
	}
	for (size_t i = 0; i < nl; i++) {
		struct lister *l = &ls[i];
		l->u = u;
		l->ds = i / 2;
		l->meta = i % 2;
		if (l->meta)
			snprintf(l->prefix, sizeof(l->prefix), "metadata/datasets/%u.json",
				 u->ds[l->ds].id);
		else
			snprintf(l->prefix, sizeof(l->prefix), "tiles/%u/", u->ds[l->ds].id);
	}
	u->st.phase = UP_LISTING;
	for (;;) {
		unsigned busy = 0;
		bool all_done = true;

		if (stop_requested(u)) {
			u->st.interrupted = true;
			break;
		}
		if (u->abort)
			break;
		for (size_t i = 0; i < nl; i++)
			busy += ls[i].busy;
		/* each prefix pages sequentially; up to `workers` prefixes at once */
		for (size_t i = 0; i < nl && busy < u->o.workers; i++) {
			struct lister *l = &ls[i];
			if (l->busy || l->done)
				continue;	/* in flight, or its last page is in */
			if ((e = list_start(u, l))) {
				set_abort(u, e, "cannot prepare a listing request (%s)", ap_err_str(e));
				break;
			}
			busy++;
		}
		for (size_t i = 0; i < nl; i++)
			all_done = all_done && ls[i].done;
		if (all_done || u->abort)
			break;
		engine_run(u->eng, UPLOAD_TICK_MS, NULL, 0);
		progress(u);
	}
	for (size_t i = 0; i < nl; i++)
		if (ls[i].busy)
			engine_cancel(u->eng, ls[i].x);
	free(ls);
	if (u->abort) {
		snprintf(why, whylen, "%s", u->abort_why);
		return u->abort_err ? u->abort_err : AP_ERR_STORAGE;
	}
	return AP_OK;
}

/* ---- the comparison ------------------------------------------------------------------ */

static int cmp_lfile(const void *a, const void *b)
{
	return strcmp(((const struct lfile *)a)->key, ((const struct lfile *)b)->key);
}

static int cmp_robj(const void *a, const void *b)
{
	return strcmp(((const struct robj *)a)->key, ((const struct robj *)b)->key);
}

static int cmp_item(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->stage != y->stage)
		return x->stage < y->stage ? -1 : 1;
	return strcmp(x->key, y->key);
}

static void sort_lists(struct dsrun *d)
{
	if (d->nlocal)
		qsort(d->local, d->nlocal, sizeof(*d->local), cmp_lfile);
	if (d->nremote)
		qsort(d->remote, d->nremote, sizeof(*d->remote), cmp_robj);
}

/* Takes ownership of key (and why). */
static enum ap_err add_item(struct dsrun *d, char *key, unsigned long long size, bool meta,
			    enum action a, char *why)
{
	struct item *it;

	if (d->nitems == d->capitems) {
		size_t cap = d->capitems ? d->capitems * 2 : 64;
		struct item *n = realloc(d->items, cap * sizeof(*n));
		if (!n)
			return AP_ERR_NOMEM;
		d->items = n;
		d->capitems = cap;
	}
	it = &d->items[d->nitems++];
	memset(it, 0, sizeof(*it));
	it->key = key;
	it->size = size;
	it->meta = meta;
	it->action = (uint8_t)a;
	it->why = why;
	if (a == A_DELETE)
		it->stage = meta ? ST_META_DELETE : ST_TILE_DELETE;
	else
		it->stage = meta ? ST_META : ST_TILES;
	it->state = a == A_BAD ? I_FAILED : I_PENDING;
	return AP_OK;
}

/* Is the local file byte-equal to the bucket object (MD5 == ETag)? */
static bool same_bytes(struct upload *u, const struct lfile *f, const struct robj *r,
		       char **bad)
{
	char path[UPLOAD_PATH_MAX], why[UPLOAD_WHY_MAX], hex[MD5_HEX + 1];
	unsigned char raw[MD5_RAW], *body = NULL;
	struct stat st;
	size_t len = 0;

	*bad = NULL;
	if (!path_of(u, f->key, path, sizeof(path)))
		return false;
	if (slurp(path, f->meta ? UPLOAD_META_MAX_BYTES : UPLOAD_TILE_MAX_BYTES, &body, &len,
		  &st, why, sizeof(why))) {
		*bad = strdup(why);
		return false;
	}
	if (md5_of(body, len, raw, hex)) {
		free(body);
		*bad = strdup("MD5 unavailable in this OpenSSL");
		return false;
	}
	free(body);
	return len == r->size && strcmp(hex, r->etag) == 0;
}

static enum ap_err plan_dataset(struct upload *u, struct dsrun *d)
{
	size_t i = 0, j = 0;

	sort_lists(d);
	while (i < d->nlocal || j < d->nremote) {
		struct lfile *f = i < d->nlocal ? &d->local[i] : NULL;
		struct robj *r = j < d->nremote ? &d->remote[j] : NULL;
		int c = !f ? 1 : !r ? -1 : strcmp(f->key, r->key);
		enum ap_err e = AP_OK;

		if (stop_requested(u)) {
			u->st.interrupted = true;
			return AP_OK;
		}
		if (c > 0) {		/* only in the bucket */
			bool meta = strncmp(r->key, "metadata/", 9) == 0;
			if (u->o.delete_gone) {
				e = add_item(d, r->key, r->size, meta, A_DELETE, NULL);
				if (!e)
					r->key = NULL;
			} else {
				u->st.untouched++;
			}
			j++;
		} else if (f->bad) {	/* cannot be read: report, never delete its copy */
			e = add_item(d, f->key, 0, f->meta, A_BAD, f->bad);
			if (!e)
				f->key = f->bad = NULL;
			i++;
			j += c == 0;
		} else if (c < 0 || f->size != r->size) {
			e = add_item(d, f->key, f->size, f->meta, c < 0 ? A_PUT_NEW : A_PUT_CHANGED,
				     NULL);
			if (!e)
				f->key = NULL;
			i++;
			j += c == 0;
		} else {
			char *bad;
			bool same = same_bytes(u, f, r, &bad);
			u->st.compared++;
			if (same) {
				u->st.skipped++;
				emit(u, UEV_SKIPPED, f->key, f->size, NULL);
			} else {
				e = add_item(d, f->key, f->size, f->meta, bad ? A_BAD : A_PUT_CHANGED,
					     bad);
				if (!e)
					f->key = NULL;
				else
					free(bad);
			}
			i++;
			j++;
			progress(u);
		}
		if (e)
			return e;
	}
	if (d->nitems)
		qsort(d->items, d->nitems, sizeof(*d->items), cmp_item);
	for (size_t k = 0; k < d->nitems; k++) {
		struct item *it = &d->items[k];
		u->st.objects_total++;
		if (it->action == A_PUT_NEW || it->action == A_PUT_CHANGED)
			u->st.bytes_total += it->size;
		if (it->state == I_FAILED) {
			d->failed[it->stage]++;
			u->st.failed++;
			u->st.objects_done++;
		} else {
			d->remaining[it->stage]++;
		}
	}
	return AP_OK;
}

/* Frees what the comparison consumed: the plan is all that is left. */
static void drop_lists(struct dsrun *d)
{
	for (size_t i = 0; i < d->nlocal; i++) {
		free(d->local[i].key);
		free(d->local[i].bad);
	}
	for (size_t i = 0; i < d->nremote; i++)
		free(d->remote[i].key);
	free(d->local);
	free(d->remote);
	d->local = NULL;
	d->remote = NULL;
	d->nlocal = d->caplocal = d->nremote = d->capremote = 0;
}

static enum ap_err plan_all(struct upload *u, char *why, size_t whylen)
{
	u->st.phase = UP_COMPARING;
	/* how many files must be read to compare (sizes equal): the progress total */
	for (size_t k = 0; k < u->nds; k++) {
		struct dsrun *d = &u->ds[k];
		size_t i = 0, j = 0;
		sort_lists(d);
		while (i < d->nlocal && j < d->nremote) {
			int c = strcmp(d->local[i].key, d->remote[j].key);
			if (c == 0 && !d->local[i].bad && d->local[i].size == d->remote[j].size)
				u->st.to_compare++;
			i += c <= 0;
			j += c >= 0;
		}
	}
	progress(u);
	for (size_t k = 0; k < u->nds && !u->st.interrupted; k++) {
		if (plan_dataset(u, &u->ds[k])) {
			snprintf(why, whylen, "out of memory");
			return AP_ERR_NOMEM;
		}
		drop_lists(&u->ds[k]);
	}
	return AP_OK;
}

/* ---- sending ------------------------------------------------------------------------ */

static void item_done(struct upload *u, struct dsrun *d, struct item *it, bool ok,
		      const char *why)
{
	it->state = ok ? I_DONE : I_FAILED;
	d->remaining[it->stage]--;
	u->st.objects_done++;
	if (!ok) {
		free(it->why);
		it->why = strdup(why ? why : "failed");
		d->failed[it->stage]++;
		u->st.failed++;
		emit(u, UEV_FAILED, it->key, it->size, why);
	}
}

static void job_release(struct upload *u, struct job *j)
{
	free(j->body);
	u->st.inflight_bytes -= j->len;
	u->st.inflight--;
	j->body = NULL;
	j->len = 0;
	j->x = NULL;
	j->busy = false;
}

/* A storage failure; too many in a row end the run (the bucket is down). */
static void storage_failure(struct upload *u, const char *reason)
{
	if (++u->consecutive_failures >= UPLOAD_GIVE_UP_FAILURES)
		set_abort(u, AP_ERR_STORAGE, "giving up after %d failed requests in a row "
			  "(last: %s)", UPLOAD_GIVE_UP_FAILURES, reason);
}

/* Common outcome handling; true if the request succeeded. */
static bool judge(struct upload *u, const struct xfer_result *r, bool is_delete,
		  char *reason, size_t cap)
{
	http_reason(r, reason, cap);
	if (!r->err && r->status >= 200 && r->status < 300)
		return true;
	if (!r->err && is_delete && r->status == 404)
		return true;	/* already gone is what we wanted */
	if (!r->err && (r->status == 401 || r->status == 403)) {
		set_abort(u, AP_ERR_FORBIDDEN, "the bucket refused a %s (%s): check that "
			  "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY may write to it",
			  is_delete ? "DELETE" : "PUT", reason);
		return false;
	}
	if (r->err || r->status >= 500 || r->status == 429)
		storage_failure(u, reason);
	return false;
}

static void on_put(struct xfer_result *r, void *ud)
{
	struct job *j = ud;
	struct upload *u = j->u;
	char reason[UPLOAD_WHY_MAX], path[UPLOAD_PATH_MAX];
	struct upload_event ev;
	struct stat st;
	bool ok = judge(u, r, false, reason, sizeof(reason));

	if (ok && r->etag[0] && !strchr(r->etag, '-')) {
		/* the bucket's ETag of a single-part PUT is the MD5 of what it stored */
		char etag[UPLOAD_ETAG_MAX];
		size_t n = strlen(r->etag), o = 0;
		for (size_t i = 0; i < n && o + 1 < sizeof(etag); i++)
			if (r->etag[i] != '"')
				etag[o++] = (char)(r->etag[i] >= 'A' && r->etag[i] <= 'F' ?
							   r->etag[i] + 32 : r->etag[i]);
		etag[o] = '\0';
		if (strcmp(etag, j->md5) != 0) {
			ok = false;
			snprintf(reason, sizeof(reason), "the bucket stored other bytes (ETag %s, "
				 "MD5 %s)", etag, j->md5);
		}
	}
	if (ok) {
		u->consecutive_failures = 0;
		/* what we sent must still be the file: else report, the next run resends */
		if (!path_of(u, j->it->key, path, sizeof(path)) || stat(path, &st) != 0) {
			ok = false;
			snprintf(reason, sizeof(reason), "vanished during upload");
		} else if (st.st_size != j->st.st_size || st.st_ino != j->st.st_ino ||
			   st.st_dev != j->st.st_dev ||
			   st.st_mtim.tv_sec != j->st.st_mtim.tv_sec ||
			   st.st_mtim.tv_nsec != j->st.st_mtim.tv_nsec) {
			ok = false;
			snprintf(reason, sizeof(reason), "changed during upload (run again)");
		}
	}
	if (ok) {
		u->st.uploaded++;
		u->st.bytes_done += j->len;
		memset(&ev, 0, sizeof(ev));
		ev.kind = UEV_UPLOADED;
		ev.key = j->it->key;
		ev.bytes = j->len;
		ev.seconds = r->seconds;
		ev.attempts = r->attempts;
		if (u->o.event)
			u->o.event(&ev, u->o.ud);
	}
	item_done(u, j->d, j->it, ok, reason);
	job_release(u, j);
}

static void on_delete(struct xfer_result *r, void *ud)
{
	struct job *j = ud;
	struct upload *u = j->u;
	char reason[UPLOAD_WHY_MAX];
	bool ok = judge(u, r, true, reason, sizeof(reason));

	if (ok) {
		u->consecutive_failures = 0;
		u->st.deleted++;
		emit(u, UEV_DELETED, j->it->key, 0, NULL);
	}
	item_done(u, j->d, j->it, ok, reason);
	job_release(u, j);
}

static const char *content_type(const struct item *it)
{
	struct tilekey k;
	const char *slash;

	if (it->meta)
		return "application/json";
	/* tiles/{id}/z/x/y.ext: the key passed the grammar at the scan */
	slash = strchr(it->key + 6, '/');
	if (slash && !tk_parse_spec(slash + 1, strlen(slash + 1), &k))
		return tk_fmt_mime((enum tile_fmt)k.fmt);
	return "application/octet-stream";
}

/* Reads, hashes and submits a PUT; false with why if it cannot be sent. */
static bool start_put(struct upload *u, struct job *j, char *why, size_t whylen)
{
	char path[UPLOAD_PATH_MAX], sha[SIGV4_HASH_HEX + 1], md5b64[MD5_B64 + 1];
	char h_type[UPLOAD_HEADER_MAX], h_cache[UPLOAD_HEADER_MAX], h_md5[UPLOAD_HEADER_MAX];
	char bad[UPLOAD_WHY_MAX];
	const char *extra[3];
	unsigned char raw[MD5_RAW];
	struct s3_req req;
	struct dataset ds;
	enum ap_err e;

	if (!path_of(u, j->it->key, path, sizeof(path))) {
		snprintf(why, whylen, "path too long");
		return false;
	}
	e = slurp(path, j->it->meta ? UPLOAD_META_MAX_BYTES : UPLOAD_TILE_MAX_BYTES, &j->body,
		  &j->len, &j->st, why, whylen);
	if (e)
		return false;
	u->st.inflight_bytes += j->len;	/* released with the job, whatever happens */
	if (u->st.inflight_bytes > u->st.peak_inflight_bytes)
		u->st.peak_inflight_bytes = u->st.inflight_bytes;
	if (j->it->meta && dataset_parse((const char *)j->body, j->len,
					 j->d->id, &ds, bad, sizeof(bad))) {
		text(why, whylen, "invalid metadata, the server would refuse it: %s", bad);
		return false;
	}
	if (md5_of(j->body, j->len, raw, j->md5) || sigv4_sha256_hex(j->body, j->len, sha)) {
		snprintf(why, whylen, "cannot hash the file (OpenSSL)");
		return false;
	}
	b64_encode(raw, sizeof(raw), md5b64);
	md5b64[MD5_B64] = '\0';	/* b64_encode() writes 4 * ceil(16 / 3) chars */
	snprintf(h_type, sizeof(h_type), "Content-Type: %s", content_type(j->it));
	snprintf(h_cache, sizeof(h_cache), "Cache-Control: %s",
		 j->it->meta ? UPLOAD_META_CACHE_CONTROL : UPLOAD_TILE_CACHE_CONTROL);
	/* the bucket checks Content-MD5 and the signed SHA-256 against what arrives */
	snprintf(h_md5, sizeof(h_md5), "Content-MD5: %s", md5b64);
	extra[0] = h_type;
	extra[1] = h_cache;
	extra[2] = h_md5;
	e = s3_prepare(u->s3, &req, "PUT", j->it->key, NULL, j->body, j->len, sha, extra, 3);
	if (e) {
		snprintf(why, whylen, "cannot prepare the request (%s)", ap_err_str(e));
		return false;
	}
	req.spec.max_body = UPLOAD_RESPONSE_MAX;
	req.spec.timeout_ms = u->o.timeout_ms +
			      (long)((unsigned long long)j->len * 1000 / UPLOAD_MIN_RATE_BPS);
	req.spec.max_retries = u->o.max_retries;
	req.spec.require_length = false;	/* the answer's body is not used */
	if ((e = engine_submit(u->eng, &req.spec, on_put, j, &j->x))) {
		snprintf(why, whylen, "cannot start the transfer (%s)", ap_err_str(e));
		return false;
	}
	return true;
}

static bool start_delete(struct upload *u, struct job *j, char *why, size_t whylen)
{
	struct s3_req req;
	enum ap_err e;

	e = s3_prepare(u->s3, &req, "DELETE", j->it->key, NULL, NULL, 0, NULL, NULL, 0);
	if (e) {
		snprintf(why, whylen, "cannot prepare the request (%s)", ap_err_str(e));
		return false;
	}
	req.spec.max_body = UPLOAD_RESPONSE_MAX;
	req.spec.timeout_ms = u->o.timeout_ms;
	req.spec.max_retries = u->o.max_retries;
	if ((e = engine_submit(u->eng, &req.spec, on_delete, j, &j->x))) {
		snprintf(why, whylen, "cannot start the transfer (%s)", ap_err_str(e));
		return false;
	}
	return true;
}

static struct job *free_job(struct upload *u)
{
	for (unsigned i = 0; i < u->o.workers; i++)
		if (!u->jobs[i].busy)
			return &u->jobs[i];
	return NULL;
}

/* Can item it of d start now? -1: never (an earlier stage failed), 0: not yet. */
static int stage_open(const struct dsrun *d, const struct item *it)
{
	for (unsigned s = 0; s < it->stage; s++)
		if (d->remaining[s])
			return 0;
	for (unsigned s = 0; s < it->stage; s++)
		if (d->failed[s])
			return -1;
	return 1;
}

/*
 * Starts items while there is room: fewer than `workers` in flight and the
 * next body fits in the byte budget (always, when nothing is in flight).
 * Datasets are taken in order; a dataset whose next stage waits for its
 * transfers in flight lets the next dataset go ahead.
 */
static void fill(struct upload *u)
{
	char why[UPLOAD_WHY_MAX];

	for (size_t k = u->first_open; k < u->nds; k++) {
		struct dsrun *d = &u->ds[k];

		while (d->next < d->nitems) {
			struct item *it = &d->items[d->next];
			struct job *j;
			int open;

			if (it->state != I_PENDING) {	/* failed at the scan */
				d->next++;
				continue;
			}
			open = stage_open(d, it);
			if (open == 0)
				break;
			if (open < 0) {
				char held[UPLOAD_WHY_MAX];
				d->next++;
				snprintf(held, sizeof(held), "held back: an earlier object of dataset "
					 "%u failed (metadata and deletions wait until every tile "
					 "is in the bucket)", d->id);
				item_done(u, d, it, false, held);
				continue;
			}
			if (u->st.inflight >= u->o.workers)
				return;
			if (it->action != A_DELETE && u->st.inflight > 0 &&
			    u->st.inflight_bytes + it->size > UPLOAD_INFLIGHT_BYTES_MAX)
				return;	/* wait for bodies to be released */
			j = free_job(u);
			if (!j)
				return;
			d->next++;
			memset(j, 0, sizeof(*j));
			j->u = u;
			j->d = d;
			j->it = it;
			j->busy = true;
			if (++u->st.inflight > u->st.peak_inflight)
				u->st.peak_inflight = u->st.inflight;
			it->state = I_RUNNING;
			why[0] = '\0';
			if (!(it->action == A_DELETE ? start_delete(u, j, why, sizeof(why)) :
						       start_put(u, j, why, sizeof(why)))) {
				item_done(u, d, it, false, why);
				job_release(u, j);
			}
			if (u->abort)
				return;
		}
		if (k == u->first_open && d->next == d->nitems)
			u->first_open = k + 1;
	}
}

static bool all_started(const struct upload *u)
{
	for (size_t k = u->first_open; k < u->nds; k++)
		if (u->ds[k].next < u->ds[k].nitems)
			return false;
	return true;
}

static void cancel_all(struct upload *u)
{
	for (unsigned i = 0; i < u->o.workers; i++) {
		struct job *j = &u->jobs[i];
		if (!j->busy)
			continue;
		engine_cancel(u->eng, j->x);
		j->it->state = I_CANCELLED;
		job_release(u, j);
	}
}

static void send_all(struct upload *u)
{
	long long deadline = 0;

	u->st.phase = UP_SENDING;
	progress(u);
	for (;;) {
		if (stop_requested(u) && !u->st.interrupted)
			u->st.interrupted = true;
		if ((u->st.interrupted || u->abort) && !deadline)
			deadline = now_ms() + UPLOAD_STOP_GRACE_MS;
		if (!deadline)
			fill(u);
		if (u->st.inflight == 0 && (deadline || all_started(u)))
			break;
		if (deadline && (now_ms() >= deadline || (u->o.stop && *u->o.stop >= 2))) {
			cancel_all(u);
			break;
		}
		engine_run(u->eng, UPLOAD_TICK_MS, NULL, 0);
		progress(u);
	}
}

/* Dry run: what would be sent, in the order it would be. */
static void report_plan(struct upload *u)
{
	for (size_t k = 0; k < u->nds; k++) {
		struct dsrun *d = &u->ds[k];
		for (size_t i = 0; i < d->nitems; i++) {
			struct item *it = &d->items[i];
			if (it->state == I_FAILED)
				emit(u, UEV_FAILED, it->key, it->size, it->why);
			else if (it->action == A_DELETE)
				emit(u, UEV_WOULD_DELETE, it->key, it->size, NULL);
			else
				emit(u, UEV_WOULD_UPLOAD, it->key, it->size,
				     it->action == A_PUT_NEW ? "new" : "changed");
		}
	}
}

enum ap_err upload_run(struct upload *u, char *why, size_t whylen)
{
	enum ap_err e;

	why[0] = '\0';
	if ((e = list_all(u, why, whylen)))
		goto out;
	if (!u->st.interrupted && (e = plan_all(u, why, whylen)))
		goto out;
	if (!u->st.interrupted) {
		if (u->o.dry_run)
			report_plan(u);
		else
			send_all(u);
	}
	if (u->abort) {
		snprintf(why, whylen, "%s", u->abort_why);
		e = u->abort_err ? u->abort_err : AP_ERR_STORAGE;
	}
out:
	u->st.not_sent = u->st.objects_total - u->st.objects_done;
	if (u->o.dry_run)
		u->st.not_sent = 0;
	u->st.reached = u->st.phase;
	u->st.phase = UP_DONE;
	progress(u);
	return e;
}

/* ---- life cycle ------------------------------------------------------------------------ */

enum ap_err upload_new(const struct upload_opts *o, struct engine *e, struct s3 *s,
		       struct upload **out)
{
	struct upload *u;

	if (!o->local_dir || o->workers < 1 || o->workers > UPLOAD_WORKERS_MAX)
		return AP_ERR_CONFIG;
	u = calloc(1, sizeof(*u));
	if (!u)
		return AP_ERR_NOMEM;
	u->jobs = calloc(o->workers, sizeof(*u->jobs));
	if (!u->jobs) {
		free(u);
		return AP_ERR_NOMEM;
	}
	u->o = *o;
	u->eng = e;
	u->s3 = s;
	*out = u;
	return AP_OK;
}

void upload_free(struct upload *u)
{
	if (!u)
		return;
	cancel_all(u);
	for (size_t k = 0; k < u->nds; k++) {
		struct dsrun *d = &u->ds[k];
		drop_lists(d);
		for (size_t i = 0; i < d->nitems; i++) {
			free(d->items[i].key);
			free(d->items[i].why);
		}
		free(d->items);
	}
	free(u->ds);
	free(u->jobs);
	free(u);
}

const struct upload_stats *upload_stats(const struct upload *u)
{
	return &u->st;
}

void upload_failures(const struct upload *u, void (*fn)(const char *key, const char *why,
							 void *ud), void *ud)
{
	for (size_t k = 0; k < u->nds; k++)
		for (size_t i = 0; i < u->ds[k].nitems; i++)
			if (u->ds[k].items[i].state == I_FAILED)
				fn(u->ds[k].items[i].key, u->ds[k].items[i].why, ud);
}
