/*
 * helper-agent: drive the on-board agent (agent.h) by hand, for the
 * transport tests.
 *
 *   helper-agent [-b BAUD] [-v] [-r] [-K BYTES] [-S BYTES] PORT COMMAND...
 *
 * -r resets the board inside the raw REPL first, as a sync session does.
 * -K kills this process (SIGKILL, as a killed senkod) as soon as BYTES of
 * a put's file data went out: where BYTES is not at the end of a 'D'
 * unit, the board is left inside one (agent.py's header).
 * -S sets the agent's stop flag there instead, as senkod's SIGTERM
 * handler does: the put ends at the next unit and the run is ended;
 * "ended N ms after the stop" follows "end ok".
 * Commands run in order inside one agent run:
 *   inv DEST            print "inventory RECORD LISTING ENTRIES JOURNAL TEMPS"
 *   ls DIR              print "SIZE PATH" per entry (-1 for folders)
 *   hash PATH           print the board's hash, or "missing"
 *   put PATH LOCALFILE  write a file (temporary name, hash, rename)
 *   putas PATH LOCAL HEX  the same, saying the file hashes as HEX (a
 *                       file damaged past the units' checksums)
 *   stage PATH LOCAL    the same, left under its temporary name
 *   batch N PATH LOCAL...  put N files in one batch (several in flight);
 *                       print "put PATH HEX" or "failed PATH: WHY" each
 *   journal DEST LINE   add a journal line ("R HEX PATH", "D HEX PATH"):
 *                       the lines so far are staged again as the journal
 *   commit DEST         carry the journal out; print "commit DONE"
 *   cat PATH            print a board file
 *   halt                stop here without saying goodbye (the board's
 *                       idle timeout or the next Ctrl-C frees it)
 * Then "bye", the counts "sent N received N", "read ahead N" (pieces
 * the agent took early), and "end ok" when
 * agent_end() left the board at its raw prompt ("end failed" if not).
 * Exit 0, 1 when a command failed, 3 when the agent could not start, 2
 * usage.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "buf.h"
#include "devfs.h"
#include "fsutil.h"
#include "log.h"
#include "monotime.h"
#include "repl.h"

static uint64_t kill_at, stop_at;
static volatile sig_atomic_t stop_flag;
static int64_t stop_ms;   /* when -S's stop was asked for */

/* agent_put's progress, after every piece: -K's and -S's moment. */
static void
put_progress(void *arg, uint64_t sent)
{
	(void)arg;
	if (kill_at > 0 && sent >= kill_at)
		raise(SIGKILL);
	if (stop_at > 0 && sent >= stop_at && !stop_flag) {
		stop_flag = 1;
		stop_ms = monotime_ms();
	}
}

static void
batch_progress(void *arg, size_t file, uint64_t sent)
{
	(void)file;
	put_progress(arg, sent);
}

static int
put(struct agent *a, const char *path, const char *local, bool staged,
    const char *said)
{
	struct buf data = BUF_INIT;
	char hex[DEVFS_HASH_HEXSZ];
	int rc;

	if (fs_read_file(local, &data) == -1)
		return -1;
	if (said != NULL)
		snprintf(hex, sizeof(hex), "%s", said);
	else if (devfs_hash_mem(agent_hello(a)->algo, data.data, data.len,
	    hex) == -1) {
		buf_release(&data);
		return -1;
	}
	rc = agent_put(a, path, data.data, data.len, hex, staged, put_progress,
	    NULL);
	if (rc == 0)
		printf("%s %s %s\n", staged ? "staged" : "put", path, hex);
	buf_release(&data);
	return rc;
}

/* N files (argv: PATH LOCAL pairs) in one agent_put_batch. */
static int
batch(struct agent *a, size_t n, char **argv)
{
	struct agent_file *f = calloc(n, sizeof(*f));
	struct buf *data = calloc(n, sizeof(*data));
	char (*hex)[DEVFS_HASH_HEXSZ] = calloc(n, sizeof(*hex));
	size_t k;
	int rc = 0;

	if (f == NULL || data == NULL || hex == NULL)
		exit(3);
	for (k = 0; k < n && rc == 0; k++) {
		buf_init(&data[k], 0);
		rc = fs_read_file(argv[2 * k + 1], &data[k]);
		if (rc == 0)
			rc = devfs_hash_mem(agent_hello(a)->algo, data[k].data,
			    data[k].len, hex[k]);
		f[k] = (struct agent_file){ .path = argv[2 * k],
		    .data = data[k].data, .len = data[k].len, .hex = hex[k] };
	}
	if (rc == 0)
		rc = agent_put_batch(a, f, n, false, batch_progress, NULL);
	/* Files the board refused leave the run in step: it goes on. */
	for (k = 0; k < n && rc == 0; k++)
		if (f[k].err == 0)
			printf("put %s %s\n", f[k].path, f[k].hex);
		else
			printf("failed %s: %s\n", f[k].path, f[k].why);
	for (k = 0; k < n; k++)
		buf_release(&data[k]);
	free(f);
	free(data);
	free(hex);
	return rc;
}

static int
run(struct agent *a, int argc, char **argv, int *i, struct buf *journal)
{
	const char *cmd = argv[*i];
	struct agent_inventory inv;
	struct devfs_list list;
	char hex[DEVFS_HASH_HEXSZ];
	size_t k;

#define ARG(n) (*i + (n) < argc ? argv[*i + (n)] : NULL)
	if (strcmp(cmd, "inv") == 0 && ARG(1)) {
		*i += 1;
		if (agent_inventory(a, ARG(0), &inv) == -1)
			return -1;
		printf("inventory %s %s %lu %s %u\n", *inv.record ?
		    inv.record : "-", inv.listing, inv.entries, inv.journal ?
		    "journal" : "-", inv.temps_removed);
		return 0;
	}
	if (strcmp(cmd, "ls") == 0 && ARG(1)) {
		*i += 1;
		if (agent_list(a, ARG(0), &list) == -1)
			return -1;
		for (k = 0; k < list.n; k++)
			printf("%lld %s\n", list.entries[k].is_dir ? -1LL :
			    (long long)list.entries[k].size,
			    list.entries[k].path);
		devfs_list_release(&list);
		return 0;
	}
	if (strcmp(cmd, "hash") == 0 && ARG(1)) {
		*i += 1;
		if (agent_hash(a, ARG(0), hex) == -1) {
			printf("missing\n");
			return 0;
		}
		printf("%s\n", hex);
		return 0;
	}
	if ((strcmp(cmd, "put") == 0 || strcmp(cmd, "stage") == 0) &&
	    ARG(2)) {
		*i += 2;
		return put(a, ARG(-1), ARG(0), cmd[0] == 's', NULL);
	}
	if (strcmp(cmd, "putas") == 0 && ARG(3)) {
		*i += 3;
		return put(a, ARG(-2), ARG(-1), false, ARG(0));
	}
	if (strcmp(cmd, "batch") == 0 && *i + 1 < argc) {
		int n = atoi(argv[*i + 1]);
		char **files = argv + *i + 2;

		if (n <= 0 || *i + 1 + 2 * n >= argc)
			goto usage;
		*i += 1 + 2 * n;
		return batch(a, (size_t)n, files);
	}
	if (strcmp(cmd, "journal") == 0 && ARG(2)) {
		*i += 2;
		buf_addf(journal, "%s\n", ARG(0));
		return agent_journal(a, ARG(-1), journal->data);
	}
	if (strcmp(cmd, "commit") == 0 && ARG(1)) {
		struct buf kept = BUF_INIT, failed = BUF_INIT;
		struct agent_commit c = { 0, &kept, &failed };
		int rc;

		*i += 1;
		rc = agent_commit(a, ARG(0), &c);
		if (rc == 0)
			printf("commit %u kept [%s] failed [%s]\n", c.done,
			    kept.data, failed.data);
		buf_release(&kept);
		buf_release(&failed);
		return rc;
	}
	if (strcmp(cmd, "cat") == 0 && ARG(1)) {
		struct buf out = BUF_INIT;

		*i += 1;
		if (agent_read(a, ARG(0), &out) == -1)
			return -1;
		fwrite(out.data, 1, out.len, stdout);
		buf_release(&out);
		return 0;
	}
#undef ARG
usage:
	fprintf(stderr, "helper-agent: bad command '%s'\n", cmd);
	exit(2);
}

int
main(int argc, char **argv)
{
	unsigned baud = 115200;
	int verbose = 0, i = 1, rc = 0, reset = 0;
	bool halt = false;
	struct repl *r;
	struct agent *a;
	struct buf journal = BUF_INIT;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-v") == 0)
			verbose = 1;
		else if (strcmp(argv[i], "-r") == 0)
			reset = 1;
		else if (strcmp(argv[i], "-b") == 0 && i + 1 < argc)
			baud = (unsigned)atoi(argv[++i]);
		else if (strcmp(argv[i], "-K") == 0 && i + 1 < argc)
			kill_at = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "-S") == 0 && i + 1 < argc)
			stop_at = strtoull(argv[++i], NULL, 10);
		else
			break;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: helper-agent [-b BAUD] [-v] [-r] "
		    "[-K BYTES] [-S BYTES] PORT COMMAND...\n");
		return 2;
	}
	log_init("helper-agent", verbose, 0);
	r = repl_open(argv[i], baud);
	if (r == NULL)
		return 3;
	if (reset && repl_raw_reset(r) == -1) {
		repl_close(r);
		return 3;
	}
	a = agent_start(r, baud, &stop_flag);
	if (a == NULL) {
		repl_close(r);
		return 3;
	}
	for (i++; i < argc; i++) {
		if (strcmp(argv[i], "halt") == 0) {
			halt = true;
			break;
		}
		if (run(a, argc, argv, &i, &journal) == -1) {
			rc = 1;
			break;
		}
		fflush(stdout);
	}
	if (halt) {
		printf("halted\n");
		fflush(stdout);
		_exit(0);
	}
	if (rc == 0 && agent_finish(a, "/", NULL) == -1)
		rc = 1;
	printf("bye\nsent %llu received %llu\n",
	    (unsigned long long)agent_bytes_sent(a),
	    (unsigned long long)agent_bytes_received(a));
	printf("read ahead %llu\n",
	    (unsigned long long)agent_pieces_read_ahead(a));
	if (agent_end(a) == -1) {
		printf("end failed\n");
		rc = 1;
	} else
		printf("end ok\n");
	if (stop_ms > 0)
		printf("ended %lld ms after the stop\n",
		    (long long)(monotime_ms() - stop_ms));
	repl_close(r);
	buf_release(&journal);
	return rc;
}
