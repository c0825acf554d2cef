/*
 * upload.h - make the bucket equal to the local tree, in parallel.
 *
 * One run goes through these phases, the last three driven by the caller's
 * engine (one file each behind upload_int.h):
 *
 *   scan     (upload_add_dataset, before the run) the local files of a
 *            dataset, each under the key the server reads: a local y.jpeg
 *            is the object y.jpg (if y.jpg exists too, it wins and a
 *            warning names the y.jpeg); with `webp`, the WebP variants of
 *            its JPEG and PNG tiles are made (or found up to date) and join
 *            the files; then its tile index is built from the files and
 *            written to the local tree (temporary file and rename);
 *   list     ListObjectsV2 (paged) under each dataset's prefixes
 *            (tiles/{id}/ and metadata/datasets/{id}., the metadata and the
 *            index);
 *   compare  merge the sorted local and bucket key lists: a key only local
 *            is new, a key whose sizes differ changed, a key whose sizes
 *            match is read once and skipped if its MD5 equals the ETag;
 *   send     PUTs (and, with delete_gone, DELETEs) kept `workers` deep on
 *            the engine - parallelism is transfers in flight, not threads.
 *
 * Order within a dataset (stages): a vanished metadata object (and its
 * index) is deleted first, then the tiles are uploaded, then the metadata
 * (so a reader never sees metadata for tiles that are not there yet), then
 * the index, then vanished tiles are deleted. A stage starts only when the
 * earlier stages of its dataset have completed, and is held back (reported
 * as failed) if any of them failed. So the index in the bucket never names
 * a tile that is not there: it goes after every tile it lists, it is not
 * sent at all if one of them failed (the previous index stays, and it
 * names no tile that this run deleted, since deletions wait for the index),
 * and tiles it no longer lists are deleted only once it is in place.
 * Datasets proceed side by side, so a metadata object waiting for its tiles
 * never idles the workers.
 *
 * Invariants: at most `workers` transfers in flight and at most
 * UPLOAD_INFLIGHT_BYTES_MAX bytes of file bodies in memory at once (a file
 * is read only when its body fits); a file is read from disk into memory
 * once per PUT and re-checked (size, mtime, inode) after the PUT completed,
 * so a file that changed meanwhile is reported, never silently uploaded
 * half-old. Indexes are made in memory, at most UPLOAD_INDEX_HELD_MAX bytes
 * of them per run, and sent from there. Every PUT carries Content-MD5 and
 * the signed SHA-256 of the body, so the bucket refuses bytes that are not
 * the ones we hashed.
 *
 * Nothing here prints: the caller sees events and progress through the
 * callbacks, and the failures at the end through upload_failures().
 */
#ifndef AP_UPLOAD_H
#define AP_UPLOAD_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "catalog.h"
#include "error.h"
#include "tilekey.h"

#define UPLOAD_WORKERS_MAX 256		/* transfers in flight at most */
/* Bytes of file bodies held in memory at once, whatever the worker count. */
#define UPLOAD_INFLIGHT_BYTES_MAX (64u * 1024 * 1024)
/* Larger files are refused: the server would never serve them. */
#define UPLOAD_TILE_MAX_BYTES TILE_MAX_BYTES
#define UPLOAD_META_MAX_BYTES META_MAX_BYTES
#define UPLOAD_DATASETS_MAX 10000	/* datasets in one run */
#define UPLOAD_OBJECTS_MAX 4000000u	/* local files + bucket objects in one run */
#define UPLOAD_WHY_MAX 256		/* one failure reason */
/* A PUT's deadline is S3_TIMEOUT_MS plus its size at this rate (slow uplinks). */
#define UPLOAD_MIN_RATE_BPS (64 * 1024)
/* An object's key does not change when a dataset is re-uploaded, so a cache
 * in front of a public bucket (R2's public URL behind Cloudflare) may keep a
 * tile only briefly; immutable URLs are the tile server's versioned ones. */
#define UPLOAD_TILE_CACHE_CONTROL "public, max-age=60, stale-while-revalidate=600"
/* Metadata changes (processing_status, name): caches must notice soon. */
#define UPLOAD_META_CACHE_CONTROL "public, max-age=60"
/* The index changes with the tiles, as the metadata does. */
#define UPLOAD_INDEX_CACHE_CONTROL UPLOAD_META_CACHE_CONTROL
#define UPLOAD_INDEX_CONTENT_TYPE "application/octet-stream"
/* Encoded indexes held in memory by one run (each at most TILEINDEX_MAX_BYTES). */
#define UPLOAD_INDEX_HELD_MAX (256u * 1024 * 1024)
#define UPLOAD_WEBP_JOBS_MAX 64		/* encoding threads at most */

/*
 * What a run does:
 *   UPLOAD_SYNC          the local tree to the bucket, the index built from
 *                        the local files (and written beside them);
 *   UPLOAD_INDEX_BUCKET  only the index, built from the bucket's listing and
 *                        its metadata object, for trees other tools uploaded;
 *                        nothing is read or written locally;
 *   UPLOAD_INDEX_LOCAL   the WebP variants (webp set) and the index of the
 *                        local tree, written there during upload_add_dataset;
 *                        no bucket, no run.
 */
enum upload_mode { UPLOAD_SYNC = 0, UPLOAD_INDEX_BUCKET, UPLOAD_INDEX_LOCAL };

enum upload_phase { UP_SCANNING, UP_VARIANTS, UP_LISTING, UP_COMPARING, UP_SENDING, UP_DONE };

enum upload_ev {
	UEV_UPLOADED,		/* key was PUT */
	UEV_SKIPPED,		/* key is up to date in the bucket */
	UEV_DELETED,		/* key was DELETEd */
	UEV_FAILED,		/* key failed; why says why */
	UEV_WOULD_UPLOAD,	/* dry run: key would be PUT (why: "new" or "changed") */
	UEV_WOULD_DELETE,	/* dry run: key would be DELETEd */
	UEV_NOTE,		/* no key: a remark about the tree (why) */
	UEV_WARNING,		/* no key: a local file left out, to fix (why) */
	UEV_INDEX,		/* the index key was built: bytes, and why says what it lists */
	UEV_VARIANT,		/* a WebP variant (key) was made or refused: why says how */
};

struct upload_event {
	enum upload_ev kind;
	const char *key;	/* NULL for UEV_NOTE */
	unsigned long long bytes;
	const char *why;	/* reason, or NULL */
	double seconds;		/* transfer time, retries included */
	int attempts;
};

/* WebP variants of the datasets added so far (webp set). */
struct upload_variant_stats {
	unsigned long long sources;	/* JPEG and PNG tiles looked at */
	unsigned long long made;	/* encoded and written (new or remade) */
	unsigned long long fresh;	/* ours, up to date: not encoded again */
	unsigned long long handmade;	/* a .webp we did not make: kept as is */
	unsigned long long not_smaller, below_ssim;	/* encoded, refused */
	unsigned long long remembered;	/* refused before, source unchanged: not encoded */
	unsigned long long unreadable;	/* the source does not decode: no variant */
	unsigned long long removed;	/* ours, no longer wanted: deleted locally */
	unsigned long long failed;	/* could not be written or read */
	unsigned long long would_make;	/* dry run: would be encoded */
	unsigned long long orig_bytes, webp_bytes;	/* of the variants made */
	unsigned long long encodes;	/* WebP encodes (a quality search makes ~6) */
	long long encode_us;		/* CPU-thread time of the variants encoded */
	long long wall_us;		/* wall time of the variant phases */
};

struct upload_stats {
	enum upload_phase phase;
	struct upload_variant_stats webp;
	unsigned long long variants_total, variants_done;	/* UP_VARIANTS progress */
	unsigned long long local_objects, bucket_objects;
	unsigned long long compared, to_compare;	/* UP_COMPARING progress */
	/* the plan: objects to send (PUT + DELETE) and bytes to PUT */
	unsigned long long objects_total, bytes_total;
	unsigned long long objects_done, bytes_done;	/* of the plan, finished */
	unsigned long long uploaded, skipped, deleted, failed;
	unsigned long long not_sent;	/* left when interrupted or aborted */
	unsigned long long untouched;	/* in the bucket, gone locally, no --delete */
	unsigned inflight, peak_inflight;
	size_t inflight_bytes, peak_inflight_bytes;	/* file bodies in memory */
	enum upload_phase reached;	/* the last phase entered before UP_DONE */
	bool interrupted;	/* stop flag seen */
	bool aborted;		/* gave up (access denied, storage down) */
};

struct webp_opts;

struct upload_opts {
	enum upload_mode mode;
	const char *local_dir;	/* NULL only with UPLOAD_INDEX_BUCKET */
	unsigned workers;	/* 1..UPLOAD_WORKERS_MAX */
	bool dry_run;		/* list and compare, send nothing, write nothing locally */
	/* make WebP variants (not UPLOAD_INDEX_BUCKET; NULL: none): see upload_add_dataset */
	const struct webp_opts *webp;
	unsigned webp_jobs;	/* encoding threads, 1..UPLOAD_WEBP_JOBS_MAX */
	bool delete_gone;	/* DELETE bucket objects gone locally */
	long timeout_ms;	/* deadline of one request, retries included (PUTs: plus
				 * their size at UPLOAD_MIN_RATE_BPS) */
	int max_retries;
	/* set (from a signal handler) to stop: nothing new is sent, transfers
	 * in flight get UPLOAD_STOP_GRACE_MS to finish; a value >= 2 cancels them */
	const volatile sig_atomic_t *stop;
	void (*event)(const struct upload_event *ev, void *ud);	/* may be NULL */
	void (*progress)(const struct upload_stats *st, void *ud);	/* often; may be NULL */
	void *ud;
};

#define UPLOAD_STOP_GRACE_MS 5000

struct engine;
struct s3;
struct upload;

/* Dataset ids found under local_dir (metadata/datasets/{id}.json and
 * tiles/{id}/), sorted, without duplicates. */
enum ap_err upload_find_datasets(const char *local_dir, uint32_t *ids, size_t cap, size_t *n,
				 char *why, size_t whylen) AP_WARN_UNUSED;
/* Dataset ids whose metadata/datasets/{id}.json the bucket holds (a
 * paged listing on u's engine), sorted; why says what failed. */
enum ap_err upload_find_bucket_datasets(struct upload *u, uint32_t *ids, size_t cap,
					size_t *n, char *why, size_t whylen) AP_WARN_UNUSED;
/* Can this build make WebP variants (configure found the libraries)? */
bool upload_webp_supported(void);

/* e and s may be NULL with UPLOAD_INDEX_LOCAL (nothing is sent). */
enum ap_err upload_new(const struct upload_opts *o, struct engine *e, struct s3 *s,
		       struct upload **out) AP_WARN_UNUSED;
void upload_free(struct upload *u);
/*
 * UPLOAD_SYNC and UPLOAD_INDEX_LOCAL: scans the local files of a dataset
 * (AP_ERR_NOT_FOUND if it has none), makes its WebP variants (webp set;
 * the stop flag ends this phase early, then st.interrupted is set), builds
 * its index and, unless dry_run, writes it to the local tree.
 * UPLOAD_INDEX_BUCKET: only names the dataset; the run reads the bucket.
 */
enum ap_err upload_add_dataset(struct upload *u, uint32_t id, char *why,
			       size_t whylen) AP_WARN_UNUSED;
/*
 * Lists, compares and sends (or, dry run, reports what it would send).
 * AP_OK when the run went through: objects may still have failed, or the
 * stop flag cut it short (see the stats). Otherwise why says what ended it:
 * during the listing nothing was sent (AP_ERR_FORBIDDEN: the bucket refused
 * the credentials); during sending the stats tell what was done before.
 */
enum ap_err upload_run(struct upload *u, char *why, size_t whylen) AP_WARN_UNUSED;
const struct upload_stats *upload_stats(const struct upload *u);
/* Calls fn for each failed key, in key order of each dataset. */
void upload_failures(const struct upload *u, void (*fn)(const char *key, const char *why,
							 void *ud), void *ud);

#endif
