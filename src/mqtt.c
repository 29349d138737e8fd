/*
 * mqtt.c - senkod on an MQTT broker; see mqtt.h.
 *
 * Two threads meet here: senkod's main thread (publish, take commands)
 * and libmosquitto's network thread (the callbacks).  m->lock guards what
 * both touch: the retained cache, the stale topics, the command queue and
 * the connection flags.  libmosquitto's own calls are thread-safe once
 * loop_start runs.
 *
 * Retained device and source topics that no configured name produces
 * (left by a senkod that ran with another configuration, or by another
 * client of ours before a reload) are found by subscribing to P/device/+
 * and P/source/+: the broker sends a new subscription its retained
 * messages with the retain flag set, and live publishes (our own coming
 * back) without it (MQTT 3.1.1, 3.3.1.3).  Whether a name is produced is the cache's to
 * say, so it is only decided once mqtt_publish() has filled it; what
 * comes before waits in m->stale.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <mosquitto.h>

#include "log.h"
#include "mqtt.h"
#include "statusview.h"
#include "xalloc.h"
#include "banned.h"

#define KEEPALIVE_SECONDS 30
#define RECONNECT_MIN 1        /* seconds, doubling ... */
#define RECONNECT_MAX 60       /* ... up to this */
#define COMMAND_MAX_BYTES 4096
#define QUEUE_MAX 16
#define COMMAND_DEVICES_MAX 256
#define STOP_WAIT_MS 1000

/* One retained topic as last published. */
struct retained {
	char *topic;
	char *payload;
	bool seen;     /* produced by the running mqtt_publish() */
};

/* A checked command waiting for the main loop. */
struct command {
	bool sync;     /* else poll */
	json_t *devices; /* array of names, or NULL: all */
	json_t *id;    /* repeated in the answer, or NULL */
};

struct mqtt {
	struct mosquitto *mosq;
	struct config_mqtt conf;   /* a copy: the config may be reloaded */
	char *password;            /* owned, wiped on free */
	char *cmd_topic, *result_topic, *state_topic, *event_topic;
	char *device_filter, *source_filter;  /* P/device/+, P/source/+ */
	int wake_fd;
	long rate_limit_remaining; /* the last one known; -1 none */

	pthread_mutex_t lock;
	pthread_cond_t changed;
	bool connected;
	bool ever_connected;
	int refused;               /* the last CONNACK refusal said, 0 none */
	struct retained *cache;
	size_t ncache;
	bool published;            /* mqtt_publish() has filled the cache */
	char **stale;              /* retained topics found before that */
	size_t nstale;
	struct command queue[QUEUE_MAX];
	size_t nqueue;
};

/* ----------------------------------------------------------- publishing */

/* Queue a message; a broker that is away is not an error here. */
static void
publish(struct mqtt *m, const char *topic, const char *payload, bool retain)
{
	int rc = mosquitto_publish(m->mosq, NULL, topic, (int)strlen(payload),
	    payload, (int)m->conf.qos, retain);

	if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN)
		log_debug("mqtt: cannot publish to '%s': %s", topic,
		    mosquitto_strerror(rc));
}

static char *
json_text(json_t *v)
{
	char *text = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(v);
	return text;
}

static void
answer(struct mqtt *m, json_t *id, bool ok, const char *key,
    const char *text)
{
	json_t *o = json_pack("{s:b,s:s}", "ok", ok, key, text);
	char *s;

	if (o && id)
		json_object_set(o, "id", id);
	s = json_text(o);
	if (s)
		publish(m, m->result_topic, s, false);
	free(s);
}

/* Index of topic in the cache, or m->ncache.  Under m->lock. */
static size_t
cache_find_locked(const struct mqtt *m, const char *topic)
{
	size_t i;

	for (i = 0; i < m->ncache; i++)
		if (strcmp(m->cache[i].topic, topic) == 0)
			break;
	return i;
}

/* Set topic's cached text; publish it when it changed.  Under m->lock. */
static void
retain_locked(struct mqtt *m, const char *topic, const char *payload)
{
	size_t i = cache_find_locked(m, topic);

	if (i == m->ncache) {
		m->cache = xreallocarray(m->cache, m->ncache + 1,
		    sizeof(*m->cache));
		m->cache[i].topic = xstrdup(topic);
		m->cache[i].payload = NULL;
		m->ncache++;
	}
	m->cache[i].seen = true;
	if (m->cache[i].payload && strcmp(m->cache[i].payload, payload) == 0)
		return;
	free(m->cache[i].payload);
	m->cache[i].payload = xstrdup(payload);
	if (m->connected)
		publish(m, topic, payload, true);
}

/* Delete topic's retained value, which no configured name produces. */
static void
clear_retained_locked(struct mqtt *m, const char *topic)
{
	int rc;

	if (!m->connected)
		return;
	/* An empty retained message deletes the topic's value. */
	rc = mosquitto_publish(m->mosq, NULL, topic, 0, NULL, (int)m->conf.qos,
	    true);
	if (rc == MOSQ_ERR_SUCCESS)
		log_info("mqtt: cleared retained topic '%s' (not in the "
		    "configuration)", topic);
	else if (rc != MOSQ_ERR_NO_CONN)
		log_debug("mqtt: cannot clear '%s': %s", topic,
		    mosquitto_strerror(rc));
}

/* Clear the retained topics mqtt_publish() no longer produces. */
static void
drop_unseen_locked(struct mqtt *m)
{
	size_t i = 0;

	while (i < m->ncache) {
		if (m->cache[i].seen) {
			m->cache[i++].seen = false;
			continue;
		}
		clear_retained_locked(m, m->cache[i].topic);
		free(m->cache[i].topic);
		free(m->cache[i].payload);
		m->cache[i] = m->cache[--m->ncache];
	}
}

/*
 * A retained message on topic (P/device/NAME or P/source/NAME) came from
 * the broker: clear it unless the cache produces it.  Before the first
 * mqtt_publish() the cache cannot say yet; the topic waits in m->stale.
 * Under m->lock.
 */
static void
found_retained_locked(struct mqtt *m, const char *topic)
{
	size_t i;

	if (cache_find_locked(m, topic) < m->ncache)
		return;
	if (m->published) {
		clear_retained_locked(m, topic);
		return;
	}
	for (i = 0; i < m->nstale; i++)
		if (strcmp(m->stale[i], topic) == 0)
			return;
	m->stale = xreallocarray(m->stale, m->nstale + 1, sizeof(*m->stale));
	m->stale[m->nstale++] = xstrdup(topic);
}

/* Clear the stale topics the cache does not produce, and forget them. */
static void
drop_stale_locked(struct mqtt *m)
{
	size_t i;

	for (i = 0; i < m->nstale; i++) {
		if (cache_find_locked(m, m->stale[i]) == m->ncache)
			clear_retained_locked(m, m->stale[i]);
		free(m->stale[i]);
	}
	free(m->stale);
	m->stale = NULL;
	m->nstale = 0;
}

static void
publish_event(struct mqtt *m, json_t *event)
{
	char *s;

	json_object_set_new(event, "time", json_integer((json_int_t)
	    time(NULL)));
	s = json_text(event);
	if (s && m->connected)
		publish(m, m->event_topic, s, false);
	free(s);
}

static void
publish_events_locked(struct mqtt *m, const struct config *cfg,
    const struct sync_report *rep)
{
	size_t i;

	for (i = 0; i < rep->ndevices && i < cfg->ndevices; i++) {
		const struct sync_device_result *r = &rep->devices[i];
		const struct config_device *d = &cfg->devices[i];

		if (!r->attempted)
			continue;
		if (r->state == DEVICE_UPDATED)
			publish_event(m, json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I}",
			    "event", "updated", "device", d->name, "source",
			    d->source, "commit", r->commit, "files_sent",
			    (json_int_t)r->files_sent, "bytes_sent",
			    (json_int_t)r->bytes_sent, "files_deleted",
			    (json_int_t)r->files_deleted));
		else if (r->state == DEVICE_FAILED ||
		    r->state == DEVICE_OFFLINE || r->state == DEVICE_BUSY)
			publish_event(m, json_pack("{s:s,s:s,s:s,s:s}", "event",
			    "failed", "device", d->name, "state",
			    status_state_name(r->state), "error", r->error));
	}
	for (i = 0; i < rep->nsources && i < cfg->nsources; i++)
		if (rep->sources[i].polled && rep->sources[i].ok != 0)
			publish_event(m, json_pack("{s:s,s:s,s:s}", "event",
			    "source-failed", "source", cfg->sources[i].name,
			    "error", rep->sources[i].error));
}

void
mqtt_publish(struct mqtt *m, const struct config *cfg,
    const struct sync_report *rep)
{
	struct status_view v;
	size_t i;

	if (m == NULL)
		return;
	if (rep && rep->rate_limit_remaining >= 0)
		m->rate_limit_remaining = rep->rate_limit_remaining;
	status_view_load(cfg, &v);
	pthread_mutex_lock(&m->lock);
	for (i = 0; i < cfg->ndevices; i++) {
		char *topic = xasprintf("%s/device/%s", m->conf.topic_prefix,
		    cfg->devices[i].name);
		char *s = json_text(status_view_device_json(cfg, &v, i));

		if (s)
			retain_locked(m, topic, s);
		free(s);
		free(topic);
	}
	for (i = 0; i < cfg->nsources; i++) {
		char *topic = xasprintf("%s/source/%s", m->conf.topic_prefix,
		    cfg->sources[i].name);
		json_t *o = status_view_source_json(cfg, &v, i);
		char *s;

		if (o)
			json_object_set_new(o, "rate_limit_remaining",
			    m->rate_limit_remaining >= 0 ? json_integer(
			    m->rate_limit_remaining) : json_null());
		s = json_text(o);
		if (s)
			retain_locked(m, topic, s);
		free(s);
		free(topic);
	}
	drop_unseen_locked(m);
	m->published = true;
	drop_stale_locked(m);
	if (rep)
		publish_events_locked(m, cfg, rep);
	pthread_mutex_unlock(&m->lock);
	status_view_release(&v);
}

/* ------------------------------------------------------------ callbacks */

static const char *
refusal_hint(int rc)
{
	switch (rc) {
	case 4: /* bad user name or password */
	case 5: /* not authorised */
		return "check [mqtt] username and password_file, and the "
		    "broker's password file and ACLs";
	case 2:
		return "the broker refused the client_id";
	default:
		return "see the broker's log";
	}
}

static void
on_connect(struct mosquitto *mosq, void *arg, int rc)
{
	struct mqtt *m = arg;
	size_t i;

	pthread_mutex_lock(&m->lock);
	if (rc != 0) {
		/* Refused: said once, however often the retries are. */
		if (rc != m->refused)
			log_warnx("mqtt: broker '%s' refused the connection: "
			    "%s; %s (syncs go on; senkod keeps retrying)",
			    m->conf.url, mosquitto_connack_string(rc),
			    refusal_hint(rc));
		m->refused = rc;
		pthread_mutex_unlock(&m->lock);
		return;
	}
	if (m->refused || !m->ever_connected)
		log_info("mqtt: connected to '%s' as '%s'; topics under '%s/'",
		    m->conf.url, m->conf.client_id, m->conf.topic_prefix);
	else
		log_notice("mqtt: connected to '%s' again; state published "
		    "again", m->conf.url);
	m->refused = 0;
	m->connected = true;
	m->ever_connected = true;
	mosquitto_subscribe(mosq, NULL, m->cmd_topic, (int)m->conf.qos);
	/* For the retained topics left by names no longer configured. */
	mosquitto_subscribe(mosq, NULL, m->device_filter, (int)m->conf.qos);
	mosquitto_subscribe(mosq, NULL, m->source_filter, (int)m->conf.qos);
	publish(m, m->state_topic, "online", true);
	/* A restarted broker may have lost every retained message. */
	for (i = 0; i < m->ncache; i++)
		publish(m, m->cache[i].topic, m->cache[i].payload, true);
	pthread_cond_broadcast(&m->changed);
	pthread_mutex_unlock(&m->lock);
}

static void
on_disconnect(struct mosquitto *mosq, void *arg, int rc)
{
	struct mqtt *m = arg;

	(void)mosq;
	pthread_mutex_lock(&m->lock);
	if (m->connected && rc != 0)
		log_warnx("mqtt: lost the connection to '%s'; reconnecting "
		    "with back-off (syncs go on)", m->conf.url);
	m->connected = false;
	pthread_cond_broadcast(&m->changed);
	pthread_mutex_unlock(&m->lock);
}

#define WHY_MAX 256

/*
 * Check one command.  Returns NULL and fills *cmd, or the reason it is
 * refused (in why, WHY_MAX bytes, or a constant).  cmd->id is set as
 * soon as it is known, for the answer.
 */
static const char *
parse_command(const struct mosquitto_message *msg, struct command *cmd,
    char *why)
{
	json_error_t jerr;
	json_t *root, *v;
	const char *key, *name;

	memset(cmd, 0, sizeof(*cmd));
	if (msg->payloadlen <= 0 || msg->payloadlen > COMMAND_MAX_BYTES)
		return "a command is a JSON object of at most 4096 bytes";
	root = json_loadb(msg->payload, (size_t)msg->payloadlen, 0, &jerr);
	if (root == NULL) {
		snprintf(why, WHY_MAX, "not JSON: %s", jerr.text);
		return why;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		return "a command is a JSON object, such as {\"cmd\": \"sync\"}";
	}
	v = json_object_get(root, "id");
	if (v && (json_is_string(v) || json_is_integer(v)))
		cmd->id = json_incref(v);
	json_object_foreach(root, key, v) {
		if (strcmp(key, "cmd") && strcmp(key, "devices") &&
		    strcmp(key, "id")) {
			snprintf(why, WHY_MAX, "unknown key '%.60s' (known: "
			    "cmd, devices, id)", key);
			goto refuse;
		}
	}
	name = json_string_value(json_object_get(root, "cmd"));
	if (name == NULL || (strcmp(name, "sync") && strcmp(name, "poll"))) {
		snprintf(why, WHY_MAX, "unknown command: \"cmd\" must be "
		    "\"sync\" or \"poll\"");
		goto refuse;
	}
	cmd->sync = strcmp(name, "sync") == 0;
	v = json_object_get(root, "devices");
	if (v && !cmd->sync) {
		snprintf(why, WHY_MAX, "\"devices\" goes with \"sync\" "
		    "only");
		goto refuse;
	}
	if (v) {
		size_t i;
		json_t *d;

		if (!json_is_array(v) || json_array_size(v) == 0 ||
		    json_array_size(v) > COMMAND_DEVICES_MAX) {
			snprintf(why, WHY_MAX, "\"devices\" must be a "
			    "non-empty list of device names");
			goto refuse;
		}
		json_array_foreach(v, i, d)
			if (!json_is_string(d)) {
				snprintf(why, WHY_MAX, "\"devices\" must "
				    "hold names (strings)");
				goto refuse;
			}
		cmd->devices = json_incref(v);
	}
	json_decref(root);
	return NULL;
refuse:
	json_decref(root);
	return why;
}

/* Is topic P/device/NAME or P/source/NAME, NAME one level? */
static bool
is_state_topic(const struct mqtt *m, const char *topic)
{
	static const char *const kinds[] = { "/device/", "/source/" };
	size_t n = strlen(m->conf.topic_prefix), i, k;

	if (strncmp(topic, m->conf.topic_prefix, n) != 0)
		return false;
	for (i = 0; i < sizeof(kinds) / sizeof(*kinds); i++) {
		k = strlen(kinds[i]);
		if (strncmp(topic + n, kinds[i], k) == 0)
			return topic[n + k] != '\0' &&
			    strchr(topic + n + k, '/') == NULL;
	}
	return false;
}

static void
on_message(struct mosquitto *mosq, void *arg,
    const struct mosquitto_message *msg)
{
	struct mqtt *m = arg;
	struct command cmd;
	char buf[WHY_MAX];
	const char *why;
	uint64_t one = 1;

	(void)mosq;
	if (is_state_topic(m, msg->topic)) {
		/* Without the flag: live, such as ours coming back. */
		if (msg->retain && msg->payloadlen > 0) {
			pthread_mutex_lock(&m->lock);
			found_retained_locked(m, msg->topic);
			pthread_mutex_unlock(&m->lock);
		}
		return;
	}
	if (strcmp(msg->topic, m->cmd_topic) != 0)
		return;
	why = parse_command(msg, &cmd, buf);
	pthread_mutex_lock(&m->lock);
	if (why == NULL && m->nqueue == QUEUE_MAX)
		why = "busy: too many commands are waiting; try again later";
	if (why) {
		char esc[WHY_MAX * 4];

		log_escape(esc, sizeof(esc), why);
		log_warnx("mqtt: refused a command on '%s': %s", m->cmd_topic,
		    esc);
		answer(m, cmd.id, false, "error", why);
		json_decref(cmd.id);
		json_decref(cmd.devices);
	} else {
		m->queue[m->nqueue++] = cmd;
		if (write(m->wake_fd, &one, sizeof(one)) == -1 &&
		    errno != EAGAIN)
			log_warn("mqtt: cannot wake the main loop");
	}
	pthread_mutex_unlock(&m->lock);
}

/* --------------------------------------------------------------- commands */

int
mqtt_wake_fd(const struct mqtt *m)
{
	return m ? m->wake_fd : -1;
}

/* Check cmd against cfg; mark its devices.  0, or -1 when answered no. */
static int
accept_command(struct mqtt *m, const struct config *cfg,
    const struct command *cmd, bool *devices)
{
	json_t *d;
	size_t i, j;

	json_array_foreach(cmd->devices, i, d) {
		const char *name = json_string_value(d);

		for (j = 0; j < cfg->ndevices; j++)
			if (strcmp(cfg->devices[j].name, name) == 0)
				break;
		if (j == cfg->ndevices) {
			char why[160], esc[96];

			log_escape(esc, sizeof(esc), name);
			snprintf(why, sizeof(why), "no device '%s' on this "
			    "gateway; nothing done", esc);
			log_warnx("mqtt: refused a command: %s", why);
			answer(m, cmd->id, false, "error", why);
			return -1;
		}
	}
	for (j = 0; j < cfg->ndevices; j++) {
		bool named = cmd->devices == NULL;

		json_array_foreach(cmd->devices, i, d)
			if (strcmp(cfg->devices[j].name,
			    json_string_value(d)) == 0)
				named = true;
		devices[j] = devices[j] || named;
	}
	return 0;
}

enum mqtt_request
mqtt_take_request(struct mqtt *m, const struct config *cfg, bool *devices)
{
	enum mqtt_request req = MQTT_REQUEST_NONE;
	uint64_t count;
	size_t i;

	if (m == NULL)
		return req;
	if (read(m->wake_fd, &count, sizeof(count)) == -1 && errno != EAGAIN)
		log_warn("mqtt: cannot read the wake-up counter");
	memset(devices, 0, cfg->ndevices * sizeof(*devices));
	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->nqueue; i++) {
		struct command *cmd = &m->queue[i];

		if (cmd->sync && accept_command(m, cfg, cmd, devices) == 0) {
			log_info("mqtt: sync asked on '%s': polling and "
			    "syncing now", m->cmd_topic);
			answer(m, cmd->id, true, "result", "a poll and sync "
			    "start now");
			req = MQTT_REQUEST_SYNC;
		} else if (!cmd->sync) {
			log_info("mqtt: poll asked on '%s': polling now",
			    m->cmd_topic);
			answer(m, cmd->id, true, "result", "a poll starts now");
			if (req == MQTT_REQUEST_NONE)
				req = MQTT_REQUEST_POLL;
		}
		json_decref(cmd->id);
		json_decref(cmd->devices);
	}
	m->nqueue = 0;
	pthread_mutex_unlock(&m->lock);
	return req;
}

/* ------------------------------------------------------------ lifecycle */

int
mqtt_client_setup(struct mosquitto *mosq, const struct config_mqtt *mc,
    const char *password)
{
	int rc = MOSQ_ERR_SUCCESS;

	mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION,
	    MQTT_PROTOCOL_V311);
	if (*mc->username || password)
		rc = mosquitto_username_pw_set(mosq, *mc->username ?
		    mc->username : NULL, password);
	if (rc == MOSQ_ERR_SUCCESS && mc->tls) {
		if (*mc->ca_file)
			rc = mosquitto_tls_set(mosq, mc->ca_file, NULL, NULL,
			    NULL, NULL);
		else
			rc = mosquitto_int_option(mosq,
			    MOSQ_OPT_TLS_USE_OS_CERTS, 1);
	}
	if (rc != MOSQ_ERR_SUCCESS)
		return log_failx("mqtt: cannot set up the client for '%s': %s%s",
		    mc->url, mosquitto_strerror(rc), *mc->ca_file ?
		    " (is [mqtt] ca_file a readable PEM file?)" : "");
	return 0;
}

static char *
dup_or_empty(const char *s)
{
	return xstrdup(s ? s : "");
}

static void
conf_copy(struct config_mqtt *dst, const struct config_mqtt *src)
{
	*dst = *src;
	dst->url = dup_or_empty(src->url);
	dst->host = dup_or_empty(src->host);
	dst->username = dup_or_empty(src->username);
	dst->password_file = dup_or_empty(src->password_file);
	dst->ca_file = dup_or_empty(src->ca_file);
	dst->client_id = dup_or_empty(src->client_id);
	dst->topic_prefix = dup_or_empty(src->topic_prefix);
}

static bool
conf_same(const struct config_mqtt *a, const struct config_mqtt *b)
{
	return a->enabled == b->enabled && a->qos == b->qos &&
	    strcmp(a->url, b->url) == 0 &&
	    strcmp(a->username, b->username) == 0 &&
	    strcmp(a->password_file, b->password_file) == 0 &&
	    strcmp(a->ca_file, b->ca_file) == 0 &&
	    strcmp(a->client_id, b->client_id) == 0 &&
	    strcmp(a->topic_prefix, b->topic_prefix) == 0;
}

static void
mqtt_free(struct mqtt *m)
{
	size_t i;

	if (m->mosq)
		mosquitto_destroy(m->mosq);
	for (i = 0; i < m->ncache; i++) {
		free(m->cache[i].topic);
		free(m->cache[i].payload);
	}
	for (i = 0; i < m->nqueue; i++) {
		json_decref(m->queue[i].id);
		json_decref(m->queue[i].devices);
	}
	free(m->cache);
	for (i = 0; i < m->nstale; i++)
		free(m->stale[i]);
	free(m->stale);
	if (m->password) {
		explicit_bzero(m->password, strlen(m->password));
		free(m->password);
	}
	free(m->cmd_topic);
	free(m->result_topic);
	free(m->state_topic);
	free(m->event_topic);
	free(m->device_filter);
	free(m->source_filter);
	if (m->wake_fd >= 0)
		close(m->wake_fd);
	config_mqtt_release(&m->conf);
	pthread_cond_destroy(&m->changed);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

struct mqtt *
mqtt_start(const struct config *cfg)
{
	struct mqtt *m;
	sigset_t all, saved;
	int rc;

	if (!cfg->mqtt.enabled)
		return NULL;
	mosquitto_lib_init();
	m = xcalloc(1, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->changed, NULL);
	conf_copy(&m->conf, &cfg->mqtt);
	m->rate_limit_remaining = -1;
	m->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	m->cmd_topic = xasprintf("%s/cmd", m->conf.topic_prefix);
	m->result_topic = xasprintf("%s/cmd/result", m->conf.topic_prefix);
	m->state_topic = xasprintf("%s/state", m->conf.topic_prefix);
	m->event_topic = xasprintf("%s/event", m->conf.topic_prefix);
	m->device_filter = xasprintf("%s/device/+", m->conf.topic_prefix);
	m->source_filter = xasprintf("%s/source/+", m->conf.topic_prefix);
	if (m->wake_fd == -1) {
		log_fail("mqtt: cannot create an eventfd");
		goto fail;
	}
	if (config_load_mqtt_password(&m->conf, &m->password) == -1)
		goto fail;
	m->mosq = mosquitto_new(m->conf.client_id, true, m);
	if (m->mosq == NULL) {
		log_fail("mqtt: cannot create a client");
		goto fail;
	}
	if (mqtt_client_setup(m->mosq, &m->conf, m->password) == -1)
		goto fail;
	mosquitto_will_set(m->mosq, m->state_topic, 7, "offline",
	    (int)m->conf.qos, true);
	mosquitto_reconnect_delay_set(m->mosq, RECONNECT_MIN, RECONNECT_MAX,
	    true);
	mosquitto_connect_callback_set(m->mosq, on_connect);
	mosquitto_disconnect_callback_set(m->mosq, on_disconnect);
	mosquitto_message_callback_set(m->mosq, on_message);
	/* An absent broker is retried by the network thread. */
	rc = mosquitto_connect_async(m->mosq, m->conf.host, (int)m->conf.port,
	    KEEPALIVE_SECONDS);
	if (rc != MOSQ_ERR_SUCCESS)
		log_warnx("mqtt: cannot reach broker '%s' yet: %s; retrying "
		    "in the background (syncs go on)", m->conf.url,
		    rc == MOSQ_ERR_ERRNO ? strerror(errno) :
		    mosquitto_strerror(rc));
	/* The network thread takes no signal: they are the main loop's. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &saved);
	rc = mosquitto_loop_start(m->mosq);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		log_failx("mqtt: cannot start the network thread: %s",
		    mosquitto_strerror(rc));
		goto fail;
	}
	return m;
fail:
	log_warnx("mqtt: not publishing to '%s' (see above); fix [mqtt] in "
	    "%s and send SIGHUP", cfg->mqtt.url, cfg->path);
	mqtt_free(m);
	return NULL;
}

void
mqtt_stop(struct mqtt *m)
{
	struct timespec deadline;

	if (m == NULL)
		return;
	pthread_mutex_lock(&m->lock);
	if (m->connected) {
		/* A clean goodbye sends no last will: say it ourselves. */
		publish(m, m->state_topic, "offline", true);
		mosquitto_disconnect(m->mosq);
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_nsec += STOP_WAIT_MS * 1000000L;
		deadline.tv_sec += deadline.tv_nsec / 1000000000L;
		deadline.tv_nsec %= 1000000000L;
		while (m->connected && pthread_cond_timedwait(&m->changed,
		    &m->lock, &deadline) == 0)
			;
	}
	pthread_mutex_unlock(&m->lock);
	/* Forced: the thread may sleep in a reconnect back-off. */
	mosquitto_loop_stop(m->mosq, true);
	mqtt_free(m);
}

struct mqtt *
mqtt_reload(struct mqtt *m, const struct config *cfg)
{
	if (m == NULL && !cfg->mqtt.enabled)
		return NULL;
	if (m && cfg->mqtt.enabled && conf_same(&m->conf, &cfg->mqtt)) {
		char *password;
		bool same;

		/* A new password in the same file counts as a change. */
		if (config_load_mqtt_password(&cfg->mqtt, &password) == -1)
			return m;
		same = (password == NULL && m->password == NULL) ||
		    (password && m->password &&
		    strcmp(password, m->password) == 0);
		if (password) {
			explicit_bzero(password, strlen(password));
			free(password);
		}
		if (same)
			return m;
	}
	mqtt_stop(m);
	return mqtt_start(cfg);
}
