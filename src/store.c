/*
 * store.c - verified blob storage; see store.h.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "store.h"
#include "xalloc.h"
#include "banned.h"

/* A temporary file this old was left by a writer that died. */
#define STORE_STALE_TMP_SECONDS 3600

int
store_init(struct store *s, const char *state_dir)
{
	s->dir = xasprintf("%s/objects", state_dir);
	if (store_prepare(s) == -1) {
		store_release(s);
		return -1;
	}
	return 0;
}

int
store_prepare(const struct store *s)
{
	if (fs_mkdir_p(s->dir, FS_STATE_DIR_MODE) == -1)
		return log_failx("cannot create the object store '%s': check "
		    "state_dir and its permissions", s->dir);
	fs_sweep_stale(s->dir, "tmp-", STORE_STALE_TMP_SECONDS);
	return 0;
}

void
store_release(struct store *s)
{
	free(s->dir);
	s->dir = NULL;
}

char *
store_blob_path(const struct store *s, const char *sha)
{
	return xasprintf("%s/%.2s/%s", s->dir, sha, sha + 2);
}

bool
store_has(const struct store *s, const char *sha)
{
	struct stat st;
	char *path;
	bool found;

	if (!githash_is_hex(sha))
		return false;
	path = store_blob_path(s, sha);
	found = stat(path, &st) == 0;
	/* Asked for, it is about to be used: dated now (at most once per
	 * STORE_REFRESH_SECONDS, no write for every poll), so a collection
	 * in another process gives it the whole grace.  Collected between
	 * the two calls: missing after all. */
	if (found && st.st_mtime < time(NULL) - STORE_REFRESH_SECONDS &&
	    utimensat(AT_FDCWD, path, NULL, 0) == -1 && errno == ENOENT)
		found = false;
	free(path);
	return found;
}

int
store_begin(const struct store *s, struct store_tmp *t)
{
	t->path = xasprintf("%s/tmp-XXXXXX", s->dir);
	t->fd = mkostemp(t->path, O_CLOEXEC);
	if (t->fd == -1) {
		log_fail("cannot create a temporary file in '%s'", s->dir);
		free(t->path);
		t->path = NULL;
		return -1;
	}
	return 0;
}

void
store_abort(struct store_tmp *t)
{
	if (t->fd != -1)
		close(t->fd);
	if (t->path) {
		unlink(t->path);
		free(t->path);
	}
	t->fd = -1;
	t->path = NULL;
}

int
store_commit(const struct store *s, struct store_tmp *t, const char *sha)
{
	char got[GITHASH_HEXSZ];
	char *final = NULL, *fan = NULL;
	int rc = -1;

	if (!githash_is_hex(sha)) {
		log_failx("refusing blob: '%.40s' is not a git SHA", sha);
		goto out;
	}
	if (fsync(t->fd) == -1) {
		log_fail("cannot sync '%s'", t->path);
		goto out;
	}
	if (githash_fd(t->fd, t->path, got) == -1)
		goto out;
	if (strcmp(got, sha) != 0) {
		log_failx("refusing blob %s: its bytes hash to %s (corrupted "
		    "or truncated download); nothing stored", sha, got);
		goto out;
	}
	fan = xasprintf("%s/%.2s", s->dir, sha);
	if (mkdir(fan, FS_STATE_DIR_MODE) == -1 && errno != EEXIST) {
		log_fail("cannot create folder '%s'", fan);
		goto out;
	}
	if (fchmod(t->fd, fs_file_mode(0444)) == -1) {
		log_fail("cannot chmod '%s'", t->path);
		goto out;
	}
	final = store_blob_path(s, sha);
	if (rename(t->path, final) == -1) {
		log_fail("cannot rename '%s' to '%s'", t->path, final);
		goto out;
	}
	free(t->path);
	t->path = NULL;
	rc = fs_fsync_dir(fan);
out:
	store_abort(t);
	free(fan);
	free(final);
	return rc;
}

int
store_add_mem(const struct store *s, const void *data, size_t len,
    const char *sha)
{
	struct store_tmp t;

	if (store_begin(s, &t) == -1)
		return -1;
	if (fs_write_all(t.fd, data, len) == -1) {
		log_fail("cannot write '%s'", t.path);
		store_abort(&t);
		return -1;
	}
	return store_commit(s, &t, sha);
}

int
store_open_blob(const struct store *s, const char *sha, uint64_t *size)
{
	char got[GITHASH_HEXSZ];
	struct stat st;
	char *path;
	int fd;

	if (!githash_is_hex(sha)) {
		errno = EINVAL;
		return log_failx("'%.40s' is not a git SHA", sha);
	}
	path = store_blob_path(s, sha);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		int saved = errno;

		free(path);
		errno = saved;
		return -1;
	}
	if (githash_fd(fd, path, got) == -1 || strcmp(got, sha) != 0 ||
	    fstat(fd, &st) == -1) {
		log_warnx("object store: blob '%s' is corrupt; removed, it "
		    "will be fetched again", path);
		close(fd);
		unlink(path);
		free(path);
		errno = ENOENT;
		return -1;
	}
	free(path);
	*size = (uint64_t)st.st_size;
	return fd;
}

static int
compare_sha(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Remove the unkept blobs of one fan-out folder, objects/ab/. */
static void
gc_fan(const char *fan, const char *prefix, const char **keep, size_t nkeep,
    time_t before, unsigned *removed)
{
	DIR *d = opendir(fan);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		char sha[GITHASH_HEXSZ];
		const char *key = sha;
		struct stat st;

		if (strlen(de->d_name) != GITHASH_HEXSZ - 3)
			continue; /* not a blob (".", "..", strangers) */
		snprintf(sha, sizeof(sha), "%s%s", prefix, de->d_name);
		if (!githash_is_hex(sha) || bsearch(&key, keep, nkeep,
		    sizeof(*keep), compare_sha) != NULL)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
		    -1 || !S_ISREG(st.st_mode) || st.st_mtime > before)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			(*removed)++;
		else if (errno != ENOENT)
			log_warn("object store: cannot remove '%s/%s'", fan,
			    de->d_name);
	}
	closedir(d);
}

int
store_gc(const struct store *s, const char **keep, size_t nkeep,
    long grace_seconds, unsigned *removed)
{
	DIR *d = opendir(s->dir);
	struct dirent *de;
	time_t before = time(NULL) - grace_seconds; /* file dates: wall */

	*removed = 0;
	if (d == NULL)
		return log_fail("cannot read the object store '%s'", s->dir);
	qsort(keep, nkeep, sizeof(*keep), compare_sha);
	while ((de = readdir(d)) != NULL) {
		char *fan;

		if (strlen(de->d_name) != 2 || !isxdigit((unsigned char)
		    de->d_name[0]) || !isxdigit((unsigned char)de->d_name[1]))
			continue;
		fan = xasprintf("%s/%s", s->dir, de->d_name);
		gc_fan(fan, de->d_name, keep, nkeep, before, removed);
		free(fan);
	}
	closedir(d);
	return 0;
}
