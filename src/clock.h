/*
 * clock.h - the one monotonic clock of the program.
 *
 * Deadlines, backoffs, idle times and durations are measured on
 * CLOCK_MONOTONIC, which wall-clock changes (NTP, an operator's `date`)
 * cannot move; wall time (time(NULL)) is only for TTLs stored beside data
 * and for what humans read.
 */
#ifndef AP_CLOCK_H
#define AP_CLOCK_H

#include <stdint.h>

/* Milliseconds on the monotonic clock (origin unspecified). */
long long clock_ms(void);
/* Microseconds on the same clock, for durations that are often < 1 ms. */
long long clock_us(void);

#endif
