/*
 * upload_index.c - the tile index of a dataset (tileindex.h), as the run
 * makes it: from the local files (UPLOAD_SYNC, UPLOAD_INDEX_LOCAL) or from
 * the bucket's listing and metadata object (UPLOAD_INDEX_BUCKET).
 *
 * The index lists the tile keys the server reads: keys that follow the tile
 * grammar with the format's own extension (a bucket object y.jpeg is never
 * read: the server asks for y.jpg) and lie inside the grid of the metadata;
 * every other key is counted and named in a note. It describes the
 * metadata's updated_at, so a reader ignores it once the metadata changes.
 *
 * The encoded index is held in memory as the body of a local file under
 * metadata/datasets/{id}.index, so it is compared with the bucket's object
 * (MD5 = ETag: the encoding is deterministic, an unchanged index is skipped)
 * and sent like any other object, in the index stage. A run that is not a
 * dry run also writes it to the local tree, through a temporary file, fsync
 * and rename, and only when its bytes changed: a local server sees the old
 * index or the new one, never half of one.
 *
 * When the metadata is valid but no index can be built (a grid over the
 * builder's limits), an index left from before could name tiles that are
 * gone: the local one is removed and the bucket's is deleted in the index
 * stage, whatever --delete says.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "dataset.h"
#include "s3.h"
#include "tileindex.h"
#include "tilekey.h"
#include "upload.h"
#include "upload_int.h"

#define UPLOAD_META_TIMEOUT_MIN_MS 10000	/* GET of one metadata object */

void upload_index_key(uint32_t id, char *out, size_t cap)
{
	snprintf(out, cap, "metadata/datasets/%u.index", id);
}

enum upload_kind upload_kind_of(uint32_t id, const char *key)
{
	char k[UPLOAD_ID_KEY_MAX];

	if (strncmp(key, "metadata/", 9) != 0)
		return OBJ_TILE;
	upload_index_key(id, k, sizeof(k));
	return strcmp(key, k) ? OBJ_META : OBJ_INDEX;
}

/* ---- building ------------------------------------------------------------------- */

struct index_tally {
	unsigned long long tiles[FMT__COUNT];
	unsigned long long ignored;	/* a .jpeg key, or outside the grid */
	char first[UPLOAD_ID_KEY_MAX];
};

/* Adds the tile key tiles/{id}/{z}/{x}/{y}.{ext} (grammar checked by the scan
 * or the listing) to b, or counts it as ignored. */
static enum ap_err add_key(struct tileindex_builder *b, uint32_t id, const char *key,
			   struct index_tally *t)
{
	char prefix[UPLOAD_ID_KEY_MAX];
	const char *spec, *dot;
	struct tilekey k;
	enum ap_err e = AP_ERR_BAD_REQUEST;
	size_t pl = (size_t)snprintf(prefix, sizeof(prefix), "tiles/%u/", id);

	spec = strncmp(key, prefix, pl) ? NULL : key + pl;
	dot = spec ? strrchr(spec, '.') : NULL;
	if (dot && !tk_parse_spec(spec, strlen(spec), &k) &&
	    !strcmp(dot + 1, tk_fmt_ext((enum tile_fmt)k.fmt)))
		e = tileindex_builder_add(b, k.z, k.x, k.y, (enum tile_fmt)k.fmt);
	if (e == AP_ERR_BAD_REQUEST) {	/* not a key the server reads, or outside the grid */
		if (t->ignored++ == 0)
			upload_text(t->first, sizeof(t->first), "%s", key);
		return AP_OK;
	}
	if (!e)
		t->tiles[k.fmt]++;
	return e;
}

/* The encoded index of d from its tile files (or, from_bucket, its objects). */
static enum ap_err build(const struct upload_dataset *d, bool from_bucket, struct buf *out,
			 struct index_tally *t, char *why, size_t whylen)
{
	struct tileindex_builder *b = NULL;
	enum ap_err e;
	size_t n = from_bucket ? d->nremote : d->nlocal;

	memset(t, 0, sizeof(*t));
	if ((e = tileindex_builder_new(&d->meta, d->meta.updated_at, &b, why, whylen)))
		return e;
	for (size_t i = 0; i < n && !e; i++) {
		const char *key = from_bucket ? d->remote[i].key : d->local[i].key;
		if (upload_kind_of(d->id, key) != OBJ_TILE)
			continue;
		if (!from_bucket && d->local[i].bad)
			continue;	/* cannot be sent: the bucket will not have it */
		e = add_key(b, d->id, key, t);
	}
	if (!e && (e = tileindex_builder_encode(b, out)) == AP_ERR_TOO_LARGE)
		snprintf(why, whylen, "the index would be larger than %u bytes",
			 TILEINDEX_MAX_BYTES);
	tileindex_builder_free(b);
	return e;
}

/* Tells what the index of d lists (UEV_INDEX). */
static void tell(struct upload *u, const struct upload_dataset *d, size_t len,
		 const struct index_tally *t, const char *where)
{
	char key[UPLOAD_ID_KEY_MAX], text[UPLOAD_WHY_MAX + UPLOAD_ID_KEY_MAX];
	unsigned long long all = t->tiles[FMT_JPG] + t->tiles[FMT_PNG] + t->tiles[FMT_WEBP];
	int n;

	upload_index_key(d->id, key, sizeof(key));
	n = snprintf(text, sizeof(text), "dataset %u: index of %llu tile%s (jpg %llu, png %llu, "
		     "webp %llu), %zu bytes%s", d->id, all, all == 1 ? "" : "s",
		     t->tiles[FMT_JPG], t->tiles[FMT_PNG], t->tiles[FMT_WEBP], len, where);
	if (t->ignored && n > 0 && (size_t)n < sizeof(text))
		snprintf(text + n, sizeof(text) - (size_t)n, "; %llu object%s ignored: not a tile "
			 "of the grid the server reads (e.g. %s)", t->ignored,
			 t->ignored == 1 ? "" : "s", t->first);
	upload_emit(u, UEV_INDEX, key, len, text);
}

/* Makes the encoded index (its buffer taken) the body of d's index file. */
static enum ap_err hold(struct upload *u, struct upload_dataset *d, struct buf *enc, char *why,
			size_t whylen)
{
	char key[UPLOAD_ID_KEY_MAX];
	unsigned char *body = (unsigned char *)enc->data;
	size_t len = enc->len;
	enum ap_err e;

	if (len > UPLOAD_INDEX_HELD_MAX - u->index_held) {
		snprintf(why, whylen, "more than %u MiB of tile indexes in one run: sync fewer "
			 "datasets at a time", UPLOAD_INDEX_HELD_MAX >> 20);
		return AP_ERR_TOO_LARGE;
	}
	upload_index_key(d->id, key, sizeof(key));
	if ((e = upload_add_local(u, d, key, NULL, len, NULL, OBJ_INDEX, body, why, whylen)))
		return e;
	enc->data = NULL;	/* the file owns it now */
	enc->len = enc->cap = 0;
	u->index_held += len;
	d->index_built = true;
	upload_sort_local(d);
	return AP_OK;
}

/* ---- the local copy ------------------------------------------------------------- */

static enum ap_err write_all(int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return AP_ERR_IO;
		p += w;
		n -= (size_t)w;
	}
	return AP_OK;
}

/* path gets p[0..n) whole or not at all: a temporary file beside it, fsync, rename. */
static enum ap_err write_atomic(const char *path, const char *tmp, const unsigned char *p,
				size_t n, char *why, size_t whylen)
{
	int fd;

	unlink(tmp);	/* left by a run that died here */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		snprintf(why, whylen, "%s: %s", tmp, strerror(errno));
		return AP_ERR_IO;
	}
	if (write_all(fd, p, n) || fsync(fd) != 0) {
		snprintf(why, whylen, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return AP_ERR_IO;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return AP_ERR_IO;
	}
	return AP_OK;
}

/* Does path hold exactly p[0..n)? */
static bool holds(const char *path, const unsigned char *p, size_t n)
{
	unsigned char *old = NULL;
	char why[UPLOAD_WHY_MAX];
	struct stat st;
	size_t len = 0;
	bool same;

	if (upload_slurp(path, TILEINDEX_MAX_BYTES, &old, &len, &st, why, sizeof(why)))
		return false;
	same = len == n && memcmp(old, p, n) == 0;
	free(old);
	return same;
}

/* Writes (p, n) as d's local index, or removes it (p NULL); " written to …" into where. */
static void store_local(struct upload *u, const struct upload_dataset *d,
			const unsigned char *p, size_t n, char *where, size_t wherelen)
{
	char key[UPLOAD_ID_KEY_MAX], rel[UPLOAD_ID_KEY_MAX + 16], path[UPLOAD_PATH_MAX];
	char tmp[UPLOAD_PATH_MAX], why[UPLOAD_WHY_MAX + UPLOAD_PATH_MAX];
	char warning[sizeof(why) + UPLOAD_WHY_MAX];

	where[0] = '\0';
	upload_index_key(d->id, key, sizeof(key));
	snprintf(rel, sizeof(rel), "metadata/datasets/.%u.index.tmp", d->id);
	if (!upload_path_of(u, key, path, sizeof(path)) ||
	    !upload_path_of(u, rel, tmp, sizeof(tmp)))
		return;
	if (!p) {
		if (unlink(path) == 0)
			upload_text(where, wherelen, " (the stale %s was removed)", path);
		return;
	}
	if (holds(path, p, n)) {
		upload_text(where, wherelen, ", unchanged in %s", path);
		return;
	}
	if (write_atomic(path, tmp, p, n, why, sizeof(why))) {
		upload_text(warning, sizeof(warning), "dataset %u: the index was not written to "
			    "the local tree (%s); the bucket still gets it", d->id, why);
		upload_emit(u, UEV_WARNING, NULL, 0, warning);
		return;
	}
	upload_text(where, wherelen, ", written to %s", path);
}

enum ap_err upload_index_local(struct upload *u, struct upload_dataset *d, char *why,
			       size_t whylen)
{
	char reason[UPLOAD_WHY_MAX], where[UPLOAD_PATH_MAX + 64], note[2 * UPLOAD_WHY_MAX];
	struct index_tally t;
	struct buf enc;
	bool write = !u->o.dry_run;
	enum ap_err e;

	if (d->meta_state != META_VALID)
		return AP_OK;	/* no grid: the scan's note or the metadata's failure says why */
	buf_init(&enc, TILEINDEX_MAX_BYTES);
	reason[0] = '\0';
	e = build(d, false, &enc, &t, reason, sizeof(reason));
	if (e == AP_ERR_NOMEM) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	if (e) {	/* over a limit: served by probing, and no stale index may stay */
		if (write)
			store_local(u, d, NULL, 0, where, sizeof(where));
		upload_text(note, sizeof(note), "dataset %u: no tile index: %s (the server "
			    "probes storage; an index left in the bucket is deleted)", d->id,
			    reason[0] ? reason : ap_err_str(e));
		upload_emit(u, UEV_NOTE, NULL, 0, note);
		e = AP_OK;
		goto out;
	}
	where[0] = '\0';
	if (write)
		store_local(u, d, (const unsigned char *)enc.data, enc.len, where, sizeof(where));
	tell(u, d, enc.len, &t, where);
	e = hold(u, d, &enc, why, whylen);
out:
	buf_free(&enc);
	return e;
}

/* ---- from the bucket (UPLOAD_INDEX_BUCKET) -------------------------------------- */

struct meta_get {		/* the GET of one dataset's metadata object */
	struct upload *u;
	struct upload_dataset *d;
	struct xfer *x;
	struct buf body;
	char why[UPLOAD_WHY_MAX];
	bool busy, done, ok;
};

static void on_meta(struct xfer_result *r, void *ud)
{
	struct meta_get *g = ud;

	g->busy = false;
	g->done = true;
	g->x = NULL;
	if (!r->err && r->status == 200) {
		g->ok = buf_add(&g->body, r->body.data ? r->body.data : "", r->body.len) == AP_OK;
		if (!g->ok)
			snprintf(g->why, sizeof(g->why), "out of memory");
		return;
	}
	upload_http_reason(r, g->why, sizeof(g->why));
	if (!r->err && (r->status == 401 || r->status == 403))
		upload_set_abort(g->u, AP_ERR_FORBIDDEN, "the bucket refused a GET (%s): check "
				 "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", g->why);
}

static enum ap_err meta_start(struct upload *u, struct meta_get *g)
{
	char key[UPLOAD_ID_KEY_MAX];
	struct s3_req req;
	enum ap_err e;

	snprintf(key, sizeof(key), "metadata/datasets/%u.json", g->d->id);
	if ((e = s3_prepare(u->s3, &req, "GET", key, NULL, NULL, 0, NULL, NULL, 0)))
		return e;
	req.spec.max_body = META_MAX_BYTES;
	req.spec.timeout_ms = u->o.timeout_ms > UPLOAD_META_TIMEOUT_MIN_MS ?
				      u->o.timeout_ms : UPLOAD_META_TIMEOUT_MIN_MS;
	req.spec.max_retries = u->o.max_retries;
	req.spec.require_length = true;
	if ((e = engine_submit(u->eng, &req.spec, on_meta, g, &g->x)))
		return e;
	g->busy = true;
	return AP_OK;
}

/* GETs the metadata objects, `workers` at a time; false if the run ended. */
static bool fetch_all(struct upload *u, struct meta_get *gs, size_t n)
{
	for (;;) {
		unsigned busy = 0;
		bool all = true;
		for (size_t i = 0; i < n; i++)
			busy += gs[i].busy;
		for (size_t i = 0; i < n && busy < u->o.workers && !u->abort; i++) {
			if (gs[i].busy || gs[i].done)
				continue;
			if (meta_start(u, &gs[i]))
				upload_set_abort(u, AP_ERR_INTERNAL, "cannot prepare a GET");
			busy++;
		}
		for (size_t i = 0; i < n; i++)
			all = all && gs[i].done;
		if (all || u->abort)
			break;
		if (upload_stop_requested(u)) {
			u->st.interrupted = true;
			break;
		}
		engine_run(u->eng, UPLOAD_TICK_MS, NULL, 0);
		upload_progress(u);
	}
	for (size_t i = 0; i < n; i++)
		if (gs[i].busy)
			engine_cancel(u->eng, gs[i].x);
	return !u->abort && !u->st.interrupted;
}

/* Keeps of d's bucket objects only its index, the one object to compare with. */
static void keep_index_object(struct upload_dataset *d)
{
	size_t o = 0;

	for (size_t i = 0; i < d->nremote; i++) {
		if (upload_kind_of(d->id, d->remote[i].key) == OBJ_INDEX)
			d->remote[o++] = d->remote[i];
		else
			free(d->remote[i].key);
	}
	d->nremote = o;
}

/* A dataset whose index cannot be made: a failed item naming why. */
static enum ap_err refuse(struct upload *u, struct upload_dataset *d, const char *fmt,
			  const char *detail, char *why, size_t whylen)
{
	char key[UPLOAD_ID_KEY_MAX], bad[UPLOAD_WHY_MAX * 2];

	upload_index_key(d->id, key, sizeof(key));
	upload_text(bad, sizeof(bad), fmt, detail);
	return upload_add_local(u, d, key, NULL, 0, bad, OBJ_INDEX, NULL, why, whylen);
}

/* The index of d from its listing and its metadata object g. */
static enum ap_err index_of(struct upload *u, struct upload_dataset *d, struct meta_get *g,
			    char *why, size_t whylen)
{
	char reason[UPLOAD_WHY_MAX], where[64] = "";
	struct index_tally t;
	struct buf enc;
	enum ap_err e;

	if (!g->ok)
		return refuse(u, d, "cannot read the dataset's metadata from the bucket: %s",
			      g->why, why, whylen);
	reason[0] = '\0';
	if (dataset_parse(g->body.data, g->body.len, d->id, &d->meta, reason, sizeof(reason)))
		return refuse(u, d, "the bucket's metadata is invalid: %s", reason, why, whylen);
	d->meta_state = META_VALID;
	buf_init(&enc, TILEINDEX_MAX_BYTES);
	e = build(d, true, &enc, &t, reason, sizeof(reason));
	t.ignored += d->remote_ignored;
	if (d->remote_ignored && t.first[0] == '\0' && d->remote_ignored_first)
		upload_text(t.first, sizeof(t.first), "%s", d->remote_ignored_first);
	if (e == AP_ERR_NOMEM)
		snprintf(why, whylen, "out of memory");
	else if (e)
		e = refuse(u, d, "no index: %s", reason[0] ? reason : ap_err_str(e), why, whylen);
	else {
		tell(u, d, enc.len, &t, where);
		e = hold(u, d, &enc, why, whylen);
	}
	buf_free(&enc);
	return e;
}

enum ap_err upload_index_from_bucket(struct upload *u, char *why, size_t whylen)
{
	struct meta_get *gs = calloc(u->nds ? u->nds : 1, sizeof(*gs));
	enum ap_err e = AP_OK;
	char id[16];

	if (!gs) {
		snprintf(why, whylen, "out of memory");
		return AP_ERR_NOMEM;
	}
	for (size_t i = 0; i < u->nds; i++) {
		struct upload_dataset *d = &u->ds[i];
		gs[i].u = u;
		gs[i].d = d;
		buf_init(&gs[i].body, META_MAX_BYTES);
		gs[i].done = true;	/* unless the bucket has the metadata to read */
		snprintf(gs[i].why, sizeof(gs[i].why), "no such object");
		for (size_t j = 0; j < d->nremote; j++)
			if (upload_kind_of(d->id, d->remote[j].key) == OBJ_META)
				gs[i].done = false;
	}
	if (fetch_all(u, gs, u->nds)) {
		for (size_t i = 0; i < u->nds && !e; i++) {
			snprintf(id, sizeof(id), "%u", u->ds[i].id);
			if (!gs[i].ok && !strcmp(gs[i].why, "no such object"))
				e = refuse(u, &u->ds[i], "no metadata/datasets/%s.json in the bucket",
					   id, why, whylen);
			else
				e = index_of(u, &u->ds[i], &gs[i], why, whylen);
			keep_index_object(&u->ds[i]);
		}
	} else if (u->abort) {
		snprintf(why, whylen, "%s", u->abort_why);
		e = u->abort_err ? u->abort_err : AP_ERR_STORAGE;
	}
	for (size_t i = 0; i < u->nds; i++)
		buf_free(&gs[i].body);
	free(gs);
	return e;
}
