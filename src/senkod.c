/*
 * senkod.c - main() of the daemon.
 *
 *   senkod [-c FILE] [--once] [--foreground] [-v|-q]
 *
 * Under systemd (Type=notify) run it with --foreground; without it senkod
 * detaches from the terminal, keeping stderr for its log.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "statedir.h"
#include "version.h"
#include "banned.h"

static void
usage(FILE *out)
{
	fprintf(out, "usage: senkod [-c FILE] [--once] [--foreground] "
	    "[-v|-q]\n       senkod --help | --version\n\n"
	    "Keeps MicroPython boards running the files of a GitHub "
	    "repository.\n\n"
	    "  -c, --config FILE  configuration (default %s)\n"
	    "  -1, --once         one poll-and-sync cycle, then exit\n"
	    "  -f, --foreground   do not detach (systemd, terminals)\n"
	    "  -v, --verbose      debug messages\n"
	    "  -q, --quiet        warnings and errors only\n"
	    "  -h, --help         this text\n"
	    "  -V, --version      the version of senkod\n\n"
	    "exit status: 0 all in sync, 1 some device or source failed, "
	    "2 usage error,\n78 configuration error.  Signals: HUP reloads, "
	    "USR1 polls now, TERM stops.\nSee senkod(8).\n",
	    CONFIG_DEFAULT_PATH);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "once", no_argument, NULL, '1' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = CONFIG_DEFAULT_PATH;
	int ch, once = 0, foreground = 0, verbosity = 0, status, rc;
	struct daemon d;

	while ((ch = getopt_long(argc, argv, "c:1fvqhV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case '1':
			once = 1;
			break;
		case 'f':
			foreground = 1;
			break;
		case 'v':
			verbosity = 1;
			break;
		case 'q':
			verbosity = -1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("senkod %s\n", SENKO_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init("senkod", verbosity, LOG_TIME);
	rc = daemon_init(&d, config_path, &status);
	/* After a failure too: the fix for a state folder it cannot use. */
	if (d.cfg != NULL)
		statedir_check(d.cfg->state_dir, true,
		    once ? "senkod --once" : "senkod");
	if (rc == -1) {
		daemon_release(&d);
		return status;
	}
	if (once)
		status = daemon_once(&d);
	else {
		if (!foreground && daemon(0, 1) == -1)
			fatal("cannot detach from the terminal");
		status = daemon_run(&d);
	}
	daemon_release(&d);
	return status;
}
