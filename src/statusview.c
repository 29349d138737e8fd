/*
 * statusview.c - a snapshot of the status files and its JSON; see
 * statusview.h.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "statusview.h"
#include "xalloc.h"
#include "banned.h"

static bool
device_is_bad(enum device_state s)
{
	return s == DEVICE_FAILED || s == DEVICE_OFFLINE;
}

int
status_view_load(const struct config *cfg, struct status_view *v)
{
	int rc = 0;
	size_t i;

	v->sources = xcalloc(cfg->nsources + 1, sizeof(*v->sources));
	v->source_unreadable = xcalloc(cfg->nsources + 1,
	    sizeof(*v->source_unreadable));
	v->devices = xcalloc(cfg->ndevices + 1, sizeof(*v->devices));
	v->device_unreadable = xcalloc(cfg->ndevices + 1,
	    sizeof(*v->device_unreadable));
	for (i = 0; i < cfg->nsources; i++) {
		if (source_status_load(cfg->state_dir, cfg->sources[i].name,
		    &v->sources[i]) == -1) {
			v->source_unreadable[i] = true;
			rc = 1;
		} else if (v->sources[i].state == SOURCE_FAILED)
			rc = 1;
	}
	for (i = 0; i < cfg->ndevices; i++) {
		if (status_load(cfg->state_dir, cfg->devices[i].name,
		    &v->devices[i]) == -1) {
			v->device_unreadable[i] = true;
			rc = 1;
		} else if (device_is_bad(v->devices[i].state))
			rc = 1;
	}
	return rc;
}

void
status_view_release(struct status_view *v)
{
	free(v->sources);
	free(v->source_unreadable);
	free(v->devices);
	free(v->device_unreadable);
	memset(v, 0, sizeof(*v));
}

/* null is the one spelling of "unknown" (see senko(1)). */
static json_t *
time_json(time_t t)
{
	return t ? json_integer((json_int_t)t) : json_null();
}

/* A string, or null when empty; text that is not UTF-8 is escaped. */
static json_t *
text_json(const char *s)
{
	char esc[STATUS_ERROR_MAX * 4];

	if (*s == '\0')
		return json_null();
	log_escape(esc, sizeof(esc), s);
	return json_string(esc);
}

json_t *
status_view_source_json(const struct config *cfg,
    const struct status_view *v, size_t i)
{
	const struct config_source *src = &cfg->sources[i];
	const struct source_status *st = &v->sources[i];

	/* A local source has a path and no user, repo or branch (null);
	 * branch is null too when it follows the repository's default. */
	return json_pack("{s:s,s:s?,s:s?,s:s?,s:s?,s:s,s:o,s:o,s:o,s:o,s:o,s:o,"
	    "s:b}",
	    "name", src->name, "user", src->path ? NULL : src->user,
	    "repo", src->path ? NULL : src->repo,
	    "branch", src->path ? NULL : src->branch, "path", src->path,
	    "state", source_state_name(st->state),
	    "commit", text_json(st->commit),
	    "last_poll", time_json(st->last_poll),
	    "last_success", time_json(st->last_success),
	    "failing_since", time_json(st->failing_since),
	    "retry_after", time_json(st->retry_after),
	    "last_error", text_json(st->last_error),
	    "status_readable", !v->source_unreadable[i]);
}

json_t *
status_view_device_json(const struct config *cfg,
    const struct status_view *v, size_t i)
{
	const struct config_device *d = &cfg->devices[i];
	const struct device_status *st = &v->devices[i];
	json_t *o;

	o = json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:I,s:I,s:I,"
	    "s:o,s:o,s:b}",
	    "name", d->name, "port", d->port, "source", d->source,
	    "state", status_state_name(st->state),
	    "commit", text_json(st->commit),
	    "last_success", time_json(st->last_success),
	    "last_attempt", time_json(st->last_attempt),
	    "last_error", text_json(st->last_error),
	    "files_sent", (json_int_t)st->files_sent,
	    "bytes_sent", (json_int_t)st->bytes_sent,
	    "files_deleted", (json_int_t)st->files_deleted,
	    "platform", text_json(st->platform),
	    "version", text_json(st->version),
	    "status_readable", !v->device_unreadable[i]);
	/* The boot watch and an interrupted commit (session.h). */
	if (o != NULL) {
		json_object_set_new(o, "boot", json_pack("{s:b,s:b,s:o}",
		    "watched", st->boot_watched, "traceback",
		    st->boot_traceback, "last_lines",
		    text_json(st->boot_tail)));
		json_object_set_new(o, "commit_completed",
		    json_boolean(st->commit_completed));
	}
	return o;
}
