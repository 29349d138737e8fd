/*
 * helper-push: push a folder to a board with devfs_push(), for the push
 * tests and benchmark.
 *
 *   helper-push [-b BAUD] [-v] [--no-credit] [--wide-window] [--skip-same] [--clean]
 *               [--baseline] PORT DIR
 *
 * Every file below DIR goes to the same path below the board's "/"
 * (folders are created first).  --skip-same leaves out files whose hash
 * on the board already matches (one devfs_hash run per file); --clean
 * removes temporary files an interrupted push left (devfs_clean_temps)
 * before pushing; --no-credit is the test hook that streams without the
 * board's credits, --wide-window the one with a window of 4 times the
 * stdin ring (both must lose bytes on an honest board); --baseline copies
 * the way mpremote does instead (one run per 256 bytes of w(b'...'),
 * final name written directly), for comparison.
 *
 * Prints "done PATH" per file as the board confirms it, then
 * "pushed N failed N skipped N".  Exit 0 all pushed, 1 some failed,
 * 3 the connection failed, 2 usage.
 */
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "devfs.h"
#include "log.h"
#include "repl.h"
#include "xalloc.h"

struct file {
	char *local;
	char *board;
};

struct files {
	struct file *v;
	size_t n, alloc;
};

static int
cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct file *)a)->board,
	    ((const struct file *)b)->board);
}

static void
walk(const char *dir, const char *rel, struct files *fs)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat st;
	char *p, *r;

	if (d == NULL) {
		fprintf(stderr, "helper-push: cannot open %s\n", dir);
		exit(2);
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		p = xasprintf("%s/%s", dir, e->d_name);
		r = xasprintf("%s/%s", rel, e->d_name);
		if (stat(p, &st) == -1) {
			free(p);
			free(r);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			walk(p, r, fs);
			free(p);
			free(r);
			continue;
		}
		if (fs->n == fs->alloc) {
			fs->alloc = fs->alloc ? fs->alloc * 2 : 64;
			fs->v = xreallocarray(fs->v, fs->alloc, sizeof(*fs->v));
		}
		fs->v[fs->n].local = p;
		fs->v[fs->n].board = r;
		fs->n++;
	}
	closedir(d);
}

static void
on_done(void *arg, const struct devfs_push_item *it)
{
	(void)arg;
	printf("done %s\n", it->path);
	fflush(stdout);
}

/* Folders of path, outermost first. */
static int
make_parents(struct repl *r, const char *path, struct buf *made)
{
	char *dir = xstrdup(path), *slash = strrchr(dir, '/');
	int rc = 0;

	if (slash != NULL && slash != dir) {
		*slash = '\0';
		/* made holds "\n"-separated folders already created. */
		if (strstr(made->data, dir) == NULL) {
			rc = devfs_mkdir_p(r, dir);
			buf_addf(made, "%s\n", dir);
		}
	}
	free(dir);
	return rc;
}

/* Python's repr() of bytes, the way mpremote puts data in its code. */
static void
bytes_repr(struct buf *out, const unsigned char *p, size_t n)
{
	size_t i;

	buf_addstr(out, "b'");
	for (i = 0; i < n; i++) {
		if (p[i] == '\\' || p[i] == '\'')
			buf_addf(out, "\\%c", p[i]);
		else if (p[i] == '\n')
			buf_addstr(out, "\\n");
		else if (p[i] == '\r')
			buf_addstr(out, "\\r");
		else if (p[i] == '\t')
			buf_addstr(out, "\\t");
		else if (p[i] < 0x20 || p[i] >= 0x7f)
			buf_addf(out, "\\x%02x", p[i]);
		else
			buf_addch(out, p[i]);
	}
	buf_addch(out, '\'');
}

static int
baseline_copy(struct repl *r, const struct file *f, int fd)
{
	struct buf code = BUF_INIT;
	unsigned char chunk[256];
	ssize_t n;
	int rc = -1;

	buf_addstr(&code, "f=open(");
	repl_quote(&code, f->board, strlen(f->board));
	buf_addstr(&code, ",'wb')\nw=f.write\n");
	if (repl_exec(r, code.data, NULL) == -1)
		goto out;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		buf_reset(&code);
		buf_addstr(&code, "w(");
		bytes_repr(&code, chunk, (size_t)n);
		buf_addstr(&code, ")");
		if (repl_exec(r, code.data, NULL) == -1)
			goto out;
	}
	if (n == -1 || repl_exec(r, "f.close()", NULL) == -1)
		goto out;
	rc = 0;
out:
	buf_release(&code);
	return rc;
}

static void
usage(void)
{
	fprintf(stderr, "usage: helper-push [-b BAUD] [-v] [--no-credit] [--wide-window] "
	    "[--skip-same] [--clean] [--baseline] PORT DIR\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct files fs = { NULL, 0, 0 };
	struct devfs_push_item *items;
	struct buf made = BUF_INIT;
	struct repl *r;
	unsigned baud = 115200;
	int verbose = 0, skip_same = 0, clean = 0, baseline = 0, i, rc;
	size_t k, n = 0, skipped = 0, ok;
	char hex_b[DEVFS_HASH_HEXSZ], hex_h[DEVFS_HASH_HEXSZ];
	struct stat st;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-b") == 0 && i + 1 < argc)
			baud = (unsigned)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "-v") == 0)
			verbose = 1;
		else if (strcmp(argv[i], "--no-credit") == 0)
			devfs_push_set_test_flags(DEVFS_PUSH_TEST_NO_CREDIT);
		else if (strcmp(argv[i], "--wide-window") == 0)
			devfs_push_set_test_flags(DEVFS_PUSH_TEST_WIDE_WINDOW);
		else if (strcmp(argv[i], "--skip-same") == 0)
			skip_same = 1;
		else if (strcmp(argv[i], "--clean") == 0)
			clean = 1;
		else if (strcmp(argv[i], "--baseline") == 0)
			baseline = 1;
		else
			usage();
	}
	if (argc - i != 2)
		usage();
	log_init("helper-push", verbose, 0);
	walk(argv[i + 1], "", &fs);
	qsort(fs.v, fs.n, sizeof(*fs.v), cmp_file);

	r = repl_open(argv[i], baud);
	if (r == NULL)
		return 3;
	if (clean && devfs_clean_temps(r, "/") == -1) {
		repl_close(r);
		return 3;
	}
	items = xcalloc(fs.n ? fs.n : 1, sizeof(*items));
	for (k = 0; k < fs.n; k++) {
		int fd = open(fs.v[k].local, O_RDONLY | O_CLOEXEC);

		if (fd == -1 || fstat(fd, &st) == -1) {
			fprintf(stderr, "helper-push: cannot open %s\n",
			    fs.v[k].local);
			return 2;
		}
		if (skip_same) {
			if (devfs_hash_host(devfs_hash_algo(r), fd, hex_h) ==
			    -1)
				return 2;
			if (devfs_hash(r, fs.v[k].board, hex_b) == 0 &&
			    strcmp(hex_b, hex_h) == 0) {
				close(fd);
				skipped++;
				continue;
			}
		}
		if (make_parents(r, fs.v[k].board, &made) == -1) {
			repl_close(r);
			return 3;
		}
		if (baseline) {
			rc = baseline_copy(r, &fs.v[k], fd);
			close(fd);
			if (rc == -1) {
				repl_close(r);
				return 3;
			}
			printf("done %s\n", fs.v[k].board);
			n++;
			continue;
		}
		items[n].path = fs.v[k].board;
		items[n].fd = fd;
		items[n].size = (uint64_t)st.st_size;
		n++;
	}
	rc = 0;
	if (!baseline)
		rc = devfs_push(r, items, n, on_done, NULL, NULL);
	for (k = 0; !baseline && k < n; k++)
		close(items[k].fd);
	ok = 0;
	for (k = 0; k < n; k++)
		ok += baseline || items[k].result == 0;
	printf("pushed %zu failed %zu skipped %zu\n", ok, n - ok, skipped);
	repl_close(r);
	buf_release(&made);
	for (k = 0; k < fs.n; k++) {
		free(fs.v[k].local);
		free(fs.v[k].board);
	}
	free(fs.v);
	free(items);
	if (rc < 0)
		return 3;
	return rc > 0 ? 1 : 0;
}
