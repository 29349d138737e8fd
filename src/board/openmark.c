/*
 * openmark.c - a mark that says a board is open (openmark.h).
 *
 * The file holds one line, "PID PROGRAM WHAT" ("123 senko ls").  Setting
 * and clearing keep errno: they run between a port's opening or closing
 * and the caller's look at why it failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "openmark.h"
#include "xalloc.h"
#include "banned.h"

static char *
mark_path(const char *state_dir, const char *device)
{
	return xasprintf("%s/devices/%s/open", state_dir, device);
}

void
openmark_set(const char *state_dir, const char *device, const char *what)
{
	char *devices = xasprintf("%s/devices", state_dir);
	char *dir = xasprintf("%s/%s", devices, device);
	char *path = mark_path(state_dir, device);
	char line[160];
	int fd, n, saved = errno;

	n = snprintf(line, sizeof(line), "%ld %s %s\n", (long)getpid(),
	    program_invocation_short_name, what);
	/* Quietly: fs_mkdir_p() would log an error, and a device's error
	 * is what its visit failed of (log_last_error()). */
	(void)mkdir(devices, FS_STATE_DIR_MODE);
	(void)mkdir(dir, FS_STATE_DIR_MODE);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    fs_file_mode(0644));
	if (fd == -1) {
		log_debug("%s: cannot mark the board open (%s): %s", device,
		    path, strerror(errno));
	} else {
		if (fs_write_all(fd, line, (size_t)n) == -1)
			log_debug("%s: cannot write %s: %s", device, path,
			    strerror(errno));
		close(fd);
	}
	free(path);
	free(dir);
	free(devices);
	errno = saved;
}

void
openmark_clear(const char *state_dir, const char *device)
{
	char *path = mark_path(state_dir, device);
	int saved = errno;

	if (unlink(path) == -1 && errno != ENOENT)
		log_debug("%s: cannot remove %s: %s", device, path,
		    strerror(errno));
	free(path);
	errno = saved;
}

bool
openmark_left(const char *state_dir, const char *device, char *what,
    size_t whatlen)
{
	char *path = mark_path(state_dir, device);
	char line[160], *end;
	FILE *f;
	long pid;

	f = fopen(path, "re");
	free(path);
	if (f == NULL)
		return false;
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	pid = strtol(line, &end, 10);
	if (end == line || pid <= 0 || *end != ' ') {
		/* Torn or foreign: whoever wrote it is not holding it. */
		snprintf(what, whatlen, "an earlier senko");
		return true;
	}
	if (pid == (long)getpid()) {
		snprintf(what, whatlen, "an earlier visit of this %s (pid %ld)",
		    program_invocation_short_name, pid);
		return true;
	}
	snprintf(what, whatlen, "%s (pid %ld)", end + 1, pid);
	return kill((pid_t)pid, 0) == -1 && errno == ESRCH;
}
