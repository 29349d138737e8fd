/*
 * cmd_hash.c - `senko hash FILE...`: git blob hashes, one per line.
 */
#include <stdio.h>

#include "cli.h"
#include "githash.h"
#include "banned.h"

int
cmd_hash(struct cli *cli, int argc, char **argv)
{
	char hex[GITHASH_HEXSZ];
	int i, rc = CLI_EXIT_OK;

	(void)cli;
	if (argc < 2)
		return cli_command_usage(cli_find_command("hash"));
	for (i = 1; i < argc; i++) {
		if (githash_file(argv[i], hex) == -1) {
			rc = CLI_EXIT_FAILED;
			continue;
		}
		printf("%s\n", hex);
	}
	if (fflush(stdout) == EOF)
		rc = CLI_EXIT_FAILED;
	return rc;
}
