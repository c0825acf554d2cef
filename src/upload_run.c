/*
 * upload_run.c - one run of upload.h: its phases, events and errors.
 *
 * The run is list (upload_list.c), plan (upload_plan.c), then send
 * (upload_send.c) or, dry run, report the plan; the local files were
 * scanned before (upload_scan.c), their variants made and their index built
 * (upload_webp.c, upload_index.c). An index-only run from the bucket builds
 * the index between the listing and the plan. Skipped keys become no item
 * at all, so a second run holds nothing but counters. Because skipping is
 * by ETag, whatever a stopped run did not send is sent by the next.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "upload.h"
#include "upload_int.h"
#include "xml.h"

#define UPLOAD_S3_TEXT_MAX 120		/* <Code>/<Message> quoted from an error document */

void upload_text(char *out, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out, cap, fmt, ap);
	va_end(ap);
}

bool upload_stop_requested(const struct upload *u)
{
	return u->o.stop && *u->o.stop;
}

void upload_emit(struct upload *u, enum upload_ev kind, const char *key,
		 unsigned long long bytes, const char *why)
{
	struct upload_event ev = {.kind = kind, .key = key, .bytes = bytes, .why = why};

	if (u->o.event)
		u->o.event(&ev, u->o.ud);
}

void upload_progress(struct upload *u)
{
	if (u->o.progress)
		u->o.progress(&u->st, u->o.ud);
}

void upload_set_abort(struct upload *u, enum ap_err e, const char *fmt, ...)
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

bool upload_path_of(const struct upload *u, const char *rel, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", u->o.local_dir, rel);

	return n > 0 && (size_t)n < cap;
}

/* Copies printable ASCII of an S3 error element (<Code>, <Message>), bounded:
 * quoted for a human, not decoded. */
static void s3_text(const struct buf *b, const char *tag, char *out, size_t cap)
{
	const char *p, *q;
	size_t n, o = 0;

	out[0] = '\0';
	if (!b->data || !b->len)
		return;
	p = xml_elem(b->data, b->data + b->len, tag, &n, NULL);
	if (!p)
		return;
	for (q = p + n; p < q && o + 1 < cap && o < UPLOAD_S3_TEXT_MAX; p++)
		out[o++] = (*p >= 0x20 && *p < 0x7f) ? *p : '?';
	out[o] = '\0';
}

void upload_http_reason(const struct xfer_result *r, char *out, size_t cap)
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

enum ap_err upload_run(struct upload *u, char *why, size_t whylen)
{
	enum ap_err e = AP_OK;

	why[0] = '\0';
	if (u->o.mode == UPLOAD_INDEX_LOCAL)
		goto out;	/* done while adding the datasets */
	if ((e = upload_list_all(u, why, whylen)))
		goto out;
	if (u->o.mode == UPLOAD_INDEX_BUCKET && !u->st.interrupted &&
	    (e = upload_index_from_bucket(u, why, whylen)))
		goto out;
	if (!u->st.interrupted && (e = upload_plan_all(u, why, whylen)))
		goto out;
	if (!u->st.interrupted) {
		if (u->o.dry_run)
			upload_report_plan(u);
		else
			upload_send_all(u);
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
	upload_progress(u);
	return e;
}

enum ap_err upload_new(const struct upload_opts *o, struct engine *e, struct s3 *s,
		       struct upload **out)
{
	bool sends = o->mode != UPLOAD_INDEX_LOCAL;
	struct upload *u;

	if ((!o->local_dir && o->mode != UPLOAD_INDEX_BUCKET) || (sends && (!e || !s)) ||
	    o->workers < 1 || o->workers > UPLOAD_WORKERS_MAX ||
	    (o->webp && (o->mode == UPLOAD_INDEX_BUCKET || o->webp_jobs < 1 ||
			 o->webp_jobs > UPLOAD_WEBP_JOBS_MAX || !upload_webp_supported())))
		return AP_ERR_CONFIG;
	u = calloc(1, sizeof(*u));
	if (!u)
		return AP_ERR_NOMEM;
	u->o = *o;
	u->eng = e;
	u->s3 = s;
	if (upload_send_new(u)) {
		free(u);
		return AP_ERR_NOMEM;
	}
	*out = u;
	return AP_OK;
}

void upload_free(struct upload *u)
{
	if (!u)
		return;
	upload_send_free(u);
	for (size_t k = 0; k < u->nds; k++) {
		struct upload_dataset *d = &u->ds[k];
		upload_drop_lists(d);
		for (size_t i = 0; i < d->nitems; i++) {
			free(d->items[i].key);
			free(d->items[i].src);
			free(d->items[i].body);
			free(d->items[i].why);
		}
		free(d->items);
	}
	free(u->ds);
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
