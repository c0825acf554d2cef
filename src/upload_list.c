/*
 * upload_list.c - what the bucket holds under the datasets of a run.
 *
 * Two prefixes per dataset (tiles/{id}/ and metadata/datasets/{id}., which
 * holds the metadata and the index), each paged sequentially with
 * ListObjectsV2 continuation tokens; up to `workers` prefixes are listed at
 * once. Only keys this run could have written are kept (the tile grammar,
 * the exact metadata and index keys): nothing else is ever compared or
 * deleted; other keys under tiles/{id}/ are counted (an index built from
 * the bucket says how many it ignored). A page is used only whole (its
 * closing tag present), since a cut-off page would read as a short,
 * complete listing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "engine.h"
#include "s3.h"
#include "sigv4.h"
#include "tilekey.h"
#include "upload.h"
#include "upload_int.h"

#define UPLOAD_LIST_TIMEOUT_MIN_MS 30000	/* a listing page may be 1000 keys of XML */
#define UPLOAD_LIST_TOKEN_MAX 1024	/* continuation token of ListObjectsV2 */

struct lister;
typedef void (*list_fn)(struct lister *l, const struct s3_object *ob);

struct lister {			/* the listing of one prefix */
	struct upload *u;
	list_fn fn;		/* called for each object of each page */
	size_t ds;
	bool meta;		/* metadata/datasets/{id}., not the tiles prefix */
	char prefix[UPLOAD_ID_KEY_MAX];
	char token[UPLOAD_LIST_TOKEN_MAX];
	bool busy, done;
	struct xfer *x;
};

/* Is ob a key of dataset d this run could have written? Counts the others
 * under tiles/{id}/ (not the neighbours of the metadata: other datasets'). */
static bool ours(struct lister *l, struct upload_dataset *d, const char *key)
{
	char index_key[UPLOAD_ID_KEY_MAX], meta_key[UPLOAD_ID_KEY_MAX];
	size_t pl = strlen(l->prefix);
	struct tilekey k;

	if (l->meta) {
		upload_index_key(d->id, index_key, sizeof(index_key));
		snprintf(meta_key, sizeof(meta_key), "metadata/datasets/%u.json", d->id);
		return !strcmp(key, meta_key) || !strcmp(key, index_key);
	}
	if (strncmp(key, l->prefix, pl) == 0 && !tk_parse_spec(key + pl, strlen(key + pl), &k))
		return true;
	if (d->remote_ignored++ == 0)
		d->remote_ignored_first = strdup(key);	/* NULL is only a poorer note */
	return false;
}

static void on_list_object(struct lister *l, const struct s3_object *ob)
{
	struct upload *u = l->u;
	struct upload_dataset *d = &u->ds[l->ds];
	struct upload_object *r;
	char why[UPLOAD_WHY_MAX];

	if (u->abort || !ours(l, d, ob->key))
		return;
	if (upload_count_object(u, why, sizeof(why))) {
		upload_set_abort(u, AP_ERR_TOO_LARGE, "%s", why);
		return;
	}
	if (d->nremote == d->capremote) {
		size_t cap = d->capremote ? d->capremote * 2 : 256;
		struct upload_object *n = realloc(d->remote, cap * sizeof(*n));
		if (!n)
			goto nomem;
		d->remote = n;
		d->capremote = cap;
	}
	r = &d->remote[d->nremote];
	r->key = strdup(ob->key);
	if (!r->key)
		goto nomem;
	upload_text(r->etag, sizeof(r->etag), "%s", ob->etag);
	r->size = ob->size;
	d->nremote++;
	u->st.bucket_objects++;
	return;
nomem:
	upload_set_abort(u, AP_ERR_NOMEM, "out of memory while listing the bucket");
}

static void on_page_object(const struct s3_object *ob, void *ud)
{
	struct lister *l = ud;

	l->fn(l, ob);
}

/* A refusal of the listing ends the run, naming what to check. */
static bool list_refused(struct upload *u, const struct xfer_result *r, const char *reason)
{
	if (r->err) {
		upload_set_abort(u, r->err == AP_ERR_TIMEOUT ? AP_ERR_TIMEOUT : AP_ERR_STORAGE,
				 "cannot list the bucket: %s (check S3_ENDPOINT_URL)", reason);
		return true;
	}
	if (r->status == 401 || r->status == 403) {
		upload_set_abort(u, AP_ERR_FORBIDDEN, "the bucket refused the credentials (%s): "
				 "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", reason);
		return true;
	}
	if (r->status == 404) {
		upload_set_abort(u, AP_ERR_NOT_FOUND, "no such bucket (%s): check "
				 "AWS_BUCKET_NAME and S3_ENDPOINT_URL", reason);
		return true;
	}
	if (r->status != 200) {
		upload_set_abort(u, AP_ERR_STORAGE, "listing the bucket failed: %s", reason);
		return true;
	}
	return false;
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
	upload_http_reason(r, reason, sizeof(reason));
	if (list_refused(u, r, reason))
		return;
	/* a cut-off page would parse as a short, complete listing: insist on its end */
	n = r->body.len;
	while (n && (r->body.data[n - 1] == '\n' || r->body.data[n - 1] == '\r' ||
		     r->body.data[n - 1] == ' '))
		n--;
	if (n < strlen(end) || memcmp(r->body.data + n - strlen(end), end, strlen(end))) {
		upload_set_abort(u, AP_ERR_STORAGE, "listing the bucket failed: incomplete "
				 "ListObjectsV2 page (%zu bytes)", r->body.len);
		return;
	}
	if (s3_parse_list(r->body.data, r->body.len, on_page_object, l, l->token,
			  sizeof(l->token))) {
		upload_set_abort(u, AP_ERR_STORAGE, "listing the bucket failed: unreadable "
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

/* Starts the next page of idle prefixes, at most `workers` in flight; true when all are done. */
static bool list_more(struct upload *u, struct lister *ls, size_t nl)
{
	unsigned busy = 0;
	bool all_done = true;
	enum ap_err e;

	for (size_t i = 0; i < nl; i++)
		busy += ls[i].busy;
	/* each prefix pages sequentially; up to `workers` prefixes at once */
	for (size_t i = 0; i < nl && busy < u->o.workers; i++) {
		struct lister *l = &ls[i];
		if (l->busy || l->done)
			continue;	/* in flight, or its last page is in */
		if ((e = list_start(u, l))) {
			upload_set_abort(u, e, "cannot prepare a listing request (%s)",
					 ap_err_str(e));
			break;
		}
		busy++;
	}
	for (size_t i = 0; i < nl; i++)
		all_done = all_done && ls[i].done;
	return all_done;
}

/* Lists every prefix of ls to its last page; why says what ended it early. */
static enum ap_err list_prefixes(struct upload *u, struct lister *ls, size_t nl, char *why,
				 size_t whylen)
{
	enum upload_phase was = u->st.phase;

	u->st.phase = UP_LISTING;
	for (;;) {
		if (upload_stop_requested(u)) {
			u->st.interrupted = true;
			break;
		}
		if (u->abort || list_more(u, ls, nl) || u->abort)
			break;
		engine_run(u->eng, UPLOAD_TICK_MS, NULL, 0);
		upload_progress(u);
	}
	for (size_t i = 0; i < nl; i++)
		if (ls[i].busy)
			engine_cancel(u->eng, ls[i].x);
	if (was == UP_SCANNING)
		u->st.phase = was;	/* finding datasets precedes the run's own phases */
	if (u->abort) {
		snprintf(why, whylen, "%s", u->abort_why);
		return u->abort_err ? u->abort_err : AP_ERR_STORAGE;
	}
	return AP_OK;
}

enum ap_err upload_list_all(struct upload *u, char *why, size_t whylen)
{
	size_t nl = u->nds * 2;
	struct lister *ls = calloc(nl ? nl : 1, sizeof(*ls));
	enum ap_err e;

	if (!ls) {
		snprintf(why, whylen, "out of memory");
		return AP_ERR_NOMEM;
	}
	for (size_t i = 0; i < nl; i++) {
		struct lister *l = &ls[i];
		l->u = u;
		l->fn = on_list_object;
		l->ds = i / 2;
		l->meta = i % 2;
		if (l->meta)	/* the metadata and the index: "1." is no prefix of "10.json" */
			snprintf(l->prefix, sizeof(l->prefix), "metadata/datasets/%u.",
				 u->ds[l->ds].id);
		else
			snprintf(l->prefix, sizeof(l->prefix), "tiles/%u/", u->ds[l->ds].id);
	}
	e = list_prefixes(u, ls, nl, why, whylen);
	free(ls);
	return e;
}

struct found_ids {		/* upload_find_bucket_datasets() */
	struct lister l;	/* first: the callback gets the lister */
	uint32_t *ids;
	size_t cap, n;
	bool overflow;
};

static void on_meta_object(struct lister *l, const struct s3_object *ob)
{
	struct found_ids *f = (struct found_ids *)l;
	const char *name = ob->key + strlen(l->prefix);
	size_t len = strlen(name);
	uint32_t id;

	if (len <= 5 || strcmp(name + len - 5, ".json") ||
	    tk_parse_uint(name, len - 5, DATASET_ID_MAX, &id))
		return;
	if (f->n == f->cap) {
		f->overflow = true;
		return;
	}
	f->ids[f->n++] = id;
}

static int cmp_id(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

enum ap_err upload_find_bucket_datasets(struct upload *u, uint32_t *ids, size_t cap,
					size_t *n, char *why, size_t whylen)
{
	struct found_ids f;
	enum ap_err e;

	memset(&f, 0, sizeof(f));
	f.l.u = u;
	f.l.fn = on_meta_object;
	snprintf(f.l.prefix, sizeof(f.l.prefix), "metadata/datasets/");
	f.ids = ids;
	f.cap = cap;
	*n = 0;
	if ((e = list_prefixes(u, &f.l, 1, why, whylen)))
		return e;
	if (u->st.interrupted)
		return AP_OK;	/* none: the caller sees the stats */
	if (f.overflow) {
		snprintf(why, whylen, "more than %zu datasets in the bucket: name them", cap);
		return AP_ERR_TOO_LARGE;
	}
	if (f.n)
		qsort(ids, f.n, sizeof(*ids), cmp_id);	/* listings are sorted by key, not id */
	*n = f.n;
	return AP_OK;
}
