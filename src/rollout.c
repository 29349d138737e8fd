/*
 * rollout.c - rings, health, rollback and pins; see rollout.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "fsutil.h"
#include "log.h"
#include "rollout.h"
#include "session.h"
#include "status.h"
#include "xalloc.h"
#include "banned.h"

/* A state file is small; a manifest can be large (a big project). */
#define ROLLOUT_FILE_MAX (64u * 1024)
#define MANIFEST_FILE_MAX (64u * 1024 * 1024)

/* ------------------------------------------------------ pure decisions */

void
rollout_source_init(struct rollout_source *s)
{
	memset(s, 0, sizeof(*s));
}

void
rollout_device_init(struct rollout_device *d)
{
	memset(d, 0, sizeof(*d));
	d->health = ROLLOUT_HEALTH_UNKNOWN;
}

bool
rollout_is_bad(const struct rollout_source *s, const char *commit)
{
	size_t i;

	if (commit == NULL || *commit == '\0')
		return false;
	for (i = 0; i < s->nbad; i++)
		if (strcmp(s->bad[i], commit) == 0)
			return true;
	return false;
}

void
rollout_add_bad(struct rollout_source *s, const char *commit)
{
	if (rollout_is_bad(s, commit))
		return;
	if (s->nbad == ROLLOUT_BAD_MAX) {
		memmove(s->bad[0], s->bad[1], sizeof(s->bad[0]) *
		    (ROLLOUT_BAD_MAX - 1));
		s->nbad--;
	}
	snprintf(s->bad[s->nbad++], GITHASH_HEXSZ, "%s", commit);
}

bool
rollout_begin(struct rollout_source *s, const char *commit,
    unsigned first_ring, time_t now)
{
	if (strcmp(s->commit, commit) == 0)
		return false;
	snprintf(s->commit, sizeof(s->commit), "%s", commit);
	s->ring = first_ring;
	s->done = false;
	s->started = now;
	s->ring_healthy_since = 0;
	s->halted = false;
	s->failed_device[0] = s->reason[0] = '\0';
	if (rollout_is_bad(s, commit)) {
		/* Upstream went back to a commit that failed before. */
		s->halted = true;
		snprintf(s->reason, sizeof(s->reason), "commit %.12s failed "
		    "a health check before; it stays halted until upstream "
		    "moves on or `senko rollout resume`", commit);
	}
	return true;
}

/* The lowest ring above ring that has an unpinned board; -1 none. */
static int
next_ring(const struct rollout_board *boards, size_t n, unsigned ring)
{
	int best = -1;
	size_t i;

	for (i = 0; i < n; i++)
		if (!boards[i].pinned && boards[i].ring > ring &&
		    (best == -1 || boards[i].ring < (unsigned)best))
			best = (int)boards[i].ring;
	return best;
}

bool
rollout_advance(struct rollout_source *s,
    const struct rollout_board *boards, size_t n, unsigned soak, time_t now)
{
	bool changed = false;

	while (!s->halted && !s->done && *s->commit) {
		bool all = true;
		int next;
		size_t i;

		for (i = 0; i < n; i++)
			if (!boards[i].pinned && boards[i].ring <= s->ring &&
			    boards[i].reachable && !boards[i].healthy)
				all = false;
		if (!all) {
			if (s->ring_healthy_since != 0)
				changed = true;
			s->ring_healthy_since = 0;
			break;
		}
		if (s->ring_healthy_since == 0) {
			s->ring_healthy_since = now;
			changed = true;
		}
		next = next_ring(boards, n, s->ring);
		if (next == -1) {
			s->done = true;
			changed = true;
			break;
		}
		if (now - s->ring_healthy_since < (time_t)soak)
			break;
		s->ring = (unsigned)next;
		s->ring_healthy_since = 0;
		changed = true;
	}
	return changed;
}

time_t
rollout_soak_ends(const struct rollout_source *s, unsigned soak)
{
	if (s->halted || s->done || s->ring_healthy_since == 0 || soak == 0)
		return 0;
	return s->ring_healthy_since + (time_t)soak;
}

const char *
rollout_rollback_commit(const struct rollout_device *d, const char *on_board)
{
	if (*d->last_healthy && strcmp(d->last_healthy, on_board) != 0)
		return d->last_healthy;
	if (*d->previous_healthy && strcmp(d->previous_healthy, on_board) != 0)
		return d->previous_healthy;
	return NULL;
}

enum rollout_action
rollout_decide(const struct rollout_input *in)
{
	const struct rollout_source *s = in->source;
	const struct rollout_device *d = in->device;

	if (in->pinned)
		return ROLLOUT_PIN;
	/* A board left on a commit it failed (a rollback cut short by a
	 * power cut, or one that came back online) goes back first. */
	if (d->health == ROLLOUT_UNHEALTHY && rollout_is_bad(s, d->commit))
		return in->rollback && rollout_rollback_commit(d, d->commit) ?
		    ROLLOUT_ROLLBACK : ROLLOUT_HOLD;
	if (rollout_is_bad(s, in->upstream) ||
	    (s->halted && strcmp(s->commit, in->upstream) == 0))
		return ROLLOUT_HOLD;
	if (strcmp(s->commit, in->upstream) != 0)
		return ROLLOUT_UPDATE; /* no rollout known: nothing to order */
	return s->done || in->ring <= s->ring ? ROLLOUT_UPDATE : ROLLOUT_WAIT;
}

bool
rollout_health_ok(const struct config_device *dev,
    const struct session_boot *boot, char *why, size_t whylen)
{
	*why = '\0';
	if (dev->health == HEALTH_NONE || !boot->watched)
		return true;
	if (dev->health == HEALTH_LINE) {
		if (boot->line_seen)
			return true;
		snprintf(why, whylen, "no line matching '%s' within %us%s%s",
		    dev->health_line, dev->health_timeout,
		    boot->traceback ? "; it raised: " : "",
		    boot->traceback ? boot->tail : "");
		return false;
	}
	if (!boot->traceback)
		return true;
	snprintf(why, whylen, "the application raised an exception after "
	    "the reset: %s", boot->tail);
	return false;
}

const char *
rollout_action_name(enum rollout_action a)
{
	switch (a) {
	case ROLLOUT_UPDATE:
		return "update";
	case ROLLOUT_PIN:
		return "pin";
	case ROLLOUT_ROLLBACK:
		return "rollback";
	case ROLLOUT_WAIT:
		return "wait";
	case ROLLOUT_HOLD:
		return "hold";
	}
	return "?";
}

const char *
rollout_health_name(enum rollout_health h)
{
	switch (h) {
	case ROLLOUT_HEALTHY:
		return "healthy";
	case ROLLOUT_UNHEALTHY:
		return "unhealthy";
	case ROLLOUT_HEALTH_UNKNOWN:
		break;
	}
	return "unknown";
}

/* ------------------------------------------------------------ the files */

int
rollout_lock(const char *state_dir)
{
	char *path = xasprintf("%s/rollout.lock", state_dir);
	int fd;

	if (fs_mkdir_private(state_dir) == -1) {
		free(path);
		return -1;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1) {
		log_fail("cannot open '%s'", path);
		free(path);
		return -1;
	}
	while (flock(fd, LOCK_EX) == -1)
		if (errno != EINTR) {
			log_fail("cannot lock '%s'", path);
			close(fd);
			free(path);
			return -1;
		}
	free(path);
	return fd;
}

void
rollout_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

/* Read a JSON file; *root NULL when it does not exist.  -1 logged. */
static int
load_json(const char *path, size_t max, json_t **root)
{
	struct buf text = BUF_INIT;
	json_error_t jerr;
	int rc = 0;

	*root = NULL;
	if (access(path, F_OK) == -1 && errno == ENOENT)
		return 0;
	buf_init(&text, max);
	if (fs_read_file(path, &text) == -1)
		rc = -1;
	else if ((*root = json_loadb(text.data ? text.data : "", text.len, 0,
	    &jerr)) == NULL)
		rc = log_failx("'%s' is not valid JSON (line %d: %s); delete "
		    "it to start its rollout state afresh", path, jerr.line,
		    jerr.text);
	buf_release(&text);
	return rc;
}

/* Write root (stolen) to path atomically, creating its folder. */
static int
save_json(const char *dir, const char *path, json_t *root)
{
	char *text;
	int rc = -1;

	text = root ? json_dumps(root, JSON_SORT_KEYS | JSON_INDENT(1)) : NULL;
	json_decref(root);
	if (text == NULL)
		return log_failx("cannot encode '%s' as JSON", path);
	if (fs_mkdir_p(dir, FS_STATE_DIR_MODE) == 0 &&
	    fs_write_atomic(path, text, strlen(text), 0644) == 0)
		rc = 0;
	else
		log_failx("cannot save '%s'; check state_dir", path);
	free(text);
	return rc;
}

/* A commit field: 40 hex digits or "". */
static int
get_commit(json_t *root, const char *key, char out[GITHASH_HEXSZ])
{
	const char *v = json_string_value(json_object_get(root, key));

	out[0] = '\0';
	if (v == NULL || *v == '\0')
		return 0;
	if (!githash_is_hex(v))
		return -1;
	snprintf(out, GITHASH_HEXSZ, "%s", v);
	return 0;
}

static void
get_text(json_t *root, const char *key, char *out, size_t len)
{
	const char *v = json_string_value(json_object_get(root, key));

	snprintf(out, len, "%s", v ? v : "");
}

int
rollout_source_load(const char *state_dir, const char *source,
    struct rollout_source *s)
{
	char *path = xasprintf("%s/sources/%s/rollout.json", state_dir,
	    source);
	json_t *root, *bad, *v;
	size_t i;
	int rc;

	rollout_source_init(s);
	rc = load_json(path, ROLLOUT_FILE_MAX, &root);
	if (rc == 0 && root != NULL) {
		if (get_commit(root, "commit", s->commit) == -1)
			rc = log_failx("'%s': commit is not a SHA", path);
		s->ring = (unsigned)json_integer_value(json_object_get(root,
		    "ring"));
		s->done = json_is_true(json_object_get(root, "done"));
		s->started = (time_t)json_integer_value(json_object_get(root,
		    "started"));
		s->ring_healthy_since = (time_t)json_integer_value(
		    json_object_get(root, "ring_healthy_since"));
		s->halted = json_is_true(json_object_get(root, "halted"));
		get_text(root, "failed_device", s->failed_device,
		    sizeof(s->failed_device));
		get_text(root, "reason", s->reason, sizeof(s->reason));
		bad = json_object_get(root, "bad");
		json_array_foreach(bad, i, v) {
			const char *c = json_string_value(v);

			if (c && githash_is_hex(c) && s->nbad < ROLLOUT_BAD_MAX)
				snprintf(s->bad[s->nbad++], GITHASH_HEXSZ,
				    "%s", c);
		}
		if (s->ring > CONFIG_RING_MAX)
			s->ring = CONFIG_RING_MAX;
	}
	json_decref(root);
	if (rc == -1)
		rollout_source_init(s);
	free(path);
	return rc;
}

int
rollout_source_save(const char *state_dir, const char *source,
    const struct rollout_source *s)
{
	char *dir = xasprintf("%s/sources/%s", state_dir, source);
	char *path = xasprintf("%s/rollout.json", dir);
	json_t *root, *bad = json_array();
	size_t i;
	int rc;

	for (i = 0; i < s->nbad; i++)
		json_array_append_new(bad, json_string(s->bad[i]));
	root = json_pack("{s:s,s:I,s:b,s:I,s:I,s:b,s:s,s:o,s:o}",
	    "commit", s->commit, "ring", (json_int_t)s->ring, "done", s->done,
	    "started", (json_int_t)s->started, "ring_healthy_since",
	    (json_int_t)s->ring_healthy_since, "halted", s->halted,
	    "failed_device", s->failed_device, "reason",
	    status_json_string(s->reason), "bad", bad);
	rc = save_json(dir, path, root);
	free(path);
	free(dir);
	return rc;
}

int
rollout_device_load(const char *state_dir, const char *device,
    struct rollout_device *d)
{
	char *path = xasprintf("%s/devices/%s/rollout.json", state_dir,
	    device);
	const char *health;
	json_t *root;
	int rc;

	rollout_device_init(d);
	rc = load_json(path, ROLLOUT_FILE_MAX, &root);
	if (rc == 0 && root != NULL) {
		if (get_commit(root, "commit", d->commit) == -1 ||
		    get_commit(root, "last_healthy", d->last_healthy) == -1 ||
		    get_commit(root, "previous_healthy",
		    d->previous_healthy) == -1 ||
		    get_commit(root, "rolled_back_from",
		    d->rolled_back_from) == -1)
			rc = log_failx("'%s': a commit is not a SHA", path);
		health = json_string_value(json_object_get(root, "health"));
		if (health && strcmp(health, "healthy") == 0)
			d->health = ROLLOUT_HEALTHY;
		else if (health && strcmp(health, "unhealthy") == 0)
			d->health = ROLLOUT_UNHEALTHY;
		get_text(root, "reason", d->reason, sizeof(d->reason));
		get_text(root, "pin", d->pin, sizeof(d->pin));
		if (*d->pin && !config_valid_ref(d->pin))
			rc = log_failx("'%s': pin '%s' is not a ref", path,
			    d->pin);
	}
	json_decref(root);
	if (rc == -1)
		rollout_device_init(d);
	free(path);
	return rc;
}

int
rollout_device_save(const char *state_dir, const char *device,
    const struct rollout_device *d)
{
	char *dir = xasprintf("%s/devices/%s", state_dir, device);
	char *path = xasprintf("%s/rollout.json", dir);
	json_t *root;
	int rc;

	root = json_pack("{s:s,s:s,s:o,s:s,s:s,s:s,s:s}",
	    "commit", d->commit, "health", rollout_health_name(d->health),
	    "reason", status_json_string(d->reason), "last_healthy",
	    d->last_healthy, "previous_healthy", d->previous_healthy,
	    "rolled_back_from", d->rolled_back_from, "pin", d->pin);
	rc = save_json(dir, path, root);
	free(path);
	free(dir);
	return rc;
}

static char *
healthy_path(const char *state_dir, const char *device, const char *commit)
{
	return xasprintf("%s/devices/%s/healthy/%s.json", state_dir, device,
	    commit);
}

static int
load_manifest_file(const char *path, struct manifest *out, bool *missing)
{
	struct buf text = BUF_INIT;
	int rc;

	*missing = access(path, F_OK) == -1 && errno == ENOENT;
	if (*missing)
		return -1;
	buf_init(&text, MANIFEST_FILE_MAX);
	rc = fs_read_file(path, &text);
	if (rc == 0)
		rc = manifest_from_json(out, text.data ? text.data : "",
		    text.len, path);
	buf_release(&text);
	return rc;
}

int
rollout_healthy_manifest(const char *state_dir, const char *device,
    const char *commit, struct manifest *out)
{
	char *path = healthy_path(state_dir, device, commit);
	bool missing;
	int rc;

	rc = load_manifest_file(path, out, &missing);
	if (rc == -1 && missing)
		log_failx("%s: the files of its healthy commit %.12s are not "
		    "recorded ('%s' is missing); name a ref: senko rollback "
		    "%s REF", device, commit, path, device);
	free(path);
	return rc;
}

/* Remove the healthy manifests but the ones named (a board keeps two). */
static void
prune_healthy(const char *state_dir, const char *device, const char *keep1,
    const char *keep2)
{
	char *dir = xasprintf("%s/devices/%s/healthy", state_dir, device);
	DIR *dp = opendir(dir);
	struct dirent *e;

	while (dp && (e = readdir(dp)) != NULL) {
		char *p;

		if (strlen(e->d_name) != GITHASH_HEXLEN + 5 ||
		    strncmp(e->d_name, keep1, GITHASH_HEXLEN) == 0 ||
		    strncmp(e->d_name, keep2, GITHASH_HEXLEN) == 0)
			continue;
		p = xasprintf("%s/%s", dir, e->d_name);
		if (unlink(p) == -1)
			log_warn("cannot remove '%s'", p);
		free(p);
	}
	if (dp)
		closedir(dp);
	free(dir);
}

int
rollout_device_healthy(const char *state_dir, const char *device,
    const struct manifest *m, const char *rolled_back_from)
{
	struct rollout_device d;
	struct buf json = BUF_INIT;
	char *dir, *path;
	int fd, rc = -1;

	dir = xasprintf("%s/devices/%s/healthy", state_dir, device);
	path = healthy_path(state_dir, device, m->commit);
	fd = rollout_lock(state_dir);
	if (fd == -1)
		goto out;
	rollout_device_load(state_dir, device, &d);
	if (manifest_to_json(m, &json) == -1 ||
	    fs_mkdir_p(dir, FS_STATE_DIR_MODE) == -1 ||
	    fs_write_atomic(path, json.data, json.len, 0644) == -1) {
		log_failx("%s: cannot record its healthy commit in '%s'",
		    device, path);
		goto out;
	}
	if (strcmp(d.last_healthy, m->commit) != 0) {
		snprintf(d.previous_healthy, sizeof(d.previous_healthy), "%s",
		    d.last_healthy);
		snprintf(d.last_healthy, sizeof(d.last_healthy), "%s",
		    m->commit);
	}
	snprintf(d.commit, sizeof(d.commit), "%s", m->commit);
	d.health = ROLLOUT_HEALTHY;
	d.reason[0] = '\0';
	snprintf(d.rolled_back_from, sizeof(d.rolled_back_from), "%s",
	    rolled_back_from ? rolled_back_from : "");
	if (rollout_device_save(state_dir, device, &d) == -1)
		goto out;
	/* Only after the record names them: a crash in between leaves an
	 * extra file, never a record without its manifest. */
	prune_healthy(state_dir, device, d.last_healthy, d.previous_healthy);
	rc = 0;
out:
	rollout_unlock(fd);
	buf_release(&json);
	free(path);
	free(dir);
	return rc;
}

/* Under the lock: the board holds commit with this health; why says why
 * it is unhealthy (NULL otherwise). */
static int
device_judged(const char *state_dir, const char *device, const char *commit,
    enum rollout_health health, const char *why)
{
	struct rollout_device d;
	int fd, rc;

	fd = rollout_lock(state_dir);
	if (fd == -1)
		return -1;
	rollout_device_load(state_dir, device, &d);
	snprintf(d.commit, sizeof(d.commit), "%s", commit);
	d.health = health;
	snprintf(d.reason, sizeof(d.reason), "%s", why ? why : "");
	/* "Last healthy" never names a commit it has failed on. */
	if (health == ROLLOUT_UNHEALTHY &&
	    strcmp(d.last_healthy, commit) == 0) {
		snprintf(d.last_healthy, sizeof(d.last_healthy), "%s",
		    d.previous_healthy);
		d.previous_healthy[0] = '\0';
	}
	rc = rollout_device_save(state_dir, device, &d);
	rollout_unlock(fd);
	return rc;
}

int
rollout_device_unjudged(const char *state_dir, const char *device,
    const char *commit)
{
	return device_judged(state_dir, device, commit,
	    ROLLOUT_HEALTH_UNKNOWN, NULL);
}

int
rollout_device_unhealthy(const char *state_dir, const char *device,
    const char *commit, const char *why)
{
	return device_judged(state_dir, device, commit, ROLLOUT_UNHEALTHY,
	    why);
}

int
rollout_halt(const char *state_dir, const char *source, const char *commit,
    const char *device, const char *why)
{
	struct rollout_source s;
	int fd, rc;

	fd = rollout_lock(state_dir);
	if (fd == -1)
		return -1;
	rollout_source_load(state_dir, source, &s);
	rollout_add_bad(&s, commit);
	if (strcmp(s.commit, commit) == 0 || *s.commit == '\0') {
		snprintf(s.commit, sizeof(s.commit), "%s", commit);
		s.halted = true;
		snprintf(s.failed_device, sizeof(s.failed_device), "%s",
		    device);
		snprintf(s.reason, sizeof(s.reason), "%s", why);
	}
	rc = rollout_source_save(state_dir, source, &s);
	rollout_unlock(fd);
	return rc;
}

int
rollout_pin_save(const char *state_dir, const char *device, const char *ref,
    const struct manifest *m)
{
	char *dir = xasprintf("%s/devices/%s", state_dir, device);
	char *path = xasprintf("%s/pin.json", dir);
	struct buf json = BUF_INIT;
	json_t *root = NULL, *files;
	json_error_t jerr;
	int rc = -1;

	if (manifest_to_json(m, &json) == 0)
		root = json_loadb(json.data, json.len, 0, &jerr);
	if (root == NULL) {
		log_failx("cannot encode the pin of '%s'", device);
		goto out;
	}
	files = json_pack("{s:s,s:o}", "ref", ref, "manifest", root);
	rc = save_json(dir, path, files);
out:
	buf_release(&json);
	free(path);
	free(dir);
	return rc;
}

int
rollout_pin_manifest(const char *state_dir, const char *device,
    const char *ref, struct manifest *out)
{
	char *path = xasprintf("%s/devices/%s/pin.json", state_dir, device);
	json_t *root = NULL;
	const char *saved;
	char *text = NULL;
	int rc = -1, quiet;

	quiet = log_thread_quiet(1);
	if (load_json(path, MANIFEST_FILE_MAX, &root) == -1 || root == NULL)
		goto out;
	saved = json_string_value(json_object_get(root, "ref"));
	if (saved == NULL || strcmp(saved, ref) != 0)
		goto out;
	text = json_dumps(json_object_get(root, "manifest"), 0);
	if (text && manifest_from_json(out, text, strlen(text), path) == 0)
		rc = 0;
out:
	log_thread_quiet(quiet);
	free(text);
	json_decref(root);
	free(path);
	return rc;
}

/* Append the manifest in path (a file that must exist) to list/n;
 * -1 when it cannot be read (logged). */
static int
keep_manifest_file(const char *path, struct manifest **list, size_t *n)
{
	bool missing;

	*list = xreallocarray(*list, *n + 1, sizeof(**list));
	manifest_init(&(*list)[*n]);
	if (load_manifest_file(path, &(*list)[*n], &missing) == 0) {
		(*n)++;
		return 0;
	}
	manifest_release(&(*list)[*n]);
	/* Removed since it was listed (a board judged healthy again). */
	return missing ? 0 : -1;
}

int
rollout_kept_manifests(const char *state_dir, const char *device,
    struct manifest **list, size_t *n)
{
	char *pin = xasprintf("%s/devices/%s/pin.json", state_dir, device);
	char *dir = xasprintf("%s/devices/%s/healthy", state_dir, device);
	json_t *root = NULL;
	struct dirent *e;
	DIR *dp;
	int rc = 0;

	/* Every healthy manifest, not only the two rollout.json names: a
	 * board keeps its last and previous (prune_healthy removes older
	 * ones), and they are kept even when rollout.json cannot be read. */
	dp = opendir(dir);
	if (dp == NULL && errno != ENOENT)
		rc = log_fail("cannot read the healthy commits of '%s' in "
		    "'%s'", device, dir);
	while (dp && (e = readdir(dp)) != NULL) {
		size_t len = strlen(e->d_name);
		char *p;

		if (len != GITHASH_HEXLEN + 5 ||
		    strcmp(e->d_name + GITHASH_HEXLEN, ".json") != 0)
			continue;
		p = xasprintf("%s/%s", dir, e->d_name);
		if (keep_manifest_file(p, list, n) == -1)
			rc = -1;
		free(p);
	}
	if (dp)
		closedir(dp);
	if (load_json(pin, MANIFEST_FILE_MAX, &root) == -1)
		rc = -1;
	else if (root != NULL) {
		char *text = json_dumps(json_object_get(root, "manifest"), 0);

		*list = xreallocarray(*list, *n + 1, sizeof(**list));
		manifest_init(&(*list)[*n]);
		if (text && manifest_from_json(&(*list)[*n], text,
		    strlen(text), pin) == 0)
			(*n)++;
		else {
			manifest_release(&(*list)[*n]);
			rc = -1;
		}
		free(text);
	}
	json_decref(root);
	free(dir);
	free(pin);
	return rc;
}
