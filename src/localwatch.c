/*
 * localwatch.c - inotify on the folders of local sources; see localwatch.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "localwatch.h"
#include "log.h"
#include "monotime.h"
#include "xalloc.h"
#include "banned.h"

#define WATCH_EVENTS (IN_CLOSE_WRITE | IN_MODIFY | IN_CREATE | IN_DELETE | \
    IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_ONLYDIR)

struct watched {
	int wd;
	char *dir; /* owned */
};

struct local_watch {
	int fd;
	struct watched *dirs;
	size_t n;
	bool full_warned;
	long long pending_since; /* ms of the last event; 0: none pending */
};

static const char *
dir_of(const struct local_watch *w, int wd)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (w->dirs[i].wd == wd)
			return w->dirs[i].dir;
	return NULL;
}

/* Watch dir and every folder under it (not through symbolic links). */
static void
watch_tree(struct local_watch *w, const char *dir, int depth)
{
	struct dirent *de;
	DIR *d;
	int wd;

	if (depth > 64)
		return;
	if (w->n >= LOCAL_WATCH_MAX) {
		if (!w->full_warned)
			log_warnx("more than %d folders in local sources; "
			    "changes under '%s' and further are seen at the "
			    "next poll only", LOCAL_WATCH_MAX, dir);
		w->full_warned = true;
		return;
	}
	wd = inotify_add_watch(w->fd, dir, WATCH_EVENTS | IN_DONT_FOLLOW);
	if (wd == -1) {
		log_warn("cannot watch folder '%s'; its changes are seen at "
		    "the next poll", dir);
		return;
	}
	if (dir_of(w, wd) == NULL) {
		w->dirs = xreallocarray(w->dirs, w->n + 1, sizeof(*w->dirs));
		w->dirs[w->n].wd = wd;
		w->dirs[w->n++].dir = xstrdup(dir);
	}
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct buf sub = BUF_INIT;
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, ".git") == 0)
			continue;
		buf_addf(&sub, "%s/%s", dir, de->d_name);
		if (lstat(sub.data, &st) == 0 && S_ISDIR(st.st_mode))
			watch_tree(w, sub.data, depth + 1);
		buf_release(&sub);
	}
	closedir(d);
}

struct local_watch *
local_watch_new(const struct config *cfg)
{
	struct local_watch *w;
	size_t i;

	for (i = 0; i < cfg->nsources; i++)
		if (cfg->sources[i].path)
			break;
	if (i == cfg->nsources)
		return NULL;
	w = xcalloc(1, sizeof(*w));
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd == -1) {
		log_warn("cannot watch local sources (inotify); their changes "
		    "are seen at each poll");
		free(w);
		return NULL;
	}
	for (i = 0; i < cfg->nsources; i++)
		if (cfg->sources[i].path)
			watch_tree(w, cfg->sources[i].path, 0);
	log_info("watching %zu folder%s of local sources", w->n,
	    w->n == 1 ? "" : "s");
	return w;
}

void
local_watch_free(struct local_watch *w)
{
	size_t i;

	if (w == NULL)
		return;
	close(w->fd);
	for (i = 0; i < w->n; i++)
		free(w->dirs[i].dir);
	free(w->dirs);
	free(w);
}

int
local_watch_fd(const struct local_watch *w)
{
	return w ? w->fd : -1;
}

static void
forget(struct local_watch *w, int wd)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (w->dirs[i].wd == wd) {
			free(w->dirs[i].dir);
			w->dirs[i] = w->dirs[--w->n];
			return;
		}
}

static void
handle_event(struct local_watch *w, const struct inotify_event *ev)
{
	const char *dir;

	w->pending_since = monotime_ms();
	if (ev->mask & IN_IGNORED) {
		forget(w, ev->wd);
		return;
	}
	if (!(ev->mask & IN_ISDIR) || !(ev->mask & (IN_CREATE | IN_MOVED_TO)) ||
	    ev->len == 0 || strcmp(ev->name, ".git") == 0)
		return;
	dir = dir_of(w, ev->wd);
	if (dir != NULL) {
		struct buf sub = BUF_INIT;

		buf_addf(&sub, "%s/%s", dir, ev->name);
		watch_tree(w, sub.data, 0);
		buf_release(&sub);
	}
}

void
local_watch_read(struct local_watch *w)
{
	char events[4096] __attribute__((aligned(__alignof__(
	    struct inotify_event))));
	ssize_t n;

	if (w == NULL)
		return;
	while ((n = read(w->fd, events, sizeof(events))) > 0) {
		char *p;

		for (p = events; p < events + n;) {
			const struct inotify_event *ev = (const void *)p;

			/* IN_Q_OVERFLOW too: something changed. */
			handle_event(w, ev);
			p += sizeof(*ev) + ev->len;
		}
	}
	if (n == -1 && errno != EAGAIN && errno != EINTR)
		log_warn("cannot read folder changes of local sources");
}

long
local_watch_timeout_ms(const struct local_watch *w)
{
	long long left;

	if (w == NULL || w->pending_since == 0)
		return -1;
	left = w->pending_since + LOCAL_WATCH_SETTLE_MS - monotime_ms();
	return left > 0 ? (long)left : 0;
}

bool
local_watch_take_settled(struct local_watch *w)
{
	if (local_watch_timeout_ms(w) != 0)
		return false;
	w->pending_since = 0;
	return true;
}

void
local_watch_deadline(const struct local_watch *w, struct timespec *ts)
{
	long ms = local_watch_timeout_ms(w);

	if (ms < 0 || ms / 1000 > ts->tv_sec || (ms / 1000 == ts->tv_sec &&
	    (ms % 1000) * 1000000 >= ts->tv_nsec))
		return;
	ts->tv_sec = ms / 1000;
	ts->tv_nsec = (ms % 1000) * 1000000;
}
