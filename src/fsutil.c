/*
 * fsutil.c - atomic writes and friends; see fsutil.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "log.h"
#include "xalloc.h"
#include "banned.h"

static mode_t process_umask;
static pthread_once_t umask_once = PTHREAD_ONCE_INIT;

/*
 * umask(2) can only be read by setting it, which would race with threads
 * creating files; Linux shows it in /proc/self/status.  The umask(2)
 * fallback runs once, from the first caller, before any file is written.
 */
static void
read_umask(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[128];
	unsigned int m;

	if (f != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "Umask: %o", &m) == 1) {
				process_umask = (mode_t)m & 0777;
				fclose(f);
				return;
			}
		fclose(f);
	}
	process_umask = umask(022);
	umask(process_umask);
}

mode_t
fs_file_mode(mode_t mode)
{
	pthread_once(&umask_once, read_umask);
	return mode & ~process_umask;
}

int
fs_mkdir_private(const char *path)
{
	char *copy = xstrdup(path);
	char *parent = dirname(copy);
	struct stat st;
	int rc;

	rc = strcmp(parent, ".") == 0 || strcmp(parent, "/") == 0 ? 0 :
	    fs_mkdir_p(parent, 0755);
	free(copy);
	if (rc == -1)
		return -1;
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		return log_fail("cannot create folder '%s'", path);
	if (stat(path, &st) == -1)
		return log_fail("cannot create folder '%s'", path);
	if (!S_ISDIR(st.st_mode))
		return log_failx("'%s' exists and is not a folder", path);
	return 0;
}

int
fs_mkdir_p(const char *path, mode_t mode)
{
	char *copy = xstrdup(path);
	char *p;
	struct stat st;

	for (p = copy + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;

		*p = '\0';
		if (mkdir(copy, mode) == -1 && errno != EEXIST) {
			log_fail("cannot create folder '%s'", copy);
			free(copy);
			return -1;
		}
		*p = saved;
		if (saved == '\0')
			break;
	}
	free(copy);
	if (stat(path, &st) == -1)
		return log_fail("cannot create folder '%s'", path);
	if (!S_ISDIR(st.st_mode))
		return log_failx("'%s' exists and is not a folder", path);
	return 0;
}

int
fs_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd == -1)
		return log_fail("cannot open folder '%s'", dir);
	if (fsync(fd) == -1 && errno != EINVAL) {
		close(fd);
		return log_fail("cannot sync folder '%s'", dir);
	}
	close(fd);
	return 0;
}

int
fs_mkstemp_beside(const char *path, char **tmp_path)
{
	char *copy = xstrdup(path);
	char *base = xstrdup(basename(copy));
	char *dir;
	int fd;

	free(copy);
	copy = xstrdup(path);
	dir = dirname(copy);
	*tmp_path = xasprintf("%s/.%s.XXXXXX", dir, base);
	free(base);
	free(copy);
	fd = mkostemp(*tmp_path, O_CLOEXEC);
	if (fd == -1) {
		log_fail("cannot create a temporary file for '%s'", path);
		free(*tmp_path);
		*tmp_path = NULL;
	}
	return fd;
}

int
fs_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Write path through a temporary file beside it, given mode exactly. */
static int
write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char *tmp, *copy;
	int fd, rc = -1;

	fd = fs_mkstemp_beside(path, &tmp);
	if (fd == -1)
		return -1;
	if (fs_write_all(fd, data, len) == -1) {
		log_fail("cannot write '%s'", tmp);
		goto out;
	}
	if (fchmod(fd, mode) == -1 || fsync(fd) == -1) {
		log_fail("cannot sync '%s'", tmp);
		goto out;
	}
	if (close(fd) == -1) {
		fd = -1;
		log_fail("cannot write '%s'", tmp);
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) == -1) {
		log_fail("cannot rename '%s' to '%s'", tmp, path);
		goto out;
	}
	copy = xstrdup(path);
	rc = fs_fsync_dir(dirname(copy));
	free(copy);
out:
	if (fd != -1)
		close(fd);
	if (rc == -1)
		unlink(tmp);
	free(tmp);
	return rc;
}

int
fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	return write_atomic(path, data, len, fs_file_mode(mode));
}

int
fs_write_atomic_mode(const char *path, const void *data, size_t len,
    mode_t mode)
{
	return write_atomic(path, data, len, mode);
}

int
fs_read_file(const char *path, struct buf *out)
{
	char chunk[8192];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return log_fail("cannot open '%s'", path);
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (buf_add(out, chunk, (size_t)n) == -1) {
			close(fd);
			return log_failx("'%s' is larger than %zu bytes", path,
			    out->max ? out->max : (size_t)BUF_DEFAULT_MAX);
		}
	}
	if (n == -1) {
		log_fail("cannot read '%s'", path);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

static const char *
file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a folder";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device";
	if (S_ISSOCK(mode))
		return "a socket";
	return "not a regular file";
}

int
fs_read_regular(const char *path, const char *what, struct buf *out,
    struct stat *st)
{
	struct stat local;
	char chunk[8192];
	ssize_t n;
	int fd;

	if (st == NULL)
		st = &local;
	/* O_NONBLOCK: opening a FIFO with no writer must not hang. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1)
		return log_fail("cannot read %s '%s'", what, path);
	if (fstat(fd, st) == -1) {
		log_fail("cannot read %s '%s'", what, path);
		close(fd);
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return log_failx("%s '%s' is %s, not a regular file", what,
		    path, file_kind(st->st_mode));
	}
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			log_fail("cannot read %s '%s'", what, path);
			close(fd);
			return -1;
		}
		if (buf_add(out, chunk, (size_t)n) == -1) {
			close(fd);
			return log_failx("%s '%s' is larger than %zu bytes; "
			    "refused", what, path, out->max ? out->max :
			    (size_t)BUF_DEFAULT_MAX);
		}
	}
	close(fd);
	return 0;
}

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	if (remove(path) == -1 && errno != ENOENT)
		return log_fail("cannot remove '%s'", path);
	return 0;
}

int
fs_remove_tree(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == -1)
		return errno == ENOENT ? 0 : log_fail("cannot stat '%s'", path);
	return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

void
fs_sweep_stale(const char *dir, const char *prefix, long max_age)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	time_t now = time(NULL);
	size_t n = strlen(prefix);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (strncmp(de->d_name, prefix, n) != 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0 && now - st.st_mtime > max_age)
			unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}
