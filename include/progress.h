/*
 * progress.h - a live one-line progress display for `senko sync`.
 *
 * On a terminal, shows per board the file in flight, bytes sent and the
 * rate, redrawn at most five times a second on stderr and fitted to the
 * terminal's width (a line that wraps breaks the redraw): boards that do
 * not fit in full are shown shorter ("kitchen 42%"), and whatever is
 * left over is cut.  Workers call progress_update() from their threads;
 * the struct's mutex serialises them.
 *
 * While enabled, the display is the log's writer (log_set_writer): a log
 * line erases the progress line, is printed, and the progress is drawn
 * again below it, so the two never run into each other.  When disabled
 * every call is a no-op, and the sync engine logs one plain line per file
 * instead.
 */
#ifndef SENKO_PROGRESS_H
#define SENKO_PROGRESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

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
	bool shown;          /* a progress line is on the screen */
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
/* Erase the line, so the next message starts clean. */
void progress_clear(struct progress *p);

/*
 * The text of the progress line at time now (monotonic seconds) for a
 * terminal `columns` wide, without the escape that erases the old line:
 * at most columns - 1 characters, so it never wraps.  Appended to line.
 */
void progress_render(const struct progress *p, double now,
    unsigned columns, struct buf *line);

double monotonic_seconds(void);

#endif
