/*
 * metrics.h - senko's state in Prometheus' text exposition format (0.0.4),
 * for node_exporter's textfile collector ([senkod] metrics_file) and
 * `senko status --prometheus`.  One function renders the text for both.
 *
 * Gauges come from the status files (status.h).  The counters
 * (*_total), the last visit's duration and the rate-limit remaining are
 * what senkod's cycles did, added up in state_dir/metrics.json after
 * every cycle (metrics_record), so they survive a restart of senkod: a
 * counter only goes back to 0 when state_dir is deleted, which Prometheus'
 * rate() and increase() read as an ordinary counter reset.  `senko sync`
 * run by hand is not counted.
 *
 * The metric names are part of senko's contract (senkod(8) lists them):
 *   senko_device_in_sync{device,source}
 *   senko_device_healthy{device}
 *   senko_device_last_success_timestamp_seconds{device}
 *   senko_device_sync_failures_total{device}
 *   senko_device_bytes_sent_total{device}
 *   senko_device_sync_duration_seconds{device}
 *   senko_source_last_poll_timestamp_seconds{source}
 *   senko_source_poll_failures_total{source}
 *   senko_source_commit_info{source,commit}
 *   senko_api_requests_total{source}
 *   senko_rate_limit_remaining
 * A value that is not known (never polled, never synced) has no sample.
 */
#ifndef SENKO_METRICS_H
#define SENKO_METRICS_H

#include "buf.h"
#include "config.h"
#include "statusview.h"
#include "sync.h"

/*
 * Add what one cycle did (rep) to state_dir/metrics.json, written
 * atomically.  Returns 0 or -1 (logged).
 */
int metrics_record(const struct config *cfg, const struct sync_report *rep);

/*
 * Append the exposition text for cfg to out: v is what the status files
 * say (status_view_load), the counters are read from state_dir.  Returns
 * 0, or -1 when metrics.json cannot be read (logged; nothing appended).
 */
int metrics_render(const struct config *cfg, const struct status_view *v,
    struct buf *out);

/*
 * Render and write cfg->metrics_file atomically (a temporary file beside
 * it, renamed), mode 0644 whatever the umask (node_exporter reads it as
 * another user; the unit sets UMask=0077).  A failure is logged once
 * until the file can be written again.  Returns 0 or -1.
 */
int metrics_write_file(const struct config *cfg);

#endif
