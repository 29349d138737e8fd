/*
 * cmd_reset.c - `senko reset DEVICE [soft|hard]`: reset a board the way
 * its configuration says (reset = none means soft here: the user asked).
 *
 * A hard reset only needs the port's modem lines, not the REPL, so it
 * also works on a board whose main.py keeps the REPL away.  For a uid:
 * device that holds only while the node its board answered on last is
 * unchanged since: after a re-plug or a re-enumeration another board may
 * sit there, so the board is found by its id first (identity.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "identity.h"
#include "interrupt.h"
#include "log.h"
#include "repl.h"
#include "serial.h"
#include "banned.h"

/* Is dev a uid: device whose remembered node changed (or is unknown)? */
static bool
node_unconfirmed(const struct config_device *dev)
{
	bool unchanged, known;
	char *node;

	if (!identity_is_uid(dev->port))
		return false;
	node = identity_recall(dev->port, &unchanged);
	known = node != NULL;
	free(node);
	return !known || !unchanged;
}

/* Find the board by its id, then pulse its port.  The probe interrupted
 * it: when the pulse fails, a soft reset gives its application back. */
static int
hard_reset_found(const struct config_device *dev)
{
	struct repl *r;
	int rc;

	r = repl_open_stoppable(dev->port, dev->baud, &interrupt_requested);
	if (r == NULL)
		return -1;
	rc = repl_hard_reset(r);
	if (rc == -1 && repl_soft_reset(r) == 0)
		log_notice("%s: soft reset instead; the application runs "
		    "again", dev->name);
	repl_close(r);
	return rc;
}

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
	if (hard && node_unconfirmed(dev))
		rc = hard_reset_found(dev);
	else if (hard) {
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
