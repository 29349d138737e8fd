/*
 * sync.c - one cycle of poll, download and fleet push; see sync.h.
 *
 * The main thread polls sources and downloads blobs (the forge is not
 * thread-safe and one connection serves the whole fleet).  Then up to
 * `jobs` worker threads each take the next due device and run
 * sync_device() on it: scan the mirror, plan, and only if the plan is not
 * empty open the port, reconcile with the board's own record, push,
 * reset, record the outcome; the devices go in waves, one per rollout
 * ring (rollout.h).  Workers share only the read-only manifests,
 * the store (read-only after downloads) and the progress display, which
 * has its own lock; each writes its own slot of the report.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "forge.h"
#include "fsutil.h"
#include "log.h"
#include "mirror.h"
#include "openmark.h"
#include "plan.h"
#include "progress.h"
#include "rollout.h"
#include "session.h"
#include "status.h"
#include "store.h"
#include "sync.h"
#include "syncrun.h"
#include "xalloc.h"
#include "banned.h"

/* A status file that did not change is still rewritten after this long,
 * so its last_attempt says the daemon is alive (status.h). */
#define STATUS_REFRESH_SECONDS 3600

/* One worker's view of one device for one cycle. */
struct board_job {
	struct sync_run *run;
	size_t index;
	const struct config_device *dev;
	const struct manifest *upstream;
	struct sync_device_result *res;
	struct mirror mirror;
	struct session_result session;
	bool progress_started;
	char platform[32];            /* from the board's probe, for status */
	char version[64];
};

/* Due, and its ring's wave is running. */
static bool
device_in_wave(const struct sync_run *run, size_t i)
{
	return sync_device_is_due(run, i) && run->cfg->devices[i].ring == run->wave;
}

/* Open the board even when the mirror matches: its own record is read. */
static bool
device_is_forced(const struct sync_run *run, size_t i)
{
	return run->opts->force || (run->opts->device_force != NULL &&
	    run->opts->device_force[i]);
}


/*
 * Record why a device failed: the message given, else the last error
 * (logged already).  A message not logged yet is logged here, so every
 * failure is said once, by the engine, naming the device.
 */
static void
job_fail(struct board_job *job, enum device_state state, const char *why)
{
	job->res->state = state;
	if ((why == NULL || *why == '\0') && *log_last_error() == '\0')
		why = "failed without a message; run with -v for details";
	if (why && *why)
		log_failx("%s", why);
	snprintf(job->res->error, sizeof(job->res->error), "%s",
	    log_last_error());
}

/* A stop request ended (or came before) this device's visit. */
static void
job_stopped(struct board_job *job, const char *what)
{
	job->res->state = DEVICE_STOPPED;
	snprintf(job->res->error, sizeof(job->res->error), "stopped %s; "
	    "the next sync carries on", what);
}

/* ------------------------------------------------------------- the board */

static void
board_progress(void *arg, const char *path, uint64_t bytes)
{
	struct board_job *job = arg;

	if (!job->progress_started) {
		progress_start(&job->run->progress, job->index, job->dev->name,
		    job->res->bytes_planned);
		job->progress_started = true;
	}
	progress_update(&job->run->progress, job->index, path, bytes);
}

/* One visit to the board (session.h): reconcile, apply, restart, watch.
 * scanned is the mirror as visit() found it; the session takes it over. */
static void
sync_on_board(struct board_job *job, struct manifest *scanned)
{
	struct session_job sj;
	struct session_result *sr = &job->session;

	memset(&sj, 0, sizeof(sj));
	sj.dev = job->dev;
	sj.upstream = job->upstream;
	sj.store = job->run->store;
	sj.state_dir = job->run->cfg->state_dir;
	sj.mirror = &job->mirror;
	sj.scanned = scanned;
	sj.verify = job->run->opts->verify;
	sj.wait_busy = job->run->opts->wait_busy;
	sj.stop = job->run->opts->stop;
	sj.progress = board_progress;
	sj.progress_arg = job;
	sj.quiet_progress = job->run->progress.enabled;
	session_sync(&sj, sr);
	if (job->progress_started)
		progress_finish(&job->run->progress, job->index);
	snprintf(job->platform, sizeof(job->platform), "%s", sr->platform);
	snprintf(job->version, sizeof(job->version), "%s", sr->version);
	job->res->files_planned = sr->files_planned;
	job->res->deletes_planned = sr->deletes_planned;
	job->res->bytes_planned = sr->bytes_planned;
	job->res->files_sent = sr->files_sent;
	job->res->files_deleted = sr->files_deleted;
	job->res->bytes_sent = sr->bytes_sent;
	switch (sr->outcome) {
	case SESSION_IN_SYNC:
		job->res->state = DEVICE_IN_SYNC;
		break;
	case SESSION_UPDATED:
		job->res->state = DEVICE_UPDATED;
		break;
	case SESSION_STOPPED:
		/* The board keeps the old commit (nothing was renamed) or
		 * the new one whole; the next visit carries on. */
		job_stopped(job, sr->committed ? "with the board at its new "
		    "commit" : "before the update was committed");
		break;
	case SESSION_OFFLINE:
		job_fail(job, DEVICE_OFFLINE, NULL);
		break;
	case SESSION_BUSY:
		job_fail(job, DEVICE_BUSY, NULL);
		break;
	case SESSION_FAILED:
		job_fail(job, DEVICE_FAILED, NULL);
		break;
	}
}

/*
 * Did anything an operator reads change, or is the file's last_attempt
 * more than STATUS_REFRESH_SECONDS old?  An SD card should not take an
 * atomic write and two fsyncs per device per poll when nothing happened.
 */
static bool
status_changed(const struct device_status *old,
    const struct device_status *new)
{
	return old->state != new->state ||
	    strcmp(old->commit, new->commit) != 0 ||
	    strcmp(old->last_error, new->last_error) != 0 ||
	    strcmp(old->platform, new->platform) != 0 ||
	    strcmp(old->version, new->version) != 0 ||
	    old->files_sent != new->files_sent ||
	    old->bytes_sent != new->bytes_sent ||
	    old->files_deleted != new->files_deleted ||
	    old->boot_traceback != new->boot_traceback ||
	    strcmp(old->boot_tail, new->boot_tail) != 0 ||
	    old->commit_completed != new->commit_completed ||
	    new->last_attempt - old->last_attempt >= STATUS_REFRESH_SECONDS ||
	    new->last_attempt < old->last_attempt;
}

static void
save_status(struct board_job *job)
{
	const struct sync_run *run = job->run;
	struct device_status st, old;
	time_t now = time(NULL); /* a date, for display */

	if (status_load(run->cfg->state_dir, job->dev->name, &st) == -1)
		status_init(&st);
	old = st;
	st.state = job->res->state;
	st.last_attempt = now;
	snprintf(st.last_error, sizeof(st.last_error), "%s", job->res->error);
	if (job->res->state == DEVICE_IN_SYNC ||
	    job->res->state == DEVICE_UPDATED ||
	    job->res->state == DEVICE_ROLLED_BACK) {
		st.last_success = now;
		snprintf(st.commit, sizeof(st.commit), "%s",
		    job->mirror.commit);
	}
	if (*job->platform) {
		snprintf(st.platform, sizeof(st.platform), "%s", job->platform);
		snprintf(st.version, sizeof(st.version), "%s", job->version);
	}
	st.files_sent = job->res->files_sent;
	st.bytes_sent = job->res->bytes_sent;
	st.files_deleted = job->res->files_deleted;
	/* A restart is a new boot: what an earlier watch saw no longer
	 * describes the board, whether this one was watched or not. */
	if (job->session.boot.restarted) {
		st.boot_watched = job->session.boot.watched;
		st.boot_traceback = job->session.boot.traceback;
		snprintf(st.boot_tail, sizeof(st.boot_tail), "%s",
		    job->session.boot.tail);
	}
	st.commit_completed = job->session.commit_completed;
	if (status_changed(&old, &st))
		status_save(run->cfg->state_dir, job->dev->name, &st);
}

/*
 * A board receives a commit whole or not at all, and checking the board
 * against it needs every blob: with one missing (a failed download, a
 * state_dir deleted under the daemon) the board is not opened.  Returns
 * how many are missing (the device is failed then).
 */
static size_t
missing_blobs(struct board_job *job)
{
	const struct manifest *m = job->upstream;
	const char *first = NULL;
	size_t i, n = 0;

	for (i = 0; i < m->n; i++)
		if (!store_has(job->run->store, m->entries[i].sha)) {
			if (first == NULL)
				first = m->entries[i].path;
			n++;
		}
	if (n > 0) {
		log_failx("%s: %zu file%s of commit %.7s, '%s' first, %s "
		    "not in the object store (%s download failed); the board "
		    "keeps its files until the next poll fetches %s",
		    job->dev->name, n, n == 1 ? "" : "s", m->commit, first,
		    n == 1 ? "is" : "are", n == 1 ? "its" : "their",
		    n == 1 ? "it" : "them");
		job_fail(job, DEVICE_FAILED, NULL);
	}
	return n;
}

/*
 * The board holds target, but its health there is not judged yet (its
 * boot watch was cut short: the record says so): it is opened although in
 * sync, to restart the application and watch it.  Only where a watch
 * judges health (session_watches(), health not none).
 */
static bool
watch_unjudged(const struct board_job *job, const struct manifest *target)
{
	const struct config_device *dev = job->dev;
	const struct rollout_device *rec = &job->run->records[job->index];

	if (dev->health == HEALTH_NONE || !session_watches(dev))
		return false;
	if (rec->health != ROLLOUT_HEALTH_UNKNOWN ||
	    strcmp(rec->commit, target->commit) != 0)
		return false;
	log_info("%s: commit %.7s was never seen to boot%s; restarting the "
	    "application to watch it", dev->name, target->commit,
	    dev->health == HEALTH_LINE ? " to its health line" : "");
	return true;
}

/*
 * Was the board left at its REPL by a senko that had it open and died
 * before it restarted the application (openmark.h)?
 */
static bool
left_open(const struct board_job *job)
{
	char who[200];

	if (!openmark_left(job->run->cfg->state_dir, job->dev->name, who,
	    sizeof(who)))
		return false;
	log_notice("%s: the application was left stopped by %s, which ended "
	    "with the board open (killed?); opening the board to restart it",
	    job->dev->name, who);
	return true;
}

/* Open the board and restart its application, nothing else. */
static void
restart_only(struct board_job *job)
{
	const char *sd = job->run->cfg->state_dir;
	struct repl *r;

	r = session_open(job->dev, sd, "restart", job->run->opts->stop);
	if (r != NULL)
		(void)session_close(r, job->dev, sd);
}

/* A board nothing else opens this time: its application, if a process
 * left it stopped, runs again whatever failed upstream. */
static void
restart_if_left_open(struct board_job *job)
{
	if (!job->run->opts->check_only && left_open(job))
		restart_only(job);
}

/*
 * Bring the board to target: scan the mirror, plan, and open the board
 * only when the plan is not empty (or --force, watch_unjudged(),
 * left_open()).  The mirror's index is saved when the board took the
 * commit; after a failure it is not (the files the board confirmed are in
 * the mirror folder and the next scan hashes them).
 */
static void
visit(struct board_job *job, const struct manifest *target)
{
	struct manifest mm = MANIFEST_INIT;
	struct plan p = PLAN_INIT;

	job->upstream = target;
	memset(&job->session, 0, sizeof(job->session));
	job->progress_started = false; /* a rollback is a second visit */
	snprintf(job->res->commit, sizeof(job->res->commit), "%s",
	    target->commit);
	if (mirror_scan(&job->mirror, &mm) == -1) {
		job_fail(job, DEVICE_FAILED, NULL);
		goto out;
	}
	plan_build(&p, target, &mm, job->dev->prune);
	plan_totals(&p, NULL, &job->res->bytes_planned);
	job->res->files_planned = (unsigned)p.nwrites;
	job->res->deletes_planned = (unsigned)p.ndeletes;
	if (job->run->opts->check_only) {
		job->res->state = plan_is_empty(&p) ? DEVICE_IN_SYNC :
		    DEVICE_PENDING;
		goto out;
	}
	if (plan_is_empty(&p) && !device_is_forced(job->run, job->index) &&
	    !watch_unjudged(job, target) && !left_open(job)) {
		/* The mirror is the board: nothing to do, port left shut. */
		job->res->state = DEVICE_IN_SYNC;
		mirror_set_commit(&job->mirror, target->commit);
	} else if (missing_blobs(job) == 0)
		sync_on_board(job, &mm);
	else
		restart_if_left_open(job);
	if (job->res->state == DEVICE_IN_SYNC ||
	    job->res->state == DEVICE_UPDATED)
		mirror_save(&job->mirror);
out:
	plan_release(&p);
	manifest_release(&mm);
}

/* The board failed its check on commit bad (why): roll it back to its
 * last healthy commit, check it again, and say what happened. */
static void
roll_back(struct board_job *job, const char *bad, const char *why)
{
	const char *sd = job->run->cfg->state_dir, *name = job->dev->name;
	const struct manifest *was = job->upstream;
	struct manifest healthy = MANIFEST_INIT;
	struct rollout_device rec;
	char again[ROLLOUT_REASON_MAX];
	const char *back;
	size_t i;

	rollout_device_load(sd, name, &rec);
	back = rollout_rollback_commit(&rec, bad);
	if (back == NULL) {
		log_failx("%s: failed its health check on commit %.7s: %s; no "
		    "healthy commit is recorded to roll it back to", name, bad,
		    why);
		job_fail(job, DEVICE_FAILED, NULL);
		return;
	}
	if (rollout_healthy_manifest(sd, name, back, &healthy) == -1) {
		job_fail(job, DEVICE_FAILED, NULL);
		return;
	}
	for (i = 0; i < healthy.n; i++)
		if (!store_has(job->run->store, healthy.entries[i].sha)) {
			/* Fetched before the visit (syncroll.c) unless the
			 * forge or the folder's git could not give it. */
			log_failx("%s: failed its health check on commit %.7s: "
			    "%s; cannot roll back to %.7s now: '%s' of it is "
			    "not in the object store; the next sync fetches "
			    "what is missing and rolls it back", name, bad,
			    why, back, healthy.entries[i].path);
			job_fail(job, DEVICE_FAILED, NULL);
			manifest_release(&healthy);
			return;
		}
	log_warnx("%s: failed its health check on commit %.7s: %s; rolling "
	    "back to %.7s", name, bad, why, back);
	visit(job, &healthy);
	job->upstream = was;
	if (job->res->state != DEVICE_IN_SYNC &&
	    job->res->state != DEVICE_UPDATED) {
		char msg[STATUS_ERROR_MAX];

		snprintf(msg, sizeof(msg), "failed its health check on commit "
		    "%.7s; the rollback to %.7s did not finish (%.360s); the "
		    "next "
		    "sync completes it", bad, back, job->res->error);
		job_fail(job, job->res->state, msg);
	} else {
		if (rollout_health_ok(job->dev, &job->session.boot, again,
		    sizeof(again)))
			rollout_device_healthy(sd, name, &healthy, bad);
		else
			rollout_device_unhealthy(sd, name, healthy.commit,
			    again);
		log_failx("%s: failed its health check on commit %.7s: %s; "
		    "rolled back to %.7s", name, bad, why, back);
		job_fail(job, DEVICE_ROLLED_BACK, NULL);
	}
	manifest_release(&healthy);
}

/*
 * After a visit that brought the board to a commit: judge its health by
 * the device's health key, record it, and on failure halt the rollout
 * (an update of the source's commit) and roll the board back.
 */
static void
judge(struct board_job *job, enum rollout_action action)
{
	const struct sync_run *run = job->run;
	const char *sd = run->cfg->state_dir, *name = job->dev->name;
	const struct rollout_device *rec = &run->records[job->index];
	const struct manifest *t = job->upstream;
	char why[ROLLOUT_REASON_MAX], msg[STATUS_ERROR_MAX];
	bool finished = job->res->state == DEVICE_IN_SYNC ||
	    job->res->state == DEVICE_UPDATED;

	/* A visit that stopped or failed after the commit landed still
	 * leaves the board on it (session.h, committed). */
	if (!finished && !job->session.committed)
		return;
	/* Nothing new on the board since its health was judged (a repair
	 * keeps the commit, but is watched when it restarts). */
	if (job->res->state != DEVICE_UPDATED &&
	    strcmp(rec->commit, t->commit) == 0 &&
	    rec->health != ROLLOUT_HEALTH_UNKNOWN)
		return;
	/* Its restart was not watched to the end (a stop, a lost port, a
	 * visit that ended after the commit landed): the next visit
	 * watches it (watch_unjudged). */
	if ((job->session.boot.cut_short || !finished) &&
	    job->dev->health != HEALTH_NONE) {
		rollout_device_unjudged(sd, name, t->commit);
		log_notice("%s: commit %.7s is on the board, its health not "
		    "judged yet; the next sync restarts the application to "
		    "watch it", name, t->commit);
		return;
	}
	if (!finished) {
		/* health = none: nothing to judge; the visit's state stays. */
		rollout_device_healthy(sd, name, t, action == ROLLOUT_ROLLBACK ?
		    rec->commit : NULL);
		return;
	}
	if (rollout_health_ok(job->dev, &job->session.boot, why,
	    sizeof(why))) {
		rollout_device_healthy(sd, name, t, action == ROLLOUT_ROLLBACK ?
		    rec->commit : NULL);
		if (action == ROLLOUT_ROLLBACK) {
			/* Said as a notice: the failure was said before. */
			log_notice("%s: rolled back from commit %.7s to %.7s",
			    name, rec->commit, t->commit);
			job->res->state = DEVICE_ROLLED_BACK;
			snprintf(job->res->error, sizeof(job->res->error),
			    "rolled back from commit %.7s to %.7s", rec->commit,
			    t->commit);
		}
		return;
	}
	rollout_device_unhealthy(sd, name, t->commit, why);
	switch (action) {
	case ROLLOUT_UPDATE:
		snprintf(msg, sizeof(msg), "device '%s' failed its health "
		    "check on commit %.7s: %.360s", name, t->commit, why);
		rollout_halt(sd, run->cfg->sources[job->dev->source_index].name,
		    t->commit, name, msg);
		if (job->dev->rollback) {
			roll_back(job, t->commit, why);
			return;
		}
		snprintf(msg, sizeof(msg), "failed its health check on commit "
		    "%.7s: %.360s; rollback = no, so it stays there", t->commit,
		    why);
		break;
	case ROLLOUT_PIN:
		snprintf(msg, sizeof(msg), "failed its health check on its "
		    "pinned commit %.7s: %.360s; a pinned board is not rolled "
		    "back (pin another ref, or unpin it)", t->commit, why);
		break;
	default:
		snprintf(msg, sizeof(msg), "rolled back to %.7s, but it fails "
		    "its health check there too: %.360s", t->commit, why);
	}
	job_fail(job, DEVICE_FAILED, msg);
}

/*
 * The rollout keeps the board where it is (wait, hold); upstream is the
 * commit it waits for.  Its status file keeps what its last visit said
 * (a rollback stays visible), but in sync at another commit it is not:
 * it says waiting (senko status, senko_device_in_sync 0).
 */
static void
held_back(struct board_job *job, const struct manifest *upstream)
{
	const char *sd = job->run->cfg->state_dir, *name = job->dev->name;
	struct device_status st;

	job->res->state = DEVICE_WAITING;
	snprintf(job->res->commit, sizeof(job->res->commit), "%s",
	    upstream->commit);
	if (job->run->opts->check_only || status_load(sd, name, &st) == -1 ||
	    (st.state != DEVICE_IN_SYNC && st.state != DEVICE_UPDATED) ||
	    strcmp(st.commit, upstream->commit) == 0)
		return;
	st.state = DEVICE_WAITING;
	if (status_save(sd, name, &st) == -1)
		log_warnx("%s: cannot say in its status that it waits for "
		    "the rollout", name);
}

/*
 * A board the rollout keeps where it is, whose check was asked for (a
 * board plugged in, verify_interval): it is checked, and repaired, against
 * the commit it holds, the one its health was judged good on, never the
 * commit held back.  Without that commit's files recorded it cannot be,
 * and says so rather than pass for checked.
 */
static void
check_held(struct board_job *job)
{
	const struct sync_run *run = job->run;
	const char *sd = run->cfg->state_dir, *name = job->dev->name;
	const struct rollout_device *rec = &run->records[job->index];
	const struct manifest *upstream = job->upstream;
	struct manifest holds = MANIFEST_INIT;

	if (mirror_open(&job->mirror, sd, name) == -1) {
		job_fail(job, DEVICE_FAILED, NULL);
		return;
	}
	if (rec->health != ROLLOUT_HEALTHY || *job->mirror.commit == '\0' ||
	    strcmp(rec->commit, job->mirror.commit) != 0 ||
	    rollout_healthy_manifest(sd, name, rec->commit, &holds) == -1) {
		log_notice("%s: not checked: the rollout keeps it where it is "
		    "and the commit it holds is not one recorded healthy; "
		    "it is checked when the rollout reaches it", name);
		restart_if_left_open(job);
		held_back(job, upstream);
		return;
	}
	visit(job, &holds);
	job->upstream = upstream;
	/* Its status file keeps what its last visit said (a rollback stays
	 * visible) unless this check changed the board or failed. */
	if (job->res->state != DEVICE_IN_SYNC)
		save_status(job);
	if (job->res->state == DEVICE_IN_SYNC ||
	    job->res->state == DEVICE_UPDATED)
		held_back(job, upstream);
	manifest_release(&holds);
}

static void
sync_device(struct sync_run *run, size_t index)
{
	const struct config *cfg = run->cfg;
	enum rollout_action action = run->actions[index];
	const struct manifest *target;
	struct board_job job;
	struct timespec started, ended;

	memset(&job, 0, sizeof(job));
	job.run = run;
	job.index = index;
	job.dev = &cfg->devices[index];
	job.res = &run->report->devices[index];
	job.res->attempted = true;
	clock_gettime(CLOCK_MONOTONIC, &started);
	job.upstream = &run->manifests[job.dev->source_index];
	log_clear_error();
	log_set_context(job.dev->name);
	log_thread_quiet(run->opts->device_quiet != NULL &&
	    run->opts->device_quiet[index]);
	if (!run->have_manifest[job.dev->source_index] &&
	    action != ROLLOUT_ROLLBACK && action != ROLLOUT_PIN) {
		/* The source's own error was said when it was polled. */
		char why[256];

		snprintf(why, sizeof(why), "nothing to sync: source '%s' "
		    "failed (see its error); the board keeps its files",
		    cfg->sources[job.dev->source_index].name);
		restart_if_left_open(&job);
		job_fail(&job, DEVICE_FAILED, why);
		save_status(&job);
		goto out;
	}
	if (*run->prep_error[index]) {
		restart_if_left_open(&job);
		job_fail(&job, DEVICE_FAILED, run->prep_error[index]);
		save_status(&job);
		goto out;
	}
	if ((action == ROLLOUT_WAIT || action == ROLLOUT_HOLD) &&
	    device_is_forced(run, index)) {
		check_held(&job);
		goto out;
	}
	if (action == ROLLOUT_WAIT || action == ROLLOUT_HOLD) {
		/* Left alone: its status file keeps what its last visit
		 * said (a rollback stays visible); only an application
		 * left stopped is started again. */
		restart_if_left_open(&job);
		held_back(&job, job.upstream);
		goto out;
	}
	target = action == ROLLOUT_PIN ? &run->pins[index] :
	    action == ROLLOUT_ROLLBACK ? &run->targets[index] : job.upstream;
	if (mirror_open(&job.mirror, cfg->state_dir, job.dev->name) == -1) {
		job_fail(&job, DEVICE_FAILED, NULL);
		goto out;
	}
	visit(&job, target);
	if (!run->opts->check_only)
		judge(&job, action);
	save_status(&job);
out:
	clock_gettime(CLOCK_MONOTONIC, &ended);
	job.res->duration_ms = (uint64_t)(ended.tv_sec - started.tv_sec) *
	    1000 + (uint64_t)((ended.tv_nsec - started.tv_nsec) / 1000000);
	log_thread_quiet(0);
	log_set_context(NULL);
	mirror_release(&job.mirror);
}
static void *
worker_main(void *arg)
{
	struct sync_run *run = arg;

	for (;;) {
		size_t i;

		pthread_mutex_lock(&run->lock);
		while (run->next < run->cfg->ndevices &&
		    !device_in_wave(run, run->next))
			run->next++;
		i = run->next++;
		pthread_mutex_unlock(&run->lock);
		if (i >= run->cfg->ndevices)
			return NULL;
		if (sync_stop_requested(run)) {
			/* Not started: its status file keeps what it had. */
			run->report->devices[i].state = DEVICE_STOPPED;
			snprintf(run->report->devices[i].error,
			    sizeof(run->report->devices[i].error), "stopped "
			    "before its turn; the next sync carries on");
			continue;
		}
		sync_device(run, i);
	}
}

/* Has the soak of a polled source's ring ended (the next ring may go)? */
static bool
soak_ended(const struct sync_run *run)
{
	time_t now = time(NULL);
	size_t s;

	for (s = 0; s < run->cfg->nsources; s++) {
		time_t ends = rollout_soak_ends(&run->rollouts[s],
		    run->cfg->sources[s].soak);

		if (ends != 0 && ends <= now && run->have_manifest[s])
			return true;
	}
	return false;
}

/* Run the workers over the due devices of ring wave. */
static void
run_wave(struct sync_run *run, unsigned wave)
{
	const struct config *cfg = run->cfg;
	pthread_t *threads;
	sigset_t all, saved;
	size_t i, n = 0, nthreads;

	run->wave = wave;
	run->next = 0;
	for (i = 0; i < cfg->ndevices; i++)
		if (device_in_wave(run, i)) {
			sync_rollout_decide(run, i);
			n++;
		}
	if (n == 0) {
		/* No board of this ring is due (offline ones back off),
		 * but a soak that ended releases the next ring now: its
		 * boards, due in a later wave, must not wait an interval. */
		if (soak_ended(run))
			sync_rollout_after_wave(run);
		return;
	}
	nthreads = n < cfg->jobs ? n : cfg->jobs;
	threads = xcalloc(nthreads, sizeof(*threads));
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &saved);
	for (i = 0; i < nthreads; i++)
		if (pthread_create(&threads[i], NULL, worker_main, run) != 0)
			fatalx("cannot start a worker thread");
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	for (i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	sync_rollout_after_wave(run);
}

/* ---------------------------------------------------------------- sources */

static bool
source_is_needed(const struct sync_run *run, size_t s)
{
	size_t i;

	for (i = 0; i < run->cfg->ndevices; i++)
		if (run->cfg->devices[i].source_index == s &&
		    sync_device_is_due(run, i))
			return true;
	return false;
}

/* Why source src failed: the last error, which names it (the forge's
 * messages start with "source 'NAME'"); prefixed when it does not. */
static void
source_fail(struct sync_source_result *res, const struct config_source *src)
{
	const char *last = log_last_error();
	char name[128];

	res->ok = -1;
	snprintf(name, sizeof(name), "source '%s'", src->name);
	snprintf(res->error, sizeof(res->error), "%s%s%s",
	    strstr(last, name) ? "" : name, strstr(last, name) ? "" : ": ",
	    *last ? last : "failed without a message");
}

static void
poll_source(struct sync_run *run, struct forge *forge, size_t s)
{
	const struct config_source *src = &run->cfg->sources[s];
	struct sync_source_result *res = &run->report->sources[s];
	struct manifest *m = &run->manifests[s];
	unsigned requests = forge_stats(forge)->requests;

	log_clear_error();
	forge_set_stop(forge, run->opts->stop);
	log_thread_quiet(run->opts->source_quiet != NULL &&
	    run->opts->source_quiet[s]);
	if (run->opts->saved_manifests) {
		run->have_manifest[s] = forge_saved_manifest(run->cfg, src,
		    m) == 0;
		res->ok = run->have_manifest[s] ? 0 : -1;
		if (res->ok == -1)
			snprintf(res->error, sizeof(res->error), "source %s: "
			    "not polled yet", src->name);
	} else if (forge_poll(forge, src, m, &res->changed) == 0) {
		/* The forge said which commit it found: one line a poll. */
		run->have_manifest[s] = true;
		res->ok = 0;
	} else {
		source_fail(res, src);
		/* Boards that missed the last update can still get it. */
		manifest_release(m);
		manifest_init(m);
		run->have_manifest[s] =
		    forge_saved_manifest(run->cfg, src, m) == 0;
	}
	if (run->have_manifest[s])
		snprintf(res->commit, sizeof(res->commit), "%s", m->commit);
	/* A board gets a commit whole or not at all: with any of its blobs
	 * missing from the store, no board gets this manifest (each keeps
	 * its files and reports the source's error). */
	if (run->have_manifest[s] && !run->opts->check_only &&
	    forge_fetch_blobs(forge, src, m) == -1) {
		if (res->ok == 0)
			source_fail(res, src);
		run->have_manifest[s] = false;
	}
	log_thread_quiet(0);
	res->requests = forge_stats(forge)->requests - requests;
	res->polled = !run->opts->saved_manifests;
	/* A poll a stop cut short says nothing of the source: its status
	 * keeps what the last whole poll found (a start after a SIGTERM
	 * must not take it for failing and poll it quietly). */
	if (res->ok == -1 && run->opts->stop != NULL && *run->opts->stop)
		return;
	if (!run->opts->saved_manifests)
		source_status_update(run->cfg->state_dir, src->name, res,
		    forge_retry_after(forge), time(NULL));
}

static int
exit_status(const struct sync_run *run)
{
	const struct sync_report *r = run->report;
	bool failed = false, pending = false;
	size_t i;

	for (i = 0; i < r->nsources; i++)
		if (source_is_needed(run, i) && (r->sources[i].ok != 0 ||
		    r->sources[i].halted))
			failed = true;
	for (i = 0; i < r->ndevices; i++) {
		if (!sync_device_is_due(run, i))
			continue;
		switch (r->devices[i].state) {
		case DEVICE_IN_SYNC:
		case DEVICE_UPDATED:
		case DEVICE_WAITING:
			break;
		case DEVICE_PENDING:
			pending = true;
			break;
		default:
			failed = true;
		}
	}
	if (failed)
		return 1;
	return pending ? 100 : 0;
}

/*
 * state_dir is private (a private repository's files are in it); what is
 * missing is created again, so deleting the folder while senkod runs is
 * safe (senko.conf(5)).
 */
static int
prepare_state_dir(const struct config *cfg)
{
	if (fs_mkdir_private(cfg->state_dir) == -1)
		return log_failx("cannot create state_dir '%s': create it or "
		    "give state_dir another folder in %s", cfg->state_dir,
		    cfg->path);
	return 0;
}

int
sync_engine_open(struct sync_engine *e, const struct config *cfg)
{
	bool config_error = false;

	e->forge = NULL;
	e->store = xcalloc(1, sizeof(*e->store));
	if (prepare_state_dir(cfg) == -1)
		goto fail;
	if (store_init(e->store, cfg->state_dir) == -1)
		goto fail;
	e->forge = forge_new(cfg, e->store, &config_error);
	if (e->forge == NULL)
		goto fail;
	return 0;
fail:
	sync_engine_close(e);
	return config_error ? SYNC_ECONFIG : -1;
}

void
sync_engine_close(struct sync_engine *e)
{
	forge_free(e->forge);
	if (e->store)
		store_release(e->store);
	free(e->store);
	e->forge = NULL;
	e->store = NULL;
}

int
sync_cycle(const struct config *cfg, struct forge *forge,
    const struct store *store, const struct sync_options *opts,
    struct sync_report *report)
{
	struct sync_run run;
	unsigned wave;
	size_t i, nd = cfg->ndevices ? cfg->ndevices : 1;
	time_t now;
	int rc;

	memset(report, 0, sizeof(*report));
	report->devices = xcalloc(cfg->ndevices ? cfg->ndevices : 1,
	    sizeof(*report->devices));
	report->sources = xcalloc(cfg->nsources ? cfg->nsources : 1,
	    sizeof(*report->sources));
	report->ndevices = cfg->ndevices;
	report->nsources = cfg->nsources;

	memset(&run, 0, sizeof(run));
	run.cfg = cfg;
	run.store = store;
	run.forge = forge;
	run.opts = opts;
	run.report = report;
	run.manifests = xcalloc(cfg->nsources ? cfg->nsources : 1,
	    sizeof(*run.manifests));
	run.have_manifest = xcalloc(cfg->nsources ? cfg->nsources : 1,
	    sizeof(*run.have_manifest));
	run.rollouts = xcalloc(cfg->nsources ? cfg->nsources : 1,
	    sizeof(*run.rollouts));
	run.records = xcalloc(nd, sizeof(*run.records));
	run.actions = xcalloc(nd, sizeof(*run.actions));
	run.pins = xcalloc(nd, sizeof(*run.pins));
	run.pinned = xcalloc(nd, sizeof(*run.pinned));
	run.targets = xcalloc(nd, sizeof(*run.targets));
	run.prep_error = xcalloc(nd, sizeof(*run.prep_error));
	pthread_mutex_init(&run.lock, NULL);
	progress_init(&run.progress, opts->progress, cfg->ndevices);

	if (!opts->check_only && (prepare_state_dir(cfg) == -1 ||
	    store_prepare(store) == -1))
		log_warnx("state_dir '%s' is not usable; downloads and "
		    "records will fail this cycle", cfg->state_dir);
	for (i = 0; i < cfg->nsources; i++)
		if (source_is_needed(&run, i) && !sync_stop_requested(&run))
			poll_source(&run, forge, i);
	report->retry_after = forge_retry_after(forge);
	report->rate_limit_remaining = forge_stats(forge)->rate_limit_remaining;

	sync_rollout_prepare(&run, forge);
	for (wave = 0; wave <= CONFIG_RING_MAX; wave++)
		run_wave(&run, wave);
	/* Only a soak still running asks for an early poll.  One that
	 * ended was released by the waves above, or its source failed
	 * this poll: a poll a second later would not release it (the
	 * source's back-off says when it is asked again). */
	now = time(NULL);
	for (i = 0; i < cfg->nsources; i++) {
		time_t ends = rollout_soak_ends(&run.rollouts[i],
		    cfg->sources[i].soak);

		if (ends > now && (!report->next_release ||
		    ends < report->next_release))
			report->next_release = ends;
	}
	for (i = 0; i < cfg->nsources; i++)
		report->sources[i].halted = run.have_manifest[i] &&
		    !opts->check_only && (rollout_is_bad(&run.rollouts[i],
		    run.manifests[i].commit) || (run.rollouts[i].halted &&
		    strcmp(run.rollouts[i].commit,
		    run.manifests[i].commit) == 0));

	rc = exit_status(&run);
	progress_release(&run.progress);
	pthread_mutex_destroy(&run.lock);
	for (i = 0; i < cfg->nsources; i++)
		manifest_release(&run.manifests[i]);
	free(run.manifests);
	free(run.have_manifest);
	for (i = 0; i < cfg->ndevices; i++) {
		manifest_release(&run.pins[i]);
		manifest_release(&run.targets[i]);
	}
	free(run.rollouts);
	free(run.records);
	free(run.actions);
	free(run.pins);
	free(run.pinned);
	free(run.targets);
	free(run.prep_error);
	return rc;
}

/* The commit the mirror says the board runs ("" unknown). */
static void
mirror_commit(const struct config *cfg, const char *device,
    char out[GITHASH_HEXSZ])
{
	struct mirror m;

	out[0] = '\0';
	if (mirror_open(&m, cfg->state_dir, device) == 0)
		snprintf(out, GITHASH_HEXSZ, "%s", m.commit);
	mirror_release(&m);
}

/* A rollback target's files cannot all be had: say so, that nothing was
 * changed, and what to do.  Returns -1. */
static int
target_unavailable(const struct config_device *dev,
    const struct config_source *src, const struct manifest *m,
    const char *on_board)
{
	return log_failx("%s: cannot roll back to %.7s: its files are not all "
	    "available (see above); nothing was changed: no commit was "
	    "marked bad, no rollout halted, the board keeps %s%.7s; %s%s%s",
	    dev->name, m->commit, *on_board ? "commit " : "its files",
	    on_board, src->path ? "put that version of the files back in "
	    "folder '" : "try again when the forge answers, or name a "
	    "commit whose files can be fetched: senko rollback ",
	    src->path ? src->path : dev->name, src->path ? "' (a sync "
	    "brings the board to them), or keep the folder in git so that "
	    "its old versions can be found again" : " REF");
}

/*
 * The manifest `senko rollback` goes to: ref's, or the last healthy;
 * every blob of it in the store (fetched again when garbage collection
 * took it) before anything is changed.
 */
static int
rollback_target(const struct config *cfg, const struct sync_engine *e,
    size_t index, const char *ref, const char *on_board,
    struct manifest *out)
{
	const struct config_device *dev = &cfg->devices[index];
	const struct config_source *src = &cfg->sources[dev->source_index];
	struct rollout_device rec;
	const char *back;

	if (ref != NULL) {
		if (forge_manifest_at(e->forge, src, ref, NULL, out) == -1)
			return -1;
	} else {
		if (rollout_device_load(cfg->state_dir, dev->name, &rec) == -1)
			return -1;
		back = rollout_rollback_commit(&rec, on_board);
		if (back == NULL)
			return log_failx("%s: no healthy commit is recorded "
			    "other than the one it runs%s%.7s%s; name one: "
			    "senko rollback %s REF", dev->name,
			    *on_board ? " (" : "", on_board,
			    *on_board ? ")" : "", dev->name);
		if (rollout_healthy_manifest(cfg->state_dir, dev->name, back,
		    out) == -1)
			return -1;
	}
	/* The store keeps the last and previous healthy commits' blobs (a
	 * ref's may never have been fetched): fetch what is missing, from
	 * the forge or a local folder's git objects. */
	if (forge_fetch_blobs(e->forge, src, out) == -1)
		return target_unavailable(dev, src, out, on_board);
	return 0;
}

int
sync_rollback(const struct config *cfg, const struct sync_engine *e,
    size_t index, const char *ref, volatile sig_atomic_t *stop,
    struct sync_device_result *res)
{
	const struct config_device *dev = &cfg->devices[index];
	const char *source = cfg->sources[dev->source_index].name;
	struct sync_options opts;
	struct sync_report report;
	struct sync_run run;
	struct rollout_source ro;
	char on_board[GITHASH_HEXSZ], why[256];
	size_t nd = cfg->ndevices;
	int rc = 1;

	memset(&run, 0, sizeof(run));
	memset(&opts, 0, sizeof(opts));
	memset(&report, 0, sizeof(report));
	memset(res, 0, sizeof(*res));
	opts.wait_busy = true;
	opts.stop = stop;
	if (prepare_state_dir(cfg) == -1)
		return 1;
	mirror_commit(cfg, dev->name, on_board);
	run.cfg = cfg;
	run.store = e->store;
	run.forge = e->forge;
	run.opts = &opts;
	run.report = &report;
	report.devices = xcalloc(nd, sizeof(*report.devices));
	report.ndevices = nd;
	run.manifests = xcalloc(cfg->nsources, sizeof(*run.manifests));
	run.have_manifest = xcalloc(cfg->nsources, sizeof(*run.have_manifest));
	run.records = xcalloc(nd, sizeof(*run.records));
	run.actions = xcalloc(nd, sizeof(*run.actions));
	run.targets = xcalloc(nd, sizeof(*run.targets));
	run.prep_error = xcalloc(nd, sizeof(*run.prep_error));
	progress_init(&run.progress, false, nd);
	if (rollback_target(cfg, e, index, ref, on_board,
	    &run.targets[index]) == -1)
		goto out;
	/* The operator says the commit it leaves is bad: when it is the one
	 * being rolled out, halt the rollout so senkod does not bring it
	 * back (and a cut rollback is completed by the next sync). */
	if (rollout_source_load(cfg->state_dir, source, &ro) == 0 &&
	    *on_board && strcmp(ro.commit, on_board) == 0 &&
	    strcmp(on_board, run.targets[index].commit) != 0) {
		snprintf(why, sizeof(why), "rolled back by hand on device '%s' "
		    "(senko rollback)", dev->name);
		if (rollout_device_unhealthy(cfg->state_dir, dev->name,
		    on_board, why) == -1 || rollout_halt(cfg->state_dir,
		    source, on_board, dev->name, why) == -1)
			goto out;
		log_notice("source '%s': commit %.7s marked bad and its rollout "
		    "halted; `senko rollout resume %s` takes it up again",
		    source, on_board, source);
	}
	rollout_device_load(cfg->state_dir, dev->name, &run.records[index]);
	snprintf(run.records[index].commit, GITHASH_HEXSZ, "%s", on_board);
	run.actions[index] = ROLLOUT_ROLLBACK;
	sync_device(&run, index);
	*res = report.devices[index];
	rc = res->state == DEVICE_ROLLED_BACK || res->state == DEVICE_IN_SYNC ||
	    res->state == DEVICE_UPDATED ? 0 : 1;
out:
	progress_release(&run.progress);
	manifest_release(&run.targets[index]);
	free(report.devices);
	free(run.manifests);
	free(run.have_manifest);
	free(run.records);
	free(run.actions);
	free(run.targets);
	free(run.prep_error);
	return rc;
}

/* Add the SHAs of m to the keep list (borrowed from m, which lives on). */
static void
keep_manifest(const struct manifest *m, const char ***keep, size_t *n,
    size_t *alloc)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		if (*n == *alloc) {
			*alloc = *alloc ? *alloc * 2 : 256;
			*keep = xreallocarray(*keep, *alloc, sizeof(**keep));
		}
		(*keep)[(*n)++] = m->entries[i].sha;
	}
}

int
sync_engine_gc(const struct sync_engine *e, const struct config *cfg)
{
	size_t nm = cfg->nsources + cfg->ndevices, i, n = 0, alloc = 0;
	struct manifest *lists = xcalloc(nm ? nm : 1, sizeof(*lists));
	const char **keep = NULL;
	struct manifest *extra = NULL;
	size_t nextra = 0;
	unsigned removed = 0;
	int rc = -1;

	for (i = 0; i < cfg->nsources; i++)
		if (forge_saved_manifest(cfg, &cfg->sources[i], &lists[i]) == 0)
			keep_manifest(&lists[i], &keep, &n, &alloc);
	/* A device whose mirror or rollout state cannot be read keeps what
	 * its other files name, and collection goes on for the rest: its
	 * unknown blobs are kept only while younger than the grace.  Never
	 * collecting again would fill state_dir; what a rollback of it may
	 * then miss is fetched again, or the rollback refuses, changing
	 * nothing (sync_rollback). */
	for (i = 0; i < cfg->ndevices; i++) {
		struct manifest *mm = &lists[cfg->nsources + i];
		struct mirror m;
		int scanned;

		scanned = mirror_open(&m, cfg->state_dir,
		    cfg->devices[i].name) == 0 && mirror_scan(&m, mm) == 0;
		mirror_release(&m);
		if (scanned)
			keep_manifest(mm, &keep, &n, &alloc);
		else
			log_warnx("object store: the mirror of '%s' cannot be "
			    "read; collecting garbage without it (its board "
			    "is checked by hash at its next sync)",
			    cfg->devices[i].name);
	}
	/* What a rollback or a pin may push: each board's healthy commits
	 * and its pin (rollout.h). */
	for (i = 0; i < cfg->ndevices; i++)
		if (rollout_kept_manifests(cfg->state_dir, cfg->devices[i].name,
		    &extra, &nextra) == -1)
			log_warnx("object store: part of the rollout state of "
			    "'%s' cannot be read (see above); collecting "
			    "garbage without it: what a rollback of it needs "
			    "is fetched again when it runs",
			    cfg->devices[i].name);
	for (i = 0; i < nextra; i++)
		keep_manifest(&extra[i], &keep, &n, &alloc);
	if (store_gc(e->store, keep, n, SYNC_GC_GRACE_SECONDS, &removed) == -1)
		goto out;
	if (removed > 0)
		log_info("object store: removed %u blob%s no source or board "
		    "needs", removed, removed == 1 ? "" : "s");
	rc = 0;
out:
	for (i = 0; i < nm; i++)
		manifest_release(&lists[i]);
	free(lists);
	for (i = 0; i < nextra; i++)
		manifest_release(&extra[i]);
	free(extra);
	free(keep);
	return rc;
}

void
sync_report_release(struct sync_report *report)
{
	free(report->devices);
	free(report->sources);
	memset(report, 0, sizeof(*report));
}
