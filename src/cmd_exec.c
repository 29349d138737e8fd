/*
 * cmd_exec.c - `senko exec DEVICE CODE`: run Python on the board and print
 * what it printed; a board-side exception goes to stderr with exit 1.
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

/*
 * A traceback is the board's text: each line escaped (no raw escape
 * sequences on the terminal) and quoted with "  | ", so an exception
 * message cannot pass for a line of senko's own.
 */
static void
print_traceback(FILE *out, const char *tb)
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
cmd_exec(struct cli *cli, int argc, char **argv)
{
	const struct config_device *dev;
	struct buf out = BUF_INIT;
	struct repl *r;
	int rc;

	if (argc != 3)
		return cli_command_usage(cli_find_command("exec"));
	dev = cli_find_device(cli, argv[1]);
	if (dev == NULL)
		return CLI_EXIT_USAGE;
	r = repl_open_stoppable(dev->port, dev->baud,
	    &interrupt_requested);
	if (r == NULL)
		return CLI_EXIT_FAILED;
	rc = repl_exec_quiet(r, argv[2], &out);
	print_lf(stdout, &out);
	fflush(stdout);
	if (rc == -1 && errno == EREMOTEIO) {
		print_traceback(stderr, repl_last_traceback(r));
		log_failx("%s: the code raised %s", dev->name,
		    repl_last_exception(r));
	}
	/* Opening the board stopped its application: start it again. */
	if (session_leave(r, dev, NULL) == -1)
		rc = -1;
	repl_close(r);
	buf_release(&out);
	return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILED;
}
