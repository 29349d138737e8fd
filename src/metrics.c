/*
 * metrics.c - Prometheus text for node_exporter and `senko status
 * --prometheus`; see metrics.h.
 *
 * state_dir/metrics.json holds what only senkod's cycles know:
 *   {"schema": 1,
 *    "devices": {"NAME": {"sync_failures", "bytes_sent", "sync_duration_ms"}},
 *    "sources": {"NAME": {"poll_failures", "api_requests"}},
 *    "rate_limit_remaining": N or null}
 * Names that left the configuration are dropped when it is next written.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "fsutil.h"
#include "log.h"
#include "metrics.h"
#include "xalloc.h"
#include "banned.h"

#define METRICS_STATE_MAX (4u * 1024 * 1024)
#define METRICS_SCHEMA 1

static char *
state_path(const struct config *cfg)
{
	return xasprintf("%s/metrics.json", cfg->state_dir);
}

/* The counters as a new JSON object; a missing file is all zero. */
static json_t *
state_load(const struct config *cfg)
{
	struct buf text = BUF_INIT;
	json_error_t jerr;
	char *path = state_path(cfg);
	json_t *root = NULL;

	if (access(path, F_OK) == -1 && errno == ENOENT) {
		root = json_object();
		goto out;
	}
	buf_init(&text, METRICS_STATE_MAX);
	if (fs_read_file(path, &text) == -1)
		goto out;
	root = json_loadb(text.data, text.len, 0, &jerr);
	if (root == NULL || !json_is_object(root)) {
		log_failx("'%s' is not a metrics file (line %d: %s); delete it "
		    "to start the counters again from 0", path, jerr.line,
		    root ? "not an object" : jerr.text);
		json_decref(root);
		root = NULL;
	}
out:
	buf_release(&text);
	free(path);
	return root;
}

/* root[kind][name][key] as a count; 0 when absent. */
static uint64_t
count_of(json_t *root, const char *kind, const char *name, const char *key)
{
	json_t *v = json_object_get(json_object_get(json_object_get(root,
	    kind), name), key);

	return json_is_integer(v) && json_integer_value(v) > 0 ?
	    (uint64_t)json_integer_value(v) : 0;
}

static bool
has_count(json_t *root, const char *kind, const char *name, const char *key)
{
	return json_is_integer(json_object_get(json_object_get(
	    json_object_get(root, kind), name), key));
}

/* A fresh object for kind[name] holding old's counts for keys. */
static json_t *
entry_from(json_t *old, const char *kind, const char *name,
    const char *const *keys)
{
	json_t *e = json_object();
	size_t i;

	for (i = 0; keys[i]; i++)
		if (has_count(old, kind, name, keys[i]))
			json_object_set_new(e, keys[i], json_integer(
			    (json_int_t)count_of(old, kind, name, keys[i])));
	return e;
}

static void
add_count(json_t *e, const char *key, uint64_t n)
{
	json_t *v = json_object_get(e, key);
	uint64_t was = json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;

	json_object_set_new(e, key, json_integer((json_int_t)(was + n)));
}

static bool
attempt_failed(enum device_state s)
{
	return s == DEVICE_FAILED || s == DEVICE_OFFLINE || s == DEVICE_BUSY;
}

int
metrics_record(const struct config *cfg, const struct sync_report *rep)
{
	static const char *const dkeys[] = { "sync_failures", "bytes_sent",
		"sync_duration_ms", NULL };
	static const char *const skeys[] = { "poll_failures", "api_requests",
		NULL };
	json_t *old, *root, *devs, *srcs, *rl;
	char *path, *text;
	size_t i;
	int rc = -1;

	old = state_load(cfg);
	if (old == NULL)
		return -1;
	devs = json_object();
	srcs = json_object();
	for (i = 0; i < cfg->ndevices; i++) {
		const char *name = cfg->devices[i].name;
		json_t *e = entry_from(old, "devices", name, dkeys);

		add_count(e, "sync_failures", 0);
		add_count(e, "bytes_sent", 0);
		if (i < rep->ndevices && rep->devices[i].attempted) {
			const struct sync_device_result *r = &rep->devices[i];

			add_count(e, "sync_failures", attempt_failed(r->state));
			add_count(e, "bytes_sent", r->bytes_sent);
			json_object_set_new(e, "sync_duration_ms",
			    json_integer((json_int_t)r->duration_ms));
		}
		json_object_set_new(devs, name, e);
	}
	for (i = 0; i < cfg->nsources; i++) {
		const char *name = cfg->sources[i].name;
		json_t *e = entry_from(old, "sources", name, skeys);

		add_count(e, "poll_failures", 0);
		add_count(e, "api_requests", 0);
		if (i < rep->nsources) {
			const struct sync_source_result *r = &rep->sources[i];

			add_count(e, "poll_failures", r->polled && r->ok != 0);
			add_count(e, "api_requests", r->requests);
		}
		json_object_set_new(srcs, name, e);
	}
	rl = rep->rate_limit_remaining >= 0 ?
	    json_integer(rep->rate_limit_remaining) :
	    json_incref(json_object_get(old, "rate_limit_remaining"));
	root = json_pack("{s:i,s:o,s:o,s:o}", "schema", METRICS_SCHEMA,
	    "devices", devs, "sources", srcs,
	    "rate_limit_remaining", rl ? rl : json_null());
	json_decref(old);
	text = root ? json_dumps(root, JSON_SORT_KEYS | JSON_INDENT(1)) : NULL;
	json_decref(root);
	path = state_path(cfg);
	if (text == NULL)
		log_failx("cannot encode the counters for '%s'", path);
	else if (fs_write_atomic(path, text, strlen(text), 0644) == 0)
		rc = 0;
	free(text);
	free(path);
	return rc;
}

/* ------------------------------------------------------------- rendering */

/* A label value as the format wants it: \\, \" and \n escaped. */
static void
add_label(struct buf *out, const char *name, const char *value)
{
	const char *p;

	buf_addf(out, "%s=\"", name);
	for (p = value; *p; p++) {
		if (*p == '\\' || *p == '"')
			buf_addch(out, '\\');
		if (*p == '\n')
			buf_addstr(out, "\\n");
		else
			buf_addch(out, *p);
	}
	buf_addch(out, '"');
}

static void
family(struct buf *out, const char *name, const char *type,
    const char *help)
{
	buf_addf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{l1="v1"[,l2="v2"]} value */
static void
sample(struct buf *out, const char *name, const char *l1, const char *v1,
    const char *l2, const char *v2, const char *value)
{
	buf_addstr(out, name);
	if (l1) {
		buf_addch(out, '{');
		add_label(out, l1, v1);
		if (l2) {
			buf_addch(out, ',');
			add_label(out, l2, v2);
		}
		buf_addch(out, '}');
	}
	buf_addf(out, " %s\n", value);
}

static const char *
u64(char *s, size_t size, uint64_t v)
{
	snprintf(s, size, "%" PRIu64, v);
	return s;
}

static bool
state_is_good(enum device_state s)
{
	return s == DEVICE_IN_SYNC || s == DEVICE_UPDATED;
}

static void
render_devices(const struct config *cfg, const struct status_view *v,
    json_t *counts, struct buf *out)
{
	char n[32];
	size_t i;

	family(out, "senko_device_in_sync", "gauge", "1 when the device's "
	    "last sync left it at its source's commit, else 0.");
	for (i = 0; i < cfg->ndevices; i++)
		sample(out, "senko_device_in_sync", "device",
		    cfg->devices[i].name, "source", cfg->devices[i].source,
		    state_is_good(v->devices[i].state) ? "1" : "0");
	family(out, "senko_device_healthy", "gauge", "1 when the board "
	    "answered and its last sync worked, 0 when it failed, was "
	    "offline or busy; no sample before the first attempt.");
	for (i = 0; i < cfg->ndevices; i++)
		if (v->devices[i].state != DEVICE_UNKNOWN)
			sample(out, "senko_device_healthy", "device",
			    cfg->devices[i].name, NULL, NULL,
			    state_is_good(v->devices[i].state) ||
			    v->devices[i].state == DEVICE_WAITING ? "1" : "0");
	family(out, "senko_device_last_success_timestamp_seconds", "gauge",
	    "When the device was last seen in sync (Unix time).");
	for (i = 0; i < cfg->ndevices; i++)
		if (v->devices[i].last_success)
			sample(out, "senko_device_last_success_timestamp_"
			    "seconds", "device", cfg->devices[i].name, NULL,
			    NULL, u64(n, sizeof(n),
			    (uint64_t)v->devices[i].last_success));
	family(out, "senko_device_sync_failures_total", "counter",
	    "Attempts by senkod that left the device failed, offline or "
	    "busy.");
	for (i = 0; i < cfg->ndevices; i++)
		sample(out, "senko_device_sync_failures_total", "device",
		    cfg->devices[i].name, NULL, NULL, u64(n, sizeof(n),
		    count_of(counts, "devices", cfg->devices[i].name,
		    "sync_failures")));
	family(out, "senko_device_bytes_sent_total", "counter",
	    "File bytes senkod wrote to the board.");
	for (i = 0; i < cfg->ndevices; i++)
		sample(out, "senko_device_bytes_sent_total", "device",
		    cfg->devices[i].name, NULL, NULL, u64(n, sizeof(n),
		    count_of(counts, "devices", cfg->devices[i].name,
		    "bytes_sent")));
	family(out, "senko_device_sync_duration_seconds", "gauge",
	    "How long senkod's last visit to the device took.");
	for (i = 0; i < cfg->ndevices; i++) {
		const char *name = cfg->devices[i].name;
		uint64_t ms = count_of(counts, "devices", name,
		    "sync_duration_ms");

		if (!has_count(counts, "devices", name, "sync_duration_ms"))
			continue;
		snprintf(n, sizeof(n), "%" PRIu64 ".%03" PRIu64, ms / 1000,
		    ms % 1000);
		sample(out, "senko_device_sync_duration_seconds", "device",
		    name, NULL, NULL, n);
	}
}

static void
render_sources(const struct config *cfg, const struct status_view *v,
    json_t *counts, struct buf *out)
{
	json_t *rl = json_object_get(counts, "rate_limit_remaining");
	char n[32];
	size_t i;

	family(out, "senko_source_last_poll_timestamp_seconds", "gauge",
	    "When the source was last polled (Unix time).");
	for (i = 0; i < cfg->nsources; i++)
		if (v->sources[i].last_poll)
			sample(out, "senko_source_last_poll_timestamp_seconds",
			    "source", cfg->sources[i].name, NULL, NULL,
			    u64(n, sizeof(n),
			    (uint64_t)v->sources[i].last_poll));
	family(out, "senko_source_poll_failures_total", "counter",
	    "Polls by senkod that failed or were rate-limited.");
	for (i = 0; i < cfg->nsources; i++)
		sample(out, "senko_source_poll_failures_total", "source",
		    cfg->sources[i].name, NULL, NULL, u64(n, sizeof(n),
		    count_of(counts, "sources", cfg->sources[i].name,
		    "poll_failures")));
	family(out, "senko_source_commit_info", "gauge",
	    "1, labelled with the last commit seen of the source's branch.");
	for (i = 0; i < cfg->nsources; i++)
		if (*v->sources[i].commit)
			sample(out, "senko_source_commit_info", "source",
			    cfg->sources[i].name, "commit",
			    v->sources[i].commit, "1");
	family(out, "senko_api_requests_total", "counter",
	    "HTTP requests senkod made to the API for the source.");
	for (i = 0; i < cfg->nsources; i++)
		sample(out, "senko_api_requests_total", "source",
		    cfg->sources[i].name, NULL, NULL, u64(n, sizeof(n),
		    count_of(counts, "sources", cfg->sources[i].name,
		    "api_requests")));
	family(out, "senko_rate_limit_remaining", "gauge",
	    "API requests left in the rate-limit window, as the last "
	    "answer said.");
	if (json_is_integer(rl) && json_integer_value(rl) >= 0)
		sample(out, "senko_rate_limit_remaining", NULL, NULL, NULL, NULL,
		    u64(n, sizeof(n), (uint64_t)json_integer_value(rl)));
}

int
metrics_render(const struct config *cfg, const struct status_view *v,
    struct buf *out)
{
	json_t *counts = state_load(cfg);

	if (counts == NULL)
		return -1;
	render_devices(cfg, v, counts, out);
	render_sources(cfg, v, counts, out);
	json_decref(counts);
	return 0;
}

int
metrics_write_file(const struct config *cfg)
{
	/* Said once while it keeps failing: no flood every cycle. */
	static bool failing;
	struct status_view view;
	struct buf text = BUF_INIT;
	int rc, quiet;

	status_view_load(cfg, &view);
	quiet = log_thread_quiet(failing);
	rc = metrics_render(cfg, &view, &text);
	if (rc == 0)
		rc = fs_write_atomic_mode(cfg->metrics_file, text.data,
		    text.len, 0644);
	log_thread_quiet(quiet);
	if (rc == -1 && !failing)
		log_warnx("metrics_file '%s' not written (see above); senkod "
		    "tries again after every cycle", cfg->metrics_file);
	else if (rc == 0 && failing)
		log_notice("metrics_file '%s' written again",
		    cfg->metrics_file);
	failing = rc == -1;
	status_view_release(&view);
	buf_release(&text);
	return rc;
}
