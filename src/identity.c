/*
 * identity.c - the memory and the candidates of `port = uid:HEX`; see
 * identity.h.  The probing itself is repl.c's (open_by_unique_id).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "identity.h"
#include "log.h"
#include "ports.h"
#include "xalloc.h"
#include "banned.h"

#define MEMORY_MAX 8192 /* a path and a signature */

static const struct config *identity_cfg;
static pthread_mutex_t scan_lock = PTHREAD_MUTEX_INITIALIZER;

bool
identity_is_uid(const char *port)
{
	return strncmp(port, IDENTITY_UID_PREFIX,
	    strlen(IDENTITY_UID_PREFIX)) == 0;
}

const char *
identity_uid(const char *port)
{
	return port + strlen(IDENTITY_UID_PREFIX);
}

int
identity_normalize(char *port, const char **why)
{
	char *hex = port + strlen(IDENTITY_UID_PREFIX);
	size_t i, n = strlen(hex);

	if (n == 0 || n % 2 != 0 || n > 2 * IDENTITY_UID_MAX_BYTES) {
		*why = "uid: needs an even number of hex digits (up to 64), "
		    "as machine.unique_id() shows in senko ports --probe";
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)hex[i])) {
			*why = "uid: takes hex digits only (0-9, a-f), as "
			    "senko ports --probe shows them";
			return -1;
		}
		hex[i] = (char)tolower((unsigned char)hex[i]);
	}
	return 0;
}

void
identity_use_config(const struct config *cfg)
{
	identity_cfg = cfg;
}

static const struct config_device *
device_of(const char *port)
{
	size_t i;

	for (i = 0; identity_cfg && i < identity_cfg->ndevices; i++)
		if (strcmp(identity_cfg->devices[i].port, port) == 0)
			return &identity_cfg->devices[i];
	return NULL;
}

/* state_dir/devices/NAME/node for port's device, or NULL. */
static char *
memory_path(const char *port)
{
	const struct config_device *dev = device_of(port);

	if (dev == NULL)
		return NULL;
	return xasprintf("%s/devices/%s/node", identity_cfg->state_dir,
	    dev->name);
}

char *
identity_recall(const char *port, bool *unchanged)
{
	struct buf text = BUF_INIT;
	char *file = memory_path(port), *node = NULL, *nl, *sig;

	if (unchanged)
		*unchanged = false;
	if (file == NULL)
		return NULL;
	buf_init(&text, MEMORY_MAX);
	if (access(file, F_OK) == 0 && fs_read_file(file, &text) == 0 &&
	    (nl = strchr(text.data, '\n')) != NULL && nl != text.data) {
		*nl = '\0';
		node = xstrdup(text.data);
		nl[1 + strcspn(nl + 1, "\n")] = '\0';
		sig = ports_node_signature(node);
		if (unchanged)
			*unchanged = sig && strcmp(sig, nl + 1) == 0;
		free(sig);
	}
	buf_release(&text);
	free(file);
	return node;
}

void
identity_remember(const char *port, const char *node)
{
	char *file = memory_path(port), *sig, *dir;
	struct buf text = BUF_INIT;
	bool unchanged;
	char *old;

	if (file == NULL)
		return;
	old = identity_recall(port, &unchanged);
	if (old && unchanged && strcmp(old, node) == 0)
		goto out; /* no write for a board that stayed put */
	sig = ports_node_signature(node);
	buf_addf(&text, "%s\n%s\n", node, sig ? sig : "");
	free(sig);
	dir = xstrdup(file);
	*strrchr(dir, '/') = '\0';
	if (fs_mkdir_p(dir, FS_STATE_DIR_MODE) == 0)
		fs_write_atomic(file, text.data, text.len, 0600);
	free(dir);
	buf_release(&text);
	log_debug("%s: the board with unique id %s is on %s", port,
	    identity_uid(port), node);
out:
	free(old);
	free(file);
}

void
identity_forget(const char *port)
{
	char *file = memory_path(port);

	if (file != NULL && unlink(file) == -1 && errno != ENOENT)
		log_warn("cannot remove '%s'", file);
	free(file);
}

/* realpath(a) == realpath(b), both existing. */
static bool
same_node(const char *a, const char *b)
{
	char *ra = realpath(a, NULL), *rb = realpath(b, NULL);
	bool same = ra && rb && strcmp(ra, rb) == 0;

	free(ra);
	free(rb);
	return same;
}

/* Does dev own node: its path, its USB serial's port, or (uid:) the
 * node its board was found on, untouched since when unchanged_only. */
static bool
device_owns(const struct config_device *dev, const char *node,
    bool unchanged_only)
{
	char why[256], *p;
	bool unchanged, owns;

	if (identity_is_uid(dev->port)) {
		p = identity_recall(dev->port, &unchanged);
		owns = p && (unchanged || !unchanged_only) &&
		    same_node(p, node);
	} else if (ports_is_usb_identity(dev->port)) {
		int quiet = log_thread_quiet(1);

		p = ports_resolve(dev->port, why, sizeof(why));
		log_thread_quiet(quiet);
		owns = p && same_node(p, node);
	} else {
		p = NULL;
		owns = same_node(dev->port, node);
	}
	free(p);
	return owns;
}

const struct config_device *
identity_device_on(const char *node)
{
	size_t i;

	for (i = 0; identity_cfg && i < identity_cfg->ndevices; i++)
		if (device_owns(&identity_cfg->devices[i], node, false))
			return &identity_cfg->devices[i];
	return NULL;
}

/* Is node the same port as one in list[0..n)? */
static bool
listed(char **list, size_t n, const char *node)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(list[i], node) == 0 || same_node(list[i], node))
			return true;
	return false;
}

static bool
taken_by_other(const char *port, const char *node)
{
	size_t i;

	for (i = 0; identity_cfg && i < identity_cfg->ndevices; i++) {
		const struct config_device *d = &identity_cfg->devices[i];

		if (strcmp(d->port, port) != 0 && device_owns(d, node, true))
			return true;
	}
	return false;
}

static void
add_candidate(char ***list, size_t *n, const char *port, const char *skip,
    const char *node)
{
	char *real = realpath(node, NULL);

	if (real == NULL || (skip && same_node(skip, node)) ||
	    listed(*list, *n, node) || taken_by_other(port, node)) {
		free(real);
		return;
	}
	free(real);
	*list = xreallocarray(*list, *n + 1, sizeof(**list));
	(*list)[(*n)++] = xstrdup(node);
}

static int
compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **
identity_candidates(const char *port, const char *skip, size_t *n)
{
	struct port_list l;
	char **list = NULL, *dir = ports_by_id_dir();
	struct dirent *de;
	size_t i;
	DIR *d;

	*n = 0;
	/* The by-id links first: they are the names a person reads. */
	d = opendir(dir);
	while (d && (de = readdir(d)) != NULL) {
		char *link;

		if (de->d_name[0] == '.')
			continue;
		link = xasprintf("%s/%s", dir, de->d_name);
		add_candidate(&list, n, port, skip, link);
		free(link);
	}
	if (d)
		closedir(d);
	free(dir);
	if (*n > 1)
		qsort(list, *n, sizeof(*list), compare_strings);
	if (ports_scan(&l) == 0) {
		for (i = 0; i < l.n; i++)
			add_candidate(&list, n, port, skip, l.ports[i].by_id ?
			    l.ports[i].by_id : l.ports[i].dev);
		port_list_release(&l);
	}
	return list;
}

void
identity_free_list(char **list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

static char *
board_id_path(const char *state_dir, const char *device)
{
	return xasprintf("%s/devices/%s/" IDENTITY_BOARD_ID_NAME, state_dir,
	    device);
}

/* The unique id remembered for device (a new string), or NULL. */
static char *
board_id_load(const char *state_dir, const char *device)
{
	struct buf text = BUF_INIT;
	char *file = board_id_path(state_dir, device), *id = NULL;
	size_t n;

	buf_init(&text, MEMORY_MAX);
	if (access(file, F_OK) == 0 && fs_read_file(file, &text) == 0) {
		n = strspn(text.data, "0123456789abcdef");
		if (n > 0 && n <= 2 * IDENTITY_UID_MAX_BYTES &&
		    (text.data[n] == '\n' || text.data[n] == '\0')) {
			text.data[n] = '\0';
			id = xstrdup(text.data);
		} else
			log_warnx("'%s' holds no unique id; it is written "
			    "again after the next sync", file);
	}
	buf_release(&text);
	free(file);
	return id;
}

enum identity_board
identity_check_board(const char *state_dir, const struct config_device *dev,
    const char *uid, char **was, const struct config_device **owner)
{
	char *mine, *theirs;
	size_t i;

	*was = NULL;
	*owner = NULL;
	if (*uid == '\0' || identity_is_uid(dev->port))
		return IDENTITY_BOARD_SAME;
	mine = board_id_load(state_dir, dev->name);
	if (mine != NULL && strcmp(mine, uid) == 0) {
		free(mine);
		return IDENTITY_BOARD_SAME;
	}
	for (i = 0; identity_cfg && i < identity_cfg->ndevices; i++) {
		const struct config_device *d = &identity_cfg->devices[i];

		if (strcmp(d->name, dev->name) == 0)
			continue;
		if (identity_is_uid(d->port))
			theirs = xstrdup(identity_uid(d->port));
		else
			theirs = board_id_load(state_dir, d->name);
		if (theirs != NULL && strcmp(theirs, uid) == 0) {
			free(theirs);
			*owner = d;
			*was = mine;
			return IDENTITY_BOARD_OTHERS;
		}
		free(theirs);
	}
	if (mine == NULL)
		return IDENTITY_BOARD_SAME; /* the first board senko meets */
	*was = mine;
	return IDENTITY_BOARD_NEW;
}

void
identity_board_updated(const char *state_dir, const struct config_device *dev,
    const char *uid)
{
	char *old, *file, *dir, *text;

	if (*uid == '\0' || identity_is_uid(dev->port))
		return;
	old = board_id_load(state_dir, dev->name);
	if (old == NULL || strcmp(old, uid) != 0) {
		file = board_id_path(state_dir, dev->name);
		dir = xasprintf("%s/devices/%s", state_dir, dev->name);
		text = xasprintf("%s\n", uid);
		if (fs_mkdir_p(dir, FS_STATE_DIR_MODE) == 0)
			(void)fs_write_atomic(file, text, strlen(text), 0600);
		log_debug("%s: its board has unique id %s", dev->name, uid);
		free(text);
		free(dir);
		free(file);
	}
	free(old);
}

void
identity_scan_lock(void)
{
	pthread_mutex_lock(&scan_lock);
}

void
identity_scan_unlock(void)
{
	pthread_mutex_unlock(&scan_lock);
}
