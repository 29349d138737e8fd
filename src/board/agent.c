/*
 * agent.c - host side of the on-board agent; see agent.h and the header
 * of src/board/agent.py for the bytes on the wire.
 *
 * The board's output is parsed by one state machine (enum rx): credits
 * (06) and frames (1E ...) while the agent runs, then the raw REPL's end
 * of run (04, exception text, 04, '>').  Bytes outside frames are counted
 * as noise (a timer callback's prints) and skipped; too many of them, or
 * the deadline passing, ends the session with an error.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "agent.h"
#include "agent_code.h"
#include "buf.h"
#include "devfs.h"
#include "githash.h"
#include "log.h"
#include "monotime.h"
#include "path.h"
#include "plan.h"
#include "repl.h"
#include "serial.h"
#include "xalloc.h"
#include "zrun.h"
#include "banned.h"

#define PAYLOAD_MAX (AGENT_UNIT - 4) /* type, length ... sum16 */
#define DATA_MAX (AGENT_PIECES * AGENT_UNIT - 5) /* 'D', length16 ... sum16 */
#define SLACK_MS 10000     /* fixed part of every deadline */
#define SILENCE_MS 8000    /* a working board says something this often */
#define KEEPALIVE_MS 1000  /* agent.py's IDLE_MS is 5 s */
#define WRITE_MS 5000
#define END_MS 5000        /* from the last frame to the raw prompt */
#define NOISE_MAX (256u * 1024) /* other output we skip before giving up */
#define FRAME_MAX 4096
#define RING_MARGIN 16
#define AHEAD_MAX (16 * 1024)       /* bytes the agent may read ahead */
#define AHEAD_HEAP_MIN (32 * 1024)  /* free heap below which it reads none */
#define LISTING_HEXSZ 14  /* agent.py: '%014x' */

enum frame_type {
	FR_STOPPED = 'S', FR_HELLO = 'V', FR_INVENTORY = 'I', FR_FILES = 'F',
	FR_END = 'Z', FR_HASH = 'H', FR_DATA = 'R', FR_MISSING = 'N',
	FR_OK = 'K', FR_MISMATCH = 'M', FR_ERROR = 'E', FR_COMMIT = 'C',
	FR_BYE = 'Q',
};

enum rx {
	RX_OUT,    /* between frames */
	RX_TYPE, RX_LEN1, RX_LEN2, RX_BODY, RX_SUM1, RX_SUM2,
	RX_EXC,    /* the run ended: exception text up to 04 */
	RX_PROMPT, /* then '>' */
	RX_DONE,
};

struct agent {
	struct repl *r;
	struct serial *s;
	const char *port;
	unsigned baud;
	volatile sig_atomic_t *stop;
	struct agent_hello hello;
	uint64_t pieces_sent, credits; /* a credit per piece taken */

	enum rx st;
	int ftype;
	size_t flen;
	unsigned fsum, fsum_got;
	size_t fgot;          /* body bytes read, kept or not */
	struct buf body;      /* the frame being read, then the last frame */
	bool have_frame;
	bool wake_on_credit;  /* pump returns when a credit comes */
	/* Frames that come while we send: the verdicts of files in flight
	 * (agent_put_batch); NULL: any frame then is an error. */
	int (*on_frame)(struct agent *a, void *arg);
	void *frame_arg;
	struct buf exc;       /* exception text when the run ended */
	uint64_t noise;
	unsigned char rbuf[512];
	size_t rpos, rlen;

	int64_t deadline;
	int64_t last_rx;
	int64_t last_tx;      /* when a piece last went out */
	uint64_t sent, received;
	uint64_t read_ahead;  /* pieces the agent took early (agent.py) */
	bool finished;
	bool given_up;        /* a stop's grace ran out: wait for nothing */
	bool from_cache;      /* started from the board's cached copy */
	bool inflate;         /* the agent can inflate raw deflate */
	struct zrun z;        /* file data compressed across the run */
	char last_error[256];
};

unsigned
agent_window_units(const char *platform)
{
	static const struct {
		const char *platform;
		unsigned ring;  /* usable bytes (MicroPython's ringbuf: size-1) */
	} rings[] = {
		{ "esp8266", 255 }, /* ports/esp8266/esp_mphal.c: [256] */
		{ "esp32", 259 },   /* ports/esp32/mphalport.c: [260] */
		{ "rp2", 511 },
		{ "samd", 127 },
	};
	const char *env = getenv("SENKO_AGENT_WINDOW");
	unsigned ring = 127, units;
	size_t i;

	if (env != NULL && atoi(env) > 0)
		return (unsigned)atoi(env);
	for (i = 0; i < sizeof(rings) / sizeof(rings[0]); i++)
		if (strcmp(platform, rings[i].platform) == 0)
			ring = rings[i].ring;
	units = (ring - RING_MARGIN) / AGENT_UNIT;
	return units ? units : 1;
}

unsigned
agent_ahead_pieces(int64_t free_heap, uint64_t wire)
{
	const char *env = getenv("SENKO_AGENT_AHEAD");
	uint64_t bytes = AHEAD_MAX;

	if (env != NULL && *env != '\0')
		return (unsigned)atoi(env);
	if (free_heap < AHEAD_HEAP_MIN)
		return 0;
	if ((uint64_t)free_heap / 4 < bytes)
		bytes = (uint64_t)free_heap / 4;
	if (wire / 4 < bytes)
		bytes = wire / 4;
	return (unsigned)(bytes / AGENT_UNIT);
}

/*
 * A put command's last fields (agent.py put()): how many pieces the
 * agent may read ahead (it makes room once, at the first put of its run
 * that asks, so wire is what that put and those sent with it take on
 * the line), a piece's time on the line in microseconds, and the window,
 * for its reckoning of when a credited piece has arrived.
 */
static void
put_tail(const struct agent *a, struct buf *head, uint64_t wire)
{
	uint64_t us = ((uint64_t)AGENT_UNIT * 10 * 1000000 + a->baud - 1) /
	    a->baud;

	buf_addf(head, "%c%u%c%" PRIu64 "%c%u", 0,
	    agent_ahead_pieces(a->hello.free_heap, wire), 0, us, 0,
	    a->hello.window_units);
}

/* ------------------------------------------------------------ deadlines */

/* A new deadline for an operation that moves about `bytes` each way:
 * twice their line time plus slack (the board writes flash and hashes). */
static void
arm(struct agent *a, uint64_t bytes)
{
	unsigned rate = a->baud / 10;

	a->deadline = monotime_ms() + SLACK_MS + (int64_t)(bytes * 2000 / rate);
}

/* "PORT: message", logged as an error or as a notice; errno err, -1. */
static int
report(struct agent *a, bool error, int err, const char *fmt, va_list ap)
{
	struct buf msg = BUF_INIT;

	buf_vaddf(&msg, fmt, ap);
	if (error)
		log_failx("%s: %s", a->port, msg.data);
	else
		log_notice("%s: %s", a->port, msg.data);
	buf_release(&msg);
	errno = err;
	return -1;
}

static int
fail_errno(struct agent *a, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail_errno(struct agent *a, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(a, true, err, fmt, ap);
	va_end(ap);
	return -1;
}

/* The stop flag ended an operation: a notice, not an error (errno EINTR;
 * agent.h).  A board that does not wind down after it is an error. */
static int
stop_noted(struct agent *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
stop_noted(struct agent *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	report(a, false, EINTR, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * A read or write on the line failed while what: the board vanished
 * (serial.c said so), or a stop's grace ran out on a board that did not
 * wind down in time (serial.h; errno EINTR, as for a stop).
 */
static int
line_failed(struct agent *a, const char *verb, const char *what)
{
	if (errno == ECANCELED) {
		a->given_up = true;
		return fail_errno(a, EINTR, "stopping: the board did not "
		    "finish %s within %.1f s of the stop request; left as it "
		    "is", what, REPL_STOP_GRACE_MS / 1000.0);
	}
	return fail_errno(a, EIO, "cannot %s the board while %s", verb,
	    what);
}

/* ------------------------------------------------------------- the board */

/* Feed one byte; true when a frame or the run's end is complete. */
static bool
rx_feed(struct agent *a, unsigned char c)
{
	switch (a->st) {
	case RX_OUT:
		if (c == 0x06 && a->credits < a->pieces_sent) {
			a->credits++;
			return a->wake_on_credit;
		} else if (c == 0x06)
			a->noise++; /* a credit for no piece: stray output */
		else if (c == 0x1e)
			a->st = RX_TYPE;
		else if (c == 0x04) {
			buf_reset(&a->exc);
			a->st = RX_EXC;
		} else
			a->noise++;
		return false;
	case RX_TYPE:
		a->ftype = c;
		a->fsum = c;
		a->st = RX_LEN1;
		return false;
	case RX_LEN1:
		a->flen = (size_t)c << 8;
		a->fsum += c;
		a->st = RX_LEN2;
		return false;
	case RX_LEN2:
		a->flen |= c;
		a->fsum += c;
		buf_reset(&a->body);
		a->fgot = 0;
		a->st = a->flen ? RX_BODY : RX_SUM1;
		return false;
	case RX_BODY:
		/* Past FRAME_MAX the body is not kept (and the frame not
		 * taken, below), but read to its end all the same. */
		if (a->fgot++ < FRAME_MAX)
			buf_addch(&a->body, c);
		a->fsum += c;
		if (a->fgot == a->flen)
			a->st = RX_SUM1;
		return false;
	case RX_SUM1:
		a->fsum_got = (unsigned)c << 8;
		a->st = RX_SUM2;
		return false;
	case RX_SUM2:
		a->fsum_got |= c;
		a->st = RX_OUT;
		if ((a->fsum & 0xffff) != a->fsum_got || a->flen > FRAME_MAX) {
			/* Not a frame of ours after all (or damaged). */
			a->noise += a->flen + 5;
			return false;
		}
		a->have_frame = true;
		return true;
	case RX_EXC:
		if (c == 0x04)
			a->st = RX_PROMPT;
		else if (buf_addch(&a->exc, c) == -1)
			buf_consume(&a->exc, a->exc.len / 2);
		return false;
	case RX_PROMPT:
		if (c == '>') {
			a->st = RX_DONE;
			return true;
		}
		return false;
	case RX_DONE:
		return true;
	}
	return false;
}

/* The run ended before its answer: what the board said, on one line. */
static void
run_ended(struct agent *a, const char *what)
{
	struct buf q = BUF_INIT;

	buf_rtrim(&a->exc);
	path_quote_traceback(&q, a->exc.data, a->exc.len);
	log_failx("%s: the agent stopped while %s: %s", a->port, what,
	    a->exc.len ? q.data : "no reason given");
	buf_release(&q);
	errno = EIO;
}

/*
 * Read from the board until a frame is complete (or the run ended), at
 * most until the deadline.  0: a frame or the end; -1: error (logged).
 */
static int
pump(struct agent *a, const char *what)
{
	ssize_t n;
	int64_t now, wait, since = monotime_ms();

	for (;;) {
		while (a->rpos < a->rlen)
			if (rx_feed(a, a->rbuf[a->rpos++]))
				return 0;
		if (a->st == RX_DONE)
			return 0;
		if (a->noise > NOISE_MAX)
			return fail_errno(a, EIO, "the board printed more than "
			    "%u bytes of other output while %s; is main.py "
			    "still running (a timer callback)?", NOISE_MAX,
			    what);
		now = monotime_ms();
		if (now >= a->deadline)
			return fail_errno(a, ETIMEDOUT, "the board did not "
			    "finish %s in time (%" PRIu64 " bytes of other "
			    "output on the line)", what, a->noise);
		/* Silence counts from when we began to listen: time the
		 * host spent on its own work is not the board's. */
		if (now - (a->last_rx > since ? a->last_rx : since) >
		    SILENCE_MS)
			return fail_errno(a, ETIMEDOUT, "the board stopped "
			    "answering while %s (silent for %d s)", what,
			    SILENCE_MS / 1000);
		wait = a->deadline - now;
		if (wait > 200)
			wait = 200;
		n = serial_read(a->s, a->rbuf, sizeof(a->rbuf), (int)wait);
		if (n == -1)
			return line_failed(a, "read from", what);
		if (n > 0) {
			a->last_rx = monotime_ms();
			a->received += (uint64_t)n;
		}
		a->rpos = 0;
		a->rlen = (size_t)n;
	}
}

/* The board's words for a refusal; never empty (agent.h's promise). */
static void
board_refused(struct agent *a, const char *words)
{
	snprintf(a->last_error, sizeof(a->last_error), "%s",
	    *words ? words : "the board gave no reason");
}

/* The next frame, whatever it says; the run ending or a stop report is
 * an error. */
static int
any_frame(struct agent *a, const char *what)
{
	a->have_frame = false;
	if (pump(a, what) == -1)
		return -1;
	if (!a->have_frame) {
		run_ended(a, what);
		return -1;
	}
	a->have_frame = false;
	if (a->ftype == FR_STOPPED)
		return fail_errno(a, EIO, "the agent gave up while %s: %s",
		    what, a->body.data);
	return 0;
}

/* The next frame; an error frame is the board refusing (EREMOTEIO). */
static int
next_frame(struct agent *a, const char *what)
{
	if (any_frame(a, what) == -1)
		return -1;
	if (a->ftype == FR_ERROR) {
		board_refused(a, a->body.data);
		return fail_errno(a, EREMOTEIO, "the board refused while %s: "
		    "%s", what, a->last_error);
	}
	return 0;
}

static int
unexpected(struct agent *a, const char *what)
{
	return fail_errno(a, EIO, "unexpected answer '%c' from the agent "
	    "while %s", a->ftype, what);
}

/* ------------------------------------------------------------ the host */

/* Wait until the window has room for one more piece. */
static int
wait_credit(struct agent *a, const char *what)
{
	int rc;

	while (a->pieces_sent - a->credits >= a->hello.window_units) {
		a->wake_on_credit = true;
		rc = pump(a, what);
		a->wake_on_credit = false;
		if (rc == -1)
			return -1;
		if (a->st == RX_DONE) {
			run_ended(a, what);
			return -1;
		}
		if (a->have_frame) {
			a->have_frame = false;
			if (a->ftype == FR_STOPPED)
				return fail_errno(a, EIO, "the agent gave up "
				    "while %s: %s", what, a->body.data);
			/* Only the verdict of a file in flight may come. */
			if (a->on_frame == NULL)
				return unexpected(a, what);
			if (a->on_frame(a, a->frame_arg) == -1)
				return -1;
		}
	}
	return 0;
}

/* One piece of a unit, in one write, within the credit window. */
static int
send_piece(struct agent *a, const unsigned char piece[AGENT_UNIT],
    const char *what)
{
	if (wait_credit(a, what) == -1)
		return -1;
	if (serial_write(a->s, piece, AGENT_UNIT, WRITE_MS) == -1)
		return line_failed(a, "write to", what);
	a->pieces_sent++;
	a->sent += AGENT_UNIT;
	a->last_tx = monotime_ms();
	return 0;
}

static void
unit_build(unsigned char u[AGENT_UNIT], int type, const void *payload,
    size_t n, bool more)
{
	unsigned sum = 0;
	size_t i;

	memset(u, 0, AGENT_UNIT);
	u[0] = (unsigned char)type;
	u[1] = (unsigned char)(n | (more ? 0x80 : 0));
	if (n)
		memcpy(u + 2, payload, n);
	for (i = 0; i < AGENT_UNIT - 2; i++)
		sum += u[i];
	u[AGENT_UNIT - 2] = (unsigned char)(sum >> 8 & 0xff);
	u[AGENT_UNIT - 1] = (unsigned char)(sum & 0xff);
}

/* One command unit (one piece); first: the stop flag is looked at. */
static int
send_unit(struct agent *a, int type, const void *payload, size_t n,
    bool more, bool first, const char *what)
{
	unsigned char u[AGENT_UNIT];

	if (first && a->stop != NULL && *a->stop && type != 'A')
		return stop_noted(a, "stopping while %s", what);
	unit_build(u, type, payload, n, more);
	return send_piece(a, u, what);
}

int
agent_keepalive(struct agent *a)
{
	/* The agent's idle time began with the later of our last piece
	 * and its last word (a verdict after a long write): not a pad
	 * per group of a long push. */
	int64_t last = a->last_tx > a->last_rx ? a->last_tx : a->last_rx;

	if (monotime_ms() - last < KEEPALIVE_MS)
		return 0;
	return send_unit(a, 0, NULL, 0, false, false, "keeping the agent "
	    "waiting");
}

/*
 * The payload length of the next 'D' unit for the n bytes at p: as much
 * as fits, ended at a piece boundary where a later piece would start
 * with a byte of AGENT_FOREIGN (agent.py's header says why).  Piece k
 * starts with payload byte k * AGENT_UNIT - 3.
 */
static size_t
data_unit_len(const unsigned char *p, size_t n, size_t max)
{
	size_t len = n < max ? n : max, k;

	for (k = 1; k * AGENT_UNIT - 3 < len; k++)
		if (memchr(AGENT_FOREIGN, p[k * AGENT_UNIT - 3],
		    sizeof(AGENT_FOREIGN) - 1) != NULL)
			return k * AGENT_UNIT - 5;
	return len;
}

/* A 'D' or 'B' unit of n payload bytes (at most DATA_MAX); its pieces. */
static size_t
data_unit_build(unsigned char u[AGENT_PIECES * AGENT_UNIT], int type,
    const unsigned char *p, size_t n)
{
	size_t pieces = (n + 5 + AGENT_UNIT - 1) / AGENT_UNIT;
	size_t end = pieces * AGENT_UNIT, i;
	unsigned sum = 0;

	memset(u, 0, end);
	u[0] = (unsigned char)type;
	u[1] = (unsigned char)(n >> 8);
	u[2] = (unsigned char)(n & 0xff);
	memcpy(u + 3, p, n);
	for (i = 0; i < end - 2; i++)
		sum += u[i];
	u[end - 2] = (unsigned char)(sum >> 8 & 0xff);
	u[end - 1] = (unsigned char)(sum & 0xff);
	return pieces;
}

/*
 * A patch's edit script (wlen bytes) in 'D' units.  The stop flag is
 * looked at between units: a unit started is finished, then 'A' abandons
 * the file (its temporary name stays).
 */
static int
send_data(struct agent *a, const char *path, const unsigned char *p,
    size_t wlen, const char *what)
{
	unsigned char u[AGENT_PIECES * AGENT_UNIT];
	size_t off, n, pieces, i;

	for (off = 0; off < wlen; off += n) {
		if (a->stop != NULL && *a->stop) {
			send_unit(a, 'A', NULL, 0, false, true, what);
			return stop_noted(a, "stopped while writing '%s'",
			    path);
		}
		n = data_unit_len(p + off, wlen - off, DATA_MAX);
		pieces = data_unit_build(u, 'D', p + off, n);
		for (i = 0; i < pieces; i++)
			if (send_piece(a, u + i * AGENT_UNIT, what) == -1)
				return -1;
	}
	return 0;
}

/*
 * A command: its payload cut into as many units as it needs.  The stop
 * flag is looked at before the first only: half a command would take the
 * next unit (agent_end()'s 'z') for the rest of its payload.
 */
static int
send_command(struct agent *a, int type, const void *payload, size_t len,
    const char *what)
{
	const unsigned char *p = payload;
	size_t off = 0, n;

	do {
		n = len - off < PAYLOAD_MAX ? len - off : PAYLOAD_MAX;
		if (send_unit(a, type, p + off, n, off + n < len, off == 0,
		    what) == -1)
			return -1;
		off += n;
	} while (off < len);
	return 0;
}

static int
send_text(struct agent *a, int type, const char *text, const char *what)
{
	return send_command(a, type, text, strlen(text), what);
}

/* ------------------------------------------------------------- start */

static void
copy_field(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src);
}

/* Split a payload at NUL bytes into at most max fields. */
static size_t
fields(struct buf *b, char **out, size_t max)
{
	size_t n = 0, i;

	if (max == 0)
		return 0;
	out[n++] = b->data;
	for (i = 0; i < b->len && n < max; i++)
		if (b->data[i] == '\0')
			out[n++] = b->data + i + 1;
	return n;
}

static int
parse_hello(struct agent *a)
{
	char *f[7];

	if (a->ftype != FR_HELLO || fields(&a->body, f, 7) != 7)
		return unexpected(a, "starting");
	copy_field(a->hello.version, sizeof(a->hello.version), f[0]);
	copy_field(a->hello.platform, sizeof(a->hello.platform), f[1]);
	a->hello.algo = strcmp(f[2], "sha1") == 0 ? DEVFS_HASH_GIT_SHA1 :
	    DEVFS_HASH_SHA256;
	a->hello.free_flash = strtoll(f[3], NULL, 10);
	a->hello.free_heap = strtoll(f[4], NULL, 10);
	a->hello.idle_timeout = strcmp(f[5], "1") == 0;
	a->inflate = strcmp(f[6], "1") == 0;
	zrun_init(&a->z, (uint64_t)(a->hello.free_heap > 0 ?
	    a->hello.free_heap : 0));
	a->hello.window_units = agent_window_units(a->hello.platform);
	return 0;
}

/* ---------------------------------------------- getting onto the board */

/*
 * A board that can inflate (deflate.DeflateIO) gets the agent as one
 * raw-deflate stream of both parts, read by a small bootstrap execution
 * (src/board/boot.py) in units paced by credits like every command, and
 * kept in the cache (REPL_CACHE_DIR) by the same execution when there is
 * room.  A later session finds it there and sends only the bootstrap.
 *
 * A board without deflate, or with a small heap (an ESP8266), runs the
 * plain parts, one execution each.  With room in its flash it keeps
 * them in the cache too, written by the bootstrap in the first of the
 * two executions, and a later session sends a few hundred bytes instead
 * of 11 KB: on an ESP8266 that was most of a one-file update's time.
 * Without room, or when the copy will not run, the parts go as code.
 */

static const char *const agent_parts[2] = { agent_code_1, agent_code_2 };

/* The stream's window, 4 KB: a larger one shrinks the agent by 4 %; a
 * smaller one (1 KB) costs 16 % more bytes.  One size for every board,
 * so a board's copy in the cache keeps its name whatever heap the probe
 * finds free that day. */
#define BOOT_WBITS 12
/*
 * Heap the probe must find free for the bootstrap: it holds the stream
 * and each inflated part while that part compiles, all in one execution.
 * An ESP8266 (some 32 KB free) cannot: in the emulator, which collects
 * nothing inside an execution, compiling part 1 from the heap fails with
 * 26 KB free; the plain parts compile from the REPL's input or from
 * their cached copy a piece at a time, in an execution each.  The window
 * is a sixteenth of this.
 */
#define BOOT_HEAP_MIN (64 * 1024)
/* Flash the board keeps free besides the cache file, or it gets none:
 * the application's files matter more. */
#define CACHE_FLASH_SPARE (64 * 1024)

/* The agent as it goes to one board: packed (raw deflate of both parts)
 * or plain (the parts one after the other), with its name in the cache. */
struct packed {
	struct buf z;         /* the bytes to send, or empty */
	char hex[GITHASH_HEXSZ]; /* their git blob hash, as the probe hashes */
	char name[48];        /* their file name in REPL_CACHE_DIR */
};

/*
 * The key that names this build's agent on the board: the start of each
 * part's git blob hash, so a changed agent never runs an old copy.
 */
static int
cache_key(char key[17])
{
	char hex[2][GITHASH_HEXSZ];
	int i;

	for (i = 0; i < 2; i++)
		if (githash_mem(agent_parts[i], strlen(agent_parts[i]),
		    hex[i]) == -1)
			return -1;
	snprintf(key, 17, "%.8s%.8s", hex[0], hex[1]);
	return 0;
}

/* Both parts, one after the other, as one raw-deflate stream. */
static int
pack(struct packed *p, const char *key)
{
	z_stream zs;
	unsigned char out[4096];
	int i, rc;

	memset(&zs, 0, sizeof(zs));
	buf_init(&p->z, 0);
	snprintf(p->name, sizeof(p->name), "agent-%s-%d.z", key, BOOT_WBITS);
	if (deflateInit2(&zs, 9, Z_DEFLATED, -BOOT_WBITS, 9,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return log_failx("zlib: cannot compress the agent");
	for (i = 0; i < 2; i++) {
		zs.next_in = (unsigned char *)agent_parts[i];
		zs.avail_in = (unsigned)strlen(agent_parts[i]);
		do {
			zs.next_out = out;
			zs.avail_out = sizeof(out);
			rc = deflate(&zs, i == 1 ? Z_FINISH : Z_NO_FLUSH);
			if (rc == Z_STREAM_ERROR || buf_add(&p->z, out,
			    sizeof(out) - zs.avail_out) == -1) {
				deflateEnd(&zs);
				return log_failx("zlib: cannot compress the "
				    "agent");
			}
		} while (zs.avail_out == 0 || (i == 1 && rc != Z_STREAM_END));
	}
	deflateEnd(&zs);
	return githash_mem(p->z.data, p->z.len, p->hex);
}

/* Both parts, one after the other, as plain text. */
static int
pack_plain(struct packed *p, const char *key)
{
	buf_init(&p->z, 0);
	snprintf(p->name, sizeof(p->name), "agent-%s.py", key);
	if (buf_addstr(&p->z, agent_code_1) == -1 ||
	    buf_addstr(&p->z, agent_code_2) == -1)
		return log_failx("cannot hold the agent's code");
	return githash_mem(p->z.data, p->z.len, p->hex);
}

/*
 * The board's cached copy of this build's agent: found only when the
 * probe hashed the file to what the host would send, so a damaged or
 * foreign copy never runs.
 */
static bool
is_cached(const struct repl_info *in, const struct packed *p)
{
	unsigned i;

	for (i = 0; i < in->ncached; i++)
		if (strcmp(in->cached[i].name, p->name) == 0 &&
		    strcmp(in->cached[i].hex, p->hex) == 0)
			return true;
	return false;
}

/* Room for the cache: flash to spare, and the probe can hash it. */
static bool
cache_wanted(const struct repl_info *in, const struct packed *p)
{
	return in->has_sha1 && in->free_flash >= p->z.len + CACHE_FLASH_SPARE;
}

/* The bootstrap and the line that runs it (boot.py's header). */
static char *
boot_code(const struct packed *p, bool cached, bool store)
{
	if (cached)
		return xasprintf("%ssenko_run(open('%s/%s','rb'),%zu,%zu,%d)\n",
		    agent_boot_1, REPL_CACHE_DIR, p->name,
		    strlen(agent_code_1), strlen(agent_code_2), BOOT_WBITS);
	return xasprintf("%s%ssenko_run(senko_boot(%zu,%d,%d,'%s','%s',%d,1),"
	    "%zu,%zu,%d)\n", agent_boot_1, agent_boot_2, p->z.len, AGENT_UNIT,
	    AGENT_IDLE_MS, REPL_CACHE_DIR, p->name, store ? 1 : 0,
	    strlen(agent_code_1), strlen(agent_code_2), BOOT_WBITS);
}

/*
 * The line that runs part (0 or 1) of the plain agent from the cached
 * copy p, after the bootstrap's runner (and, with store, the line that
 * writes p first).
 */
static int
plain_code(struct buf *code, const struct packed *p, int part, bool store)
{
	buf_reset(code);
	if (store && (buf_addstr(code, agent_boot_1) == -1 ||
	    buf_addstr(code, agent_boot_2) == -1 ||
	    buf_addf(code, "senko_boot(%zu,%d,%d,'%s','%s',1,0)\n", p->z.len,
	    AGENT_UNIT, AGENT_IDLE_MS, REPL_CACHE_DIR, p->name) == -1))
		return -1;
	if (part == 0 && buf_addstr(code, agent_boot_3) == -1)
		return -1;
	return buf_addf(code, "senko_src('%s/%s',%zu,%s)\n", REPL_CACHE_DIR,
	    p->name, part ? strlen(agent_code_1) : 0, part ? agent_pieces_2 :
	    agent_pieces_1);
}

/*
 * The packed agent to the bootstrap: plain bytes in pieces of AGENT_UNIT
 * (the last may be shorter), at most the window's worth not yet answered
 * by a credit (the bootstrap sends one per piece it took out of the stdin
 * ring).  Nothing before its first credit, which says Ctrl-C is off on
 * the board (the stream holds 03 bytes).
 */
static int
send_packed(struct agent *a, const struct buf *z)
{
	const char *what = "sending the agent";
	unsigned window = a->hello.window_units;
	size_t off, n;

	arm(a, z->len + 256);
	/* That first credit as the answer to a piece of a window of one. */
	a->pieces_sent++;
	a->hello.window_units = 1;
	if (wait_credit(a, what) == -1)
		return -1;
	a->hello.window_units = window;
	/* The stop flag waits for the first command: a bootstrap left with
	 * half a stream would take the next session's Ctrl-C for data (it
	 * ends only when the line is quiet for AGENT_IDLE_MS); the agent
	 * stops at once.  A few KB at most, within the deadline. */
	for (off = 0; off < z->len; off += n) {
		n = z->len - off < AGENT_UNIT ? z->len - off : AGENT_UNIT;
		if (wait_credit(a, what) == -1)
			return -1;
		if (serial_write(a->s, z->data + off, n, WRITE_MS) == -1)
			return line_failed(a, "write to", what);
		a->pieces_sent++;
		a->sent += n;
	}
	return 0;
}

/* Take the port from repl_launch() for code; what came after the code
 * was accepted is the run's output.  -1 on failure (logged). */
static int
take_port(struct agent *a, const char *code)
{
	struct buf early = BUF_INIT;

	buf_init(&early, sizeof(a->rbuf));
	a->s = repl_launch(a->r, code, &early);
	if (a->s != NULL) {
		memcpy(a->rbuf, early.data, early.len);
		a->rpos = 0;
		a->rlen = early.len;
		a->last_rx = a->last_tx = monotime_ms();
	}
	buf_release(&early);
	return a->s ? 0 : -1;
}

/*
 * The first execution of a board's first session with the plain copy:
 * the bootstrap writes p into the cache and runs part 1 from there.  It
 * is read to its end here and the port given back.  0 when it ran;
 * 1 when it raised (the copy could not be written or run: the caller
 * sends the parts as code); -1 when the line failed (logged, the port
 * kept: agent_end() gives it back).
 */
static int
store_plain(struct agent *a, const struct buf *code, const struct packed *p)
{
	struct buf q = BUF_INIT;

	if (take_port(a, code->data) == -1)
		return -1;
	if (send_packed(a, &p->z) == -1)
		return -1;
	arm(a, 4096);
	while (a->st != RX_DONE) {
		a->have_frame = false;
		if (pump(a, "running the agent's first part") == -1)
			return -1;
	}
	repl_return_port(a->r, true);
	a->s = NULL;
	a->st = RX_OUT;
	a->pieces_sent = a->credits = a->noise = 0;
	a->rpos = a->rlen = 0;
	if (a->exc.len == 0)
		return 0;
	buf_rtrim(&a->exc);
	path_quote_traceback(&q, a->exc.data, a->exc.len);
	log_notice("%s: could not keep the agent in %s (%s); sending it as "
	    "code", a->port, REPL_CACHE_DIR, q.data);
	buf_release(&q);
	buf_reset(&a->exc);
	return 1;
}

/*
 * The plain agent: from the board's copy, or written there first, or as
 * code.  On success a->s is the port of the run (part 2).
 */
static int
launch_plain(struct agent *a, const char *key)
{
	const struct repl_info *in = repl_info(a->r);
	struct packed p = { .z = BUF_INIT };
	struct buf code = BUF_INIT;
	bool store = false;
	int rc = -1;

	if (pack_plain(&p, key) == -1)
		goto out;
	a->from_cache = is_cached(in, &p);
	if (!a->from_cache)
		store = cache_wanted(in, &p);
	if (!a->from_cache && !store)
		goto as_code;
	log_debug("%s: plain agent %s (%zu bytes)", a->port, a->from_cache ?
	    "from the board's cache" : "sent, kept in the cache", p.z.len);
	if (plain_code(&code, &p, 0, store) == -1)
		goto out;
	if (store) {
		rc = store_plain(a, &code, &p);
		if (rc == 1) {
			rc = -1;
			goto as_code;
		}
		if (rc == -1)
			goto out;
	} else if (repl_exec_quiet(a->r, code.data, NULL) == -1) {
		if (errno != EREMOTEIO)
			goto out;
		log_notice("%s: the agent's copy in %s did not run (%s); "
		    "sending it as code", a->port, REPL_CACHE_DIR,
		    repl_last_exception(a->r));
		a->from_cache = false;
		goto as_code;
	}
	if (plain_code(&code, &p, 1, false) == -1)
		goto out;
	rc = take_port(a, code.data);
	goto out;
as_code:
	/* The first part defines what the second, the run, uses. */
	rc = -1;
	if (repl_exec(a->r, agent_code_1, NULL) == 0)
		rc = take_port(a, agent_code_2);
out:
	buf_release(&code);
	buf_release(&p.z);
	return rc;
}

/*
 * Start the agent on the board: the bootstrap, from the cache or with
 * the packed agent to follow, or the plain agent.  On success a->s is
 * the port of the run.
 */
static int
launch(struct agent *a)
{
	const struct repl_info *in = repl_info(a->r);
	struct packed p = { .z = BUF_INIT };
	char key[17], *code;
	bool store;
	int rc;

	if (cache_key(key) == -1)
		return -1;
	if (!in->has_deflate || in->free_heap < BOOT_HEAP_MIN)
		return launch_plain(a, key);
	if (pack(&p, key) == -1) {
		buf_release(&p.z);
		return -1;
	}
	a->from_cache = is_cached(in, &p);
	store = !a->from_cache && cache_wanted(in, &p);
	log_debug("%s: agent %s (%zu bytes packed)%s", a->port,
	    a->from_cache ? "from the board's cache" : "sent", p.z.len,
	    store ? ", kept in the cache" : "");
	code = boot_code(&p, a->from_cache, store);
	rc = take_port(a, code);
	free(code);
	if (rc == 0 && !a->from_cache)
		rc = send_packed(a, &p.z);
	buf_release(&p.z);
	return rc;
}

bool
agent_from_cache(const struct agent *a)
{
	return a->from_cache;
}

struct agent *
agent_start(struct repl *r, unsigned baud, volatile sig_atomic_t *stop)
{
	struct agent *a = xcalloc(1, sizeof(*a));

	a->r = r;
	a->port = repl_port(r);
	a->baud = baud ? baud : 115200; /* for deadlines and the line's pace */
	a->stop = stop;
	/* The bootstrap's units are paced like the agent's. */
	a->hello.window_units = agent_window_units(repl_info(r)->platform);
	buf_init(&a->body, FRAME_MAX + 1);
	buf_init(&a->exc, 16 * 1024);
	if (launch(a) == -1) {
		if (a->s != NULL) {
			agent_end(a);
			return NULL;
		}
		buf_release(&a->body);
		buf_release(&a->exc);
		free(a);
		return NULL;
	}
	arm(a, 256);
	if (next_frame(a, "starting") == -1 || parse_hello(a) == -1) {
		agent_end(a);
		return NULL;
	}
	log_debug("%s: agent up: MicroPython %s on %s, %s, %" PRId64 " bytes "
	    "flash and %" PRId64 " heap free, idle timeout %s, window %u x "
	    "%d bytes", a->port, a->hello.version, a->hello.platform,
	    a->hello.algo == DEVFS_HASH_GIT_SHA1 ? "sha1" : "sha256",
	    a->hello.free_flash, a->hello.free_heap,
	    a->hello.idle_timeout ? "yes" : "no", a->hello.window_units,
	    AGENT_UNIT);
	return a;
}

const struct agent_hello *
agent_hello(const struct agent *a)
{
	return &a->hello;
}

const char *
agent_last_error(const struct agent *a)
{
	return a->last_error;
}

/* --------------------------------------------------------- operations */

static bool
is_hex(const char *s, size_t n)
{
	size_t i;

	if (strlen(s) != n)
		return false;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static size_t
hex_len(const struct agent *a)
{
	return a->hello.algo == DEVFS_HASH_GIT_SHA1 ? 40 : 64;
}

static int
parse_inventory(struct agent *a, struct agent_inventory *inv)
{
	char *f[5];
	unsigned d = 0, k = 0, x = 0;

	memset(inv, 0, sizeof(*inv));
	/* The record's hash and the listing digest are compared with and
	 * stored in the mirror: garbage there would stick. */
	if (fields(&a->body, f, 5) != 5 ||
	    (*f[0] != '\0' && !is_hex(f[0], hex_len(a))) ||
	    !is_hex(f[1], LISTING_HEXSZ))
		return unexpected(a, "taking the inventory");
	copy_field(inv->record, sizeof(inv->record), f[0]);
	copy_field(inv->listing, sizeof(inv->listing), f[1]);
	inv->entries = strtoul(f[2], NULL, 10);
	if (*f[3] && sscanf(f[3], "%u %u %u", &d, &k, &x) == 3) {
		inv->journal = true;
		inv->journal_done = d;
		inv->journal_kept = k;
		inv->journal_failed = x;
	}
	inv->temps_removed = (unsigned)strtoul(f[4], NULL, 10);
	return 0;
}

int
agent_inventory(struct agent *a, const char *dest,
    struct agent_inventory *inv)
{
	const char *what = "taking the inventory";

	arm(a, 1024);
	if (send_text(a, 'I', dest, what) == -1 || next_frame(a, what) == -1)
		return -1;
	if (a->ftype != FR_INVENTORY)
		return unexpected(a, what);
	return parse_inventory(a, inv);
}

static int
parse_listing(struct agent *a, struct devfs_list *out, size_t *alloc)
{
	char *line = a->body.data, *next, *sp;
	long long size;

	while (line < a->body.data + a->body.len) {
		next = memchr(line, '\n', (size_t)(a->body.data + a->body.len -
		    line));
		if (next == NULL)
			return unexpected(a, "listing");
		*next = '\0';
		size = strtoll(line, &sp, 10);
		if (*sp != ' ' || sp[1] != '/')
			return unexpected(a, "listing");
		if (out->n == *alloc) {
			*alloc = *alloc ? *alloc * 2 : 32;
			out->entries = xreallocarray(out->entries, *alloc,
			    sizeof(*out->entries));
		}
		out->entries[out->n].path = xstrdup(sp + 1);
		out->entries[out->n].is_dir = size < 0;
		out->entries[out->n].size = size < 0 ? 0 : (uint64_t)size;
		out->n++;
		line = next + 1;
	}
	return 0;
}

int
agent_list(struct agent *a, const char *dir, struct devfs_list *out)
{
	const char *what = "listing files";
	size_t alloc = 0;

	out->entries = NULL;
	out->n = 0;
	arm(a, 64 * 1024);
	if (send_text(a, 'L', dir, what) == -1)
		return -1;
	for (;;) {
		if (next_frame(a, what) == -1)
			goto fail;
		if (a->ftype == FR_END)
			return 0;
		if (a->ftype != FR_FILES) {
			unexpected(a, what);
			goto fail;
		}
		/* Long listings: each frame buys more time. */
		arm(a, 64 * 1024);
		if (parse_listing(a, out, &alloc) == -1)
			goto fail;
	}
fail:
	devfs_list_release(out);
	return -1;
}

int
agent_hash(struct agent *a, const char *path, char hex[DEVFS_HASH_HEXSZ])
{
	const char *what = "hashing a file";

	arm(a, 1024);
	if (send_text(a, 'H', path, what) == -1 || next_frame(a, what) == -1)
		return -1;
	if (a->ftype != FR_HASH)
		return unexpected(a, what);
	if (a->body.len == 0) {
		errno = ENOENT;
		return -1;
	}
	if (!is_hex(a->body.data, hex_len(a)))
		return unexpected(a, what);
	memcpy(hex, a->body.data, a->body.len + 1);
	return 0;
}

int
agent_read(struct agent *a, const char *path, struct buf *out)
{
	const char *what = "reading a file";

	arm(a, 4096);
	if (send_text(a, 'R', path, what) == -1)
		return -1;
	for (;;) {
		if (next_frame(a, what) == -1)
			return -1;
		if (a->ftype == FR_END)
			return 0;
		if (a->ftype == FR_MISSING) {
			errno = ENOENT;
			return -1;
		}
		if (a->ftype != FR_DATA)
			return unexpected(a, what);
		arm(a, 4096);
		if (buf_add(out, a->body.data, a->body.len) == -1)
			return fail_errno(a, EFBIG, "'%s' is too large to read",
			    path);
	}
}

/*
 * The board's verdict on a file, the frame in a->ftype and a->body:
 * 0 written, else -1 with errno EREMOTEIO (the board refused: an 'E'
 * frame of path and reason), EBADMSG (its hash is not hex) or EIO.
 */
static int
file_verdict(struct agent *a, const char *path, const char *hex,
    bool patched)
{
	if (a->ftype == FR_ERROR) {
		char *why = memchr(a->body.data, '\0', a->body.len);

		board_refused(a, why ? why + 1 : a->body.data);
		errno = EREMOTEIO;
		return -1;
	}
	if (a->ftype == FR_MISMATCH && patched) {
		/* The base was not what we thought: not the line's fault. */
		log_debug("%s: patching '%s' gave hash %.64s, expected %s",
		    a->port, path, a->body.data, hex);
		errno = EBADMSG;
		return -1;
	}
	if (a->ftype == FR_MISMATCH) {
		log_warnx("%s: '%s' arrived damaged (board hash %.64s, "
		    "expected %s)", a->port, path, a->body.data, hex);
		errno = EBADMSG;
		return -1;
	}
	if (a->ftype != FR_OK)
		return unexpected(a, "writing a file");
	if (strcmp(a->body.data, hex) != 0)
		return fail_errno(a, EBADMSG, "'%s': the board reported hash "
		    "%.64s, expected %s", path, a->body.data, hex);
	return 0;
}

/* The next frame, a file's verdict (see file_verdict). */
static int
put_verdict(struct agent *a, const char *path, const char *hex,
    bool patched)
{
	a->have_frame = false;
	if (pump(a, "writing a file") == -1)
		return -1;
	if (!a->have_frame) {
		run_ended(a, "writing a file");
		return -1;
	}
	a->have_frame = false;
	if (a->ftype == FR_STOPPED)
		return fail_errno(a, EIO, "the agent gave up while writing a "
		    "file: %s", a->body.data);
	return file_verdict(a, path, hex, patched);
}

/*
 * A batch of files in flight (agent_put_batch): the next file's 'P' and
 * 'D' units go while the board still writes, hashes and closes the last
 * one; the verdicts ('K', 'M', 'E') come in the files' order, read as
 * they come (between pieces, when the window is full, and at the end).
 */
struct flight {
	struct agent_file *f;
	struct buf z;         /* the compressed data, if it went so */
	const unsigned char *wire;
	size_t wlen, off;     /* wire bytes, and how many went out */
	uint64_t told;        /* file bytes the progress was told of */
	int zmode;            /* 0 raw, 1 compressed, 2 on a fresh stream */
	bool opened;          /* its command went out */
};

struct batch {
	struct agent_file *files;
	struct flight *fl;    /* in the order they go: see batch_order() */
	size_t n, next;       /* files; the one being sent */
	size_t settled;       /* verdicts received */
	bool staged;
	bool stream_broken;   /* a compressed file failed */
	uint64_t left;        /* wire and file bytes still to move */
	uint64_t wire;        /* wire bytes of all its files */
	agent_progress_fn progress;
	void *arg;
	uint64_t sent;        /* file bytes sent, for progress */
	size_t most;          /* the most files in flight at once */
};

/*
 * The largest 'D' unit for a put.  Raw data: DATA_MAX; the board only
 * copies it to flash and the line is what limits.  Compressed data: one
 * window of pieces, so that while the board inflates a unit and writes
 * its many bytes to flash (its CPU stalled, reading nothing), the next
 * unit waits whole in its stdin ring and the line keeps moving; with
 * 1 KB units the line and the flash took turns (source files: 0.6 s of
 * 11 s at 115200).
 */
static size_t
data_unit_max(const struct agent *a, bool compressed)
{
	size_t w = a->hello.window_units ? a->hello.window_units : 1;

	if (!compressed || w * AGENT_UNIT - 5 >= DATA_MAX)
		return DATA_MAX;
	return w * AGENT_UNIT - 5;
}

static void
batch_progress(struct batch *b, struct flight *fl)
{
	uint64_t now = fl->wlen ? (uint64_t)fl->off * fl->f->len / fl->wlen :
	    fl->f->len;

	b->sent += now - fl->told;
	fl->told = now;
	if (b->progress != NULL)
		b->progress(b->arg, (size_t)(fl->f - b->files), b->sent);
}

/* A deadline for what is still to move: the wire bytes, and an eighth
 * of the file bytes for the board's flash (a compressed file's pages). */
static void
batch_arm(struct agent *a, const struct batch *b)
{
	arm(a, b->left + 256 * (b->n - b->settled));
}

/* A verdict that came: the oldest file still waiting for one. */
static int
batch_verdict(struct agent *a, void *arg)
{
	struct batch *b = arg;
	struct flight *fl;

	if ((a->ftype != FR_OK && a->ftype != FR_MISMATCH &&
	    a->ftype != FR_ERROR) || b->settled >= b->n ||
	    !b->fl[b->settled].opened)
		return unexpected(a, "writing files");
	fl = &b->fl[b->settled++];
	if (file_verdict(a, fl->f->path, fl->f->hex, false) == -1) {
		if (errno == EIO)
			return -1;
		fl->f->err = errno;
		snprintf(fl->f->why, sizeof(fl->f->why), "%s",
		    errno == EREMOTEIO ? a->last_error : "damaged");
		/* The board dropped its inflater (agent.py put()). */
		if (fl->zmode)
			b->stream_broken = true;
	}
	b->left -= fl->f->len / 8 < b->left ? fl->f->len / 8 : b->left;
	batch_arm(a, b);
	return 0;
}

/* A file's put command (agent.py put()). */
static int
batch_open(struct agent *a, struct batch *b, struct flight *fl)
{
	struct agent_file *f = fl->f;
	struct buf head = BUF_INIT;
	int rc;

	buf_addf(&head, "%s%c%zu%c%s%c%d%c%d%c%zu%c%d%c%zu", f->path, 0,
	    f->len, 0, f->hex, 0, b->staged ? 1 : 0, 0, fl->zmode, 0,
	    fl->wlen, 0, a->z.wbits, 0, a->z.chunk);
	put_tail(a, &head, b->wire);
	rc = send_command(a, 'P', head.data, head.len, "writing files");
	buf_release(&head);
	fl->opened = rc == 0;
	/* This one and those before it still without a verdict. */
	if ((size_t)(fl - b->fl) + 1 - b->settled > b->most)
		b->most = (size_t)(fl - b->fl) + 1 - b->settled;
	return rc;
}

/* The next unit: a file's command, or a unit of its data. */
static int
batch_send(struct agent *a, struct batch *b)
{
	struct flight *fl = &b->fl[b->next];
	unsigned char u[AGENT_PIECES * AGENT_UNIT];
	size_t n, pieces, i;

	if (!fl->opened) {
		if (batch_open(a, b, fl) == -1)
			return -1;
	} else {
		n = data_unit_len(fl->wire + fl->off, fl->wlen - fl->off,
		    data_unit_max(a, fl->zmode != 0));
		pieces = data_unit_build(u, 'D', fl->wire + fl->off, n);
		for (i = 0; i < pieces; i++)
			if (send_piece(a, u + i * AGENT_UNIT,
			    "writing files") == -1)
				return -1;
		fl->off += n;
		b->left -= n;
		batch_progress(b, fl);
	}
	if (fl->off == fl->wlen)
		b->next++;
	return 0;
}

/* Compress what shrinks, as the run's stream goes on. */
static int
batch_prepare(struct agent *a, struct batch *b, struct agent_file *files)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		struct flight *fl = &b->fl[i];
		bool worth = false, fresh = false;

		fl->f = &files[i];
		fl->f->err = 0;
		fl->f->why[0] = '\0';
		buf_init(&fl->z, 0);
		if (agent_keepalive(a) == -1)
			return -1;
		if (a->inflate && files[i].len >= 64 && zrun_compress(&a->z,
		    files[i].data, files[i].len, &fl->z, &worth, &fresh) == -1)
			return -1;
		if (worth) {
			/* The stream goes on as if the board took it; a
			 * failure restarts it (batch_verdict). */
			zrun_commit(&a->z);
			fl->zmode = fresh ? 2 : 1;
			fl->wire = (const unsigned char *)fl->z.data;
			fl->wlen = fl->z.len;
		} else {
			fl->wire = files[i].data;
			fl->wlen = files[i].len;
		}
		b->left += fl->wlen + files[i].len / 8;
		b->wire += fl->wlen;
	}
	return 0;
}

/*
 * Compressed files go first, raw ones after, each kind in its order (the
 * compressed ones are one stream).  A compressed file keeps the board's
 * flash chip busy far longer than the line, a raw one the line longer
 * than the chip: what the agent reads ahead during the first (agent.py,
 * "Read-ahead") is then raw data, and the line's time for it is saved.
 * In the plan's order the 64 KB of a binary file could come first and
 * nothing would be saved.
 */
static void
batch_order(struct batch *b)
{
	struct flight *sorted = xcalloc(b->n ? b->n : 1, sizeof(*sorted));
	size_t i, k = 0;

	for (i = 0; i < b->n; i++)
		if (b->fl[i].zmode != 0)
			sorted[k++] = b->fl[i];
	for (i = 0; i < b->n; i++)
		if (b->fl[i].zmode == 0)
			sorted[k++] = b->fl[i];
	memcpy(b->fl, sorted, b->n * sizeof(*sorted));
	free(sorted);
}

/* Send every unit, taking verdicts as they come, then the rest. */
static int
batch_run(struct agent *a, struct batch *b)
{
	const char *what = "writing files";

	while (b->next < b->n) {
		if (a->stop != NULL && *a->stop) {
			/* Mid-file, 'A' drops the file; between files the
			 * board answers it ('A'), which nobody reads. */
			send_unit(a, 'A', NULL, 0, false, true, what);
			return stop_noted(a, "stopped while writing files");
		}
		if (batch_send(a, b) == -1)
			return -1;
	}
	while (b->settled < b->n)
		if (any_frame(a, what) == -1 || batch_verdict(a, b) == -1)
			return -1;
	return 0;
}

int
agent_put_batch(struct agent *a, struct agent_file *files, size_t n,
    bool staged, agent_progress_fn progress, void *arg)
{
	struct batch b;
	size_t i;
	int rc;

	memset(&b, 0, sizeof(b));
	b.n = n;
	b.staged = staged;
	b.progress = progress;
	b.arg = arg;
	b.files = files;
	b.fl = xcalloc(n ? n : 1, sizeof(*b.fl));
	rc = batch_prepare(a, &b, files);
	if (rc == 0)
		batch_order(&b);
	if (rc == 0) {
		batch_arm(a, &b);
		a->on_frame = batch_verdict;
		a->frame_arg = &b;
		rc = batch_run(a, &b);
		a->on_frame = NULL;
		a->frame_arg = NULL;
	}
	if (rc == 0 && n > 1)
		log_debug("%s: %zu files written, up to %zu in flight at once",
		    a->port, n, b.most);
	if (rc == -1 || b.stream_broken)
		zrun_restart(&a->z);
	for (i = 0; i < n; i++)
		buf_release(&b.fl[i].z);
	free(b.fl);
	return rc;
}

/* agent_put's progress: one file's bytes. */
struct put_progress {
	void (*fn)(void *, uint64_t);
	void *arg;
};

static void
put_progress(void *arg, size_t file, uint64_t sent)
{
	struct put_progress *p = arg;

	(void)file;
	p->fn(p->arg, sent);
}

int
agent_put(struct agent *a, const char *path, const void *data, size_t len,
    const char *hex, bool staged, void (*progress)(void *, uint64_t),
    void *arg)
{
	struct agent_file f = { .path = path, .data = data, .len = len,
	    .hex = hex };
	struct put_progress pp = { progress, arg };

	if (agent_put_batch(a, &f, 1, staged, progress ? put_progress : NULL,
	    &pp) == -1)
		return -1;
	if (f.err == 0)
		return 0;
	errno = f.err;
	return -1;
}

int
agent_patch(struct agent *a, const char *path, const char *base,
    const void *ops, size_t opslen, size_t len, const char *hex)
{
	const char *what = "patching a file";
	struct buf head = BUF_INIT;
	int rc;

	/* A put whose data is the edit script over base (agent.py's put()
	 * with z 'U'), staged. */
	buf_addf(&head, "%s%c%zu%c%s%c1%cU%c%zu%c0%c%s", path, 0, len, 0, hex,
	    0, 0, 0, opslen, 0, 0, base);
	put_tail(a, &head, opslen);
	/* The board reads the base and writes the result as it goes. */
	arm(a, opslen + opslen / (AGENT_UNIT - 5) * 5 + head.len + 256 +
	    len / 4);
	rc = send_command(a, 'P', head.data, head.len, what);
	buf_release(&head);
	if (rc == 0)
		rc = send_data(a, path, ops, opslen, what);
	return rc == 0 ? put_verdict(a, path, hex, true) : -1;
}

int
agent_journal(struct agent *a, const char *dest, const char *lines)
{
	size_t len = strlen(lines);
	char hex[DEVFS_HASH_HEXSZ], *path = plan_board_path(dest,
	    AGENT_JOURNAL_NAME);
	int rc;

	rc = devfs_hash_mem(a->hello.algo, lines, len, hex);
	if (rc == 0)
		rc = agent_put(a, path, lines, len, hex, true, NULL, NULL);
	free(path);
	return rc;
}

int
agent_commit(struct agent *a, const char *dest, struct agent_commit *c)
{
	const char *what = "committing the update";
	char *f[4];

	arm(a, 16 * 1024);
	if (send_text(a, 'C', dest, what) == -1 || next_frame(a, what) == -1)
		return -1;
	if (a->ftype != FR_COMMIT || fields(&a->body, f, 4) != 4)
		return unexpected(a, what);
	c->done = (unsigned)strtoul(f[0], NULL, 10);
	if (c->kept != NULL)
		buf_addstr(c->kept, f[1]);
	if (c->failed != NULL)
		buf_addstr(c->failed, f[2]);
	return 0;
}

int
agent_finish(struct agent *a, const char *dest,
    struct agent_inventory *final)
{
	const char *what = "finishing";
	struct agent_inventory dummy;
	char *f[7];

	arm(a, 1024);
	if (send_text(a, 'Q', dest, what) == -1 || next_frame(a, what) == -1)
		return -1;
	if (a->ftype != FR_BYE)
		return unexpected(a, what);
	a->finished = true;
	if (parse_inventory(a, final ? final : &dummy) == -1)
		return -1;
	/* The inventory's fields, then the heap free and the pieces read
	 * ahead. */
	if (fields(&a->body, f, 7) != 7)
		return unexpected(a, what);
	a->read_ahead = strtoull(f[6], NULL, 10);
	log_debug("%s: agent done; %s bytes of heap free on the board, %"
	    PRIu64 " pieces read ahead", a->port, f[5], a->read_ahead);
	return 0;
}

/*
 * Room in the window for agent_end's 'z', which goes within it like any
 * piece: on a board busy with its flash the ring holds what is in flight,
 * and a 'z' beyond it would lose its tail, leaving the agent waiting
 * inside the piece (its idle timeout starts only at a piece's start).
 * Frames that come meanwhile (a verdict in flight) are of no use now.
 * -1 when the run ended on its own (nothing left to wait for) or the
 * line failed (logged).
 */
static int
end_window(struct agent *a)
{
	while (a->pieces_sent - a->credits >= a->hello.window_units) {
		a->wake_on_credit = true;
		a->have_frame = false;
		if (pump(a, "ending its run") == -1 || a->st == RX_DONE) {
			a->wake_on_credit = false;
			return -1;
		}
		a->wake_on_credit = false;
	}
	return 0;
}

int
agent_end(struct agent *a)
{
	bool at_prompt;
	int rc = 0;

	if (a == NULL)
		return 0;
	if (a->st != RX_DONE && !serial_lost(a->s) && !a->given_up) {
		/* Not said goodbye: any unit the agent cannot use ends it. */
		unsigned char u[AGENT_UNIT];
		bool waiting = true;

		unit_build(u, 'z', NULL, 0, false);
		a->deadline = monotime_ms() + END_MS;
		a->last_rx = monotime_ms();
		if (!a->finished) {
			waiting = end_window(a) == 0;
			if (waiting)
				serial_write(a->s, u, sizeof(u), WRITE_MS);
		}
		while (waiting && a->st != RX_DONE) {
			a->have_frame = false;
			if (pump(a, "ending its run") == -1)
				break;
		}
	}
	at_prompt = a->st == RX_DONE;
	if (at_prompt && a->exc.len > 0 && a->finished) {
		run_ended(a, "ending its run");
		rc = -1;
	}
	if (!at_prompt)
		rc = -1;
	repl_return_port(a->r, at_prompt);
	zrun_release(&a->z);
	buf_release(&a->body);
	buf_release(&a->exc);
	free(a);
	return rc;
}

uint64_t
agent_bytes_sent(const struct agent *a)
{
	return a->sent;
}

uint64_t
agent_pieces_read_ahead(const struct agent *a)
{
	return a->read_ahead;
}

uint64_t
agent_bytes_received(const struct agent *a)
{
	return a->received;
}
