/*
 * hotplug.h - senkod noticing a board being plugged in (or re-flashed and
 * re-enumerated), so it is checked within seconds instead of at the next
 * poll or after its back-off.
 *
 * inotify watches the folders device nodes appear in: /dev (ttyUSB*,
 * ttyACM*), /dev/serial/by-id when it exists (both under
 * SENKO_PORTS_ROOT) and the folder of every configured port path (a
 * by-id name, a link to an emulator's pty).  An event there is "settled"
 * HOTPLUG_SETTLE_MS after the last one (udev makes the node, then the
 * by-id link, then sets its mode; at most HOTPLUG_SETTLE_MAX_MS after the
 * first), and then each device's node is
 * compared with what it was (ports_node_signature): a device whose node
 * appeared or was made anew is due, and its session reads the board's
 * own record (a check, as `senko sync --force`), so a board that comes
 * back empty or with other files is repaired at once.  A device whose
 * node did not change is left alone: no port is opened for it.  For
 * `port = uid:HEX` the baseline is the remembered node (identity.h); a
 * uid: device whose board is not where it was last is due at every
 * settled event, as its board may be the one that appeared.
 *
 * Not watching (inotify unavailable) is logged once: the boards are then
 * checked at the next poll, as before.
 *
 * Ownership: struct hotplug owns its inotify fd and the baseline.
 */
#ifndef SENKO_HOTPLUG_H
#define SENKO_HOTPLUG_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define HOTPLUG_SETTLE_MS 300
#define HOTPLUG_SETTLE_MAX_MS 1500 /* events that never stop: look anyway */

struct hotplug;
struct timespec;

/* Watch the folders of cfg's ports (borrowed; call again after a
 * reload).  NULL when there is no device or inotify fails (logged). */
struct hotplug *hotplug_new(const struct config *cfg);
void hotplug_free(struct hotplug *hp);

/* The fd to poll for input; -1 for NULL. */
int hotplug_fd(const struct hotplug *hp);
/* Read what is pending on the fd (never blocks). */
void hotplug_read(struct hotplug *hp);
/* Shorten *ts to when pending events settle. */
void hotplug_deadline(const struct hotplug *hp, struct timespec *ts);
/*
 * Once events settled: set due[i] for each device of the configuration
 * whose node appeared or changed since the last look, and return how
 * many.  0 while nothing settled.
 */
size_t hotplug_take(struct hotplug *hp, bool *due);

#endif
