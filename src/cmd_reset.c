/*
 * cmd_reset.c - `senko reset DEVICE [soft|hard]`: reset a board the way
 * its configuration says (reset = none means soft here: the user asked).
 *
 * A hard reset only needs the port's modem lines, not the REPL, so it
 * also works on a board whose main.py keeps the REPL away.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "interrupt.h"
#include "log.h"
#include "repl.h"
#include "serial.h"
#include "banned.h"

int
cmd_reset(struct cli *cli, int argc, char **argv)
{
	const struct config_device *dev;
	struct serial *s;
	struct repl *r;
	bool hard;
	int rc;

	if (argc != 2 && argc != 3)
		return cli_command_usage(cli_find_command("reset"));
	dev = cli_find_device(cli, argv[1]);
	if (dev == NULL)
		return CLI_EXIT_USAGE;
	hard = dev->reset == RESET_HARD;
	if (argc == 3) {
		if (strcmp(argv[2], "hard") != 0 &&
		    strcmp(argv[2], "soft") != 0)
			return cli_command_usage(cli_find_command("reset"));
		hard = strcmp(argv[2], "hard") == 0;
	}
	if (hard) {
		s = serial_open(dev->port, dev->baud);
		if (s == NULL)
			return CLI_EXIT_FAILED;
		rc = serial_pulse_reset(s);
		serial_close(s);
	} else {
		r = repl_open_stoppable(dev->port, dev->baud,
		    &interrupt_requested);
		if (r == NULL)
			return CLI_EXIT_FAILED;
		rc = repl_soft_reset(r);
		repl_close(r);
	}
	if (rc == -1)
		return CLI_EXIT_FAILED;
	printf("%s: %s reset\n", dev->name, hard ? "hard" : "soft");
	return CLI_EXIT_OK;
}
