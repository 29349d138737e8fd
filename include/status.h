/*
 * status.h - what happened last to each device, for `senko status`.
 *
 * One JSON file per device, state_dir/devices/NAME/status.json, written
 * atomically (fs_write_atomic), so readers such as `senko status` never
 * see a torn file while the daemon runs.  Each device's file is written
 * only by the worker that owns that device, so no locking is needed; the
 * functions keep no shared state and are safe to call from any thread.
 *
 * The state is stored by name (status_state_name()); device_state_name()
 * in sync.h should return the same names so screen and file agree.
 *
 * One more JSON file per source, state_dir/sources/NAME/status.json, says
 * how its last poll went (source_status_*).  The sync engine records each
 * poll with source_status_update() from the thread that polls.  To spare
 * an SD card, the file is rewritten only when what it says changes (the
 * state, commit, error, start of the failure or the rate-limit wait); a
 * poll that changes nothing only advances the file's modification time,
 * which source_status_load() reads as the time of the last poll.
 */
#ifndef SENKO_STATUS_H
#define SENKO_STATUS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "githash.h"
#include "sync.h"

#define STATUS_ERROR_MAX 512

struct device_status {
	enum device_state state;
	char commit[GITHASH_HEXSZ];   /* on the board; "" unknown */
	time_t last_success;          /* epoch seconds; 0 never */
	time_t last_attempt;          /* epoch seconds; 0 never */
	char last_error[STATUS_ERROR_MAX]; /* "" when the last attempt worked */
	unsigned files_sent;          /* by the last attempt */
	uint64_t bytes_sent;
	unsigned files_deleted;
	char platform[32];            /* sys.platform; "" unknown */
	char version[128];            /* os.uname().version; "" unknown */
	/* The boot watch after the last restart (session.h). */
	bool boot_watched;
	bool boot_traceback;          /* a Python traceback appeared */
	char boot_tail[400];          /* its last lines, escaped */
	bool commit_completed;        /* last visit found the board mid-commit
	                                 (a power cut) and completed it */
};

/* All zero: DEVICE_UNKNOWN, never attempted. */
void status_init(struct device_status *st);

/*
 * Read a device's status.  A missing file is not an error: st is
 * DEVICE_UNKNOWN and 0 is returned.  A corrupt file returns -1 (logged,
 * st initialised).
 */
int status_load(const char *state_dir, const char *device,
    struct device_status *st);
/* Write it atomically, creating state_dir/devices/NAME if needed. */
int status_save(const char *state_dir, const char *device,
    const struct device_status *st);

/* The version of the files' and `senko status --json`'s layout: raised
 * when a field is removed or changes meaning, not when one is added. */
#define STATUS_SCHEMA 1

enum source_state {
	SOURCE_UNKNOWN,      /* never polled (or its status file is gone) */
	SOURCE_OK,           /* the last poll and download worked */
	SOURCE_FAILED,       /* the last poll or a download failed */
	SOURCE_RATE_LIMITED, /* the server asked to wait until retry_after */
};

struct source_status {
	enum source_state state;
	char commit[GITHASH_HEXSZ];   /* last commit seen; "" unknown */
	time_t last_poll;             /* epoch seconds; 0 never */
	time_t last_success;          /* epoch seconds; 0 never */
	time_t failing_since;         /* first failed poll in a row; 0 ok */
	time_t retry_after;           /* no request before; 0 no wait */
	char last_error[STATUS_ERROR_MAX]; /* "" when the last poll worked */
};

void source_status_init(struct source_status *st);
/* As status_load(), for state_dir/sources/NAME/status.json. */
int source_status_load(const char *state_dir, const char *source,
    struct source_status *st);
/*
 * Record one poll of source at now: res says how it went, retry_after is
 * the forge's rate-limit wait (0 none).  Returns 0 or -1 (logged).
 */
int source_status_update(const char *state_dir, const char *source,
    const struct sync_source_result *res, time_t retry_after, time_t now);
/* "unknown", "ok", "failed", "rate-limited" */
const char *source_state_name(enum source_state s);

/* "unknown", "in-sync", "updated", "failed", "offline", "busy", "pending",
 * "stopped", "waiting", "rolled-back" */
const char *status_state_name(enum device_state s);
/* The reverse; -1 for an unknown name. */
int status_state_parse(const char *name, enum device_state *out);

/*
 * s as a new JSON string for a state file.  jansson refuses text that is
 * not UTF-8 (a board's garbled error): then each byte >= 0x80 becomes '?'.
 */
json_t *status_json_string(const char *s);

#endif
