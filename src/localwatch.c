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
    IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | \
    IN_MOVE_SELF | IN_ONLYDIR)
/* Above a missing source folder only the next step towards it appearing,
 * or the watched folder itself going, matters.  IN_MASK_ADD: the folder
 * may be in another source, watched for everything. */
#define WAY_EVENTS (IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | \
    IN_ONLYDIR | IN_MASK_ADD)

struct watched {
	int wd;
	char *dir; /* owned; the folder's path now (moves are followed) */
	bool tree; /* in a source: its events are edits */
	bool way;  /* the nearest folder above a missing source folder */
};

struct root {
	char *name; /* owned; the source's */
	char *dir;  /* owned; its path = FOLDER */
	bool missing;
};

struct local_watch {
	int fd;
	struct root *roots;
	size_t nroots;
	struct watched *dirs; /* each is tree, way or both */
	size_t n;
	bool full_warned;
	long long pending_since; /* ms of the last event; 0: none pending */
};

static struct watched *
find(struct local_watch *w, int wd)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (w->dirs[i].wd == wd)
			return &w->dirs[i];
	return NULL;
}

static bool
watching_tree(const struct local_watch *w, const char *dir)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (w->dirs[i].tree && strcmp(w->dirs[i].dir, dir) == 0)
			return true;
	return false;
}

/* Whether path is top or below it. */
static bool
is_under(const char *path, const char *top)
{
	size_t len = strlen(top);

	if (strcmp(top, "/") == 0)
		return path[0] == '/';
	return strncmp(path, top, len) == 0 &&
	    (path[len] == '\0' || path[len] == '/');
}

static void
join(struct buf *b, const char *dir, const char *name)
{
	buf_addf(b, "%s/%s", strcmp(dir, "/") == 0 ? "" : dir, name);
}

/* The entry for wd, its path set to dir.  inotify gives an inode already
 * watched its old wd: a folder renamed unseen keeps its entry, which must
 * then name where the folder is now. */
static struct watched *
note(struct local_watch *w, int wd, const char *dir)
{
	struct watched *e = find(w, wd);

	if (e == NULL) {
		w->dirs = xreallocarray(w->dirs, w->n + 1, sizeof(*w->dirs));
		e = &w->dirs[w->n++];
		e->wd = wd;
		e->dir = xstrdup(dir);
		e->tree = e->way = false;
	} else if (strcmp(e->dir, dir) != 0) {
		free(e->dir);
		e->dir = xstrdup(dir);
	}
	return e;
}

static void
drop(struct local_watch *w, struct watched *e)
{
	free(e->dir);
	*e = w->dirs[--w->n];
}

/* The watch on dir and on every folder under it, which moved away
 * together: their paths are stale, and outside every source they must
 * not count as edits. */
static void
unwatch_under(struct local_watch *w, const char *top)
{
	size_t i;

	for (i = 0; i < w->n;) {
		if (is_under(w->dirs[i].dir, top)) {
			/* EINVAL: the kernel dropped it already (IN_IGNORED
			 * is queued). */
			inotify_rm_watch(w->fd, w->dirs[i].wd);
			drop(w, &w->dirs[i]);
		} else
			i++;
	}
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
		/* Gone already: its removal is an event of its parent. */
		if (errno != ENOENT)
			log_warn("cannot watch folder '%s'; its changes are "
			    "seen at the next poll", dir);
		return;
	}
	note(w, wd, dir)->tree = true;
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
		join(&sub, dir, de->d_name);
		if (lstat(sub.data, &st) == 0 && S_ISDIR(st.st_mode))
			watch_tree(w, sub.data, depth + 1);
		buf_release(&sub);
	}
	closedir(d);
}

static bool
is_folder(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The next folder from way (a folder above root) towards root; owned by
 * the caller. */
static char *
next_step(const char *root, const char *way)
{
	const char *rest = root + strlen(way), *slash;

	if (strcmp(way, "/") != 0)
		rest++; /* the '/' after way */
	slash = strchr(rest, '/');
	return slash ? xstrndup(root, (size_t)(slash - root)) : xstrdup(root);
}

/* Watch the nearest existing folder above the missing root, for the next
 * step towards root to appear.  Returns 1 when that step is there
 * already (it appeared before the watch, so no event will tell: look
 * again), 0 when the watch waits for it, -1 when nothing can be watched. */
static int
watch_way(struct local_watch *w, const char *root)
{
	struct watched *e;
	char *way = xstrdup(root), *slash, *next;
	int wd, there;

	do {
		slash = strrchr(way, '/');
		if (slash == NULL || strcmp(way, "/") == 0) {
			free(way); /* no folder above root: cannot be */
			return -1;
		}
		slash[slash == way] = '\0';
	} while (!is_folder(way));
	/* Following symbolic links: whichever folder the path leads to is
	 * where root will appear. */
	wd = inotify_add_watch(w->fd, way, WAY_EVENTS);
	if (wd == -1) {
		there = errno == ENOENT || errno == ENOTDIR; /* gone meanwhile */
		if (!there)
			log_warn("cannot watch folder '%s' for '%s' to appear; "
			    "it is seen at the next poll", way, root);
		free(way);
		return there ? 1 : -1;
	}
	e = find(w, wd);
	if (e == NULL || !e->tree)
		e = note(w, wd, way);
	e->way = true;
	next = next_step(root, way);
	there = is_folder(next);
	free(next);
	free(way);
	return there;
}

/* Watch root's folders, or, while root is missing, the nearest folder
 * above it.  Returns false while root is missing. */
static bool
arm_root(struct local_watch *w, const char *root)
{
	struct stat st;
	int tries;

	/* Each look again finds a folder deeper than the last, or root
	 * come and gone: bounded all the same. */
	for (tries = 0; tries < 64; tries++) {
		if (lstat(root, &st) == 0) {
			/* Not a folder: watch_tree says why. */
			watch_tree(w, root, 0);
			if (watching_tree(w, root) || lstat(root, &st) == 0)
				return true;
			continue; /* gone meanwhile */
		}
		if (watch_way(w, root) != 1)
			break;
	}
	return false;
}

/* Watch again each source folder that is not watched (removed, replaced,
 * moved away), or wait for it; folders no longer on the way to a missing
 * one are let go.  Returns whether a source folder came back. */
static bool
rearm(struct local_watch *w)
{
	bool back = false;
	size_t i;

	for (i = 0; i < w->n; i++)
		w->dirs[i].way = false;
	for (i = 0; i < w->nroots; i++) {
		struct root *r = &w->roots[i];
		bool watched = watching_tree(w, r->dir) ||
		    arm_root(w, r->dir);

		if (r->missing && watched) {
			log_info("source '%s': folder '%s' appeared; watching "
			    "it", r->name, r->dir);
			back = true;
		} else if (!r->missing && !watched)
			log_info("source '%s': no folder '%s'; watching for it "
			    "to appear", r->name, r->dir);
		r->missing = !watched;
	}
	for (i = 0; i < w->n;) {
		if (!w->dirs[i].tree && !w->dirs[i].way) {
			inotify_rm_watch(w->fd, w->dirs[i].wd);
			drop(w, &w->dirs[i]);
		} else
			i++;
	}
	return back;
}

/* Whether a source folder is dir or below it. */
static bool
holds_root(const struct local_watch *w, const char *dir)
{
	size_t i;

	for (i = 0; i < w->nroots; i++)
		if (is_under(w->roots[i].dir, dir))
			return true;
	return false;
}

struct local_watch *
local_watch_new(const struct config *cfg)
{
	struct local_watch *w;
	size_t i, folders = 0;

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
	for (i = 0; i < cfg->nsources; i++) {
		struct root *r;

		if (cfg->sources[i].path == NULL)
			continue;
		w->roots = xreallocarray(w->roots, w->nroots + 1,
		    sizeof(*w->roots));
		r = &w->roots[w->nroots++];
		r->name = xstrdup(cfg->sources[i].name);
		r->dir = xstrdup(cfg->sources[i].path);
		r->missing = false;
	}
	rearm(w);
	for (i = 0; i < w->n; i++)
		folders += w->dirs[i].tree;
	log_info("watching %zu folder%s of local sources", folders,
	    folders == 1 ? "" : "s");
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
	for (i = 0; i < w->nroots; i++) {
		free(w->roots[i].name);
		free(w->roots[i].dir);
	}
	free(w->roots);
	free(w);
}

int
local_watch_fd(const struct local_watch *w)
{
	return w ? w->fd : -1;
}

/* The folder of e was removed (IN_IGNORED) or moved (IN_MOVE_SELF: its
 * watches follow it, under stale paths).  Returns whether a source folder
 * came back. */
static bool
lost_folder(struct local_watch *w, struct watched *e, bool moved)
{
	char *dir = xstrdup(e->dir);
	bool key = e->way || holds_root(w, dir);
	bool back = false;

	if (moved)
		unwatch_under(w, dir);
	else
		drop(w, e);
	if (key)
		back = rearm(w);
	free(dir);
	return back;
}

/* An entry name in the folder of e was created or moved.  Returns whether
 * a source folder came back. */
static bool
named_entry(struct local_watch *w, struct watched *e,
    const struct inotify_event *ev)
{
	struct buf sub = BUF_INIT;
	bool tree = e->tree, back = false;

	join(&sub, e->dir, ev->name);
	/* A folder moved out: watched again below if it went within. */
	if (tree && (ev->mask & (IN_MOVED_FROM | IN_ISDIR)) ==
	    (IN_MOVED_FROM | IN_ISDIR))
		unwatch_under(w, sub.data);
	if (tree && (ev->mask & IN_ISDIR) &&
	    (ev->mask & (IN_CREATE | IN_MOVED_TO)) &&
	    strcmp(ev->name, ".git") != 0)
		watch_tree(w, sub.data, 0);
	if (holds_root(w, sub.data))
		back = rearm(w);
	buf_release(&sub);
	return back;
}

static void
handle_event(struct local_watch *w, const struct inotify_event *ev)
{
	struct watched *e;
	bool edit;

	if (ev->mask & IN_Q_OVERFLOW) {
		/* Events were lost, folder moves among them: start over. */
		log_info("too many changes in local sources at once; "
		    "watching their folders anew");
		unwatch_under(w, "/");
		rearm(w);
		w->pending_since = monotime_ms();
		return;
	}
	e = find(w, ev->wd);
	if (e == NULL) /* let go of: it moved away */
		return;
	edit = e->tree;
	if (ev->mask & (IN_IGNORED | IN_MOVE_SELF))
		edit |= lost_folder(w, e, ev->mask & IN_MOVE_SELF);
	else if (ev->len > 0 &&
	    (ev->mask & (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM)))
		edit |= named_entry(w, e, ev);
	if (edit)
		w->pending_since = monotime_ms();
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
