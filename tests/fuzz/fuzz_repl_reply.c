/*
 * fuzz_repl_reply - the raw REPL client (repl.c) against a board that may
 * answer anything: entering the raw REPL, the raw-paste handshake and its
 * flow control, plain raw mode's "OK", and the replies to a run
 * (output 04 exception 04 '>'), the probe's answer, a soft reset.
 *
 * The input is what the board sends; the port under repl.c is played by
 * this file, so each input is one whole session through the public API
 * (repl_open, repl_exec, repl_soft_reset, repl_close):
 *
 *   byte 0      flags: FLAG_VANISH: when the input ends the board is
 *               unplugged (EIO) rather than silent; FLAG_QUIET:
 *               repl_exec_quiet; FLAG_SMALL_OUT: a 64-byte output buffer;
 *               FLAG_RESET: a soft reset after the run; FLAG_TWICE: run
 *               the code a second time; FLAG_BYTEWISE: the port hands
 *               out one byte per read (so the board knows what the host
 *               has consumed, and the raw-paste credit is checked)
 *   byte 1      n, then n bytes: the code to run (up to a NUL)
 *   then        chunks: a length byte L and L bytes the board sends, or
 *               L = 0 for a silence that outlasts any wait.  A chunk
 *               arrives when the host waits for one (a read with a
 *               timeout), never during a mere poll: a board answers
 *               what it was sent.
 *
 * FUZZ_VERBOSE=1 build/fuzz/fuzz_repl_reply FILE shows one session's log.
 *
 * Every serial.h function repl.c calls is defined here: when repl.c starts
 * calling another, the link fails ("multiple definition", serial.o pulled
 * in) until it is added.
 *
 * repl.c is included here rather than linked (curl's UNITTEST idea) for
 * one reason: its clock.  clock_gettime and nanosleep are renamed to a
 * virtual clock below, so retries, back-offs and 20-second timeouts cost
 * no real time.  Nothing else in it is touched.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "fuzz.h"
#include "fuzz_line.h"
#include "log.h"
#include "repl.h"
#include "serial.h"

#define clock_gettime fuzz_clock_gettime
#define nanosleep fuzz_nanosleep
#include "repl.c"
#undef clock_gettime
#undef nanosleep

enum {
	FLAG_VANISH = 0x01,
	FLAG_QUIET = 0x02,
	FLAG_SMALL_OUT = 0x04,
	FLAG_RESET = 0x08,
	FLAG_TWICE = 0x10,
	FLAG_BYTEWISE = 0x20,
};

/*
 * Raw-paste flow control as the board sees it, to check the host's side
 * (with FLAG_BYTEWISE only: otherwise bytes the host has read ahead but
 * not looked at yet would be taken for its answer):
 * after "05 A 01" and the answer "R 01 W(2 bytes)" the host may send W
 * bytes, and W more for each 01 the board sends, until it sends 04
 * (shared/reference/raw-repl.md; pyboard.py's raw_paste_write).
 */
enum paste_phase {
	PASTE_IDLE,
	PASTE_ASKED,  /* the host sent 05 41 01; header bytes follow */
	PASTE_DATA,   /* the window is open: host data is counted */
};

/* The board's side of the line: what the input says it sends. */
struct serial {
	struct fuzz_line line;
	uint64_t sent;
	enum paste_phase phase;
	uint8_t header[4];
	size_t header_len;
	int64_t window, credit;
	const volatile sig_atomic_t *stop;
};

static struct serial *board; /* set up before each repl_open() */
static bool verbose;

struct serial *
serial_open(const char *path, unsigned baud)
{
	struct serial *s = board;

	(void)path;
	(void)baud;
	board = NULL;
	if (s == NULL)
		errno = ENOENT;
	return s;
}

void
serial_close(struct serial *s)
{
	free(s);
}

void
serial_set_stop(struct serial *s, const volatile sig_atomic_t *stop,
    int grace_ms)
{
	(void)grace_ms;
	s->stop = stop;
}

/* As serial.h says: a stop request fails reads and writes (no flag is
 * ever set here, so its grace does not matter). */
static bool
stopped(const struct serial *s)
{
	if (s->stop == NULL || *s->stop == 0)
		return false;
	errno = ECANCELED;
	return true;
}

/* Bytes the board sends: the raw-paste header, then credits. */
static void
paste_board_sent(struct serial *s, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (s->phase == PASTE_ASKED) {
			s->header[s->header_len++] = p[i];
			if (s->header_len == 2 && (s->header[0] != 'R' ||
			    s->header[1] != 0x01))
				s->phase = PASTE_IDLE; /* refused: plain raw */
			else if (s->header_len == 4) {
				s->window = s->header[2] | s->header[3] << 8;
				s->credit = s->window;
				s->phase = PASTE_DATA;
			}
		} else if (s->phase == PASTE_DATA && p[i] == 0x01)
			s->credit += s->window;
	}
}

/* Bytes the host sends: count code against the credit. */
static void
paste_host_sent(struct serial *s, const uint8_t *p, size_t n)
{
	if (n == 3 && memcmp(p, "\x05" "A\x01", 3) == 0) {
		s->phase = PASTE_ASKED;
		s->header_len = 0;
		return;
	}
	/* 03 (never in code) interrupts a paste; 04 ends the code. */
	if (memchr(p, 0x03, n) != NULL || (n == 1 && p[0] == 0x04)) {
		s->phase = PASTE_IDLE;
		return;
	}
	if (s->phase != PASTE_DATA)
		return;
	s->credit -= (int64_t)n;
	FUZZ_CHECK(s->credit >= 0, "raw-paste: the host sent %zu bytes, "
	    "%lld past the credit the board gave (window %lld)", n,
	    (long long)-s->credit, (long long)s->window);
}

ssize_t
serial_read(struct serial *s, void *data, size_t len, int timeout_ms)
{
	ssize_t n;

	if (stopped(s))
		return -1;
	n = fuzz_line_read(&s->line, data, len, timeout_ms);
	if (n > 0 && s->line.bytewise)
		paste_board_sent(s, data, (size_t)n);
	return n;
}

int
serial_write(struct serial *s, const void *data, size_t len, int timeout_ms)
{
	(void)timeout_ms;
	if (stopped(s))
		return -1;
	if (s->line.vanish && fuzz_line_ended(&s->line)) {
		errno = EIO;
		return -1;
	}
	if (s->line.bytewise)
		paste_host_sent(s, data, len);
	s->sent += len;
	return 0;
}

/* As serial.c: a line that hung up stays gone. */
bool
serial_lost(const struct serial *s)
{
	return s->line.vanish && fuzz_line_ended(&s->line);
}

int
serial_pulse_reset(struct serial *s)
{
	(void)s;
	errno = ENOTTY;
	return -1;
}

uint64_t
serial_bytes_sent(const struct serial *s)
{
	return s->sent;
}

uint64_t
serial_bytes_received(const struct serial *s)
{
	return s->line.received;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	verbose = fuzz_log_init("fuzz_repl_reply");
	return 0;
}

static void
check_info(const struct repl_info *in)
{
	fuzz_check_terminated(in->version, sizeof(in->version), "version");
	fuzz_check_terminated(in->platform, sizeof(in->platform),
	    "platform");
	fuzz_check_terminated(in->unique_id, sizeof(in->unique_id),
	    "unique_id");
}

/* What a caller may rely on after repl_exec() returned rc. */
static void
check_run(struct repl *r, int rc, int err, const struct buf *out)
{
	const char *exc = repl_last_exception(r);
	size_t i;

	FUZZ_CHECK(memchr(out->data, 0x04, out->len) == NULL,
	    "the output holds the 04 that ends it");
	FUZZ_CHECK(out->len <= (out->max ? out->max : BUF_DEFAULT_MAX),
	    "output past its cap");
	FUZZ_CHECK(strlen(exc) < 256, "exception line of %zu bytes",
	    strlen(exc));
	for (i = 0; exc[i]; i++)
		FUZZ_CHECK((unsigned char)exc[i] >= ' ' && exc[i] != 0x7f,
		    "exception line holds the control byte %02x: '%s'",
		    (unsigned char)exc[i], exc);
	FUZZ_CHECK(strchr(repl_last_traceback(r), 0x04) == NULL,
	    "the traceback holds the 04 that ends it");
	if (rc == 0)
		FUZZ_CHECK(*exc == '\0' && *repl_last_traceback(r) == '\0',
		    "success with an exception '%s'", exc);
	else if (err == EREMOTEIO)
		FUZZ_CHECK(*exc != '\0', "the board raised, but no exception "
		    "line");
	else
		FUZZ_CHECK(err == EIO || err == ETIMEDOUT || err == ENOBUFS ||
		    err == EINVAL, "run failed with errno %d (%s)", err,
		    strerror(err));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out = BUF_INIT;
	struct repl *r;
	char *code;
	size_t n;
	uint8_t flags;
	int rc, err, runs;

	if (size < 2)
		return 0;
	flags = data[0];
	n = data[1];
	if (n > size - 2)
		n = size - 2;
	code = xstrndup((const char *)data + 2, n);
	board = xcalloc(1, sizeof(*board));
	fuzz_line_init(&board->line, data + 2 + n, size - 2 - n,
	    flags & FLAG_VANISH, flags & FLAG_BYTEWISE);

	r = repl_open("/dev/ttyFUZZ", 115200);
	if (r == NULL) {
		if (verbose)
			fprintf(stderr, "open: %s\n", strerror(errno));
		FUZZ_CHECK(board == NULL, "repl_open did not open the port");
		free(code);
		return 0;
	}
	check_info(repl_info(r));
	if (verbose)
		fprintf(stderr, "open: %s on %s, raw-paste %d\n",
		    repl_info(r)->version, repl_info(r)->platform,
		    repl_info(r)->has_raw_paste);
	buf_init(&out, flags & FLAG_SMALL_OUT ? 64 : 1024 * 1024);
	for (runs = flags & FLAG_TWICE ? 2 : 1; runs > 0; runs--) {
		buf_reset(&out);
		rc = flags & FLAG_QUIET ? repl_exec_quiet(r, code, &out) :
		    repl_exec(r, code, &out);
		err = rc == 0 ? 0 : errno;
		if (verbose)
			fprintf(stderr, "run: rc %d (%s), output '%s', "
			    "exception '%s'\n", rc, strerror(err), out.data,
			    repl_last_exception(r));
		check_run(r, rc, err, &out);
	}
	if (flags & FLAG_RESET)
		(void)repl_soft_reset(r);
	FUZZ_CHECK(repl_bytes_received(r) <= size, "received more than sent");
	repl_close(r);
	buf_release(&out);
	free(code);
	return 0;
}
