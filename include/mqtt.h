/*
 * mqtt.h - senkod's state on an MQTT broker, and commands from it (the
 * [mqtt] section of senko.conf; libmosquitto).
 *
 * Topics under the prefix P (topic_prefix):
 *   P/state          retained: "online", or "offline" (also the
 *                    connection's last will, so a killed senkod or a
 *                    lost gateway reads offline)
 *   P/device/NAME    retained: the device's object of `senko status
 *                    --json` (statusview.h), published when it changes
 *   P/source/NAME    retained: the source's object, plus
 *                    rate_limit_remaining
 *   P/device/+, P/source/+  subscribed: a retained NAME that the
 *                    configuration does not have (left from before a
 *                    restart or reload) is cleared with an empty
 *                    retained message
 *   P/event          not retained: one object per update or failure
 *   P/cmd            subscribed: {"cmd": "sync"}, {"cmd": "sync",
 *                    "devices": [...]}, {"cmd": "poll"}, optionally with
 *                    an "id" that the answer repeats
 *   P/cmd/result     the answer to each command: {"ok": true|false, ...}
 *
 * The broker is never in the sync path: libmosquitto's own thread
 * (mosquitto_loop_start) talks to it, reconnects with back-off and, after
 * each (re)connect, publishes every retained topic again from a cache the
 * main thread fills.  Publishing only queues.  A command is checked in
 * the mosquitto thread (malformed ones are answered there and change
 * nothing), queued, and the main loop is woken through mqtt_wake_fd(); it
 * takes the command with mqtt_take_request() as it takes SIGUSR1's flag,
 * so no sync ever runs in the mosquitto thread.
 *
 * Functions taking a struct mqtt * accept NULL (no [mqtt] section) and do
 * nothing.  All but the callbacks run in the main thread.
 */
#ifndef SENKO_MQTT_H
#define SENKO_MQTT_H

#include <stdbool.h>

#include "config.h"
#include "sync.h"

struct mqtt;

/*
 * Start the client for cfg's [mqtt] section: connects in the background.
 * Returns NULL when there is no [mqtt] section, or on an error that a
 * retry cannot mend (an unreadable password_file; logged).
 */
struct mqtt *mqtt_start(const struct config *cfg);

/* Publish "offline", disconnect (waiting at most a second) and free. */
void mqtt_stop(struct mqtt *m);

/*
 * After SIGHUP: keep m when cfg's [mqtt] section says the same, else stop
 * it and start one for cfg.  Returns the client to use from now on.
 */
struct mqtt *mqtt_reload(struct mqtt *m, const struct config *cfg);

/* Readable when a command waits; -1 when m is NULL. */
int mqtt_wake_fd(const struct mqtt *m);

/*
 * Publish the retained device and source topics whose text changed (a
 * name that left the configuration has its topic cleared, and so have
 * the retained topics of other names found on the broker), and, when rep
 * is not NULL, one event per update and failure of that cycle.
 */
void mqtt_publish(struct mqtt *m, const struct config *cfg,
    const struct sync_report *rep);

enum mqtt_request {
	MQTT_REQUEST_NONE,
	MQTT_REQUEST_POLL,      /* poll every source now */
	MQTT_REQUEST_SYNC,      /* poll now and sync the chosen devices now */
};

/*
 * Take the commands that arrived since the last call, answer each on
 * P/cmd/result and merge them into one request: SYNC when any asked to
 * sync (devices[i] set for each device it names, every one for a plain
 * "sync"), else POLL or NONE.  A command naming a device cfg does not
 * have is refused and changes nothing.  devices has cfg->ndevices entries.
 */
enum mqtt_request mqtt_take_request(struct mqtt *m, const struct config *cfg,
    bool *devices);

/*
 * Set up a client for url (mqtt:// or mqtts://, parsed by the config
 * reader into mc): TLS with mc->ca_file or the system's CAs, the user and
 * password.  Shared with `senko fleet`.  Returns 0 or -1 (logged).
 */
struct mosquitto;
int mqtt_client_setup(struct mosquitto *mosq, const struct config_mqtt *mc,
    const char *password);

#endif
