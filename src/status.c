/*
 * status.c - per-device status files; see status.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "fsutil.h"
#include "log.h"
#include "path.h"
#include "status.h"
#include "xalloc.h"
#include "banned.h"

/* A status file is a few hundred bytes; anything huge is not ours. */
#define STATUS_FILE_MAX (64u * 1024)

static const struct {
	enum device_state state;
	const char *name;
} state_names[] = {
	{ DEVICE_UNKNOWN, "unknown" },
	{ DEVICE_IN_SYNC, "in-sync" },
	{ DEVICE_UPDATED, "updated" },
	{ DEVICE_FAILED, "failed" },
	{ DEVICE_OFFLINE, "offline" },
	{ DEVICE_BUSY, "busy" },
	{ DEVICE_PENDING, "pending" },
	{ DEVICE_STOPPED, "stopped" },
	{ DEVICE_WAITING, "waiting" },
	{ DEVICE_ROLLED_BACK, "rolled-back" },
};

const char *
status_state_name(enum device_state s)
{
	size_t i;

	for (i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (state_names[i].state == s)
			return state_names[i].name;
	return "unknown";
}

int
status_state_parse(const char *name, enum device_state *out)
{
	size_t i;

	for (i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++)
		if (strcmp(state_names[i].name, name) == 0) {
			*out = state_names[i].state;
			return 0;
		}
	return -1;
}

void
status_init(struct device_status *st)
{
	memset(st, 0, sizeof(*st));
	st->state = DEVICE_UNKNOWN;
}

/* state_dir/KIND/NAME/status.json, or NULL when name cannot be a folder. */
static char *
status_file(const char *state_dir, const char *kind, const char *name,
    const char **why)
{
	if (!path_is_safe(name, strlen(name), why))
		return NULL;
	if (strchr(name, '/')) {
		*why = "it contains '/'";
		return NULL;
	}
	return xasprintf("%s/%s/%s/status.json", state_dir, kind, name);
}

static char *
status_path(const char *state_dir, const char *device, const char **why)
{
	return status_file(state_dir, "devices", device, why);
}

static void
copy_string(char *dst, size_t size, json_t *v)
{
	const char *s = json_string_value(v);
	size_t len;

	snprintf(dst, size, "%s", s ? s : "");
	/* Cut at a character boundary, so the text stays UTF-8. */
	len = strlen(dst);
	while (len > 0 && !utf8_is_valid(dst, len))
		dst[--len] = '\0';
}

/*
 * Parse a status file's text: a JSON object whose "state" is a string and
 * whose "commit", when set, is hex.  The state's meaning is the caller's.
 * Returns the object (the caller's reference) and its state, or NULL
 * (logged, naming path and kind: "device" or "source").
 */
static json_t *
status_json_parse(const char *text, size_t len, const char *path,
    const char *kind, const char **state)
{
	json_error_t jerr;
	json_t *root;
	const char *commit;

	root = json_loadb(text, len, 0, &jerr);
	if (root == NULL) {
		log_failx("'%s' is not valid JSON (line %d: %s)", path,
		    jerr.line, jerr.text);
		return NULL;
	}
	*state = json_string_value(json_object_get(root, "state"));
	commit = json_string_value(json_object_get(root, "commit"));
	if (*state == NULL || (commit && *commit && !githash_is_hex(commit))) {
		log_failx("'%s' is not a %s status file", path, kind);
		json_decref(root);
		return NULL;
	}
	return root;
}

static int
status_parse(struct device_status *st, const char *text, size_t len,
    const char *path)
{
	json_t *root;
	const char *state;
	int rc = -1;

	root = status_json_parse(text, len, path, "device", &state);
	if (root == NULL)
		return -1;
	if (status_state_parse(state, &st->state) == -1) {
		log_failx("'%s' is not a device status file: unknown state "
		    "'%s'", path, state);
		goto out;
	}
	copy_string(st->commit, sizeof(st->commit),
	    json_object_get(root, "commit"));
	st->last_success = (time_t)json_integer_value(json_object_get(root,
	    "last_success"));
	st->last_attempt = (time_t)json_integer_value(json_object_get(root,
	    "last_attempt"));
	copy_string(st->last_error, sizeof(st->last_error),
	    json_object_get(root, "last_error"));
	st->files_sent = (unsigned)json_integer_value(json_object_get(root,
	    "files_sent"));
	st->bytes_sent = (uint64_t)json_integer_value(json_object_get(root,
	    "bytes_sent"));
	st->files_deleted = (unsigned)json_integer_value(json_object_get(root,
	    "files_deleted"));
	copy_string(st->platform, sizeof(st->platform),
	    json_object_get(root, "platform"));
	copy_string(st->version, sizeof(st->version),
	    json_object_get(root, "version"));
	st->boot_watched = json_is_true(json_object_get(root, "boot_watched"));
	st->boot_traceback = json_is_true(json_object_get(root,
	    "boot_traceback"));
	copy_string(st->boot_tail, sizeof(st->boot_tail),
	    json_object_get(root, "boot_tail"));
	st->commit_completed = json_is_true(json_object_get(root,
	    "commit_completed"));
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int
status_load(const char *state_dir, const char *device,
    struct device_status *st)
{
	struct buf text = BUF_INIT;
	const char *why;
	char *path;
	int rc;

	status_init(st);
	path = status_path(state_dir, device, &why);
	if (path == NULL)
		return log_failx("device name '%s' cannot name a folder: %s",
		    device, why);
	if (access(path, F_OK) == -1 && errno == ENOENT) {
		free(path);
		return 0;
	}
	buf_init(&text, STATUS_FILE_MAX);
	rc = fs_read_file(path, &text);
	if (rc == 0)
		rc = status_parse(st, text.data, text.len, path);
	if (rc == -1)
		status_init(st);
	buf_release(&text);
	free(path);
	return rc;
}

json_t *
status_json_string(const char *s)
{
	char *copy;
	json_t *v;
	size_t i;

	if (utf8_is_valid(s, strlen(s)))
		return json_string(s);
	copy = xstrdup(s);
	for (i = 0; copy[i]; i++)
		if ((unsigned char)copy[i] >= 0x80)
			copy[i] = '?';
	v = json_string(copy);
	free(copy);
	return v;
}

int
status_save(const char *state_dir, const char *device,
    const struct device_status *st)
{
	const char *why;
	char *path, *dir, *text;
	json_t *root;
	int rc = -1;

	path = status_path(state_dir, device, &why);
	if (path == NULL)
		return log_failx("device name '%s' cannot name a folder: %s",
		    device, why);
	dir = xasprintf("%s/devices/%s", state_dir, device);
	root = json_pack("{s:s,s:s,s:I,s:I,s:o,s:I,s:I,s:I,s:o,s:o}",
	    "state", status_state_name(st->state),
	    "commit", st->commit,
	    "last_success", (json_int_t)st->last_success,
	    "last_attempt", (json_int_t)st->last_attempt,
	    "last_error", status_json_string(st->last_error),
	    "files_sent", (json_int_t)st->files_sent,
	    "bytes_sent", (json_int_t)st->bytes_sent,
	    "files_deleted", (json_int_t)st->files_deleted,
	    "platform", status_json_string(st->platform),
	    "version", status_json_string(st->version));
	if (root != NULL) {
		json_object_set_new(root, "boot_watched",
		    json_boolean(st->boot_watched));
		json_object_set_new(root, "boot_traceback",
		    json_boolean(st->boot_traceback));
		json_object_set_new(root, "boot_tail",
		    status_json_string(st->boot_tail));
		json_object_set_new(root, "commit_completed",
		    json_boolean(st->commit_completed));
	}
	text = root ? json_dumps(root, JSON_SORT_KEYS | JSON_INDENT(1)) : NULL;
	json_decref(root);
	if (text == NULL) {
		log_failx("cannot encode the status of '%s' as JSON",
		    device);
		goto out;
	}
	if (fs_mkdir_p(dir, FS_STATE_DIR_MODE) == -1 ||
	    fs_write_atomic(path, text, strlen(text), 0644) == -1) {
		log_failx("cannot save the status of '%s' in '%s'", device,
		    path);
		goto out;
	}
	rc = 0;
out:
	free(text);
	free(dir);
	free(path);
	return rc;
}

/* ---------------------------------------------------------------- sources */

static const char *const source_state_names[] = {
	[SOURCE_UNKNOWN] = "unknown",
	[SOURCE_OK] = "ok",
	[SOURCE_FAILED] = "failed",
	[SOURCE_RATE_LIMITED] = "rate-limited",
};
#define NSOURCE_STATES \
	(sizeof(source_state_names) / sizeof(source_state_names[0]))

const char *
source_state_name(enum source_state s)
{
	return (size_t)s < NSOURCE_STATES ? source_state_names[s] : "unknown";
}

static int
source_state_parse(const char *name, enum source_state *out)
{
	size_t i;

	for (i = 0; i < NSOURCE_STATES; i++)
		if (strcmp(source_state_names[i], name) == 0) {
			*out = (enum source_state)i;
			return 0;
		}
	return -1;
}

void
source_status_init(struct source_status *st)
{
	memset(st, 0, sizeof(*st));
	st->state = SOURCE_UNKNOWN;
}

/* null or a number: the one spelling of "unknown" for times. */
static json_t *
time_or_null(time_t t)
{
	return t ? json_integer((json_int_t)t) : json_null();
}

static json_t *
text_or_null(const char *s)
{
	return *s ? status_json_string(s) : json_null();
}

static int
source_status_parse(struct source_status *st, const char *text, size_t len,
    const char *path)
{
	json_t *root;
	const char *state;
	int rc = -1;

	root = status_json_parse(text, len, path, "source", &state);
	if (root == NULL)
		return -1;
	if (source_state_parse(state, &st->state) == -1) {
		log_failx("'%s' is not a source status file: unknown state "
		    "'%s'", path, state);
		goto out;
	}
	copy_string(st->commit, sizeof(st->commit),
	    json_object_get(root, "commit"));
	copy_string(st->last_error, sizeof(st->last_error),
	    json_object_get(root, "last_error"));
	st->last_poll = (time_t)json_integer_value(json_object_get(root,
	    "last_poll"));
	st->last_success = (time_t)json_integer_value(json_object_get(root,
	    "last_success"));
	st->failing_since = (time_t)json_integer_value(json_object_get(root,
	    "failing_since"));
	st->retry_after = (time_t)json_integer_value(json_object_get(root,
	    "retry_after"));
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* Read path into st as it is written, without the file's time. */
static int
source_status_read(const char *path, struct source_status *st)
{
	struct buf text = BUF_INIT;
	int rc;

	buf_init(&text, STATUS_FILE_MAX);
	rc = fs_read_file(path, &text);
	if (rc == 0)
		rc = source_status_parse(st, text.data, text.len, path);
	if (rc == -1)
		source_status_init(st);
	buf_release(&text);
	return rc;
}

/*
 * Read path into st, the times as status.h says: a poll that changed
 * nothing only touched the file, so its mtime is the last poll (and, for
 * a source that works, the last success).  Returns 0, or -1 (logged).
 */
static int
source_status_read_timed(const char *path, struct source_status *st)
{
	struct stat sb;

	if (stat(path, &sb) == -1) {
		source_status_init(st);
		return log_fail("cannot read '%s'", path);
	}
	if (source_status_read(path, st) == -1)
		return -1;
	if (st->state != SOURCE_UNKNOWN && sb.st_mtime > st->last_poll) {
		st->last_poll = sb.st_mtime;
		if (st->state == SOURCE_OK)
			st->last_success = sb.st_mtime;
	}
	return 0;
}

int
source_status_load(const char *state_dir, const char *source,
    struct source_status *st)
{
	const char *why;
	char *path;
	int rc = 0;

	source_status_init(st);
	path = status_file(state_dir, "sources", source, &why);
	if (path == NULL)
		return log_failx("source name '%s' cannot name a folder: %s",
		    source, why);
	if (access(path, F_OK) == 0 || errno != ENOENT)
		rc = source_status_read_timed(path, st);
	free(path);
	return rc;
}

/* Does b say something a reader of a differs on, apart from times? */
static bool
source_status_differs(const struct source_status *a,
    const struct source_status *b)
{
	return a->state != b->state || strcmp(a->commit, b->commit) != 0 ||
	    strcmp(a->last_error, b->last_error) != 0 ||
	    a->failing_since != b->failing_since ||
	    a->retry_after != b->retry_after;
}

static int
source_status_write(const char *path, const char *dir, const char *source,
    const struct source_status *st)
{
	char *text;
	json_t *root;
	int rc = -1;

	root = json_pack("{s:i,s:s,s:o,s:o,s:o,s:o,s:o,s:o}",
	    "schema", STATUS_SCHEMA,
	    "state", source_state_name(st->state),
	    "commit", text_or_null(st->commit),
	    "last_poll", time_or_null(st->last_poll),
	    "last_success", time_or_null(st->last_success),
	    "failing_since", time_or_null(st->failing_since),
	    "retry_after", time_or_null(st->retry_after),
	    "last_error", text_or_null(st->last_error));
	text = root ? json_dumps(root, JSON_SORT_KEYS | JSON_INDENT(1)) : NULL;
	json_decref(root);
	if (text == NULL)
		return log_failx("cannot encode the status of source '%s' as "
		    "JSON", source);
	if (fs_mkdir_p(dir, 0755) == -1 ||
	    fs_write_atomic(path, text, strlen(text), 0644) == -1)
		log_failx("cannot save the status of source '%s' in '%s'",
		    source, path);
	else
		rc = 0;
	free(text);
	return rc;
}

int
source_status_update(const char *state_dir, const char *source,
    const struct sync_source_result *res, time_t retry_after, time_t now)
{
	struct source_status old, st;
	struct timespec times[2];
	const char *why;
	char *path, *dir;
	bool was_failing;
	int rc;

	path = status_file(state_dir, "sources", source, &why);
	if (path == NULL)
		return log_failx("source name '%s' cannot name a folder: %s",
		    source, why);
	if (access(path, F_OK) == 0)
		source_status_read_timed(path, &old); /* corrupt: replaced */
	else
		source_status_init(&old);
	st = old;
	was_failing = old.state == SOURCE_FAILED ||
	    old.state == SOURCE_RATE_LIMITED;
	st.last_poll = now;
	if (*res->commit)
		snprintf(st.commit, sizeof(st.commit), "%s", res->commit);
	if (res->ok == 0) {
		st.state = SOURCE_OK;
		st.last_success = now;
		st.failing_since = 0;
		st.retry_after = 0;
		st.last_error[0] = '\0';
	} else {
		st.state = retry_after > now ? SOURCE_RATE_LIMITED :
		    SOURCE_FAILED;
		st.failing_since = was_failing && old.failing_since ?
		    old.failing_since : now;
		st.retry_after = retry_after > now ? retry_after : 0;
		snprintf(st.last_error, sizeof(st.last_error), "%s",
		    *res->error ? res->error : "failed without a message");
	}
	dir = xasprintf("%s/sources/%s", state_dir, source);
	/* Nothing new to say: only the file's time, the last poll, moves. */
	times[0].tv_sec = times[1].tv_sec = now;
	times[0].tv_nsec = times[1].tv_nsec = 0;
	if (source_status_differs(&old, &st) || old.state == SOURCE_UNKNOWN ||
	    utimensat(AT_FDCWD, path, times, 0) == -1)
		rc = source_status_write(path, dir, source, &st);
	else
		rc = 0;
	/* A fresh file's time is the poll's too (a best effort). */
	if (rc == 0)
		utimensat(AT_FDCWD, path, times, 0);
	free(dir);
	free(path);
	return rc;
}
