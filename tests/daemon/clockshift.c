/*
 * clockshift.so: step the wall clock of one process, for tests
 * (LD_PRELOAD=.../clockshift.so SENKO_TEST_CLOCK_OFFSET_FILE=FILE).
 *
 * FILE holds a number of seconds (it may be missing: 0).  Every reading
 * of the wall clock -- time(), gettimeofday(), clock_gettime() on
 * CLOCK_REALTIME and its variants -- gets that offset added, read afresh
 * each time, so a test steps the clock of a running senkod by rewriting
 * the file, as NTP does to a Raspberry Pi at boot.  CLOCK_MONOTONIC and
 * CLOCK_BOOTTIME are left alone, as the kernel leaves them.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

static long
offset_seconds(void)
{
	const char *file = getenv("SENKO_TEST_CLOCK_OFFSET_FILE");
	char text[32];
	ssize_t n;
	int fd;

	if (file == NULL)
		return 0;
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return 0;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	text[n] = '\0';
	return strtol(text, NULL, 10);
}

static int
real_clock_gettime(clockid_t id, struct timespec *ts)
{
	static clock_gettime_fn real;

	if (real == NULL)
		real = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
	return real(id, ts);
}

static int
is_wall(clockid_t id)
{
	return id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE ||
	    id == CLOCK_TAI;
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	int rc = real_clock_gettime(id, ts);

	if (rc == 0 && is_wall(id))
		ts->tv_sec += offset_seconds();
	return rc;
}

time_t
time(time_t *out)
{
	struct timespec ts;
	time_t t;

	clock_gettime(CLOCK_REALTIME, &ts);
	t = ts.tv_sec;
	if (out != NULL)
		*out = t;
	return t;
}

int
gettimeofday(struct timeval *tv, void *tz)
{
	struct timespec ts;

	(void)tz;
	clock_gettime(CLOCK_REALTIME, &ts);
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}
