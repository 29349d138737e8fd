/*
 * cmd_status.c - `senko status [--json|--prometheus]`: how each source's
 * last poll went and what happened last to each device, read from the
 * status files the sync engine writes (status.h, statusview.h); with
 * --prometheus, the text senkod writes to metrics_file (metrics.h).
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

#include "buf.h"
#include "cli.h"
#include "human.h"
#include "log.h"
#include "metrics.h"
#include "rollout.h"
#include "statusview.h"
#include "xalloc.h"
#include "banned.h"

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
		if (st->commit_completed)
			printf("%-16s found in the middle of an update (a "
			    "power cut?) and completed it\n", "");
		if (st->boot_traceback)
			printf("%-16s after its restart the application "
			    "raised: %s\n", "", st->boot_tail);
	}
}

static int
print_json(const struct config *cfg, const struct status_view *v)
{
	json_t *root, *sources = json_array(), *devs = json_array();
	char *text;
	size_t i;
	int rc = 0;

	for (i = 0; i < cfg->nsources; i++)
		if (json_array_append_new(sources,
		    status_view_source_json(cfg, v, i)) == -1)
			rc = log_failx("cannot encode the status of source "
			    "'%s' as JSON", cfg->sources[i].name);
	for (i = 0; i < cfg->ndevices; i++)
		if (json_array_append_new(devs,
		    status_view_device_json(cfg, v, i)) == -1)
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

/* A line per source whose rollout is halted (rollout.h); the exit
 * status says so already (status_view_load). */
static void
print_halted(const struct config *cfg)
{
	struct rollout_source ro;
	size_t i;

	for (i = 0; i < cfg->nsources; i++)
		if (rollout_source_load(cfg->state_dir, cfg->sources[i].name,
		    &ro) == 0 && ro.halted)
			printf("%-16s rollout of %.7s halted: %s\n",
			    cfg->sources[i].name, ro.commit, ro.reason);
}

int
cmd_status(struct cli *cli, int argc, char **argv)
{
	const struct config *cfg = cli->cfg;
	struct status_view view;
	bool json = false, prometheus = false;
	time_t now = time(NULL);
	int i, rc;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--prometheus") == 0)
			prometheus = true;
		else
			return cli_command_usage(cli_find_command("status"));
	}
	if (json && prometheus)
		return cli_command_usage(cli_find_command("status"));
	rc = status_view_load(cfg, &view) ? CLI_EXIT_FAILED : CLI_EXIT_OK;
	if (prometheus) {
		struct buf text = BUF_INIT;

		if (metrics_render(cfg, &view, &text) == -1)
			rc = CLI_EXIT_FAILED;
		else
			fwrite(text.data, 1, text.len, stdout);
		buf_release(&text);
	} else if (json) {
		if (print_json(cfg, &view) == -1)
			rc = CLI_EXIT_FAILED;
	} else {
		print_sources(cfg, &view, now);
		print_halted(cfg);
		printf("\n");
		print_devices(cfg, &view, now);
	}
	if (fflush(stdout) == EOF)
		rc = CLI_EXIT_FAILED;
	status_view_release(&view);
	return rc;
}
