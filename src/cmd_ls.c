/*
 * cmd_ls.c - `senko ls DEVICE`: the files under the device's dest folder
 * on the board, with their sizes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "interrupt.h"
#include "devfs.h"
#include "log.h"
#include "path.h"
#include "repl.h"
#include "session.h"
#include "banned.h"

static int
by_path(const void *a, const void *b)
{
	const struct devfs_entry *x = a, *y = b;

	return strcmp(x->path, y->path);
}

int
cmd_ls(struct cli *cli, int argc, char **argv)
{
	const struct config_device *dev;
	struct devfs_list list = { NULL, 0 };
	struct buf name = BUF_INIT;
	struct repl *r;
	size_t i;
	int rc;

	if (argc != 2)
		return cli_command_usage(cli_find_command("ls"));
	dev = cli_find_device(cli, argv[1]);
	if (dev == NULL)
		return CLI_EXIT_USAGE;
	r = session_open(dev, cli->cfg->state_dir, "ls",
	    &interrupt_requested);
	if (r == NULL)
		return CLI_EXIT_FAILED;
	rc = devfs_list(r, dev->dest, &list);
	/* Opening the board stopped its application: start it again. */
	if (session_close(r, dev, cli->cfg->state_dir) == -1)
		rc = -1;
	if (rc == -1)
		return CLI_EXIT_FAILED;
	qsort(list.entries, list.n, sizeof(*list.entries), by_path);
	for (i = 0; i < list.n; i++) {
		/* A file name must not write escape codes to a terminal. */
		buf_reset(&name);
		path_quote(&name, list.entries[i].path,
		    strlen(list.entries[i].path));
		if (list.entries[i].is_dir)
			printf("%10s  %s/\n", "-", name.data);
		else
			printf("%10llu  %s\n", (unsigned long long)
			    list.entries[i].size, name.data);
	}
	buf_release(&name);
	devfs_list_release(&list);
	if (fflush(stdout) == EOF)
		return CLI_EXIT_FAILED;
	return CLI_EXIT_OK;
}
