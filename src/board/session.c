/*
 * session.c - one visit to one board; see session.h.
 *
 *   open (Ctrl-C, raw REPL, probe)       execution 1
 *   soft reset inside the raw REPL       clean heap, main.py not started
 *   agent: inventory, [list, read record, hash], stage, journal,
 *          commit, finish                execution 2
 *   soft (or hard) reset, boot watch     the application runs again
 */
#include <errno.h>
#include <regex.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "buf.h"
#include "devfs.h"
#include "human.h"
#include "identity.h"
#include "log.h"
#include "mirror.h"
#include "openmark.h"
#include "path.h"
#include "plan.h"
#include "progress.h"
#include "recdelta.h"
#include "record.h"
#include "repl.h"
#include "serial.h"
#include "session.h"
#include "store.h"
#include "xalloc.h"
#include "banned.h"

#define BUSY_RETRY_US (500 * 1000)
#define FLASH_SLACK 4096      /* filesystem overhead we do not model */
#define BLOB_MAX (64u * 1024 * 1024)
/* A record edit must save at least this much over sending it whole. */
#define RECORD_PATCH_MIN 256

struct visit {
	const struct session_job *job;
	const struct config_device *dev;
	struct session_result *res;
	struct repl *repl;
	struct agent *agent;
	enum devfs_hash_algo algo;
	uint64_t progress_base;
	const char *progress_path;
	/* The record on the board, when we know its texts (the base its
	 * update is patched from). */
	struct record board_rec;
	bool board_rec_known;
	/* The board's record is not the one its files call for: write it
	 * even when no file changes. */
	bool record_stale;
	/* Not the board senko last updated as this device (identity.h):
	 * the mirror is not believed. */
	bool new_board;
};

static bool
stop_requested(const struct session_job *job)
{
	return job->stop != NULL && *job->stop;
}

/* What a board's error name means, for people. */
static const char *
explain(const char *err)
{
	static const struct {
		const char *name, *text;
	} names[] = {
		{ "ENOTDIR", "a file is in the way where a folder must be" },
		{ "EISDIR", "a folder is in the way where a file must be" },
		{ "ENOTEMPTY", "a folder is in the way and holds files senko "
		    "did not write; remove them from the board" },
		{ "EEXIST", "something is in the way: a folder holding files "
		    "senko did not write, or a file; remove it from the board" },
		{ "ENOSPC", "the board's flash is full" },
		{ "ENOENT", "no such file or folder" },
		{ "EROFS", "the board's file system is read-only" },
		{ "EACCES", "permission denied" },
		{ "ENOMEM", "the board ran out of memory" },
		{ "EIO", "the board's flash reported an I/O error" },
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strncmp(err, names[i].name, strlen(names[i].name)) == 0)
			return names[i].text;
	return NULL;
}

/*
 * MicroPython's own errno numbers (py/mperrno.h, Linux's), for a board
 * without the errno module's names.
 */
static const char *
errno_name(const char *err)
{
	static const char *names[] = {
		[2] = "ENOENT", [5] = "EIO", [12] = "ENOMEM", [13] = "EACCES",
		[17] = "EEXIST", [20] = "ENOTDIR", [21] = "EISDIR",
		[22] = "EINVAL", [28] = "ENOSPC", [30] = "EROFS",
		[39] = "ENOTEMPTY",
	};
	unsigned long n;
	char *end;

	if (strncmp(err, "errno ", 6) != 0)
		return err;
	n = strtoul(err + 6, &end, 10);
	if (*end != '\0' || n >= sizeof(names) / sizeof(names[0]) ||
	    names[n] == NULL)
		return err;
	return names[n];
}

/* "ENOSPC (the board's flash is full)", escaped, into out. */
static void
board_reason(struct buf *out, const char *err)
{
	const char *text;

	err = errno_name(err);
	text = explain(err);

	path_quote(out, err, strlen(err));
	if (text != NULL)
		buf_addf(out, " (%s)", text);
}

/* ---------------------------------------------------------------- open */

static struct repl *
open_after_hard_reset(const struct config_device *dev,
    const volatile sig_atomic_t *stop)
{
	struct serial *s;
	int rc;

	log_notice("%s: no raw REPL; trying a hard reset (reset = hard)",
	    dev->name);
	s = serial_open(dev->port, dev->baud);
	if (s == NULL)
		return NULL;
	rc = serial_pulse_reset(s);
	serial_close(s);
	if (rc == -1)
		return NULL;
	/* A stop during the second open ends it too (senkod stops in 5 s). */
	return repl_open_stoppable(dev->port, dev->baud, stop);
}

/*
 * With --wait, a port another process holds is no error: try quietly, say
 * once that we wait, and log any other failure as repl_open would have.
 */
static struct repl *
open_waiting(const struct session_job *job, int attempt)
{
	const struct config_device *dev = job->dev;
	char why[512];
	struct repl *r;
	int quiet, saved;

	quiet = log_thread_quiet(1);
	r = repl_open_stoppable(dev->port, dev->baud, job->stop);
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
open_board(const struct session_job *job)
{
	const struct config_device *dev = job->dev;
	struct repl *r;
	int attempt;

	for (attempt = 0;; attempt++) {
		r = job->wait_busy ? open_waiting(job, attempt) :
		    repl_open_stoppable(dev->port, dev->baud, job->stop);
		if (r == NULL && errno == ETIMEDOUT && stop_requested(job))
			errno = ECANCELED;
		if (r == NULL && errno == ETIMEDOUT &&
		    dev->reset == RESET_HARD)
			return open_after_hard_reset(dev, job->stop);
		if (r != NULL || errno != EBUSY || !job->wait_busy ||
		    stop_requested(job))
			return r;
		usleep(BUSY_RETRY_US);
	}
}

/*
 * Is the board that answered on dev's port the one senko last updated as
 * dev (identity.h)?  Returns 0 to go on, *new_board (may be NULL) set for
 * a board senko does not know (noticed when new_board is not NULL: a
 * sync, which takes it as new).  Returns -1 (logged, errno EPERM) for the
 * board of another device: its application was given back (that
 * device's reset), r is closed, and nothing was written to it.
 */
static int
check_board(struct repl *r, const struct config_device *dev,
    const char *state_dir, bool *new_board)
{
	const char *uid = repl_info(r)->unique_id, *port = dev->port;
	const struct config_device *owner;
	enum identity_board is;
	char *was;
	int quiet;

	if (new_board != NULL)
		*new_board = false;
	is = identity_check_board(state_dir, dev, uid, &was, &owner);
	if (is == IDENTITY_BOARD_NEW && new_board != NULL) {
		*new_board = true;
		log_notice("%s: the board on %s is not the one senko last "
		    "updated as %s (id %s, now %s): taking it as a new board",
		    dev->name, port, dev->name, was, uid);
	}
	if (is != IDENTITY_BOARD_OTHERS) {
		free(was);
		return 0;
	}
	/* The probe interrupted it: its own device's reset restarts it. */
	quiet = log_thread_quiet(1);
	(void)session_leave(r, owner, NULL, false);
	log_thread_quiet(quiet);
	repl_close(r);
	if (was != NULL)
		log_failx("%s: the board on %s is device %s's board (unique id "
		    "%s), not %s's (%s); nothing was written to it.  The "
		    "serial ports changed names (boards swapped, or boards "
		    "without a USB serial number sharing one by-id name): "
		    "name each board by its id (port = uid:%s for %s, see "
		    "senko.conf(5)), or fix the cabling", dev->name, port,
		    owner->name, uid, dev->name, was, was, dev->name);
	else
		log_failx("%s: the board on %s is device %s's board (unique id "
		    "%s); nothing was written to it.  The serial ports "
		    "changed names (boards swapped, or boards without a USB "
		    "serial number sharing one by-id name): name each board "
		    "by its id (port = uid:HEX, as senko ports --probe shows "
		    "it; see senko.conf(5)), or fix the cabling", dev->name,
		    port, owner->name, uid);
	free(was);
	errno = EPERM;
	return -1;
}

static enum session_outcome
connect_failed(void)
{
	int saved = errno;

	if (saved == ECANCELED)
		return SESSION_STOPPED;
	if (saved == ENOENT || saved == ENODEV || saved == EIO ||
	    saved == ENXIO || saved == ETIMEDOUT)
		return SESSION_OFFLINE;
	if (saved == EBUSY)
		return SESSION_BUSY;
	return SESSION_FAILED;
}

/* ------------------------------------------------------------- helpers */

static int
read_blob(const struct store *store, const char *sha, struct buf *out)
{
	uint64_t size, off = 0;
	ssize_t n;
	int fd = store_open_blob(store, sha, &size);

	if (fd == -1)
		return log_failx("blob %s is not in the object store (its "
		    "download failed)", sha);
	buf_init(out, BLOB_MAX);
	if (size > BLOB_MAX || buf_grow(out, (size_t)size) == -1) {
		close(fd);
		return log_failx("blob %s is too large (%" PRIu64 " bytes)",
		    sha, size);
	}
	while (off < size) {
		n = pread(fd, out->data + off, (size_t)(size - off),
		    (off_t)off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return log_fail("cannot read blob %s", sha);
		}
		off += (uint64_t)n;
	}
	close(fd);
	out->len = (size_t)size;
	out->data[out->len] = '\0';
	return 0;
}

/* The hash the board computes for blob sha, whose bytes are data. */
static int
board_hash_mem(const struct visit *v, const char *sha, const void *data,
    size_t len, char hex[DEVFS_HASH_HEXSZ])
{
	if (v->algo == DEVFS_HASH_GIT_SHA1) {
		snprintf(hex, DEVFS_HASH_HEXSZ, "%s", sha);
		return 0;
	}
	return devfs_hash_mem(v->algo, data, len, hex);
}

/* The hash the board computes for blob sha ("-" when unknown). */
static void
board_hash_of(struct visit *v, const char *sha, char hex[DEVFS_HASH_HEXSZ])
{
	struct buf data = BUF_INIT;

	if (v->algo == DEVFS_HASH_GIT_SHA1) {
		board_hash_mem(v, sha, NULL, 0, hex);
		return;
	}
	snprintf(hex, DEVFS_HASH_HEXSZ, "-");
	if (read_blob(v->job->store, sha, &data) == 0)
		board_hash_mem(v, sha, data.data, data.len, hex);
	buf_release(&data);
}

static char *
board_path(const struct visit *v, const char *rel)
{
	return plan_board_path(v->dev->dest, rel);
}

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

/* senko's own files on the board, never part of the application. */
static bool
is_senkos(const char *rel)
{
	size_t n = strlen(rel), s = strlen(DEVFS_TEMP_SUFFIX);

	return record_is_name(rel) || strcmp(rel, AGENT_JOURNAL_NAME) == 0 ||
	    (n > s && strcmp(rel + n - s, DEVFS_TEMP_SUFFIX) == 0);
}

/* The record the board should hold for manifest m, and its index's hash. */
static int
expected_record(struct visit *v, const struct manifest *m, struct record *rec,
    char hex[DEVFS_HASH_HEXSZ])
{
	if (record_encode(m, rec) == -1)
		return -1;
	return devfs_hash_mem(v->algo, rec->index.data, rec->index.len, hex);
}

/* ----------------------------------------------------------- reconcile */

static int
list_board(struct visit *v, struct manifest *sizes)
{
	struct devfs_list list = { NULL, 0 };
	size_t i;

	if (agent_list(v->agent, v->dev->dest, &list) == -1)
		return -1;
	for (i = 0; i < list.n; i++) {
		const struct devfs_entry *e = &list.entries[i];
		const char *rel = relative_to_dest(v->dev->dest, e->path);

		if (e->is_dir || rel == NULL || *rel == '\0' || is_senkos(rel))
			continue;
		manifest_add(sizes, rel, "", e->size, 0100644);
	}
	devfs_list_release(&list);
	manifest_sort(sizes);
	return 0;
}

/* What read_board_record() found besides a failed line (-1) or none (0). */
enum {
	RECORD_BELIEVED = 1,
	RECORD_UNTRUSTED = 2,
};

/* What the board's record holds now; takes rec's texts. */
static void
remember_record(struct visit *v, struct record *rec)
{
	record_release(&v->board_rec);
	v->board_rec = *rec;
	v->board_rec_known = true;
	memset(rec, 0, sizeof(*rec));
}

/*
 * Read the board's record into rec.  Returns 1 when rec holds a record
 * that can be believed (a version 2 record is also remembered, for its
 * pages to be patched), 0 with rec empty when there is none, 2 with rec
 * empty when there is one that cannot be believed (a page missing, pages
 * that do not match the index), -1 only when the line failed.
 */
static int
read_board_record(struct visit *v, struct manifest *rec)
{
	struct record got = RECORD_INIT;
	struct record_index ix;
	char *ipath = board_path(v, RECORD_INDEX_NAME), *ppath = NULL;
	unsigned k;
	int rc = 0;

	buf_init(&got.index, RECORD_TEXT_MAX);
	if (agent_read(v->agent, ipath, &got.index) == -1) {
		rc = errno == ENOENT ? 0 : -1;
		goto out;
	}
	if (record_read_index(got.index.data, got.index.len, ipath, &ix,
	    rec) == -1) {
		rc = RECORD_UNTRUSTED;
		goto out;
	}
	if (ix.version == 1) {
		rc = RECORD_BELIEVED;
		goto out;
	}
	got.pages = xcalloc(ix.npages, sizeof(*got.pages));
	got.npages = ix.npages;
	for (k = 0; k < ix.npages; k++) {
		char *name = record_page_name(k);

		free(ppath);
		ppath = board_path(v, name);
		free(name);
		buf_init(&got.pages[k], RECORD_TEXT_MAX);
		if (agent_read(v->agent, ppath, &got.pages[k]) == -1) {
			if (errno != ENOENT)
				rc = -1;
			else
				log_notice("%s: the board's record has no "
				    "page %u; its files will be hashed",
				    v->dev->name, k);
			goto broken;
		}
		if (record_read_page(got.pages[k].data, got.pages[k].len, k,
		    ix.npages, ppath, rec) == -1)
			goto broken;
	}
	if (!record_digest_matches(&ix, got.pages, got.npages)) {
		log_notice("%s: the board's record pages do not match its "
		    "index; its files will be hashed", v->dev->name);
		goto broken;
	}
	manifest_sort(rec);
	snprintf(rec->commit, sizeof(rec->commit), "%s", ix.commit);
	remember_record(v, &got);
	rc = RECORD_BELIEVED;
	goto out;
broken:
	manifest_release(rec);
	manifest_init(rec);
	if (rc == 0)
		rc = RECORD_UNTRUSTED;
out:
	record_release(&got);
	free(ipath);
	free(ppath);
	return rc;
}

/* Do the record and the listing show the mirror's files, as written? */
static bool
board_matches(const struct manifest *mm, const struct manifest *rec,
    const struct manifest *sizes, const char **why)
{
	size_t i;

	*why = "the board's record lists other files than senko's mirror";
	if (rec->n != mm->n)
		return false;
	for (i = 0; i < mm->n; i++) {
		const struct manifest_entry *e = &mm->entries[i];
		const struct manifest_entry *r = manifest_find(rec, e->path);
		const struct manifest_entry *s = manifest_find(sizes, e->path);

		if (r == NULL || strcmp(r->sha, e->sha) != 0)
			return false;
		if (s == NULL || s->size != e->size) {
			*why = "a file on the board has another size than "
			    "senko wrote (edited by hand?)";
			return false;
		}
	}
	return true;
}

/* Could this board file be one of senko's: upstream's or the mirror's blob
 * of its size?  Only those are hashed. */
static bool
may_adopt(const struct manifest_entry *size, const struct manifest_entry *up,
    const struct manifest_entry *mine)
{
	return (up && up->size == size->size) ||
	    (mine && mine->size == size->size);
}

/* How many of the board's files reconcile() will hash. */
static size_t
hash_candidates(const struct visit *v, const struct manifest *mm,
    const struct manifest *sizes)
{
	size_t i, n = 0;

	for (i = 0; i < sizes->n; i++)
		if (may_adopt(&sizes->entries[i],
		    manifest_find(v->job->upstream, sizes->entries[i].path),
		    manifest_find(mm, sizes->entries[i].path)))
			n++;
	return n;
}

/* Hash a board file whose size fits upstream's or the mirror's blob. */
static int
adopt(struct visit *v, const struct manifest_entry *size,
    const struct manifest_entry *up, const struct manifest_entry *mine,
    struct manifest *found)
{
	const struct manifest_entry *cands[2] = { up, mine };
	char hex[DEVFS_HASH_HEXSZ], want[DEVFS_HASH_HEXSZ];
	char *bpath;
	int i, rc;

	if (!may_adopt(size, up, mine))
		return 0;
	bpath = board_path(v, size->path);
	rc = agent_hash(v->agent, bpath, hex);
	free(bpath);
	if (rc == -1)
		return errno == ENOENT ? 0 : -1;
	for (i = 0; i < 2; i++) {
		if (cands[i] == NULL || cands[i]->size != size->size)
			continue;
		board_hash_of(v, cands[i]->sha, want);
		if (strcmp(hex, want) == 0) {
			manifest_add(found, size->path, cands[i]->sha,
			    size->size, 0100644);
			return 0;
		}
	}
	return 0;
}

/* mirror_replace()'s between(): the agent hears from us while it waits. */
static void
keep_agent(void *agent)
{
	(void)agent_keepalive(agent);
}

/*
 * Is the board what the mirror says?  Cheap when nothing drifted: the
 * inventory's two digests match what senko left.  Otherwise list the
 * board, read the record if it differs, and when they disagree with the
 * mirror (a new gateway, a lost state_dir, a hand edit) hash the board's
 * files that upstream or the mirror name and rebuild the mirror from
 * what is really there.  verify hashes them in any case.
 */
static int
reconcile(struct visit *v, struct manifest *mm,
    const struct agent_inventory *inv)
{
	const struct session_job *job = v->job;
	struct manifest sizes = MANIFEST_INIT, rec = MANIFEST_INIT;
	struct manifest found = MANIFEST_INIT;
	struct record expect = RECORD_INIT;
	char want[DEVFS_HASH_HEXSZ];
	const char *why = "";
	bool record_same;
	size_t i, nhash;
	int rc = -1, found_rec = 0;

	if (expected_record(v, mm, &expect, want) == -1)
		goto out;
	record_same = strcmp(inv->record, want) == 0;
	if (record_same)
		remember_record(v, &expect);
	else
		v->record_stale = true;
	if (record_same && !job->verify &&
	    strcmp(inv->listing, job->mirror->board_digest) == 0) {
		log_debug("%s: the board is as senko left it", v->dev->name);
		rc = 0;
		goto out;
	}
	if (list_board(v, &sizes) == -1)
		goto out;
	if (record_same) {
		for (i = 0; i < mm->n; i++)
			manifest_add(&rec, mm->entries[i].path,
			    mm->entries[i].sha, 0, 0100644);
		manifest_sort(&rec);
		found_rec = RECORD_BELIEVED;
	} else if (*inv->record &&
	    (found_rec = read_board_record(v, &rec)) == -1)
		goto out;
	/* Without a record to believe, an empty mirror proves nothing. */
	if (!job->verify && (found_rec == RECORD_BELIEVED || mm->n > 0) &&
	    board_matches(mm, &rec, &sizes, &why)) {
		rc = 0;
		goto out;
	}
	nhash = hash_candidates(v, mm, &sizes);
	if (job->verify)
		log_info("%s: verifying every managed file on the board by "
		    "hash", v->dev->name);
	else if (nhash > 0)
		log_notice("%s: %s; checking %zu of its files by hash",
		    v->dev->name, found_rec == RECORD_BELIEVED ? why :
		    "no record of senko's on the board to believe", nhash);
	for (i = 0; i < sizes.n; i++) {
		const struct manifest_entry *s = &sizes.entries[i];
		const struct manifest_entry *up = manifest_find(job->upstream,
		    s->path);
		const struct manifest_entry *mine = manifest_find(mm, s->path);

		if (up == NULL && mine == NULL)
			continue; /* the user's own file: not ours to judge */
		if (adopt(v, s, up, mine, &found) == -1)
			goto out;
	}
	for (i = 0; i < mm->n; i++)
		if (manifest_find(&found, mm->entries[i].path) == NULL)
			log_notice("%s: '%s' on the board is not what senko "
			    "wrote there; it will be repaired", v->dev->name,
			    mm->entries[i].path);
	manifest_sort(&found);
	/* A mirror rebuilt on a slow SD card: the agent waits. */
	if (mirror_replace(job->mirror, job->store, &found, keep_agent,
	    v->agent) == -1)
		goto out;
	manifest_release(mm);
	manifest_init(mm);
	rc = mirror_scan(job->mirror, mm);
	/* What the board really holds may be what its record says after
	 * all (a lost state_dir): then the record stays as it is, unless
	 * a page of it was missing or did not match its index. */
	if (rc == 0 && (rc = expected_record(v, mm, &expect, want)) == 0 &&
	    found_rec != RECORD_UNTRUSTED && strcmp(inv->record, want) == 0) {
		remember_record(v, &expect);
		v->record_stale = false;
	}
out:
	manifest_release(&sizes);
	manifest_release(&rec);
	manifest_release(&found);
	record_release(&expect);
	return rc;
}

/* --------------------------------------------------------------- apply */

static bool
in_list(char **v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/*
 * A folder upstream turned into a file: the files senko wrote below it
 * go first, whatever prune says (the user's files keep it alive, and the
 * commit then says so).
 */
static void
add_folder_clearing(const struct plan *p, const struct manifest *mm,
    struct plan *extra)
{
	size_t i, j, n;

	for (i = 0; i < p->nwrites; i++) {
		n = strlen(p->writes[i].path);
		for (j = 0; j < mm->n; j++)
			if (strncmp(mm->entries[j].path, p->writes[i].path,
			    n) == 0 && mm->entries[j].path[n] == '/' &&
			    !in_list(p->deletes, p->ndeletes,
			    mm->entries[j].path)) {
				extra->deletes = xreallocarray(extra->deletes,
				    extra->ndeletes + 1,
				    sizeof(*extra->deletes));
				extra->deletes[extra->ndeletes++] =
				    xstrdup(mm->entries[j].path);
			}
	}
}

/*
 * A file upstream turned into a folder: the file senko wrote where a
 * written file's folder must be, whatever prune says.  Listed in
 * blocking (and in extra's deletes, if the plan does not delete it).
 */
static void
add_file_clearing(const struct plan *p, const struct manifest *mm,
    struct plan *extra, struct plan *blocking)
{
	struct buf up = BUF_INIT;
	char *slash;
	size_t i;

	for (i = 0; i < p->nwrites; i++) {
		buf_reset(&up);
		buf_addstr(&up, p->writes[i].path);
		while ((slash = strrchr(up.data, '/')) != NULL) {
			*slash = '\0';
			if (manifest_find(mm, up.data) == NULL ||
			    in_list(blocking->deletes, blocking->ndeletes,
			    up.data))
				continue;
			blocking->deletes = xreallocarray(blocking->deletes,
			    blocking->ndeletes + 1, sizeof(*blocking->deletes));
			blocking->deletes[blocking->ndeletes++] =
			    xstrdup(up.data);
			if (in_list(p->deletes, p->ndeletes, up.data))
				continue;
			extra->deletes = xreallocarray(extra->deletes,
			    extra->ndeletes + 1, sizeof(*extra->deletes));
			extra->deletes[extra->ndeletes++] = xstrdup(up.data);
		}
	}
	buf_release(&up);
}

/* The mirror as it will be once the commit landed. */
static void
final_manifest(const struct manifest *mm, const struct plan *p,
    char **deletes, size_t ndeletes, const char *commit,
    struct manifest *out)
{
	size_t i;

	snprintf(out->commit, sizeof(out->commit), "%s", commit);
	for (i = 0; i < mm->n; i++) {
		const struct manifest_entry *e = &mm->entries[i];
		bool written = false;
		size_t j;

		if (in_list(deletes, ndeletes, e->path))
			continue;
		for (j = 0; j < p->nwrites; j++)
			written |= strcmp(p->writes[j].path, e->path) == 0;
		if (!written)
			manifest_add(out, e->path, e->sha, e->size, e->mode);
	}
	for (i = 0; i < p->nwrites; i++)
		manifest_add(out, p->writes[i].path, p->writes[i].sha,
		    p->writes[i].size, 0100644);
	manifest_sort(out);
}

static int
check_space(struct visit *v, const struct plan *p, size_t record_len)
{
	int64_t free_flash = agent_hello(v->agent)->free_flash;
	uint64_t need = record_len + FLASH_SLACK;
	size_t i;

	/* Staged files sit beside the old versions until the commit. */
	for (i = 0; i < p->nwrites; i++)
		need += p->writes[i].size;
	if (free_flash < 0 || need <= (uint64_t)free_flash)
		return 0;
	errno = ENOSPC;
	return log_failx("%s: not enough free flash for the update: it needs "
	    "%" PRIu64 " bytes, %" PRId64 " are free; nothing was changed "
	    "(remove files from the board, or update fewer files at once)",
	    v->dev->name, need, free_flash);
}

static void
put_progress(void *arg, uint64_t sent)
{
	struct visit *v = arg;

	if (v->job->progress != NULL)
		v->job->progress(v->job->progress_arg, v->progress_path,
		    v->progress_base + sent);
}

/* Why a file could not be staged, logged. */
static void
stage_failed(struct visit *v, const char *bpath, int err, const char *words)
{
	struct buf why = BUF_INIT;

	if (err == EREMOTEIO) {
		board_reason(&why, words);
		log_failx("%s: cannot write '%s': %s; nothing was changed",
		    v->dev->name, bpath, why.data);
	} else if (err == EBADMSG)
		log_failx("%s: '%s' arrived damaged twice; nothing was changed "
		    "(is the line noisy, or the baud rate too high?)",
		    v->dev->name, bpath);
	buf_release(&why);
}

/* Stage one file under its temporary name; a damaged copy goes again. */
static int
stage(struct visit *v, const char *rel, const void *data, size_t len,
    const char *hex)
{
	char *bpath = board_path(v, rel);
	int tries, rc = -1;

	v->progress_path = rel;
	for (tries = 0; tries < 2 && rc == -1; tries++) {
		rc = agent_put(v->agent, bpath, data, len, hex, true,
		    put_progress, v);
		if (rc == -1 && errno != EBADMSG)
			break;
	}
	if (rc == -1)
		stage_failed(v, bpath, errno, agent_last_error(v->agent));
	v->progress_base += len;
	free(bpath);
	return rc;
}

/* The update's files in one batch (several in flight). */
struct staging {
	struct visit *v;
	const struct plan *p;
	struct agent_file *files;
	struct buf *data;
	char (*hex)[DEVFS_HASH_HEXSZ];
	char **bpath;
};

static void
batch_progress(void *arg, size_t file, uint64_t sent)
{
	struct staging *st = arg;
	struct visit *v = st->v;

	if (v->job->progress != NULL)
		v->job->progress(v->job->progress_arg,
		    st->p->writes[file].path, v->progress_base + sent);
}

static int
stage_prepare(struct staging *st, size_t i)
{
	struct visit *v = st->v;
	const struct plan_write *w = &st->p->writes[i];

	if (read_blob(v->job->store, w->sha, &st->data[i]) == -1)
		return -1;
	if (board_hash_mem(v, w->sha, st->data[i].data, st->data[i].len,
	    st->hex[i]) == -1)
		return -1;
	st->bpath[i] = board_path(v, w->path);
	st->files[i] = (struct agent_file){ .path = st->bpath[i],
	    .data = st->data[i].data, .len = st->data[i].len,
	    .hex = st->hex[i] };
	return 0;
}

/*
 * Stage the plan's files, several in flight (agent_put_batch); one that
 * arrived damaged goes again on its own.  Any other failure fails the
 * whole: nothing is renamed before the commit, so nothing was changed.
 */
static int
stage_all(struct visit *v, const struct plan *p)
{
	struct staging st = { v, p, NULL, NULL, NULL, NULL };
	size_t i, n = p->nwrites;
	uint64_t total = 0;
	int rc = -1;

	st.files = xcalloc(n ? n : 1, sizeof(*st.files));
	st.data = xcalloc(n ? n : 1, sizeof(*st.data));
	st.hex = xcalloc(n ? n : 1, sizeof(*st.hex));
	st.bpath = xcalloc(n ? n : 1, sizeof(*st.bpath));
	for (i = 0; i < n; i++)
		if (stage_prepare(&st, i) == -1 ||
		    agent_keepalive(v->agent) == -1)
			goto out;
	if (agent_put_batch(v->agent, st.files, n, true, batch_progress,
	    &st) == -1)
		goto out;
	for (i = 0; i < n; i++)
		total += st.files[i].len;
	v->progress_base += total;
	rc = 0;
	for (i = 0; i < n && rc == 0; i++) {
		if (st.files[i].err == EBADMSG) {
			v->progress_base -= st.files[i].len;
			rc = stage(v, p->writes[i].path, st.data[i].data,
			    st.data[i].len, st.hex[i]);
		} else if (st.files[i].err != 0) {
			stage_failed(v, st.bpath[i], st.files[i].err,
			    st.files[i].why);
			rc = -1;
		}
		if (rc == 0)
			log_debug("%s: staged %s (%zu bytes)", v->dev->name,
			    p->writes[i].path, st.data[i].len);
	}
out:
	for (i = 0; i < n; i++) {
		buf_release(&st.data[i]);
		free(st.bpath[i]);
	}
	free(st.files);
	free(st.data);
	free(st.hex);
	free(st.bpath);
	return rc;
}

static void
journal_add(struct visit *v, struct buf *lines, char kind, const char *hex,
    const char *rel)
{
	char *bpath = board_path(v, rel);

	buf_addf(lines, "%c %s %s\n", kind, hex, bpath);
	free(bpath);
}

/* Log what the commit could not do; 1 when something failed. */
static int
report_commit(struct visit *v, struct buf *kept, struct buf *failed)
{
	char *line, *next, *sp;
	struct buf why = BUF_INIT;
	int bad = 0;

	for (line = kept->data; *line; line = next) {
		next = line + strcspn(line, "\n");
		if (*next)
			*next++ = '\0';
		if (strcmp(line, AGENT_LIST_CUT) == 0) {
			log_warnx("%s: and more files kept (the board's list "
			    "was cut); senko ls %s shows them", v->dev->name,
			    v->dev->name);
			continue;
		}
		log_warnx("%s: kept '%s': upstream dropped it, but its content "
		    "on the board is not what senko wrote; remove it by hand "
		    "if it is not needed (senko exec %s \"import os; "
		    "os.remove('%s')\")", v->dev->name, line, v->dev->name,
		    line);
	}
	for (line = failed->data; *line; line = next) {
		next = line + strcspn(line, "\n");
		if (*next)
			*next++ = '\0';
		if (strcmp(line, AGENT_LIST_CUT) == 0) {
			log_failx("%s: and more files could not be put in "
			    "place (the board's list was cut); none of this "
			    "update's files is taken as written", v->dev->name);
			bad = 1;
			continue;
		}
		/* The path, a tab, why (a word, or "errno 5"). */
		sp = strchr(line, '\t');
		if (sp == NULL)
			sp = line + strlen(line);
		else
			*sp++ = '\0';
		buf_reset(&why);
		board_reason(&why, sp);
		log_failx("%s: cannot put '%s' in place: %s", v->dev->name,
		    line, why.data);
		bad = 1;
	}
	buf_release(&why);
	return bad;
}

/*
 * Does the board's list name path?  Its lines are paths ("kept"), or a
 * path, a tab and why ("failed"); a path holds no control character
 * (src/path.c), and may hold spaces.
 */
static bool
listed(const struct buf *lines, const char *path)
{
	const char *p = lines->data;
	size_t n = strlen(path);

	/* A list the board cut may name any path. */
	if (strstr(p, AGENT_LIST_CUT) != NULL)
		return true;
	while ((p = strstr(p, path)) != NULL) {
		if ((p == lines->data || p[-1] == '\n') &&
		    (p[n] == '\n' || p[n] == '\t' || p[n] == '\0'))
			return true;
		p += n;
	}
	return false;
}

/* The board's copy of page k of rec, when known and of the same layout. */
static const struct buf *
board_page(const struct visit *v, const struct record *rec, unsigned k)
{
	if (!v->board_rec_known || v->board_rec.npages != rec->npages)
		return NULL;
	return &v->board_rec.pages[k];
}

static bool
same_text(const struct buf *a, const struct buf *b)
{
	return a != NULL && a->len == b->len &&
	    memcmp(a->data, b->data, a->len) == 0;
}

/* Must page k of rec be written: does the board hold another text? */
static bool
page_differs(const struct visit *v, const struct record *rec, unsigned k)
{
	return !same_text(board_page(v, rec, k), &rec->pages[k]);
}

/*
 * One text of the new record, staged: patched from the board's copy (old)
 * when it is known and the edit much smaller, else whole (also when the
 * patch did not come out right).
 */
static int
stage_record_text(struct visit *v, const char *rel, const struct buf *old,
    const struct buf *text, const char *hex)
{
	struct buf ops = BUF_INIT;
	char *bpath;
	int rc;

	if (old == NULL || recdelta_make(old->data, old->len, text->data,
	    text->len, &ops) == -1 || ops.len + RECORD_PATCH_MIN >= text->len) {
		buf_release(&ops);
		return stage(v, rel, text->data, text->len, hex);
	}
	bpath = board_path(v, rel);
	rc = agent_patch(v->agent, bpath, bpath, ops.data, ops.len, text->len,
	    hex);
	free(bpath);
	if (rc == 0)
		log_debug("%s: %s patched (%zu bytes of edits for %zu)",
		    v->dev->name, rel, ops.len, text->len);
	else if (errno == EBADMSG)
		rc = stage(v, rel, text->data, text->len, hex);
	buf_release(&ops);
	return rc;
}

/* Does the board hold rec already, text for text? */
static bool
record_held(const struct visit *v, const struct record *rec)
{
	unsigned k;

	if (!v->board_rec_known || !same_text(&v->board_rec.index, &rec->index))
		return false;
	for (k = 0; k < rec->npages; k++)
		if (page_differs(v, rec, k))
			return false;
	return true;
}

/* The hash the board will compute for text. */
static int
text_hash(const struct visit *v, const struct buf *text,
    char hex[DEVFS_HASH_HEXSZ])
{
	return devfs_hash_mem(v->algo, text->data, text->len, hex);
}

/* Stage the record's pages that differ from the board's, then its index. */
static int
stage_record(struct visit *v, const struct record *rec)
{
	char hex[DEVFS_HASH_HEXSZ];
	unsigned k;
	int rc = 0;

	for (k = 0; k < rec->npages && rc == 0; k++) {
		const struct buf *old = board_page(v, rec, k);
		char *name;

		if (!page_differs(v, rec, k))
			continue;
		name = record_page_name(k);
		rc = text_hash(v, &rec->pages[k], hex);
		if (rc == 0)
			rc = stage_record_text(v, name, old, &rec->pages[k],
			    hex);
		free(name);
	}
	if (rc == 0)
		rc = text_hash(v, &rec->index, hex);
	if (rc == 0)
		rc = stage(v, RECORD_INDEX_NAME, rec->index.data,
		    rec->index.len, hex);
	return rc;
}

/*
 * The record's lines of the journal: delete the pages of an older, larger
 * layout, rename the staged pages, and the index last.
 */
static int
journal_record(struct visit *v, const struct record *rec, struct buf *lines)
{
	const struct record *old = &v->board_rec;
	char hex[DEVFS_HASH_HEXSZ];
	unsigned k;
	int rc = 0;

	for (k = rec->npages; v->board_rec_known && k < old->npages && rc == 0;
	    k++) {
		char *name = record_page_name(k);

		rc = text_hash(v, &old->pages[k], hex);
		if (rc == 0)
			journal_add(v, lines, 'D', hex, name);
		free(name);
	}
	for (k = 0; k < rec->npages && rc == 0; k++) {
		char *name;

		if (!page_differs(v, rec, k))
			continue;
		name = record_page_name(k);
		rc = text_hash(v, &rec->pages[k], hex);
		if (rc == 0)
			journal_add(v, lines, 'R', hex, name);
		free(name);
	}
	if (rc == 0)
		rc = text_hash(v, &rec->index, hex);
	if (rc == 0)
		journal_add(v, lines, 'R', hex, RECORD_INDEX_NAME);
	return rc;
}

/*
 * After a commit that failed in part: the record staged with it promised
 * files the board does not hold; write the true one, whole.
 */
static void
put_true_record(struct visit *v)
{
	struct manifest now = MANIFEST_INIT;
	struct record rec = RECORD_INIT;
	char hex[DEVFS_HASH_HEXSZ], *bpath, *name;
	unsigned k;

	if (mirror_scan(v->job->mirror, &now) == -1 ||
	    record_encode(&now, &rec) == -1)
		goto out;
	for (k = 0; k < rec.npages; k++) {
		name = record_page_name(k);
		bpath = board_path(v, name);
		if (text_hash(v, &rec.pages[k], hex) == 0)
			agent_put(v->agent, bpath, rec.pages[k].data,
			    rec.pages[k].len, hex, false, NULL, NULL);
		free(bpath);
		free(name);
	}
	bpath = board_path(v, RECORD_INDEX_NAME);
	if (text_hash(v, &rec.index, hex) == 0)
		agent_put(v->agent, bpath, rec.index.data, rec.index.len, hex,
		    false, NULL, NULL);
	free(bpath);
out:
	manifest_release(&now);
	record_release(&rec);
}

/* Bytes of flash the record's texts that will be written need. */
static size_t
record_bytes(const struct visit *v, const struct record *rec)
{
	size_t n = rec->index.len;
	unsigned k;

	for (k = 0; k < rec->npages; k++)
		if (page_differs(v, rec, k))
			n += rec->pages[k].len;
	return n;
}

/*
 * The files in blocking go before anything is staged below them: a
 * commit of their deletes alone (guarded by the hash senko wrote, like
 * prune's).  A power cut after it leaves the old commit without them,
 * until the next session completes the new one.
 */
static int
clear_files(struct visit *v, const struct manifest *mm,
    const struct plan *blocking)
{
	struct buf lines = BUF_INIT, kept = BUF_INIT, failed = BUF_INIT;
	struct agent_commit commit = { 0, &kept, &failed };
	char hex[DEVFS_HASH_HEXSZ];
	size_t i;
	int rc = -1;

	for (i = 0; i < blocking->ndeletes; i++) {
		const struct manifest_entry *e = manifest_find(mm,
		    blocking->deletes[i]);

		log_notice("%s: '%s' is a file where the new commit has a "
		    "folder; deleting it before the update is staged",
		    v->dev->name, blocking->deletes[i]);
		board_hash_of(v, e->sha, hex);
		journal_add(v, &lines, 'D', hex, blocking->deletes[i]);
	}
	if (agent_journal(v->agent, v->dev->dest, lines.data) == -1 ||
	    agent_commit(v->agent, v->dev->dest, &commit) == -1)
		goto out;
	for (i = 0; i < blocking->ndeletes; i++)
		mirror_remove(v->job->mirror, blocking->deletes[i]);
	rc = report_commit(v, &kept, &failed) ? -1 : 0;
out:
	buf_release(&lines);
	buf_release(&kept);
	buf_release(&failed);
	return rc;
}

/*
 * Stage every file, then commit: the journal lists prune's deletes
 * (guarded by the hash senko wrote), the staged files and the new record,
 * and the agent carries it out in one burst.  Returns 0, or -1.
 */
static int
apply(struct visit *v, const struct manifest *mm, const struct plan *p)
{
	const struct session_job *job = v->job;
	struct plan extra = PLAN_INIT, blocking = PLAN_INIT;
	struct manifest fin = MANIFEST_INIT;
	struct record rec = RECORD_INIT;
	struct buf lines = BUF_INIT;
	struct buf kept = BUF_INIT, failed = BUF_INIT;
	struct agent_commit commit = { 0, &kept, &failed };
	char hex[DEVFS_HASH_HEXSZ];
	char **deletes;
	size_t i, ndeletes;
	int rc = -1;

	add_folder_clearing(p, mm, &extra);
	add_file_clearing(p, mm, &extra, &blocking);
	ndeletes = p->ndeletes + extra.ndeletes;
	deletes = xcalloc(ndeletes ? ndeletes : 1, sizeof(*deletes));
	for (i = 0; i < p->ndeletes; i++)
		deletes[i] = p->deletes[i];
	for (i = 0; i < extra.ndeletes; i++)
		deletes[p->ndeletes + i] = extra.deletes[i];
	final_manifest(mm, p, deletes, ndeletes, job->upstream->commit, &fin);
	if (record_encode(&fin, &rec) == -1 ||
	    check_space(v, p, record_bytes(v, &rec)) == -1)
		goto out;
	/* From here the board may change: forget what it looked like. */
	mirror_set_board_digest(job->mirror, "");
	if (stop_requested(job)) {
		log_notice("%s: stopping; the update was not applied",
		    v->dev->name);
		errno = EINTR;
		goto out;
	}
	if (blocking.ndeletes > 0 && clear_files(v, mm, &blocking) == -1)
		goto out;
	if (stage_all(v, p) == -1) {
		if (errno == EINTR)
			log_notice("%s: stopping; the update was not applied",
			    v->dev->name);
		goto out;
	}
	if (p->nwrites == 0 && ndeletes == 0 && record_held(v, &rec)) {
		/* A new commit that changed nothing here (or a lost state_dir
		 * whose board is as its record says). */
		rc = 0;
		goto out;
	}
	if (stage_record(v, &rec) == -1)
		goto out;
	for (i = 0; i < ndeletes; i++) {
		const struct manifest_entry *e = manifest_find(mm, deletes[i]);

		/* A cleared file's path is a folder now. */
		if (e == NULL || in_list(blocking.deletes, blocking.ndeletes,
		    deletes[i]))
			continue;
		board_hash_of(v, e->sha, hex);
		journal_add(v, &lines, 'D', hex, deletes[i]);
	}
	for (i = 0; i < p->nwrites; i++) {
		board_hash_of(v, p->writes[i].sha, hex);
		journal_add(v, &lines, 'R', hex, p->writes[i].path);
	}
	if (journal_record(v, &rec, &lines) == -1 ||
	    agent_journal(v->agent, v->dev->dest, lines.data) == -1 ||
	    agent_commit(v->agent, v->dev->dest, &commit) == -1)
		goto out;
	/* What the board confirmed, and only that, enters the mirror. */
	for (i = 0; i < p->nwrites; i++) {
		char *bpath = board_path(v, p->writes[i].path);

		/* The mirror's fsyncs on a slow SD card; a lost line shows
		 * at the finish. */
		(void)agent_keepalive(v->agent);
		if (!listed(&failed, bpath)) {
			if (mirror_put(job->mirror, job->store,
			    p->writes[i].path, p->writes[i].sha) == -1)
				log_warnx("%s: '%s' is on the board but the "
				    "mirror could not record it; it will be "
				    "checked next time", v->dev->name,
				    p->writes[i].path);
			v->res->files_sent++;
			v->res->bytes_sent += p->writes[i].size;
			if (!job->quiet_progress) {
				char size[HUMAN_MAX];

				human_size(size, sizeof(size),
				    p->writes[i].size);
				log_info("%s: wrote %s (%s)", v->dev->name,
				    p->writes[i].path, size);
			}
		}
		free(bpath);
	}
	for (i = 0; i < ndeletes; i++) {
		char *bpath = board_path(v, deletes[i]);

		(void)agent_keepalive(v->agent);
		/* Kept ones are not senko's any more either.  (A cleared
		 * file went from the mirror before its folder came.) */
		if (!in_list(blocking.deletes, blocking.ndeletes, deletes[i]))
			mirror_remove(job->mirror, deletes[i]);
		if (!listed(&kept, bpath)) {
			v->res->files_deleted++;
			log_info("%s: deleted %s", v->dev->name, deletes[i]);
		}
		free(bpath);
	}
	rc = report_commit(v, &kept, &failed) ? -1 : 0;
	if (rc == 0) {
		remember_record(v, &rec);
		v->record_stale = false;
	} else {
		v->board_rec_known = false;
		put_true_record(v);
	}
out:
	free(deletes);
	plan_release(&extra);
	plan_release(&blocking);
	manifest_release(&fin);
	record_release(&rec);
	buf_release(&lines);
	buf_release(&kept);
	buf_release(&failed);
	return rc;
}

/* ------------------------------------------------------------ restart */

/* Find the last traceback in what the board printed after its reset. */
static void
boot_scan(struct session_boot *boot, struct buf *out)
{
	static const char marker[] = "Traceback (most recent call last):";
	const char *p = out->data, *last = NULL, *end;
	size_t n, lines = 0;
	struct buf q = BUF_INIT;

	while ((p = strstr(p, marker)) != NULL)
		last = p++;
	if (last == NULL)
		return;
	boot->traceback = true;
	/* Its last lines: up to the prompt or the end. */
	/* Up to the REPL's banner or prompt that follows, or the end. */
	end = strstr(last, "\nMicroPython ");
	if (end == NULL)
		end = strstr(last, ">>>");
	if (end == NULL)
		end = out->data + out->len;
	while (end > last && (end[-1] == '\r' || end[-1] == '\n' ||
	    end[-1] == ' '))
		end--;
	for (p = end; p > last; p--)
		if (p[-1] == '\n' && ++lines == 4)
			break;
	n = (size_t)(end - p);
	path_quote(&q, p, n);
	snprintf(boot->tail, sizeof(boot->tail), "%s", q.data);
	buf_release(&q);
}

/* Does one complete line (without its line break) match rx? */
static bool
line_matches(const regex_t *rx, const char *line, size_t n)
{
	char text[512];

	while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n'))
		n--;
	if (n >= sizeof(text))
		n = sizeof(text) - 1;
	memcpy(text, line, n);
	text[n] = '\0';
	return regexec(rx, text, 0, NULL, 0) == 0;
}

/*
 * health = line REGEX: read what the board prints for up to
 * health_timeout seconds, a slice at a time, and stop at the first
 * complete line that matches; out keeps everything read (for the
 * traceback scan).  Returns 0, or -1 when the port failed or a stop cut
 * the watch short (errno ECANCELED).
 */
static int
watch_for_line(struct repl *r, const struct config_device *dev,
    struct session_boot *boot, struct buf *out)
{
	double end = monotonic_seconds() + dev->health_timeout;
	struct buf slice = BUF_INIT, line = BUF_INIT;
	size_t i;
	regex_t rx;
	int rc = 0;

	if (regcomp(&rx, dev->health_line, REG_EXTENDED | REG_NOSUB) != 0)
		return log_failx("%s: health line '%s' does not compile",
		    dev->name, dev->health_line);
	/* Lines are cut from each slice as it comes (the line being read
	 * carried over, its first 512 bytes are enough to match), not from
	 * out, whose cap drops old output in the middle of a slice. */
	buf_init(&slice, out->max);
	buf_init(&line, 512);
	while (!boot->line_seen) {
		double left = end - monotonic_seconds();

		if (left <= 0)
			break;
		buf_reset(&slice);
		if (repl_watch(r, left > 0.1 ? 100 : (int)(left * 1000) + 1,
		    &slice) == -1) {
			rc = -1;
			break;
		}
		for (i = 0; i < slice.len; i++) {
			if (slice.data[i] != '\n') {
				(void)buf_addch(&line, slice.data[i]);
				continue;
			}
			if (line_matches(&rx, line.data, line.len))
				boot->line_seen = true;
			buf_reset(&line);
		}
		buf_add_keeping_tail(out, slice.data, slice.len);
	}
	buf_release(&line);
	buf_release(&slice);
	regfree(&rx);
	return rc;
}

bool
session_watches(const struct config_device *dev)
{
	return dev->reset != RESET_NONE &&
	    (dev->health == HEALTH_LINE || dev->boot_watch > 0);
}

int
session_leave(struct repl *r, const struct config_device *dev,
    struct session_boot *boot, bool watch)
{
	struct buf out = BUF_INIT;
	int rc, cut;

	if (dev->reset == RESET_NONE)
		return 0;
	if (repl_port_lost(r)) {
		/* Said when it went; back on the line, it boots anew. */
		errno = EIO;
		return -1;
	}
	rc = dev->reset == RESET_HARD ? repl_hard_reset(r) :
	    repl_soft_reset(r);
	if (rc == -1 && errno == ECANCELED)
		return log_failx("%s: stopping: the board did not answer the %s "
		    "reset that restarts the application within %.1f s of the "
		    "stop request; it may stay at its REPL until it is reset",
		    dev->name, reset_mode_name(dev->reset),
		    REPL_STOP_GRACE_MS / 1000.0);
	if (rc == -1)
		return log_failx("%s: the %s reset that restarts the "
		    "application failed: %s", dev->name,
		    reset_mode_name(dev->reset), log_last_error());
	log_debug("%s: %s reset; the application runs again", dev->name,
	    reset_mode_name(dev->reset));
	if (boot != NULL)
		boot->restarted = true;
	if (boot == NULL || !session_watches(dev))
		return 0;
	if (!watch) {
		/* A stopping senko does not stay to watch: the boot is not
		 * judged from this visit (sync.c judge()), not taken as
		 * healthy for want of a traceback or a missing line. */
		boot->cut_short = true;
		log_notice("%s: the boot watch was cut short (stopping)",
		    dev->name);
		return 0;
	}
	boot->watched = true;
	buf_init(&out, 64 * 1024);
	if (dev->health == HEALTH_LINE)
		rc = watch_for_line(r, dev, boot, &out);
	else
		rc = repl_watch(r, (int)dev->boot_watch * 1000, &out);
	cut = rc == -1 ? errno : 0;
	boot_scan(boot, &out);
	buf_release(&out);
	if (cut != 0 && !boot->traceback && !boot->line_seen) {
		/* Cut short by a stop (a restart of senkod) or a lost port:
		 * a missing health line says nothing about the application
		 * then, so it is not judged from this boot (sync.c). */
		boot->watched = false;
		boot->cut_short = true;
		log_notice("%s: the boot watch was cut short (%s)",
		    dev->name, cut == ECANCELED ? "stopping" :
		    "the port failed");
	}
	if (boot->traceback)
		log_warnx("%s: the application raised an exception after the "
		    "reset: %s", dev->name, boot->tail);
	return 0;
}

/*
 * The port was not opened (errno says why, and keeps it): the board was
 * not interrupted, or was given its application back (repl.c
 * open_node()), so the open mark goes.  Not when another process holds
 * the board (EBUSY): this mark replaced that process's, and left in place
 * it still has a later sync open the board should that process die (at
 * worst one visit too many).  Nor after a stop (ECANCELED): the Ctrl-C
 * may have reached the board, and nothing waited to see.
 */
static void
unmark_unopened(const char *state_dir, const char *device)
{
	if (errno != EBUSY && errno != ECANCELED)
		openmark_clear(state_dir, device);
}

struct repl *
session_open(const struct config_device *dev, const char *state_dir,
    const char *what, const volatile sig_atomic_t *stop)
{
	struct repl *r;

	openmark_set(state_dir, dev->name, what);
	r = repl_open_stoppable(dev->port, dev->baud, stop);
	if (r == NULL)
		unmark_unopened(state_dir, dev->name);
	else if (check_board(r, dev, state_dir, NULL) == -1) {
		openmark_clear(state_dir, dev->name);
		r = NULL;
	}
	return r;
}

int
session_close(struct repl *r, const struct config_device *dev,
    const char *state_dir)
{
	int rc = session_leave(r, dev, NULL, false);

	if (rc == 0)
		openmark_clear(state_dir, dev->name);
	repl_close(r);
	return rc;
}

/* ---------------------------------------------------------------- sync */

static void
note_inventory(struct visit *v, const struct agent_inventory *inv)
{
	if (inv->journal) {
		v->res->commit_completed = true;
		log_notice("%s: the board was found in the middle of an update "
		    "(a power cut?); completed it: %u done, %u kept, %u "
		    "failed", v->dev->name, inv->journal_done,
		    inv->journal_kept, inv->journal_failed);
	}
	if (inv->temps_removed)
		log_info("%s: removed %u temporary file(s) an interrupted "
		    "update left", v->dev->name, inv->temps_removed);
}

/*
 * A board senko does not know (check_board): the mirror describes the
 * board senko last updated as this device, not this one.  It becomes
 * what this board's record says senko wrote here (the files whose blobs
 * the store holds), or nothing when there is no record to believe, as
 * after a lost state_dir; reconcile() then checks the board against it.
 */
static int
mirror_from_record(struct visit *v, struct manifest *mm,
    const struct agent_inventory *inv)
{
	const struct session_job *job = v->job;
	struct manifest rec = MANIFEST_INIT, seed = MANIFEST_INIT;
	uint64_t size;
	size_t i;
	int found = 0, fd, rc;

	if (*inv->record && (found = read_board_record(v, &rec)) == -1)
		return -1;
	for (i = 0; found == RECORD_BELIEVED && i < rec.n; i++) {
		const struct manifest_entry *e = &rec.entries[i];

		fd = store_open_blob(job->store, e->sha, &size);
		if (fd == -1)
			continue;
		close(fd);
		manifest_add(&seed, e->path, e->sha, size, 0100644);
	}
	manifest_sort(&seed);
	if (found == RECORD_BELIEVED && seed.n == rec.n)
		snprintf(seed.commit, sizeof(seed.commit), "%s", rec.commit);
	log_debug("%s: a new board: %zu file%s of senko's by its record",
	    v->dev->name, seed.n, seed.n == 1 ? "" : "s");
	rc = mirror_replace(job->mirror, job->store, &seed, keep_agent,
	    v->agent);
	manifest_release(&rec);
	manifest_release(&seed);
	if (rc == -1)
		return -1;
	manifest_release(mm);
	manifest_init(mm);
	return mirror_scan(job->mirror, mm);
}

/* The part of a visit that runs inside the agent. */
static int
agent_visit(struct visit *v, struct manifest *mm, struct plan *p)
{
	const struct session_job *job = v->job;
	struct agent_inventory inv, fin;
	int rc;

	if (agent_inventory(v->agent, v->dev->dest, &inv) == -1)
		return -1;
	note_inventory(v, &inv);
	if (v->new_board && mirror_from_record(v, mm, &inv) == -1)
		return -1;
	if (reconcile(v, mm, &inv) == -1)
		return -1;
	plan_release(p);
	plan_build(p, job->upstream, mm, v->dev->prune);
	plan_totals(p, NULL, &v->res->bytes_planned);
	v->res->files_planned = (unsigned)p->nwrites;
	v->res->deletes_planned = (unsigned)p->ndeletes;
	if (!plan_is_empty(p) || v->record_stale ||
	    strcmp(mm->commit, job->upstream->commit)) {
		if (!plan_is_empty(p)) {
			char size[HUMAN_MAX];

			human_size(size, sizeof(size), v->res->bytes_planned);
			log_info("%s: %zu file%s to write (%s), %zu to delete",
			    v->dev->name, p->nwrites,
			    p->nwrites == 1 ? "" : "s", size, p->ndeletes);
		}
		rc = apply(v, mm, p);
		if (rc == -1)
			return -1;
		v->res->outcome = plan_is_empty(p) ? SESSION_IN_SYNC :
		    SESSION_UPDATED;
	} else
		v->res->outcome = SESSION_IN_SYNC;
	v->res->committed = true;
	mirror_set_commit(job->mirror, job->upstream->commit);
	if (agent_finish(v->agent, v->dev->dest, &fin) == -1)
		return -1;
	mirror_set_board_digest(job->mirror, fin.listing);
	return 0;
}

void
session_sync(const struct session_job *job, struct session_result *res)
{
	struct manifest mm = MANIFEST_INIT;
	struct plan p = PLAN_INIT;
	struct visit v;
	const struct repl_info *info;
	bool new_board;
	int rc;

	memset(res, 0, sizeof(*res));
	memset(&v, 0, sizeof(v));
	v.job = job;
	v.dev = job->dev;
	v.res = res;
	res->outcome = SESSION_FAILED;
	openmark_set(job->state_dir, job->dev->name, "sync");
	v.repl = open_board(job);
	if (v.repl == NULL) {
		unmark_unopened(job->state_dir, job->dev->name);
		res->outcome = connect_failed();
		return;
	}
	if (check_board(v.repl, job->dev, job->state_dir, &new_board) == -1) {
		openmark_clear(job->state_dir, job->dev->name);
		return; /* SESSION_FAILED */
	}
	info = repl_info(v.repl);
	snprintf(res->platform, sizeof(res->platform), "%s", info->platform);
	snprintf(res->version, sizeof(res->version), "%s", info->version);
	if (!info->has_stdin_buffer) {
		log_failx("%s: the board's firmware has no sys.stdin.buffer "
		    "(a 512K-flash ESP8266 build?); senko needs it to update "
		    "files: flash a build that has it", job->dev->name);
		goto leave;
	}
	manifest_move(&mm, job->scanned);
	/* What senko left on the old board says nothing about this one:
	 * the mirror is rebuilt from the board's record (agent_visit). */
	v.new_board = new_board;
	if (new_board && mirror_set_board_digest(job->mirror, "") == -1)
		goto leave;
	if (repl_raw_reset(v.repl) == -1)
		goto leave;
	v.agent = agent_start(v.repl, job->dev->baud, job->stop);
	if (v.agent == NULL)
		goto leave;
	v.algo = agent_hello(v.agent)->algo;
	rc = agent_visit(&v, &mm, &p);
	res->wire_sent = agent_bytes_sent(v.agent);
	res->wire_received = agent_bytes_received(v.agent);
	if (agent_end(v.agent) == -1 && rc == 0)
		rc = -1;
	v.agent = NULL;
	if (rc == -1)
		res->outcome = stop_requested(job) ? SESSION_STOPPED :
		    SESSION_FAILED;
leave:
	/* Whatever happened, the application runs again; a stopping senkod
	 * does not stay to watch it boot. */
	if (session_leave(v.repl, job->dev, &res->boot,
	    !stop_requested(job)) == -1) {
		if (res->outcome != SESSION_FAILED)
			res->outcome = SESSION_FAILED;
	} else {
		openmark_clear(job->state_dir, job->dev->name);
		if (job->dev->reset != RESET_NONE)
			log_info("%s: %s reset; the application runs again",
			    job->dev->name, reset_mode_name(job->dev->reset));
	}
	/* The board holds this device's commit: it is this device's board
	 * from now on. */
	if (res->committed)
		identity_board_updated(job->state_dir, job->dev,
		    repl_info(v.repl)->unique_id);
	repl_close(v.repl);
	plan_release(&p);
	manifest_release(&mm);
	record_release(&v.board_rec);
}
