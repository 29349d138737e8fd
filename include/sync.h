/*
 * sync.h - the sync engine: one cycle of poll, download and fleet push.
 *
 * Worker threads start with every signal blocked, so signals reach the
 * thread that called sync_cycle() (senkod's main loop) and nothing else.
 *
 * A cycle polls each source that has a due device once, downloads each
 * missing blob once into the object store, then brings every due device
 * to its source's manifest, `jobs` boards at a time, each in its own
 * thread with its own serial port and mirror.  One failing board or
 * source never stops the others; each outcome is recorded in the device's
 * status file (rewritten only when something in it changed, or when its
 * last_attempt is an hour old: no SD-card wear for a quiet poll) and
 * returned in the report.
 *
 * The safe rollout (rollout.h) orders the fleet: the due devices go in
 * waves, one per ring, lowest first; before each wave every device's
 * action is decided (its source's commit, its pin's, a rollback to its
 * last healthy commit, or nothing yet), after each the next ring is
 * released when its boards are healthy.  A visit that brought a board to
 * a commit judges its health; a failure marks the commit bad, halts the
 * rollout and rolls the board back in the same visit.
 *
 * Each cycle re-creates what is missing in state_dir (a folder deleted
 * under a running senkod).  A board is opened only when every blob of its
 * source's commit is in the store, and after a failed or stopped push
 * neither the board's record nor the mirror's index is written: the next
 * visit checks the board by hash.
 *
 * The engine keeps no state between cycles beyond what is on disk
 * (state_dir), so senkod and `senko sync` can take turns on one gateway.
 */
#ifndef SENKO_SYNC_H
#define SENKO_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "store.h"

struct forge;

/* Names for these: status_state_name() in status.h. */
enum device_state {
	DEVICE_UNKNOWN,  /* never synced */
	DEVICE_IN_SYNC,  /* nothing to do: board matched the manifest */
	DEVICE_UPDATED,  /* files were written this cycle */
	DEVICE_FAILED,   /* the board answered but something failed */
	DEVICE_OFFLINE,  /* no port, or the board does not answer */
	DEVICE_BUSY,     /* another process holds the port */
	DEVICE_PENDING,  /* check mode: updates waiting */
	DEVICE_STOPPED,  /* a stop request (SIGTERM, Ctrl-C) ended the visit,
	                    or came before it; the next sync carries on */
	DEVICE_WAITING,  /* the rollout holds it back (its ring's turn has
	                    not come, or the commit is bad): left alone */
	DEVICE_ROLLED_BACK, /* it failed its health check and was rolled back
	                    to its last healthy commit (a failure) */
};

struct sync_device_result {
	enum device_state state;
	unsigned files_planned;   /* files the plan would write */
	unsigned deletes_planned; /* files the plan would delete */
	uint64_t bytes_planned;
	unsigned files_sent;
	unsigned files_deleted;
	uint64_t bytes_sent;   /* payload bytes */
	char commit[41];
	char error[512];       /* why it failed, "" if it did not */
	bool attempted;        /* the cycle visited it (it was due) */
	uint64_t duration_ms;  /* how long its visit took */
	char note[512];        /* DEVICE_WAITING: why ("" otherwise) */
};

struct sync_source_result {
	int ok;                /* 0 polled fine, -1 failed */
	bool polled;           /* the cycle asked the forge about it */
	unsigned requests;     /* API requests made for it this cycle */
	bool changed;
	char commit[41];
	char error[512];
	bool halted;           /* its rollout is halted on this commit
	                          (a board failed its health check) */
};

struct sync_options {
	bool check_only;       /* senko check: compare, touch no board */
	bool progress;         /* a live progress display on stderr */
	bool force;            /* open every due board even if the mirror
	                          matches (verify its record) */
	bool verify;           /* and hash every managed file on it,
	                          repairing what differs (implies force) */
	bool wait_busy;        /* a port held by another process: wait */
	bool saved_manifests;  /* ask no server: use each source's manifest
	                          from the last poll (retrying a board) */
	bool now;              /* bring the due devices to their source's
	                          commit (or pin) whatever the rollout says */
	const bool *device_due; /* per cfg->devices index; NULL = all due */
	const bool *device_force; /* per device: force (above) for it alone
	                          (senkod: a board plugged in, verify_interval);
	                          NULL = none */
	const bool *device_quiet; /* per device: print no messages (they are
	                          still in the report); NULL = none quiet */
	const bool *source_quiet; /* per source: the same for its poll */
	volatile sig_atomic_t *stop; /* nonzero: stop after the files in
	                          flight (set by a signal handler): no new
	                          source, download or device is started,
	                          opening a board is cut short, a push ends
	                          after its current group */
};

struct sync_report {
	struct sync_device_result *devices; /* per cfg->devices index */
	struct sync_source_result *sources; /* per cfg->sources index */
	size_t ndevices;
	size_t nsources;
	time_t retry_after;    /* rate limit: no request before this time */
	long rate_limit_remaining; /* forge_stats(); -1 unknown */
	time_t next_release;   /* a ring's soak ends then (epoch seconds,
	                          later than the cycle): poll again to
	                          release the next; 0 none */
};

/* What a cycle works with: the object store and the forge. */
struct sync_engine {
	struct store *store; /* owned */
	struct forge *forge; /* owned */
};

/* sync_engine_open: the configuration is at fault (the token file). */
#define SYNC_ECONFIG (-2)

/*
 * Create state_dir, the store and the forge for cfg.  Returns 0, -1, or
 * SYNC_ECONFIG (logged; the commands exit 78 for it).
 */
int sync_engine_open(struct sync_engine *e, const struct config *cfg);
void sync_engine_close(struct sync_engine *e);

/*
 * Run one cycle over cfg.  forge and store are borrowed.  Fills report
 * (release with sync_report_release).  Returns the exit status design.md
 * gives: 0 all in sync, 1 some device or source failed; with check_only,
 * 100 when updates are pending.
 */
int sync_cycle(const struct config *cfg, struct forge *forge,
    const struct store *store, const struct sync_options *opts,
    struct sync_report *report);
void sync_report_release(struct sync_report *report);

/*
 * `senko rollback`: bring device index back to ref (a tag, branch or
 * commit SHA of its source), or to its last healthy commit when ref is
 * NULL, with the same verified, journaled push and a health check.  Every
 * blob of the target is in the store first (fetched again from the forge,
 * or a local folder's git objects, when garbage collection took it); when
 * one cannot be had, it fails having changed nothing.  Then, when the
 * board was on its source's rollout commit, that commit is marked bad
 * and the rollout halted (the operator said it is bad).  Waits for
 * the port when senkod holds it.  res is filled as by a cycle; returns
 * 0, 1 (failed) or 2 (nothing to roll back to).
 */
int sync_rollback(const struct config *cfg, const struct sync_engine *e,
    size_t index, const char *ref, volatile sig_atomic_t *stop,
    struct sync_device_result *res);

/* Blobs unreferenced for this long may be collected (store_gc). */
#define SYNC_GC_GRACE_SECONDS 3600
/* A blob checked with store_has has this long before it may go. */
_Static_assert(SYNC_GC_GRACE_SECONDS - STORE_REFRESH_SECONDS >= 1800,
    "a reused blob must outlive the run that checked it");
/*
 * Collect the object store's garbage: keep every blob of each source's
 * saved manifest (what the boards are brought to) and of each device's
 * mirror (what each board runs now, so a board that is behind, offline or
 * rolled back loses nothing), and of each device's healthy commits and
 * pin (rollout.h: what a rollback pushes); remove other blobs older than
 * SYNC_GC_GRACE_SECONDS.  A device whose mirror or rollout state cannot
 * be read is warned of and keeps what its readable files name; the
 * others are collected all the same (what its rollback may then miss is
 * fetched again before anything is changed, see sync_rollback).  Run
 * between cycles (senkod does, at most every DAEMON_GC_INTERVAL).
 * Returns 0 or -1.
 */
int sync_engine_gc(const struct sync_engine *e, const struct config *cfg);

#endif
