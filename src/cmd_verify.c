/*
 * cmd_verify.c - `senko verify DEVICE`: hash every managed file on the
 * board itself and compare it with the mirror.
 *
 * The managed files are those in the device's mirror folder
 * (state_dir/devices/NAME/mirror/).  Each is hashed on the host with the
 * algorithm the board can use (git's blob SHA-1, or SHA-256) and on the
 * board in small buffers; one line per file says ok, DIFFERS or MISSING.
 * The board hashes them in one run of senko's agent (agent.h) when its
 * heap holds the agent, else with one small program per file (devfs.h),
 * which works at a few kilobytes of heap.
 */
#include <sys/stat.h>
#include <dirent.h>
#include <stdbool.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "buf.h"
#include "cli.h"
#include "interrupt.h"
#include "devfs.h"
#include "log.h"
#include "path.h"
#include "repl.h"
#include "session.h"
#include "xalloc.h"
#include "banned.h"

struct names {
	char **v;
	size_t n, alloc;
};

static void
names_add(struct names *l, char *s)
{
	if (l->n == l->alloc) {
		l->alloc = l->alloc ? l->alloc * 2 : 32;
		l->v = xreallocarray(l->v, l->alloc, sizeof(*l->v));
	}
	l->v[l->n++] = s;
}

static void
names_free(struct names *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

/* Regular files below root/rel, as paths relative to root. */
static int
walk(const char *root, const char *rel, struct names *out)
{
	char *dir = rel[0] ? xasprintf("%s/%s", root, rel) : xstrdup(root);
	struct dirent *de;
	struct stat st;
	char *sub, *full;
	DIR *d;
	int rc = 0;

	d = opendir(dir);
	if (d == NULL) {
		rc = log_fail("cannot read mirror folder '%s'", dir);
		free(dir);
		return rc;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		sub = rel[0] ? xasprintf("%s/%s", rel, de->d_name) :
		    xstrdup(de->d_name);
		full = xasprintf("%s/%s", root, sub);
		if (lstat(full, &st) == -1)
			rc = log_fail("cannot stat '%s'", full);
		else if (S_ISDIR(st.st_mode))
			rc = walk(root, sub, out);
		else if (S_ISREG(st.st_mode)) {
			names_add(out, sub);
			sub = NULL;
		}
		free(sub);
		free(full);
	}
	closedir(d);
	free(dir);
	return rc;
}

static int
by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Below this much free heap after the probe, the board hashes with devfs:
 * the plain agent (what a board below agent.c's BOOT_HEAP_MIN gets) leaves
 * about 18 KB of 30 KB free once compiled.
 */
#define VERIFY_AGENT_HEAP_MIN (32 * 1024)

/* Who hashes on the board: the agent, or devfs programs on r. */
struct hasher {
	struct repl *r;
	struct agent *agent;	/* NULL: devfs */
};

static enum devfs_hash_algo
hasher_algo(const struct hasher *h)
{
	return h->agent ? agent_hello(h->agent)->algo : devfs_hash_algo(h->r);
}

static int
hasher_hash(struct hasher *h, const char *path, char hex[DEVFS_HASH_HEXSZ])
{
	return h->agent ? agent_hash(h->agent, path, hex) :
	    devfs_hash(h->r, path, hex);
}

static char *
board_path(const char *dest, const char *rel)
{
	return strcmp(dest, "/") == 0 ? xasprintf("/%s", rel) :
	    xasprintf("%s/%s", dest, rel);
}

/* 0 same, 1 differs or missing, -1 error (logged). */
static int
verify_one(struct hasher *h, const char *mirror, const char *rel,
    const char *dest)
{
	char host[DEVFS_HASH_HEXSZ], board[DEVFS_HASH_HEXSZ];
	char *local = xasprintf("%s/%s", mirror, rel);
	char *remote = board_path(dest, rel);
	struct buf shown = BUF_INIT;
	const char *why, *verdict;
	int fd, rc = -1;

	path_quote(&shown, remote, strlen(remote));
	if (!path_is_safe(rel, strlen(rel), &why)) {
		log_warnx("skipping mirror file '%s': %s", shown.data, why);
		goto out;
	}
	fd = open(local, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		log_fail("cannot open '%s'", local);
		goto out;
	}
	rc = devfs_hash_host(hasher_algo(h), fd, host);
	close(fd);
	if (rc == -1)
		goto out;
	if (hasher_hash(h, remote, board) == 0)
		verdict = strcmp(host, board) == 0 ? "ok" : "DIFFERS";
	else if (errno == ENOENT)
		verdict = "MISSING";
	else {
		rc = -1;
		goto out;
	}
	printf("%-8s %s\n", verdict, shown.data);
	rc = strcmp(verdict, "ok") != 0;
out:
	buf_release(&shown);
	free(local);
	free(remote);
	return rc;
}

int
cmd_verify(struct cli *cli, int argc, char **argv)
{
	const struct config_device *dev;
	struct names files = { NULL, 0, 0 };
	unsigned bad = 0, failed = 0;
	struct stat st;
	struct hasher h = { NULL, NULL };
	bool can_hash = true;
	char *mirror;
	size_t i;
	int rc;

	if (argc != 2)
		return cli_command_usage(cli_find_command("verify"));
	dev = cli_find_device(cli, argv[1]);
	if (dev == NULL)
		return CLI_EXIT_USAGE;
	mirror = xasprintf("%s/devices/%s/mirror", cli->cfg->state_dir,
	    dev->name);
	if (stat(mirror, &st) == -1 || !S_ISDIR(st.st_mode)) {
		log_warnx("%s has no mirror at %s: nothing senko wrote to "
		    "verify (run senko sync %s first)", dev->name, mirror,
		    dev->name);
		free(mirror);
		return CLI_EXIT_FAILED;
	}
	if (walk(mirror, "", &files) == -1) {
		names_free(&files);
		free(mirror);
		return CLI_EXIT_FAILED;
	}
	if (files.n > 0)
		qsort(files.v, files.n, sizeof(*files.v), by_name);
	h.r = session_open(dev, cli->cfg->state_dir, "verify",
	    &interrupt_requested);
	if (h.r == NULL) {
		names_free(&files);
		free(mirror);
		return CLI_EXIT_FAILED;
	}
	if (files.n > 0 &&
	    repl_info(h.r)->free_heap >= VERIFY_AGENT_HEAP_MIN) {
		h.agent = agent_start(h.r, dev->baud, &interrupt_requested);
		if (h.agent == NULL)
			can_hash = false;
	}
	for (i = 0; can_hash && i < files.n; i++) {
		rc = verify_one(&h, mirror, files.v[i], dev->dest);
		if (rc == -1) {
			failed++;
			/* The line is gone: the other files cannot be read. */
			if (errno == EIO || errno == ETIMEDOUT)
				break;
		} else
			bad += (unsigned)rc;
	}
	if (!can_hash || agent_end(h.agent) == -1)
		failed++;
	/* Opening the board stopped its application: start it again. */
	if (session_close(h.r, dev, cli->cfg->state_dir) == -1)
		failed++;
	fflush(stdout);
	if (bad == 0 && failed == 0)
		log_info("%s: all %zu file(s) match", dev->name, files.n);
	else
		log_warnx("%s: %u of %zu file(s) differ or are missing%s",
		    dev->name, bad, files.n, failed ? ", some could not be "
		    "checked" : "");
	names_free(&files);
	free(mirror);
	return bad == 0 && failed == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILED;
}
