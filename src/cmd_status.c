/*
 * cmd_status.c - `senko status [--json]`: how each source's last poll
 * went and what happened last to each device, read from the status files
 * the sync engine writes (status.h).
 *
 * Only reads files written atomically, so it is safe while senkod runs.
 * Exit status: 0, or 1 when a source's last poll failed, a device's last
 * attempt failed or found it offline, or a status file cannot be read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "human.h"
#include "log.h"
#include "status.h"
#include "xalloc.h"
#include "banned.h"

/* What the files said, per config index. */
struct status_view {
	struct source_status *sources;
	bool *source_unreadable;
	struct device_status *devices;
	bool *device_unreadable;
};

static bool
device_is_bad(enum device_state s)
{
	return s == DEVICE_FAILED || s == DEVICE_OFFLINE;
}

/* Text a board or a server wrote, made safe for a terminal. */
static const char *
shown_error(char *out, size_t size, const char *error, bool unreadable)
{
	if (unreadable)
		return "status file unreadable";
	if (*error == '\0')
		return "-";
	log_escape(out, size, error);
	return out;
}

static void
print_sources(const struct config *cfg, const struct status_view *v,
    time_t now)
{
	size_t i;

	printf("%-16s %-12s %-8s %-16s %-16s %-8s %s\n", "SOURCE", "STATE",
	    "COMMIT", "LAST POLL", "LAST SUCCESS", "WAIT", "LAST ERROR");
	for (i = 0; i < cfg->nsources; i++) {
		const struct source_status *st = &v->sources[i];
		char poll[HUMAN_MAX], ok[HUMAN_MAX], wait[HUMAN_MAX];
		char err[STATUS_ERROR_MAX * 4];

		human_age(poll, sizeof(poll), st->last_poll, now);
		human_age(ok, sizeof(ok), st->last_success, now);
		if (st->retry_after > now)
			human_duration(wait, sizeof(wait),
			    st->retry_after - now);
		else
			snprintf(wait, sizeof(wait), "-");
		printf("%-16s %-12s %-8.7s %-16s %-16s %-8s %s\n",
		    cfg->sources[i].name, v->source_unreadable[i] ? "?" :
		    source_state_name(st->state), *st->commit ? st->commit : "-",
		    poll, ok, wait, shown_error(err, sizeof(err),
		    st->last_error, v->source_unreadable[i]));
	}
}

static void
print_devices(const struct config *cfg, const struct status_view *v,
    time_t now)
{
	size_t i;

	printf("%-16s %-8s %-8s %-16s %-24s %s\n", "DEVICE", "STATE",
	    "COMMIT", "LAST SUCCESS", "LAST SENT", "LAST ERROR");
	for (i = 0; i < cfg->ndevices; i++) {
		const struct device_status *st = &v->devices[i];
		char age[HUMAN_MAX], bytes[HUMAN_MAX], sent[64];
		char err[STATUS_ERROR_MAX * 4];

		human_age(age, sizeof(age), st->last_success, now);
		human_size(bytes, sizeof(bytes), st->bytes_sent);
		snprintf(sent, sizeof(sent), "%u file%s, %s", st->files_sent,
		    st->files_sent == 1 ? "" : "s", bytes);
		if (st->files_deleted > 0) {
			size_t len = strlen(sent);

			snprintf(sent + len, sizeof(sent) - len, ", %u del",
			    st->files_deleted);
		}
		printf("%-16s %-8s %-8.7s %-16s %-24s %s\n",
		    cfg->devices[i].name, v->device_unreadable[i] ? "?" :
		    status_state_name(st->state),
		    st->commit[0] ? st->commit : "-", age, sent,
		    shown_error(err, sizeof(err), st->last_error,
		    v->device_unreadable[i]));
	}
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

static json_t *
source_json(const struct config_source *src, const struct source_status *st,
    bool unreadable)
{
	/* A local source has a path and no user, repo or branch (null). */
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
	    "status_readable", !unreadable);
}

static json_t *
device_json(const struct config_device *d, const struct device_status *st,
    bool unreadable)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:I,s:I,s:I,"
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
	    "status_readable", !unreadable);
}

static int
print_json(const struct config *cfg, const struct status_view *v)
{
	json_t *root, *sources = json_array(), *devs = json_array();
	char *text;
	size_t i;
	int rc = 0;

	for (i = 0; i < cfg->nsources; i++)
		if (json_array_append_new(sources, source_json(&cfg->sources[i],
		    &v->sources[i], v->source_unreadable[i])) == -1)
			rc = log_failx("cannot encode the status of source "
			    "'%s' as JSON", cfg->sources[i].name);
	for (i = 0; i < cfg->ndevices; i++)
		if (json_array_append_new(devs, device_json(&cfg->devices[i],
		    &v->devices[i], v->device_unreadable[i])) == -1)
			rc = log_failx("cannot encode the status of '%s' as "
			    "JSON", cfg->devices[i].name);
	root = json_pack("{s:i,s:o,s:o}", "schema", STATUS_SCHEMA,
	    "sources", sources, "devices", devs);
	text = rc == 0 && root ? json_dumps(root, JSON_INDENT(2)) : NULL;
	json_decref(root);
	if (text == NULL)
		return log_failx("cannot encode the status as JSON");
	printf("%s\n", text);
	free(text);
	return 0;
}

/* Read every status file; returns the exit status they call for. */
static int
load_view(const struct config *cfg, struct status_view *v)
{
	int rc = CLI_EXIT_OK;
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
			rc = CLI_EXIT_FAILED;
		} else if (v->sources[i].state == SOURCE_FAILED)
			rc = CLI_EXIT_FAILED;
	}
	for (i = 0; i < cfg->ndevices; i++) {
		if (status_load(cfg->state_dir, cfg->devices[i].name,
		    &v->devices[i]) == -1) {
			v->device_unreadable[i] = true;
			rc = CLI_EXIT_FAILED;
		} else if (device_is_bad(v->devices[i].state))
			rc = CLI_EXIT_FAILED;
	}
	return rc;
}

static void
release_view(struct status_view *v)
{
	free(v->sources);
	free(v->source_unreadable);
	free(v->devices);
	free(v->device_unreadable);
}

int
cmd_status(struct cli *cli, int argc, char **argv)
{
	const struct config *cfg = cli->cfg;
	struct status_view view;
	bool json = false;
	time_t now = time(NULL);
	int i, rc;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else
			return cli_command_usage(cli_find_command("status"));
	}
	rc = load_view(cfg, &view);
	if (json) {
		if (print_json(cfg, &view) == -1)
			rc = CLI_EXIT_FAILED;
	} else {
		print_sources(cfg, &view, now);
		printf("\n");
		print_devices(cfg, &view, now);
	}
	if (fflush(stdout) == EOF)
		rc = CLI_EXIT_FAILED;
	release_view(&view);
	return rc;
}
