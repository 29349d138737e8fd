/*
 * cmd_status.c - `senko status [--json]`: what happened last to each
 * device, read from the status files the sync workers write.
 *
 * Only reads files written atomically, so it is safe while senkod runs.
 * Exit status: 0, or 1 when a device's last attempt failed, it was
 * offline, or its status file cannot be read.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "buf.h"
#include "cli.h"
#include "log.h"
#include "status.h"
#include "xalloc.h"
#include "banned.h"

static void
format_age(char *out, size_t size, time_t t, time_t now)
{
	struct tm tm;
	time_t age = now - t;

	if (t == 0)
		snprintf(out, size, "never");
	else if (age < 0 || age >= 7 * 86400) {
		localtime_r(&t, &tm);
		strftime(out, size, "%Y-%m-%d %H:%M", &tm);
	} else if (age < 60)
		snprintf(out, size, "%lld s ago", (long long)age);
	else if (age < 3600)
		snprintf(out, size, "%lld min ago", (long long)age / 60);
	else if (age < 86400)
		snprintf(out, size, "%lld h ago", (long long)age / 3600);
	else
		snprintf(out, size, "%lld days ago", (long long)age / 86400);
}

static void
format_bytes(char *out, size_t size, uint64_t n)
{
	if (n < 1024)
		snprintf(out, size, "%" PRIu64 " B", n);
	else if (n < 1024 * 1024)
		snprintf(out, size, "%.1f KiB", (double)n / 1024);
	else
		snprintf(out, size, "%.1f MiB", (double)n / (1024 * 1024));
}

static bool
state_is_bad(enum device_state s)
{
	return s == DEVICE_FAILED || s == DEVICE_OFFLINE;
}

static void
print_table(const struct config *cfg, const struct device_status *sts,
    const bool *unreadable)
{
	time_t now = time(NULL);
	size_t i;

	printf("%-16s %-8s %-8s %-16s %-24s %s\n", "DEVICE", "STATE",
	    "COMMIT", "LAST SUCCESS", "LAST SENT", "LAST ERROR");
	for (i = 0; i < cfg->ndevices; i++) {
		const struct device_status *st = &sts[i];
		char age[32], bytes[32], sent[64];

		format_age(age, sizeof(age), st->last_success, now);
		format_bytes(bytes, sizeof(bytes), st->bytes_sent);
		snprintf(sent, sizeof(sent), "%u file%s, %s", st->files_sent,
		    st->files_sent == 1 ? "" : "s", bytes);
		if (st->files_deleted > 0) {
			size_t len = strlen(sent);

			snprintf(sent + len, sizeof(sent) - len, ", %u del",
			    st->files_deleted);
		}
		printf("%-16s %-8s %-8.7s %-16s %-24s %s\n",
		    cfg->devices[i].name,
		    unreadable[i] ? "?" : status_state_name(st->state),
		    st->commit[0] ? st->commit : "-", age, sent,
		    unreadable[i] ? "status file unreadable" :
		    st->last_error[0] ? st->last_error : "-");
		if (st->commit_completed)
			printf("%-16s found in the middle of an update (a "
			    "power cut?) and completed it\n", "");
		if (st->boot_traceback)
			printf("%-16s after its restart the application "
			    "raised: %s\n", "", st->boot_tail);
	}
}

static json_t *
time_json(time_t t)
{
	return t ? json_integer((json_int_t)t) : json_null();
}

static int
print_json(const struct config *cfg, const struct device_status *sts,
    const bool *unreadable)
{
	json_t *root = json_object(), *devs = json_array();
	char *text;
	size_t i;

	for (i = 0; i < cfg->ndevices; i++) {
		const struct config_device *d = &cfg->devices[i];
		const struct device_status *st = &sts[i];
		json_t *o;

		o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:o,s:s,s:I,s:I,s:I,"
		    "s:s,s:s,s:b}",
		    "name", d->name, "port", d->port, "source", d->source,
		    "state", status_state_name(st->state),
		    "commit", st->commit,
		    "last_success", time_json(st->last_success),
		    "last_attempt", time_json(st->last_attempt),
		    "last_error", st->last_error,
		    "files_sent", (json_int_t)st->files_sent,
		    "bytes_sent", (json_int_t)st->bytes_sent,
		    "files_deleted", (json_int_t)st->files_deleted,
		    "platform", st->platform, "version", st->version,
		    "status_readable", !unreadable[i]);
		if (o == NULL) {
			json_decref(devs);
			json_decref(root);
			return log_failx("cannot encode the status of '%s' as "
			    "JSON", d->name);
		}
		json_object_set_new(o, "boot", json_pack("{s:b,s:b,s:s}",
		    "watched", st->boot_watched, "traceback",
		    st->boot_traceback, "last_lines", st->boot_tail));
		json_object_set_new(o, "commit_completed",
		    json_boolean(st->commit_completed));
		json_array_append_new(devs, o);
	}
	json_object_set_new(root, "devices", devs);
	text = json_dumps(root, JSON_INDENT(2));
	json_decref(root);
	if (text == NULL)
		return log_failx("cannot encode the status as JSON");
	printf("%s\n", text);
	free(text);
	return 0;
}

int
cmd_status(struct cli *cli, int argc, char **argv)
{
	const struct config *cfg = cli->cfg;
	struct device_status *sts;
	bool json = false, *unreadable;
	int i, rc = CLI_EXIT_OK;
	size_t d;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else
			return cli_command_usage(cli_find_command("status"));
	}
	sts = xcalloc(cfg->ndevices + 1, sizeof(*sts));
	unreadable = xcalloc(cfg->ndevices + 1, sizeof(*unreadable));
	for (d = 0; d < cfg->ndevices; d++) {
		if (status_load(cfg->state_dir, cfg->devices[d].name,
		    &sts[d]) == -1) {
			unreadable[d] = true;
			rc = CLI_EXIT_FAILED;
		} else if (state_is_bad(sts[d].state))
			rc = CLI_EXIT_FAILED;
	}
	if (json) {
		if (print_json(cfg, sts, unreadable) == -1)
			rc = CLI_EXIT_FAILED;
	} else
		print_table(cfg, sts, unreadable);
	if (fflush(stdout) == EOF)
		rc = CLI_EXIT_FAILED;
	free(sts);
	free(unreadable);
	return rc;
}
