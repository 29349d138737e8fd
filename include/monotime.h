/*
 * monotime.h - milliseconds on CLOCK_MONOTONIC, for every timeout,
 * deadline and settle time counted in ms: a wall clock that jumps (NTP
 * on a gateway without an RTC) must not move them.
 *
 * Defined inline in this header rather than in a .c file for the fuzz
 * targets: they include repl.c or board/agent.c with clock_gettime
 * renamed to a virtual clock (tests/fuzz/fuzz_line.h), and the rename
 * reaches this function only if it is compiled there too.  So include it
 * from .c files only, never from another header.
 */
#ifndef SENKO_MONOTIME_H
#define SENKO_MONOTIME_H

#include <stdint.h>
#include <time.h>

static inline int64_t
monotime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
