/*
 * slowfsync.so: a slow disk for one folder, for tests
 * (LD_PRELOAD=.../slowfsync.so SENKO_TEST_SLOW_FSYNC=DIR:MS).
 *
 * Every fsync() of a file or folder below DIR takes MS milliseconds more,
 * as one on a Raspberry Pi's worn SD card can: senko's mirror is written
 * with an fsync per file between two commands to the board's agent,
 * whose idle timeout must not end the run meanwhile.  Other files are
 * left alone, so that the rest of a sync keeps its speed.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef int (*fsync_fn)(int);

static void
maybe_wait(int fd)
{
	const char *spec = getenv("SENKO_TEST_SLOW_FSYNC");
	const char *colon;
	char link[64], path[PATH_MAX];
	struct timespec ts;
	ssize_t n;
	long ms;

	if (spec == NULL || (colon = strrchr(spec, ':')) == NULL)
		return;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return;
	path[n] = '\0';
	if (strncmp(path, spec, (size_t)(colon - spec)) != 0)
		return;
	ms = atol(colon + 1);
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	nanosleep(&ts, NULL);
}

int
fsync(int fd)
{
	fsync_fn real = (fsync_fn)dlsym(RTLD_NEXT, "fsync");

	maybe_wait(fd);
	return real(fd);
}
