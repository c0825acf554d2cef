/*
 * config.h - every setting of astropixel-tiles, from one table.
 *
 * The table in config.c is the only list of settings: the loader (process
 * environment, then ENV_FILE in .env syntax, environment wins), the start-up
 * log line (secrets masked), --help and docs/configuration.md (checked by a
 * test) all come from it. A struct config is immutable once loaded.
 */
#ifndef AP_CONFIG_H
#define AP_CONFIG_H

#include <stdbool.h>
#include <stdio.h>
#include "error.h"

#define CONFIG_VALUE_MAX 4096	/* longest value accepted for any setting */
#define CONFIG_ENV_FILE_MAX (256 * 1024)

struct config {
	/* storage */
	bool use_s3;
	char *access_key, *secret_key_s3, *session_token;
	char *bucket, *endpoint, *region, *public_url;
	char *local_dir;
	char *ca_bundle;
	bool tls_verify;
	long connect_timeout_ms, request_timeout_ms, max_retries;
	long breaker_failures, breaker_cooldown_s;
	long max_host_conns, max_streams, dns_ttl_s, conn_max_age_s;
	long upload_workers;
	bool sync_webp;		/* astropixel-sync: make WebP variants */
	/* access */
	char *jwt_secret;
	char *cors_origin;
	char *iiif_base_url;	/* origin of IIIF ids (iiif.h); NULL: from the request */
	long public_max_age_s, private_max_age_s, unversioned_max_age_s, stale_while_revalidate_s;
	/* cache */
	long cache_max_tiles, cache_max_mb;
	long metadata_ttl_s;
	long index_max_bytes;
	long negative_max, negative_ttl_s;
	char *runtime_dir;
	/* the shared tier (Redis) */
	char *redis_url, *redis_prefix;
	long redis_timeout_ms, redis_ttl_s;
	bool redis_store_local;
	/* batch, prefetch */
	long batch_max_tiles, batch_timeout_ms;
	long prefetch_queue_max, prefetch_parallel;
	/* observability */
	bool metrics;
	char *metrics_allow, *metrics_token, *access_log;
	/* process */
	char *log_level;
};

/* Loads from the environment (and ENV_FILE). On error *why names the variable. */
enum ap_err config_load(struct config *c, char *why, size_t whylen) AP_WARN_UNUSED;
void config_free(struct config *c);
/* One log line with every effective setting, secrets masked. */
void config_log(const struct config *c);
/* url with the user and password of its authority, if any, as "***". */
void config_mask_url(const char *url, char *out, size_t cap);
/* The settings part of --help. */
void config_print_help(FILE *out);
/* The table as Markdown (docs/configuration.md is checked against it). */
void config_print_markdown(FILE *out);

#endif
