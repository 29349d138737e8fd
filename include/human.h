/*
 * human.h - numbers as people read them: sizes, durations and ages.
 *
 * One unit style everywhere text is meant for a person (terminals, logs):
 * binary sizes with one decimal ("64 B", "12.5 KiB", "3.2 MiB"), the way
 * `senko status` has always shown them.  Machine-readable output (--json)
 * gives exact byte counts and epoch seconds instead.
 */
#ifndef SENKO_HUMAN_H
#define SENKO_HUMAN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define HUMAN_MAX 32 /* enough for any of the strings below */

/* "64 B", "12.5 KiB", "3.2 MiB", "1.5 GiB" */
void human_size(char *out, size_t size, uint64_t bytes);
/* "45 s", "12 min", "3 h", "2 days" */
void human_duration(char *out, size_t size, time_t seconds);
/* "never" (t == 0), "45 s ago" ... "6 days ago", else the local date and
 * time "2026-11-25 17:30" (also for times in the future). */
void human_age(char *out, size_t size, time_t t, time_t now);

#endif
