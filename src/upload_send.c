/*
 * upload_send.c - the plan's items sent over the engine, `workers` deep.
 *
 * Execution is one loop around engine_run(): fill() starts items while
 * fewer than `workers` transfers are in flight and the next body fits in
 * UPLOAD_INFLIGHT_BYTES_MAX; completion callbacks only record results, the
 * loop submits. The stop flag (a signal) ends filling; transfers in flight
 * get UPLOAD_STOP_GRACE_MS, then are cancelled.
 *
 * A slot is one of the `workers` transfers: the item it sends, the file's
 * body while the PUT is in flight (released with the slot, whatever
 * happens) and the file's stat at reading, compared again once the PUT
 * completed so that a file that changed meanwhile is reported, never
 * silently uploaded half-old. An item made in memory (the index) lends its
 * body to the slot instead, and frees it once it is done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "base64.h"
#include "catalog.h"
#include "clock.h"
#include "engine.h"
#include "s3.h"
#include "sigv4.h"
#include "tilekey.h"
#include "upload.h"
#include "upload_int.h"

#define UPLOAD_GIVE_UP_FAILURES 20	/* consecutive storage failures that end the run */
#define UPLOAD_RESPONSE_MAX (64 * 1024)	/* PUT/DELETE answers: an error document at most */
#define UPLOAD_MD5_B64 24		/* base64 of 16 bytes, for Content-MD5 */
#define UPLOAD_HEADER_MAX 128		/* one header line we add (type, cache, MD5) */

_Static_assert(UPLOAD_TILE_MAX_BYTES <= UPLOAD_INFLIGHT_BYTES_MAX &&
	       UPLOAD_META_MAX_BYTES <= UPLOAD_INFLIGHT_BYTES_MAX,
	       "any single file must fit in the in-flight byte budget");
_Static_assert(UPLOAD_TILE_MAX_BYTES <= SIGV4_MAX_BODY, "the signer must hash any body");

struct upload_slot {
	struct upload *u;
	struct upload_dataset *d;
	struct upload_item *it;
	unsigned char *body;
	size_t len;
	struct stat st;		/* of the file when read */
	char md5[UPLOAD_MD5_HEX + 1];
	struct xfer *x;
	bool busy;
	bool lent;		/* body is the item's (made in memory), not read for the slot */
};

/* The item's own local file: its source name, else its key. */
static bool item_path(const struct upload *u, const struct upload_item *it, char *out,
		      size_t cap)
{
	return upload_path_of(u, it->src ? it->src : it->key, out, cap);
}

static void item_done(struct upload *u, struct upload_dataset *d, struct upload_item *it,
		      bool ok, const char *why)
{
	it->state = ok ? I_DONE : I_FAILED;
	free(it->body);		/* sent or failed: a failed one is made again by the next run */
	it->body = NULL;
	d->remaining[it->stage]--;
	u->st.objects_done++;
	if (!ok) {
		free(it->why);
		it->why = strdup(why ? why : "failed");
		d->failed[it->stage]++;
		u->st.failed++;
		upload_emit(u, UEV_FAILED, it->key, it->size, why);
	}
}

static void slot_release(struct upload *u, struct upload_slot *s)
{
	if (!s->lent) {
		free(s->body);
		u->st.inflight_bytes -= s->len;
	}
	u->st.inflight--;
	s->body = NULL;
	s->len = 0;
	s->x = NULL;
	s->busy = false;
	s->lent = false;
}

/* A storage failure; too many in a row end the run (the bucket is down). */
static void storage_failure(struct upload *u, const char *reason)
{
	if (++u->consecutive_failures >= UPLOAD_GIVE_UP_FAILURES)
		upload_set_abort(u, AP_ERR_STORAGE, "giving up after %d failed requests in a "
				 "row (last: %s)", UPLOAD_GIVE_UP_FAILURES, reason);
}

/* Common outcome handling; true if the request succeeded. */
static bool judge(struct upload *u, const struct xfer_result *r, bool is_delete,
		  char *reason, size_t cap)
{
	upload_http_reason(r, reason, cap);
	if (!r->err && r->status >= 200 && r->status < 300)
		return true;
	if (!r->err && is_delete && r->status == 404)
		return true;	/* already gone is what we wanted */
	if (!r->err && (r->status == 401 || r->status == 403)) {
		upload_set_abort(u, AP_ERR_FORBIDDEN, "the bucket refused a %s (%s): check that "
				 "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY may write to it",
				 is_delete ? "DELETE" : "PUT", reason);
		return false;
	}
	if (r->err || r->status >= 500 || r->status == 429)
		storage_failure(u, reason);
	return false;
}

/* The bucket's ETag of a single-part PUT is the MD5 of what it stored. */
static bool stored_what_we_sent(const struct upload_slot *s, const struct xfer_result *r,
				char *reason, size_t cap)
{
	char etag[UPLOAD_ETAG_MAX];
	size_t n = strlen(r->etag), o = 0;

	if (!r->etag[0] || strchr(r->etag, '-'))
		return true;	/* none, or multipart: nothing to compare */
	for (size_t i = 0; i < n && o + 1 < sizeof(etag); i++)
		if (r->etag[i] != '"')
			etag[o++] = (char)(r->etag[i] >= 'A' && r->etag[i] <= 'F' ?
						   r->etag[i] + 32 : r->etag[i]);
	etag[o] = '\0';
	if (strcmp(etag, s->md5) == 0)
		return true;
	snprintf(reason, cap, "the bucket stored other bytes (ETag %s, MD5 %s)", etag, s->md5);
	return false;
}

/* What we sent must still be the file: else report, the next run resends. */
static bool file_unchanged(const struct upload_slot *s, char *reason, size_t cap)
{
	char path[UPLOAD_PATH_MAX];
	struct stat st;

	if (!item_path(s->u, s->it, path, sizeof(path)) || stat(path, &st) != 0) {
		snprintf(reason, cap, "vanished during upload");
		return false;
	}
	if (st.st_size != s->st.st_size || st.st_ino != s->st.st_ino ||
	    st.st_dev != s->st.st_dev || st.st_mtim.tv_sec != s->st.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != s->st.st_mtim.tv_nsec) {
		snprintf(reason, cap, "changed during upload (run again)");
		return false;
	}
	return true;
}

static void on_put(struct xfer_result *r, void *ud)
{
	struct upload_slot *s = ud;
	struct upload *u = s->u;
	char reason[UPLOAD_WHY_MAX];
	struct upload_event ev;
	bool ok = judge(u, r, false, reason, sizeof(reason));

	ok = ok && stored_what_we_sent(s, r, reason, sizeof(reason));
	if (ok) {
		u->consecutive_failures = 0;
		ok = s->lent || file_unchanged(s, reason, sizeof(reason));
	}
	if (ok) {
		u->st.uploaded++;
		u->st.bytes_done += s->len;
		memset(&ev, 0, sizeof(ev));
		ev.kind = UEV_UPLOADED;
		ev.key = s->it->key;
		ev.bytes = s->len;
		ev.seconds = r->seconds;
		ev.attempts = r->attempts;
		if (u->o.event)
			u->o.event(&ev, u->o.ud);
	}
	slot_release(u, s);	/* first: a lent body is the item's to free */
	item_done(u, s->d, s->it, ok, reason);
}

static void on_delete(struct xfer_result *r, void *ud)
{
	struct upload_slot *s = ud;
	struct upload *u = s->u;
	char reason[UPLOAD_WHY_MAX];
	bool ok = judge(u, r, true, reason, sizeof(reason));

	if (ok) {
		u->consecutive_failures = 0;
		u->st.deleted++;
		upload_emit(u, UEV_DELETED, s->it->key, 0, NULL);
	}
	item_done(u, s->d, s->it, ok, reason);
	slot_release(u, s);
}

static const char *content_type(const struct upload_item *it)
{
	struct tilekey k;
	const char *slash;

	if (it->kind == OBJ_META)
		return "application/json";
	if (it->kind == OBJ_INDEX)
		return UPLOAD_INDEX_CONTENT_TYPE;
	/* tiles/{id}/z/x/y.ext: the key passed the grammar at the scan */
	slash = strchr(it->key + 6, '/');
	if (slash && !tk_parse_spec(slash + 1, strlen(slash + 1), &k))
		return tk_fmt_mime((enum tile_fmt)k.fmt);
	return "application/octet-stream";
}

/* Reads the slot's file into its body and hashes it; false with why if it cannot be sent. */
static bool read_body(struct upload *u, struct upload_slot *s, char sha[SIGV4_HASH_HEX + 1],
		      unsigned char raw[UPLOAD_MD5_RAW], char *why, size_t whylen)
{
	char path[UPLOAD_PATH_MAX], bad[UPLOAD_WHY_MAX];
	struct dataset ds;

	if (s->it->body) {	/* made in memory */
		s->body = s->it->body;
		s->len = (size_t)s->it->size;
		s->lent = true;
	} else if (!item_path(u, s->it, path, sizeof(path))) {
		snprintf(why, whylen, "path too long");
		return false;
	} else {
		if (upload_slurp(path, s->it->kind == OBJ_META ? UPLOAD_META_MAX_BYTES :
				 UPLOAD_TILE_MAX_BYTES, &s->body, &s->len, &s->st, why, whylen))
			return false;
		u->st.inflight_bytes += s->len;	/* released with the slot, whatever happens */
		if (u->st.inflight_bytes > u->st.peak_inflight_bytes)
			u->st.peak_inflight_bytes = u->st.inflight_bytes;
	}
	if (s->it->kind == OBJ_META &&
	    dataset_parse((const char *)s->body, s->len, s->d->id, &ds, bad, sizeof(bad))) {
		upload_text(why, whylen, "invalid metadata, the server would refuse it: %s", bad);
		return false;
	}
	if (upload_md5(s->body, s->len, raw, s->md5) || sigv4_sha256_hex(s->body, s->len, sha)) {
		snprintf(why, whylen, "cannot hash the file (OpenSSL)");
		return false;
	}
	return true;
}

/* Reads, hashes and submits a PUT; false with why if it cannot be sent. */
static bool start_put(struct upload *u, struct upload_slot *s, char *why, size_t whylen)
{
	char sha[SIGV4_HASH_HEX + 1], md5b64[UPLOAD_MD5_B64 + 1];
	char h_type[UPLOAD_HEADER_MAX], h_cache[UPLOAD_HEADER_MAX], h_md5[UPLOAD_HEADER_MAX];
	const char *extra[3];
	unsigned char raw[UPLOAD_MD5_RAW];
	struct s3_req req;
	enum ap_err e;

	if (!read_body(u, s, sha, raw, why, whylen))
		return false;
	b64_encode(raw, sizeof(raw), md5b64);
	md5b64[UPLOAD_MD5_B64] = '\0';	/* b64_encode() writes 4 * ceil(16 / 3) chars */
	snprintf(h_type, sizeof(h_type), "Content-Type: %s", content_type(s->it));
	snprintf(h_cache, sizeof(h_cache), "Cache-Control: %s",
		 s->it->kind == OBJ_META ? UPLOAD_META_CACHE_CONTROL :
		 s->it->kind == OBJ_INDEX ? UPLOAD_INDEX_CACHE_CONTROL : UPLOAD_TILE_CACHE_CONTROL);
	/* the bucket checks Content-MD5 and the signed SHA-256 against what arrives */
	snprintf(h_md5, sizeof(h_md5), "Content-MD5: %s", md5b64);
	extra[0] = h_type;
	extra[1] = h_cache;
	extra[2] = h_md5;
	e = s3_prepare(u->s3, &req, "PUT", s->it->key, NULL, s->body, s->len, sha, extra, 3);
	if (e) {
		snprintf(why, whylen, "cannot prepare the request (%s)", ap_err_str(e));
		return false;
	}
	req.spec.max_body = UPLOAD_RESPONSE_MAX;
	req.spec.timeout_ms = u->o.timeout_ms +
			      (long)((unsigned long long)s->len * 1000 / UPLOAD_MIN_RATE_BPS);
	req.spec.max_retries = u->o.max_retries;
	req.spec.require_length = false;	/* the answer's body is not used */
	if ((e = engine_submit(u->eng, &req.spec, on_put, s, &s->x))) {
		snprintf(why, whylen, "cannot start the transfer (%s)", ap_err_str(e));
		return false;
	}
	return true;
}

static bool start_delete(struct upload *u, struct upload_slot *s, char *why, size_t whylen)
{
	struct s3_req req;
	enum ap_err e;

	e = s3_prepare(u->s3, &req, "DELETE", s->it->key, NULL, NULL, 0, NULL, NULL, 0);
	if (e) {
		snprintf(why, whylen, "cannot prepare the request (%s)", ap_err_str(e));
		return false;
	}
	req.spec.max_body = UPLOAD_RESPONSE_MAX;
	req.spec.timeout_ms = u->o.timeout_ms;
	req.spec.max_retries = u->o.max_retries;
	if ((e = engine_submit(u->eng, &req.spec, on_delete, s, &s->x))) {
		snprintf(why, whylen, "cannot start the transfer (%s)", ap_err_str(e));
		return false;
	}
	return true;
}

static struct upload_slot *free_slot(struct upload *u)
{
	for (unsigned i = 0; i < u->o.workers; i++)
		if (!u->slots[i].busy)
			return &u->slots[i];
	return NULL;
}

/* Can item it of d start now? -1: never (an earlier stage failed), 0: not yet. */
static int stage_open(const struct upload_dataset *d, const struct upload_item *it)
{
	for (unsigned s = 0; s < it->stage; s++)
		if (d->remaining[s])
			return 0;
	for (unsigned s = 0; s < it->stage; s++)
		if (d->failed[s])
			return -1;
	return 1;
}

/* Starts item it of d in slot s. */
static void start(struct upload *u, struct upload_dataset *d, struct upload_item *it,
		  struct upload_slot *s)
{
	char why[UPLOAD_WHY_MAX];

	memset(s, 0, sizeof(*s));
	s->u = u;
	s->d = d;
	s->it = it;
	s->busy = true;
	if (++u->st.inflight > u->st.peak_inflight)
		u->st.peak_inflight = u->st.inflight;
	it->state = I_RUNNING;
	why[0] = '\0';
	if (!(it->action == A_DELETE ? start_delete(u, s, why, sizeof(why)) :
				       start_put(u, s, why, sizeof(why)))) {
		item_done(u, d, it, false, why);
		slot_release(u, s);
	}
}

/*
 * Starts the items of d that may start; false when the run must wait (no
 * room, or aborted), true when d has no more to start now.
 */
static bool fill_dataset(struct upload *u, struct upload_dataset *d)
{
	while (d->next < d->nitems) {
		struct upload_item *it = &d->items[d->next];
		struct upload_slot *s;
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
			return false;
		if (it->action != A_DELETE && u->st.inflight > 0 &&
		    u->st.inflight_bytes + it->size > UPLOAD_INFLIGHT_BYTES_MAX)
			return false;	/* wait for bodies to be released */
		s = free_slot(u);
		if (!s)
			return false;
		d->next++;
		start(u, d, it, s);
		if (u->abort)
			return false;
	}
	return true;
}

/*
 * Starts items while there is room: fewer than `workers` in flight and the
 * next body fits in the byte budget (always, when nothing is in flight).
 * Datasets are taken in order; a dataset whose next stage waits for its
 * transfers in flight lets the next dataset go ahead.
 */
static void fill(struct upload *u)
{
	for (size_t k = u->first_open; k < u->nds; k++) {
		struct upload_dataset *d = &u->ds[k];

		if (!fill_dataset(u, d))
			return;
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
		struct upload_slot *s = &u->slots[i];
		if (!s->busy)
			continue;
		engine_cancel(u->eng, s->x);
		s->it->state = I_CANCELLED;
		slot_release(u, s);
	}
}

void upload_send_all(struct upload *u)
{
	long long deadline = 0;

	u->st.phase = UP_SENDING;
	upload_progress(u);
	for (;;) {
		if (upload_stop_requested(u) && !u->st.interrupted)
			u->st.interrupted = true;
		if ((u->st.interrupted || u->abort) && !deadline)
			deadline = clock_ms() + UPLOAD_STOP_GRACE_MS;
		if (!deadline)
			fill(u);
		if (u->st.inflight == 0 && (deadline || all_started(u)))
			break;
		if (deadline && (clock_ms() >= deadline || (u->o.stop && *u->o.stop >= 2))) {
			cancel_all(u);
			break;
		}
		engine_run(u->eng, UPLOAD_TICK_MS, NULL, 0);
		upload_progress(u);
	}
}

enum ap_err upload_send_new(struct upload *u)
{
	u->slots = calloc(u->o.workers, sizeof(*u->slots));
	return u->slots ? AP_OK : AP_ERR_NOMEM;
}

void upload_send_free(struct upload *u)
{
	if (u->slots)
		cancel_all(u);
	free(u->slots);
	u->slots = NULL;
}
