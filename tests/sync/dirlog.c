/*
 * dirlog.so: a log of what changes folders and of folder syncs, for tests
 * (LD_PRELOAD=.../dirlog.so SENKO_TEST_DIRLOG=FILE).
 *
 * Each rename, unlink, unlinkat, mkdir and rmdir appends "OP PATH" (the
 * path changed: a rename's target), and each fsync of a folder "fsync
 * PATH", to FILE, in the order they happen.  A change to a folder is
 * durable only once the folder is synced: a test reads the log to check
 * that senko syncs a folder before it writes a file that counts on the
 * change (the mirror's index), as a power cut would otherwise undo it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
note(const char *op, const char *path)
{
	const char *log = getenv("SENKO_TEST_DIRLOG");
	char line[PATH_MAX + 32];
	int fd, n;

	if (log == NULL)
		return;
	fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1)
		return;
	n = snprintf(line, sizeof(line), "%s %s\n", op, path);
	if (n > 0 && (size_t)n < sizeof(line))
		(void)!write(fd, line, (size_t)n);
	close(fd);
}

/* What fd names (its /proc/self/fd link) into buf; false if unknown. */
static bool
fd_path(int fd, char *buf, size_t size)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, buf, size - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return true;
}

/* The absolute path of dirfd/path, as well as it can be told. */
static void
note_at(const char *op, int dirfd, const char *path)
{
	char dir[PATH_MAX], full[2 * PATH_MAX + 2];

	if (path[0] == '/' || dirfd == AT_FDCWD) {
		note(op, path);
		return;
	}
	if (!fd_path(dirfd, dir, sizeof(dir)))
		return;
	snprintf(full, sizeof(full), "%s/%s", dir, path);
	note(op, full);
}

#define REAL(name, type) ((type)dlsym(RTLD_NEXT, name))

int
rename(const char *from, const char *to)
{
	int rc = REAL("rename", int (*)(const char *, const char *))(from, to);

	if (rc == 0)
		note("rename", to);
	return rc;
}

int
unlink(const char *path)
{
	int rc = REAL("unlink", int (*)(const char *))(path);

	if (rc == 0)
		note("unlink", path);
	return rc;
}

int
unlinkat(int dirfd, const char *path, int flags)
{
	int rc = REAL("unlinkat", int (*)(int, const char *, int))(dirfd,
	    path, flags);

	if (rc == 0)
		note_at("unlink", dirfd, path);
	return rc;
}

int
mkdir(const char *path, mode_t mode)
{
	int rc = REAL("mkdir", int (*)(const char *, mode_t))(path, mode);

	if (rc == 0)
		note("mkdir", path);
	return rc;
}

int
rmdir(const char *path)
{
	int rc = REAL("rmdir", int (*)(const char *))(path);

	if (rc == 0)
		note("rmdir", path);
	return rc;
}

int
fsync(int fd)
{
	char path[PATH_MAX];
	struct stat st;

	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) &&
	    fd_path(fd, path, sizeof(path)))
		note("fsync", path);
	return REAL("fsync", int (*)(int))(fd);
}
