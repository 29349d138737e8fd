/*
 * localwatch.h - senkod noticing edits in the folders of local sources
 * (`[source NAME] path = FOLDER`), so "save in the editor" updates the
 * boards without waiting for the next poll.
 *
 * inotify watches every folder under each local source (new folders are
 * added as they appear; .git is left out: what git does there is not an
 * edit of the files).  A folder renamed is watched under its new path,
 * or let go when it left every source.  A source's own folder removed,
 * renamed away or not there yet (`rm -rf proj && git clone ...`, a swap
 * by two renames, a folder on a disk not plugged in yet) is waited for:
 * the nearest existing folder above it is watched until it appears, then
 * it is watched again and synced at once.  A folder above it moved is
 * not seen (nothing above is watched while it is there): the poll still
 * reads the path.  A change is "settled" LOCAL_WATCH_SETTLE_MS after the
 * last event, so an editor's burst of writes, or a `git checkout`, gives
 * one sync, not one per write.  The daemon polls local_watch_fd() in its
 * one ppoll() with local_watch_timeout_ms() as one more deadline.
 *
 * Not watching (no local source, inotify unavailable, more than
 * LOCAL_WATCH_MAX folders) is logged once and costs only the prompt
 * reaction: the regular poll interval still reads the folders.
 *
 * Ownership: struct local_watch owns its inotify fd and watch table.
 */
#ifndef SENKO_LOCALWATCH_H
#define SENKO_LOCALWATCH_H

#include <stdbool.h>

#include "config.h"

#define LOCAL_WATCH_SETTLE_MS 300
#define LOCAL_WATCH_MAX 8192 /* folders watched, over all sources */

struct local_watch;

/* Watch the folders of cfg's local sources; NULL when there are none or
 * watching is impossible (logged). */
struct local_watch *local_watch_new(const struct config *cfg);
void local_watch_free(struct local_watch *w);

/* The fd to poll for input; -1 for NULL. */
int local_watch_fd(const struct local_watch *w);
/* Read what is pending on the fd (never blocks). */
void local_watch_read(struct local_watch *w);
/* Milliseconds until a pending change settles, 0 when it has, -1 when
 * nothing is pending (or w is NULL). */
long local_watch_timeout_ms(const struct local_watch *w);
/* Shorten *ts to when a pending change settles. */
struct timespec;
void local_watch_deadline(const struct local_watch *w, struct timespec *ts);
/* True once per settled change: the caller polls the sources now. */
bool local_watch_take_settled(struct local_watch *w);

#endif
