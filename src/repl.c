/*
 * repl.c - MicroPython's raw REPL over a serial port; see repl.h and
 * shared/reference/raw-repl.md for the bytes on the wire.
 *
 * The connection is a small state machine: RAW_PROMPT means the raw REPL
 * printed its '>' and we consumed it, so code can be sent.  Anything
 * unexpected (a timeout, garbage, a reset) moves to UNKNOWN, and the next
 * run enters the raw REPL again from scratch, which interrupts whatever
 * the board was doing.  RUNNING means we reset the board on purpose and
 * its program must be left alone when we close.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "githash.h"
#include "identity.h"
#include "log.h"
#include "monotime.h"
#include "path.h"
#include "repl.h"
#include "serial.h"
#include "xalloc.h"
#include "banned.h"

#define ENTER_MS 10000       /* give up entering the raw REPL after this */
#define REPLY_MS 5000        /* first answer to anything we send */
#define BOOT_MS 5000         /* boot.py's time in a raw-mode reboot */
#define WRITE_MS 5000
#define RUN_MS 20000         /* default: silence accepted from running code */
#define CTRL_C_QUIET_MS 20   /* after Ctrl-C, quiet this long before Ctrl-A */
#define CTRL_C_DRAIN_MS 250  /* but no longer: a timer may print for ever */
#define TAIL_MAX 200         /* what the board printed, quoted in errors */
#define PLAIN_CHUNK 32       /* plain raw mode: bytes between pauses */

static const char raw_banner[] = "raw REPL; CTRL-B to exit\r\n>";

enum repl_state {
	REPL_UNKNOWN,    /* enter the raw REPL before the next run */
	REPL_RAW_PROMPT, /* at the raw '>' prompt, ready for code */
	REPL_RUNNING,    /* reset on purpose: leave the board alone */
};

enum paste_support {
	PASTE_UNTRIED,
	PASTE_YES,
	PASTE_NO,
};

struct repl {
	struct serial *s;
	char *port;
	unsigned baud;
	enum repl_state state;
	enum paste_support paste;
	int run_ms;
	int plain_pause_ms;      /* plain raw mode: pause between chunks */
	struct repl_info info;
	unsigned char rbuf[512]; /* read-ahead from the port */
	size_t rpos, rlen;
	char tail[TAIL_MAX];     /* last bytes received, a ring */
	size_t tail_pos, tail_len;
	struct buf exc;          /* text of the last exception */
	char exc_line[256];
};

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	if (ms <= 0)
		return;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void
tail_add(struct repl *r, const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		r->tail[r->tail_pos] = (char)p[i];
		r->tail_pos = (r->tail_pos + 1) % TAIL_MAX;
		if (r->tail_len < TAIL_MAX)
			r->tail_len++;
	}
}

/* What the board printed last, escaped for a log line. */
static void
tail_quote(const struct repl *r, struct buf *out)
{
	size_t i, start = (r->tail_pos + TAIL_MAX - r->tail_len) % TAIL_MAX;

	for (i = 0; i < r->tail_len; i++) {
		unsigned char c;

		c = (unsigned char)r->tail[(start + i) % TAIL_MAX];

		if (c == '\r')
			buf_addstr(out, "\\r");
		else if (c == '\n')
			buf_addstr(out, "\\n");
		else if (c == '"' || c == '\\')
			buf_addf(out, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			buf_addf(out, "\\x%02x", c);
		else
			buf_addch(out, c);
	}
}

/*
 * Next byte from the board, waiting at most timeout_ms.  Returns the byte,
 * or -1 with errno ETIMEDOUT (nothing came; not logged) or EIO (logged).
 */
static int
rx_byte(struct repl *r, int timeout_ms)
{
	ssize_t n;

	if (r->rpos == r->rlen) {
		n = serial_read(r->s, r->rbuf, sizeof(r->rbuf), timeout_ms);
		if (n == -1) {
			r->state = REPL_UNKNOWN;
			if (errno != EIO && errno != ETIMEDOUT &&
			    errno != ECANCELED)
				errno = EIO;
			return -1;
		}
		if (n == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		tail_add(r, r->rbuf, (size_t)n);
		r->rpos = 0;
		r->rlen = (size_t)n;
	}
	return r->rbuf[r->rpos++];
}

/* Is a byte waiting (without blocking)?  -1 when the line failed. */
static int
rx_pending(struct repl *r)
{
	int c;

	if (r->rpos < r->rlen)
		return 1;
	c = rx_byte(r, 0);
	if (c == -1)
		return errno == ETIMEDOUT ? 0 : -1;
	r->rpos--;
	return 1;
}

/*
 * Read until what was read ends with the len bytes of want, each byte
 * within timeout_ms of the previous one and all before deadline (0 =
 * none).  Bytes read go to seen (may be NULL).
 */
static int
rx_until(struct repl *r, const char *want, size_t len, struct buf *seen,
    int timeout_ms, int64_t deadline)
{
	size_t matched = 0;
	int c, wait;

	for (;;) {
		wait = timeout_ms;
		if (deadline != 0) {
			int64_t left = deadline - monotime_ms();

			if (left <= 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			if (left < wait)
				wait = (int)left;
		}
		c = rx_byte(r, wait);
		if (c == -1)
			return -1;
		if (seen != NULL && buf_addch(seen, c) == -1)
			buf_consume(seen, seen->len / 2);
		/* The patterns have no repeated prefix worth a KMP table. */
		if ((unsigned char)want[matched] == c)
			matched++;
		else
			matched = (unsigned char)want[0] == c;
		if (matched == len)
			return 0;
	}
}

static int
tx(struct repl *r, const void *data, size_t len)
{
	if (serial_write(r->s, data, len, WRITE_MS) == -1) {
		r->state = REPL_UNKNOWN;
		return -1;
	}
	return 0;
}

/* Read and drop input until the board has been quiet for quiet_ms. */
static int
rx_drain(struct repl *r, int quiet_ms, int64_t deadline)
{
	int c;

	r->rpos = r->rlen = 0;
	while (monotime_ms() < deadline) {
		c = rx_byte(r, quiet_ms);
		if (c == -1)
			return errno == ETIMEDOUT ? 0 : -1;
		r->rpos = r->rlen;
	}
	return 0;
}

/*
 * Interrupt whatever runs and get to the raw REPL's prompt, retrying with
 * growing pauses until total_ms have passed (a board still booting, or a
 * program slow to notice Ctrl-C).
 */
static int
enter_raw(struct repl *r, int total_ms)
{
	int64_t start = monotime_ms(), deadline = start + total_ms, left;
	int pause = 50, attempts = 0, wait;
	struct buf quoted = BUF_INIT;

	r->tail_len = r->tail_pos = 0;
	while ((left = deadline - monotime_ms()) > 0) {
		attempts++;
		if (tx(r, "\r\x03\x03", 3) == -1)
			return -1;
		/* What the interrupted program prints goes; a little quiet
		 * is enough (mpremote and pyboard.py drop only what is
		 * waiting and send Ctrl-A at once).  A Ctrl-A that comes
		 * while the program still stops waits in the stdin ring
		 * for the REPL; the banner wait below skips any output. */
		if (rx_drain(r, CTRL_C_QUIET_MS, monotime_ms() +
		    (left < CTRL_C_DRAIN_MS ? left : CTRL_C_DRAIN_MS)) == -1)
			return -1;
		if (tx(r, "\r\x01", 2) == -1)
			return -1;
		/* A board that keeps printing must not hold one attempt
		 * open: the wait is for the whole banner, not per byte. */
		wait = 1000 + 250 * (attempts < 8 ? attempts : 8);
		if (rx_until(r, raw_banner, sizeof(raw_banner) - 1, NULL, wait,
		    monotime_ms() + wait < deadline ? monotime_ms() + wait :
		    deadline) == 0) {
			/*
			 * A late answer to an earlier attempt would print the
			 * banner again; let it arrive and drop it now.
			 */
			if (attempts > 1 && rx_drain(r, 50, monotime_ms() + 500) ==
			    -1)
				return -1;
			r->state = REPL_RAW_PROMPT;
			log_debug("%s: raw REPL after %d attempt(s), %lld ms",
			    r->port, attempts, (long long)(monotime_ms() - start));
			return 0;
		}
		if (errno != ETIMEDOUT)
			return -1;
		left = deadline - monotime_ms();
		sleep_ms((int)(pause < left ? pause : left));
		if (pause < 800)
			pause *= 2;
	}
	r->state = REPL_UNKNOWN;
	tail_quote(r, &quoted);
	if (quoted.len == 0)
		log_failx("no raw REPL on %s after %d s: the board printed "
		    "nothing (is it powered, is the baud rate %u right?)",
		    r->port, total_ms / 1000, r->baud);
	else
		log_failx("no raw REPL on %s after %d s; the board printed "
		    "\"%s\".  A main.py that catches KeyboardInterrupt (or "
		    "code blocked in C) ignores Ctrl-C: let Ctrl-C through "
		    "in main.py, or set reset = hard for this device (boards "
		    "with an auto-reset circuit)", r->port, total_ms / 1000,
		    quoted.data);
	buf_release(&quoted);
	errno = ETIMEDOUT;
	return -1;
}

static int
protocol_error(struct repl *r, const char *what)
{
	struct buf quoted = BUF_INIT;

	r->state = REPL_UNKNOWN;
	tail_quote(r, &quoted);
	log_failx("%s: unexpected answer from the board (%s); last bytes: "
	    "\"%s\"", r->port, what, quoted.data);
	buf_release(&quoted);
	errno = EIO;
	return -1;
}

static int
read_reply_failed(struct repl *r, const char *what)
{
	if (errno == ETIMEDOUT) {
		r->state = REPL_UNKNOWN;
		return log_fail_errno(ETIMEDOUT, "%s: the board stopped answering "
		    "(%s)", r->port, what);
	}
	return -1;
}

/*
 * What the board says while it reads raw-paste input is 01 (a credit)
 * or 04 (it stopped reading); anything else is printed by code the board
 * runs meanwhile: a machine.Timer callback outlives Ctrl-C and runs
 * while the REPL waits for input (mp_hal_stdin_rx_chr's poll hook).
 * Such output is skipped; by `by` the board must have said its word.
 */
static int
paste_byte(struct repl *r, int64_t by)
{
	int64_t left;
	int c;

	for (;;) {
		if ((left = by - monotime_ms()) <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if ((c = rx_byte(r, (int)left)) == -1)
			return -1;
		if (c == 0x01 || c == 0x04)
			return c;
	}
}

/*
 * The answer to 05 'A' 01: 1 for "R\x01" (raw-paste, the window
 * follows), 0 for "R\x00" (refused), 2 for the raw banner (firmware
 * without raw-paste took 01 as Ctrl-A), -1 on error.  Output of running
 * code before it is skipped (see paste_byte()).
 */
static int
paste_answer(struct repl *r)
{
	int64_t by = monotime_ms() + REPLY_MS, left;
	size_t matched = 0;
	int c, prev = -1;

	for (;;) {
		if ((left = by - monotime_ms()) <= 0) {
			errno = ETIMEDOUT;
			return read_reply_failed(r, "raw-paste request");
		}
		if ((c = rx_byte(r, (int)left)) == -1)
			return read_reply_failed(r, "raw-paste request");
		if (prev == 'R' && (c == 0 || c == 1))
			return c;
		if ((unsigned char)raw_banner[matched] == c)
			matched++;
		else
			matched = (unsigned char)raw_banner[0] == c;
		if (matched == sizeof(raw_banner) - 1)
			return 2;
		prev = c;
	}
}

/*
 * Raw-paste: ask for it, then send code within the board's window.  Sets
 * *fallback when the firmware lacks raw-paste (the prompt is back and
 * plain raw mode must be used).  On success the board has acknowledged
 * the end of input.
 */
static int
send_raw_paste(struct repl *r, const char *code, size_t len, bool *fallback)
{
	unsigned char hdr[2];
	size_t window, remain, sent = 0, n;
	int64_t credit_by;
	int c, i;

	*fallback = false;
	if (tx(r, "\x05" "A\x01", 3) == -1)
		return -1;
	switch (paste_answer(r)) {
	case -1:
		return -1;
	case 0:
		/* Understood but refused: the prompt follows. */
		if (rx_until(r, ">", 1, NULL, REPLY_MS,
		    monotime_ms() + REPLY_MS) == -1)
			return read_reply_failed(r, "raw-paste refusal");
		*fallback = true;
		return 0;
	case 2:
		/* Older firmware took 05 41 01 as Ctrl-A: banner again. */
		*fallback = true;
		return 0;
	}
	for (i = 0; i < 2; i++) {
		if ((c = rx_byte(r, REPLY_MS)) == -1)
			return read_reply_failed(r, "raw-paste window");
		hdr[i] = (unsigned char)c;
	}
	window = hdr[0] | (size_t)hdr[1] << 8;
	if (window == 0)
		return protocol_error(r, "raw-paste window of 0 bytes");
	remain = window;
	credit_by = monotime_ms() + REPLY_MS;
	while (sent < len) {
		/* Credits (01) may come at any time; block only without (a
		 * byte pending is read at once: it may be output, and the
		 * next credit comes only after more of the window). */
		while (remain == 0 || rx_pending(r) == 1) {
			c = remain == 0 ? paste_byte(r, credit_by) :
			    rx_byte(r, REPLY_MS);
			if (c == -1)
				return read_reply_failed(r, "raw-paste credit");
			if (c == 0x01)
				remain += window;
			else if (c == 0x04) {
				/* The board stopped reading early (a syntax
				 * error): acknowledge, the error follows. */
				return tx(r, "\x04", 1);
			}
		}
		n = len - sent < remain ? len - sent : remain;
		if (tx(r, code + sent, n) == -1)
			return -1;
		sent += n;
		remain -= n;
		credit_by = monotime_ms() + REPLY_MS;
	}
	if (tx(r, "\x04", 1) == -1)
		return -1;
	/* Late credits may precede the acknowledgement. */
	credit_by = monotime_ms() + REPLY_MS;
	for (;;) {
		if ((c = paste_byte(r, credit_by)) == -1)
			return read_reply_failed(r, "end of raw-paste input");
		if (c == 0x04)
			return 0;
	}
}

/*
 * Plain raw mode has no flow control: send small chunks and give the
 * board the time the bytes take on the wire, plus a margin to empty its
 * UART buffer, before the next.
 */
static int
send_plain_raw(struct repl *r, const char *code, size_t len, bool quiet)
{
	size_t sent = 0, n;
	int pause;

	while (sent < len) {
		n = len - sent < PLAIN_CHUNK ? len - sent : PLAIN_CHUNK;
		if (tx(r, code + sent, n) == -1)
			return -1;
		sent += n;
		pause = (int)(n * 10 * 1000 / (r->baud ? r->baud : 115200)) +
		    r->plain_pause_ms;
		sleep_ms(pause);
	}
	if (tx(r, "\x04", 1) == -1)
		return -1;
	if (rx_until(r, "OK", 2, NULL, REPLY_MS, monotime_ms() + REPLY_MS) ==
	    -1) {
		if (quiet && errno == ETIMEDOUT) {
			r->state = REPL_UNKNOWN;
			return -1;
		}
		return read_reply_failed(r, "OK after the code");
	}
	return 0;
}

/* Does the line show anything (bytes other than blanks and controls)? */
static bool
line_has_text(const char *line, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)line[i] > ' ' && line[i] != 0x7f)
			return true;
	return false;
}

/*
 * Last line of an exception text that shows something, for messages.
 * Control bytes in it (line noise, a reset mid-message) are shown as
 * \xNN: they must neither empty the message nor reach the log raw.
 */
static void
exception_summary(struct repl *r)
{
	const char *p = r->exc.data, *end = p + r->exc.len, *line = p;
	const char *q, *best = NULL;
	struct buf shown = BUF_INIT;
	size_t n, best_len = 0;

	while (line < end) {
		q = memchr(line, '\n', (size_t)(end - line));
		if (q == NULL)
			q = end;
		n = (size_t)(q - line);
		while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' '))
			n--;
		if (line_has_text(line, n)) {
			best = line;
			best_len = n;
		}
		line = q + 1;
	}
	path_quote(&shown, best ? best : "", best_len);
	snprintf(r->exc_line, sizeof(r->exc_line), "%s",
	    best ? shown.data : r->exc.len > 0 ? "an exception" : "");
	buf_release(&shown);
}

static int read_end(struct repl *r);

/*
 * After the code went out: stdout, 04, exception text (into r->exc), 04,
 * '>'.  Returns 0 (check r->exc), or -1 when the line failed.
 */
static int
read_result(struct repl *r, struct buf *out, bool *overflow)
{
	int c;

	buf_reset(&r->exc);
	for (;;) {
		if ((c = rx_byte(r, r->run_ms)) == -1)
			return read_reply_failed(r, "output of the code");
		if (c == 0x04)
			break;
		if (out != NULL && !*overflow && buf_addch(out, c) == -1)
			*overflow = true;
	}
	return read_end(r);
}

/* After the output's 04: exception text (into r->exc), 04, '>'. */
static int
read_end(struct repl *r)
{
	int c;

	for (;;) {
		if ((c = rx_byte(r, REPLY_MS)) == -1)
			return read_reply_failed(r, "exception text");
		if (c == 0x04)
			break;
		if (buf_addch(&r->exc, c) == -1)
			buf_consume(&r->exc, r->exc.len / 2);
	}
	/*
	 * The prompt; since v1.24 a SystemExit soft-reboots instead, and
	 * the next run then enters the raw REPL again.
	 */
	if ((c = rx_byte(r, REPLY_MS)) == '>')
		r->state = REPL_RAW_PROMPT;
	else if (c == -1 && errno == EIO)
		return -1;
	else
		log_debug("%s: no prompt after the run (got %d)", r->port, c);
	return 0;
}

/* Characters a str literal of these bytes holds (code points). */
static size_t
literal_length(const char *s, size_t len)
{
	size_t i, n = 0;

	if (!utf8_is_valid(s, len))
		return len;
	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

/*
 * Plain raw mode has no flow control, so a byte the board missed would
 * silently change the program.  Send the code as a string literal first
 * and have the board count it; only an intact copy is run (by the caller,
 * with exec()).  A damaged copy is sent again.
 */
static int
stage_plain(struct repl *r, const char *code, size_t len)
{
	struct buf stage = BUF_INIT, answer = BUF_INIT;
	size_t want = literal_length(code, len);
	bool overflow = false;
	int tries, rc = -1;

	buf_addstr(&stage, "_senko_s=");
	repl_quote(&stage, code, len);
	buf_addstr(&stage, "\nprint(len(_senko_s))\n");
	buf_init(&answer, 64);
	for (tries = 0; tries < 4; tries++) {
		if (r->state != REPL_RAW_PROMPT && enter_raw(r, ENTER_MS) == -1)
			break;
		r->state = REPL_UNKNOWN;
		buf_reset(&answer);
		if (send_plain_raw(r, stage.data, stage.len, true) == -1 ||
		    read_result(r, &answer, &overflow) == -1) {
			if (errno != ETIMEDOUT)
				break;
			continue;
		}
		if (r->exc.len == 0 &&
		    strtoull(answer.data, NULL, 10) == want) {
			rc = 0;
			break;
		}
		/* The board fell behind: give it more time per chunk. */
		if (r->plain_pause_ms < 160)
			r->plain_pause_ms *= 2;
		log_debug("%s: code damaged on the line (plain raw mode has no "
		    "flow control); sending it again, %d ms between chunks",
		    r->port, r->plain_pause_ms);
	}
	if (rc == -1 && (tries == 4 || errno == ETIMEDOUT))
		rc = log_fail_errno(EIO, "%s: code kept arriving damaged; this "
		    "firmware has no raw-paste flow control: update "
		    "MicroPython (1.14+) or lower the baud rate", r->port);
	buf_release(&stage);
	buf_release(&answer);
	return rc;
}

/* Send code as one execution (raw-paste, or staged plain raw mode); the
 * board runs it from here on. */
static int
send_code(struct repl *r, const char *code, size_t len)
{
	static const char run_staged[] = "exec(globals().pop('_senko_s'))";
	bool fallback = false;

	if (r->state != REPL_RAW_PROMPT && enter_raw(r, ENTER_MS) == -1)
		return -1;
	if (r->paste != PASTE_NO) {
		r->state = REPL_UNKNOWN; /* until the prompt is back */
		if (send_raw_paste(r, code, len, &fallback) == -1)
			return -1;
		if (fallback) {
			log_debug("%s: no raw-paste; using plain raw mode",
			    r->port);
			r->paste = PASTE_NO;
			r->info.has_raw_paste = false;
			r->state = REPL_RAW_PROMPT;
		} else {
			r->paste = PASTE_YES;
			r->info.has_raw_paste = true;
		}
	}
	if (r->paste == PASTE_NO) {
		if (stage_plain(r, code, len) == -1)
			return -1;
		r->state = REPL_UNKNOWN;
		/* Short enough to fit the board's UART buffer at once. */
		if (send_plain_raw(r, run_staged, sizeof(run_staged) - 1,
		    false) == -1)
			return -1;
	}
	return 0;
}

/* Refuse code the raw REPL would take as commands; "" becomes "pass". */
static int
check_code(struct repl *r, const char **code, size_t *len)
{
	r->exc_line[0] = '\0';
	buf_reset(&r->exc);
	if (memchr(*code, 0x03, *len) != NULL ||
	    memchr(*code, 0x04, *len) != NULL)
		return log_fail_errno(EINVAL, "%s: code to run contains the "
		    "bytes 03/04, which the raw REPL treats as commands",
		    r->port);
	if (*len == 0)
		*code = "pass", *len = 4;
	return 0;
}

static int
run(struct repl *r, const char *code, struct buf *out, bool quiet)
{
	size_t len = strlen(code);
	bool overflow = false;

	if (check_code(r, &code, &len) == -1 || send_code(r, code, len) == -1)
		return -1;
	if (read_result(r, out, &overflow) == -1)
		return -1;
	if (r->exc.len > 0) {
		exception_summary(r);
		if (!quiet)
			log_failx("%s: the code raised %s", r->port,
			    r->exc_line);
		errno = EREMOTEIO;
		return -1;
	}
	if (overflow)
		return log_fail_errno(ENOBUFS, "%s: the code printed more than "
		    "the buffer holds (%zu bytes)", r->port, out->len);
	return 0;
}

/* A stream's output goes to its reader at least this often. */
#define STREAM_POLL_MS 100

/* Output of a stream: each byte as it came, handed on in chunks. */
struct stream_out {
	void (*emit)(void *arg, const char *data, size_t len);
	void *arg;
	char chunk[256];
	size_t n;
};

static void
stream_flush(struct stream_out *so)
{
	if (so->n > 0)
		so->emit(so->arg, so->chunk, so->n);
	so->n = 0;
}

/* Ctrl-C once stop is set; -1 (ETIMEDOUT) when the board ignored it. */
static int
stream_stop(struct repl *r, const volatile sig_atomic_t *stop,
    int64_t *stopped_at)
{
	if (stop == NULL || !*stop)
		return 0;
	if (*stopped_at == 0) {
		log_debug("%s: stop requested: Ctrl-C to the running code",
		    r->port);
		*stopped_at = monotime_ms();
		return tx(r, "\x03", 1);
	}
	if (monotime_ms() - *stopped_at > 2 * REPLY_MS)
		return log_fail_errno(ETIMEDOUT, "%s: the code did not stop "
		    "within %d s of a Ctrl-C (does it call "
		    "micropython.kbd_intr(-1)?)", r->port, 2 * REPLY_MS / 1000);
	return 0;
}

int
repl_exec_stream(struct repl *r, const char *code, size_t len,
    void (*emit)(void *arg, const char *data, size_t len), void *arg,
    const volatile sig_atomic_t *stop, bool *interrupted)
{
	struct stream_out so = { emit, arg, { 0 }, 0 };
	int64_t stopped_at = 0;
	int c;

	*interrupted = false;
	if (check_code(r, &code, &len) == -1 || send_code(r, code, len) == -1)
		return -1;
	for (;;) {
		if (stream_stop(r, stop, &stopped_at) == -1)
			return -1;
		c = rx_byte(r, STREAM_POLL_MS);
		if (c == -1 && errno == ETIMEDOUT) {
			stream_flush(&so);
			continue;
		}
		if (c == -1)
			return read_reply_failed(r, "output of the code");
		if (c == 0x04)
			break;
		so.chunk[so.n++] = (char)c;
		if (so.n == sizeof(so.chunk) || r->rpos == r->rlen)
			stream_flush(&so);
	}
	stream_flush(&so);
	if (read_end(r) == -1)
		return -1;
	if (r->exc.len == 0)
		return 0;
	exception_summary(r);
	if (stopped_at != 0 && strstr(r->exc_line, "KeyboardInterrupt")) {
		*interrupted = true;
		return 0;
	}
	errno = EREMOTEIO;
	return -1;
}

int
repl_exec(struct repl *r, const char *code, struct buf *out)
{
	return run(r, code, out, false);
}

int
repl_exec_quiet(struct repl *r, const char *code, struct buf *out)
{
	return run(r, code, out, true);
}

const char *
repl_last_exception(const struct repl *r)
{
	return r->exc_line;
}

const char *
repl_last_traceback(const struct repl *r)
{
	return r->exc.data;
}

void
repl_set_timeout(struct repl *r, int timeout_ms)
{
	r->run_ms = timeout_ms > 0 ? timeout_ms : RUN_MS;
}

const char *
repl_port(const struct repl *r)
{
	return r->port;
}

bool
repl_port_lost(const struct repl *r)
{
	return serial_lost(r->s);
}

/*
 * One run that asks the board what it is.  Small on purpose: an ESP8266
 * has some 40 KB of heap (and the agent's copy in the cache, 11 KB on
 * one, is hashed through one buffer: the emulator collects nothing
 * inside a run).  Everything lives in a function so nothing is
 * left in the REPL's globals but the function name, deleted at the end.
 */
static const char probe_code[] =
	"def _senko_probe():\n"
	" import sys,gc\n"
	/* The board's own files must not stand in for a built-in (see
	 * repl_add_imports()): none on sys.path, none already loaded. */
	" p=sys.path[:]\n"
	" m={}\n"
	" for n in ('os','binascii','hashlib','machine','deflate','zlib'):\n"
	"  if n in sys.modules:m[n]=sys.modules.pop(n)\n"
	" sys.path.clear()\n"
	" try:\n"
	"  _senko_q(sys,gc)\n"
	" finally:\n"
	"  sys.path.extend(p)\n"
	"  sys.modules.update(m)\n"
	"def _senko_q(sys,gc):\n"
	" try:\n"
	"  import os\n"
	" except ImportError:\n"
	"  import uos as os\n"
	" print('V','%d.%d.%d'%sys.implementation.version[:3])\n"
	" print('P',sys.platform)\n"
	" try:\n"
	"  import machine,binascii\n"
	"  print('U',binascii.hexlify(machine.unique_id()).decode())\n"
	" except Exception:\n"
	"  pass\n"
	" print('S',int(hasattr(sys.stdin,'buffer')))\n"
	" try:\n"
	"  import hashlib as h\n"
	"  print('H',int(hasattr(h,'sha1')),int(hasattr(h,'sha256')))\n"
	" except ImportError:\n"
	"  pass\n"
	" for m,a in (('deflate','DeflateIO'),('zlib','DecompIO')):\n"
	"  try:\n"
	"   print('Z',m,int(hasattr(__import__(m),a)))\n"
	"  except ImportError:\n"
	"   pass\n"
	" try:\n"
	"  s=os.statvfs('/')\n"
	"  print('F',s[0]*s[3])\n"
	" except Exception:\n"
	"  pass\n"
	" try:\n"
	"  import hashlib as h,binascii\n"
	"  b=bytearray(256)\n"
	"  for n in os.listdir('/.senko'):\n"
	"   p='/.senko/'+n\n"
	"   d=h.sha1(('blob %d\\0'%os.stat(p)[6]).encode())\n"
	"   with open(p,'rb') as f:\n"
	"    while 1:\n"
	"     k=f.readinto(b)\n"
	"     if not k:break\n"
	"     d.update(memoryview(b)[:k])\n"
	"   print('A',n,binascii.hexlify(d.digest()).decode())\n"
	" except Exception:\n"
	"  pass\n"
	" gc.collect()\n"
	" print('M',gc.mem_free())\n"
	"_senko_probe()\n"
	"del _senko_probe,_senko_q\n";

static void
copy_field(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src);
}

/* "NAME HEX": a file of the agent's cache and its git blob hash. */
static void
add_cached(struct repl_info *in, const char *v)
{
	const char *sp = strchr(v, ' ');
	struct repl_cached *c;

	if (in->ncached == REPL_CACHED_MAX || sp == NULL ||
	    (size_t)(sp - v) >= sizeof(c->name) || !githash_is_hex(sp + 1))
		return;
	c = &in->cached[in->ncached++];
	snprintf(c->name, sizeof(c->name), "%.*s", (int)(sp - v), v);
	snprintf(c->hex, sizeof(c->hex), "%s", sp + 1);
}

static void
parse_probe(struct repl *r, char *text)
{
	struct repl_info *in = &r->info;
	char *line, *next, *v;
	int a, b;

	for (line = text; line != NULL && *line != '\0'; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		line[strcspn(line, "\r")] = '\0';
		if (line[0] == '\0' || line[1] != ' ')
			continue;
		v = line + 2;
		switch (line[0]) {
		case 'V':
			copy_field(in->version, sizeof(in->version), v);
			break;
		case 'P':
			copy_field(in->platform, sizeof(in->platform), v);
			break;
		case 'U':
			copy_field(in->unique_id, sizeof(in->unique_id), v);
			break;
		case 'S':
			in->has_stdin_buffer = strcmp(v, "1") == 0;
			break;
		case 'H':
			if (sscanf(v, "%d %d", &a, &b) == 2) {
				in->has_sha1 = a == 1;
				in->has_sha256 = b == 1;
			}
			break;
		case 'Z':
			if (strcmp(v, "deflate 1") == 0)
				in->has_deflate = true;
			else if (strcmp(v, "zlib 1") == 0)
				in->has_zlib = true;
			break;
		case 'F':
			in->free_flash = strtoull(v, NULL, 10);
			break;
		case 'M':
			in->free_heap = strtoull(v, NULL, 10);
			break;
		case 'A':
			add_cached(in, v);
			break;
		default:
			break;
		}
	}
}

static int
probe(struct repl *r)
{
	struct buf out = BUF_INIT;
	int rc;

	buf_init(&out, 4096);
	rc = repl_exec(r, probe_code, &out);
	/* One more try when the first run met a stale prompt's leftovers. */
	if (rc == -1 && errno != EIO && errno != EREMOTEIO) {
		buf_reset(&out);
		rc = repl_exec(r, probe_code, &out);
	}
	if (rc == 0) {
		parse_probe(r, out.data);
		log_debug("%s: MicroPython %s on %s, id %s, raw-paste %s, "
		    "stdin.buffer %s, sha1 %s, sha256 %s, deflate %s, zlib %s, "
		    "%llu bytes flash free, %llu bytes heap free", r->port,
		    r->info.version, r->info.platform, r->info.unique_id,
		    r->info.has_raw_paste ? "yes" : "no",
		    r->info.has_stdin_buffer ? "yes" : "no",
		    r->info.has_sha1 ? "yes" : "no",
		    r->info.has_sha256 ? "yes" : "no",
		    r->info.has_deflate ? "yes" : "no",
		    r->info.has_zlib ? "yes" : "no",
		    (unsigned long long)r->info.free_flash,
		    (unsigned long long)r->info.free_heap);
	}
	buf_release(&out);
	return rc;
}

struct repl *
repl_open(const char *port, unsigned baud)
{
	return repl_open_stoppable(port, baud, NULL);
}

static struct repl *
open_node(const char *port, unsigned baud, const volatile sig_atomic_t *stop)
{
	struct serial *s;
	struct repl *r;
	int saved, rc;
	bool entered;

	s = serial_open(port, baud);
	if (s == NULL)
		return NULL;
	serial_set_stop(s, stop, 0);
	r = xcalloc(1, sizeof(*r));
	r->s = s;
	r->port = xstrdup(port);
	r->baud = baud;
	r->run_ms = RUN_MS;
	r->plain_pause_ms = 10;
	r->state = REPL_UNKNOWN;
	buf_init(&r->exc, 64 * 1024);
	entered = enter_raw(r, ENTER_MS) == 0;
	rc = entered && probe(r) == 0 ? 0 : -1;
	saved = errno;
	/* From here on a stop leaves time to wind down: closing must still
	 * hand the board back to its REPL. */
	serial_set_stop(s, stop, REPL_STOP_GRACE_MS);
	if (rc == -1) {
		if (saved != ETIMEDOUT && saved != ENOENT && saved != ENODEV &&
		    saved != EBUSY && saved != ECANCELED)
			saved = EIO;
		/* In the raw REPL the application certainly stopped; no
		 * session will follow to start it again. */
		if (entered) {
			log_notice("%s: the board stopped answering after it "
			    "was interrupted; a soft reset starts its "
			    "application again", port);
			(void)repl_soft_reset(r);
		} else if (saved == ECANCELED && serial_bytes_sent(s) > 0) {
			/* A stop while the board was getting Ctrl-C: its
			 * application may have stopped (or be stopping)
			 * all the same.  The soft reset gets into the raw
			 * REPL first, within the stop's grace; a board that
			 * says nothing costs that grace, no more. */
			log_debug("%s: stopped while entering the raw REPL; "
			    "a soft reset starts the application again", port);
			(void)repl_soft_reset(r);
		}
		repl_close(r);
		errno = saved;
		return NULL;
	}
	return r;
}

/* ------------------------------------------------------ port = uid:HEX */

/* A board probed for another's id: its application runs again, as the
 * device that owns its port says (a soft reset for a board no device
 * names). */
static void
give_back(struct repl *r, const char *node)
{
	const struct config_device *dev = identity_device_on(node);
	enum reset_mode mode = dev ? dev->reset : RESET_SOFT;
	int quiet = log_thread_quiet(1);

	if (mode == RESET_HARD)
		repl_hard_reset(r);
	else if (mode == RESET_SOFT)
		repl_soft_reset(r);
	log_thread_quiet(quiet);
	repl_close(r);
}

/*
 * Open node quietly and keep it when the board there has unique id want.
 * Returns the repl, or NULL with *busy counting a port another process
 * holds and *stopped set when the stop flag ended the attempt.
 */
static struct repl *
probe_node(const char *node, unsigned baud, const char *want,
    const volatile sig_atomic_t *stop, unsigned *busy, bool *stopped)
{
	struct repl *r;
	int quiet = log_thread_quiet(1), saved;

	r = open_node(node, baud, stop);
	saved = errno;
	log_thread_quiet(quiet);
	if (r == NULL) {
		log_debug("uid:%s: %s does not answer: %s", want, node,
		    log_last_error());
		*busy += saved == EBUSY;
		*stopped = saved == ECANCELED;
		errno = saved;
		return NULL;
	}
	errno = 0;
	if (strcmp(r->info.unique_id, want) == 0)
		return r;
	log_debug("uid:%s: %s is another board (unique id %s)", want, node,
	    *r->info.unique_id ? r->info.unique_id : "none");
	give_back(r, node);
	return NULL;
}

static struct repl *
open_by_unique_id(const char *port, unsigned baud,
    const volatile sig_atomic_t *stop)
{
	const char *want = identity_uid(port);
	char *last, **cand, *why;
	struct repl *r = NULL;
	unsigned busy = 0;
	bool stopped = false, unchanged;
	size_t i, n = 0;
	int err = 0;

	identity_scan_lock();
	/* Where it answered last: no other port is opened while it is
	 * still there. */
	last = identity_recall(port, &unchanged);
	if (last != NULL) {
		r = probe_node(last, baud, want, stop, &busy, &stopped);
		err = r == NULL ? errno : 0;
	}
	/*
	 * Its node is as it was when the board answered there, so the board
	 * is still there: held by another program (screen, mpremote), or
	 * running a program that ignores Ctrl-C.  Other boards are not the
	 * answer, and probing them would interrupt each of them (with
	 * --wait, at every retry): say what happened on its node (a
	 * timeout lets reset = hard try its hard reset there).
	 */
	if (r == NULL && !stopped && unchanged &&
	    (err == EBUSY || err == ETIMEDOUT)) {
		identity_scan_unlock();
		why = xstrdup(log_last_error());
		log_failx("%s", why);
		free(why);
		free(last);
		errno = err;
		return NULL;
	}
	if (r == NULL && !stopped) {
		cand = identity_candidates(port, last, &n);
		for (i = 0; i < n && r == NULL && !stopped; i++) {
			r = probe_node(cand[i], baud, want, stop, &busy,
			    &stopped);
			if (r != NULL)
				identity_remember(port, cand[i]);
		}
		identity_free_list(cand, n);
	} else if (r != NULL)
		identity_remember(port, last);
	identity_scan_unlock();
	free(last);
	if (r != NULL)
		return r;
	if (stopped) {
		errno = ECANCELED;
		return NULL;
	}
	if (busy > 0) {
		log_failx("no free port has the board with unique id %s; %u "
		    "port%s held by another program (senko ports --probe "
		    "lists them)", want, busy, busy == 1 ? " is" : "s are");
		errno = EBUSY;
		return NULL;
	}
	log_failx("no board with unique id %s (senko ports --probe shows "
	    "the unique id of each board)", want);
	errno = ENOENT;
	return NULL;
}

struct repl *
repl_open_stoppable(const char *port, unsigned baud,
    const volatile sig_atomic_t *stop)
{
	if (identity_is_uid(port))
		return open_by_unique_id(port, baud, stop);
	return open_node(port, baud, stop);
}

void
repl_close(struct repl *r)
{
	if (r == NULL)
		return;
	/* Back to the friendly REPL, unless the board was reset on purpose
	 * and runs its program now. */
	if (serial_lost(r->s))
		;
	else if (r->state == REPL_RAW_PROMPT)
		serial_write(r->s, "\x02", 1, 1000);
	else if (r->state == REPL_UNKNOWN)
		serial_write(r->s, "\r\x03\x03\x02", 4, 1000);
	serial_close(r->s);
	buf_release(&r->exc);
	free(r->port);
	free(r);
}

const struct repl_info *
repl_info(const struct repl *r)
{
	return &r->info;
}

/* From the raw prompt to the friendly REPL, then Ctrl-D: boot.py and
 * main.py run, and we leave them to it. */
static int
friendly_soft_reset(struct repl *r)
{
	static const char reboot[] = "soft reboot";

	if (r->state != REPL_RAW_PROMPT && enter_raw(r, ENTER_MS) == -1)
		return -1;
	r->state = REPL_UNKNOWN;
	if (tx(r, "\x02", 1) == -1)
		return -1;
	if (rx_until(r, ">>> ", 4, NULL, REPLY_MS, monotime_ms() + REPLY_MS) == -1)
		return read_reply_failed(r, "friendly REPL prompt");
	if (tx(r, "\x04", 1) == -1)
		return -1;
	if (rx_until(r, reboot, sizeof(reboot) - 1, NULL, REPLY_MS,
	    monotime_ms() + REPLY_MS) == -1)
		return read_reply_failed(r, "soft reboot");
	r->state = REPL_RUNNING;
	return 0;
}

int
repl_soft_reset(struct repl *r)
{
	if (friendly_soft_reset(r) == -1) {
		/* A stop's grace ran out (serial.h): the caller says so. */
		if (errno == ECANCELED)
			return -1;
		return log_failx("%s: soft reset failed", r->port);
	}
	log_debug("%s: soft reset", r->port);
	return 0;
}

int
repl_hard_reset(struct repl *r)
{
	if (serial_pulse_reset(r->s) == -1)
		return -1;
	r->state = REPL_RUNNING;
	r->rpos = r->rlen = 0;
	log_debug("%s: hard reset", r->port);
	return 0;
}

uint64_t
repl_bytes_sent(const struct repl *r)
{
	return serial_bytes_sent(r->s);
}

uint64_t
repl_bytes_received(const struct repl *r)
{
	return serial_bytes_received(r->s);
}

void
repl_add_imports(struct buf *code, const char *modules)
{
	const char *p, *comma;

	buf_addstr(code, "import sys\n_senko_s=sys.path[:]\n_senko_o={}\n"
	    "for _senko_n in (");
	for (p = modules; *p; p = *comma ? comma + 1 : comma) {
		comma = p + strcspn(p, ",");
		buf_addf(code, "'%.*s',", (int)(comma - p), p);
	}
	buf_addf(code, "):\n"
	    " if _senko_n in sys.modules:"
	    "_senko_o[_senko_n]=sys.modules.pop(_senko_n)\n"
	    "sys.path.clear()\n"
	    "try:\n"
	    " import %s\n"
	    "finally:\n"
	    " sys.path.extend(_senko_s)\n"
	    " sys.modules.update(_senko_o)\n"
	    " del _senko_s,_senko_o,_senko_n\n", modules);
}

void
repl_quote(struct buf *out, const char *s, size_t len)
{
	const char *prefix = utf8_is_valid(s, len) ? "'" : "b'";
	size_t i;

	buf_addstr(out, prefix);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\\' || c == '\'')
			buf_addf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f ||
		    (c >= 0x80 && prefix[0] == 'b'))
			buf_addf(out, "\\x%02x", c);
		else
			buf_addch(out, c);
	}
	buf_addch(out, '\'');
}

struct serial *
repl_launch(struct repl *r, const char *code, struct buf *early)
{
	static const char run_staged[] = "exec(globals().pop('_senko_s'))";
	size_t len = strlen(code);
	bool fallback = false;

	if (strpbrk(code, "\x03\x04") != NULL) {
		log_fail_errno(EINVAL, "%s: code to run contains the bytes "
		    "03/04", r->port);
		return NULL;
	}
	r->exc_line[0] = '\0';
	buf_reset(&r->exc);
	if (r->state != REPL_RAW_PROMPT && enter_raw(r, ENTER_MS) == -1)
		return NULL;
	if (r->paste != PASTE_NO) {
		r->state = REPL_UNKNOWN;
		if (send_raw_paste(r, code, len, &fallback) == -1)
			return NULL;
		if (fallback) {
			r->paste = PASTE_NO;
			r->info.has_raw_paste = false;
			r->state = REPL_RAW_PROMPT;
		} else
			r->paste = PASTE_YES;
	}
	if (r->paste == PASTE_NO) {
		if (stage_plain(r, code, len) == -1)
			return NULL;
		r->state = REPL_UNKNOWN;
		if (send_plain_raw(r, run_staged, sizeof(run_staged) - 1,
		    false) == -1)
			return NULL;
	}
	/* Whatever was read ahead is the program's output. */
	if (early != NULL)
		buf_add(early, r->rbuf + r->rpos, r->rlen - r->rpos);
	r->rpos = r->rlen = 0;
	r->state = REPL_UNKNOWN;
	return r->s;
}

int
repl_raw_reset(struct repl *r)
{
	static const char reboot[] = "soft reboot";

	if (r->state != REPL_RAW_PROMPT && enter_raw(r, ENTER_MS) == -1)
		return -1;
	r->state = REPL_UNKNOWN;
	/* 04 on an empty raw line: reboot, boot.py, raw prompt again. */
	if (tx(r, "\x04", 1) == -1)
		return -1;
	if (rx_until(r, reboot, sizeof(reboot) - 1, NULL, REPLY_MS,
	    monotime_ms() + REPLY_MS) == -1)
		return read_reply_failed(r, "soft reboot");
	if (rx_until(r, raw_banner, sizeof(raw_banner) - 1, NULL, ENTER_MS,
	    monotime_ms() + BOOT_MS) == -1) {
		if (errno != ETIMEDOUT)
			return read_reply_failed(r, "raw REPL after a soft "
			    "reboot");
		/* A boot.py waiting for a network that is not there would
		 * fail every session, and a fixed one could never reach the
		 * board.  This reboot is only for a clean heap: boot.py runs
		 * again, whole, when the application is started. */
		log_notice("%s: boot.py still runs %d s after the soft reboot; "
		    "interrupting it (it runs again when the application "
		    "starts)", r->port, BOOT_MS / 1000);
		return enter_raw(r, ENTER_MS);
	}
	r->state = REPL_RAW_PROMPT;
	log_debug("%s: soft reset in the raw REPL (main.py not started)",
	    r->port);
	return 0;
}

int
repl_watch(struct repl *r, int ms, struct buf *out)
{
	int64_t end = monotime_ms() + ms, left;
	int c;

	while ((left = end - monotime_ms()) > 0) {
		c = rx_byte(r, (int)left);
		if (c == -1) {
			if (errno == ETIMEDOUT)
				continue;
			return -1;
		}
		if (out != NULL)
			buf_add_keeping_tail(out, &(char){ (char)c }, 1);
	}
	return 0;
}

unsigned
repl_baud(const struct repl *r)
{
	return r->baud;
}

void
repl_return_port(struct repl *r, bool at_prompt)
{
	r->state = at_prompt ? REPL_RAW_PROMPT : REPL_UNKNOWN;
}
