/*
 * helper-forge_poll - drive the forge from test scripts.
 *
 * usage: helper-forge_poll -c CONF [-n ROUNDS] [-N] [-j] [-s] [-t] [-w] [-v]
 *   -n ROUNDS  poll every source ROUNDS times in one process (default 1)
 *   -N         do not fetch blobs
 *   -j         print each manifest as JSON after its summary line
 *   -s         print the saved manifests (no network) and exit
 *   -w         before a round, sleep until forge_retry_after() allows it
 *   -t         print "latency NAME MS" after each poll
 *   -v         debug logging
 *
 * Each source is polled once per round, however many devices use it, as
 * the daemon does.  Prints per source and round:
 *   poll NAME ok commit=SHA files=N changed=yes|no
 *   fetch NAME ok|error
 *   poll NAME error: <message>
 * and at the end:
 *   stats requests=N not_modified=N blobs=N bytes=N retry_after=S
 * Exit status 1 when anything failed in the last round.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "forge.h"
#include "log.h"
#include "manifest.h"
#include "store.h"

static void
print_manifest(const struct manifest *m)
{
	struct buf b = BUF_INIT;

	if (manifest_to_json(m, &b) == 0)
		printf("%s\n", b.data);
	buf_release(&b);
}

static int
print_saved(const struct config *cfg, bool json)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < cfg->nsources; i++) {
		struct manifest m = MANIFEST_INIT;

		if (forge_saved_manifest(cfg, &cfg->sources[i], &m) == -1) {
			printf("saved %s none\n", cfg->sources[i].name);
			rc = 1;
			continue;
		}
		printf("saved %s commit=%s files=%zu\n", cfg->sources[i].name,
		    m.commit, m.n);
		if (json)
			print_manifest(&m);
		manifest_release(&m);
	}
	return rc;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
round_once(struct forge *f, const struct config *cfg, bool fetch, bool json,
    bool timing)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < cfg->nsources; i++) {
		const struct config_source *src = &cfg->sources[i];
		struct manifest m = MANIFEST_INIT;
		bool changed;
		double t0 = now_ms();
		int r;

		log_clear_error();
		r = forge_poll(f, src, &m, &changed);
		if (timing)
			printf("latency %s %.1f\n", src->name, now_ms() - t0);
		if (r == -1) {
			printf("poll %s error: %s\n", src->name,
			    log_last_error());
			rc = 1;
			continue;
		}
		printf("poll %s ok commit=%s files=%zu changed=%s\n", src->name,
		    m.commit, m.n, changed ? "yes" : "no");
		if (json)
			print_manifest(&m);
		if (fetch) {
			log_clear_error();
			if (forge_fetch_blobs(f, src, &m) == -1) {
				printf("fetch %s error: %s\n", src->name,
				    log_last_error());
				rc = 1;
			} else
				printf("fetch %s ok\n", src->name);
		}
		manifest_release(&m);
	}
	fflush(stdout);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *conf = NULL;
	bool fetch = true, json = false, saved = false, wait = false;
	bool timing = false, config_error = false;
	int ch, rounds = 1, verbosity = 0, rc = 0, r;
	const struct forge_stats *st;
	struct config *cfg;
	struct store store;
	struct forge *f;
	time_t ra;

	while ((ch = getopt(argc, argv, "c:n:Njstwv")) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 'n':
			rounds = atoi(optarg);
			break;
		case 'N':
			fetch = false;
			break;
		case 'j':
			json = true;
			break;
		case 's':
			saved = true;
			break;
		case 't':
			timing = true;
			break;
		case 'w':
			wait = true;
			break;
		case 'v':
			verbosity = 1;
			break;
		default:
			fprintf(stderr, "usage: helper-forge_poll -c CONF [-n "
			    "ROUNDS] [-N] [-j] [-s] [-t] [-w] [-v]\n");
			return 2;
		}
	}
	log_init("helper-forge_poll", verbosity, 0);
	if (conf == NULL || (cfg = config_load(conf)) == NULL)
		return 78;
	if (saved) {
		rc = print_saved(cfg, json);
		config_free(cfg);
		return rc;
	}
	if (store_init(&store, cfg->state_dir) == -1 ||
	    (f = forge_new(cfg, &store, &config_error)) == NULL) {
		config_free(cfg);
		return config_error ? 78 : 1;
	}
	for (r = 0; r < rounds; r++) {
		ra = forge_retry_after(f);
		if (wait && ra > 0) {
			printf("wait %lld\n", (long long)(ra - time(NULL)));
			fflush(stdout);
			while (time(NULL) < ra)
				sleep(1);
		}
		rc = round_once(f, cfg, fetch, json, timing);
	}
	st = forge_stats(f);
	ra = forge_retry_after(f);
	printf("stats requests=%u not_modified=%u blobs=%u bytes=%llu "
	    "retry_after=%lld\n", st->requests, st->not_modified,
	    st->blobs_fetched, (unsigned long long)st->bytes_received,
	    ra ? (long long)(ra - time(NULL)) : 0LL);
	forge_free(f);
	store_release(&store);
	config_free(cfg);
	return rc;
}
