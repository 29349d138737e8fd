/*
 * repl.h - MicroPython's raw REPL over a serial port.
 *
 * repl_open() opens and locks the port, interrupts whatever runs, enters
 * the raw REPL (retrying within a bounded time) and probes the board once.
 * Code runs through raw-paste mode with its window flow control, or plain
 * raw mode on firmware without it.  A board-side exception becomes a host
 * error whose message carries the exception's last line.  repl_close()
 * leaves the board at its friendly REPL and releases the port.
 *
 * A struct repl is used by one thread at a time.
 */
#ifndef SENKO_REPL_H
#define SENKO_REPL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct repl;

#define REPL_CACHED_MAX 4
#define REPL_CACHE_DIR "/.senko"

/* A file in REPL_CACHE_DIR (the agent's cache) and its git blob hash. */
struct repl_cached {
	char name[48];
	char hex[41];
};

struct repl_info {
	char version[64];    /* sys.implementation / os.uname().release */
	char platform[32];   /* sys.platform: esp32, esp8266, ... */
	char unique_id[72];  /* machine.unique_id() as hex, "" if none */
	bool has_raw_paste;
	bool has_stdin_buffer;
	bool has_sha1;
	bool has_sha256;
	bool has_deflate;    /* deflate.DeflateIO */
	bool has_zlib;       /* zlib.DecompIO (older firmware) */
	uint64_t free_flash; /* bytes, from os.statvfs('/') */
	uint64_t free_heap;  /* bytes, gc.mem_free() after gc.collect() */
	struct repl_cached cached[REPL_CACHED_MAX]; /* the agent's cache */
	unsigned ncached;
};

/*
 * Open port and enter the raw REPL.  Returns NULL with errno set on
 * failure: ENOENT/ENODEV (port missing), EBUSY (port locked by another
 * process), ETIMEDOUT (no raw REPL in time; the message quotes what the
 * board printed and suggests reset = hard or fixing a main.py that
 * swallows Ctrl-C), EIO (the board vanished).  Errors are logged.
 */
struct repl *repl_open(const char *port, unsigned baud);
/*
 * A port "uid:HEX" (identity.h) opens the board whose machine.unique_id()
 * is HEX: the node it answered on last if it is still there, else each
 * candidate port in turn, every other board probed given its application
 * back.  None: errno ENOENT, "no board with unique id HEX"; EBUSY when
 * a candidate was held by another process.
 */
/*
 * The same, but opening ends early, with errno ECANCELED, once *stop is
 * nonzero (a SIGTERM or Ctrl-C during the up to 10 s a silent board takes
 * to give up).  Once open, a stop leaves the session REPL_STOP_GRACE_MS
 * to wind down in (the unit in flight, the agent's end, the reset that
 * restarts the application); after that every wait on the board fails
 * with ECANCELED.  With the rest of a cycle's end, that keeps senkod's
 * promise to stop within 5 s of SIGTERM whatever a board does.
 */
#define REPL_STOP_GRACE_MS 2500
struct repl *repl_open_stoppable(const char *port, unsigned baud,
    const volatile sig_atomic_t *stop);
void repl_close(struct repl *r);

const struct repl_info *repl_info(const struct repl *r);

/*
 * Run code; append what it printed to out (may be NULL).  Returns 0; or
 * -1 when the board raised (message names the exception; errno
 * EREMOTEIO) or the line failed (errno EIO/ETIMEDOUT).  Code must not
 * contain the bytes 03/04 (EINVAL).  After a line failure or a reset the
 * next call enters the raw REPL again first.
 */
int repl_exec(struct repl *r, const char *code, struct buf *out);
/*
 * The same, but a board-side exception is not logged, for callers that
 * report it with their own context (repl_last_exception()).
 */
int repl_exec_quiet(struct repl *r, const char *code, struct buf *out);
/*
 * Run len bytes of code and hand what it prints to emit as it arrives,
 * until it ends: no limit on silence (a program may run for hours).  Once
 * *stop is nonzero (stop may be NULL) a Ctrl-C goes to the board, and the
 * code must end within 10 s (ETIMEDOUT).  Returns 0 when it ended, also
 * by the KeyboardInterrupt that Ctrl-C raised (*interrupted is set then);
 * -1 as repl_exec_quiet (a board-side exception: EREMOTEIO, not logged).
 */
int repl_exec_stream(struct repl *r, const char *code, size_t len,
    void (*emit)(void *arg, const char *data, size_t len), void *arg,
    const volatile sig_atomic_t *stop, bool *interrupted);
/* Last line of the last board-side exception ("OSError: [Errno 2]
 * ENOENT"), "" when the last run raised nothing. */
const char *repl_last_exception(const struct repl *r);
/* The whole traceback of the last board-side exception, "" if none. */
const char *repl_last_traceback(const struct repl *r);
/* Longest silence accepted from running code (default 20 s). */
void repl_set_timeout(struct repl *r, int timeout_ms);
/* The port as given to repl_open(), for messages. */
const char *repl_port(const struct repl *r);
/* The board went away (serial_lost()): nothing more can reach it. */
bool repl_port_lost(const struct repl *r);

/*
 * The port lent by repl_launch() comes back: at_prompt says whether the
 * caller left the board at the raw prompt (else the next run enters the
 * raw REPL again).
 */
void repl_return_port(struct repl *r, bool at_prompt);

/*
 * Start code as one execution and hand the port to the caller while it
 * runs (the on-board agent).  Bytes already read after the code was
 * accepted are appended to early (they are the program's output).  The
 * caller reads the end of the run (04, exception, 04, '>') itself and
 * gives the port back with repl_return_port().  NULL on failure (logged).
 */
struct serial *repl_launch(struct repl *r, const char *code,
    struct buf *early);
/*
 * Soft reset inside the raw REPL: a clean heap, boot.py runs, main.py
 * does not; the board is at the raw prompt again.
 */
int repl_raw_reset(struct repl *r);
/* Read what the board prints for ms milliseconds into out (its tail is
 * kept when it overflows).  -1 only when the line failed. */
int repl_watch(struct repl *r, int ms, struct buf *out);
unsigned repl_baud(const struct repl *r);

/* Soft reset (Ctrl-D at the friendly REPL: boot.py then main.py run). */
int repl_soft_reset(struct repl *r);
/* Hard reset through DTR/RTS (fails on ports without modem lines). */
int repl_hard_reset(struct repl *r);
uint64_t repl_bytes_sent(const struct repl *r);
uint64_t repl_bytes_received(const struct repl *r);

/*
 * Append Python that imports modules ("os,binascii") as the firmware's
 * built-ins: MicroPython looks for an extensible built-in (os, binascii,
 * hashlib, machine, ...) on sys.path first (py/builtinimport.c), so a
 * board's own binascii.py or lib/hashlib.py would stand in for it.
 * sys.path is emptied and loaded modules of those names set aside while
 * they are imported, then both are put back.
 */
void repl_add_imports(struct buf *code, const char *modules);
/* Append s to out as a Python bytes/str literal that evaluates to s. */
void repl_quote(struct buf *out, const char *s, size_t len);

#endif
