/*
 * fuzz_config - the configuration reader (config.c) on arbitrary files.
 *
 * Each input is written to an in-memory file (memfd) and loaded with
 * config_load(), the way senko reads senko.conf.  A loaded configuration
 * must keep the promises of config.h (names, ranges, dest and working_dir
 * shapes, device-to-source links), and what config_print() writes must
 * load again as the same configuration (every field) and print the same:
 * `senko config show` output is a valid configuration meaning the same.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "log.h"
#include "path.h"

static int conf_fd = -1;
static char conf_path[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* FUZZ_VERBOSE=1 shows what config.c logs, to read one input. */
	if (getenv("FUZZ_VERBOSE") != NULL)
		log_init("fuzz_config", 0, 0);
	else {
		log_init("fuzz_config", -1, 0);
		log_thread_quiet(1);
	}
	/* config_print() says where a token comes from: keep it stable. */
	unsetenv("SENKO_TOKEN");
	conf_fd = memfd_create("senko.conf", 0);
	if (conf_fd == -1) {
		perror("memfd_create");
		abort();
	}
	snprintf(conf_path, sizeof(conf_path), "/proc/self/fd/%d", conf_fd);
	return 0;
}

static void
set_file(const void *data, size_t size)
{
	FUZZ_CHECK(ftruncate(conf_fd, 0) == 0, "ftruncate: %s",
	    strerror(errno));
	FUZZ_CHECK(pwrite(conf_fd, data, size, 0) == (ssize_t)size,
	    "pwrite: %s", strerror(errno));
}

static bool
relpath_ok(const char *p)
{
	return *p == '\0' || path_is_safe(p, strlen(p), NULL);
}

/* The promises of config.h about a configuration that loaded. */
static void
check_config(const struct config *cfg)
{
	size_t i, j;

	FUZZ_CHECK(cfg->interval >= 1 && cfg->interval <= 7 * 24 * 3600,
	    "interval %u", cfg->interval);
	FUZZ_CHECK(cfg->jobs >= 1 && cfg->jobs <= 64, "jobs %u", cfg->jobs);
	FUZZ_CHECK(strncmp(cfg->api_url, "https://", 8) == 0 ||
	    strncmp(cfg->api_url, "http://", 7) == 0, "api_url '%s'",
	    cfg->api_url);
	FUZZ_CHECK(cfg->api_url[strlen(cfg->api_url) - 1] != '/',
	    "api_url '%s' ends in '/'", cfg->api_url);
	for (i = 0; i < cfg->nsources; i++) {
		const struct config_source *s = &cfg->sources[i];

		/* A local folder (absolute, no repository), or a repository
		 * whose branch, when set, is not empty (unset: its default). */
		FUZZ_CHECK(s->path ? s->path[0] == '/' && !s->user &&
		    !s->repo : s->user && *s->user && s->repo && *s->repo &&
		    (!s->branch || *s->branch), "source '%s' incomplete",
		    s->name);
		for (j = 0; j < s->nexclude; j++)
			FUZZ_CHECK(*s->exclude[j] && s->exclude[j][0] != '/',
			    "source '%s' exclude '%s'", s->name, s->exclude[j]);
		FUZZ_CHECK(relpath_ok(s->working_dir) &&
		    s->working_dir[0] != '/',
		    "source '%s' working_dir '%s'", s->name, s->working_dir);
		for (j = 0; j < s->nfiles; j++)
			FUZZ_CHECK(*s->files[j] && relpath_ok(s->files[j]),
			    "source '%s' file '%s'", s->name, s->files[j]);
		for (j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(cfg->sources[j].name, s->name) != 0,
			    "source '%s' twice", s->name);
	}
	for (i = 0; i < cfg->ndevices; i++) {
		const struct config_device *d = &cfg->devices[i];
		size_t n = strlen(d->dest);

		FUZZ_CHECK(d->port && *d->port, "device '%s' port", d->name);
		FUZZ_CHECK(d->source_index < cfg->nsources &&
		    strcmp(cfg->sources[d->source_index].name, d->source) == 0,
		    "device '%s' source '%s'", d->name, d->source);
		FUZZ_CHECK(d->dest[0] == '/' && (n == 1 ||
		    (d->dest[n - 1] != '/' && relpath_ok(d->dest + 1))),
		    "device '%s' dest '%s'", d->name, d->dest);
		FUZZ_CHECK(config_source_of(cfg, d) ==
		    &cfg->sources[d->source_index], "config_source_of");
		FUZZ_CHECK(config_find_device(cfg, d->name) == d,
		    "device '%s' twice or not found", d->name);
	}
}

#define SAME_STR(a, b, what) \
	FUZZ_CHECK(strcmp(a, b) == 0, "%s: '%s' printed and read back as " \
	    "'%s'", what, a, b)
/* A string that may be NULL (unset). */
#define SAME_OPT(a, b, what) \
	FUZZ_CHECK((!(a) && !(b)) || ((a) && (b) && strcmp(a, b) == 0), \
	    "%s: '%s' printed and read back as '%s'", what, \
	    (a) ? (a) : "(unset)", (b) ? (b) : "(unset)")
#define SAME_NUM(a, b, what) \
	FUZZ_CHECK((a) == (b), "%s: %llu printed and read back as %llu", \
	    what, (unsigned long long)(a), (unsigned long long)(b))

/* Every field of config.h: the print read back means the same. */
static void
check_same(const struct config *a, const struct config *b)
{
	size_t i, j;

	SAME_NUM(a->interval, b->interval, "interval");
	SAME_STR(a->state_dir, b->state_dir, "state_dir");
	SAME_STR(a->api_url, b->api_url, "api_url");
	SAME_STR(a->token_file, b->token_file, "token_file");
	SAME_STR(a->ca_file, b->ca_file, "ca_file");
	SAME_NUM(a->jobs, b->jobs, "jobs");
	SAME_STR(a->metrics_file, b->metrics_file, "metrics_file");
	SAME_NUM(a->mqtt.enabled, b->mqtt.enabled, "[mqtt]");
	if (a->mqtt.enabled) {
		SAME_STR(a->mqtt.url, b->mqtt.url, "mqtt url");
		SAME_STR(a->mqtt.username, b->mqtt.username, "username");
		SAME_STR(a->mqtt.password_file, b->mqtt.password_file,
		    "password_file");
		SAME_STR(a->mqtt.ca_file, b->mqtt.ca_file, "mqtt ca_file");
		SAME_STR(a->mqtt.client_id, b->mqtt.client_id, "client_id");
		SAME_STR(a->mqtt.topic_prefix, b->mqtt.topic_prefix,
		    "topic_prefix");
		SAME_NUM(a->mqtt.qos, b->mqtt.qos, "qos");
	}
	SAME_NUM(a->nsources, b->nsources, "number of sources");
	SAME_NUM(a->ndevices, b->ndevices, "number of devices");
	for (i = 0; i < a->nsources; i++) {
		const struct config_source *x = &a->sources[i];
		const struct config_source *y = &b->sources[i];

		SAME_STR(x->name, y->name, "source name");
		SAME_OPT(x->user, y->user, "user");
		SAME_OPT(x->repo, y->repo, "repo");
		SAME_OPT(x->branch, y->branch, "branch");
		SAME_OPT(x->path, y->path, "path");
		SAME_NUM(x->nexclude, y->nexclude, "number of excludes");
		for (j = 0; j < x->nexclude; j++)
			SAME_STR(x->exclude[j], y->exclude[j], "exclude");
		SAME_STR(x->working_dir, y->working_dir, "working_dir");
		SAME_NUM(x->api, y->api, "api");
		SAME_NUM(x->soak, y->soak, "soak");
		SAME_NUM(x->nfiles, y->nfiles, "number of files");
		for (j = 0; j < x->nfiles; j++)
			SAME_STR(x->files[j], y->files[j], "files");
	}
	for (i = 0; i < a->ndevices; i++) {
		const struct config_device *x = &a->devices[i];
		const struct config_device *y = &b->devices[i];

		SAME_STR(x->name, y->name, "device name");
		SAME_STR(x->port, y->port, "port");
		SAME_NUM(x->baud, y->baud, "baud");
		SAME_STR(x->source, y->source, "source");
		SAME_NUM(x->source_index, y->source_index, "source index");
		SAME_STR(x->dest, y->dest, "dest");
		SAME_NUM(x->reset, y->reset, "reset");
		SAME_NUM(x->prune, y->prune, "prune");
		SAME_NUM(x->boot_watch, y->boot_watch, "boot_watch");
		SAME_NUM(x->verify_interval, y->verify_interval,
		    "verify_interval");
		SAME_NUM(x->ring, y->ring, "ring");
		SAME_NUM(x->health, y->health, "health");
		SAME_OPT(x->health_line, y->health_line, "health line");
		SAME_NUM(x->health_timeout, y->health_timeout,
		    "health_timeout");
		SAME_OPT(x->pin, y->pin, "pin");
		SAME_NUM(x->rollback, y->rollback, "rollback");
	}
}

/* config_print() without its first line, which names the file. */
static char *
print_config(const struct config *cfg, size_t *len)
{
	char *text = NULL, *body;
	size_t size = 0;
	FILE *fp = open_memstream(&text, &size);

	FUZZ_CHECK(fp != NULL, "open_memstream");
	config_print(cfg, fp);
	fclose(fp);
	body = strchr(text, '\n');
	FUZZ_CHECK(body != NULL, "config_print wrote no header line");
	body++;
	*len = size - (size_t)(body - text);
	memmove(text, body, *len + 1);
	return text;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg, *again;
	char *printed, *reprinted;
	size_t len, len2;

	set_file(data, size);
	cfg = config_load(conf_path);
	if (cfg == NULL)
		return 0;
	check_config(cfg);
	printed = print_config(cfg, &len);

	set_file(printed, len);
	again = config_load(conf_path);
	FUZZ_CHECK(again != NULL, "the printed configuration does not load "
	    "(%s):\n%s", log_last_error(), printed);
	check_config(again);
	check_same(cfg, again);
	config_free(cfg);
	reprinted = print_config(again, &len2);
	FUZZ_CHECK(len == len2 && memcmp(printed, reprinted, len) == 0,
	    "printed twice, two configurations:\n%s\n----\n%s", printed,
	    reprinted);
	config_free(again);
	free(printed);
	free(reprinted);
	return 0;
}
