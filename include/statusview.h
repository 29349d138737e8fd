/*
 * statusview.h - what the status files say about a configuration, as one
 * snapshot, and its JSON objects (`senko status --json`, schema 1).
 *
 * One place builds the object for a source and for a device, so that
 * `senko status --json`, the MQTT topics (mqtt.h) and whatever else shows
 * a device say the same thing in the same words.  The snapshot only reads
 * files written atomically (status.h), so it is safe while senkod runs.
 *
 * Ownership: the view owns its arrays (status_view_release); the JSON
 * functions return a new reference (json_decref), or NULL when jansson
 * cannot encode it.
 */
#ifndef SENKO_STATUSVIEW_H
#define SENKO_STATUSVIEW_H

#include <stdbool.h>

#include <jansson.h>

#include "config.h"
#include "status.h"

/* Per config index. */
struct status_view {
	struct source_status *sources;
	bool *source_unreadable;
	struct device_status *devices;
	bool *device_unreadable;
};

/*
 * Read every source's and device's status file.  Returns 0 when all is
 * well, 1 when a source's last poll failed or its rollout is halted, a
 * device's last attempt failed, found it offline or rolled it back, or a
 * file cannot be read (what `senko status` exits with).
 */
int status_view_load(const struct config *cfg, struct status_view *v);
void status_view_release(struct status_view *v);

/* One entry of `senko status --json`'s "sources" / "devices" array. */
json_t *status_view_source_json(const struct config *cfg,
    const struct status_view *v, size_t i);
json_t *status_view_device_json(const struct config *cfg,
    const struct status_view *v, size_t i);

#endif
