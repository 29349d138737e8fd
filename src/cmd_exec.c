/*
 * cmd_exec.c - `senko exec DEVICE CODE|-`: run Python on the board and
 * print what it printed; a board-side exception goes to stderr with exit
 * 1.  "-" reads the code from standard input.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "interrupt.h"
#include "log.h"
#include "repl.h"
#include "session.h"
#include "banned.h"

/* The board ends lines with CRLF; a host terminal or pipe wants LF. */
static void
print_lf(FILE *out, const struct buf *b)
{
	size_t i;

	for (i = 0; i < b->len; i++)
		if (!(b->data[i] == '\r' && i + 1 < b->len &&
		    b->data[i + 1] == '\n'))
			putc(b->data[i], out);
}

int
cmd_exec(struct cli *cli, int argc, char **argv)
{
	const struct config_device *dev;
	struct buf out = BUF_INIT, code = BUF_INIT;
	struct repl *r;
	int rc;

	if (argc != 3)
		return cli_command_usage(cli_find_command("exec"));
	dev = cli_find_device(cli, argv[1]);
	if (dev == NULL)
		return CLI_EXIT_USAGE;
	/* Read all of it before the board is interrupted. */
	if (strcmp(argv[2], "-") != 0)
		buf_addstr(&code, argv[2]);
	else if (cli_read_code("-", "code on standard input", &code) == -1)
		return CLI_EXIT_FAILED;
	r = session_open(dev, cli->cfg->state_dir, "exec",
	    &interrupt_requested);
	if (r == NULL) {
		buf_release(&code);
		return CLI_EXIT_FAILED;
	}
	rc = repl_exec_quiet(r, code.data, &out);
	print_lf(stdout, &out);
	fflush(stdout);
	if (rc == -1 && errno == EREMOTEIO) {
		cli_print_traceback(stderr, repl_last_traceback(r));
		log_failx("%s: the code raised %s", dev->name,
		    repl_last_exception(r));
	}
	/* Opening the board stopped its application: start it again. */
	if (session_close(r, dev, cli->cfg->state_dir) == -1)
		rc = -1;
	buf_release(&out);
	buf_release(&code);
	return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILED;
}
