/*
 * human.c - sizes, durations and ages for people; see human.h.
 */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "human.h"
#include "banned.h"

void
human_size(char *out, size_t size, uint64_t n)
{
	if (n < 1024)
		snprintf(out, size, "%" PRIu64 " B", n);
	else if (n < 1024 * 1024)
		snprintf(out, size, "%.1f KiB", (double)n / 1024);
	else if (n < 1024 * 1024 * 1024)
		snprintf(out, size, "%.1f MiB", (double)n / (1024 * 1024));
	else
		snprintf(out, size, "%.1f GiB", (double)n /
		    (1024.0 * 1024 * 1024));
}

void
human_duration(char *out, size_t size, time_t s)
{
	if (s < 60)
		snprintf(out, size, "%lld s", (long long)s);
	else if (s < 3600)
		snprintf(out, size, "%lld min", (long long)s / 60);
	else if (s < 86400)
		snprintf(out, size, "%lld h", (long long)s / 3600);
	else
		snprintf(out, size, "%lld day%s", (long long)s / 86400,
		    s < 2 * 86400 ? "" : "s");
}

void
human_age(char *out, size_t size, time_t t, time_t now)
{
	char d[HUMAN_MAX];
	struct tm tm;
	time_t age = now - t;

	if (t == 0)
		snprintf(out, size, "never");
	else if (age < 0 || age >= 7 * 86400) {
		localtime_r(&t, &tm);
		strftime(out, size, "%Y-%m-%d %H:%M", &tm);
	} else {
		human_duration(d, sizeof(d), age);
		snprintf(out, size, "%s ago", d);
	}
}
