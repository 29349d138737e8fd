/*
 * cli.c - the table of `senko` commands; see cli.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "fsutil.h"
#include "log.h"
#include "banned.h"

const struct cli_command cli_commands[] = {
	{ "check", cmd_check, CLI_NEEDS_CONFIG, "[DEVICE...]",
	    "is anything newer upstream? (exit 100: updates pending)" },
	{ "config", cmd_config, 0, "check",
	    "validate the configuration and print it (token redacted)" },
	{ "exec", cmd_exec, CLI_BOARD, "DEVICE CODE|-",
	    "run Python code on a board and print its output (-: stdin)" },
	{ "fleet", cmd_fleet, 0, "--broker URL [OPTION...]",
	    "every gateway's boards, from an MQTT broker, in one table" },
	{ "hash", cmd_hash, 0, "FILE...",
	    "print git blob hashes, as git hash-object does" },
	{ "ls", cmd_ls, CLI_BOARD, "DEVICE",
	    "list the files under a board's dest folder, with sizes" },
	{ "ports", cmd_ports, CLI_INTERRUPTIBLE, "[--probe]",
	    "list serial ports: USB ids, serial number, by-id name, device" },
	{ "reset", cmd_reset, CLI_BOARD, "DEVICE [soft|hard]",
	    "reset a board (by default as its reset setting says)" },
	{ "run", cmd_run, CLI_BOARD, "DEVICE FILE",
	    "run a local Python file on a board, streaming its output" },
	{ "status", cmd_status, CLI_NEEDS_CONFIG, "[--json|--prometheus]",
	    "what happened last to each device (exit 1 if one failed)" },
	{ "pin", cmd_pin, CLI_NEEDS_CONFIG, "DEVICE REF",
	    "keep a board at a tag, branch or commit of its source" },
	{ "rollback", cmd_rollback, CLI_BOARD, "DEVICE [REF]",
	    "put a board back on its last healthy commit (or REF)" },
	{ "rollout", cmd_rollout, CLI_NEEDS_CONFIG, "[SOURCE] | resume SOURCE",
	    "where each source's commit stands in its rings; resume one" },
	{ "sync", cmd_sync, CLI_BOARD, "[--wait] [--force] [--verify] [--now] [DEVICE...]",
	    "bring the boards up to date" },
	{ "unpin", cmd_unpin, CLI_NEEDS_CONFIG, "DEVICE",
	    "let a pinned board follow its source again" },
	{ "verify", cmd_verify, CLI_BOARD, "DEVICE",
	    "hash the managed files on a board and compare with the mirror" },
	{ NULL, NULL, 0, NULL, NULL },
};

/*
 * What each command's options mean, for `senko help COMMAND` and
 * `senko COMMAND --help`; a command without options has no entry.  Kept
 * apart from the table above so that a new command is still one line.
 */
static const struct {
	const char *command;
	const char *options;
} command_options[] = {
	{ "status", "  --json   one JSON object with every device, for scripts "
	    "and monitoring\n"
	    "  --prometheus  Prometheus' text format, as senkod's "
	    "metrics_file\n" },
	{ "fleet", "  --broker URL   the MQTT broker, mqtt://HOST[:PORT] or "
	    "mqtts://HOST[:PORT]\n"
	    "  --prefix FILTER  the gateways' topics (default senko/#)\n"
	    "  --json         one JSON object with every gateway, for "
	    "scripts\n"
	    "  --username NAME, --password-file FILE, --ca-file FILE\n"
	    "                 credentials and CAs for the broker\n" },
	{ "sync", "  -w, --wait   wait for a port another program holds "
	    "instead of failing\n"
	    "  -f, --force  open every board and check its own record of "
	    "what it holds\n"
	    "  --verify     hash every managed file on the board and "
	    "rewrite what differs\n"
	    "  --now        bring the named devices to the source's commit "
	    "whatever the\n               rollout's rings and halts say\n" },
	{ "reset", "  soft   MicroPython's soft reboot (Ctrl-D)\n"
	    "  hard   pulse DTR and RTS like the ESP auto-reset circuit\n" },
	{ "ports", "  --probe  ask each board its platform, MicroPython "
	    "version and unique id\n"
	    "           (machine.unique_id(), for port = uid:HEX); its "
	    "application\n"
	    "           is started again\n" },
	{ "config", "  check  read and check the configuration, print it "
	    "with defaults filled in\n" },
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

	fprintf(out, "usage: senko [-c FILE] [-v|-q] COMMAND [ARGS]\n"
	    "       senko help [COMMAND] | COMMAND --help | --version\n\n"
	    "Keeps MicroPython boards running the files of a GitHub "
	    "repository.\n\n"
	    "  -c, --config FILE  configuration (default %s)\n"
	    "  -v, --verbose      debug messages\n"
	    "  -q, --quiet        warnings and errors only\n"
	    "  -h, --help         this text\n"
	    "  -V, --version      the version of senko\n\ncommands:\n",
	    CONFIG_DEFAULT_PATH);
	for (cmd = cli_commands; cmd->name; cmd++)
		fprintf(out, "  %-8s %-20s %s\n", cmd->name, cmd->usage,
		    cmd->summary);
	fprintf(out, "  %-8s %-20s %s\n", "help", "[COMMAND]",
	    "what a command does and its options");
	fprintf(out, "\nexit status: 0 all in sync, 1 some device or source "
	    "failed, 2 usage error,\n100 updates pending (check), 78 "
	    "configuration error.  See senko(1).\n");
}

void
cli_command_help(const struct cli_command *cmd, FILE *out)
{
	size_t i;

	fprintf(out, "usage: senko [-c FILE] %s %s\n\nsenko %s: %s\n",
	    cmd->name, cmd->usage, cmd->name, cmd->summary);
	for (i = 0; i < sizeof(command_options) / sizeof(*command_options);
	    i++)
		if (strcmp(command_options[i].command, cmd->name) == 0)
			fprintf(out, "\n%s", command_options[i].options);
	fprintf(out, "\n%s.  See senko(1).\n", cmd->flags &
	    CLI_NEEDS_CONFIG ? "Reads the configuration (-c FILE)" :
	    "Needs no configuration");
}

int
cli_help(int argc, char **argv)
{
	const struct cli_command *cmd;

	if (argc == 1) {
		cli_usage(stdout);
		return CLI_EXIT_OK;
	}
	if (argc > 2) {
		fprintf(stderr, "usage: senko help [COMMAND]\n");
		return CLI_EXIT_USAGE;
	}
	cmd = cli_find_command(argv[1]);
	if (cmd == NULL) {
		fprintf(stderr, "senko: no command '%s'; the commands are in "
		    "senko help\n", argv[1]);
		return CLI_EXIT_USAGE;
	}
	cli_command_help(cmd, stdout);
	return CLI_EXIT_OK;
}

bool
cli_wants_help(int argc, char **argv)
{
	int i;

	if (argc == 2 && strcmp(argv[1], "-h") == 0)
		return true;
	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0)
			return true;
	return false;
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

/*
 * A traceback is the board's text: each line escaped (no raw escape
 * sequences on the terminal) and quoted with "  | ", so an exception
 * message cannot pass for a line of senko's own.
 */
void
cli_print_traceback(FILE *out, const char *tb)
{
	char line[1024], esc[4096];
	size_t n;

	while (*tb) {
		n = strcspn(tb, "\n");
		snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) ?
		    n : sizeof(line) - 1), tb);
		if (n > 0 && n < sizeof(line) && line[n - 1] == '\r')
			line[n - 1] = '\0';
		log_escape(esc, sizeof(esc), line);
		fprintf(out, "  | %s\n", esc);
		tb += n + (tb[n] == '\n');
	}
}


int
cli_read_code(const char *path, const char *what, struct buf *code)
{
	char chunk[4096];
	size_t n;

	buf_init(code, CLI_CODE_MAX);
	if (strcmp(path, "-") != 0)
		return fs_read_regular(path, what, code, NULL);
	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		if (buf_add(code, chunk, n) == -1)
			return log_failx("%s: more than %d bytes of code; put "
			    "it in a file on the board instead", what,
			    CLI_CODE_MAX);
	if (ferror(stdin))
		return log_fail("cannot read %s", what);
	return 0;
}
