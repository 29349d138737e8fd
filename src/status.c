/*
 * status.c - per-device status files; see status.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static char *
status_path(const char *state_dir, const char *device, const char **why)
{
	if (!path_is_safe(device, strlen(device), why))
		return NULL;
	if (strchr(device, '/')) {
		*why = "it contains '/'";
		return NULL;
	}
	return xasprintf("%s/devices/%s/status.json", state_dir, device);
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

static int
status_parse(struct device_status *st, const char *text, size_t len,
    const char *path)
{
	json_error_t jerr;
	json_t *root;
	const char *state, *commit;
	int rc = -1;

	root = json_loadb(text, len, 0, &jerr);
	if (root == NULL)
		return log_failx("'%s' is not valid JSON (line %d: %s)", path,
		    jerr.line, jerr.text);
	state = json_string_value(json_object_get(root, "state"));
	commit = json_string_value(json_object_get(root, "commit"));
	if (state == NULL || status_state_parse(state, &st->state) == -1 ||
	    (commit && *commit && !githash_is_hex(commit))) {
		log_failx("'%s' is not a device status file", path);
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

/* jansson refuses text that is not UTF-8 (a board's garbled error). */
static json_t *
utf8_string(const char *s)
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
	    "last_error", utf8_string(st->last_error),
	    "files_sent", (json_int_t)st->files_sent,
	    "bytes_sent", (json_int_t)st->bytes_sent,
	    "files_deleted", (json_int_t)st->files_deleted,
	    "platform", utf8_string(st->platform),
	    "version", utf8_string(st->version));
	if (root != NULL) {
		json_object_set_new(root, "boot_watched",
		    json_boolean(st->boot_watched));
		json_object_set_new(root, "boot_traceback",
		    json_boolean(st->boot_traceback));
		json_object_set_new(root, "boot_tail",
		    utf8_string(st->boot_tail));
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
	if (fs_mkdir_p(dir, 0755) == -1 ||
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
