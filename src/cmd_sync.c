/*
 * cmd_sync.c - `senko sync [--wait] [--now] [DEVICE...]` and `senko check`.
 *
 * Both run one cycle of the sync engine; check only compares (Senko's
 * .fetch()), sync brings the boards up to date (Senko's .update()).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "human.h"
#include "interrupt.h"
#include "log.h"
#include "status.h"
#include "sync.h"
#include "xalloc.h"
#include "banned.h"

/*
 * One line per device: the outcome.  Why one failed was logged on stderr
 * when it happened (naming the device), so it is not said again here.
 */
static void
print_device(const struct config_device *dev,
    const struct sync_device_result *r)
{
	char size[HUMAN_MAX];

	switch (r->state) {
	case DEVICE_IN_SYNC:
		printf("%s: up to date at %.7s\n", dev->name, r->commit);
		break;
	case DEVICE_PENDING:
		human_size(size, sizeof(size), r->bytes_planned);
		printf("%s: %u file%s to write (%s), %u to delete -> %.7s\n",
		    dev->name, r->files_planned,
		    r->files_planned == 1 ? "" : "s", size,
		    r->deletes_planned, r->commit);
		break;
	case DEVICE_UPDATED:
		human_size(size, sizeof(size), r->bytes_sent);
		printf("%s: updated to %.7s (%u file%s written, %s; %u "
		    "deleted)\n", dev->name, r->commit, r->files_sent,
		    r->files_sent == 1 ? "" : "s", size, r->files_deleted);
		break;
	case DEVICE_STOPPED:
		/* A stop is not an error: nothing above says why. */
		printf("%s: %s\n", dev->name, r->error);
		break;
	case DEVICE_WAITING:
		/* Not an error either: the rollout holds it back. */
		printf("%s: %s\n", dev->name, r->note);
		break;
	case DEVICE_ROLLED_BACK:
		printf("%s: rolled-back: %s\n", dev->name, r->error);
		break;
	default:
		printf("%s: %s (see the error above)\n", dev->name,
		    status_state_name(r->state));
	}
}

/* Mark the named devices due; NULL names = every device. */
static int
select_devices(struct cli *cli, char **names, int n, bool *due)
{
	const struct config *cfg = cli->cfg;
	int i;
	size_t d;

	for (d = 0; d < cfg->ndevices; d++)
		due[d] = n == 0;
	for (i = 0; i < n; i++) {
		const struct config_device *dev = cli_find_device(cli,
		    names[i]);

		if (dev == NULL)
			return -1;
		due[dev - cfg->devices] = true;
	}
	return 0;
}

static int
run_cycle(struct cli *cli, struct sync_options *opts, char **names, int n)
{
	struct sync_engine engine;
	struct sync_report report;
	bool *due;
	size_t i;
	int rc;

	due = xcalloc(cli->cfg->ndevices ? cli->cfg->ndevices : 1,
	    sizeof(*due));
	if (select_devices(cli, names, n, due) == -1) {
		free(due);
		return CLI_EXIT_USAGE;
	}
	rc = sync_engine_open(&engine, cli->cfg);
	if (rc != 0) {
		free(due);
		return rc == SYNC_ECONFIG ? CLI_EXIT_CONFIG : CLI_EXIT_FAILED;
	}
	opts->device_due = due;
	rc = sync_cycle(cli->cfg, engine.forge, engine.store, opts, &report);
	for (i = 0; i < cli->cfg->ndevices; i++)
		if (due[i])
			print_device(&cli->cfg->devices[i], &report.devices[i]);
	sync_report_release(&report);
	sync_engine_close(&engine);
	free(due);
	return rc;
}

int
cmd_sync(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "wait", no_argument, NULL, 'w' },
		{ "force", no_argument, NULL, 'f' },
		{ "verify", no_argument, NULL, 'V' },
		{ "now", no_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 },
	};
	struct sync_options opts;
	int ch;

	memset(&opts, 0, sizeof(opts));
	/* 0, not 1: glibc then forgets main()'s "+" (stop at the first
	 * name), so an option may follow the devices: sync b --force. */
	optind = 0;
	while ((ch = getopt_long(argc, argv, "wf", longopts, NULL)) != -1) {
		switch (ch) {
		case 'w':
			opts.wait_busy = true;
			break;
		case 'f':
			opts.force = true;
			break;
		case 'V':
			/* Hash every managed file on the board: a visit. */
			opts.force = opts.verify = true;
			break;
		case 'N':
			/* Past the rollout's rings and halts (rollout.h). */
			opts.now = true;
			break;
		default:
			return cli_command_usage(cli_find_command("sync"));
		}
	}
	if (opts.now && optind == argc) {
		fprintf(stderr, "senko sync: --now bypasses the rollout for "
		    "the devices named: name at least one\n");
		return cli_command_usage(cli_find_command("sync"));
	}
	opts.progress = isatty(STDERR_FILENO) && cli->verbosity >= 0;
	opts.stop = &interrupt_requested;
	return run_cycle(cli, &opts, argv + optind, argc - optind);
}

int
cmd_check(struct cli *cli, int argc, char **argv)
{
	struct sync_options opts;

	memset(&opts, 0, sizeof(opts));
	opts.check_only = true;
	return run_cycle(cli, &opts, argv + 1, argc - 1);
}
