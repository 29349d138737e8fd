/*
 * cmd_config.c - `senko config check`: validate and print the config.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "banned.h"

int
cmd_config(struct cli *cli, int argc, char **argv)
{
	struct config *cfg;
	char *token = NULL;
	int rc = CLI_EXIT_OK;

	if (argc != 2 || strcmp(argv[1], "check") != 0)
		return cli_command_usage(cli_find_command("config"));
	cfg = config_load(cli->config_path);
	if (cfg == NULL)
		return CLI_EXIT_CONFIG;
	/* A token file others can read is a configuration error too. */
	if (config_load_token(cfg, &token) == -1)
		rc = CLI_EXIT_CONFIG;
	free(token);
	config_print(cfg, stdout);
	config_free(cfg);
	if (rc == CLI_EXIT_OK)
		printf("# configuration OK\n");
	return rc;
}
