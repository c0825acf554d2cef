/*
 * breaker.c - circuit breaker; see breaker.h.
 */
#include "breaker.h"
#include "clock.h"

void breaker_init(struct breaker *b, unsigned threshold, long long cooldown_ms)
{
	b->threshold = threshold ? threshold : 1;
	b->cooldown_ms = cooldown_ms;
	b->failures = 0;
	b->open_until_ms = 0;
	b->probing = false;
	b->openings = 0;
}

enum breaker_state breaker_state(const struct breaker *b)
{
	if (b->open_until_ms == 0)
		return BREAKER_CLOSED;
	return clock_ms() < b->open_until_ms ? BREAKER_OPEN : BREAKER_HALF_OPEN;
}

long long breaker_retry_in_ms(const struct breaker *b)
{
	long long left = b->open_until_ms ? b->open_until_ms - clock_ms() : 0;

	return left > 0 ? left : 0;
}

bool breaker_allow(struct breaker *b, bool *is_probe)
{
	*is_probe = false;
	switch (breaker_state(b)) {
	case BREAKER_CLOSED:
		return true;
	case BREAKER_OPEN:
		return false;
	case BREAKER_HALF_OPEN:
		break;
	}
	if (b->probing)
		return false;
	b->probing = true;
	*is_probe = true;
	return true;
}

static bool open_now(struct breaker *b)
{
	b->open_until_ms = clock_ms() + b->cooldown_ms;
	b->openings++;
	return true;
}

bool breaker_report(struct breaker *b, enum breaker_outcome o, bool was_probe)
{
	bool was_open = b->open_until_ms != 0;

	if (was_probe)
		b->probing = false;
	switch (o) {
	case BREAKER_NEUTRAL:
		return false;
	case BREAKER_SUCCESS:
		b->failures = 0;
		if (!was_open)
			return false;
		/* a late answer of a request sent before the breaker opened
		 * proves as much as the probe's */
		b->open_until_ms = 0;
		b->probing = false;
		return true;
	case BREAKER_FAILURE:
		break;
	}
	if (b->failures < ~0u)
		b->failures++;
	if (was_open) {
		/* the probe failed: another cool-down. Failures of requests that
		 * were sent before it opened do not extend it. */
		return was_probe ? open_now(b) : false;
	}
	return b->failures >= b->threshold ? open_now(b) : false;
}
