/*
 * fuzz_line.h - the board's side of a serial line, played from a fuzz
 * input, on a virtual clock; shared by the targets that drive the board
 * layer (fuzz_repl_reply, fuzz_agent_frames).
 *
 * The input is chunks: a length byte L and L bytes the board sends, or
 * L = 0 for a silence that outlasts any wait.  A chunk arrives when the
 * host waits for one (a read with a timeout), never during a mere poll:
 * a board answers what it was sent.  When the input ends the board is
 * silent, or unplugged (EIO) if vanish is set.
 *
 * The module under test is included into the target with clock_gettime
 * (and nanosleep) renamed to fuzz_clock_gettime (fuzz_nanosleep), so
 * retries and 20-second timeouts cost no real time; waiting for the line
 * moves the clock.  Also the targets' shared set-up and checks
 * (fuzz_log_init, fuzz_check_terminated).  Include this once, in the
 * target's one file.
 */
#ifndef SENKO_FUZZ_LINE_H
#define SENKO_FUZZ_LINE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "fuzz.h"
#include "log.h"

static int64_t fuzz_virtual_ns;

static inline int
fuzz_clock_gettime(clockid_t id, struct timespec *ts)
{
	(void)id;
	ts->tv_sec = (time_t)(fuzz_virtual_ns / 1000000000);
	ts->tv_nsec = (long)(fuzz_virtual_ns % 1000000000);
	return 0;
}

static inline int
fuzz_nanosleep(const struct timespec *req, struct timespec *rem)
{
	fuzz_virtual_ns += (int64_t)req->tv_sec * 1000000000 + req->tv_nsec;
	if (rem != NULL)
		rem->tv_sec = 0, rem->tv_nsec = 0;
	return 0;
}

struct fuzz_line {
	const uint8_t *data;  /* the input's chunks; not owned */
	size_t len, pos;
	size_t chunk_left;    /* bytes of the current chunk not yet read */
	bool vanish;          /* the end of the input is EIO, not silence */
	bool bytewise;        /* one byte per read */
	uint64_t received;    /* bytes the host has read */
};

/* Start l on an input's chunks, the clock at one second. */
static inline void
fuzz_line_init(struct fuzz_line *l, const uint8_t *data, size_t len,
    bool vanish, bool bytewise)
{
	memset(l, 0, sizeof(*l));
	l->data = data;
	l->len = len;
	l->vanish = vanish;
	l->bytewise = bytewise;
	fuzz_virtual_ns = 1000000000;
}

/* Has the board said all it will? */
static inline bool
fuzz_line_ended(const struct fuzz_line *l)
{
	return l->pos >= l->len && l->chunk_left == 0;
}

/* Nothing more comes: EIO for a board that vanished, else a timeout. */
static inline ssize_t
fuzz_line_gone(struct fuzz_line *l, int timeout_ms)
{
	if (l->vanish) {
		errno = EIO;
		return -1;
	}
	fuzz_virtual_ns += (int64_t)timeout_ms * 1000000;
	return 0;
}

/* serial_read's contract: up to len bytes, 0 on a timeout, -1 (errno). */
static inline ssize_t
fuzz_line_read(struct fuzz_line *l, void *data, size_t len, int timeout_ms)
{
	size_t n;

	/* Waiting lets the next chunk arrive; a poll only sees this one. */
	while (l->chunk_left == 0) {
		if (timeout_ms <= 0)
			return 0;
		if (l->pos >= l->len)
			return fuzz_line_gone(l, timeout_ms);
		l->chunk_left = l->data[l->pos++];
		if (l->chunk_left == 0) {
			fuzz_virtual_ns += (int64_t)timeout_ms * 1000000;
			return 0;
		}
		if (l->chunk_left > l->len - l->pos)
			l->chunk_left = l->len - l->pos;
	}
	n = len < l->chunk_left ? len : l->chunk_left;
	if (l->bytewise)
		n = 1;
	memcpy(data, l->data + l->pos, n);
	l->pos += n;
	l->chunk_left -= n;
	l->received += n;
	fuzz_virtual_ns += 1000000; /* the bytes took some time on the wire */
	return (ssize_t)n;
}

/*
 * For LLVMFuzzerInitialize: FUZZ_VERBOSE=1 shows what the module under
 * test logs (to read one input); otherwise it is silent.  Returns whether
 * verbose.
 */
static inline bool
fuzz_log_init(const char *name)
{
	bool verbose = getenv("FUZZ_VERBOSE") != NULL;

	if (verbose)
		log_init(name, 1, 0);
	else {
		log_init(name, -1, 0);
		log_thread_quiet(1);
	}
	return verbose;
}

/* A fixed-size text field the code under test filled ends in a NUL. */
static inline void
fuzz_check_terminated(const char *field, size_t size, const char *what)
{
	FUZZ_CHECK(memchr(field, '\0', size) != NULL, "%s not terminated",
	    what);
}

#endif
