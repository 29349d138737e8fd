/*
 * syncrun.h - one cycle's shared state, inside the sync engine only
 * (sync.c runs the cycle and its workers; syncroll.c decides the rollout's
 * part of it: pins, which board of a wave gets what, when a ring is
 * released).  Nothing outside those two files includes it.
 */
#ifndef SENKO_SYNCRUN_H
#define SENKO_SYNCRUN_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "manifest.h"
#include "progress.h"
#include "rollout.h"
#include "store.h"
#include "sync.h"

struct forge;

struct sync_run {
	const struct config *cfg;
	const struct store *store;
	struct forge *forge;          /* main thread only; NULL: none */
	const struct sync_options *opts;
	struct manifest *manifests;   /* per source */
	bool *have_manifest;          /* per source */
	struct sync_report *report;
	struct progress progress;
	pthread_mutex_t lock;         /* guards next */
	size_t next;                  /* next device index to consider */
	/* The rollout (rollout.h), decided by the main thread before each
	 * wave (one wave per ring, lowest first). */
	unsigned wave;
	struct rollout_source *rollouts; /* per source */
	struct rollout_device *records;  /* per device, as of its decision */
	enum rollout_action *actions;    /* per device */
	struct manifest *pins;           /* per device: its pin's manifest */
	bool *pinned;                    /* per device */
	struct manifest *targets;        /* per device: a rollback's */
	char (*prep_error)[512];         /* per device: no target ("" ok) */
};

/* Asked for in this cycle (all devices when the caller named none). */
static inline bool
sync_device_is_due(const struct sync_run *run, size_t i)
{
	return run->opts->device_due == NULL || run->opts->device_due[i];
}

static inline bool
sync_stop_requested(const struct sync_run *run)
{
	return run->opts->stop != NULL && *run->opts->stop;
}

/*
 * Start of a cycle, after the polls: each polled source's rollout state,
 * each due device's record and pin (resolved, its blobs fetched).
 */
void sync_rollout_prepare(struct sync_run *run, struct forge *forge);
/* What due device i of the running wave gets (run->actions[i]). */
void sync_rollout_decide(struct sync_run *run, size_t i);
/* After a wave: release the next ring of sources whose boards are healthy. */
void sync_rollout_after_wave(struct sync_run *run);

#endif
