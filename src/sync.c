/*
 * sync.c - one cycle of poll, download and fleet push; see sync.h.
 *
 * The main thread polls sources and downloads blobs (the forge is not
 * thread-safe and one connection serves the whole fleet).  Then up to
 * `jobs` worker threads each take the next due device and run
 * sync_device() on it: scan the mirror, plan, and only if the plan is not
 * empty open the port, reconcile with the board's own record, push,
 * reset, record the outcome.  Workers share only the read-only manifests,
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
#include "devfs.h"
#include "forge.h"
#include "fsutil.h"
#include "human.h"
#include "log.h"
#include "mirror.h"
#include "plan.h"
#include "progress.h"
#include "repl.h"
#include "serial.h"
#include "status.h"
#include "store.h"
#include "sync.h"
#include "xalloc.h"
#include "banned.h"

/* A push is cut into groups so a stop request is honoured within seconds
 * even at 115200 baud (11.5 KB/s). */
#define GROUP_MAX_BYTES (32 * 1024)
#define GROUP_MAX_FILES 16
/* How long a board may take to answer after a reset. */
#define ALIVE_TIMEOUT_MS 15000
/* A status file that did not change is still rewritten after this long,
 * so its last_attempt says the daemon is alive (status.h). */
#define STATUS_REFRESH_SECONDS 3600
/* How often `senko sync --wait` tries a port another process holds. */
#define BUSY_RETRY_US (500 * 1000)

struct sync_run {
	const struct config *cfg;
	const struct store *store;
	const struct sync_options *opts;
	struct manifest *manifests;   /* per source */
	bool *have_manifest;          /* per source */
	struct sync_report *report;
	struct progress progress;
	pthread_mutex_t lock;         /* guards next */
	size_t next;                  /* next device index to consider */
};

/* One worker's view of one device for one cycle. */
struct board_job {
	struct sync_run *run;
	size_t index;
	const struct config_device *dev;
	const struct manifest *upstream;
	struct sync_device_result *res;
	struct mirror mirror;
	struct repl *repl;
	uint64_t bytes_before_group;  /* for progress */
	bool stopped;                 /* a stop request ended the push */
	char platform[32];            /* from the board's probe, for status */
	char version[64];
};

static bool
device_is_due(const struct sync_run *run, size_t i)
{
	return run->opts->device_due == NULL || run->opts->device_due[i];
}

static bool
stop_requested(const struct sync_run *run)
{
	return run->opts->stop != NULL && *run->opts->stop;
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

/* ---------------------------------------------------------------- reconcile */

/* dest-relative path of a board path below dest, or NULL. */
static const char *
relative_to_dest(const char *dest, const char *board_path)
{
	size_t n = strlen(dest);

	if (strcmp(dest, "/") == 0)
		return board_path[0] == '/' ? board_path + 1 : NULL;
	if (strncmp(board_path, dest, n) != 0 || board_path[n] != '/')
		return NULL;
	return board_path + n + 1;
}

/* Does a board file whose hash is board_hex hold blob sha? */
static int
board_file_is(struct board_job *job, const char *board_hex, const char *sha,
    bool *same)
{
	char host_hex[DEVFS_HASH_HEXSZ];
	uint64_t size;
	int fd;

	*same = false;
	if (devfs_hash_algo(job->repl) == DEVFS_HASH_GIT_SHA1) {
		*same = strcmp(board_hex, sha) == 0;
		return 0;
	}
	fd = store_open_blob(job->run->store, sha, &size);
	if (fd == -1)
		return 0; /* no blob to compare with: treat as different */
	if (devfs_hash_host(DEVFS_HASH_SHA256, fd, host_hex) == -1) {
		close(fd);
		return -1;
	}
	close(fd);
	*same = strcmp(board_hex, host_hex) == 0;
	return 0;
}

static int
list_board(struct board_job *job, struct manifest *sizes)
{
	struct devfs_list list = { NULL, 0 };
	size_t i;

	if (devfs_list(job->repl, job->dev->dest, &list) == -1)
		return -1;
	for (i = 0; i < list.n; i++) {
		const struct devfs_entry *e = &list.entries[i];
		const char *rel = relative_to_dest(job->dev->dest, e->path);

		if (e->is_dir || rel == NULL || *rel == '\0' ||
		    strcmp(rel, MIRROR_RECORD_NAME) == 0)
			continue;
		manifest_add(sizes, rel, "", e->size, 0100644);
	}
	devfs_list_release(&list);
	manifest_sort(sizes);
	return 0;
}

/*
 * Is the board what the mirror says?  The record senko left on the board
 * must list the mirror's files with the same blobs, and the board's
 * listing must show them with the mirror's sizes.  Cheap: two runs.
 */
static bool
board_matches_mirror(struct board_job *job, const struct manifest *mm,
    const struct manifest *sizes, const char **why)
{
	struct buf text = BUF_INIT;
	struct manifest rec = MANIFEST_INIT;
	char *path = plan_board_path(job->dev->dest, MIRROR_RECORD_NAME);
	bool same = false;
	size_t i;

	*why = "no record of senko's on the board";
	if (devfs_read(job->repl, path, &text) == -1)
		goto out;
	*why = "senko's record on the board is unreadable";
	if (mirror_record_decode(&rec, text.data, text.len, path) == -1)
		goto out;
	*why = "the board's record lists other files than senko's mirror";
	if (rec.n != mm->n)
		goto out;
	for (i = 0; i < mm->n; i++) {
		const struct manifest_entry *e = &mm->entries[i];
		const struct manifest_entry *r = manifest_find(&rec, e->path);
		const struct manifest_entry *s = manifest_find(sizes, e->path);

		if (r == NULL || strcmp(r->sha, e->sha) != 0)
			goto out;
		if (s == NULL || s->size != e->size) {
			*why = "a file on the board has another size than "
			    "senko wrote (edited by hand?)";
			goto out;
		}
	}
	same = true;
out:
	manifest_release(&rec);
	buf_release(&text);
	free(path);
	return same;
}

/* Check one candidate file on the board against the blobs it may hold. */
static int
adopt_board_file(struct board_job *job, const struct manifest_entry *size,
    const struct manifest_entry *up, const struct manifest_entry *mine,
    struct manifest *found)
{
	const struct manifest_entry *cands[2] = { up, mine };
	char hex[DEVFS_HASH_HEXSZ];
	char *bpath;
	bool same;
	int i, rc = 0;

	if ((!up || up->size != size->size) &&
	    (!mine || mine->size != size->size))
		return 0; /* no size fits: it differs, no need to hash */
	bpath = plan_board_path(job->dev->dest, size->path);
	if (devfs_hash(job->repl, bpath, hex) == -1) {
		free(bpath);
		return -1;
	}
	for (i = 0; i < 2; i++) {
		if (cands[i] == NULL || cands[i]->size != size->size)
			continue;
		rc = board_file_is(job, hex, cands[i]->sha, &same);
		if (rc == -1 || same)
			break;
	}
	if (rc == 0 && same)
		manifest_add(found, size->path, cands[i]->sha, size->size,
		    0100644);
	free(bpath);
	return rc;
}

/*
 * When the board disagrees with the mirror (a new gateway, a deleted
 * state_dir, a board edited by hand or replaced), hash the files on the
 * board that upstream or the mirror name and rebuild the mirror from what
 * is really there.  Costs hashing on the board, not re-sending files.
 */
static int
reconcile(struct board_job *job, struct manifest *mm)
{
	struct manifest sizes = MANIFEST_INIT, found = MANIFEST_INIT;
	const char *why;
	size_t i;
	int rc = -1;

	if (list_board(job, &sizes) == -1)
		goto out;
	if (board_matches_mirror(job, mm, &sizes, &why)) {
		rc = 0;
		goto out;
	}
	log_notice("%s: %s; checking its files by hash", job->dev->name, why);
	for (i = 0; i < sizes.n; i++) {
		const struct manifest_entry *s = &sizes.entries[i];
		const struct manifest_entry *up = manifest_find(job->upstream,
		    s->path);
		const struct manifest_entry *mine = manifest_find(mm, s->path);

		if (up == NULL && mine == NULL)
			continue; /* the user's own file: not ours to judge */
		if (stop_requested(job->run)) {
			/* A board of many files takes a while to hash. */
			job->stopped = true;
			goto out;
		}
		if (adopt_board_file(job, s, up, mine, &found) == -1)
			goto out;
	}
	for (i = 0; i < mm->n; i++)
		if (manifest_find(&found, mm->entries[i].path) == NULL)
			log_notice("%s: '%s' on the board is not what senko "
			    "wrote there; it will be repaired",
			    job->dev->name, mm->entries[i].path);
	manifest_sort(&found);
	if (mirror_replace(&job->mirror, job->run->store, &found) == -1)
		goto out;
	manifest_release(mm);
	manifest_init(mm);
	rc = mirror_scan(&job->mirror, mm);
out:
	manifest_release(&sizes);
	manifest_release(&found);
	return rc;
}

/* -------------------------------------------------------------------- push */

struct push_ctx {
	struct board_job *job;
	struct devfs_push_item *items;
	const struct plan_write **writes; /* the write behind each item */
};

static void
push_done(void *arg, const struct devfs_push_item *it)
{
	struct push_ctx *ctx = arg;
	struct board_job *job = ctx->job;
	const struct plan_write *w = ctx->writes[it - ctx->items];

	/* The board verified and renamed it: now, and only now, the mirror
	 * may say the board has it. */
	if (mirror_put(&job->mirror, job->run->store, w->path, w->sha) == -1)
		log_warnx("%s: '%s' is on the board but the mirror could not "
		    "record it; it will be checked next time", job->dev->name,
		    w->path);
	job->res->files_sent++;
	job->res->bytes_sent += w->size;
	job->bytes_before_group += w->size;
	if (!job->run->progress.enabled) {
		char size[HUMAN_MAX];

		human_size(size, sizeof(size), w->size);
		log_info("%s: wrote %s (%s)", job->dev->name, w->path, size);
	}
}

static void
push_progress(void *arg, const struct devfs_push_item *it, uint64_t sent)
{
	struct push_ctx *ctx = arg;
	struct board_job *job = ctx->job;
	const struct plan_write *w = ctx->writes[it - ctx->items];

	progress_update(&job->run->progress, job->index, w->path,
	    job->bytes_before_group + sent);
}

/*
 * Push writes[0..n) as one stream.  Returns the number of files that
 * failed, or -1 when the line to the board failed.
 */
static int
push_group(struct board_job *job, const struct plan_write *writes, size_t n)
{
	struct devfs_push_item *items = xcalloc(n, sizeof(*items));
	struct push_ctx ctx = { job, items, xcalloc(n, sizeof(*ctx.writes)) };
	size_t i, nitems = 0;
	int missing = 0, rc;

	for (i = 0; i < n; i++) {
		uint64_t size;
		int fd = store_open_blob(job->run->store, writes[i].sha, &size);

		if (fd == -1) {
			log_failx("%s: cannot write '%s': blob %s is not in "
			    "the object store (its download failed)",
			    job->dev->name, writes[i].path, writes[i].sha);
			missing++;
			continue;
		}
		items[nitems].path = plan_board_path(job->dev->dest,
		    writes[i].path);
		items[nitems].fd = fd;
		items[nitems].size = size;
		items[nitems].result = -1;
		ctx.writes[nitems++] = &writes[i];
	}
	rc = nitems ? devfs_push(job->repl, items, nitems, push_done,
	    push_progress, &ctx) : 0;
	for (i = 0; i < nitems; i++) {
		close(items[i].fd);
		free((char *)items[i].path);
	}
	free(items);
	free(ctx.writes);
	return rc == -1 ? -1 : rc + missing;
}

static int
apply_plan(struct board_job *job, const struct plan *p)
{
	size_t i, start;
	int failed = 0;

	for (i = 0; i < p->ndeletes; i++) {
		char *bpath = plan_board_path(job->dev->dest, p->deletes[i]);
		int rc = devfs_remove(job->repl, bpath);

		free(bpath);
		if (rc == -1)
			return -1;
		mirror_remove(&job->mirror, p->deletes[i]);
		job->res->files_deleted++;
		log_info("%s: deleted %s", job->dev->name, p->deletes[i]);
	}
	for (i = 0; i < p->nmkdirs; i++) {
		char *bpath = plan_board_path(job->dev->dest, p->mkdirs[i]);
		int rc = devfs_mkdir_p(job->repl, bpath);

		free(bpath);
		if (rc == -1)
			return -1;
	}
	progress_start(&job->run->progress, job->index, job->dev->name,
	    job->res->bytes_planned);
	for (start = 0; start < p->nwrites; ) {
		uint64_t bytes = 0;
		size_t n = 0;
		int rc;

		if (stop_requested(job->run)) {
			log_notice("%s: stopping; %zu files left for the next "
			    "sync", job->dev->name, p->nwrites - start);
			job->stopped = true;
			return -1;
		}
		while (start + n < p->nwrites && n < GROUP_MAX_FILES &&
		    (n == 0 || bytes + p->writes[start + n].size <=
		    GROUP_MAX_BYTES))
			bytes += p->writes[start + n++].size;
		rc = push_group(job, p->writes + start, n);
		if (rc == -1)
			return -1;
		failed += rc;
		start += n;
	}
	progress_finish(&job->run->progress, job->index);
	return failed;
}

/* Write the board's own record of what senko put there. */
static int
write_record(struct board_job *job)
{
	struct manifest mm = MANIFEST_INIT;
	struct buf text = BUF_INIT;
	char *path;
	int rc = -1;

	if (mirror_scan(&job->mirror, &mm) == -1)
		goto out;
	if (mirror_record_encode(&mm, &text) == -1)
		goto out;
	path = plan_board_path(job->dev->dest, MIRROR_RECORD_NAME);
	rc = devfs_write_small(job->repl, path, text.data, text.len);
	free(path);
out:
	manifest_release(&mm);
	buf_release(&text);
	return rc;
}

/*
 * Restart the board's application as the device's reset says.  A stopped
 * visit does not wait to see it answer: the process is on its way out.
 */
static int
reset_board(struct board_job *job, bool check)
{
	const char *how = reset_mode_name(job->dev->reset);
	int rc;

	if (job->dev->reset == RESET_NONE)
		return 0;
	rc = job->dev->reset == RESET_HARD ? repl_hard_reset(job->repl) :
	    repl_soft_reset(job->repl);
	if (rc == -1)
		return log_failx("%s: files updated to %.7s, but the %s reset "
		    "failed: %s", job->dev->name, job->upstream->commit, how,
		    log_last_error());
	if (!check || stop_requested(job->run))
		return 0;
	if (repl_check_alive(job->repl, ALIVE_TIMEOUT_MS) == -1)
		return log_failx("%s: files updated to %.7s, but the board did "
		    "not answer within %d s after a %s reset: check its "
		    "boot.py and main.py", job->dev->name,
		    job->upstream->commit, ALIVE_TIMEOUT_MS / 1000, how);
	log_info("%s: %s reset, the board answers", job->dev->name, how);
	return 0;
}

/* ----------------------------------------------------------------- device */

/*
 * A board that keeps the raw REPL away (a main.py that ignores Ctrl-C)
 * only answers after a reset.  With reset = hard, pulse the lines once and try again.
 */
static struct repl *
open_after_hard_reset(struct board_job *job)
{
	struct serial *s;
	int rc;

	log_notice("%s: no raw REPL; trying a hard reset (reset = hard)",
	    job->dev->name);
	s = serial_open(job->dev->port, job->dev->baud);
	if (s == NULL)
		return NULL;
	rc = serial_pulse_reset(s);
	serial_close(s);
	if (rc == -1)
		return NULL;
	return repl_open(job->dev->port, job->dev->baud);
}

/*
 * With --wait, a port another process holds is no error: try quietly, say
 * once that we wait, and log any other failure as repl_open would have.
 */
static struct repl *
open_waiting(struct board_job *job, int attempt)
{
	char why[512];
	struct repl *r;
	int quiet, saved;

	quiet = log_thread_quiet(1);
	r = repl_open_stoppable(job->dev->port, job->dev->baud,
	    job->run->opts->stop);
	saved = errno;
	log_thread_quiet(quiet);
	if (r == NULL) {
		snprintf(why, sizeof(why), "%s", log_last_error());
		if (saved != EBUSY && *why)
			log_failx("%s", why);
		else if (attempt == 0)
			log_notice("%s; waiting for the port (--wait)", why);
	}
	errno = saved;
	return r;
}

static struct repl *
open_board(struct board_job *job)
{
	const volatile sig_atomic_t *stop = job->run->opts->stop;
	struct repl *r;
	int attempt;

	for (attempt = 0;; attempt++) {
		r = job->run->opts->wait_busy ? open_waiting(job, attempt) :
		    repl_open_stoppable(job->dev->port, job->dev->baud, stop);
		if (r == NULL && errno == ETIMEDOUT && stop_requested(job->run))
			errno = ECANCELED;
		if (r == NULL && errno == ETIMEDOUT) {
			if (devfs_push_rescue(job->dev->port,
			    job->dev->baud) == 0)
				r = repl_open_stoppable(job->dev->port,
				    job->dev->baud, stop);
			else
				errno = stop_requested(job->run) ? ECANCELED :
				    ETIMEDOUT;
		}
		if (r == NULL && errno == ETIMEDOUT &&
		    job->dev->reset == RESET_HARD)
			return open_after_hard_reset(job);
		if (r != NULL || errno != EBUSY || !job->run->opts->wait_busy ||
		    stop_requested(job->run))
			return r;
		usleep(BUSY_RETRY_US);
	}
}

static void
job_connect_failed(struct board_job *job)
{
	int saved = errno;

	if (saved == ECANCELED)
		job_stopped(job, "while opening the port");
	else if (saved == ENOENT || saved == ENODEV || saved == EIO ||
	    saved == ENXIO || saved == ETIMEDOUT)
		job_fail(job, DEVICE_OFFLINE, NULL);
	else if (saved == EBUSY)
		job_fail(job, DEVICE_BUSY, NULL);
	else
		job_fail(job, DEVICE_FAILED, NULL);
}

/* Talk to the board: reconcile, push the plan, record, reset. */
static void
sync_on_board(struct board_job *job, struct manifest *mm, struct plan *p)
{
	const struct repl_info *info;
	char size[HUMAN_MAX];
	int failed;

	job->repl = open_board(job);
	if (job->repl == NULL) {
		job_connect_failed(job);
		return;
	}
	info = repl_info(job->repl);
	snprintf(job->platform, sizeof(job->platform), "%s", info->platform);
	snprintf(job->version, sizeof(job->version), "%s", info->version);
	log_debug("%s: MicroPython %s on %s", job->dev->name, info->version,
	    info->platform);
	if (devfs_clean_temps(job->repl, job->dev->dest) == -1 ||
	    reconcile(job, mm) == -1) {
		if (job->stopped) {
			job_stopped(job, "while checking the board's files");
			reset_board(job, false);
		} else
			job_fail(job, DEVICE_FAILED, NULL);
		goto out;
	}
	plan_release(p);
	plan_build(p, job->upstream, mm, job->dev->prune);
	plan_totals(p, NULL, &job->res->bytes_planned);
	job->res->files_planned = (unsigned)p->nwrites;
	job->res->deletes_planned = (unsigned)p->ndeletes;
	if (plan_is_empty(p)) {
		job->res->state = DEVICE_IN_SYNC;
		goto record;
	}
	human_size(size, sizeof(size), job->res->bytes_planned);
	log_info("%s: %zu file%s to write (%s), %zu to delete",
	    job->dev->name, p->nwrites, p->nwrites == 1 ? "" : "s", size,
	    p->ndeletes);
	failed = apply_plan(job, p);
	if (job->stopped) {
		/*
		 * No record: the one on the board still names what was there
		 * before, so the next visit checks the files by hash.  The
		 * application runs again (the files it has are whole: each
		 * was renamed into place only after its hash was checked).
		 */
		job_stopped(job, "during the update");
		reset_board(job, false);
		goto out;
	}
	if (failed != 0) {
		/* No record either: a record written now could list fewer
		 * files than the board holds, and the next run would send
		 * them all again instead of hashing them. */
		job_fail(job, DEVICE_FAILED, NULL);
		goto out;
	}
	job->res->state = DEVICE_UPDATED;
record:
	mirror_set_commit(&job->mirror, job->upstream->commit);
	if (write_record(job) == -1) {
		job_fail(job, DEVICE_FAILED, NULL);
		goto out;
	}
	if (job->res->state == DEVICE_UPDATED && reset_board(job, true) == -1)
		job_fail(job, DEVICE_FAILED, NULL);
out:
	repl_close(job->repl);
	job->repl = NULL;
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
	    job->res->state == DEVICE_UPDATED) {
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

static void
sync_device(struct sync_run *run, size_t index)
{
	const struct config *cfg = run->cfg;
	struct board_job job;
	struct manifest mm = MANIFEST_INIT;
	struct plan p = PLAN_INIT;
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
	if (!run->have_manifest[job.dev->source_index]) {
		/* The source's own error was said when it was polled. */
		char why[256];

		snprintf(why, sizeof(why), "nothing to sync: source '%s' "
		    "failed (see its error); the board keeps its files",
		    cfg->sources[job.dev->source_index].name);
		job_fail(&job, DEVICE_FAILED, why);
		save_status(&job);
		goto out;
	}
	snprintf(job.res->commit, sizeof(job.res->commit), "%s",
	    job.upstream->commit);
	if (mirror_open(&job.mirror, cfg->state_dir, job.dev->name) == -1 ||
	    mirror_scan(&job.mirror, &mm) == -1) {
		job_fail(&job, DEVICE_FAILED, NULL);
		goto out;
	}
	plan_build(&p, job.upstream, &mm, job.dev->prune);
	plan_totals(&p, NULL, &job.res->bytes_planned);
	job.res->files_planned = (unsigned)p.nwrites;
	job.res->deletes_planned = (unsigned)p.ndeletes;
	if (run->opts->check_only) {
		job.res->state = plan_is_empty(&p) ? DEVICE_IN_SYNC :
		    DEVICE_PENDING;
		goto out;
	}
	if (plan_is_empty(&p) && !run->opts->force) {
		/* The mirror is the board: nothing to do, port left shut. */
		job.res->state = DEVICE_IN_SYNC;
		mirror_set_commit(&job.mirror, job.upstream->commit);
	} else if (missing_blobs(&job) == 0)
		sync_on_board(&job, &mm, &p);
	/* After a failure the index is not saved: the files the board
	 * confirmed are in the mirror folder and the next scan hashes them. */
	if (job.res->state == DEVICE_IN_SYNC ||
	    job.res->state == DEVICE_UPDATED)
		mirror_save(&job.mirror);
	save_status(&job);
out:
	clock_gettime(CLOCK_MONOTONIC, &ended);
	job.res->duration_ms = (uint64_t)(ended.tv_sec - started.tv_sec) *
	    1000 + (uint64_t)((ended.tv_nsec - started.tv_nsec) / 1000000);
	log_thread_quiet(0);
	log_set_context(NULL);
	plan_release(&p);
	manifest_release(&mm);
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
		    !device_is_due(run, run->next))
			run->next++;
		i = run->next++;
		pthread_mutex_unlock(&run->lock);
		if (i >= run->cfg->ndevices)
			return NULL;
		if (stop_requested(run)) {
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

/* ---------------------------------------------------------------- sources */

static bool
source_is_needed(const struct sync_run *run, size_t s)
{
	size_t i;

	for (i = 0; i < run->cfg->ndevices; i++)
		if (run->cfg->devices[i].source_index == s &&
		    device_is_due(run, i))
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
		if (source_is_needed(run, i) && r->sources[i].ok != 0)
			failed = true;
	for (i = 0; i < r->ndevices; i++) {
		if (!device_is_due(run, i))
			continue;
		switch (r->devices[i].state) {
		case DEVICE_IN_SYNC:
		case DEVICE_UPDATED:
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
	pthread_t *threads;
	sigset_t all, saved;
	size_t i, nthreads, ndue = 0;
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
	run.opts = opts;
	run.report = report;
	run.manifests = xcalloc(cfg->nsources ? cfg->nsources : 1,
	    sizeof(*run.manifests));
	run.have_manifest = xcalloc(cfg->nsources ? cfg->nsources : 1,
	    sizeof(*run.have_manifest));
	pthread_mutex_init(&run.lock, NULL);
	progress_init(&run.progress, opts->progress, cfg->ndevices);

	if (!opts->check_only && (prepare_state_dir(cfg) == -1 ||
	    store_prepare(store) == -1))
		log_warnx("state_dir '%s' is not usable; downloads and "
		    "records will fail this cycle", cfg->state_dir);
	for (i = 0; i < cfg->nsources; i++)
		if (source_is_needed(&run, i) && !stop_requested(&run))
			poll_source(&run, forge, i);
	report->retry_after = forge_retry_after(forge);
	report->rate_limit_remaining = forge_stats(forge)->rate_limit_remaining;

	for (i = 0; i < cfg->ndevices; i++)
		if (device_is_due(&run, i))
			ndue++;
	nthreads = ndue < cfg->jobs ? ndue : cfg->jobs;
	threads = xcalloc(nthreads ? nthreads : 1, sizeof(*threads));
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &saved);
	for (i = 0; i < nthreads; i++)
		if (pthread_create(&threads[i], NULL, worker_main, &run) != 0)
			fatalx("cannot start a worker thread");
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	for (i = 0; i < nthreads; i++)
		pthread_join(threads[i], NULL);
	free(threads);

	rc = exit_status(&run);
	progress_release(&run.progress);
	pthread_mutex_destroy(&run.lock);
	for (i = 0; i < cfg->nsources; i++)
		manifest_release(&run.manifests[i]);
	free(run.manifests);
	free(run.have_manifest);
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
	unsigned removed = 0;
	int rc = -1;

	for (i = 0; i < cfg->nsources; i++)
		if (forge_saved_manifest(cfg, &cfg->sources[i], &lists[i]) == 0)
			keep_manifest(&lists[i], &keep, &n, &alloc);
	for (i = 0; i < cfg->ndevices; i++) {
		struct manifest *mm = &lists[cfg->nsources + i];
		struct mirror m;
		int scanned;

		scanned = mirror_open(&m, cfg->state_dir,
		    cfg->devices[i].name) == 0 && mirror_scan(&m, mm) == 0;
		mirror_release(&m);
		if (!scanned) {
			log_warnx("object store: not collecting garbage, the "
			    "mirror of '%s' cannot be read",
			    cfg->devices[i].name);
			goto out;
		}
		keep_manifest(mm, &keep, &n, &alloc);
	}
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
