/*
 * statusview.c - a snapshot of the status files and its JSON; see
 * statusview.h.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "rollout.h"
#include "statusview.h"
#include "xalloc.h"
#include "banned.h"

static bool
device_is_bad(enum device_state s)
{
	return s == DEVICE_FAILED || s == DEVICE_OFFLINE ||
	    s == DEVICE_ROLLED_BACK;
}

/* A rollout halted on a bad commit needs someone (rollout.h). */
static bool
source_halted(const struct config *cfg, size_t i)
{
	struct rollout_source ro;

	return rollout_source_load(cfg->state_dir, cfg->sources[i].name,
	    &ro) == 0 && ro.halted;
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
		if (source_halted(cfg, i))
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

/* A source's rollout (rollout.h): null before its first. */
static json_t *
rollout_json(const struct config *cfg, const char *source)
{
	struct rollout_source ro;
	json_t *bad;
	size_t i;

	if (rollout_source_load(cfg->state_dir, source, &ro) == -1 ||
	    *ro.commit == '\0')
		return json_null();
	bad = json_array();
	for (i = 0; i < ro.nbad; i++)
		json_array_append_new(bad, json_string(ro.bad[i]));
	return json_pack("{s:s,s:I,s:b,s:b,s:o,s:o,s:o,s:o,s:o}",
	    "commit", ro.commit, "ring", (json_int_t)ro.ring, "done", ro.done,
	    "halted", ro.halted, "failed_device", text_json(ro.failed_device),
	    "reason", text_json(ro.reason), "started", time_json(ro.started),
	    "ring_healthy_since", time_json(ro.ring_healthy_since),
	    "bad_commits", bad);
}

json_t *
status_view_source_json(const struct config *cfg,
    const struct status_view *v, size_t i)
{
	const struct config_source *src = &cfg->sources[i];
	const struct source_status *st = &v->sources[i];
	json_t *o;

	/* A local source has a path and no user, repo or branch (null);
	 * branch is null too when it follows the repository's default. */
	o = json_pack("{s:s,s:s?,s:s?,s:s?,s:s?,s:s,s:o,s:o,s:o,s:o,s:o,s:o,"
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
	if (o != NULL)
		json_object_set_new(o, "rollout", rollout_json(cfg, src->name));
	return o;
}

/* A device's part of the rollout: its ring, health and pin. */
static void
device_rollout_json(const struct config *cfg, const struct config_device *d,
    json_t *o)
{
	struct rollout_device rec;
	const char *pin;

	rollout_device_load(cfg->state_dir, d->name, &rec);
	pin = *rec.pin ? rec.pin : d->pin;
	json_object_set_new(o, "ring", json_integer((json_int_t)d->ring));
	json_object_set_new(o, "healthy", rec.health == ROLLOUT_HEALTH_UNKNOWN ?
	    json_null() : json_boolean(rec.health == ROLLOUT_HEALTHY));
	json_object_set_new(o, "health_commit", text_json(rec.commit));
	json_object_set_new(o, "health_reason", text_json(rec.reason));
	json_object_set_new(o, "last_healthy_commit",
	    text_json(rec.last_healthy));
	json_object_set_new(o, "rolled_back_from",
	    text_json(rec.rolled_back_from));
	json_object_set_new(o, "pin", pin ? json_string(pin) : json_null());
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
		device_rollout_json(cfg, d, o);
	}
	return o;
}
