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
#include "interrupt.h"
#include "log.h"
#include "banned.h"

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli cli = { CONFIG_DEFAULT_PATH, NULL, 0 };
	const struct cli_command *cmd;
	int ch, rc;

	/* '+': stop at the command name; its options are its own. */
	while ((ch = getopt_long(argc, argv, "+c:vqh", longopts, NULL)) != -1) {
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
	cmd = cli_find_command(argv[optind]);
	if (cmd == NULL) {
		fprintf(stderr, "senko: unknown command '%s'; see senko "
		    "--help\n", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	if (cmd->flags & CLI_NEEDS_CONFIG) {
		cli.cfg = config_load(cli.config_path);
		if (cli.cfg == NULL)
			return CLI_EXIT_CONFIG;
	}
	if (cmd->flags & CLI_TALKS_TO_BOARD)
		interrupt_install();
	optind++;
	rc = cmd->run(&cli, argc - optind + 1, argv + optind - 1);
	config_free(cli.cfg);
	return interrupt_exit_status(rc);
}
