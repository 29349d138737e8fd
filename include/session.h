/*
 * session.h - one visit to one board: open, inventory, apply, restart,
 * watch.
 *
 * session_sync() enters the raw REPL once, resets the board inside it
 * (a clean heap, the application not started), runs the agent once
 * (agent.h) to take the inventory and apply the plan in the same run,
 * and ends by restarting the application (reset = soft: one soft reset;
 * hard: a hard reset; none: the board is left at its REPL) and watching
 * what it prints for boot_watch seconds.  3 executions: the probe and
 * the agent's two parts.
 *
 * The board keeps senko's record; a session compares the record's digest
 * and the listing's digest with what the mirror expects and reads the
 * board in full only when they differ.  An update lands as a whole: every
 * file is staged under its temporary name and verified, then a journal
 * on the board lists the renames (and prune's deletes, each guarded by
 * the hash senko wrote) and the agent carries them out in one burst; a
 * journal found at the next visit (a power cut) is completed first.
 *
 * session_leave() is the end of every command that interrupted the
 * application (ls, exec, verify): restart it as the device says.
 *
 * Every open checks the board's unique id against the board the device
 * was last updated on (identity.h, board-id): another device's board
 * (ports re-enumerated) is refused before anything is written, its
 * application given back; a board senko does not know is taken as new
 * by session_sync() (the mirror is not believed, as after a lost
 * state_dir), and remembered once it holds the device's commit.
 */
#ifndef SENKO_SESSION_H
#define SENKO_SESSION_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "manifest.h"

struct mirror;
struct repl;
struct store;

enum session_outcome {
	SESSION_IN_SYNC,   /* nothing to write */
	SESSION_UPDATED,   /* files written or deleted */
	SESSION_FAILED,    /* the board answered, something failed */
	SESSION_STOPPED,   /* the stop flag ended it (the application was
	                      restarted, not watched; see committed) */
	SESSION_OFFLINE,   /* no port, or no answer */
	SESSION_BUSY,      /* another process holds the port */
};

/*
 * What the boot watch saw after the application was restarted.  With
 * health = line REGEX (config.h) the watch reads for health_timeout
 * seconds instead of boot_watch, and ends as soon as a line matches.
 */
struct session_boot {
	bool restarted;     /* the application was restarted (reset) */
	bool watched;       /* ... and watched */
	bool traceback;     /* a Python traceback appeared */
	char tail[400];     /* its last lines, escaped ("" none) */
	bool line_seen;     /* health = line: a line matched the regex */
	bool cut_short;     /* a stop or a lost port ended the watch before
	                       it saw a traceback or the line: not watched */
};

struct session_result {
	enum session_outcome outcome;
	unsigned files_planned, deletes_planned;
	uint64_t bytes_planned;
	unsigned files_sent, files_deleted;
	uint64_t bytes_sent;          /* payload */
	bool commit_completed;        /* found mid-commit and completed it */
	/* The board holds job->upstream whole (committed, or found so),
	 * whatever the outcome: a stop or an error after this point leaves
	 * the new commit on the board, its restart not watched. */
	bool committed;
	char platform[32];
	char version[64];
	struct session_boot boot;
	uint64_t wire_sent, wire_received; /* agent bytes on the line */
};

/* Progress: called as file data goes out; total bytes so far. */
typedef void (*session_progress_fn)(void *arg, const char *path,
    uint64_t bytes);

struct session_job {
	const struct config_device *dev;
	const struct manifest *upstream;
	const struct store *store;      /* borrowed */
	const char *state_dir;          /* for the open mark (openmark.h) */
	struct mirror *mirror;          /* borrowed; kept true to the board */
	/* The mirror as the caller scanned it just before (with 2,000
	 * files a scan is some milliseconds of stat): the session takes it
	 * over and leaves it empty. */
	struct manifest *scanned;
	bool verify;                    /* hash every managed file on the
	                                   board and repair what differs */
	bool wait_busy;
	/* Nonzero: stop between units, restart the application without
	 * watching it boot, all within REPL_STOP_GRACE_MS (repl.h). */
	volatile sig_atomic_t *stop;
	session_progress_fn progress;
	void *progress_arg;
	bool quiet_progress;            /* a progress display shows the
	                                   files: no line per file */
};

/* Bring the board to job->upstream.  Errors are logged; the outcome is
 * in res (log_last_error() says why it failed). */
void session_sync(const struct session_job *job, struct session_result *res);

/*
 * Restart the application after a command that interrupted it, as dev
 * says (soft, hard, or none).  boot, when not NULL, says whether it was
 * restarted and, when watch is true, what the boot watch saw in the
 * dev->boot_watch seconds after (a stopping senkod restarts without
 * watching).  Returns 0, or -1 (logged) when the reset failed.
 */
int session_leave(struct repl *r, const struct config_device *dev,
    struct session_boot *boot, bool watch);
/* Does session_leave() watch dev's application after a restart?  With a
 * reset to restart it, and health = line or a boot_watch. */
bool session_watches(const struct config_device *dev);

/*
 * Open a configured board for a command that interrupts its application
 * (what: "ls", "exec"), marked open in state_dir (openmark.h) until
 * session_close() has restarted the application.  NULL: logged.
 */
struct repl *session_open(const struct config_device *dev,
    const char *state_dir, const char *what,
    const volatile sig_atomic_t *stop);
/* session_leave() without a watch, then the mark goes and the port is
 * closed.  Returns 0, or -1 (logged) when the restart failed (the mark
 * stays: the next sync opens the board again). */
int session_close(struct repl *r, const struct config_device *dev,
    const char *state_dir);

#endif
