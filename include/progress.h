/*
 * progress.h - a live one-line progress display for `senko sync`.
 *
 * On a terminal, shows per board the file in flight, bytes sent and the
 * rate, redrawn at most five times a second on stderr.  Workers call
 * progress_update() from their threads; the struct's mutex serialises
 * them.  When disabled every call is a no-op, and the sync engine logs
 * one plain line per file instead.
 */
#ifndef SENKO_PROGRESS_H
#define SENKO_PROGRESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct progress_slot {
	const char *device;  /* borrowed from the config */
	char file[64];       /* file in flight, shortened */
	uint64_t sent;       /* payload bytes sent this cycle */
	uint64_t total;      /* payload bytes planned this cycle */
	double started;      /* monotonic seconds; 0 = idle */
	bool done;
};

struct progress {
	bool enabled;
	pthread_mutex_t lock;
	struct progress_slot *slots; /* one per device index, owned */
	size_t nslots;
	double last_draw;
};

void progress_init(struct progress *p, bool enabled, size_t nslots);
void progress_release(struct progress *p);
/* Announce the plan of a device (its total bytes). */
void progress_start(struct progress *p, size_t slot, const char *device,
    uint64_t total);
/* A file is in flight with `sent` bytes of the cycle's total out. */
void progress_update(struct progress *p, size_t slot, const char *file,
    uint64_t sent);
void progress_finish(struct progress *p, size_t slot);
/* Erase the line, so the next log message starts clean. */
void progress_clear(struct progress *p);

double monotonic_seconds(void);

#endif
