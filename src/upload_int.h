/*
 * upload_int.h - what the parts of upload.h share (not a public contract).
 *
 * One run, one concept per file:
 *   upload_scan.c   the local tree: files of a dataset, checked, keyed as
 *                   the server reads them (y.jpeg goes to y.jpg);
 *   upload_webp.c   the WebP variants of its JPEG and PNG tiles, made in
 *                   parallel and joined to the files (upload_nowebp.c in
 *                   a build without the image libraries);
 *   upload_index.c  the tile index built from the files (or, index-only,
 *                   from the bucket's objects and its metadata object);
 *   upload_list.c   the bucket: ListObjectsV2 pages under each prefix;
 *   upload_plan.c   both sorted lists merged into items (PUT, DELETE, or
 *                   failed at once); the dry run's report;
 *   upload_send.c   items sent `workers` deep over the engine;
 *   upload_run.c    life cycle, the run's phases, events and errors.
 *
 * Data: per dataset, the local files and the bucket objects (both freed
 * once planned), then the items sorted by (stage, key). Every string and
 * body of a file, object or item is owned by it; handing it on (file ->
 * item) sets the giver's pointer to NULL. A file or item with a body (the
 * index) is sent from memory; the others are read from local_dir.
 */
#ifndef AP_UPLOAD_INT_H
#define AP_UPLOAD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include "dataset.h"
#include "engine.h"
#include "error.h"
#include "upload.h"

#define UPLOAD_TICK_MS 100		/* longest engine_run(): the stop flag is seen this fast */
#define UPLOAD_PATH_MAX 4096
#define UPLOAD_ETAG_MAX 48		/* "md5hex" or "md5hex-N" (multipart: never equal) */
#define UPLOAD_MD5_RAW 16
#define UPLOAD_MD5_HEX (2 * UPLOAD_MD5_RAW)
/* "metadata/datasets/2147483647.json", "tiles/2147483647/": keys made from an id */
#define UPLOAD_ID_KEY_MAX 64

/* Stages of a dataset, in the order they run (upload.h says why). */
enum upload_stage { ST_META_DELETE, ST_TILES, ST_META, ST_INDEX, ST_TILE_DELETE, ST__COUNT };
enum upload_action { A_PUT_NEW, A_PUT_CHANGED, A_DELETE, A_BAD };
enum upload_state { I_PENDING, I_RUNNING, I_DONE, I_FAILED, I_CANCELLED };
/* What an object is: how it is checked, typed, cached and ordered. */
enum upload_kind { OBJ_TILE, OBJ_META, OBJ_INDEX };
/* The dataset's metadata as the scan (or, index-only, the bucket) found it. */
enum upload_meta_state { META_ABSENT, META_BAD, META_VALID };

struct upload_file {		/* a local file found by the scan, or the index */
	char *key;		/* its bucket key */
	char *src;		/* its path under local_dir if not the key (y.jpeg), or NULL */
	unsigned long long size;
	char *bad;		/* why it cannot be sent, or NULL */
	unsigned char *body;	/* its bytes, made in memory (the index), or NULL */
	uint8_t kind;		/* enum upload_kind */
};

struct upload_object {		/* a bucket object found by the listing */
	char *key;
	char etag[UPLOAD_ETAG_MAX];
	unsigned long long size;
};

struct upload_item {		/* one thing to do */
	char *key;
	char *src;		/* as in upload_file; NULL for deletions */
	unsigned char *body;	/* as in upload_file */
	unsigned long long size;
	char *why;		/* failure reason */
	uint8_t stage, action, state, kind;
};

struct upload_dataset {
	uint32_t id;
	uint8_t meta_state;	/* enum upload_meta_state */
	struct dataset meta;	/* when META_VALID: the grid and updated_at of the index */
	bool index_built;	/* local (or, index-only, made) holds the index */
	unsigned long long remote_ignored;	/* listed under tiles/{id}/, not tiles */
	char *remote_ignored_first;	/* the first of them, or NULL */
	struct upload_file *local;
	size_t nlocal, caplocal;
	struct upload_object *remote;
	size_t nremote, capremote;
	struct upload_item *items;	/* sorted by (stage, key) */
	size_t nitems, capitems;
	size_t next;		/* first item not started */
	size_t remaining[ST__COUNT];	/* items of a stage not completed */
	size_t failed[ST__COUNT];
};

struct upload_slot;		/* one of `workers` transfers: upload_send.c */

struct upload {
	struct upload_opts o;
	struct engine *eng;
	struct s3 *s3;
	struct upload_dataset *ds;
	size_t nds, capds;
	size_t first_open;	/* datasets before it have started every item */
	unsigned long long nobjects;	/* local + bucket, bounded */
	size_t index_held;	/* bytes of index bodies in memory, <= UPLOAD_INDEX_HELD_MAX */
	struct upload_stats st;
	struct upload_slot *slots;	/* o.workers of them */
	unsigned consecutive_failures;
	bool abort;
	enum ap_err abort_err;
	char abort_why[UPLOAD_WHY_MAX];
};

/* ---- upload_run.c: events and errors of the run ---- */
/* snprintf whose truncation is acceptable (messages, names in notes). */
void upload_text(char *out, size_t cap, const char *fmt, ...) AP_PRINTF(3, 4);
bool upload_stop_requested(const struct upload *u);
void upload_emit(struct upload *u, enum upload_ev kind, const char *key,
		 unsigned long long bytes, const char *why);
void upload_progress(struct upload *u);
/* Ends the run; the first reason is kept. */
void upload_set_abort(struct upload *u, enum ap_err e, const char *fmt, ...) AP_PRINTF(3, 4);
/* local_dir/rel into out; false if it does not fit. */
bool upload_path_of(const struct upload *u, const char *rel, char *out, size_t cap);
/* "HTTP 403 SignatureDoesNotMatch: The request signature ..." or the transfer error. */
void upload_http_reason(const struct xfer_result *r, char *out, size_t cap);

/* ---- upload_scan.c: local files ---- */
/* Counts one more local file or bucket object against UPLOAD_OBJECTS_MAX. */
enum ap_err upload_count_object(struct upload *u, char *why, size_t whylen) AP_WARN_UNUSED;
/* Adds a local file to d (strings copied; body, if any, taken). */
enum ap_err upload_add_local(struct upload *u, struct upload_dataset *d, const char *key,
			     const char *src, unsigned long long size, const char *bad,
			     enum upload_kind kind, unsigned char *body, char *why,
			     size_t whylen) AP_WARN_UNUSED;
/* Sorts d's files by key (the order the variants and the index expect). */
void upload_sort_local(struct upload_dataset *d);
/* Reads a whole regular file of at most max bytes; why explains a refusal. */
enum ap_err upload_slurp(const char *path, size_t max, unsigned char **body, size_t *len,
			 struct stat *st, char *why, size_t whylen) AP_WARN_UNUSED;
enum ap_err upload_md5(const void *p, size_t n, unsigned char raw[UPLOAD_MD5_RAW],
		       char hex[UPLOAD_MD5_HEX + 1]) AP_WARN_UNUSED;

/* ---- upload_webp.c: variants of d's JPEG and PNG tiles, joined to d->local ---- */
enum ap_err upload_webp_dataset(struct upload *u, struct upload_dataset *d, char *why,
				size_t whylen) AP_WARN_UNUSED;

/* ---- upload_index.c ---- */
/* "metadata/datasets/{id}.index" into out (UPLOAD_ID_KEY_MAX). */
void upload_index_key(uint32_t id, char *out, size_t cap);
/* Which kind a key of dataset id is: a tile, its metadata or its index. */
enum upload_kind upload_kind_of(uint32_t id, const char *key);
/* Builds d's index from its tile files (d->local) into d->local; with
 * UPLOAD_SYNC and UPLOAD_INDEX_LOCAL, not dry run, writes it to local_dir. */
enum ap_err upload_index_local(struct upload *u, struct upload_dataset *d, char *why,
			       size_t whylen) AP_WARN_UNUSED;
/* UPLOAD_INDEX_BUCKET, after the listing: reads each dataset's metadata
 * object, builds its index from the listed tiles and makes it the one
 * local file, the bucket's index the one object to compare it with. */
enum ap_err upload_index_from_bucket(struct upload *u, char *why, size_t whylen) AP_WARN_UNUSED;

/* ---- the phases ---- */
enum ap_err upload_list_all(struct upload *u, char *why, size_t whylen) AP_WARN_UNUSED;
enum ap_err upload_plan_all(struct upload *u, char *why, size_t whylen) AP_WARN_UNUSED;
void upload_report_plan(struct upload *u);	/* dry run */
void upload_drop_lists(struct upload_dataset *d);
enum ap_err upload_send_new(struct upload *u) AP_WARN_UNUSED;	/* the slots */
void upload_send_all(struct upload *u);
void upload_send_free(struct upload *u);	/* cancels what is in flight */

#endif
