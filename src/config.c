/*
 * config.c - the one configuration table and its loader.
 *
 * Each row names an environment variable, its type, where it lands in
 * struct config, its default, its bounds and whether it is a secret. Secret
 * values are never printed: config_log() shows only "(set)".
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include "config.h"
#include "buf.h"
#include "cidr.h"
#include "decimal.h"
#include "log.h"
#include "request.h"

enum opt_type { T_BOOL, T_INT, T_STR };
#define F_SECRET 1u	/* never printed: "(set)" */
#define F_URL 2u	/* a password or user inside it is masked when printed */

struct opt {
	const char *name;
	enum opt_type type;
	size_t off;
	const char *def;	/* NULL: unset */
	long min, max;		/* T_INT bounds */
	unsigned flags;
	const char *help;
};

#define O(field) offsetof(struct config, field)

static const struct opt opts[] = {
	{"USE_S3", T_BOOL, O(use_s3), "false", 0, 0, 0,
	 "Fetch tiles and metadata from the bucket (R2/S3) before the local tree."},
	{"AWS_ACCESS_KEY_ID", T_STR, O(access_key), NULL, 0, 0, F_SECRET,
	 "R2/S3 access key id."},
	{"AWS_SECRET_ACCESS_KEY", T_STR, O(secret_key_s3), NULL, 0, 0, F_SECRET,
	 "R2/S3 secret access key."},
	{"AWS_SESSION_TOKEN", T_STR, O(session_token), NULL, 0, 0, F_SECRET,
	 "Optional temporary-credentials session token."},
	{"AWS_BUCKET_NAME", T_STR, O(bucket), NULL, 0, 0, 0,
	 "Bucket holding tiles/ and metadata/."},
	{"S3_ENDPOINT_URL", T_STR, O(endpoint), NULL, 0, 0, F_URL,
	 "S3 API endpoint, e.g. https://ACCOUNT.r2.cloudflarestorage.com (path-style requests)."},
	{"S3_REGION", T_STR, O(region), "auto", 0, 0, 0,
	 "SigV4 signing region (R2: auto)."},
	{"R2_PUBLIC_URL", T_STR, O(public_url), NULL, 0, 0, F_URL,
	 "Public bucket URL: unsigned GETs of {R2_PUBLIC_URL}/{key} instead of the S3 API. "
	 "Every object of such a bucket, private datasets included, is readable by anyone who "
	 "knows its URL."},
	{"R2_UPLOAD_MAX_WORKERS", T_INT, O(upload_workers), "20", 1, 256, 0,
	 "Parallel PUTs of astropixel-sync."},
	{"SYNC_WEBP", T_BOOL, O(sync_webp), "false", 0, 0, 0,
	 "astropixel-sync makes a WebP variant of every JPEG and PNG tile, as --webp does."},
	{"LOCAL_STORAGE_DIR", T_STR, O(local_dir), NULL, 0, 0, 0,
	 "Local tree (tiles/, metadata/datasets/); the fallback when the bucket fails."},
	{"S3_CA_BUNDLE", T_STR, O(ca_bundle), NULL, 0, 0, 0,
	 "PEM file of CA certificates for the bucket endpoint (private CAs)."},
	{"S3_VERIFY_TLS", T_BOOL, O(tls_verify), "true", 0, 0, 0,
	 "Verify the bucket's TLS certificate and host name. Turn off only for testing."},
	{"S3_CONNECT_TIMEOUT_MS", T_INT, O(connect_timeout_ms), "3000", 100, 60000, 0,
	 "Connect timeout to the bucket."},
	{"S3_TIMEOUT_MS", T_INT, O(request_timeout_ms), "10000", 200, 300000, 0,
	 "Deadline of one tile request to storage, retries included."},
	{"S3_MAX_RETRIES", T_INT, O(max_retries), "2", 0, 10, 0,
	 "Retries (jittered backoff) on 5xx, 429 and connection errors."},
	{"S3_FAILURE_THRESHOLD", T_INT, O(breaker_failures), "5", 1, 1000, 0,
	 "Consecutive bucket failures before the bucket is skipped for a cool-down."},
	{"S3_COOLDOWN_SECONDS", T_INT, O(breaker_cooldown_s), "30", 1, 3600, 0,
	 "How long the bucket is skipped after repeated failures."},
	{"S3_MAX_HOST_CONNECTIONS", T_INT, O(max_host_conns), "100", 1, 1000, 0,
	 "Connections per bucket host at most."},
	{"S3_MAX_CONCURRENT_STREAMS", T_INT, O(max_streams), "100", 1, 1000, 0,
	 "Transfers in flight per process at most: HTTP/2 streams on one connection "
	 "(more wait their turn). At least BATCH_MAX_TILES keeps a viewport to one round trip."},
	{"DNS_CACHE_TTL", T_INT, O(dns_ttl_s), "3600", 0, 86400, 0,
	 "Seconds a resolved bucket address is reused."},
	{"S3_CONN_MAX_AGE", T_INT, O(conn_max_age_s), "600", 1, 86400, 0,
	 "Seconds an idle bucket connection is kept (libcurl's default is 118)."},
	{"SECRET_KEY", T_STR, O(jwt_secret), NULL, 0, 0, F_SECRET,
	 "HS256 key of the AstroPixel backend's JWTs. Unset: private datasets are unreachable."},
	{"CORS_ALLOW_ORIGIN", T_STR, O(cors_origin), "*", 0, 0, 0,
	 "Access-Control-Allow-Origin value; empty disables CORS headers."},
	{"IIIF_BASE_URL", T_STR, O(iiif_base_url), NULL, 0, 0, 0,
	 "https://HOST[:PORT][/PATH] clients reach this server at, for the absolute ids of IIIF "
	 "info.json. Unset: the request's Host header and scheme (set it behind a proxy or CDN)."},
	{"PUBLIC_MAX_AGE", T_INT, O(public_max_age_s), "31536000", 0, 315360000, 0,
	 "Cache-Control max-age of public (is_demo) tiles at their versioned URL (sent with public, "
	 "immutable)."},
	{"PRIVATE_MAX_AGE", T_INT, O(private_max_age_s), "3600", 0, 315360000, 0,
	 "Cache-Control max-age of private tiles at their versioned URL (sent with private)."},
	{"UNVERSIONED_MAX_AGE", T_INT, O(unversioned_max_age_s), "60", 0, 86400, 0,
	 "Cache-Control max-age of tiles at their unversioned URL, of info and of redirects to the "
	 "current version (short: they change with a cache-clear)."},
	{"STALE_WHILE_REVALIDATE", T_INT, O(stale_while_revalidate_s), "600", 0, 604800, 0,
	 "stale-while-revalidate of public tiles at their unversioned URL: a cache may answer the "
	 "old tile that long while it revalidates."},
	{"TILE_CACHE_MAX_TILES", T_INT, O(cache_max_tiles), "500", 0, 10000000, 0,
	 "LRU bound in tiles per process (0 disables the cache)."},
	{"TILE_CACHE_MAX_MB", T_INT, O(cache_max_mb), "64", 0, 65536, 0,
	 "LRU bound in MiB per process, entry overhead included."},
	{"NEGATIVE_CACHE_MAX", T_INT, O(negative_max), "4096", 0, 1000000, 0,
	 "Tiles (per format) remembered as absent from storage, per process (0: none)."},
	{"NEGATIVE_CACHE_TTL", T_INT, O(negative_ttl_s), "60", 1, 86400, 0,
	 "Seconds a tile is remembered as absent."},
	{"METADATA_CACHE_TTL", T_INT, O(metadata_ttl_s), "30", 0, 86400, 0,
	 "Seconds dataset metadata is cached per process."},
	{"TILE_INDEX_MAX_BYTES", T_INT, O(index_max_bytes), "16777216", 0, 16777216, 0,
	 "Largest tile index (metadata/datasets/{id}.index) read with a dataset's metadata; a larger "
	 "one is ignored (logged) and tiles are probed. 0: indexes are not read."},
	{"TILE_RUNTIME_DIR", T_STR, O(runtime_dir), NULL, 0, 0, 0,
	 "Directory of the pool's shared state (cache generations), private to the pool's user "
	 "(0700, created if absent). Default: $RUNTIME_DIRECTORY/state (systemd), else "
	 "$XDG_RUNTIME_DIR/astropixel-tiles, else /tmp/astropixel-tiles-<uid>."},
	{"REDIS_URL", T_STR, O(redis_url), NULL, 0, 0, F_URL,
	 "Shared tile cache of every process and host: redis://[:password@]host[:port][/db] or "
	 "unix:///path/redis.sock[?db=N]. Unset: each process has its memory cache only. Redis must "
	 "not be reachable by clients (a unix socket, or a private network)."},
	{"REDIS_TIMEOUT_MS", T_INT, O(redis_timeout_ms), "50", 5, 5000, 0,
	 "Deadline of a connect and of every Redis command; a Redis that misses it is skipped for "
	 "a few seconds and storage answers."},
	{"REDIS_TTL_SECONDS", T_INT, O(redis_ttl_s), "86400", 1, 31536000, 0,
	 "Seconds a tile is kept in Redis (maxmemory with allkeys-lru evicts earlier)."},
	{"REDIS_KEY_PREFIX", T_STR, O(redis_prefix), "astropixel-tiles:", 0, 0, 0,
	 "Prefix of every key this service writes in Redis (one per deployment sharing a Redis)."},
	{"REDIS_STORE_LOCAL", T_BOOL, O(redis_store_local), "false", 0, 0, 0,
	 "Also keep tiles read from LOCAL_STORAGE_DIR in Redis (off: the local tree is as fast)."},
	{"BATCH_MAX_TILES", T_INT, O(batch_max_tiles), "100", 1, BATCH_TILES_CEILING, 0,
	 "Tiles per batch request at most (the URL length limit allows at most "
	 BATCH_TILES_CEILING_TEXT ")."},
	{"BATCH_TIMEOUT_MS", T_INT, O(batch_timeout_ms), "10000", 100, 300000, 0,
	 "One deadline for a whole batch; tiles missing then come back null."},
	{"PREFETCH_QUEUE_MAX", T_INT, O(prefetch_queue_max), "256", 0, 100000, 0,
	 "Prefetch queue bound in tiles (0 disables prefetch)."},
	{"PREFETCH_PARALLEL", T_INT, O(prefetch_parallel), "16", 1, 256, 0,
	 "Background prefetch transfers in flight at most."},
	{"METRICS", T_BOOL, O(metrics), "true", 0, 0, 0,
	 "Count into the pool's metrics and answer GET /api/tiles/metrics (false: nothing is "
	 "counted, no shared file, the endpoint is 404)."},
	{"METRICS_ALLOW", T_STR, O(metrics_allow), CIDR_DEFAULT, 0, 0, 0,
	 "Clients (REMOTE_ADDR) that may read GET /api/tiles/metrics: addresses and CIDRs, "
	 "comma-separated, IPv4 and IPv6. Empty: none (only METRICS_TOKEN then). Others get 403."},
	{"METRICS_TOKEN", T_STR, O(metrics_token), NULL, 0, 0, F_SECRET,
	 "A client sending Authorization: Bearer with this value may read the metrics from any "
	 "address. Unset: METRICS_ALLOW alone decides."},
	{"ACCESS_LOG", T_STR, O(access_log), NULL, 0, 0, 0,
	 "Absolute path of the access log (one line per request, appended by every process; "
	 "reopened on SIGHUP). Unset: no access log."},
	{"LOG_LEVEL", T_STR, O(log_level), "info", 0, 0, 0,
	 "error, warn, info or debug."},
};

#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

/* ---- .env parsing ------------------------------------------------------ */

struct kv {
	char *key, *val;
};

static void kv_free(struct kv *kvs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kvs[i].key);
		free(kvs[i].val);
	}
	free(kvs);
}

/* Reads a whole file of at most CONFIG_ENV_FILE_MAX bytes into b. */
static enum ap_err slurp(const char *path, struct buf *b, char *why, size_t whylen)
{
	char chunk[4096];
	FILE *f = fopen(path, "r");

	if (!f) {
		snprintf(why, whylen, "ENV_FILE: cannot open %s: %s", path, strerror(errno));
		return AP_ERR_CONFIG;
	}
	for (;;) {
		size_t r = fread(chunk, 1, sizeof(chunk), f);
		if (r == 0)
			break;
		if (buf_add(b, chunk, r)) {
			snprintf(why, whylen, "ENV_FILE: %s is larger than %d bytes", path,
				 CONFIG_ENV_FILE_MAX);
			fclose(f);
			return AP_ERR_CONFIG;
		}
	}
	fclose(f);
	return AP_OK;
}

static char *trim_end(char *start, char *end)
{
	while (end > start && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return end;
}

/* The value part of a line, in place: blanks trimmed, one pair of quotes
 * removed, or else an inline comment (" #...") cut. */
static char *env_value(char *v)
{
	char *end;

	while (isspace((unsigned char)*v))
		v++;
	end = trim_end(v, v + strlen(v));
	if (end - v >= 2 && (v[0] == '"' || v[0] == '\'') && end[-1] == v[0]) {
		end[-1] = '\0';
		return v + 1;
	}
	end = strstr(v, " #");
	if (end) {
		*end = '\0';
		trim_end(v, end);
	}
	return v;
}

static enum ap_err kv_push(struct kv **kvs, size_t *n, const char *k, const char *v)
{
	struct kv *nk = realloc(*kvs, (*n + 1) * sizeof(**kvs));

	if (!nk)
		return AP_ERR_NOMEM;
	*kvs = nk;
	nk[*n].key = strdup(k);
	nk[*n].val = strdup(v);
	(*n)++;
	return nk[*n - 1].key && nk[*n - 1].val ? AP_OK : AP_ERR_NOMEM;
}

/* Parses the KEY=VALUE lines of text (NUL-terminated, cut up in place; NULL
 * is an empty file): `export ` prefix, '#' comments, single or double quotes
 * around the value, surrounding blanks trimmed. path names the file in
 * messages. A memory entry point of its own, for tests/fuzz/fuzz_envfile.c. */
static enum ap_err env_text_parse(char *text, const char *path, struct kv **out, size_t *nout,
				  char *why, size_t whylen)
{
	struct kv *kvs = NULL;
	size_t n = 0, lineno = 0;
	char *line, *next;
	enum ap_err e;

	for (line = text; line; line = next) {
		char *eq;

		lineno++;
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		while (isspace((unsigned char)*line))
			line++;
		if (*line == '\0' || *line == '#')
			continue;
		/* "export", then any blanks: a shell takes "export\tNAME=v" too */
		if (strncmp(line, "export", 6) == 0 && isspace((unsigned char)line[6])) {
			line += 7;
			while (isspace((unsigned char)*line))
				line++;
		}
		eq = strchr(line, '=');
		if (!eq) {
			snprintf(why, whylen, "ENV_FILE: %s:%zu: expected NAME=value", path, lineno);
			e = AP_ERR_CONFIG;
			goto fail;
		}
		*eq = '\0';
		trim_end(line, eq);
		if ((e = kv_push(&kvs, &n, line, env_value(eq + 1)))) {
			snprintf(why, whylen, "out of memory");
			goto fail;
		}
	}
	*out = kvs;
	*nout = n;
	return AP_OK;
fail:
	kv_free(kvs, n);
	return e;
}

static enum ap_err env_file_parse(const char *path, struct kv **out, size_t *nout,
				  char *why, size_t whylen)
{
	struct buf b;
	enum ap_err e;

	buf_init(&b, CONFIG_ENV_FILE_MAX);
	e = slurp(path, &b, why, whylen);
	if (!e)
		e = env_text_parse(b.data, path, out, nout, why, whylen);
	buf_free(&b);
	return e;
}

static const char *kv_get(const struct kv *kvs, size_t n, const char *key)
{
	/* the last definition wins, as in a shell */
	for (size_t i = n; i-- > 0;)
		if (strcmp(kvs[i].key, key) == 0)
			return kvs[i].val;
	return NULL;
}

/* ---- typed values ------------------------------------------------------- */

static enum ap_err parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"1", "true", "yes", "on"};
	static const char *const no[] = {"0", "false", "no", "off", ""};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (strcasecmp(s, yes[i]) == 0)
			return *out = true, AP_OK;
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (strcasecmp(s, no[i]) == 0)
			return *out = false, AP_OK;
	return AP_ERR_CONFIG;
}

static enum ap_err parse_long(const char *s, long min, long max, long *out)
{
	int64_t v;

	if (dec_parse_i64(s, strlen(s), min, max, DEC_LEADING_ZEROS, &v))
		return AP_ERR_CONFIG;
	*out = (long)v;
	return AP_OK;
}

static enum ap_err set_opt(struct config *c, const struct opt *o, const char *val,
			   char *why, size_t whylen)
{
	char *base = (char *)c;

	if (strlen(val) > CONFIG_VALUE_MAX) {
		snprintf(why, whylen, "%s: value longer than %d bytes", o->name, CONFIG_VALUE_MAX);
		return AP_ERR_CONFIG;
	}
	switch (o->type) {
	case T_BOOL:
		if (parse_bool(val, (bool *)(base + o->off))) {
			snprintf(why, whylen, "%s: expected true or false", o->name);
			return AP_ERR_CONFIG;
		}
		break;
	case T_INT:
		if (parse_long(val, o->min, o->max, (long *)(base + o->off))) {
			snprintf(why, whylen, "%s: expected a whole number from %ld to %ld",
				 o->name, o->min, o->max);
			return AP_ERR_CONFIG;
		}
		break;
	case T_STR: {
		char **slot = (char **)(base + o->off);
		free(*slot);
		*slot = NULL;
		if (*val && !(*slot = strdup(val))) {
			snprintf(why, whylen, "out of memory");
			return AP_ERR_NOMEM;
		}
		break;
	}
	}
	return AP_OK;
}

/* "http(s)://" followed by a host (credentials and port allowed). */
static bool is_http_url(const char *s)
{
	const char *h;

	if (!s || (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0))
		return false;
	h = strstr(s, "://") + 3;
	if (strchr(h, '@') && strchr(h, '@') < h + strcspn(h, "/?#"))
		h = strchr(h, '@') + 1;
	return strcspn(h, ":/?#") > 0;
}

void config_mask_url(const char *url, char *out, size_t cap)
{
	const char *auth = strstr(url, "://"), *at, *end;

	if (!auth) {
		snprintf(out, cap, "%s", url);
		return;
	}
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	at = memchr(auth, '@', (size_t)(end - auth));
	while (at && memchr(at + 1, '@', (size_t)(end - at - 1)))
		at = memchr(at + 1, '@', (size_t)(end - at - 1));	/* the last '@' */
	if (!at)
		snprintf(out, cap, "%s", url);
	else
		snprintf(out, cap, "%.*s***%s", (int)(auth - url), url, at);
}

static void strip_slashes(char *url)
{
	size_t n = url ? strlen(url) : 0;

	while (n > 8 && url[n - 1] == '/')
		url[--n] = '\0';
}

static enum ap_err say(char *why, size_t whylen, const char *text)
{
	snprintf(why, whylen, "%s", text);
	return AP_ERR_CONFIG;
}

/* The bucket settings, when USE_S3 is on; each message names the variable. */
static enum ap_err check_bucket(const struct config *c, char *why, size_t whylen)
{
	if (!c->bucket && !c->public_url)
		return say(why, whylen, "AWS_BUCKET_NAME: required when USE_S3=true (or set "
			   "R2_PUBLIC_URL)");
	if (c->endpoint && !c->bucket)
		return say(why, whylen, "AWS_BUCKET_NAME: required with S3_ENDPOINT_URL");
	if (c->public_url)
		return AP_OK;
	if (!c->endpoint)
		return say(why, whylen, "S3_ENDPOINT_URL: required when USE_S3=true without "
			   "R2_PUBLIC_URL");
	if (!c->access_key)
		return say(why, whylen, "AWS_ACCESS_KEY_ID: required when USE_S3=true without "
			   "R2_PUBLIC_URL");
	if (!c->secret_key_s3)
		return say(why, whylen, "AWS_SECRET_ACCESS_KEY: required when USE_S3=true without "
			   "R2_PUBLIC_URL");
	return AP_OK;
}

/* The built-in default of the setting at offset off. */
static enum ap_err set_default(struct config *c, size_t off, char *why, size_t whylen)
{
	for (size_t i = 0; i < N_OPTS; i++)
		if (opts[i].off == off && opts[i].def)
			return set_opt(c, &opts[i], opts[i].def, why, whylen);
	return AP_ERR_INTERNAL;
}

/* Cross-field rules; each message names the variable to fix. */
static enum ap_err config_check(struct config *c, char *why, size_t whylen)
{
	struct stat st;
	enum ap_err e;

	/* a trailing slash would double in every object URL (sync uses them
	 * whatever USE_S3 says, so they are checked whatever it says too) */
	strip_slashes(c->endpoint);
	strip_slashes(c->public_url);
	strip_slashes(c->iiif_base_url);
	/* an empty value unsets a string; the level has no "unset" and takes its
	 * default ("unset or empty = default", deploy/astropixel-tiles.env) */
	if (!c->log_level && (e = set_default(c, O(log_level), why, whylen)))
		return e;
	if (log_parse_level(c->log_level) < 0)
		return say(why, whylen, "LOG_LEVEL: expected error, warn, info or debug");
	if (c->endpoint && !is_http_url(c->endpoint))
		return say(why, whylen, "S3_ENDPOINT_URL: must be https://HOST[:PORT] or "
			   "http://HOST[:PORT]");
	if (c->public_url && !is_http_url(c->public_url))
		return say(why, whylen, "R2_PUBLIC_URL: must be https://HOST[:PORT][/PATH] or "
			   "http://HOST[:PORT][/PATH]");
	if (c->iiif_base_url && !is_http_url(c->iiif_base_url))
		return say(why, whylen, "IIIF_BASE_URL: must be https://HOST[:PORT][/PATH] or "
			   "http://HOST[:PORT][/PATH]");
	if (c->use_s3 && (e = check_bucket(c, why, whylen)))
		return e;
	if (!c->use_s3 && !c->local_dir)
		return say(why, whylen, "LOCAL_STORAGE_DIR: required when USE_S3 is false");
	if (c->ca_bundle && access(c->ca_bundle, R_OK) != 0) {
		snprintf(why, whylen, "S3_CA_BUNDLE: cannot read %s", c->ca_bundle);
		return AP_ERR_CONFIG;
	}
	if (c->access_log && c->access_log[0] != '/')
		return say(why, whylen, "ACCESS_LOG: must be an absolute path");
	if (c->local_dir && (stat(c->local_dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
		snprintf(why, whylen, "LOCAL_STORAGE_DIR: %s is not a directory", c->local_dir);
		return AP_ERR_CONFIG;
	}
	return AP_OK;
}

enum ap_err config_load(struct config *c, char *why, size_t whylen)
{
	struct kv *kvs = NULL;
	size_t nkv = 0;
	const char *env_file = getenv("ENV_FILE");
	enum ap_err e;

	memset(c, 0, sizeof(*c));
	why[0] = '\0';
	if (env_file && *env_file) {
		e = env_file_parse(env_file, &kvs, &nkv, why, whylen);
		if (e)
			goto fail;
	}
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct opt *o = &opts[i];
		const char *v = getenv(o->name);

		if (!v)
			v = kv_get(kvs, nkv, o->name);
		if (!v)
			v = o->def;
		if (!v)
			continue;
		e = set_opt(c, o, v, why, whylen);
		if (e)
			goto fail;
	}
	e = config_check(c, why, whylen);
	if (e)
		goto fail;
	kv_free(kvs, nkv);
	return AP_OK;
fail:
	kv_free(kvs, nkv);
	config_free(c);
	return e ? e : AP_ERR_CONFIG;
}

void config_free(struct config *c)
{
	char *base = (char *)c;

	for (size_t i = 0; i < N_OPTS; i++) {
		if (opts[i].type != T_STR)
			continue;
		char **slot = (char **)(base + opts[i].off);
		if (*slot && (opts[i].flags & F_SECRET))
			memset(*slot, 0, strlen(*slot));
		free(*slot);
		*slot = NULL;
	}
}

void config_log(const struct config *c)
{
	struct buf b;
	const char *base = (const char *)c;

	buf_init(&b, 8192);
	if (buf_adds(&b, "effective configuration:"))
		goto out;
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct opt *o = &opts[i];
		enum ap_err e = AP_OK;

		switch (o->type) {
		case T_BOOL:
			e = buf_printf(&b, " %s=%s", o->name,
				       *(const bool *)(base + o->off) ? "true" : "false");
			break;
		case T_INT:
			e = buf_printf(&b, " %s=%ld", o->name, *(const long *)(base + o->off));
			break;
		case T_STR: {
			const char *v = *(char *const *)(base + o->off);
			char masked[CONFIG_VALUE_MAX + 8];
			if (o->flags & F_SECRET)
				v = v ? "(set)" : "(unset)";
			else if (v && (o->flags & F_URL)) {
				config_mask_url(v, masked, sizeof(masked));
				v = masked;
			}
			e = buf_printf(&b, " %s=%s", o->name, v ? v : "(unset)");
			break;
		}
		}
		if (e)
			break;
	}
	log_info("%s", b.data ? b.data : "");
out:
	buf_free(&b);
}

void config_print_help(FILE *out)
{
	fprintf(out, "Settings (environment variables; ENV_FILE names an optional .env file,\n"
		     "the environment wins):\n");
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct opt *o = &opts[i];
		fprintf(out, "  %-26s %s", o->name, o->help);
		if (o->def)
			fprintf(out, " [default: %s]", *o->def ? o->def : "empty");
		fputc('\n', out);
	}
}

void config_print_markdown(FILE *out)
{
	fprintf(out, "| name | meaning | default |\n|---|---|---|\n");
	for (size_t i = 0; i < N_OPTS; i++) {
		const struct opt *o = &opts[i];
		fprintf(out, "| `%s` | %s%s | %s%s%s |\n", o->name, o->help,
			(o->flags & F_SECRET) ? " Secret: never logged." : "",
			o->def ? "`" : "", o->def ? o->def : "—", o->def ? "`" : "");
	}
}
