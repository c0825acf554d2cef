/*
 * breaker.h - a circuit breaker for one remote service (the bucket, Redis).
 *
 * It judges the service, not an object: only failures that say the service
 * is unwell count (cannot connect, TLS, timeouts, 5xx/429 after retries). An
 * answer about one object (404, too large, a body shorter than its length)
 * is the service working, and a local wait (no transfer slot) says nothing.
 *
 * States: CLOSED (every request goes); after `threshold` consecutive
 * failures OPEN (none goes) for `cooldown_ms`; then HALF-OPEN, where exactly
 * one request, the probe, goes while the others are still skipped: its
 * success closes the breaker, its failure opens it again, a neutral end
 * lets the next request be the probe.
 */
#ifndef AP_BREAKER_H
#define AP_BREAKER_H

#include <stdbool.h>

enum breaker_state { BREAKER_CLOSED, BREAKER_OPEN, BREAKER_HALF_OPEN };
enum breaker_outcome { BREAKER_SUCCESS, BREAKER_FAILURE, BREAKER_NEUTRAL };

struct breaker {
	unsigned threshold;
	long long cooldown_ms;
	unsigned failures;		/* consecutive */
	long long open_until_ms;	/* clock_ms; 0: closed */
	bool probing;			/* half-open: the probe is out */
	unsigned long long openings;	/* times it opened, for metrics */
};

void breaker_init(struct breaker *b, unsigned threshold, long long cooldown_ms);
/* May a request go now? In half-open, true once (the probe): the caller must
 * then report that request's outcome with breaker_report(..., true). */
bool breaker_allow(struct breaker *b, bool *is_probe);
/* The outcome of a request that breaker_allow let through. Returns true if
 * this report changed the state (opened or closed), for logging. */
bool breaker_report(struct breaker *b, enum breaker_outcome o, bool was_probe);
enum breaker_state breaker_state(const struct breaker *b);
/* Milliseconds until a probe may go (0 unless open). */
long long breaker_retry_in_ms(const struct breaker *b);

#endif
