/*
 * statedir.c - warnings about who may use state_dir; see statedir.h.
 */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "statedir.h"
#include "xalloc.h"
#include "banned.h"

/* The user senko's unit and sysusers entry create. */
#define STATEDIR_SERVICE_USER "senko"

static void
user_name(uid_t uid, char *out, size_t size)
{
	struct passwd *pw = getpwuid(uid);

	if (pw != NULL)
		snprintf(out, size, "%s", pw->pw_name);
	else
		snprintf(out, size, "%lu", (unsigned long)uid);
}

/* The nearest folder above path (or path itself) that exists. */
static char *
existing_ancestor(const char *path, struct stat *st)
{
	char *p = xstrdup(path), *slash;

	while (stat(p, st) == -1) {
		slash = strrchr(p, '/');
		if (slash == NULL) {
			free(p);
			p = xstrdup(".");
			if (stat(p, st) == -1)
				memset(st, 0, sizeof(*st));
			break;
		}
		if (slash == p)
			slash[1] = '\0';
		else
			*slash = '\0';
	}
	return p;
}

static void
check_missing(const char *state_dir, const char *me)
{
	struct stat st;
	char *parent = existing_ancestor(state_dir, &st);

	if (access(parent, W_OK | X_OK) == -1 && errno == EACCES)
		log_warnx("state folder '%s' does not exist, and user '%s' "
		    "cannot create it in '%s': create it for the service "
		    "user with 'sudo systemd-tmpfiles --create senko.conf' "
		    "(after 'sudo systemd-sysusers'), then run senko as "
		    "that user", state_dir, me, parent);
	else if (geteuid() == 0 && getpwnam(STATEDIR_SERVICE_USER) != NULL)
		log_warnx("state folder '%s' does not exist and root would "
		    "create it, which user '%s' (senkod) cannot then write: "
		    "create it with 'sudo systemd-tmpfiles --create "
		    "senko.conf' and run 'sudo -u %s senko ...'", state_dir,
		    STATEDIR_SERVICE_USER, STATEDIR_SERVICE_USER);
	free(parent);
}

void
statedir_check(const char *state_dir, bool write, const char *command)
{
	struct stat st;
	char me[64], owner[64];

	user_name(geteuid(), me, sizeof(me));
	if (stat(state_dir, &st) == -1) {
		if (errno == ENOENT)
			check_missing(state_dir, me);
		else if (errno == EACCES)
			log_warnx("user '%s' cannot reach state folder '%s' "
			    "(a folder above it is closed): run senko as the "
			    "user senkod runs as: sudo -u %s %s", me, state_dir,
			    STATEDIR_SERVICE_USER, command);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_warnx("state_dir '%s' is not a folder: set state_dir to a "
		    "folder (senko.conf(5)), or move the file away", state_dir);
		return;
	}
	user_name(st.st_uid, owner, sizeof(owner));
	if (access(state_dir, (write ? W_OK : R_OK) | X_OK) == -1 &&
	    errno == EACCES)
		log_warnx("user '%s' cannot %s state folder '%s', which "
		    "belongs to '%s': run senko as its owner: sudo -u %s %s",
		    me, write ? "write" : "read", state_dir, owner, owner,
		    command);
	else if (write && geteuid() == 0 && st.st_uid != 0)
		log_warnx("running as root in state folder '%s', which "
		    "belongs to '%s': files root writes there are not "
		    "theirs; run senko as the owner: sudo -u %s %s",
		    state_dir, owner, owner, command);
}
