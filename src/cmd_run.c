/*
 * cmd_run.c - `senko run DEVICE FILE`: run a local Python file on the
 * board and stream what it prints until it ends, or until Ctrl-C (or
 * SIGTERM), which interrupts the code on the board.  Either way the
 * board's application is then started again as the device's reset says,
 * as after every command.  The file is not written to the board.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "interrupt.h"
#include "log.h"
#include "repl.h"
#include "session.h"
#include "banned.h"

/* The board ends lines with CRLF; a terminal or a pipe wants LF.  A CR
 * at the end of one chunk waits for the next. */
struct lf_writer {
	FILE *out;
	bool cr_pending;
};

static void
emit_lf(void *arg, const char *data, size_t len)
{
	struct lf_writer *w = arg;
	size_t i;

	for (i = 0; i < len; i++) {
		if (w->cr_pending && data[i] != '\n')
			putc('\r', w->out);
		w->cr_pending = data[i] == '\r';
		if (!w->cr_pending)
			putc(data[i], w->out);
	}
	fflush(w->out);
	/* Nobody reads any more: stop the code as Ctrl-C would. */
	interrupt_output(w->out);
}

int
cmd_run(struct cli *cli, int argc, char **argv)
{
	const struct config_device *dev;
	struct lf_writer w = { stdout, false };
	struct buf code = BUF_INIT;
	bool interrupted;
	struct repl *r;
	int rc;

	if (argc != 3)
		return cli_command_usage(cli_find_command("run"));
	dev = cli_find_device(cli, argv[1]);
	if (dev == NULL)
		return CLI_EXIT_USAGE;
	if (cli_read_code(argv[2], "file to run", &code) == -1)
		return CLI_EXIT_FAILED;
	r = session_open(dev, cli->cfg->state_dir, "run",
	    &interrupt_requested);
	if (r == NULL) {
		buf_release(&code);
		return CLI_EXIT_FAILED;
	}
	rc = repl_exec_stream(r, code.data, code.len, emit_lf, &w,
	    &interrupt_requested, &interrupted);
	if (w.cr_pending)
		putc('\r', stdout);
	fflush(stdout);
	if (rc == -1 && errno == EREMOTEIO) {
		cli_print_traceback(stderr, repl_last_traceback(r));
		log_failx("%s: %s raised %s", dev->name, argv[2],
		    repl_last_exception(r));
	}
	/* Running the file stopped the application: start it again, also
	 * (above all) after a Ctrl-C. */
	if (session_close(r, dev, cli->cfg->state_dir) == -1)
		rc = -1;
	buf_release(&code);
	if (rc == 0 && interrupted) {
		/* Ctrl-C is how a run ends: said here, as it is not the
		 * stopped sync interrupt_exit_status() speaks of. */
		int sig = interrupt_requested;

		interrupt_requested = 0;
		log_notice("%s: %s interrupted by %s; %s", dev->name, argv[2],
		    interrupt_name(sig),
		    dev->reset == RESET_NONE ? "the board is at its REPL "
		    "(reset = none)" : "the application runs again");
		return 128 + sig;
	}
	return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILED;
}
