/*
 * senko.c - main() of the `senko` command-line tool.
 *
 * Parses the global options, loads the configuration for commands that
 * need it and dispatches through the table in cli.c.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "identity.h"
#include "interrupt.h"
#include "log.h"
#include "statedir.h"
#include "version.h"
#include "banned.h"

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli cli = { CONFIG_DEFAULT_PATH, NULL, 0 };
	const struct cli_command *cmd;
	int ch, rc;

	/* '+': stop at the command name; its options are its own. */
	while ((ch = getopt_long(argc, argv, "+c:vqhV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'c':
			cli.config_path = optarg;
			break;
		case 'v':
			cli.verbosity = 1;
			break;
		case 'q':
			cli.verbosity = -1;
			break;
		case 'h':
			cli_usage(stdout);
			return CLI_EXIT_OK;
		case 'V':
			printf("senko %s\n", SENKO_VERSION);
			return CLI_EXIT_OK;
		default:
			cli_usage(stderr);
			return CLI_EXIT_USAGE;
		}
	}
	log_init("senko", cli.verbosity, 0);
	if (optind >= argc) {
		cli_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	/* Help needs no configuration: it must work before there is one. */
	if (strcmp(argv[optind], "help") == 0)
		return cli_help(argc - optind, argv + optind);
	cmd = cli_find_command(argv[optind]);
	if (cmd == NULL) {
		fprintf(stderr, "senko: unknown command '%s'; see senko "
		    "--help\n", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	if (cli_wants_help(argc - optind, argv + optind)) {
		cli_command_help(cmd, stdout);
		return CLI_EXIT_OK;
	}
	if (cmd->flags & CLI_NEEDS_CONFIG) {
		char what[64];

		cli.cfg = config_load(cli.config_path);
		if (cli.cfg == NULL)
			return CLI_EXIT_CONFIG;
		identity_use_config(cli.cfg);
		snprintf(what, sizeof(what), "senko %s", cmd->name);
		statedir_check(cli.cfg->state_dir, strcmp(cmd->name,
		    "status") != 0, what);
	}
	if (cmd->flags & CLI_INTERRUPTIBLE)
		interrupt_install();
	optind++;
	rc = cmd->run(&cli, argc - optind + 1, argv + optind - 1);
	identity_use_config(NULL);
	config_free(cli.cfg);
	return interrupt_exit_status(rc);
}
