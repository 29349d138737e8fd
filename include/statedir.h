/*
 * statedir.h - can the user running senko use state_dir?
 *
 * A gateway's state folder belongs to the service user (senko); a senko run
 * by hand as another user cannot write it, and one run as root leaves
 * files there that senkod cannot replace.  statedir_check() finds both
 * before a command starts and warns, naming the fix (sudo -u OWNER, or
 * systemd-tmpfiles to create the folder).  senko checks before every command
 * that reads the configuration, senkod after loading it.  It never stops
 * anything: the command's own error follows if the folder really is
 * unusable.
 */
#ifndef SENKO_STATEDIR_H
#define SENKO_STATEDIR_H

#include <stdbool.h>

/* Warn when the calling user cannot write state_dir (write = true) or
 * read it (write = false), or is root in a folder another user owns.
 * command is what to suggest re-running, e.g. "senko sync". */
void statedir_check(const char *state_dir, bool write, const char *command);

#endif
