/*
 * config.h - senko.conf: reading, validating and printing it.
 *
 * The file is INI (parsed by inih) with three kinds of section:
 * [senkod] (global settings), [source NAME] (a repository location) and
 * [device NAME] (a board).  config_load() validates everything it can
 * without touching the network or the boards; every error names the file,
 * the line and the key, and a failed load leaves no half-built config.
 * Keys are looked up in keyword tables in config.c: adding a key is one
 * table entry.
 *
 * Ownership: struct config owns every string and array in it; free it with
 * config_free().  Devices refer to their source by index, so the arrays
 * may grow while loading without leaving dangling pointers.
 */
#ifndef SENKO_CONFIG_H
#define SENKO_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CONFIG_DEFAULT_PATH "/etc/senko/senko.conf"
#define CONFIG_EXIT_ERROR 78 /* EX_CONFIG */

enum source_api {
	SOURCE_API_TREES,    /* commits + recursive tree + blobs */
	SOURCE_API_CONTENTS, /* the contents API, as Senko used it */
};

/* Seconds senko reads what a board prints after restarting it. */
#define DEFAULT_BOOT_WATCH 2

enum reset_mode {
	RESET_NONE,
	RESET_SOFT,
	RESET_HARD,
};

/* How a board proves it is healthy after an update (rollout.h). */
enum health_mode {
	HEALTH_BOOT,  /* no traceback during the boot watch (default) */
	HEALTH_LINE,  /* a line matching health_line within health_timeout */
	HEALTH_NONE,  /* no check */
};

/* Rings run 0 to CONFIG_RING_MAX; lower rings update first. */
#define CONFIG_RING_MAX 9
#define DEFAULT_RING 1
#define DEFAULT_HEALTH_TIMEOUT 10

struct config_source {
	char *name;
	char *user;
	char *repo;
	char *branch;
	char *working_dir; /* "" = repository root; no leading/trailing '/' */
	char **files;      /* NULL = everything under working_dir */
	size_t nfiles;
	char **exclude;    /* fnmatch globs of paths to leave out */
	size_t nexclude;
	char *path;        /* a local folder instead of a forge; NULL if none */
	enum source_api api;
	unsigned soak;     /* seconds each ring stays healthy before the
	                      next ring gets a commit (rollout.h) */
	int line;          /* of the section header */
};

struct config_device {
	char *name;
	char *port;
	unsigned baud;
	char *source;        /* name as written */
	size_t source_index; /* into config.sources */
	char *dest;          /* absolute board folder, "/" or no trailing '/' */
	enum reset_mode reset;
	bool prune;
	unsigned boot_watch; /* seconds of output read after a reset */
	unsigned ring;       /* 0..CONFIG_RING_MAX: rollout order */
	enum health_mode health;
	char *health_line;   /* HEALTH_LINE: the POSIX extended regex */
	unsigned health_timeout; /* seconds HEALTH_LINE waits for it */
	char *pin;           /* a ref of its source to stay at; NULL none */
	bool rollback;       /* roll back automatically on a failed check */
	unsigned verify_interval; /* seconds between record checks senkod
	                             makes unasked; 0 = off */
	int line;
};

/* The [mqtt] section (mqtt.h); enabled only when the file has one. */
struct config_mqtt {
	bool enabled;
	char *url;           /* as written, mqtt://HOST[:PORT] or mqtts:// */
	bool tls;            /* mqtts:// */
	char *host;          /* without brackets */
	unsigned port;       /* 1883 / 8883 unless given */
	char *username;      /* "" = none */
	char *password_file; /* "" = none */
	char *ca_file;       /* "" = the system's CAs */
	char *client_id;     /* default senko-HOSTNAME */
	char *topic_prefix;  /* default senko/HOSTNAME; no '/' at either end */
	unsigned qos;        /* 0, 1 or 2 */
	int line;
};

struct config {
	char *path;
	unsigned interval;   /* seconds */
	char *state_dir;
	char *api_url;       /* no trailing '/' */
	char *token_file;    /* "" = none */
	char *ca_file;       /* "" = system CAs */
	unsigned jobs;
	char *metrics_file;  /* "" = none (metrics.h) */
	struct config_mqtt mqtt;
	struct config_source *sources;
	size_t nsources;
	struct config_device *devices;
	size_t ndevices;
};

/* Load and validate path.  Returns a new config or NULL (errors logged). */
struct config *config_load(const char *path);
void config_free(struct config *cfg);

const struct config_source *config_source_of(const struct config *cfg,
    const struct config_device *dev);
const struct config_device *config_find_device(const struct config *cfg,
    const char *name);

/* Print the effective configuration as INI; the token is never printed. */
void config_print(const struct config *cfg, FILE *out);

/*
 * The API token: $SENKO_TOKEN, else the first line of token_file.  Sets
 * *token to a new string, or NULL when none is configured (public repos).
 * Refuses a token file others can read; warns when its group can.
 */
int config_load_token(const struct config *cfg, char **token);

/* Whether a path relative to working_dir matches an `exclude` glob: a
 * glob without '/' is matched against each name in the path (so "*.md"
 * and "tests" work at any depth), one with '/' against each leading part
 * of the path, as a whole (FNM_PATHNAME); one ending in '/' only against
 * the leading parts that are folders ("tests/": the folder tests). */
bool config_source_excludes(const struct config_source *src,
    const char *relpath);

/* Parse an [mqtt] url into m's url, host, port and tls; -1 and *why. */
int config_parse_mqtt_url(const char *url, struct config_mqtt *m,
    const char **why);
/* The [mqtt] defaults (qos 1, empty user, password_file and ca_file). */
void config_mqtt_defaults(struct config_mqtt *m);
void config_mqtt_release(struct config_mqtt *m);

/*
 * A ca_file (what names the key, as "[senkod] ca_file"): 0 when path is
 * empty or a readable regular file that holds a PEM certificate; -1
 * (logged) otherwise, a configuration error.
 */
int config_check_ca_file(const char *path, const char *what);

/*
 * The MQTT password: the first line of m->password_file, with the
 * token file's rules (not readable by others).  *password is a new string,
 * or NULL when no password_file is set.  Returns 0 or -1 (logged).
 */
int config_load_mqtt_password(const struct config_mqtt *m, char **password);

/* A ref name git and the forge accept (a tag, branch or commit SHA). */
bool config_valid_ref(const char *ref);

/* Parse "90", "30s", "5m", "2h" into seconds; -1 on error. */
int config_parse_duration(const char *s, unsigned *seconds);
/*
 * Parse a Senko-style URL into a source's user, repo, and the branch and
 * working_dir where it names them (*named: CONFIG_URL_BRANCH,
 * CONFIG_URL_FOLDER); what it does not name is left as it is.
 */
#define CONFIG_URL_BRANCH 0x1
#define CONFIG_URL_FOLDER 0x2
int config_parse_url(const char *url, struct config_source *src,
    unsigned *named, const char **why);

const char *reset_mode_name(enum reset_mode m);
/* "boot", "line", "none" */
const char *health_mode_name(enum health_mode m);
const char *source_api_name(enum source_api a);

#endif
