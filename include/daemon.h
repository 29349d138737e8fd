/*
 * daemon.h - senkod's main loop.
 *
 * Polls every `interval` (plus a little jitter so a fleet of gateways does
 * not hit GitHub in lockstep), syncs what changed, and sleeps in one
 * ppoll() until the earliest deadline: the next poll, a device's retry, or
 * a signal.  A failing device is retried with exponential back-off
 * (DAEMON_BACKOFF_MIN doubling up to DAEMON_BACKOFF_MAX) without delaying
 * the others; rate-limit waits from the forge delay every poll.
 *
 * Signals only set flags (the handlers are in daemon.c); the loop acts on
 * them: SIGHUP re-reads the configuration (a broken file is rejected and
 * the old one keeps running), SIGUSR1 polls now, SIGTERM/SIGINT stop after
 * the files in flight (within 5 s: see sync_options.stop); a second one
 * ends the process at once.  Talks to systemd through notify.h: READY=1,
 * STATUS=, the watchdog, RELOADING=1 and STOPPING=1.
 *
 * The struct daemon owns the configuration and the sync engine.
 */
#ifndef SENKO_DAEMON_H
#define SENKO_DAEMON_H

#include <stdbool.h>
#include <time.h>

#include "config.h"
#include "sync.h"

struct mqtt;

#define DAEMON_BACKOFF_MIN 5     /* seconds */
#define DAEMON_BACKOFF_MAX 600
/* The object store is collected after the first poll, then at most this
 * often (seconds); senkod --once collects after its cycle. */
#define DAEMON_GC_INTERVAL 3600

/* senkod's view of one device between cycles. */
struct daemon_device {
	char *name;             /* owned */
	enum device_state last; /* outcome of the last attempt */
	char last_error[512];   /* its message when it failed, else "" */
	unsigned failures;      /* in a row */
	bool failures_before_run; /* failing when this process started
	                          (senkod --once: from the status file) */
	time_t retry_at;        /* CLOCK_MONOTONIC s; 0: at the next poll */
	bool check;             /* at its next visit open the board and read
	                          its record (hotplug, verify_interval) */
	time_t verify_at;       /* CLOCK_MONOTONIC s of its next check by
	                          verify_interval; 0: not scheduled */
};

/* Times below are CLOCK_MONOTONIC seconds: a wall-clock step (NTP at
 * boot) moves no poll, back-off or watchdog verdict. */
struct daemon {
	char *start_dir;        /* the folder senkod started in; owned */
	char *config_path;      /* absolute (a detached senkod is in /) */
	struct config *cfg;     /* owned */
	struct sync_engine engine;
	struct daemon_device *devices; /* per cfg->devices index, owned */
	time_t next_poll;       /* CLOCK_MONOTONIC s */
	time_t next_gc;         /* CLOCK_MONOTONIC s; 0: after the next poll */
	unsigned source_failures;
	bool *source_failing;   /* per source: its last poll failed, so the
	                          next one runs quiet; owned */
	unsigned long cycles;
	struct mqtt *mqtt;      /* the [mqtt] client, NULL without; owned */
};

/* Load the configuration and open the engine.  Returns 0, or -1 with the
 * exit status in *status (78 for a configuration error, else 1).  A
 * relative config_path and state_dir are taken from the current folder,
 * now and at every reload, so senkod may then detach into '/'. */
int daemon_init(struct daemon *d, const char *config_path, int *status);
void daemon_release(struct daemon *d);

/* Run one cycle over every device (senkod --once).  Returns the exit
 * status: 0 all in sync, 1 something failed. */
int daemon_once(struct daemon *d);

/* Run until SIGTERM/SIGINT.  Returns the exit status (0). */
int daemon_run(struct daemon *d);

#endif
