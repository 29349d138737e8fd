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
	/* The files the keys name are read as senkod reads them: a token
	 * or password file others can read is a configuration error too. */
	if (config_load_token(cfg, &token) == -1 ||
	    config_check_ca_file(cfg->ca_file, "[senkod] ca_file") == -1)
		rc = CLI_EXIT_CONFIG;
	if (token) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	if (cfg->mqtt.enabled) {
		char *password;

		if (config_load_mqtt_password(&cfg->mqtt, &password) == -1 ||
		    config_check_ca_file(cfg->mqtt.ca_file,
		    "[mqtt] ca_file") == -1)
			rc = CLI_EXIT_CONFIG;
		if (password) {
			explicit_bzero(password, strlen(password));
			free(password);
		}
	}
	config_print(cfg, stdout);
	config_free(cfg);
	if (rc == CLI_EXIT_OK)
		printf("# configuration OK\n");
	return rc;
}
