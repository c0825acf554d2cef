/*
 * sync.c - astropixel-sync: the command line around upload.c.
 *
 * Reads the common configuration (config.h), checks what an upload needs,
 * picks the datasets, runs the upload on one engine and tells the user what
 * happens: a progress bar redrawn in place on a terminal, a plain line every
 * few seconds otherwise, a summary and the failed keys at the end.
 *
 * Output: stdout carries the record of actions (--dry-run plan, --verbose
 * per-object lines); stderr carries progress, notes, the summary and
 * errors. No secret is ever printed: only "(set)" for the keys.
 *
 * Signals: SIGINT/SIGTERM only count into a flag; upload.c stops sending,
 * lets transfers in flight finish (a second signal cancels them), and the
 * summary is printed before exiting with SYNC_EXIT_INTERRUPTED.
 *
 * Three runs (upload.h, enum upload_mode): a sync (tiles, WebP variants
 * with --webp or SYNC_WEBP, metadata, index), or --index-only: the index
 * from the bucket's listing when a bucket is configured, else from the
 * local tree, written there.
 */
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <curl/curl.h>
#include "ap_autoconf.h"
#include "app.h"
#include "clock.h"
#include "config.h"
#include "decimal.h"
#include "engine.h"
#include "log.h"
#include "s3.h"
#include "tilekey.h"
#include "upload.h"
#include "webp_variant.h"

#define SYNC_EXIT_OK 0
#define SYNC_EXIT_FAILED 1
#define SYNC_EXIT_USAGE 2
#define SYNC_EXIT_INTERRUPTED 130	/* as a shell reports SIGINT */
#define SYNC_TTY_REDRAW_MS 100		/* progress bar: at most 10 redraws a second */
#define SYNC_LOG_INTERVAL_S 5		/* not a terminal: one progress line this often */
#define SYNC_LOG_INTERVAL_MAX_S 3600
#define SYNC_FAILURES_LIST_MAX 100	/* failed keys listed at the end */
#define SYNC_TTY_COLS_DEFAULT 80
#define SYNC_LINE_MAX 512
#define SYNC_WHY_MAX 1024		/* a configuration or run error */
#define SYNC_ETA_MAX 32			/* "123:59:59" */
#define SYNC_BAR_MIN 10			/* narrower than this: no bar, numbers only */
#define SYNC_BAR_WIDTH 24
#define SYNC_SSIM_DIGITS_MAX 4		/* --webp-ssim 0.NNNN: the mark keeps ten-thousandths */
/* --webp-quality without --webp-ssim: no threshold (the smallest the mark holds) */
#define SYNC_SSIM_NONE 0.0001

/* Settings astropixel-sync reads, shown by --help from the common table. */
static const char *const sync_settings[] = {
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_BUCKET_NAME",
	"S3_ENDPOINT_URL", "S3_REGION", "LOCAL_STORAGE_DIR", "R2_UPLOAD_MAX_WORKERS",
	"S3_CA_BUNDLE", "S3_VERIFY_TLS", "S3_CONNECT_TIMEOUT_MS", "S3_TIMEOUT_MS",
	"S3_MAX_RETRIES", "S3_MAX_HOST_CONNECTIONS", "S3_MAX_CONCURRENT_STREAMS",
	"DNS_CACHE_TTL", "S3_CONN_MAX_AGE", "SYNC_WEBP",
};

static volatile sig_atomic_t stop_signals;

static void on_signal(int sig)
{
	(void)sig;
	if (stop_signals < 2)
		stop_signals++;
}

struct ui {
	bool tty, quiet, verbose, dry_run, index_only;
	bool bar_shown;
	unsigned workers;
	int log_interval_ms;
	long long t0, send_t0, last_draw, last_log;
	unsigned long long done_at_send;	/* objects finished before sending began */
};

static void clear_bar(struct ui *ui)
{
	if (ui->bar_shown) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		ui->bar_shown = false;
	}
}

/* One line on out, after taking the progress bar off the terminal. */
static void say(struct ui *ui, FILE *out, const char *fmt, ...) AP_PRINTF(3, 4);
static void say(struct ui *ui, FILE *out, const char *fmt, ...)
{
	va_list ap;

	clear_bar(ui);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
	fflush(out);
}

/* The lines of the one configuration table that name a setting sync reads. */
static void print_settings(FILE *out)
{
	char *text = NULL, *line, *next;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);

	if (!mem)
		return;
	config_print_help(mem);
	fclose(mem);
	for (line = text; line && *line; line = next) {
		size_t n = strcspn(line, "\n");
		next = line[n] ? line + n + 1 : line + n;
		for (size_t i = 0; i < sizeof(sync_settings) / sizeof(sync_settings[0]); i++) {
			size_t l = strlen(sync_settings[i]);
			if (n > l + 2 && !strncmp(line, "  ", 2) &&
			    !strncmp(line + 2, sync_settings[i], l) && line[2 + l] == ' ') {
				fwrite(line, 1, n, out);
				fputc('\n', out);
			}
		}
	}
	free(text);
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: astropixel-sync [options] [DATASET_ID...]\n"
		"\n"
		"Uploads tiles/{id}/... and metadata/datasets/{id}.json from LOCAL_STORAGE_DIR to\n"
		"the bucket, R2_UPLOAD_MAX_WORKERS PUTs in parallel, skipping objects whose ETag\n"
		"equals the local MD5 (a second run sends nothing; an interrupted run is finished\n"
		"by the next). Without ids, every dataset of the local tree. Each dataset's tile\n"
		"index, metadata/datasets/{id}.index, is built from the local tree and written\n"
		"there too. Order: tiles, then metadata, then the index, then deletions.\n"
		"\n"
		"Options:\n"
		"  -n, --dry-run          list what would be uploaded (and deleted); send nothing,\n"
		"                         write nothing locally\n"
		"      --delete           also delete bucket objects of the synced datasets that\n"
		"                         are gone locally (tiles/{id}/, the metadata, the index)\n"
		"      --index-only       only the index: from the bucket's listing if a bucket is\n"
		"                         configured (without ids, of every dataset whose metadata\n"
		"                         it holds), else from the local tree, written there\n"
		"      --local            the local tree only, no bucket: its WebP variants (with\n"
		"                         --webp) and its index, written there (a server that\n"
		"                         reads LOCAL_STORAGE_DIR alone); nothing is uploaded\n"
		"      --webp             also make a WebP variant y.webp of every JPEG and PNG\n"
		"                         tile, in the local tree and the bucket [SYNC_WEBP]\n"
		"      --webp-ssim S      JPEG variants keep SSIM >= S, 0.0001..1 [%.2f]\n"
		"      --webp-quality Q   a fixed quality 1..100 instead of the search (no SSIM\n"
		"                         threshold unless --webp-ssim is given too)\n"
		"      --webp-jobs N      encoding threads, 1..%d [the number of CPUs]\n"
		"  -j, --workers N        parallel transfers, 1..%d [R2_UPLOAD_MAX_WORKERS]\n"
		"      --progress-interval S\n"
		"                         seconds between progress lines when stderr is not a\n"
		"                         terminal [%d]\n"
		"  -q, --quiet            no progress and no summary; failures only\n"
		"  -v, --verbose          one line per object, retries, effective settings\n"
		"  -h, --help             this text\n"
		"  -V, --version          the version\n"
		"\n"
		"Exit status: 0 all in sync, 1 some object failed or the bucket refused us,\n"
		"2 usage or configuration error (also --webp in a build without WebP support),\n"
		"%d interrupted (run again to finish).\n"
		"\n", WEBP_SSIM_MIN_DEFAULT, UPLOAD_WEBP_JOBS_MAX, UPLOAD_WORKERS_MAX,
		SYNC_LOG_INTERVAL_S, SYNC_EXIT_INTERRUPTED);
	if (!upload_webp_supported())
		fprintf(out, "This build has no WebP support (configure did not find libwebp, "
			"libwebpmux,\nlibpng and libjpeg): --webp and SYNC_WEBP=true are refused.\n\n");
	fprintf(out, "Settings read by astropixel-sync (environment variables; ENV_FILE names an\n"
		     "optional .env file, the environment wins):\n");
	print_settings(out);
}

/* A count from the command line: digits only, min..max. */
static bool parse_num(const char *s, long min, long max, long *out)
{
	uint64_t v;

	if (dec_parse_u64(s, strlen(s), (uint64_t)max, DEC_LEADING_ZEROS, &v) ||
	    v < (uint64_t)min)
		return false;
	*out = (long)v;
	return true;
}

/* --webp-ssim: "1", or "0." and 1..SYNC_SSIM_DIGITS_MAX digits, above 0. */
static bool parse_ssim(const char *s, double *out)
{
	double scale = 1;
	uint64_t v;
	size_t n;

	if (!strcmp(s, "1")) {
		*out = 1;
		return true;
	}
	if (strncmp(s, "0.", 2))
		return false;
	n = strlen(s + 2);
	if (n == 0 || n > SYNC_SSIM_DIGITS_MAX ||
	    dec_parse_u64(s + 2, n, UINT64_MAX, DEC_LEADING_ZEROS, &v) || v == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		scale *= 10;
	*out = (double)v / scale;
	return true;
}

static int term_cols(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		return ws.ws_col;
	return SYNC_TTY_COLS_DEFAULT;
}

static void fmt_eta(double s, char *out, size_t cap)
{
	long t = s > 0 && s < 360000 ? (long)(s + 0.5) : -1;

	if (t < 0)
		snprintf(out, cap, "--:--");
	else if (t >= 3600)
		snprintf(out, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(out, cap, "%ld:%02ld", t / 60, t % 60);
}

/* "1234/3000 objects, 12.3/40.1 MB, 250 obj/s, 2.1 MB/s, ETA 0:07" */
static void progress_text(struct ui *ui, const struct upload_stats *st, char *out, size_t cap)
{
	double secs = (double)(clock_ms() - ui->send_t0) / 1000.0;
	unsigned long long done = st->objects_done - ui->done_at_send;
	double orate = secs > 0.2 ? (double)done / secs : 0;
	double brate = secs > 0.2 ? (double)st->bytes_done / secs : 0;
	double eta = -1;
	char etas[SYNC_ETA_MAX];

	if (st->bytes_total && brate > 0)
		eta = (double)(st->bytes_total - st->bytes_done) / brate;
	else if (orate > 0)
		eta = (double)(st->objects_total - st->objects_done) / orate;
	if (st->objects_done == st->objects_total)
		eta = 0;
	fmt_eta(eta, etas, sizeof(etas));
	snprintf(out, cap, "%llu/%llu objects, %.1f/%.1f MB, %.0f obj/s, %.2f MB/s, ETA %s%s",
		 st->objects_done, st->objects_total, (double)st->bytes_done / 1e6,
		 (double)st->bytes_total / 1e6, orate, brate / 1e6, etas,
		 st->interrupted ? " (stopping)" : "");
}

/* The progress line redrawn in place on a terminal: a bar while sending. */
static void draw_bar(struct ui *ui, const struct upload_stats *st, char *text)
{
	char line[SYNC_BAR_WIDTH + SYNC_LINE_MAX + 4];
	int cols = term_cols() - 1;	/* never the last column: no wrap */
	int tl = (int)strlen(text), bar = cols - tl - 3;

	if (bar > SYNC_BAR_WIDTH)
		bar = SYNC_BAR_WIDTH;	/* steady: the numbers' width varies */
	if (st->phase == UP_SENDING && bar >= SYNC_BAR_MIN) {
		int fill = st->objects_total ?
				   (int)((double)bar * (double)st->objects_done /
					 (double)st->objects_total) : bar;
		memset(line, '#', (size_t)fill);
		memset(line + fill, '.', (size_t)(bar - fill));
		snprintf(line + bar, sizeof(line) - (size_t)bar, "] %s", text);
		fputc('[', stderr);
		fputs(line, stderr);
	} else {
		if (tl > cols)
			text[cols > 0 ? cols : 0] = '\0';
		fputs(text, stderr);
	}
	fputs("\033[K\r", stderr);
	fflush(stderr);
	ui->bar_shown = true;
}

static void on_progress(const struct upload_stats *st, void *ud)
{
	struct ui *ui = ud;
	char text[SYNC_LINE_MAX];
	long long now = clock_ms();

	if (ui->quiet)
		return;
	if (st->phase == UP_DONE) {
		clear_bar(ui);
		return;
	}
	if (st->phase == UP_SENDING && !ui->send_t0) {
		ui->send_t0 = now;
		ui->done_at_send = st->objects_done;
	}
	if (ui->tty ? now - ui->last_draw < SYNC_TTY_REDRAW_MS :
		      now - ui->last_log < ui->log_interval_ms)
		return;
	ui->last_draw = ui->last_log = now;
	switch (st->phase) {
	case UP_SCANNING:
		snprintf(text, sizeof(text), "scanning the local tree: %llu files",
			 st->local_objects);
		break;
	case UP_VARIANTS:
		snprintf(text, sizeof(text), "making WebP variants: %llu/%llu tiles",
			 st->variants_done, st->variants_total);
		break;
	case UP_LISTING:
		snprintf(text, sizeof(text), "listing the bucket: %llu objects so far",
			 st->bucket_objects);
		break;
	case UP_COMPARING:
		snprintf(text, sizeof(text), "comparing: %llu/%llu files read", st->compared,
			 st->to_compare);
		break;
	default:
		progress_text(ui, st, text, sizeof(text));
		break;
	}
	if (!ui->tty)
		say(ui, stderr, "astropixel-sync: %s", text);
	else
		draw_bar(ui, st, text);
}

static void on_event(const struct upload_event *ev, void *ud)
{
	struct ui *ui = ud;

	switch (ev->kind) {
	case UEV_UPLOADED:
		if (ui->verbose) {
			if (ev->attempts > 1)
				say(ui, stdout, "uploaded %s (%llu bytes, %.3f s, %d attempts)",
				    ev->key, ev->bytes, ev->seconds, ev->attempts);
			else
				say(ui, stdout, "uploaded %s (%llu bytes, %.3f s)", ev->key,
				    ev->bytes, ev->seconds);
		}
		break;
	case UEV_SKIPPED:
		if (ui->verbose)
			say(ui, stdout, "skipped %s (up to date)", ev->key);
		break;
	case UEV_DELETED:
		if (!ui->quiet)
			say(ui, stdout, "deleted %s", ev->key);
		break;
	case UEV_FAILED:
		if (ui->verbose || ui->dry_run)
			say(ui, stderr, "failed %s: %s", ev->key, ev->why ? ev->why : "?");
		break;
	case UEV_WOULD_UPLOAD:
		say(ui, stdout, "would upload %s (%llu bytes, %s)", ev->key, ev->bytes,
		    ev->why ? ev->why : "new");
		break;
	case UEV_WOULD_DELETE:
		say(ui, stdout, "would delete %s", ev->key);
		break;
	case UEV_NOTE:
		if (!ui->quiet)
			say(ui, stderr, "astropixel-sync: %s", ev->why);
		break;
	case UEV_WARNING:
		say(ui, stderr, "astropixel-sync: warning: %s", ev->why);
		break;
	case UEV_INDEX:
		if ((ui->verbose || ui->index_only) && !ui->quiet)
			say(ui, stderr, "astropixel-sync: %s", ev->why);
		break;
	case UEV_VARIANT:
		if (ui->verbose)
			say(ui, stdout, "webp %s: %s", ev->key, ev->why);
		break;
	}
}

struct failure_list {
	struct ui *ui;
	unsigned long long n;
};

static void list_failure(const char *key, const char *why, void *ud)
{
	struct failure_list *fl = ud;

	if (fl->n++ < SYNC_FAILURES_LIST_MAX)
		say(fl->ui, stderr, "  %s: %s", key, why ? why : "failed");
}

static void summary(struct ui *ui, const struct upload *up)
{
	const struct upload_stats *st = upload_stats(up);
	double secs = (double)(clock_ms() - ui->t0) / 1000.0;
	double s = secs > 0.001 ? secs : 0.001;

	if (ui->quiet)
		return;
	if (st->reached != UP_SENDING) {	/* stopped while listing or comparing */
		if (!st->interrupted)
			say(ui, stderr, "astropixel-sync: nothing was sent");
		return;
	}
	say(ui, stderr, "astropixel-sync: uploaded %llu (%.1f MB), skipped %llu, deleted %llu, "
	    "failed %llu in %.1f s: %.1f objects/s, %.2f MB/s",
	    st->uploaded, (double)st->bytes_done / 1e6, st->skipped, st->deleted, st->failed,
	    secs, (double)(st->uploaded + st->deleted) / s, (double)st->bytes_done / 1e6 / s);
	if (ui->verbose)
		say(ui, stderr, "astropixel-sync: at most %u transfers and %zu bytes of file "
		    "bodies in flight (limits %u and %u)", st->peak_inflight,
		    st->peak_inflight_bytes, ui->workers, UPLOAD_INFLIGHT_BYTES_MAX);
}

/* Counts the dry run's deletions for its summary. */
struct dry_counts {
	struct ui *ui;
	unsigned long long deletes;
};

static void dry_event(const struct upload_event *ev, void *ud)
{
	struct dry_counts *dc = ud;

	if (ev->kind == UEV_WOULD_DELETE)
		dc->deletes++;
	on_event(ev, dc->ui);
}

static void dry_progress(const struct upload_stats *st, void *ud)
{
	on_progress(st, ((struct dry_counts *)ud)->ui);
}

/* What a run needs beyond config_load(); names the variable to set. */
static bool check_config(struct config *c, enum upload_mode mode, char *why, size_t whylen)
{
	if (!c->local_dir && mode != UPLOAD_INDEX_BUCKET) {
		snprintf(why, whylen, mode == UPLOAD_INDEX_LOCAL ?
			 "LOCAL_STORAGE_DIR: required by --local and by --index-only without a "
			 "bucket (the tree to index), or set AWS_BUCKET_NAME to index the bucket" :
			 "LOCAL_STORAGE_DIR: required (the tree to upload)");
		return false;
	}
	if (mode == UPLOAD_INDEX_LOCAL)
		return true;
	if (!c->bucket) {
		snprintf(why, whylen, "AWS_BUCKET_NAME: required (the bucket to upload to)");
		return false;
	}
	if (!c->endpoint) {
		snprintf(why, whylen, "S3_ENDPOINT_URL: required, e.g. "
			 "https://ACCOUNT.r2.cloudflarestorage.com");
		return false;
	}
	if (strncmp(c->endpoint, "https://", 8) && strncmp(c->endpoint, "http://", 7)) {
		snprintf(why, whylen, "S3_ENDPOINT_URL: must start with https:// or http://");
		return false;
	}
	if (!c->access_key) {
		snprintf(why, whylen, "AWS_ACCESS_KEY_ID: required to write to the bucket");
		return false;
	}
	if (!c->secret_key_s3) {
		snprintf(why, whylen, "AWS_SECRET_ACCESS_KEY: required to write to the bucket");
		return false;
	}
	return true;
}

/* Everything one invocation sets up; sync_free() releases what was. */
struct sync_run {
	struct ui ui;
	struct upload_opts uo;
	struct config cfg;
	struct config s3cfg;	/* cfg without R2_PUBLIC_URL; the bucket client keeps it */
	bool cfg_loaded, curl_up;
	struct engine *eng;
	struct s3 *s3;
	struct upload *up;
	uint32_t *ids;
	size_t nids;
	long workers;	/* 0: from R2_UPLOAD_MAX_WORKERS */
	enum upload_mode mode;
	bool index_only, local_only, webp_flag, ssim_given;
	double webp_ssim;
	long webp_quality;	/* 0: the SSIM search */
	long webp_jobs;		/* 0: the number of CPUs */
	struct webp_opts wo;
	struct dry_counts dc;
	struct failure_list fl;
};

#define SYNC_GO (-1)	/* not an exit status: go on to the next step */

/* --webp-ssim (S), --webp-quality (Q), --webp-jobs (J); false after saying why. */
static bool parse_webp_opt(struct sync_run *r, int c, const char *arg)
{
	if (c == 'S' && parse_ssim(arg, &r->webp_ssim))
		return r->ssim_given = true;
	if (c == 'Q' && parse_num(arg, 1, 100, &r->webp_quality))
		return true;
	if (c == 'J' && parse_num(arg, 1, UPLOAD_WEBP_JOBS_MAX, &r->webp_jobs))
		return true;
	if (c == 'S')
		fprintf(stderr, "astropixel-sync: --webp-ssim: expected 1 or 0.N with 1 to %d "
			"digits, above 0\n", SYNC_SSIM_DIGITS_MAX);
	else if (c == 'Q')
		fprintf(stderr, "astropixel-sync: --webp-quality: expected 1..100\n");
	else
		fprintf(stderr, "astropixel-sync: --webp-jobs: expected 1..%d\n",
			UPLOAD_WEBP_JOBS_MAX);
	return false;
}

/* Options that exclude each other, and the dataset ids after them; SYNC_GO
 * or the exit status. */
static int check_args(struct sync_run *r, int argc, char **argv)
{
	if (r->ui.quiet && r->ui.verbose) {
		fprintf(stderr, "astropixel-sync: --quiet and --verbose exclude each other\n");
		return SYNC_EXIT_USAGE;
	}
	if (r->index_only && (r->uo.delete_gone || r->webp_flag)) {
		fprintf(stderr, "astropixel-sync: --index-only writes the index and nothing else: "
			"not with --delete or --webp\n");
		return SYNC_EXIT_USAGE;
	}
	if (r->local_only && (r->index_only || r->uo.delete_gone)) {
		fprintf(stderr, "astropixel-sync: --local touches no bucket: not with --index-only "
			"or --delete\n");
		return SYNC_EXIT_USAGE;
	}
	if (argc - optind > UPLOAD_DATASETS_MAX) {
		fprintf(stderr, "astropixel-sync: at most %d dataset ids\n", UPLOAD_DATASETS_MAX);
		return SYNC_EXIT_USAGE;
	}
	r->ids = calloc(UPLOAD_DATASETS_MAX, sizeof(*r->ids));
	if (!r->ids) {
		fprintf(stderr, "astropixel-sync: out of memory\n");
		return SYNC_EXIT_FAILED;
	}
	for (int i = optind; i < argc; i++) {
		if (tk_parse_uint(argv[i], strlen(argv[i]), DATASET_ID_MAX, &r->ids[r->nids])) {
			fprintf(stderr, "astropixel-sync: '%s' is not a dataset id (0..%u, no "
				"sign, no leading zeros)\n", argv[i], DATASET_ID_MAX);
			return SYNC_EXIT_USAGE;
		}
		r->nids++;
	}
	return SYNC_GO;
}

/* Options and dataset ids; SYNC_GO or the exit status. */
static int parse_args(struct sync_run *r, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dry-run", no_argument, NULL, 'n'},
		{"delete", no_argument, NULL, 'D'},
		{"workers", required_argument, NULL, 'j'},
		{"progress-interval", required_argument, NULL, 'P'},
		{"index-only", no_argument, NULL, 'I'},
		{"local", no_argument, NULL, 'L'},
		{"webp", no_argument, NULL, 'W'},
		{"webp-ssim", required_argument, NULL, 'S'},
		{"webp-quality", required_argument, NULL, 'Q'},
		{"webp-jobs", required_argument, NULL, 'J'},
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	long v;
	int c;

	while ((c = getopt_long(argc, argv, "nj:qvhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': r->ui.dry_run = true; break;
		case 'D': r->uo.delete_gone = true; break;
		case 'j':
			if (!parse_num(optarg, 1, UPLOAD_WORKERS_MAX, &r->workers)) {
				fprintf(stderr, "astropixel-sync: --workers: expected 1..%d\n",
					UPLOAD_WORKERS_MAX);
				return SYNC_EXIT_USAGE;
			}
			break;
		case 'P':
			if (!parse_num(optarg, 1, SYNC_LOG_INTERVAL_MAX_S, &v)) {
				fprintf(stderr, "astropixel-sync: --progress-interval: expected "
					"1..%d seconds\n", SYNC_LOG_INTERVAL_MAX_S);
				return SYNC_EXIT_USAGE;
			}
			r->ui.log_interval_ms = (int)v * 1000;
			break;
		case 'I': r->index_only = r->ui.index_only = true; break;
		case 'L': r->local_only = r->ui.index_only = true; break;
		case 'W': r->webp_flag = true; break;
		case 'S': case 'Q': case 'J':
			if (!parse_webp_opt(r, c, optarg))
				return SYNC_EXIT_USAGE;
			break;
		case 'q': r->ui.quiet = true; break;
		case 'v': r->ui.verbose = true; break;
		case 'h': usage(stdout); return SYNC_EXIT_OK;
		case 'V': printf("astropixel-sync %s\n", PACKAGE_VERSION); return SYNC_EXIT_OK;
		default: usage(stderr); return SYNC_EXIT_USAGE;
		}
	}
	return check_args(r, argc, argv);
}

/* Settings that work but weaken or slow the run, said before it starts. */
static void warn_settings(struct sync_run *r)
{
	const struct config *cfg = &r->cfg;

	if (r->workers > cfg->max_streams && !r->ui.quiet)
		fprintf(stderr, "astropixel-sync: %ld workers, but S3_MAX_CONCURRENT_STREAMS=%ld: "
			"only %ld requests run at once, the rest wait their turn\n", r->workers,
			cfg->max_streams, cfg->max_streams);
	/* even with --quiet: nothing else would tell that the uploads are unprotected */
	if (!cfg->tls_verify)
		say(&r->ui, stderr, "astropixel-sync: warning: S3_VERIFY_TLS=false: the TLS "
		    "certificate of S3_ENDPOINT_URL is NOT verified: anyone on the network path "
		    "can pose as the bucket, and read or alter what is uploaded");
	if (r->ui.verbose)
		say(&r->ui, stderr, "astropixel-sync: endpoint %s, bucket %s, region %s, local %s, "
		    "workers %ld, timeout %ld ms, retries %ld, access key %s, secret %s%s",
		    cfg->endpoint, cfg->bucket, cfg->region ? cfg->region : "auto", cfg->local_dir,
		    r->workers, cfg->request_timeout_ms, cfg->max_retries,
		    cfg->access_key ? "(set)" : "(unset)", cfg->secret_key_s3 ? "(set)" : "(unset)",
		    cfg->public_url ? " (R2_PUBLIC_URL ignored: uploads use the S3 API)" : "");
}

/* The WebP options of a sync (--webp or SYNC_WEBP); SYNC_GO or the exit status. */
static int webp_settings(struct sync_run *r)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (r->index_only || !(r->webp_flag || r->cfg.sync_webp))
		return SYNC_GO;	/* --index-only makes no variant, whatever SYNC_WEBP says */
	if (!upload_webp_supported()) {
		fprintf(stderr, "astropixel-sync: %s: this build has no WebP support (configure "
			"did not find libwebp, libwebpmux, libpng and libjpeg: install them and "
			"build again, see README)\n", r->webp_flag ? "--webp" : "SYNC_WEBP=true");
		return SYNC_EXIT_USAGE;
	}
	/* webp_opts_default() is in the variant library: a build without it still parses */
	r->wo.ssim_min = r->ssim_given ? r->webp_ssim :
			 r->webp_quality ? SYNC_SSIM_NONE : WEBP_SSIM_MIN_DEFAULT;
	r->wo.quality = r->webp_quality ? (int)r->webp_quality : WEBP_QUALITY_SEARCH;
	r->wo.method = WEBP_METHOD_DEFAULT;
	r->wo.lossless_level = WEBP_LOSSLESS_LEVEL_DEFAULT;
	if (!r->webp_jobs)
		r->webp_jobs = cpus < 1 ? 1 : cpus > UPLOAD_WEBP_JOBS_MAX ? UPLOAD_WEBP_JOBS_MAX : cpus;
	r->uo.webp = &r->wo;
	r->uo.webp_jobs = (unsigned)r->webp_jobs;
	return SYNC_GO;
}

/* The configuration and what it implies; SYNC_GO or the exit status. */
static int load_settings(struct sync_run *r)
{
	char why[SYNC_WHY_MAX];
	int rc;

	r->ui.tty = isatty(STDERR_FILENO);
	/* the shared modules log through log.h: only their warnings, unless asked */
	log_set_level(r->ui.verbose ? LOG_DEBUG : LOG_WARN);
	if (config_load(&r->cfg, why, sizeof(why))) {
		fprintf(stderr, "astropixel-sync: configuration error: %s\n", why);
		return SYNC_EXIT_USAGE;
	}
	r->cfg_loaded = true;
	r->mode = r->local_only ? UPLOAD_INDEX_LOCAL : !r->index_only ? UPLOAD_SYNC :
		  r->cfg.bucket ? UPLOAD_INDEX_BUCKET : UPLOAD_INDEX_LOCAL;
	if (!check_config(&r->cfg, r->mode, why, sizeof(why))) {
		fprintf(stderr, "astropixel-sync: configuration error: %s\n", why);
		return SYNC_EXIT_USAGE;
	}
	if (!r->workers)
		r->workers = r->cfg.upload_workers;
	if (r->workers > UPLOAD_WORKERS_MAX)
		r->workers = UPLOAD_WORKERS_MAX;
	r->ui.workers = (unsigned)r->workers;
	if ((rc = webp_settings(r)) != SYNC_GO)
		return rc;
	if (r->mode != UPLOAD_INDEX_LOCAL)
		warn_settings(r);
	return SYNC_GO;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: a blocked poll returns at once */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* curl, the engine and the bucket client; SYNC_GO or the exit status. */
static int start_bucket(struct sync_run *r)
{
	struct engine_opts eo = {0};

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, "astropixel-sync: curl_global_init failed\n");
		return SYNC_EXIT_FAILED;
	}
	r->curl_up = true;
	app_engine_opts(&r->cfg, &eo);
	/* listing and writing need the S3 API, never the public read URL */
	r->s3cfg = r->cfg;
	r->s3cfg.public_url = NULL;
	if (engine_new(&eo, &r->eng) || s3_new(&r->s3cfg, &r->s3)) {
		fprintf(stderr, "astropixel-sync: cannot set up the HTTP engine or the bucket "
			"client (check S3_ENDPOINT_URL)\n");
		return SYNC_EXIT_USAGE;
	}
	return SYNC_GO;
}

/* Signals, the bucket (unless indexing locally) and the upload; SYNC_GO or the exit status. */
static int start_upload(struct sync_run *r)
{
	int rc;

	install_signals();
	if (r->mode != UPLOAD_INDEX_LOCAL && (rc = start_bucket(r)) != SYNC_GO)
		return rc;
	r->uo.mode = r->mode;
	r->uo.local_dir = r->mode == UPLOAD_INDEX_BUCKET ? NULL : r->cfg.local_dir;
	r->uo.workers = (unsigned)r->workers;
	r->uo.dry_run = r->ui.dry_run;
	r->uo.timeout_ms = r->cfg.request_timeout_ms;
	r->uo.max_retries = (int)r->cfg.max_retries;
	r->uo.stop = &stop_signals;
	r->uo.event = r->ui.dry_run ? dry_event : on_event;
	r->uo.progress = r->ui.dry_run ? dry_progress : on_progress;
	r->uo.ud = r->ui.dry_run ? (void *)&r->dc : (void *)&r->ui;
	if (upload_new(&r->uo, r->eng, r->s3, &r->up)) {
		fprintf(stderr, "astropixel-sync: out of memory\n");
		return SYNC_EXIT_FAILED;
	}
	r->ui.t0 = r->ui.last_log = clock_ms();	/* first progress line after one interval */
	return SYNC_GO;
}

/* Every dataset of the local tree, or (--index-only) of the bucket; SYNC_GO or the exit status. */
static int find_ids(struct sync_run *r)
{
	char why[SYNC_WHY_MAX];
	enum ap_err e;

	if (r->mode == UPLOAD_INDEX_BUCKET)
		e = upload_find_bucket_datasets(r->up, r->ids, UPLOAD_DATASETS_MAX, &r->nids, why,
						sizeof(why));
	else
		e = upload_find_datasets(r->cfg.local_dir, r->ids, UPLOAD_DATASETS_MAX, &r->nids,
					 why, sizeof(why));
	if (e) {
		fprintf(stderr, "astropixel-sync: %s%s\n", r->mode == UPLOAD_INDEX_BUCKET ?
			"finding the datasets of the bucket: " : "", why);
		return SYNC_EXIT_FAILED;
	}
	if (upload_stats(r->up)->interrupted)
		return SYNC_EXIT_INTERRUPTED;
	if (r->nids)
		return SYNC_GO;
	if (r->mode == UPLOAD_INDEX_BUCKET)
		fprintf(stderr, "astropixel-sync: no dataset in the bucket (expected "
			"metadata/datasets/{id}.json objects)\n");
	else
		fprintf(stderr, "astropixel-sync: no dataset under %s (expected "
			"metadata/datasets/{id}.json or tiles/{id}/)\n", r->cfg.local_dir);
	return SYNC_EXIT_USAGE;
}

/* The named datasets, or every one found; SYNC_GO or the exit status. */
static int add_datasets(struct sync_run *r)
{
	char why[SYNC_WHY_MAX];
	enum ap_err e;
	int rc;

	if (!r->nids && (rc = find_ids(r)) != SYNC_GO)
		return rc;
	for (size_t i = 0; i < r->nids && !upload_stats(r->up)->interrupted; i++) {
		e = upload_add_dataset(r->up, r->ids[i], why, sizeof(why));
		if (e) {
			fprintf(stderr, "astropixel-sync: %s\n", why);
			return e == AP_ERR_NOT_FOUND ? SYNC_EXIT_USAGE : SYNC_EXIT_FAILED;
		}
	}
	if (upload_stats(r->up)->interrupted) {	/* while making variants */
		say(&r->ui, stderr, "astropixel-sync: interrupted while making WebP variants: "
		    "nothing was sent; run again (the variants made are kept)");
		return SYNC_EXIT_INTERRUPTED;
	}
	return SYNC_GO;
}

/* After the summary: what is left to do, and the exit status. */
static int report_rest(struct sync_run *r, enum ap_err e)
{
	struct ui *ui = &r->ui;
	const struct upload_stats *st = upload_stats(r->up);

	if (st->untouched && !ui->quiet)
		say(ui, stderr, "astropixel-sync: %llu object%s in the bucket %s gone "
		    "locally (--delete removes them)", st->untouched,
		    st->untouched == 1 ? "" : "s", st->untouched == 1 ? "is" : "are");
	if (st->failed && !ui->dry_run) {
		say(ui, stderr, "astropixel-sync: %llu object%s failed:", st->failed,
		    st->failed == 1 ? "" : "s");
		upload_failures(r->up, list_failure, &r->fl);
		if (r->fl.n > SYNC_FAILURES_LIST_MAX)
			say(ui, stderr, "  ... and %llu more (--verbose lists each as it "
			    "happens)", r->fl.n - SYNC_FAILURES_LIST_MAX);
	}
	if (st->interrupted) {
		if (st->reached == UP_SENDING)
			say(ui, stderr, "astropixel-sync: interrupted: %llu object%s not "
			    "sent; run again to finish (what is in the bucket is skipped)",
			    st->not_sent, st->not_sent == 1 ? "" : "s");
		else
			say(ui, stderr, "astropixel-sync: interrupted while %s: nothing "
			    "was sent; run again", st->reached == UP_LISTING ?
			    "listing the bucket" : "comparing");
		return SYNC_EXIT_INTERRUPTED;
	}
	if (e || st->failed) {
		if (st->not_sent)
			say(ui, stderr, "astropixel-sync: %llu object%s not sent",
			    st->not_sent, st->not_sent == 1 ? "" : "s");
		return SYNC_EXIT_FAILED;
	}
	return SYNC_EXIT_OK;
}

/* Runs the upload and tells how it went; the exit status. */
static int run_upload(struct sync_run *r)
{
	struct ui *ui = &r->ui;
	char why[SYNC_WHY_MAX];
	enum ap_err e = upload_run(r->up, why, sizeof(why));

	clear_bar(ui);
	if (e)
		say(ui, stderr, "astropixel-sync: error: %s", why);
	if (r->mode == UPLOAD_INDEX_LOCAL)	/* each index said where it went */
		return e ? SYNC_EXIT_FAILED : SYNC_EXIT_OK;
	if (ui->dry_run && !ui->quiet) {
		const struct upload_stats *st = upload_stats(r->up);
		say(ui, stderr, "astropixel-sync: dry run: would upload %llu objects (%.1f MB) "
		    "and delete %llu; %llu up to date; %llu cannot be sent; nothing was sent",
		    st->objects_total - st->failed - r->dc.deletes, (double)st->bytes_total / 1e6,
		    r->dc.deletes, st->skipped, st->failed);
	} else if (!ui->dry_run) {
		summary(ui, r->up);
	}
	return report_rest(r, e);
}

static void sync_free(struct sync_run *r)
{
	upload_free(r->up);
	s3_free(r->s3);
	engine_free(r->eng);
	if (r->curl_up)
		curl_global_cleanup();
	if (r->cfg_loaded)
		config_free(&r->cfg);
	free(r->ids);
}

int main(int argc, char **argv)
{
	struct sync_run r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.ui.log_interval_ms = SYNC_LOG_INTERVAL_S * 1000;
	r.dc.ui = &r.ui;
	r.fl.ui = &r.ui;
	log_set_ident("astropixel-sync");
	if ((rc = parse_args(&r, argc, argv)) == SYNC_GO &&
	    (rc = load_settings(&r)) == SYNC_GO &&
	    (rc = start_upload(&r)) == SYNC_GO &&
	    (rc = add_datasets(&r)) == SYNC_GO)
		rc = run_upload(&r);
	sync_free(&r);
	return rc;
}
