/*
 * hotplug.c - inotify on the folders of device nodes; see hotplug.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hotplug.h"
#include "identity.h"
#include "log.h"
#include "monotime.h"
#include "ports.h"
#include "xalloc.h"
#include "banned.h"

/* A node appears (created, moved into place, a link re-made) or becomes
 * usable (udev sets its mode and group). */
#define HOTPLUG_EVENTS (IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_ONLYDIR)

struct hotplug {
	int fd;
	const struct config *cfg;   /* borrowed */
	char **signature;           /* per device: its node as last seen,
	                               NULL when it had none; owned */
	size_t n;                   /* devices (cfg may be gone at free) */
	long long pending_since;    /* ms of the last event; 0: none */
	long long pending_first;    /* ms of the first unsettled event */
};

/* The node dev's port leads to now (usb: looked up), as a signature;
 * NULL when there is none.  Not for uid: ports. */
static char *
node_signature(const struct config_device *dev)
{
	char why[256], *node, *sig;
	int quiet;

	if (!ports_is_usb_identity(dev->port))
		return ports_node_signature(dev->port);
	quiet = log_thread_quiet(1);
	node = ports_resolve(dev->port, why, sizeof(why));
	log_thread_quiet(quiet);
	sig = node ? ports_node_signature(node) : NULL;
	free(node);
	return sig;
}

/* Watch dir if it exists and is not watched yet (inotify gives the same
 * descriptor for a folder added twice). */
static void
watch_dir(struct hotplug *hp, const char *dir)
{
	struct stat st;

	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode))
		return;
	if (inotify_add_watch(hp->fd, dir, HOTPLUG_EVENTS) == -1)
		log_warn("cannot watch '%s' for boards being plugged in; "
		    "they are checked at the next poll", dir);
}

static void
watch_port_dir(struct hotplug *hp, const char *port)
{
	char *dir = xstrdup(port), *slash = strrchr(dir, '/');

	if (slash != NULL) {
		*slash = '\0';
		watch_dir(hp, *dir ? dir : "/");
	}
	free(dir);
}

struct hotplug *
hotplug_new(const struct config *cfg)
{
	struct hotplug *hp;
	char *by_id, *dev_dir;
	size_t i;

	if (cfg->ndevices == 0)
		return NULL;
	hp = xcalloc(1, sizeof(*hp));
	hp->cfg = cfg;
	hp->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (hp->fd == -1) {
		log_warn("cannot watch for boards being plugged in (inotify); "
		    "they are checked at the next poll");
		free(hp);
		return NULL;
	}
	by_id = ports_by_id_dir();
	dev_dir = xstrdup(by_id);
	*strstr(dev_dir, "/serial/by-id") = '\0';
	watch_dir(hp, dev_dir);
	watch_dir(hp, by_id);
	free(by_id);
	free(dev_dir);
	hp->n = cfg->ndevices;
	hp->signature = xcalloc(hp->n, sizeof(*hp->signature));
	for (i = 0; i < cfg->ndevices; i++) {
		const struct config_device *dev = &cfg->devices[i];

		if (identity_is_uid(dev->port))
			continue;
		if (!ports_is_usb_identity(dev->port))
			watch_port_dir(hp, dev->port);
		hp->signature[i] = node_signature(dev);
	}
	return hp;
}

void
hotplug_free(struct hotplug *hp)
{
	size_t i;

	if (hp == NULL)
		return;
	for (i = 0; i < hp->n; i++)
		free(hp->signature[i]);
	free(hp->signature);
	close(hp->fd);
	free(hp);
}

int
hotplug_fd(const struct hotplug *hp)
{
	return hp ? hp->fd : -1;
}

void
hotplug_read(struct hotplug *hp)
{
	char events[4096] __attribute__((aligned(__alignof__(
	    struct inotify_event))));
	ssize_t n;

	if (hp == NULL)
		return;
	while ((n = read(hp->fd, events, sizeof(events))) > 0) {
		/* Which event it was does not matter: the nodes are looked
		 * at when they settled. */
		hp->pending_since = monotime_ms();
		if (hp->pending_first == 0)
			hp->pending_first = hp->pending_since;
	}
	if (n == -1 && errno != EAGAIN && errno != EINTR)
		log_warn("cannot read events of boards being plugged in");
}

static long
timeout_ms(const struct hotplug *hp)
{
	long long left;

	if (hp == NULL || hp->pending_since == 0)
		return -1;
	left = hp->pending_since + HOTPLUG_SETTLE_MS;
	/* A folder that is never quiet (/dev on a busy machine, files
	 * written beside a port's link) must not put the look off. */
	if (left > hp->pending_first + HOTPLUG_SETTLE_MAX_MS)
		left = hp->pending_first + HOTPLUG_SETTLE_MAX_MS;
	left -= monotime_ms();
	return left > 0 ? (long)left : 0;
}

void
hotplug_deadline(const struct hotplug *hp, struct timespec *ts)
{
	long ms = timeout_ms(hp);

	if (ms < 0 || ms / 1000 > ts->tv_sec || (ms / 1000 == ts->tv_sec &&
	    (ms % 1000) * 1000000 >= ts->tv_nsec))
		return;
	ts->tv_sec = ms / 1000;
	ts->tv_nsec = (ms % 1000) * 1000000;
}

/* A uid: device is due when its board is not on the node it was found
 * on, unchanged: that node was made anew, or is gone (its board may be
 * the one that appeared elsewhere). */
static bool
uid_device_moved(const struct config_device *dev)
{
	bool unchanged;
	char *node = identity_recall(dev->port, &unchanged);

	free(node);
	return node == NULL || !unchanged;
}

size_t
hotplug_take(struct hotplug *hp, bool *due)
{
	size_t i, n = 0;

	if (timeout_ms(hp) != 0)
		return 0;
	hp->pending_since = hp->pending_first = 0;
	for (i = 0; i < hp->cfg->ndevices; i++) {
		const struct config_device *dev = &hp->cfg->devices[i];
		char *sig;

		due[i] = false;
		if (identity_is_uid(dev->port)) {
			due[i] = uid_device_moved(dev);
		} else {
			sig = node_signature(dev);
			due[i] = sig != NULL && (hp->signature[i] == NULL ||
			    strcmp(sig, hp->signature[i]) != 0);
			free(hp->signature[i]);
			hp->signature[i] = sig;
		}
		if (due[i])
			log_info("%s: its port changed (a board plugged in?); "
			    "checking the board now", dev->name);
		n += due[i];
	}
	return n;
}
