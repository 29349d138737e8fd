/*
 * cmd_fleet.c - `senko fleet --broker URL`: every gateway's boards in one
 * table, read from the retained topics the gateways' senkod publish on an
 * MQTT broker (mqtt.h): P/device/NAME and P/state for each prefix P under
 * the subscription filter (--prefix, default senko/#).
 *
 * It subscribes, takes what the broker sends for a short settle time
 * (until nothing came for SETTLE_QUIET_MS, at most SETTLE_MAX_MS) and
 * prints.  Exit status: 0, 1 when a device failed or is offline, a
 * gateway is offline, no gateway answered or the broker cannot be used.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <mosquitto.h>

#include "cli.h"
#include "human.h"
#include "log.h"
#include "monotime.h"
#include "mqtt.h"
#include "xalloc.h"
#include "banned.h"

#define CONNECT_MS 10000
#define SETTLE_QUIET_MS 500
#define SETTLE_MAX_MS 5000
#define PAYLOAD_MAX (64 * 1024)

struct gateway {
	char *prefix;
	char *state;       /* "online", "offline" or NULL unknown */
	json_t *devices;   /* object: name -> the device's object */
};

struct fleet {
	struct gateway *gw;
	size_t ngw;
	int connack;       /* -1 waiting, else the CONNACK code */
	bool subscribed;
	long long last_ms; /* when the last message came */
};

static struct gateway *
gateway_for(struct fleet *f, const char *prefix, size_t len)
{
	size_t i;

	for (i = 0; i < f->ngw; i++)
		if (strlen(f->gw[i].prefix) == len &&
		    strncmp(f->gw[i].prefix, prefix, len) == 0)
			return &f->gw[i];
	f->gw = xreallocarray(f->gw, f->ngw + 1, sizeof(*f->gw));
	f->gw[f->ngw].prefix = xstrndup(prefix, len);
	f->gw[f->ngw].state = NULL;
	f->gw[f->ngw].devices = json_object();
	return &f->gw[f->ngw++];
}

static void
on_connect(struct mosquitto *mosq, void *arg, int rc)
{
	struct fleet *f = arg;

	(void)mosq;
	f->connack = rc;
}

static void
on_subscribe(struct mosquitto *mosq, void *arg, int mid, int n,
    const int *granted)
{
	struct fleet *f = arg;

	(void)mosq;
	(void)mid;
	(void)n;
	(void)granted;
	f->subscribed = true;
	f->last_ms = monotime_ms();
}

/* P/device/NAME and P/state; anything else under the filter is not ours. */
static void
on_message(struct mosquitto *mosq, void *arg,
    const struct mosquitto_message *msg)
{
	struct fleet *f = arg;
	const char *t = msg->topic, *dev;
	size_t len = strlen(t);
	json_t *obj;

	(void)mosq;
	f->last_ms = monotime_ms();
	if (msg->payloadlen <= 0 || msg->payloadlen > PAYLOAD_MAX)
		return;
	/* The last "/device/" with one level after it: a device "state"
	 * is a device, not a gateway's state. */
	dev = strstr(t, "/device/");
	while (dev && strstr(dev + 1, "/device/"))
		dev = strstr(dev + 1, "/device/");
	if (dev && dev != t && dev[8] != '\0' && !strchr(dev + 8, '/')) {
		obj = json_loadb(msg->payload, (size_t)msg->payloadlen, 0,
		    NULL);
		if (json_is_object(obj))
			json_object_set_new(gateway_for(f, t,
			    (size_t)(dev - t))->devices, dev + 8, obj);
		else
			json_decref(obj);
	} else if (len > 6 && strcmp(t + len - 6, "/state") == 0) {
		struct gateway *g = gateway_for(f, t, len - 6);

		free(g->state);
		g->state = xstrndup(msg->payload, (size_t)msg->payloadlen);
	}
}

/* Text from the broker, made safe for a terminal. */
static const char *
shown(char *out, size_t size, json_t *v)
{
	const char *s = json_string_value(v);

	if (s == NULL || *s == '\0')
		return "-";
	log_escape(out, size, s);
	return out;
}

static int
gateway_cmp(const void *a, const void *b)
{
	return strcmp(((const struct gateway *)a)->prefix,
	    ((const struct gateway *)b)->prefix);
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* obj's keys in order; *n of them.  The array is the caller's to free. */
static const char **
sorted_names(json_t *obj, size_t *n)
{
	const char **names, *name;
	json_t *v;

	names = xcalloc(json_object_size(obj) + 1, sizeof(*names));
	*n = 0;
	json_object_foreach(obj, name, v)
		names[(*n)++] = name;
	qsort(names, *n, sizeof(*names), name_cmp);
	return names;
}

static bool
state_is_bad(const char *s)
{
	return s && (strcmp(s, "failed") == 0 || strcmp(s, "offline") == 0);
}

static int
print_table(const struct fleet *f)
{
	time_t now = time(NULL);
	int rc = CLI_EXIT_OK;
	size_t i;

	printf("%-24s %-16s %-8s %-8s %-16s %s\n", "GATEWAY", "DEVICE",
	    "STATE", "COMMIT", "LAST SUCCESS", "LAST ERROR");
	for (i = 0; i < f->ngw; i++) {
		const struct gateway *g = &f->gw[i];
		size_t n, j;
		const char **names = sorted_names(g->devices, &n);
		json_t *d;

		for (j = 0; j < n; j++) {
			char gwname[128], dev[128], state[64], commit[64];
			char age[HUMAN_MAX], err[2048];
			json_t *ls;

			d = json_object_get(g->devices, names[j]);
			ls = json_object_get(d, "last_success");
			human_age(age, sizeof(age), json_is_integer(ls) ?
			    (time_t)json_integer_value(ls) : 0, now);
			log_escape(gwname, sizeof(gwname), g->prefix);
			log_escape(dev, sizeof(dev), names[j]);
			printf("%-24s %-16s %-8s %-8.7s %-16s %s\n", gwname, dev,
			    shown(state, sizeof(state),
			    json_object_get(d, "state")),
			    shown(commit, sizeof(commit),
			    json_object_get(d, "commit")), age,
			    shown(err, sizeof(err),
			    json_object_get(d, "last_error")));
			if (state_is_bad(json_string_value(json_object_get(d,
			    "state"))))
				rc = CLI_EXIT_FAILED;
		}
		free(names);
	}
	for (i = 0; i < f->ngw; i++)
		if (f->gw[i].state && strcmp(f->gw[i].state, "offline") == 0) {
			char gwname[128];

			log_escape(gwname, sizeof(gwname), f->gw[i].prefix);
			printf("\ngateway %s is offline: its rows are what it "
			    "said last\n", gwname);
			rc = CLI_EXIT_FAILED;
		}
	return rc;
}

static int
print_json(const struct fleet *f)
{
	json_t *root, *gws = json_array();
	char *text;
	int rc = CLI_EXIT_OK;
	size_t i;

	for (i = 0; i < f->ngw; i++) {
		const struct gateway *g = &f->gw[i];
		json_t *devs = json_array(), *d;
		size_t n, j;
		const char **names = sorted_names(g->devices, &n);

		for (j = 0; j < n; j++) {
			d = json_object_get(g->devices, names[j]);
			json_array_append(devs, d);
			if (state_is_bad(json_string_value(json_object_get(d,
			    "state"))))
				rc = CLI_EXIT_FAILED;
		}
		free(names);
		if (g->state && strcmp(g->state, "offline") == 0)
			rc = CLI_EXIT_FAILED;
		json_array_append_new(gws, json_pack("{s:s,s:o,s:o}", "prefix",
		    g->prefix, "state", g->state ? json_string(g->state) :
		    json_null(), "devices", devs));
	}
	root = json_pack("{s:i,s:o}", "schema", 1, "gateways", gws);
	text = root ? json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
	json_decref(root);
	if (text == NULL) {
		log_failx("cannot encode the fleet as JSON");
		return CLI_EXIT_FAILED;
	}
	printf("%s\n", text);
	free(text);
	return rc;
}

/* Connect, subscribe, gather.  Returns 0 or -1 (logged). */
static int
gather(struct mosquitto *mosq, const struct config_mqtt *mc,
    const char *filter, struct fleet *f)
{
	long long start = monotime_ms();
	int rc;

	rc = mosquitto_connect(mosq, mc->host, (int)mc->port, 30);
	if (rc != MOSQ_ERR_SUCCESS)
		return log_failx("cannot connect to broker '%s': %s", mc->url,
		    rc == MOSQ_ERR_ERRNO ? "connection failed (is it "
		    "running, is the port right?)" : mosquitto_strerror(rc));
	while (f->connack < 0) {
		rc = mosquitto_loop(mosq, 100, 1);
		if (rc != MOSQ_ERR_SUCCESS || monotime_ms() - start > CONNECT_MS)
			return log_failx("broker '%s' did not accept the "
			    "connection: %s", mc->url, rc != MOSQ_ERR_SUCCESS ?
			    mosquitto_strerror(rc) : "no answer in 10 s");
	}
	if (f->connack != 0)
		return log_failx("broker '%s' refused the connection: %s "
		    "(check --username and --password-file)", mc->url,
		    mosquitto_connack_string(f->connack));
	rc = mosquitto_subscribe(mosq, NULL, filter, 1);
	if (rc != MOSQ_ERR_SUCCESS)
		return log_failx("cannot subscribe to '%s': %s", filter,
		    mosquitto_strerror(rc));
	start = monotime_ms();
	while (!f->subscribed || monotime_ms() - f->last_ms < SETTLE_QUIET_MS) {
		rc = mosquitto_loop(mosq, 100, 1);
		if (rc != MOSQ_ERR_SUCCESS)
			return log_failx("lost broker '%s': %s", mc->url,
			    mosquitto_strerror(rc));
		if (monotime_ms() - start > SETTLE_MAX_MS)
			break;
	}
	mosquitto_disconnect(mosq);
	return 0;
}

int
cmd_fleet(struct cli *cli, int argc, char **argv)
{
	const struct cli_command *self = cli_find_command("fleet");
	struct config_mqtt mc;
	struct fleet f;
	struct mosquitto *mosq = NULL;
	const char *broker = NULL, *why;
	char *filter = NULL, *password = NULL;
	bool json = false;
	int i, rc = CLI_EXIT_FAILED;

	(void)cli;
	config_mqtt_defaults(&mc);
	memset(&f, 0, sizeof(f));
	f.connack = -1;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has_value = i + 1 < argc;

		if (strcmp(a, "--json") == 0)
			json = true;
		else if (strcmp(a, "--broker") == 0 && has_value)
			broker = argv[++i];
		else if (strcmp(a, "--prefix") == 0 && has_value) {
			free(filter);
			filter = xstrdup(argv[++i]);
		} else if (strcmp(a, "--username") == 0 && has_value) {
			free(mc.username);
			mc.username = xstrdup(argv[++i]);
		} else if (strcmp(a, "--password-file") == 0 && has_value) {
			free(mc.password_file);
			mc.password_file = xstrdup(argv[++i]);
		} else if (strcmp(a, "--ca-file") == 0 && has_value) {
			free(mc.ca_file);
			mc.ca_file = xstrdup(argv[++i]);
		} else {
			rc = cli_command_usage(self);
			goto out;
		}
	}
	if (broker == NULL) {
		rc = cli_command_usage(self);
		goto out;
	}
	if (config_parse_mqtt_url(broker, &mc, &why) == -1) {
		log_failx("--broker '%s': %s", broker, why);
		rc = CLI_EXIT_USAGE;
		goto out;
	}
	if (filter == NULL)
		filter = xstrdup("senko/#");
	else if (strchr(filter, '#') == NULL && strchr(filter, '+') == NULL) {
		/* A gateway's prefix: everything under it. */
		char *all = xasprintf("%s/#", filter);

		free(filter);
		filter = all;
	}
	if (config_load_mqtt_password(&mc, &password) == -1)
		goto out;
	mosquitto_lib_init();
	mosq = mosquitto_new(NULL, true, &f);
	if (mosq == NULL) {
		log_fail("cannot create an MQTT client");
		goto out;
	}
	if (mqtt_client_setup(mosq, &mc, password) == -1)
		goto out;
	mosquitto_connect_callback_set(mosq, on_connect);
	mosquitto_subscribe_callback_set(mosq, on_subscribe);
	mosquitto_message_callback_set(mosq, on_message);
	if (gather(mosq, &mc, filter, &f) == -1)
		goto out;
	if (f.ngw == 0) {
		log_failx("no gateway publishes under '%s' on '%s' (is senkod's "
		    "[mqtt] topic_prefix under it?)", filter, mc.url);
		goto out;
	}
	qsort(f.gw, f.ngw, sizeof(*f.gw), gateway_cmp);
	rc = json ? print_json(&f) : print_table(&f);
	if (fflush(stdout) == EOF)
		rc = CLI_EXIT_FAILED;
out:
	for (i = 0; i < (int)f.ngw; i++) {
		free(f.gw[i].prefix);
		free(f.gw[i].state);
		json_decref(f.gw[i].devices);
	}
	free(f.gw);
	if (mosq)
		mosquitto_destroy(mosq);
	if (password) {
		explicit_bzero(password, strlen(password));
		free(password);
	}
	free(filter);
	config_mqtt_release(&mc);
	return rc;
}
