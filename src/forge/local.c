/*
 * forge/local.c - sources that are local folders; see local.h.
 *
 * Why git itself and not libgit2 for .gitignore: git's rules (negation,
 * "**", per-folder files, info/exclude, core.excludesFile) are what the
 * developer sees in `git status`; running the git the developer uses
 * gives exactly that, with no second implementation to drift and no new
 * library to build against.  It runs with a deadline (LOCAL_GIT_TIMEOUT_MS)
 * and its output is capped, like every other outside answer.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "githash.h"
#include "http.h"
#include "log.h"
#include "path.h"
#include "xalloc.h"
#include "local.h"
#include "source_state.h"
#include "walk.h"
#include "banned.h"

#define LOCAL_LIST_MAX (64u * 1024 * 1024) /* bytes of file names */
#define LOCAL_DEPTH_MAX 64

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read both pipes of the child until they close, the deadline passes
 * (-1) or *stop is set (-2; looked at five times a second). */
static int
drain_child(int out_fd, int err_fd, struct buf *out, struct buf *err,
    long long deadline, const volatile sig_atomic_t *stop)
{
	struct pollfd p[2] = { { out_fd, POLLIN, 0 }, { err_fd, POLLIN, 0 } };
	char chunk[8192];

	while (p[0].fd >= 0 || p[1].fd >= 0) {
		long long left = deadline - now_ms();
		int i, r;

		if (stop != NULL && *stop)
			return -2;
		if (left <= 0)
			return -1;
		r = poll(p, 2, left > 200 ? 200 : (int)left);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		for (i = 0; i < 2; i++) {
			ssize_t n;

			if (p[i].fd < 0 || p[i].revents == 0)
				continue;
			n = read(p[i].fd, chunk, sizeof(chunk));
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0) {
				p[i].fd = -1;
				continue;
			}
			/* stderr is kept short; a full list is an error. */
			if (i == 1)
				buf_add(err, chunk, (size_t)n);
			else if (buf_add(out, chunk, (size_t)n) == -1)
				return -1;
		}
	}
	return 0;
}

/*
 * The folder holding the .git (folder or file) that puts the source's
 * folder in a work tree, as git itself looks upwards; NULL when none.
 */
static char *
find_work_tree(const char *path)
{
	struct buf b = BUF_INIT;
	struct stat st;
	char *dir, *slash;

	dir = realpath(path, NULL);
	if (dir == NULL)
		return NULL;
	for (;;) {
		buf_reset(&b);
		buf_addf(&b, "%s/.git", strcmp(dir, "/") ? dir : "");
		if (lstat(b.data, &st) == 0)
			break;
		slash = strrchr(dir, '/');
		if (slash == NULL || strcmp(dir, "/") == 0) {
			free(dir);
			dir = NULL;
			break;
		}
		slash[slash == dir ? 1 : 0] = '\0';
	}
	buf_release(&b);
	return dir;
}

/*
 * Run `git -C src->path ARGS...` (args NULL-ended) with stdin from
 * /dev/null, its stdout into out (capped by out's limit) and its stderr
 * into err, within LOCAL_GIT_TIMEOUT_MS.  Returns drain_child's result
 * (0 drained, -1 deadline or too much output, -2 stopped) with the exit
 * status in *status, or -3 when git could not be started (logged).
 */
static int
run_git(const struct config_source *src, const char *const *args,
    struct buf *out, struct buf *err, const volatile sig_atomic_t *stop,
    int *status)
{
	const char *argv[16];
	int out_pipe[2], err_pipe[2], drain;
	size_t n = 0;
	pid_t pid;

	argv[n++] = "git";
	argv[n++] = "-C";
	argv[n++] = src->path;
	while (*args != NULL && n < sizeof(argv) / sizeof(*argv) - 1)
		argv[n++] = *args++;
	argv[n] = NULL;
	*status = 0;
	if (pipe2(out_pipe, O_CLOEXEC) == -1) {
		log_fail("source '%s': cannot run git", src->name);
		return -3;
	}
	if (pipe2(err_pipe, O_CLOEXEC) == -1) {
		close(out_pipe[0]);
		close(out_pipe[1]);
		log_fail("source '%s': cannot run git", src->name);
		return -3;
	}
	pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		if (null >= 0)
			dup2(null, 0);
		dup2(out_pipe[1], 1);
		dup2(err_pipe[1], 2);
		execvp("git", (char *const *)argv);
		_exit(127);
	}
	close(out_pipe[1]);
	close(err_pipe[1]);
	if (pid == -1) {
		close(out_pipe[0]);
		close(err_pipe[0]);
		log_fail("source '%s': cannot run git", src->name);
		return -3;
	}
	drain = drain_child(out_pipe[0], err_pipe[0], out, err,
	    now_ms() + LOCAL_GIT_TIMEOUT_MS, stop);
	close(out_pipe[0]);
	close(err_pipe[0]);
	if (drain != 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, status, 0) == -1 && errno == EINTR)
		;
	buf_rtrim(err);
	return drain;
}

/*
 * `git -C DIR ls-files -z -co --exclude-standard` into list (NUL-ended
 * names relative to dir).  Returns 0, 1 when dir is not in a git work
 * tree (a folder outside one needs no git), -1 on error (logged).
 */
static int
git_ls_files(const struct config_source *src, struct buf *list,
    const volatile sig_atomic_t *stop)
{
	static const char *const args[] = { "ls-files", "-z", "-co",
	    "--exclude-standard", NULL };
	struct buf err = BUF_INIT;
	int status, rc = -1, drain;
	bool drained;

	buf_init(&err, 4096);
	drain = run_git(src, args, list, &err, stop, &status);
	if (drain == -3) {
		buf_release(&err);
		return -1;
	}
	drained = drain == 0;
	if (drain == -2)
		log_failx("source '%s': stopped while 'git ls-files' listed "
		    "'%s'", src->name, src->path);
	else if (!drained)
		log_failx("source '%s': 'git ls-files' in '%s' did not finish "
		    "within %d s or listed more than %u bytes; check the "
		    "folder", src->name, src->path, LOCAL_GIT_TIMEOUT_MS / 1000,
		    LOCAL_LIST_MAX);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		rc = 0;
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		/* Read whole, a work tree would send what .gitignore keeps
		 * out (secrets, build output) to the boards. */
		char *top = find_work_tree(src->path);

		if (top == NULL)
			rc = 1;
		else
			log_failx("source '%s': '%s' is in a git work tree "
			    "('%s/.git') but git cannot be run; install git, "
			    "which senko needs to honour .gitignore (read "
			    "whole, the folder would send ignored files such "
			    "as secrets to the boards)", src->name, src->path,
			    strcmp(top, "/") ? top : "");
		free(top);
	} else if (err.len && strstr(err.data, "not a git repository"))
		rc = 1;
	else
		log_failx("source '%s': 'git ls-files' in '%s' failed: %s",
		    src->name, src->path, err.len ? err.data : "no message");
	buf_release(&err);
	return rc;
}

/* Every name under dir (relative to the source's folder) into list,
 * folders walked without following symbolic links, .git left out. */
static int
list_folder(const struct config_source *src, const char *rel, int depth,
    struct buf *list)
{
	struct buf full = BUF_INIT;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (depth > LOCAL_DEPTH_MAX)
		return log_failx("source '%s': folders nested deeper than %d "
		    "in '%s'", src->name, LOCAL_DEPTH_MAX, src->path);
	buf_addf(&full, "%s/%s", src->path, rel);
	d = opendir(full.data);
	if (d == NULL) {
		rc = log_fail("source '%s': cannot list folder '%s'",
		    src->name, full.data);
		goto out;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		struct buf sub = BUF_INIT;
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, ".git") == 0)
			continue;
		if (*rel)
			buf_addf(&sub, "%s/", rel);
		buf_addstr(&sub, de->d_name);
		buf_reset(&full);
		buf_addf(&full, "%s/%s", src->path, sub.data);
		if (lstat(full.data, &st) == 0 && S_ISDIR(st.st_mode))
			rc = list_folder(src, sub.data, depth + 1, list);
		else if (buf_add(list, sub.data, sub.len + 1) == -1)
			rc = log_failx("source '%s': more than %u bytes of "
			    "file names in '%s'", src->name, LOCAL_LIST_MAX,
			    src->path);
		buf_release(&sub);
	}
	closedir(d);
out:
	buf_release(&full);
	return rc;
}

/* Whether real (a resolved path) is root or under it. */
static bool
inside(const char *real, const char *root)
{
	size_t n = strlen(root);

	if (strcmp(root, "/") == 0)
		return true;
	return strncmp(real, root, n) == 0 &&
	    (real[n] == '/' || real[n] == '\0');
}

/*
 * One listed name: read, hashed, stored and added, or refused with a
 * warning.  Returns -1 only when the poll must fail (the store failed, or
 * a file vanished or changed kind under us: the next event polls again).
 */
static int
take_file(struct walk *w, const struct store *store, const char *root,
    const char *rel)
{
	const struct config_source *src = w->src;
	struct buf full = BUF_INIT, data = BUF_INIT;
	char sha[GITHASH_HEXSZ], *real = NULL;
	const char *why;
	struct stat st;
	unsigned mode;
	int rc = 0;

	if (!path_is_safe(rel, strlen(rel), &why)) {
		walk_refuse(w, rel, strlen(rel), why);
		return 0;
	}
	buf_addf(&full, "%s/%s", src->path, rel);
	if (lstat(full.data, &st) == -1) {
		/* Tracked by git but deleted in the work tree: gone. */
		if (errno != ENOENT)
			rc = log_fail("source '%s': cannot read '%s'",
			    src->name, full.data);
		goto out;
	}
	if (S_ISLNK(st.st_mode)) {
		real = realpath(full.data, NULL);
		if (real == NULL || !inside(real, root)) {
			walk_refuse(w, rel, strlen(rel), real ? "a symbolic "
			    "link leading out of the source's folder" :
			    "a symbolic link to nothing");
			goto out;
		}
		if (stat(real, &st) == -1 || !S_ISREG(st.st_mode)) {
			walk_refuse(w, rel, strlen(rel), "a symbolic link to "
			    "something that is not a regular file");
			goto out;
		}
	} else if (S_ISDIR(st.st_mode)) {
		/* git lists a submodule as its folder. */
		walk_refuse(w, rel, strlen(rel), "a git submodule (its files "
		    "are not taken; give it its own [source])");
		goto out;
	} else if (!S_ISREG(st.st_mode)) {
		walk_refuse(w, rel, strlen(rel), S_ISFIFO(st.st_mode) ?
		    "a FIFO, not a regular file" : "not a regular file");
		goto out;
	}
	if ((uint64_t)st.st_size > LOCAL_FILE_MAX) {
		struct buf msg = BUF_INIT;

		buf_addf(&msg, "%llu bytes; senko refuses files over %u "
		    "bytes (add it to exclude)",
		    (unsigned long long)st.st_size, LOCAL_FILE_MAX);
		walk_refuse(w, rel, strlen(rel), msg.data);
		buf_release(&msg);
		goto out;
	}
	buf_init(&data, (size_t)LOCAL_FILE_MAX + 1);
	if (fs_read_regular(real ? real : full.data, "local file", &data,
	    &st) == -1) {
		rc = -1;
		goto out;
	}
	mode = (st.st_mode & 0111) ? 0100755 : 0100644;
	if (githash_mem(data.data, data.len, sha) == -1 ||
	    (!store_has(store, sha) &&
	    store_add_mem(store, data.data, data.len, sha) == -1)) {
		rc = log_failx("source '%s': cannot store '%s'; check "
		    "state_dir", src->name, full.data);
		goto out;
	}
	walk_add_file(w, rel, sha, data.len, mode);
out:
	free(real);
	buf_release(&data);
	buf_release(&full);
	return rc;
}

/* What a folder's content is called in logs and status: a hash of the
 * manifest's paths, modes and blobs. */
static void
content_id(struct manifest *m)
{
	struct buf b = BUF_INIT;
	size_t i;

	for (i = 0; i < m->n; i++)
		buf_addf(&b, "%o %s %s\n", m->entries[i].mode,
		    m->entries[i].sha, m->entries[i].path);
	githash_mem(b.data ? b.data : "", b.len, m->commit);
	buf_release(&b);
}

static int
list_source(const struct config_source *src, struct buf *list, bool *git,
    const volatile sig_atomic_t *stop)
{
	struct stat st;
	int r;

	if (stat(src->path, &st) == -1)
		return log_fail("source '%s': cannot read folder '%s'; check "
		    "path in [source %s]", src->name, src->path, src->name);
	if (!S_ISDIR(st.st_mode))
		return log_failx("source '%s': '%s' is not a folder; check "
		    "path in [source %s]", src->name, src->path, src->name);
	r = git_ls_files(src, list, stop);
	if (r == -1)
		return -1;
	*git = r == 0;
	if (r == 1) {
		buf_reset(list);
		return list_folder(src, "", 0, list);
	}
	return 0;
}

int
local_poll(const struct config *cfg, const struct store *store,
    const struct config_source *src, struct manifest *out, bool *changed,
    const volatile sig_atomic_t *stop)
{
	struct manifest saved = MANIFEST_INIT, fresh = MANIFEST_INIT;
	struct source_state st;
	struct walk w;
	struct buf list = BUF_INIT;
	char *root = NULL;
	bool have_saved, git = false;
	size_t off;
	int rc = -1;

	*changed = false;
	buf_init(&list, LOCAL_LIST_MAX);
	have_saved = source_state_load(cfg, src, &st, &saved);
	if (list_source(src, &list, &git, stop) == -1)
		goto out;
	root = realpath(src->path, NULL);
	if (root == NULL) {
		log_fail("source '%s': cannot resolve '%s'", src->name,
		    src->path);
		goto out;
	}
	memset(&w, 0, sizeof(w));
	w.src = src;
	w.m = &fresh;
	for (off = 0; off < list.len; off += strlen(list.data + off) + 1) {
		if (stop != NULL && *stop) {
			log_failx("source '%s': stopped while reading '%s'",
			    src->name, src->path);
			goto out;
		}
		if (take_file(&w, store, root, list.data + off) == -1)
			goto out;
	}
	manifest_sort(&fresh);
	fresh.complete = true;
	content_id(&fresh);
	walk_warn_unmatched_files(&w);
	*changed = !have_saved || strcmp(saved.commit, fresh.commit) != 0;
	if (*changed && (source_state_save_manifest(cfg, src, &fresh,
	    NULL) == -1 || source_state_save(cfg, src, src->api, fresh.commit,
	    NULL) == -1)) {
		log_failx("source '%s': cannot save its state under '%s'; "
		    "check state_dir", src->name, cfg->state_dir);
		goto out;
	}
	log_info("source '%s': folder '%s'%s, content %.12s, %zu file%s%s",
	    src->name, src->path, git ? " (git work tree)" : "",
	    fresh.commit, fresh.n, fresh.n == 1 ? "" : "s",
	    *changed ? "" : " (unchanged)");
	manifest_release(out);
	*out = fresh;
	manifest_init(&fresh);
	rc = 0;
out:
	free(root);
	buf_release(&list);
	manifest_release(&saved);
	manifest_release(&fresh);
	source_state_release(&st);
	return rc;
}

int
local_fetch_blob(const struct store *store, const struct config_source *src,
    const struct manifest_entry *e, struct buf *why)
{
	const char *args[] = { "cat-file", "blob", e->sha, NULL };
	struct buf data = BUF_INIT, err = BUF_INIT;
	char *top;
	int status, drain, rc = -1;

	top = find_work_tree(src->path);
	if (top == NULL) {
		buf_addf(why, "'%s' (blob %.12s) is no longer in the object "
		    "store, and folder '%s' is not a git work tree, so that "
		    "version of it cannot be found again", e->path, e->sha,
		    src->path);
		return -1;
	}
	free(top);
	if (!githash_is_hex(e->sha) || e->size > LOCAL_FILE_MAX) {
		buf_addf(why, "'%s': blob %.12s cannot be taken from git",
		    e->path, e->sha);
		return -1;
	}
	buf_init(&data, (size_t)LOCAL_FILE_MAX + 1);
	buf_init(&err, 4096);
	drain = run_git(src, args, &data, &err, NULL, &status);
	if (drain == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		/* store_add_mem checks the bytes hash to the SHA. */
		if (store_add_mem(store, data.data ? data.data : "", data.len,
		    e->sha) == 0)
			rc = 0;
		else
			buf_addf(why, "'%s': blob %.12s from the git objects of "
			    "'%s' could not be stored: %s", e->path, e->sha,
			    src->path, log_last_error());
	} else if (drain == 0 && WIFEXITED(status) &&
	    WEXITSTATUS(status) == 127)
		buf_addf(why, "'%s' (blob %.12s) is no longer in the object "
		    "store, and git, which could read it from '%s', cannot be "
		    "run", e->path, e->sha, src->path);
	else if (drain == 0)
		buf_addf(why, "'%s' (blob %.12s) is neither in the object "
		    "store nor among the git objects of '%s' (that version was "
		    "never committed or added)", e->path, e->sha, src->path);
	else
		buf_addf(why, "'%s': 'git cat-file' in '%s' did not finish "
		    "within %d s", e->path, src->path,
		    LOCAL_GIT_TIMEOUT_MS / 1000);
	buf_release(&err);
	buf_release(&data);
	return rc;
}
