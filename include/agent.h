/*
 * agent.h - the host side of the on-board agent (src/board/agent.py).
 *
 * agent_start() gets the agent onto the board in one execution: a small
 * bootstrap (src/board/boot.py) that reads the agent compressed, credit-
 * paced, and keeps it in the board's cache, or runs the cached copy.  A
 * board without deflate, or with an ESP8266's heap, gets the plain code
 * in two executions (the first defines, the second runs: it cannot
 * compile the whole at once).  Then the agent takes over the port; from
 * then on every board operation is one command in a framed, checksummed
 * protocol (agent.py's header has the bytes).  File data goes compressed
 * (src/zrun.h) when the agent can inflate and the file shrinks.
 * Host -> board goes in pieces of AGENT_UNIT bytes, each paced by a
 * credit the board sends when it took the piece out of its stdin ring;
 * the window comes from the ring size of the board's platform
 * (agent_window_units).  A command is one unit of one piece per 43 bytes;
 * file data goes in 'D' units of up to AGENT_PIECES pieces (5 bytes of
 * framing per 982 bytes of data), whose later pieces never start with a
 * byte of AGENT_FOREIGN, so that a host that died inside one and the next
 * session's Ctrl-C still stop the agent at once.
 * agent_end() ends the run (the board restores Ctrl-C) and returns the
 * port to the REPL at its raw prompt.
 *
 * Every wait has a deadline from the bytes the operation must move at the
 * line's rate plus fixed slack, whatever the board prints meanwhile; a
 * board that floods, streams forever or falls silent gives a clear error
 * in time (errno ETIMEDOUT), and the board frees itself (its idle timeout,
 * or the next session's Ctrl-C).  A stop flag (a signal handler's) is
 * checked between units (a 'D' unit started is finished): a file in
 * flight is abandoned, leaving at most its temporary name on the board.
 *
 * Errors are logged; functions return 0 or -1 with errno: EIO (the line
 * failed or the agent stopped), ETIMEDOUT, EREMOTEIO (the board refused:
 * agent_last_error() says why), EBADMSG (a file arrived damaged), ENOENT,
 * EINTR (stopped by the flag: logged as a notice), EFBIG (agent_read:
 * more than out can hold).
 * After EIO, ETIMEDOUT or EFBIG the host is out of step with the board
 * (EFBIG leaves the rest of the file's frames unread): only agent_end()
 * may follow.
 */
#ifndef SENKO_AGENT_H
#define SENKO_AGENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devfs.h"

/*
 * Bytes that never start a later piece of a 'D' unit (agent.py FOREIGN):
 * what another program's first bytes on the line may be (Ctrl-A to
 * Ctrl-D, CR) and agent_end()'s 'z'.
 */
#define AGENT_FOREIGN "\x01\x02\x03\x04\rz"
/* The last line of a list of paths the board cut short (agent.py cut()):
 * a commit's answer stays one frame. */
#define AGENT_LIST_CUT "\x01"
/* The commit's journal in dest (agent.py JOURNAL). */
#define AGENT_JOURNAL_NAME ".senko.journal"

struct buf;
struct repl;
struct agent;

/* What the agent reports when it starts (a clean heap after a reset). */
struct agent_hello {
	char version[32];
	char platform[32];
	enum devfs_hash_algo algo; /* git blob SHA-1, or SHA-256 */
	int64_t free_flash;        /* bytes; -1 unknown */
	int64_t free_heap;
	bool idle_timeout;         /* select.poll works on its stdin */
	unsigned window_units;     /* credit window, in pieces of AGENT_UNIT */
};

/* The board in a few dozen bytes. */
struct agent_inventory {
	char record[DEVFS_HASH_HEXSZ];  /* hash of the record, "" none */
	char listing[DEVFS_HASH_HEXSZ]; /* digest of every path and size */
	unsigned long entries;          /* files and folders below dest */
	bool journal;                   /* an interrupted commit was found */
	unsigned journal_done, journal_kept, journal_failed;
	unsigned temps_removed;         /* leftover temporary files */
};

struct agent_commit {
	unsigned done;         /* renames and deletes carried out */
	struct buf *kept;      /* paths not deleted (not senko's content) */
	struct buf *failed;    /* "path REASON" lines */
};

/*
 * Usable stdin ring of a platform minus a margin, in pieces (the probe
 * cannot measure the ring, so a table: esp8266 255, esp32 259, rp2 511,
 * samd 127; others get the smallest).  SENKO_AGENT_WINDOW overrides it
 * (tests show an oversized window overrunning the ring).
 */
unsigned agent_window_units(const char *platform);
/*
 * How many pieces the agent may take out of the ring ahead of use while
 * it writes files of wire bytes (agent.py, "Read-ahead"): a quarter of
 * the board's free heap, at most 16 KB, none below 32 KB free (an
 * ESP8266), and no more than a quarter of wire: room that a short
 * transfer never fills is heap the run lacks.  SENKO_AGENT_AHEAD
 * overrides it (0: none; tests and benchmarks).
 */
unsigned agent_ahead_pieces(int64_t free_heap, uint64_t wire);

/* Send and start the agent.  NULL on failure (logged). */
struct agent *agent_start(struct repl *r, unsigned baud,
    volatile sig_atomic_t *stop);
const struct agent_hello *agent_hello(const struct agent *a);
/*
 * The agent's cache: agent_start() runs the board's copy in
 * REPL_CACHE_DIR when the probe hashed it to what this build would send,
 * so a damaged or foreign copy never runs: compressed on a board with
 * the heap to inflate (half a kilobyte of bootstrap instead of 5.5 KB
 * packed), plain on one without (an ESP8266: some 900 bytes of loader
 * and lines instead of 11 KB of code).  Else the bootstrap that
 * receives the agent also writes it there (temporary name, then rename;
 * older versions go) when the probe could hash it (sha1) and the flash
 * keeps 64 KB free besides; a plain copy that cannot be written or run
 * is replaced by the code itself in the same session.  The agent never
 * lists, counts or prunes REPL_CACHE_DIR.  True when this run came from
 * the cache.
 */
bool agent_from_cache(const struct agent *a);
/* The board's words for the last EREMOTEIO ("ENOSPC"), "" if none. */
const char *agent_last_error(const struct agent *a);

int agent_inventory(struct agent *a, const char *dest,
    struct agent_inventory *inv);
/* Every file and folder below dir, as devfs_list gives them. */
int agent_list(struct agent *a, const char *dir, struct devfs_list *out);
/* Hash a board file (agent_hello's algorithm); ENOENT when missing. */
int agent_hash(struct agent *a, const char *path,
    char hex[DEVFS_HASH_HEXSZ]);
/* Append a board file's bytes to out; ENOENT when missing. */
int agent_read(struct agent *a, const char *path, struct buf *out);
/*
 * Write data to path's temporary name, hashed on the board as written
 * (hex: the same hash on the host).  staged: leave it there for
 * agent_commit; else rename it over path at once.  progress (may be NULL)
 * is told the bytes sent so far.
 */
int agent_put(struct agent *a, const char *path, const void *data,
    size_t len, const char *hex, bool staged,
    void (*progress)(void *arg, uint64_t sent), void *arg);
/*
 * A file for agent_put_batch, and how it went: err 0 when the board
 * holds it (hashed as hex); EREMOTEIO when the board refused (why has
 * its words), EBADMSG when it arrived damaged (send it again).
 */
struct agent_file {
	const char *path;
	const void *data;
	size_t len;
	const char *hex;
	int err;
	char why[256];
};

/* Progress of a batch: the file just sent to, all file bytes sent. */
typedef void (*agent_progress_fn)(void *arg, size_t file, uint64_t sent);

/*
 * agent_put for many files, several in flight: the next file's command
 * and data go while the board still inflates, writes, hashes and closes
 * the last (the line no longer idles for each verdict), and the
 * verdicts are read as they come.  Returns 0 when every file got
 * its verdict (each file's err says which), -1 when the run was lost
 * (EIO, ETIMEDOUT, or EINTR from the stop flag: the board drops what it
 * had open); then only agent_end() may follow.
 */
int agent_put_batch(struct agent *a, struct agent_file *files, size_t n,
    bool staged, agent_progress_fn progress, void *arg);
/*
 * Stage path (len bytes, hash hex) made on the board from the file base
 * and the edit script ops (recdelta.h), so only what changed crosses the
 * line.  EBADMSG when the board's result did not hash to hex (its base
 * was not what the host thought): send the file whole then.
 */
int agent_patch(struct agent *a, const char *path, const char *base,
    const void *ops, size_t opslen, size_t len, const char *hex);
/*
 * Stage the commit's journal, AGENT_JOURNAL_NAME in dest: its lines are
 * "R HEX PATH" (rename a staged file into place) and "D HEX PATH"
 * (delete PATH if it holds HEX; with "-", a hash the host could not
 * compute, PATH is kept and reported kept), deletes first.  It goes
 * as a staged file does (compressed with the run's files, hashed on the
 * board as written), so a damaged journal is never carried out.  A
 * second call replaces the first.
 */
int agent_journal(struct agent *a, const char *dest, const char *lines);
/* Put the staged journal into place and carry it out in one short
 * burst. */
int agent_commit(struct agent *a, const char *dest, struct agent_commit *c);
/* Say goodbye; final describes the board as left (may be NULL). */
int agent_finish(struct agent *a, const char *dest,
    struct agent_inventory *final);
/*
 * End the run (after agent_finish, or to give up) and give the port back
 * to the REPL.  Returns 0 when the board is at its raw prompt again.
 */
int agent_end(struct agent *a);

/*
 * Between two commands, in a loop of the host's own work (reading blobs,
 * compressing, writing the mirror): a pad unit, which the agent skips,
 * when nothing went to the board for a second, so that the agent's idle
 * timeout (5 s) does not end the run while a slow disk keeps the host
 * busy.  Never inside a command's data.
 */
int agent_keepalive(struct agent *a);

/* Bytes this agent moved, for cost assertions and logs. */
uint64_t agent_bytes_sent(const struct agent *a);
uint64_t agent_bytes_received(const struct agent *a);
/* Pieces the agent read ahead in its run, as agent_finish() heard. */
uint64_t agent_pieces_read_ahead(const struct agent *a);

#endif
