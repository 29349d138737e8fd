/*
 * cli.h - the `senko` command-line tool: its command table and context.
 *
 * Each command is one function `cmd_NAME(struct cli *, argc, argv)` in its
 * own src/cmd_NAME.c and one entry in the table in cli.c (git.c's way).
 * argv[0] is the command name.  A command returns the process exit status
 * (CLI_EXIT_*); it never calls exit().
 */
#ifndef SENKO_CLI_H
#define SENKO_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAILED 1   /* some device or source failed */
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_PENDING 100 /* senko check: updates are pending */
#define CLI_EXIT_CONFIG CONFIG_EXIT_ERROR

#define CLI_NEEDS_CONFIG 0x1 /* load -c FILE before running */
#define CLI_INTERRUPTIBLE 0x2 /* Ctrl-C/SIGTERM: stop cleanly (interrupt.h) */
/* Commands that talk to a board. */
#define CLI_BOARD (CLI_NEEDS_CONFIG | CLI_INTERRUPTIBLE)

struct cli {
	const char *config_path;
	struct config *cfg; /* loaded for CLI_NEEDS_CONFIG commands; owned */
	int verbosity;
};

struct cli_command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	unsigned flags;
	const char *usage;   /* arguments, for --help */
	const char *summary; /* one line */
};

extern const struct cli_command cli_commands[];

/* Look a command up by name; NULL if there is none. */
const struct cli_command *cli_find_command(const char *name);
void cli_usage(FILE *out);
/* Print what cmd does, its arguments and options (senko CMD --help). */
void cli_command_help(const struct cli_command *cmd, FILE *out);
/* `senko help [COMMAND]`: argv[0] is "help".  Needs no configuration. */
int cli_help(int argc, char **argv);
/* Does a command's argv (argv[0] its name) ask for its help: "--help"
 * before any "--", or "-h" alone? */
bool cli_wants_help(int argc, char **argv);
/* The device called name, or NULL after saying there is none. */
const struct config_device *cli_find_device(struct cli *cli,
    const char *name);
/* Print "usage: senko CMD ARGS" for cmd to stderr; returns CLI_EXIT_USAGE. */
int cli_command_usage(const struct cli_command *cmd);

/* Code for exec/run: at most this many bytes. */
#define CLI_CODE_MAX (1024 * 1024)
struct buf;
/* Read code from path ("-": standard input) into code (initialized here;
 * release it).  what names it in messages.  0, or -1 (logged). */
int cli_read_code(const char *path, const char *what, struct buf *code);
/*
 * A board's traceback on out: each line escaped (no raw escape sequences
 * on the terminal) and quoted with "  | ", so an exception message cannot
 * pass for a line of senko's own.
 */
void cli_print_traceback(FILE *out, const char *tb);

int cmd_hash(struct cli *cli, int argc, char **argv);
int cmd_config(struct cli *cli, int argc, char **argv);
int cmd_check(struct cli *cli, int argc, char **argv);
int cmd_exec(struct cli *cli, int argc, char **argv);
int cmd_fleet(struct cli *cli, int argc, char **argv);
int cmd_ls(struct cli *cli, int argc, char **argv);
int cmd_reset(struct cli *cli, int argc, char **argv);
int cmd_sync(struct cli *cli, int argc, char **argv);
int cmd_verify(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_ports(struct cli *cli, int argc, char **argv);
int cmd_rollout(struct cli *cli, int argc, char **argv);
int cmd_rollback(struct cli *cli, int argc, char **argv);
int cmd_pin(struct cli *cli, int argc, char **argv);
int cmd_unpin(struct cli *cli, int argc, char **argv);
int cmd_run(struct cli *cli, int argc, char **argv);

#endif
