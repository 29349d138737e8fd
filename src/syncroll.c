/*
 * syncroll.c - the rollout's part of a sync cycle (see syncrun.h and
 * rollout.h): before the waves, each source's rollout and each due
 * device's pin; per wave, what each board gets (update, wait, hold, pin,
 * roll back); after a wave, whether the next ring is released.  The
 * decisions themselves are rollout.c's pure functions; this file feeds
 * them the cycle's state and saves what they decide.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "forge.h"
#include "log.h"
#include "rollout.h"
#include "status.h"
#include "syncrun.h"
#include "xalloc.h"
#include "banned.h"

/* The pin that applies to device i: `senko pin`'s, else the config's. */
static const char *
pin_ref(const struct sync_run *run, size_t i)
{
	if (*run->records[i].pin)
		return run->records[i].pin;
	return run->cfg->devices[i].pin;
}

/* The lowest ring of source s's unpinned boards (where a rollout starts). */
static unsigned
first_ring(const struct sync_run *run, size_t s)
{
	unsigned ring = CONFIG_RING_MAX;
	size_t i;

	for (i = 0; i < run->cfg->ndevices; i++)
		if (run->cfg->devices[i].source_index == s &&
		    pin_ref(run, i) == NULL && run->cfg->devices[i].ring < ring)
			ring = run->cfg->devices[i].ring;
	return ring;
}

/*
 * Resolve device i's pin to a manifest whose blobs are all in the store:
 * the saved one when the ref still names its commit (one request; none
 * for a pin to a whole commit SHA, which cannot move), else read afresh
 * and saved.  Without the network (saved manifests, check
 * mode), the saved one only.
 */
static void
prepare_pin(struct sync_run *run, struct forge *forge, size_t i,
    const char *ref)
{
	const struct config_device *dev = &run->cfg->devices[i];
	const struct config_source *src = &run->cfg->sources[dev->source_index];
	struct manifest saved = MANIFEST_INIT, fresh = MANIFEST_INIT;
	bool have_saved;
	int rc;

	run->pinned[i] = true;
	have_saved = rollout_pin_manifest(run->cfg->state_dir, dev->name, ref,
	    &saved) == 0;
	if (run->opts->saved_manifests || forge == NULL)
		rc = have_saved ? 1 : -1;
	else if (have_saved && strcmp(ref, saved.commit) == 0)
		rc = 1; /* a pin to a whole commit SHA never moves: no request */
	else
		rc = forge_manifest_at(forge, src, ref, have_saved ?
		    saved.commit : NULL, &fresh);
	if (rc == 1) {
		manifest_release(&fresh);
		fresh = saved;
		manifest_init(&saved);
	} else if (rc == -1 && have_saved) {
		log_warnx("%s: cannot resolve its pin '%s' now; using commit "
		    "%.7s it resolved to before", dev->name, ref, saved.commit);
		manifest_release(&fresh);
		fresh = saved;
		manifest_init(&saved);
	} else if (rc == 0 && !run->opts->check_only &&
	    rollout_pin_save(run->cfg->state_dir, dev->name, ref,
	    &fresh) == -1)
		rc = -1;
	if (rc == -1 && !have_saved) {
		snprintf(run->prep_error[i], sizeof(run->prep_error[i]), "cannot "
		    "resolve its pin '%s' in source '%s': %s", ref, src->name,
		    log_last_error());
	} else if (!run->opts->check_only && forge != NULL &&
	    forge_fetch_blobs(forge, src, &fresh) == -1) {
		snprintf(run->prep_error[i], sizeof(run->prep_error[i]), "the "
		    "files of its pin '%s' (commit %.7s) cannot be fetched: "
		    "%s", ref, fresh.commit, log_last_error());
	}
	manifest_release(&run->pins[i]);
	run->pins[i] = fresh;
	manifest_release(&saved);
}

/*
 * Start of a cycle, after the polls: each polled source's rollout state
 * (a new commit starts a rollout at the first ring), each due device's
 * record and pin.
 */
void
sync_rollout_prepare(struct sync_run *run, struct forge *forge)
{
	const struct config *cfg = run->cfg;
	size_t i;
	int fd;

	for (i = 0; i < cfg->ndevices; i++)
		rollout_device_load(cfg->state_dir, cfg->devices[i].name,
		    &run->records[i]);
	/* senko check only reads (it may run as a user who cannot write
	 * state_dir). */
	fd = run->opts->check_only ? -1 : rollout_lock(cfg->state_dir);
	for (i = 0; i < cfg->nsources; i++) {
		struct rollout_source *ro = &run->rollouts[i];

		rollout_source_load(cfg->state_dir, cfg->sources[i].name, ro);
		if (!run->have_manifest[i] || run->opts->check_only)
			continue;
		if (rollout_begin(ro, run->manifests[i].commit,
		    first_ring(run, i), time(NULL))) {
			if (!ro->halted)
				log_info("source '%s': rolling out commit %.7s, "
				    "ring %u first", cfg->sources[i].name,
				    ro->commit, ro->ring);
			rollout_source_save(cfg->state_dir,
			    cfg->sources[i].name, ro);
		}
	}
	rollout_unlock(fd);
	for (i = 0; i < cfg->ndevices; i++) {
		const char *ref = pin_ref(run, i);

		if (sync_device_is_due(run, i) && ref != NULL &&
		    !sync_stop_requested(run))
			prepare_pin(run, forge, i, ref);
	}
}

/* Is any blob of m missing from the store? */
static bool
blobs_missing(const struct sync_run *run, const struct manifest *m)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (!store_has(run->store, m->entries[i].sha))
			return true;
	return false;
}

/*
 * Device i is rolled back to its last healthy commit, whose manifest is
 * loaded into run->targets[i] with every blob in the store: garbage
 * collection keeps the last and previous healthy commits' blobs, but one
 * taken before (or by hand) is fetched again here, in the main thread,
 * before the board is visited.  Otherwise prep_error says what is missing
 * and what to do.
 */
static void
prepare_rollback(struct sync_run *run, size_t i, const char *back)
{
	const struct config_device *dev = &run->cfg->devices[i];
	const struct config_source *src = &run->cfg->sources[dev->source_index];

	if (back == NULL) {
		snprintf(run->prep_error[i], sizeof(run->prep_error[i]), "no "
		    "healthy commit is recorded to roll it back to");
		return;
	}
	if (rollout_healthy_manifest(run->cfg->state_dir, dev->name, back,
	    &run->targets[i]) == -1) {
		snprintf(run->prep_error[i], sizeof(run->prep_error[i]), "%s",
		    log_last_error());
		return;
	}
	if (!blobs_missing(run, &run->targets[i]))
		return;
	if (run->forge != NULL && forge_fetch_blobs(run->forge, src,
	    &run->targets[i]) == 0)
		return;
	snprintf(run->prep_error[i], sizeof(run->prep_error[i]), "cannot roll "
	    "back to %.7s, the last commit it was healthy on: %.300s; %s",
	    back, run->forge ? log_last_error() : "files are missing",
	    src->path ? "mend the files in its folder (the new content is "
	    "rolled out to it) or put that version back" : "tried again at "
	    "the next poll");
}

/*
 * A board that gets an update and is rolled back when it fails its check
 * is rolled back in the same visit, in its worker thread, which cannot
 * fetch: the blobs of the commit it would go back to are fetched now
 * when some are missing.  Quietly: the rollback, if it comes, says what
 * is missing.
 */
static void
prefetch_rollback(struct sync_run *run, size_t i, const char *upstream)
{
	const struct config_device *dev = &run->cfg->devices[i];
	const struct config_source *src = &run->cfg->sources[dev->source_index];
	struct manifest m = MANIFEST_INIT;
	const char *back;
	int quiet;

	if (run->forge == NULL || !dev->rollback || run->opts->check_only)
		return;
	back = rollout_rollback_commit(&run->records[i], upstream);
	if (back == NULL)
		return;
	quiet = log_thread_quiet(1);
	if (rollout_healthy_manifest(run->cfg->state_dir, dev->name, back,
	    &m) == 0 && blobs_missing(run, &m))
		(void)forge_fetch_blobs(run->forge, src, &m);
	log_thread_quiet(quiet);
	manifest_release(&m);
}

/* What due device i of this wave gets; a rollback's manifest is loaded. */
void
sync_rollout_decide(struct sync_run *run, size_t i)
{
	const struct config_device *dev = &run->cfg->devices[i];
	const struct rollout_source *ro = &run->rollouts[dev->source_index];
	const struct manifest *up = &run->manifests[dev->source_index];
	struct sync_device_result *res = &run->report->devices[i];
	struct rollout_input in;
	const char *back;

	memset(&in, 0, sizeof(in));
	in.source = ro;
	in.device = &run->records[i];
	in.upstream = up->commit;
	in.ring = dev->ring;
	in.pinned = run->pinned[i];
	in.rollback = dev->rollback;
	if (run->opts->now || run->opts->check_only)
		run->actions[i] = in.pinned ? ROLLOUT_PIN : ROLLOUT_UPDATE;
	else
		run->actions[i] = rollout_decide(&in);
	switch (run->actions[i]) {
	case ROLLOUT_ROLLBACK:
		back = rollout_rollback_commit(in.device, in.device->commit);
		prepare_rollback(run, i, back);
		break;
	case ROLLOUT_UPDATE:
		prefetch_rollback(run, i, up->commit);
		break;
	case ROLLOUT_WAIT:
		if (ro->ring_healthy_since && dev->ring > ro->ring)
			snprintf(res->note, sizeof(res->note), "waiting for "
			    "commit %.7s: ring %u is soaking (soak = %us)",
			    ro->commit, ro->ring,
			    run->cfg->sources[dev->source_index].soak);
		else
			snprintf(res->note, sizeof(res->note), "waiting for "
			    "commit %.7s: it is at ring %u, this board is in "
			    "ring %u", ro->commit, ro->ring, dev->ring);
		break;
	case ROLLOUT_HOLD:
		snprintf(res->note, sizeof(res->note), "held: the rollout of "
		    "commit %.7s is halted (%.360s); see senko rollout",
		    up->commit, *ro->reason ? ro->reason : "it failed a "
		    "health check");
		break;
	default:
		break;
	}
}

/* Is device i reachable (not offline or busy at its last visit)? */
static bool
device_reachable(const struct sync_run *run, size_t i)
{
	const struct sync_device_result *r = &run->report->devices[i];
	struct device_status st;
	enum device_state state = r->state;

	if (!r->attempted || state == DEVICE_WAITING) {
		if (status_load(run->cfg->state_dir, run->cfg->devices[i].name,
		    &st) == -1)
			return true;
		state = st.state;
	}
	return state != DEVICE_OFFLINE && state != DEVICE_BUSY;
}

/* After a wave: release the next ring of each source whose boards are
 * all healthy (and soaked). */
void
sync_rollout_after_wave(struct sync_run *run)
{
	const struct config *cfg = run->cfg;
	struct rollout_board *boards;
	size_t s, i, n;
	int fd;

	if (run->opts->check_only)
		return;
	boards = xcalloc(cfg->ndevices + 1, sizeof(*boards));
	fd = rollout_lock(cfg->state_dir);
	for (s = 0; s < cfg->nsources; s++) {
		struct rollout_source *ro = &run->rollouts[s];
		unsigned ring;

		if (!run->have_manifest[s])
			continue;
		rollout_source_load(cfg->state_dir, cfg->sources[s].name, ro);
		ring = ro->ring;
		for (i = n = 0; i < cfg->ndevices; i++) {
			struct rollout_device rec;

			if (cfg->devices[i].source_index != s)
				continue;
			rollout_device_load(cfg->state_dir,
			    cfg->devices[i].name, &rec);
			boards[n].ring = cfg->devices[i].ring;
			boards[n].pinned = *rec.pin || cfg->devices[i].pin;
			boards[n].reachable = device_reachable(run, i);
			boards[n].healthy = rec.health == ROLLOUT_HEALTHY &&
			    strcmp(rec.commit, ro->commit) == 0;
			n++;
		}
		if (rollout_advance(ro, boards, n, cfg->sources[s].soak,
		    time(NULL))) {
			if (ro->ring != ring)
				log_info("source '%s': commit %.7s released to "
				    "ring %u", cfg->sources[s].name, ro->commit,
				    ro->ring);
			rollout_source_save(cfg->state_dir,
			    cfg->sources[s].name, ro);
		}
	}
	rollout_unlock(fd);
	free(boards);
}

