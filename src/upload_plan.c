/*
 * upload_plan.c - what to upload, skip or delete.
 *
 * Per dataset, the local files and the bucket objects are sorted by key and
 * merged once: a key only local is new, a key whose sizes differ changed, a
 * key whose sizes match is read once and skipped if its MD5 equals the
 * ETag, a key only in the bucket is deleted with delete_gone (else counted
 * as untouched). A local file that cannot be sent becomes a failed item at
 * once, and its bucket copy is kept. Items are then sorted by (stage, key),
 * the order upload_send.c starts them in.
 *
 * The index is compared like a file, from its bytes in memory. An index
 * only in the bucket goes with the metadata when that is gone locally
 * (deleted with delete_gone, first), but is deleted in the index stage
 * whatever delete_gone says when the metadata is there and no index could
 * be built for it: it would describe tiles that may be gone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "upload.h"
#include "upload_int.h"

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct upload_file *)a)->key, ((const struct upload_file *)b)->key);
}

static int cmp_object(const void *a, const void *b)
{
	return strcmp(((const struct upload_object *)a)->key,
		      ((const struct upload_object *)b)->key);
}

static int cmp_item(const void *a, const void *b)
{
	const struct upload_item *x = a, *y = b;

	if (x->stage != y->stage)
		return x->stage < y->stage ? -1 : 1;
	return strcmp(x->key, y->key);
}

static void sort_lists(struct upload_dataset *d)
{
	if (d->nlocal)
		qsort(d->local, d->nlocal, sizeof(*d->local), cmp_file);
	if (d->nremote)
		qsort(d->remote, d->nremote, sizeof(*d->remote), cmp_object);
}

static uint8_t stage_of(const struct upload_dataset *d, enum upload_kind kind,
		       enum upload_action a)
{
	static const uint8_t put[] = {[OBJ_TILE] = ST_TILES, [OBJ_META] = ST_META,
				      [OBJ_INDEX] = ST_INDEX};

	if (a != A_DELETE)
		return put[kind];
	if (kind == OBJ_TILE)
		return ST_TILE_DELETE;
	if (kind == OBJ_INDEX && d->meta_state == META_VALID)
		return ST_INDEX;	/* no index could be built: the stale one goes */
	return ST_META_DELETE;
}

/* Takes ownership of key, src, body and why. */
static enum ap_err add_item(struct upload_dataset *d, char *key, char *src, unsigned char *body,
			    unsigned long long size, enum upload_kind kind, enum upload_action a,
			    char *why)
{
	struct upload_item *it;

	if (d->nitems == d->capitems) {
		size_t cap = d->capitems ? d->capitems * 2 : 64;
		struct upload_item *n = realloc(d->items, cap * sizeof(*n));
		if (!n)
			return AP_ERR_NOMEM;
		d->items = n;
		d->capitems = cap;
	}
	it = &d->items[d->nitems++];
	memset(it, 0, sizeof(*it));
	it->key = key;
	it->src = src;
	it->body = body;
	it->size = size;
	it->kind = (uint8_t)kind;
	it->action = (uint8_t)a;
	it->why = why;
	it->stage = stage_of(d, kind, a);
	it->state = a == A_BAD ? I_FAILED : I_PENDING;
	return AP_OK;
}

/* A local file becomes an item: its strings go with it. */
static enum ap_err add_file_item(struct upload_dataset *d, struct upload_file *f,
				 unsigned long long size, enum upload_action a, char *why)
{
	enum ap_err e = add_item(d, f->key, f->src, f->body, size, (enum upload_kind)f->kind, a,
				 why);

	if (!e) {
		f->key = f->src = NULL;
		f->body = NULL;
	}
	return e;
}

/* Is the local file byte-equal to the bucket object (MD5 == ETag)? */
static bool same_bytes(struct upload *u, const struct upload_file *f,
		       const struct upload_object *r, char **bad)
{
	char path[UPLOAD_PATH_MAX], why[UPLOAD_WHY_MAX], hex[UPLOAD_MD5_HEX + 1];
	unsigned char raw[UPLOAD_MD5_RAW], *body = NULL;
	struct stat st;
	size_t len = 0;

	*bad = NULL;
	if (f->body) {		/* made in memory: its bytes are at hand */
		len = (size_t)f->size;
		if (upload_md5(f->body, len, raw, hex)) {
			*bad = strdup("MD5 unavailable in this OpenSSL");
			return false;
		}
		return len == r->size && strcmp(hex, r->etag) == 0;
	}
	if (!upload_path_of(u, f->src ? f->src : f->key, path, sizeof(path)))
		return false;
	if (upload_slurp(path, f->kind == OBJ_META ? UPLOAD_META_MAX_BYTES : UPLOAD_TILE_MAX_BYTES,
			 &body, &len, &st, why, sizeof(why))) {
		*bad = strdup(why);
		return false;
	}
	if (upload_md5(body, len, raw, hex)) {
		free(body);
		*bad = strdup("MD5 unavailable in this OpenSSL");
		return false;
	}
	free(body);
	return len == r->size && strcmp(hex, r->etag) == 0;
}

/* Local file f and bucket object r have one key and one size: skip, or PUT. */
static enum ap_err plan_same_size(struct upload *u, struct upload_dataset *d,
				  struct upload_file *f, const struct upload_object *r)
{
	char *bad;
	bool same = same_bytes(u, f, r, &bad);
	enum ap_err e = AP_OK;

	u->st.compared++;
	if (same) {
		u->st.skipped++;
		upload_emit(u, UEV_SKIPPED, f->key, f->size, NULL);
		free(f->body);	/* not sent: only counted against the run's budget */
		f->body = NULL;
	} else if ((e = add_file_item(d, f, f->size, bad ? A_BAD : A_PUT_CHANGED, bad))) {
		free(bad);
	}
	upload_progress(u);
	return e;
}

/* The merge of one step: local file f and/or bucket object r (c orders their keys). */
static enum ap_err plan_key(struct upload *u, struct upload_dataset *d, struct upload_file *f,
			    struct upload_object *r, int c)
{
	enum ap_err e = AP_OK;

	if (c > 0) {		/* only in the bucket */
		enum upload_kind kind = upload_kind_of(d->id, r->key);
		bool stale_index = kind == OBJ_INDEX && d->meta_state == META_VALID;
		if (kind == OBJ_INDEX && d->meta_state == META_BAD) {
			u->st.untouched++;	/* it goes or stays with the metadata */
		} else if (!u->o.delete_gone && !stale_index) {
			u->st.untouched++;
		} else if (!(e = add_item(d, r->key, NULL, NULL, r->size, kind, A_DELETE, NULL))) {
			r->key = NULL;
		}
	} else if (f->bad) {	/* cannot be read: report, never delete its copy */
		e = add_file_item(d, f, 0, A_BAD, f->bad);
		if (!e)
			f->bad = NULL;
	} else if (c < 0 || f->size != r->size) {
		e = add_file_item(d, f, f->size, c < 0 ? A_PUT_NEW : A_PUT_CHANGED, NULL);
	} else {
		e = plan_same_size(u, d, f, r);
	}
	return e;
}

/* Counts the items of a planned dataset into the run's totals. */
static void count_plan(struct upload *u, struct upload_dataset *d)
{
	for (size_t k = 0; k < d->nitems; k++) {
		struct upload_item *it = &d->items[k];
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
}

static enum ap_err plan_dataset(struct upload *u, struct upload_dataset *d)
{
	size_t i = 0, j = 0;

	sort_lists(d);
	while (i < d->nlocal || j < d->nremote) {
		struct upload_file *f = i < d->nlocal ? &d->local[i] : NULL;
		struct upload_object *r = j < d->nremote ? &d->remote[j] : NULL;
		int c = !f ? 1 : !r ? -1 : strcmp(f->key, r->key);

		if (upload_stop_requested(u)) {
			u->st.interrupted = true;
			return AP_OK;
		}
		if (plan_key(u, d, f, r, c))
			return AP_ERR_NOMEM;
		i += c <= 0;
		j += c >= 0;
	}
	if (d->nitems)
		qsort(d->items, d->nitems, sizeof(*d->items), cmp_item);
	count_plan(u, d);
	return AP_OK;
}

void upload_drop_lists(struct upload_dataset *d)
{
	for (size_t i = 0; i < d->nlocal; i++) {
		free(d->local[i].key);
		free(d->local[i].src);
		free(d->local[i].bad);
		free(d->local[i].body);
	}
	for (size_t i = 0; i < d->nremote; i++)
		free(d->remote[i].key);
	free(d->local);
	free(d->remote);
	free(d->remote_ignored_first);
	d->local = NULL;
	d->remote = NULL;
	d->remote_ignored_first = NULL;
	d->nlocal = d->caplocal = d->nremote = d->capremote = 0;
}

enum ap_err upload_plan_all(struct upload *u, char *why, size_t whylen)
{
	u->st.phase = UP_COMPARING;
	/* how many files must be read to compare (sizes equal): the progress total */
	for (size_t k = 0; k < u->nds; k++) {
		struct upload_dataset *d = &u->ds[k];
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
	upload_progress(u);
	for (size_t k = 0; k < u->nds && !u->st.interrupted; k++) {
		if (plan_dataset(u, &u->ds[k])) {
			snprintf(why, whylen, "out of memory");
			return AP_ERR_NOMEM;
		}
		/* frees what the comparison consumed: the plan is all that is left */
		upload_drop_lists(&u->ds[k]);
	}
	return AP_OK;
}

void upload_report_plan(struct upload *u)
{
	for (size_t k = 0; k < u->nds; k++) {
		struct upload_dataset *d = &u->ds[k];
		for (size_t i = 0; i < d->nitems; i++) {
			struct upload_item *it = &d->items[i];
			if (it->state == I_FAILED)
				upload_emit(u, UEV_FAILED, it->key, it->size, it->why);
			else if (it->action == A_DELETE)
				upload_emit(u, UEV_WOULD_DELETE, it->key, it->size, NULL);
			else
				upload_emit(u, UEV_WOULD_UPLOAD, it->key, it->size,
					    it->action == A_PUT_NEW ? "new" : "changed");
		}
	}
}
