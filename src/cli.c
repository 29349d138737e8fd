/*
 * cli.c - the table of `senko` commands; see cli.h.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "banned.h"

const struct cli_command cli_commands[] = {
	{ "check", cmd_check, CLI_NEEDS_CONFIG, "[DEVICE...]",
	    "is anything newer upstream? (exit 100: updates pending)" },
	{ "config", cmd_config, 0, "check",
	    "validate the configuration and print it (token redacted)" },
	{ "exec", cmd_exec, CLI_NEEDS_CONFIG, "DEVICE CODE",
	    "run Python code on a board and print its output" },
	{ "hash", cmd_hash, 0, "FILE...",
	    "print git blob hashes, as git hash-object does" },
	{ "ls", cmd_ls, CLI_NEEDS_CONFIG, "DEVICE",
	    "list the files under a board's dest folder, with sizes" },
	{ "reset", cmd_reset, CLI_NEEDS_CONFIG, "DEVICE [soft|hard]",
	    "reset a board (by default as its reset setting says)" },
	{ "status", cmd_status, CLI_NEEDS_CONFIG, "[--json]",
	    "what happened last to each device (exit 1 if one failed)" },
	{ "sync", cmd_sync, CLI_NEEDS_CONFIG, "[--wait] [--force] [--verify] [DEVICE...]",
	    "bring the boards up to date" },
	{ "verify", cmd_verify, CLI_NEEDS_CONFIG, "DEVICE",
	    "hash the managed files on a board and compare with the mirror" },
	{ NULL, NULL, 0, NULL, NULL },
};

const struct cli_command *
cli_find_command(const char *name)
{
	const struct cli_command *cmd;

	for (cmd = cli_commands; cmd->name; cmd++)
		if (strcmp(cmd->name, name) == 0)
			return cmd;
	return NULL;
}

void
cli_usage(FILE *out)
{
	const struct cli_command *cmd;

	fprintf(out, "usage: senko [-c FILE] [-v|-q] COMMAND [ARGS]\n\n"
	    "Keeps MicroPython boards running the files of a GitHub "
	    "repository.\n\n  -c FILE  configuration (default %s)\n"
	    "  -v       verbose (debug messages)\n  -q       quiet (warnings "
	    "and errors only)\n\ncommands:\n", CONFIG_DEFAULT_PATH);
	for (cmd = cli_commands; cmd->name; cmd++)
		fprintf(out, "  %-8s %-20s %s\n", cmd->name, cmd->usage,
		    cmd->summary);
	fprintf(out, "\nexit status: 0 all in sync, 1 some device or source "
	    "failed, 2 usage error,\n100 updates pending (check), 78 "
	    "configuration error.  See senko(1).\n");
}

int
cli_command_usage(const struct cli_command *cmd)
{
	fprintf(stderr, "usage: senko %s %s\n", cmd->name, cmd->usage);
	return CLI_EXIT_USAGE;
}

const struct config_device *
cli_find_device(struct cli *cli, const char *name)
{
	const struct config_device *dev = config_find_device(cli->cfg, name);

	if (dev == NULL)
		log_failx("no [device %s] in %s", name, cli->cfg->path);
	return dev;
}
