/*
 * config.c - senko.conf parsing and validation; see config.h.
 *
 * inih calls handle_key() once per "key = value" line.  Section headers are
 * seen by our line reader (read_line) rather than by inih, so that an empty
 * section is still created and every object knows the line it started on.
 */
#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <regex.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "buf.h"
#include "config.h"
#include "fsutil.h"
#include "identity.h"
#include "log.h"
#include "path.h"
#include "serial.h"
#include "xalloc.h"
#include "banned.h"

#define DEFAULT_INTERVAL 300
#define DEFAULT_STATE_DIR "/var/lib/senko"
#define DEFAULT_API_URL "https://api.github.com"
#define DEFAULT_TOKEN_FILE "/etc/senko/token"
#define DEFAULT_JOBS 4
#define DEFAULT_BAUD 115200
#define MAX_INTERVAL (7 * 24 * 3600)
#define MAX_JOBS 64
#define NAME_MAX_LEN 64
#define CONFIG_MAX_BYTES (1024u * 1024) /* a config is a page or two */

enum section_kind {
	SECTION_NONE,
	SECTION_SENKOD,
	SECTION_SOURCE,
	SECTION_DEVICE,
	SECTION_MQTT,
	SECTION_BAD, /* an error was reported for the header; skip its keys */
};

struct parse_ctx {
	struct config *cfg;
	FILE *fp;
	int line;
	int errors;
	enum section_kind kind;
	void *object;      /* struct config, config_source or config_device */
	const char *label; /* "[device kitchen]", for messages */
	char label_buf[NAME_MAX_LEN + 32];
	unsigned seen;     /* bit per keyword index: duplicate detection */
	bool has_url;
	unsigned url_named; /* CONFIG_URL_BRANCH, CONFIG_URL_FOLDER */
	int senkod_line;   /* of the [senkod] header, 0 before one */
	int source_key_line; /* line of a device's "source =" */
	int path_key_line;   /* line of a source's "path =" */
	int key_line[32];    /* per keyword index: the line it was last on */
	int *device_source_lines;
	bool indented;     /* the line read starts with white space */
};

typedef int (*parse_fn)(struct parse_ctx *, void *field, const char *value);

struct keyword {
	const char *name;
	parse_fn parse;
	size_t offset;
};

static int
conf_error(struct parse_ctx *ctx, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
conf_error(struct parse_ctx *ctx, const char *key, const char *fmt, ...)
{
	struct buf msg = BUF_INIT, quoted = BUF_INIT;
	va_list ap;

	buf_addf(&msg, "%s:%d: ", ctx->cfg->path, ctx->line);
	if (ctx->label)
		buf_addf(&msg, "%s ", ctx->label);
	if (key)
		buf_addf(&msg, "%s: ", key);
	va_start(ap, fmt);
	buf_vaddf(&msg, fmt, ap);
	va_end(ap);
	/* Keys and values come from the file: never echo a control byte. */
	path_quote(&quoted, msg.data, msg.len);
	log_failx("%s", quoted.data);
	buf_release(&msg);
	buf_release(&quoted);
	ctx->errors++;
	return -1;
}

/* Value parsers: each checks and stores one key's value. */

static int
parse_string(struct parse_ctx *ctx, void *field, const char *value)
{
	char **s = field;

	(void)ctx;
	free(*s);
	*s = xstrdup(value);
	return 0;
}

static int
parse_nonempty(struct parse_ctx *ctx, void *field, const char *value)
{
	if (*value == '\0')
		return -1;
	return parse_string(ctx, field, value);
}

/*
 * A name git accepts for a branch (git-check-ref-format(1)): no white
 * space or control byte, none of ~ ^ : ? * [ \\, no "..", "@{" or "//",
 * no component starting with '.' or ending in ".lock", not starting with
 * '-' or '/', not ending in '/' or '.', not "@".
 */
static bool
valid_branch(const char *b)
{
	size_t i, n = strlen(b);

	if (n == 0 || b[0] == '-' || b[0] == '/' || b[n - 1] == '/' ||
	    b[n - 1] == '.' || strcmp(b, "@") == 0 || strstr(b, "..") ||
	    strstr(b, "@{") || strstr(b, "//"))
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)b[i];

		if (c <= ' ' || c == 0x7f || strchr("~^:?*[\\", c))
			return false;
		if ((i == 0 || b[i - 1] == '/') && c == '.')
			return false;
		if ((b[i + 1] == '/' || b[i + 1] == '\0') && i + 1 >= 5 &&
		    strncmp(b + i - 4, ".lock", 5) == 0)
			return false;
	}
	return true;
}

bool
config_valid_ref(const char *ref)
{
	return valid_branch(ref);
}

/*
 * https://HOST[/PATH] (http:// for a test server), without the trailing
 * '/'.  No white space: a stray one would be cut at print.
 */
static int
parse_api_url(struct parse_ctx *ctx, void *field, const char *value)
{
	size_t n = strlen(value), scheme;

	while (n > 0 && value[n - 1] == '/')
		n--;
	scheme = strncmp(value, "https://", 8) == 0 ? 8 :
	    strncmp(value, "http://", 7) == 0 ? 7 : 0;
	if (scheme == 0 || n <= scheme || value[scheme] == '/' ||
	    strpbrk(value, " \t") != NULL)
		return conf_error(ctx, "api_url", "'%s' is not valid: expected "
		    "https:// and a host, such as https://api.github.com (or "
		    "http:// for a local test server)", value);
	free(*(char **)field);
	*(char **)field = xstrndup(value, n);
	return 0;
}

static int
parse_branch(struct parse_ctx *ctx, void *field, const char *value)
{
	if (!valid_branch(value))
		return -1;
	return parse_string(ctx, field, value);
}

static int
parse_duration(struct parse_ctx *ctx, void *field, const char *value)
{
	(void)ctx;
	return config_parse_duration(value, field);
}

static int
parse_uint_range(const char *value, unsigned *out, unsigned lo, unsigned hi)
{
	char *end;
	unsigned long v;

	if (!isdigit((unsigned char)*value))
		return -1;
	errno = 0;
	v = strtoul(value, &end, 10);
	if (errno || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int
parse_jobs(struct parse_ctx *ctx, void *field, const char *value)
{
	(void)ctx;
	return parse_uint_range(value, field, 1, MAX_JOBS);
}

/* Seconds of boot output watched after a reset: "0" to "60", "s" optional. */
static int
parse_boot_watch(struct parse_ctx *ctx, void *field, const char *value)
{
	char num[8];
	size_t n = strlen(value);

	(void)ctx;
	if (n > 0 && value[n - 1] == 's')
		n--;
	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, value, n);
	num[n] = '\0';
	return parse_uint_range(num, field, 0, 60);
}

/* A path, usb:SERIAL, or uid:HEX (identity.h; the hex is lowercased). */
static int
parse_port(struct parse_ctx *ctx, void *field, const char *value)
{
	const char *why;
	char *port;

	if (!identity_is_uid(value))
		return parse_nonempty(ctx, field, value);
	port = xstrdup(value);
	if (identity_normalize(port, &why) == -1) {
		free(port);
		return -1;
	}
	free(*(char **)field);
	*(char **)field = port;
	return 0;
}

/* "off" (or 0): never; else a duration, as interval takes it. */
static int
parse_verify_interval(struct parse_ctx *ctx, void *field, const char *value)
{
	(void)ctx;
	if (strcmp(value, "off") == 0 || strcmp(value, "0") == 0) {
		*(unsigned *)field = 0;
		return 0;
	}
	return config_parse_duration(value, field);
}

static int
parse_baud(struct parse_ctx *ctx, void *field, const char *value)
{
	unsigned v;

	(void)ctx;
	if (parse_uint_range(value, &v, 1, UINT_MAX) == -1 ||
	    !serial_baud_supported(v))
		return -1;
	*(unsigned *)field = v;
	return 0;
}

static int
parse_bool(struct parse_ctx *ctx, void *field, const char *value)
{
	static const char *yes[] = { "yes", "true", "on", "1" };
	static const char *no[] = { "no", "false", "off", "0" };
	size_t i;

	(void)ctx;
	for (i = 0; i < 4; i++) {
		if (strcasecmp(value, yes[i]) == 0) {
			*(bool *)field = true;
			return 0;
		}
		if (strcasecmp(value, no[i]) == 0) {
			*(bool *)field = false;
			return 0;
		}
	}
	return -1;
}

static int
parse_reset(struct parse_ctx *ctx, void *field, const char *value)
{
	enum reset_mode m;

	(void)ctx;
	for (m = RESET_NONE; m <= RESET_HARD; m++)
		if (strcmp(value, reset_mode_name(m)) == 0) {
			*(enum reset_mode *)field = m;
			return 0;
		}
	return -1;
}

static const char *hint_for(const char *key);

/* ring = 0..9 */
static int
parse_ring(struct parse_ctx *ctx, void *field, const char *value)
{
	(void)ctx;
	return parse_uint_range(value, field, 0, CONFIG_RING_MAX);
}

/* health = boot | none | line REGEX (POSIX extended, checked here so a
 * bad expression stops the start, not the first update). */
static int
parse_health(struct parse_ctx *ctx, void *field, const char *value)
{
	struct config_device *dev = ctx->object;
	const char *re;
	regex_t rx;
	char why[128];
	int err;

	(void)field;
	if (strcmp(value, "boot") == 0 || strcmp(value, "none") == 0) {
		dev->health = value[0] == 'b' ? HEALTH_BOOT : HEALTH_NONE;
		return 0;
	}
	if (strncmp(value, "line", 4) != 0 ||
	    (value[4] != '\0' && !isspace((unsigned char)value[4])))
		return conf_error(ctx, "health", "'%s' is not valid: expected "
		    "%s", value, hint_for("health"));
	for (re = value + 4; isspace((unsigned char)*re); re++)
		;
	if (*re == '\0')
		return conf_error(ctx, "health", "'line' needs a regular "
		    "expression, such as: health = line ^READY$");
	err = regcomp(&rx, re, REG_EXTENDED | REG_NOSUB);
	if (err != 0) {
		regerror(err, &rx, why, sizeof(why));
		return conf_error(ctx, "health", "'%s' is not a POSIX "
		    "extended regular expression: %s", re, why);
	}
	regfree(&rx);
	dev->health = HEALTH_LINE;
	free(dev->health_line);
	dev->health_line = xstrdup(re);
	return 0;
}

/* health_timeout and soak: a duration; 0 is allowed for soak. */
static int
parse_health_timeout(struct parse_ctx *ctx, void *field, const char *value)
{
	unsigned v;

	(void)ctx;
	if (config_parse_duration(value, &v) == -1 || v == 0 || v > 600)
		return -1;
	*(unsigned *)field = v;
	return 0;
}

static int
parse_soak(struct parse_ctx *ctx, void *field, const char *value)
{
	unsigned v;

	(void)ctx;
	/* A duration is at least a second; soak may be none ("0", "0s"). */
	if (value[0] == '0' && (value[1] == '\0' ||
	    (strchr("smh", value[1]) && value[2] == '\0'))) {
		*(unsigned *)field = 0;
		return 0;
	}
	if (config_parse_duration(value, &v) == -1 || v > MAX_INTERVAL)
		return -1;
	*(unsigned *)field = v;
	return 0;
}

/* pin = REF: a tag, branch or commit SHA, sent to the forge as a path
 * segment, so the rules of a branch name. */
static int
parse_pin(struct parse_ctx *ctx, void *field, const char *value)
{
	if (!valid_branch(value))
		return -1;
	return parse_string(ctx, field, value);
}

static int
parse_api(struct parse_ctx *ctx, void *field, const char *value)
{
	enum source_api a;

	(void)ctx;
	for (a = SOURCE_API_TREES; a <= SOURCE_API_CONTENTS; a++)
		if (strcmp(value, source_api_name(a)) == 0) {
			*(enum source_api *)field = a;
			return 0;
		}
	return -1;
}

/* Strip leading and trailing '/' and check what is left is a safe path. */
static char *
normalize_relpath(const char *value, const char **why)
{
	size_t len;

	while (*value == '/')
		value++;
	len = strlen(value);
	while (len > 0 && value[len - 1] == '/')
		len--;
	if (len == 0)
		return xstrdup("");
	if (!path_is_safe(value, len, why))
		return NULL;
	return xstrndup(value, len);
}

static int
parse_working_dir(struct parse_ctx *ctx, void *field, const char *value)
{
	const char *why;
	char *dir = normalize_relpath(value, &why);

	if (dir == NULL)
		return conf_error(ctx, "working_dir", "'%s': %s", value, why);
	free(*(char **)field);
	*(char **)field = dir;
	return 0;
}

static int
parse_dest(struct parse_ctx *ctx, void *field, const char *value)
{
	const char *why;
	char *rel;

	if (value[0] != '/')
		return conf_error(ctx, "dest", "'%s' must be an absolute folder "
		    "on the board, such as / or /app", value);
	rel = normalize_relpath(value, &why);
	if (rel == NULL)
		return conf_error(ctx, "dest", "'%s': %s", value, why);
	free(*(char **)field);
	*(char **)field = xasprintf("/%s", rel);
	free(rel);
	return 0;
}

static int
parse_files(struct parse_ctx *ctx, void *field, const char *value)
{
	struct config_source *src = ctx->object;
	const char *p = value;

	(void)field;
	while (*p) {
		const char *why;
		size_t n;
		char *word, *path;

		while (isspace((unsigned char)*p))
			p++;
		n = strcspn(p, " \t");
		if (n == 0)
			break;
		word = xstrndup(p, n);
		p += n;
		path = normalize_relpath(word, &why);
		if (path == NULL || *path == '\0') {
			conf_error(ctx, "files", "'%s': %s", word,
			    path ? "names the whole repository" : why);
			free(path);
			free(word);
			return -1;
		}
		free(word);
		src->files = xreallocarray(src->files, src->nfiles + 1,
		    sizeof(*src->files));
		src->files[src->nfiles++] = path;
	}
	return 0;
}

/* exclude = GLOB...: words, each kept as written (a glob, not a path). */
static int
parse_exclude(struct parse_ctx *ctx, void *field, const char *value)
{
	struct config_source *src = ctx->object;
	const char *p = value;

	(void)field;
	while (*p) {
		size_t n;

		while (isspace((unsigned char)*p))
			p++;
		n = strcspn(p, " \t");
		if (n == 0)
			break;
		if (p[0] == '/')
			return conf_error(ctx, "exclude", "'%.*s': globs are "
			    "relative to working_dir; drop the leading '/'",
			    (int)n, p);
		src->exclude = xreallocarray(src->exclude, src->nexclude + 1,
		    sizeof(*src->exclude));
		src->exclude[src->nexclude++] = xstrndup(p, n);
		p += n;
	}
	return 0;
}

/* path = FOLDER: absolute, so the daemon's working directory does not
 * matter; whether it exists is checked at each poll (a folder on a
 * removable disk may come and go). */
static int
parse_local_path(struct parse_ctx *ctx, void *field, const char *value)
{
	size_t n = strlen(value);

	ctx->path_key_line = ctx->line;
	if (value[0] != '/')
		return conf_error(ctx, "path", "'%s' must be an absolute "
		    "folder, such as /home/me/project", value);
	free(*(char **)field);
	*(char **)field = xstrdup(value);
	while (n > 1 && (*(char **)field)[n - 1] == '/')
		(*(char **)field)[--n] = '\0';
	return 0;
}

static int
parse_url(struct parse_ctx *ctx, void *field, const char *value)
{
	struct config_source *src = ctx->object;
	const char *why;

	(void)field;
	/* Set even on failure: a bad url is one error, not also "no user". */
	ctx->has_url = true;
	if (config_parse_url(value, src, &ctx->url_named, &why) == -1)
		return conf_error(ctx, "url", "'%s': %s", value, why);
	return 0;
}

static int
parse_source_ref(struct parse_ctx *ctx, void *field, const char *value)
{
	ctx->source_key_line = ctx->line;
	return parse_nonempty(ctx, field, value);
}

int
config_parse_mqtt_url(const char *url, struct config_mqtt *m,
    const char **why)
{
	const char *p, *host, *end;
	unsigned port;
	bool tls;

	*why = "expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT], as in "
	    "mqtt://broker.lan:1883";
	if (strncmp(url, "mqtt://", 7) == 0)
		tls = false, p = url + 7;
	else if (strncmp(url, "mqtts://", 8) == 0)
		tls = true, p = url + 8;
	else
		return -1;
	if (*p == '[') {
		host = p + 1;
		end = strchr(host, ']');
		if (end == NULL) {
			*why = "no ']' after the IPv6 address";
			return -1;
		}
		p = end + 1;
	} else {
		host = p;
		end = p + strcspn(p, ":/");
		p = end;
	}
	if (end == host) {
		*why = "it names no host";
		return -1;
	}
	port = tls ? 8883 : 1883;
	if (*p == ':') {
		size_t n = strcspn(p + 1, "/");
		char *digits = xstrndup(p + 1, n);
		int bad = parse_uint_range(digits, &port, 1, 65535);

		free(digits);
		if (bad == -1) {
			*why = "the port must be a number from 1 to 65535";
			return -1;
		}
		p += 1 + n;
	}
	if (*p != '\0' && strcmp(p, "/") != 0) {
		*why = "a broker URL has no path (topics go in topic_prefix)";
		return -1;
	}
	free(m->url);
	free(m->host);
	m->url = xstrdup(url);
	m->host = xstrndup(host, (size_t)(end - host));
	m->port = port;
	m->tls = tls;
	return 0;
}

static int
parse_mqtt_url(struct parse_ctx *ctx, void *field, const char *value)
{
	const char *why;

	(void)field;
	if (config_parse_mqtt_url(value, ctx->object, &why) == -1)
		return conf_error(ctx, "url", "'%s': %s", value, why);
	return 0;
}

static int
parse_topic_prefix(struct parse_ctx *ctx, void *field, const char *value)
{
	size_t n = strlen(value);

	if (n == 0 || value[0] == '/' || value[n - 1] == '/' ||
	    strpbrk(value, "+#") || strstr(value, "//"))
		return conf_error(ctx, "topic_prefix", "'%s' is not a topic "
		    "prefix: expected levels such as senko/greenhouse-3, "
		    "without '+', '#', empty levels or a '/' at either end",
		    value);
	return parse_string(ctx, field, value);
}

static int
parse_qos(struct parse_ctx *ctx, void *field, const char *value)
{
	(void)ctx;
	return parse_uint_range(value, field, 0, 2);
}

#define GLOBAL(name, fn) { #name, fn, offsetof(struct config, name) }
#define SOURCE(name, fn) { #name, fn, offsetof(struct config_source, name) }
#define DEVICE(name, fn) { #name, fn, offsetof(struct config_device, name) }
#define MQTT(name, fn) { #name, fn, offsetof(struct config_mqtt, name) }

static const struct keyword senkod_keywords[] = {
	GLOBAL(interval, parse_duration),
	GLOBAL(state_dir, parse_nonempty),
	GLOBAL(api_url, parse_api_url),
	GLOBAL(token_file, parse_string),
	GLOBAL(ca_file, parse_string),
	GLOBAL(jobs, parse_jobs),
	GLOBAL(metrics_file, parse_string),
	{ NULL, NULL, 0 },
};

static const struct keyword source_keywords[] = {
	SOURCE(user, parse_nonempty),
	SOURCE(repo, parse_nonempty),
	SOURCE(branch, parse_branch),
	SOURCE(working_dir, parse_working_dir),
	SOURCE(files, parse_files),
	SOURCE(api, parse_api),
	{ "url", parse_url, 0 },
	SOURCE(exclude, parse_exclude),
	SOURCE(path, parse_local_path),
	SOURCE(soak, parse_soak),
	{ NULL, NULL, 0 },
};

static const struct keyword device_keywords[] = {
	DEVICE(port, parse_port),
	DEVICE(baud, parse_baud),
	{ "source", parse_source_ref, offsetof(struct config_device, source) },
	DEVICE(dest, parse_dest),
	DEVICE(reset, parse_reset),
	DEVICE(prune, parse_bool),
	DEVICE(boot_watch, parse_boot_watch),
	DEVICE(ring, parse_ring),
	DEVICE(health, parse_health),
	DEVICE(health_timeout, parse_health_timeout),
	DEVICE(pin, parse_pin),
	DEVICE(rollback, parse_bool),
	DEVICE(verify_interval, parse_verify_interval),
	{ NULL, NULL, 0 },
};

static const struct keyword mqtt_keywords[] = {
	{ "url", parse_mqtt_url, 0 },
	MQTT(username, parse_string),
	MQTT(password_file, parse_string),
	MQTT(ca_file, parse_string),
	MQTT(client_id, parse_nonempty),
	MQTT(topic_prefix, parse_topic_prefix),
	MQTT(qos, parse_qos),
	{ NULL, NULL, 0 },
};

static const char *key_hints[] = {
	"branch", "a git branch name (no white space, none of ~^:?*[\\, "
	    "no \"..\")",
	"qos", "0, 1 or 2",
	"client_id", "a name for the broker",
	"interval", "a duration such as 90s, 5m or 1h (1s to 7 days)",
	"jobs", "a number from 1 to 64",
	"baud", "a standard rate such as 115200",
	"prune", "yes or no",
	"reset", "none, soft or hard",
	"boot_watch", "seconds from 0 to 60, such as 2s",
	"ring", "a number from 0 to 9",
	"health", "boot, none, or line REGEX",
	"health_timeout", "a duration from 1s to 10m, such as 10s",
	"soak", "0 or a duration such as 30m",
	"pin", "a tag, branch or commit SHA",
	"rollback", "yes or no",
	"port", "a serial port path, usb:SERIAL, or uid:HEX (an even number "
	    "of hex digits, up to 64, as senko ports --probe shows the "
	    "unique id)",
	"verify_interval", "off, or a duration such as 30m or 6h (up to 7 "
	    "days)",
	"api", "trees or contents",
	NULL,
};

static const char *
hint_for(const char *key)
{
	size_t i;

	for (i = 0; key_hints[i]; i += 2)
		if (strcmp(key_hints[i], key) == 0)
			return key_hints[i + 1];
	return "a value";
}

static bool
valid_name(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > NAME_MAX_LEN || name[0] == '.')
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("_.-", name[i]))
			return false;
	return true;
}

static void
source_defaults(struct config_source *src)
{
	memset(src, 0, sizeof(*src));
	src->branch = NULL; /* the repository's default branch (forge.c) */
	src->working_dir = xstrdup("");
	src->api = SOURCE_API_TREES;
}

static void
device_defaults(struct config_device *dev)
{
	memset(dev, 0, sizeof(*dev));
	dev->baud = DEFAULT_BAUD;
	dev->dest = xstrdup("/");
	dev->reset = RESET_SOFT;
	dev->prune = false;
	dev->boot_watch = DEFAULT_BOOT_WATCH;
	dev->ring = DEFAULT_RING;
	dev->health = HEALTH_BOOT;
	dev->health_timeout = DEFAULT_HEALTH_TIMEOUT;
	dev->rollback = true;
}

void
config_mqtt_defaults(struct config_mqtt *m)
{
	memset(m, 0, sizeof(*m));
	m->username = xstrdup("");
	m->password_file = xstrdup("");
	m->ca_file = xstrdup("");
	m->qos = 1;
}

/* client_id and topic_prefix default to names from the host name. */
static void
mqtt_finish(struct config_mqtt *m)
{
	char host[256];

	if (gethostname(host, sizeof(host)) == -1 || *host == '\0')
		snprintf(host, sizeof(host), "gateway");
	host[sizeof(host) - 1] = '\0';
	host[strcspn(host, "/+#")] = '\0';
	if (m->client_id == NULL)
		m->client_id = xasprintf("senko-%s", host);
	if (m->topic_prefix == NULL)
		m->topic_prefix = xasprintf("senko/%s", host);
}

void
config_mqtt_release(struct config_mqtt *m)
{
	free(m->url);
	free(m->host);
	free(m->username);
	free(m->password_file);
	free(m->ca_file);
	free(m->client_id);
	free(m->topic_prefix);
}

static void finish_section(struct parse_ctx *ctx);

/* A "[...]" line: finish the previous section and start the next. */
static void
begin_section(struct parse_ctx *ctx, const char *header)
{
	struct config *cfg = ctx->cfg;
	const char *name;
	size_t i, typelen;

	finish_section(ctx);
	ctx->seen = 0;
	ctx->has_url = false;
	ctx->url_named = 0;
	ctx->source_key_line = 0;
	ctx->path_key_line = 0;
	memset(ctx->key_line, 0, sizeof(ctx->key_line));
	ctx->label = NULL;
	snprintf(ctx->label_buf, sizeof(ctx->label_buf), "[%.*s]",
	    NAME_MAX_LEN + 16, header);
	typelen = strcspn(header, " \t");
	name = header + typelen;
	while (isspace((unsigned char)*name))
		name++;
	ctx->kind = SECTION_BAD;
	if (typelen == 6 && strncmp(header, "senkod", 6) == 0 && !*name) {
		if (ctx->senkod_line) {
			conf_error(ctx, NULL, "section [senkod] is given twice "
			    "(first on line %d)", ctx->senkod_line);
			return;
		}
		ctx->senkod_line = ctx->line;
		ctx->kind = SECTION_SENKOD;
		ctx->object = cfg;
	} else if (typelen == 4 && strncmp(header, "mqtt", 4) == 0 && !*name) {
		if (cfg->mqtt.enabled) {
			conf_error(ctx, NULL, "section [mqtt] is given twice "
			    "(first on line %d)", cfg->mqtt.line);
			return;
		}
		cfg->mqtt.enabled = true;
		cfg->mqtt.line = ctx->line;
		ctx->kind = SECTION_MQTT;
		ctx->object = &cfg->mqtt;
	} else if ((typelen == 6 && strncmp(header, "source", 6) == 0) ||
	    (typelen == 6 && strncmp(header, "device", 6) == 0)) {
		bool is_source = header[0] == 's';

		if (!valid_name(name)) {
			conf_error(ctx, NULL, "section '[%s]' needs a name of "
			    "letters, digits, '_', '-' or '.' (at most %d), "
			    "as in [%s kitchen]", header, NAME_MAX_LEN,
			    is_source ? "source" : "device");
			return;
		}
		for (i = 0; is_source && i < cfg->nsources; i++)
			if (strcmp(cfg->sources[i].name, name) == 0) {
				conf_error(ctx, NULL, "source '%s' is defined "
				    "twice (first on line %d)", name,
				    cfg->sources[i].line);
				return;
			}
		for (i = 0; !is_source && i < cfg->ndevices; i++)
			if (strcmp(cfg->devices[i].name, name) == 0) {
				conf_error(ctx, NULL, "device '%s' is defined "
				    "twice (first on line %d)", name,
				    cfg->devices[i].line);
				return;
			}
		if (is_source) {
			struct config_source *src;

			cfg->sources = xreallocarray(cfg->sources,
			    cfg->nsources + 1, sizeof(*cfg->sources));
			src = &cfg->sources[cfg->nsources++];
			source_defaults(src);
			src->name = xstrdup(name);
			src->line = ctx->line;
			ctx->kind = SECTION_SOURCE;
			ctx->object = src;
		} else {
			struct config_device *dev;

			cfg->devices = xreallocarray(cfg->devices,
			    cfg->ndevices + 1, sizeof(*cfg->devices));
			ctx->device_source_lines = xreallocarray(
			    ctx->device_source_lines, cfg->ndevices + 1,
			    sizeof(int));
			dev = &cfg->devices[cfg->ndevices++];
			device_defaults(dev);
			dev->name = xstrdup(name);
			dev->line = ctx->line;
			ctx->kind = SECTION_DEVICE;
			ctx->object = dev;
		}
	} else {
		conf_error(ctx, NULL, "unknown section '[%s]': expected "
		    "[senkod], [mqtt], [source NAME] or [device NAME]", header);
		return;
	}
	ctx->label = ctx->label_buf;
}

/* Checks that need the whole section: required keys, url vs user/repo. */
static void
finish_section(struct parse_ctx *ctx)
{
	int saved_line = ctx->line;

	if (ctx->kind == SECTION_SOURCE) {
		struct config_source *src = ctx->object;

		ctx->line = src->line;
		/* Bits 0 and 1 of seen: user and repo (source_keywords). */
		if (src->path && (ctx->has_url || (ctx->seen & 0x3))) {
			ctx->line = ctx->path_key_line;
			conf_error(ctx, "path", "a source is either a local "
			    "folder (path) or a repository (url or "
			    "user/repo), not both: keep one");
		} else if (src->path && (ctx->seen & 0x24)) {
			/* Bits 2 and 5: branch and api (source_keywords). */
			ctx->line = ctx->key_line[(ctx->seen & 0x4) ? 2 : 5];
			conf_error(ctx, (ctx->seen & 0x4) ? "branch" : "api",
			    "a local folder (path) has no branch or API: its "
			    "files are what is pushed; remove the key");
		} else if (src->path)
			;
		else if (ctx->has_url && (ctx->seen & 0x3)) {
			/* Index 6: url (source_keywords). */
			ctx->line = ctx->key_line[6];
			conf_error(ctx, "url", "give either url or user/repo, "
			    "not both");
		} else if (ctx->has_url) {
			/* Bits 2 and 3: branch and working_dir. */
			if ((ctx->url_named & CONFIG_URL_BRANCH) &&
			    (ctx->seen & 0x4)) {
				ctx->line = ctx->key_line[2];
				conf_error(ctx, "branch", "the url names the "
				    "branch already; give it in one place");
			}
			if ((ctx->url_named & CONFIG_URL_FOLDER) &&
			    (ctx->seen & 0x8)) {
				ctx->line = ctx->key_line[3];
				conf_error(ctx, "working_dir", "the url names "
				    "the folder already; give it in one place");
			}
		} else if (!src->user)
			conf_error(ctx, "user", "missing (the GitHub owner of "
			    "the repository, or give url = ...)");
		else if (!src->repo)
			conf_error(ctx, "repo", "missing (the repository name, "
			    "or give url = ...)");
	} else if (ctx->kind == SECTION_MQTT) {
		ctx->line = ctx->cfg->mqtt.line;
		/* Bit 0 of seen: url (mqtt_keywords); a bad one was said. */
		if (ctx->cfg->mqtt.url == NULL && !(ctx->seen & 0x1))
			conf_error(ctx, "url", "missing (the broker, as in "
			    "mqtt://broker.lan or mqtts://broker.lan:8883)");
	} else if (ctx->kind == SECTION_DEVICE) {
		struct config_device *dev = ctx->object;

		ctx->line = dev->line;
		if (!dev->port)
			conf_error(ctx, "port", "missing (the board's serial "
			    "port, e.g. /dev/serial/by-id/...)");
		if (!dev->source)
			conf_error(ctx, "source", "missing (the name of a "
			    "[source NAME] section)");
		ctx->device_source_lines[ctx->cfg->ndevices - 1] =
		    ctx->source_key_line ? ctx->source_key_line : dev->line;
	}
	ctx->line = saved_line;
	ctx->kind = SECTION_NONE;
}

static const struct keyword *
keywords_for(enum section_kind kind)
{
	switch (kind) {
	case SECTION_SENKOD:
		return senkod_keywords;
	case SECTION_SOURCE:
		return source_keywords;
	case SECTION_DEVICE:
		return device_keywords;
	case SECTION_MQTT:
		return mqtt_keywords;
	default:
		return NULL;
	}
}

/* Cut an inline "# comment" (a '#' after white space) and trailing space. */
static char *
strip_comment(const char *value)
{
	char *v = xstrdup(value);
	size_t i, n;

	for (i = 1; v[0] && v[i]; i++)
		if (v[i] == '#' && isspace((unsigned char)v[i - 1])) {
			v[i] = '\0';
			break;
		}
	n = strlen(v);
	while (n > 0 && isspace((unsigned char)v[n - 1]))
		v[--n] = '\0';
	return v;
}

/* Control bytes other than tab (which separates files). */
static bool
has_control(const char *value)
{
	for (; *value; value++)
		if (((unsigned char)*value < 0x20 && *value != '\t') ||
		    *value == 0x7f)
			return true;
	return false;
}

/*
 * An indented line continues the key above (inih's multi-line values).
 * Only files and exclude take more than one value, and a key written
 * there by mistake ("  branch = dev") must not become a file name.
 * True when the line was refused (said).
 */
static bool
indented_key(struct parse_ctx *ctx, const struct keyword *table,
    const struct keyword *kw, const char *value)
{
	const struct keyword *k;
	size_t n;

	if (kw->parse != parse_files && kw->parse != parse_exclude) {
		conf_error(ctx, kw->name, "an indented line continues the key "
		    "above, and this key takes one value: write each key at "
		    "the start of its line");
		return true;
	}
	n = strspn(value, "abcdefghijklmnopqrstuvwxyz_");
	if (n == 0 || value[n + strspn(value + n, " \t")] != '=')
		return false;
	for (k = table; k->name; k++)
		if (strlen(k->name) == n && strncmp(k->name, value, n) == 0) {
			conf_error(ctx, kw->name, "'%s' is indented, so it "
			    "reads as more entries of %s: write the key at "
			    "the start of its line", value, kw->name);
			return true;
		}
	return false;
}

static int
handle_key(void *user, const char *section, const char *name,
    const char *raw_value)
{
	struct parse_ctx *ctx = user;
	const struct keyword *kw, *table;
	char *value;
	unsigned bit;

	(void)section;
	if (ctx->kind == SECTION_BAD)
		return 1;
	table = keywords_for(ctx->kind);
	if (table == NULL) {
		conf_error(ctx, name, "key outside any section; put it under "
		    "[senkod], [mqtt], [source NAME] or [device NAME]");
		return 1;
	}
	for (kw = table; kw->name; kw++)
		if (strcmp(kw->name, name) == 0)
			break;
	if (kw->name == NULL) {
		struct buf known = BUF_INIT;
		const struct keyword *k;

		for (k = table; k->name; k++)
			buf_addf(&known, "%s%s", k == table ? "" : ", ", k->name);
		conf_error(ctx, name, "unknown key (known here: %s)",
		    known.data);
		buf_release(&known);
		return 1;
	}
	if (ctx->indented && indented_key(ctx, table, kw, raw_value))
		return 1;
	bit = 1u << (kw - table);
	ctx->key_line[kw - table] = ctx->line;
	if ((ctx->seen & bit) && kw->parse != parse_files &&
	    kw->parse != parse_exclude) {
		conf_error(ctx, name, "given twice");
		return 1;
	}
	ctx->seen |= bit;
	value = strip_comment(raw_value);
	if (has_control(value)) {
		/* A stray CR or escape would become part of a URL or path,
		 * and print back as something else. */
		conf_error(ctx, name, "the value holds a control character; "
		    "write it as plain text");
		free(value);
		return 1;
	}
	if (!utf8_is_valid(value, strlen(value))) {
		/* It would go into JSON (status --json, MQTT), which cannot
		 * carry it. */
		conf_error(ctx, name, "the value is not UTF-8 text; write "
		    "the file in UTF-8");
		free(value);
		return 1;
	}
	if (kw->parse(ctx, (char *)ctx->object + kw->offset, value) == -1 &&
	    kw->parse != parse_url && kw->parse != parse_files &&
	    kw->parse != parse_working_dir && kw->parse != parse_dest &&
	    kw->parse != parse_exclude && kw->parse != parse_local_path &&
	    kw->parse != parse_mqtt_url && kw->parse != parse_topic_prefix &&
	    kw->parse != parse_health && kw->parse != parse_api_url)
		conf_error(ctx, name, "'%s' is not valid: expected %s", value,
		    hint_for(name));
	free(value);
	return 1;
}

/* inih's line reader: counts lines and starts sections. */
static char *
read_line(char *str, int num, void *stream)
{
	struct parse_ctx *ctx = stream;
	size_t n;
	char *p, *end;

	if (fgets(str, num, ctx->fp) == NULL)
		return NULL;
	ctx->line++;
	ctx->indented = str[0] == ' ' || str[0] == '\t';
	n = strlen(str);
	if (n == (size_t)num - 1 && str[n - 1] != '\n' && !feof(ctx->fp)) {
		int c;

		conf_error(ctx, NULL, "line longer than %d characters", num - 2);
		while ((c = fgetc(ctx->fp)) != EOF && c != '\n')
			;
		str[0] = '\0';
		return str;
	}
	for (p = str; isspace((unsigned char)*p); p++)
		;
	if (*p == '[') {
		end = strchr(p, ']');
		if (end == NULL) {
			conf_error(ctx, NULL, "section header without ']'");
			/* The section before it still ends here (its checks,
			 * its device's source line). */
			finish_section(ctx);
			ctx->kind = SECTION_BAD;
			str[0] = '\0';
			return str;
		}
		*end = '\0';
		for (p++; isspace((unsigned char)*p); p++)
			;
		begin_section(ctx, p);
		*end = ']';
		/* inih drops what follows the ']' without a word: a key
		 * written there would be lost. */
		for (p = end + 1; isspace((unsigned char)*p); p++)
			;
		if (*p && *p != '#' && *p != ';')
			conf_error(ctx, NULL, "text after the section header "
			    "('%.*s'): put each key on a line of its own",
			    (int)strcspn(p, "\r\n"), p);
	} else if (*p && *p != '#' && *p != ';' && !ctx->indented &&
	    strpbrk(p, "=:") == NULL) {
		/* Said here, and the line read as blank: inih reports only
		 * the first such line. */
		const char *label = ctx->label;

		ctx->label = NULL;
		conf_error(ctx, NULL, "not a 'key = value' line or section "
		    "header");
		ctx->label = label;
		str[0] = '\0';
	}
	return str;
}

static void
check_devices(struct parse_ctx *ctx)
{
	struct config *cfg = ctx->cfg;
	size_t i, j;

	ctx->label = NULL;
	for (i = 0; i < cfg->ndevices; i++) {
		struct config_device *dev = &cfg->devices[i];
		char *real_i, *real_j;

		if (dev->source == NULL)
			continue;
		for (j = 0; j < cfg->nsources; j++)
			if (strcmp(cfg->sources[j].name, dev->source) == 0)
				break;
		if (j == cfg->nsources) {
			ctx->line = ctx->device_source_lines[i];
			snprintf(ctx->label_buf, sizeof(ctx->label_buf),
			    "[device %s]", dev->name);
			ctx->label = ctx->label_buf;
			conf_error(ctx, "source", "no [source %s] section",
			    dev->source);
		}
		dev->source_index = j;
		if (j < cfg->nsources && dev->pin && cfg->sources[j].path) {
			ctx->line = dev->line;
			snprintf(ctx->label_buf, sizeof(ctx->label_buf),
			    "[device %s]", dev->name);
			ctx->label = ctx->label_buf;
			conf_error(ctx, "pin", "source '%s' is a local folder, "
			    "which has no tags or commits to pin to",
			    dev->source);
		}
		if (dev->port == NULL)
			continue;
		real_i = realpath(dev->port, NULL);
		for (j = 0; j < i; j++) {
			const struct config_device *other = &cfg->devices[j];

			if (other->port == NULL)
				continue;
			real_j = realpath(other->port, NULL);
			if (strcmp(other->port, dev->port) == 0 ||
			    (real_i && real_j && strcmp(real_i, real_j) == 0)) {
				ctx->line = dev->line;
				snprintf(ctx->label_buf, sizeof(ctx->label_buf),
				    "[device %s]", dev->name);
				ctx->label = ctx->label_buf;
				conf_error(ctx, "port", "'%s' is also the port "
				    "of device '%s' (line %d); one board, one "
				    "device section", dev->port, other->name,
				    other->line);
			}
			free(real_j);
		}
		free(real_i);
	}
}

/*
 * Read the whole file first, with a cap, and only if it is a regular file
 * (a folder or /dev/zero is not a configuration), and refuse a NUL byte,
 * which would cut a line in two: "reset = none # \0prune = yes" must not
 * turn prune on.  Returns a stream over text, or NULL (logged).
 */
static FILE *
open_config(const char *path, struct buf *text)
{
	const char *nul;
	FILE *fp;
	int line = 1;
	size_t i;

	buf_init(text, CONFIG_MAX_BYTES);
	if (fs_read_regular(path, "configuration", text, NULL) == -1)
		return NULL;
	nul = memchr(text->data, '\0', text->len);
	if (nul != NULL) {
		for (i = 0; text->data + i < nul; i++)
			line += text->data[i] == '\n';
		log_failx("%s:%d: a NUL byte; the configuration is text: "
		    "remove it", path, line);
		return NULL;
	}
	fp = fmemopen(text->len ? text->data : (char *)"\n",
	    text->len ? text->len : 1, "r");
	if (fp == NULL)
		log_fail("cannot read configuration '%s'", path);
	return fp;
}

struct config *
config_load(const char *path)
{
	struct buf text = BUF_INIT;
	struct parse_ctx ctx;
	struct config *cfg;
	int rc;

	cfg = xcalloc(1, sizeof(*cfg));
	cfg->path = xstrdup(path);
	cfg->interval = DEFAULT_INTERVAL;
	cfg->state_dir = xstrdup(DEFAULT_STATE_DIR);
	cfg->api_url = xstrdup(DEFAULT_API_URL);
	cfg->token_file = xstrdup(DEFAULT_TOKEN_FILE);
	cfg->ca_file = xstrdup("");
	cfg->jobs = DEFAULT_JOBS;
	cfg->metrics_file = xstrdup("");
	config_mqtt_defaults(&cfg->mqtt);

	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = cfg;
	ctx.fp = open_config(path, &text);
	if (ctx.fp == NULL) {
		buf_release(&text);
		config_free(cfg);
		return NULL;
	}
	rc = ini_parse_stream(read_line, &ctx, handle_key, &ctx);
	fclose(ctx.fp);
	buf_release(&text);
	finish_section(&ctx);
	if (rc > 0) {
		ctx.line = rc;
		ctx.label = NULL;
		conf_error(&ctx, NULL, "not a 'key = value' line or section "
		    "header");
	} else if (rc < 0)
		conf_error(&ctx, NULL, "cannot parse (out of memory?)");
	check_devices(&ctx);
	free(ctx.device_source_lines);
	if (ctx.errors == 0 && cfg->mqtt.enabled)
		mqtt_finish(&cfg->mqtt);
	if (ctx.errors) {
		log_failx("%s: %d error%s in the configuration; nothing "
		    "started", path, ctx.errors, ctx.errors == 1 ? "" : "s");
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

static void
source_free(struct config_source *src)
{
	size_t i;

	free(src->name);
	free(src->user);
	free(src->repo);
	free(src->branch);
	free(src->working_dir);
	for (i = 0; i < src->nfiles; i++)
		free(src->files[i]);
	free(src->files);
	for (i = 0; i < src->nexclude; i++)
		free(src->exclude[i]);
	free(src->exclude);
	free(src->path);
}

static void
device_free(struct config_device *dev)
{
	free(dev->name);
	free(dev->port);
	free(dev->source);
	free(dev->dest);
	free(dev->health_line);
	free(dev->pin);
}

void
config_free(struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->nsources; i++)
		source_free(&cfg->sources[i]);
	for (i = 0; i < cfg->ndevices; i++)
		device_free(&cfg->devices[i]);
	free(cfg->sources);
	free(cfg->devices);
	free(cfg->path);
	free(cfg->state_dir);
	free(cfg->api_url);
	free(cfg->token_file);
	free(cfg->ca_file);
	free(cfg->metrics_file);
	config_mqtt_release(&cfg->mqtt);
	free(cfg);
}

/*
 * A glob ending in '/' names a folder, as "files = lib/" does: it is
 * matched against the leading parts of the path that are folders, never
 * against the whole path (the file itself).  Written without the '/' it
 * would be matched against a part ending in '/', which no part does.
 */
static bool
glob_matches_path(const char *glob, const char *path)
{
	const char *p = path, *slash;
	size_t n, glen = strlen(glob);
	char *part, *dir;
	bool hit = false;

	if (glen > 0 && glob[glen - 1] == '/') {
		while (glen > 0 && glob[glen - 1] == '/')
			glen--;
		dir = xstrndup(glob, glen);
		for (; (slash = strchr(p, '/')) != NULL; p = slash + 1) {
			part = xstrndup(path, (size_t)(slash - path));
			hit = fnmatch(dir, part, FNM_PATHNAME) == 0;
			free(part);
			if (hit)
				break;
		}
		free(dir);
		return hit;
	}
	if (strchr(glob, '/') == NULL) {
		for (;;) {
			slash = strchr(p, '/');
			n = slash ? (size_t)(slash - p) : strlen(p);
			part = xstrndup(p, n);
			hit = fnmatch(glob, part, 0) == 0;
			free(part);
			if (hit || slash == NULL)
				return hit;
			p = slash + 1;
		}
	}
	for (;;) {
		slash = strchr(p, '/');
		n = slash ? (size_t)(slash - path) : strlen(path);
		part = xstrndup(path, n);
		hit = fnmatch(glob, part, FNM_PATHNAME) == 0;
		free(part);
		if (hit || slash == NULL)
			return hit;
		p = slash + 1;
	}
}

bool
config_source_excludes(const struct config_source *src, const char *relpath)
{
	size_t i;

	for (i = 0; i < src->nexclude; i++)
		if (glob_matches_path(src->exclude[i], relpath))
			return true;
	return false;
}

const struct config_source *
config_source_of(const struct config *cfg, const struct config_device *dev)
{
	return &cfg->sources[dev->source_index];
}

const struct config_device *
config_find_device(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->ndevices; i++)
		if (strcmp(cfg->devices[i].name, name) == 0)
			return &cfg->devices[i];
	return NULL;
}

int
config_parse_duration(const char *s, unsigned *seconds)
{
	unsigned long v;
	unsigned mult = 1;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno)
		return -1;
	if (*end == 's')
		end++;
	else if (*end == 'm')
		mult = 60, end++;
	else if (*end == 'h')
		mult = 3600, end++;
	if (*end != '\0' || v == 0 || v > MAX_INTERVAL / mult)
		return -1;
	*seconds = (unsigned)v * mult;
	return 0;
}

/* Split the next '/'-separated component off *p. */
static char *
next_component(const char **p)
{
	size_t n = strcspn(*p, "/");
	char *c;

	if (n == 0)
		return NULL;
	c = xstrndup(*p, n);
	*p += n;
	if (**p == '/')
		(*p)++;
	return c;
}

int
config_parse_url(const char *url, struct config_source *src,
    unsigned *named, const char **why)
{
	static const char github[] = "https://github.com/";
	static const char raw[] = "https://raw.githubusercontent.com/";
	char *user = NULL, *repo = NULL, *branch = NULL, *dir = NULL;
	const char *p;
	bool is_raw;

	*why = "expected https://github.com/USER/REPO/tree/BRANCH/DIR (or "
	    "/blob/) or https://raw.githubusercontent.com/USER/REPO/BRANCH/DIR";
	if (strncmp(url, github, sizeof(github) - 1) == 0)
		is_raw = false, p = url + sizeof(github) - 1;
	else if (strncmp(url, raw, sizeof(raw) - 1) == 0)
		is_raw = true, p = url + sizeof(raw) - 1;
	else
		return -1;
	user = next_component(&p);
	repo = next_component(&p);
	if (user == NULL || repo == NULL)
		goto fail;
	if (!is_raw && *p) {
		/* Senko's own README names folders with /blob/ URLs. */
		char *tree = next_component(&p);
		bool ok = tree && (strcmp(tree, "tree") == 0 ||
		    strcmp(tree, "blob") == 0);

		free(tree);
		if (!ok)
			goto fail;
	}
	if (*p) {
		branch = next_component(&p);
		if (branch == NULL)
			goto fail;
		if (!valid_branch(branch)) {
			*why = "the branch is not a name git allows";
			goto fail;
		}
	} else if (is_raw)
		goto fail;
	dir = normalize_relpath(p, why);
	if (dir == NULL)
		goto fail;
	if (!valid_name(user) || !valid_name(repo)) {
		*why = "the owner or repository name has characters GitHub "
		    "does not allow";
		goto fail;
	}
	free(src->user);
	free(src->repo);
	src->user = user;
	src->repo = repo;
	*named = 0;
	if (*dir) {
		free(src->working_dir);
		src->working_dir = dir;
		*named |= CONFIG_URL_FOLDER;
	} else
		free(dir);
	if (branch) {
		free(src->branch);
		src->branch = branch;
		*named |= CONFIG_URL_BRANCH;
	}
	return 0;
fail:
	free(user);
	free(repo);
	free(branch);
	free(dir);
	return -1;
}

const char *
health_mode_name(enum health_mode m)
{
	switch (m) {
	case HEALTH_BOOT:
		return "boot";
	case HEALTH_LINE:
		return "line";
	case HEALTH_NONE:
		return "none";
	}
	return "?";
}

const char *
reset_mode_name(enum reset_mode m)
{
	switch (m) {
	case RESET_NONE:
		return "none";
	case RESET_SOFT:
		return "soft";
	case RESET_HARD:
		return "hard";
	}
	return "?";
}

const char *
source_api_name(enum source_api a)
{
	return a == SOURCE_API_CONTENTS ? "contents" : "trees";
}

static void
print_duration(FILE *out, unsigned s)
{
	if (s == 0)
		fprintf(out, "0s");
	else if (s % 3600 == 0)
		fprintf(out, "%uh", s / 3600);
	else if (s % 60 == 0)
		fprintf(out, "%um", s / 60);
	else
		fprintf(out, "%us", s);
}

/* "key = 90s" in the largest whole unit (1h, 5m, 90s), then a newline. */
static void
print_duration_line(FILE *out, const char *key, int width, unsigned s)
{
	fprintf(out, "%-*s = ", width, key);
	print_duration(out, s);
	fputc('\n', out);
}

/* The longest line read_line() takes: inih's buffer less "\n\0". */
#define CONFIG_LINE_MAX (INI_MAX_LINE - 2)

/*
 * "key   = value", padded to width; "key=value" when that would make the
 * line longer than the reader takes (a value read from a line fits so),
 * or when the value starts with ';', which after white space starts a
 * comment: what is printed must load again.
 */
static void
print_value(FILE *out, const char *key, int width, const char *value)
{
	if (value[0] != ';' &&
	    (size_t)width + 3 + strlen(value) <= CONFIG_LINE_MAX)
		fprintf(out, "%-*s = %s\n", width, key, value);
	else
		fprintf(out, "%s=%s\n", key, value);
}

/*
 * A folder (working_dir, dest) whose name starts or ends in white space,
 * which reading would trim: written between the '/' reading drops again.
 */
static void
print_folder(FILE *out, const char *key, int width, const char *value)
{
	size_t n = strlen(value);
	char *shown;

	if (n == 0 || (!isspace((unsigned char)value[0]) &&
	    !isspace((unsigned char)value[n - 1]))) {
		print_value(out, key, width, value);
		return;
	}
	shown = xasprintf("%s%s/", value[0] == '/' ? "" : "/", value);
	print_value(out, key, width, shown);
	free(shown);
}

/*
 * files, wrapped onto indented continuation lines within the limit.  A
 * path starting with '#' or ';' would read as a comment after white
 * space, one starting with '[' as a section at the start of a line: such
 * a path is written with a leading '/', which reading drops again.
 */
static void
print_files(FILE *out, const struct config_source *s)
{
	size_t j, col, n;
	bool slash;

	/* Not "files = # ...": a value may start with '#', and this one
	 * would read back as the files "#", "(all" and "files)". */
	if (s->nfiles == 0) {
		fprintf(out, "# files: not set, every file below working_dir\n");
		return;
	}
	fprintf(out, "files       =");
	col = 13;
	for (j = 0; j < s->nfiles; j++) {
		slash = strchr("#;[", s->files[j][0]) != NULL;
		n = strlen(s->files[j]) + slash;
		if (col > 1 && col + 1 + n > 78) {
			fprintf(out, "\n");
			col = 0;
		}
		fprintf(out, " %s%s", slash ? "/" : "", s->files[j]);
		col += 1 + n;
	}
	fprintf(out, "\n");
}

void
config_print(const struct config *cfg, FILE *out)
{
	const char *env = getenv("SENKO_TOKEN");
	size_t i, j;

	fprintf(out, "# effective configuration of %s\n[senkod]\n", cfg->path);
	fprintf(out, "interval   = ");
	print_duration(out, cfg->interval);
	fprintf(out, "\n");
	print_value(out, "state_dir", 10, cfg->state_dir);
	print_value(out, "api_url", 10, cfg->api_url);
	print_value(out, "token_file", 10, cfg->token_file);
	if (env && *env)
		fprintf(out, "# token: set from $SENKO_TOKEN (redacted)\n");
	else if (*cfg->token_file && access(cfg->token_file, F_OK) == 0)
		fprintf(out, "# token: set from token_file (redacted)\n");
	else
		fprintf(out, "# token: none (public repositories only, 60 "
		    "requests an hour)\n");
	print_value(out, "ca_file", 10, cfg->ca_file);
	fprintf(out, "jobs       = %u\n", cfg->jobs);
	print_value(out, "metrics_file", 12, cfg->metrics_file);
	if (cfg->mqtt.enabled) {
		const struct config_mqtt *m = &cfg->mqtt;

		fprintf(out, "\n[mqtt]\n");
		print_value(out, "url", 13, m->url);
		print_value(out, "username", 13, m->username);
		print_value(out, "password_file", 13, m->password_file);
		print_value(out, "ca_file", 13, m->ca_file);
		print_value(out, "client_id", 13, m->client_id);
		print_value(out, "topic_prefix", 13, m->topic_prefix);
		fprintf(out, "qos           = %u\n", m->qos);
	}
	for (i = 0; i < cfg->nsources; i++) {
		const struct config_source *s = &cfg->sources[i];

		fprintf(out, "\n[source %s]\n", s->name);
		if (s->path) {
			print_value(out, "path", 11, s->path);
		} else {
			print_value(out, "user", 11, s->user);
			print_value(out, "repo", 11, s->repo);
			if (s->branch)
				print_value(out, "branch", 11, s->branch);
			else
				fprintf(out, "# branch: not set, the repository's "
				    "default branch\n");
		}
		print_folder(out, "working_dir", 11, s->working_dir);
		if (!s->path)
			print_value(out, "api", 11, source_api_name(s->api));
		print_files(out, s);
		/* One line each: the key may be repeated. */
		for (j = 0; j < s->nexclude; j++)
			print_value(out, "exclude", 11, s->exclude[j]);
		print_duration_line(out, "soak", 11, s->soak);
	}
	for (i = 0; i < cfg->ndevices; i++) {
		const struct config_device *d = &cfg->devices[i];

		fprintf(out, "\n[device %s]\n", d->name);
		print_value(out, "port", 6, d->port);
		fprintf(out, "baud   = %u\n", d->baud);
		print_value(out, "source", 6, d->source);
		print_folder(out, "dest", 6, d->dest);
		print_value(out, "reset", 6, reset_mode_name(d->reset));
		print_value(out, "prune", 6, d->prune ? "yes" : "no");
		/* Seconds always: "1m" is not a boot_watch it reads. */
		fprintf(out, "boot_watch = %us\n", d->boot_watch);
		fprintf(out, "ring   = %u\n", d->ring);
		if (d->health == HEALTH_LINE) {
			char *h = xasprintf("line %s", d->health_line);

			print_value(out, "health", 6, h);
			free(h);
		} else
			print_value(out, "health", 6,
			    health_mode_name(d->health));
		print_duration_line(out, "health_timeout", 14,
		    d->health_timeout);
		if (d->pin)
			print_value(out, "pin", 6, d->pin);
		print_value(out, "rollback", 6, d->rollback ? "yes" : "no");
		if (d->verify_interval)
			print_duration_line(out, "verify_interval", 15,
			    d->verify_interval);
		else
			fprintf(out, "verify_interval = off\n");
	}
}

/* Is url's host this machine (a test server)? */
static bool
url_is_loopback(const char *url)
{
	const char *host = strstr(url, "://");
	size_t n;

	if (host == NULL)
		return false;
	host += 3;
	if (strncmp(host, "[::1]", 5) == 0)
		return host[5] == '\0' || host[5] == ':' || host[5] == '/';
	n = strcspn(host, ":/");
	if (n == 9 && strncmp(host, "localhost", 9) == 0)
		return true;
	return n >= 7 && strncmp(host, "127.", 4) == 0 &&
	    strspn(host, "0123456789.") == n;
}

/*
 * The token is the first line of the file (or all of SENKO_TOKEN) without
 * the white space around it.  A NUL, or white space or a control character inside it, is an
 * error: it would cut the token short or break the Authorization header.
 */
static int
token_from_text(const char *what, struct buf *b, bool first_line)
{
	size_t start = 0, end, i;

	/* strcspn stops at a NUL too: a first line that ends before the
	 * file does, without a line break, ends at a NUL. */
	end = first_line ? strcspn(b->data, "\r\n") : b->len;
	if (end < b->len && b->data[end] == '\0')
		return log_failx("%s has a NUL byte in its first line; write "
		    "the token alone on the first line", what);
	while (start < end && isspace((unsigned char)b->data[start]))
		start++;
	while (end > start && isspace((unsigned char)b->data[end - 1]))
		end--;
	if (end == start)
		return log_failx("%s is empty: write the token on its first "
		    "line, or set token_file = (empty) for public "
		    "repositories", what);
	for (i = start; i < end; i++)
		if ((unsigned char)b->data[i] <= ' ' ||
		    (unsigned char)b->data[i] == 0x7f)
			return log_failx("%s: the token has white space or a "
			    "control character in it (at byte %zu); write the "
			    "token alone on the first line", what,
			    i - start + 1);
	memmove(b->data, b->data + start, end - start);
	b->data[end - start] = '\0';
	b->len = end - start;
	return 0;
}

/*
 * Read a file that holds a secret into b: a regular file of at most
 * 64 KiB that other users cannot read (readable by its group is only
 * warned about).  what names it in messages ("token file").  On error b
 * is wiped and released; returns 0 or -1 (logged).
 */
static int
read_secret_file(const char *path, const char *what, struct buf *b)
{
	struct stat st;

	b->max = 64 * 1024;
	if (fs_read_regular(path, what, b, &st) == -1) {
		buf_release(b);
		return -1;
	}
	if (st.st_mode & S_IROTH) {
		explicit_bzero(b->data, b->alloc);
		buf_release(b);
		return log_failx("%s '%s' is readable by every user; run: "
		    "chmod 600 '%s'", what, path, path);
	}
	if (st.st_mode & S_IRGRP)
		log_warnx("%s '%s' is readable by its group; consider chmod "
		    "600", what, path);
	return 0;
}

static int
read_token_file(const struct config *cfg, char **token)
{
	struct buf b = BUF_INIT;
	struct stat st;
	char *what;
	int rc;

	if (lstat(cfg->token_file, &st) == -1) {
		if (errno == ENOENT) {
			log_debug("no token file '%s': using the API without "
			    "a token", cfg->token_file);
			return 0;
		}
		return log_fail("cannot read token file '%s'", cfg->token_file);
	}
	if (S_ISLNK(st.st_mode) && stat(cfg->token_file, &st) == -1)
		return log_fail("token file '%s' is a symbolic link to nothing "
		    "usable; fix the link, or set token_file = (empty) for "
		    "public repositories", cfg->token_file);
	if (read_secret_file(cfg->token_file, "token file", &b) == -1)
		return -1;
	what = xasprintf("token file '%s'", cfg->token_file);
	rc = token_from_text(what, &b, true);
	free(what);
	if (rc == -1) {
		explicit_bzero(b.data, b.alloc);
		buf_release(&b);
		return -1;
	}
	*token = buf_detach(&b, NULL);
	return 0;
}

int
config_load_token(const struct config *cfg, char **token)
{
	const char *env = getenv("SENKO_TOKEN");

	*token = NULL;
	if (env && *env) {
		struct buf b = BUF_INIT;

		/* Checked like the file: a line break in it would add a
		 * header of its own to every request. */
		buf_addstr(&b, env);
		if (token_from_text("SENKO_TOKEN", &b, false) == -1) {
			explicit_bzero(b.data, b.alloc);
			buf_release(&b);
			return -1;
		}
		*token = buf_detach(&b, NULL);
	} else if (*cfg->token_file && read_token_file(cfg, token) == -1)
		return -1;
	/* Over plain http a token travels in clear: only to this machine. */
	if (*token && strncmp(cfg->api_url, "http://", 7) == 0 &&
	    !url_is_loopback(cfg->api_url)) {
		explicit_bzero(*token, strlen(*token));
		free(*token);
		*token = NULL;
		return log_failx("%s: api_url '%s' is plain http and a token is "
		    "set (%s): refusing to send the token in clear; use "
		    "https:// (http is for a test server on this machine: "
		    "localhost, 127.0.0.1, [::1])", cfg->path, cfg->api_url,
		    env && *env ? "SENKO_TOKEN" : cfg->token_file);
	}
	return 0;
}

int
config_check_ca_file(const char *path, const char *what)
{
	struct buf b = BUF_INIT;
	bool pem;

	if (*path == '\0')
		return 0;
	b.max = 4 * 1024 * 1024;
	if (fs_read_regular(path, what, &b, NULL) == -1) {
		buf_release(&b);
		return -1;
	}
	pem = memmem(b.data, b.len, "-----BEGIN CERTIFICATE-----", 27) != NULL;
	buf_release(&b);
	if (!pem)
		return log_failx("%s '%s' holds no certificate: give a PEM "
		    "file (-----BEGIN CERTIFICATE-----), or leave the key "
		    "empty for the system's certificate authorities", what,
		    path);
	return 0;
}

/*
 * The MQTT password file follows token_file's rules: a regular file,
 * refused when every user can read it, a warning when its group can; the
 * password is its first line without the white space around it.
 */
int
config_load_mqtt_password(const struct config_mqtt *m, char **password)
{
	const char *path = m->password_file;
	struct buf b = BUF_INIT;
	size_t n;

	*password = NULL;
	if (*path == '\0')
		return 0;
	if (read_secret_file(path, "[mqtt] password_file", &b) == -1)
		return -1;
	n = strcspn(b.data, "\r\n");
	b.data[n] = '\0';
	b.len = n;
	buf_rtrim(&b);
	if (b.len == 0) {
		buf_release(&b);
		return log_failx("[mqtt] password_file '%s' is empty: write the "
		    "password on its first line", path);
	}
	*password = buf_detach(&b, NULL);
	return 0;
}
