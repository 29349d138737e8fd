/*
 * log.h - the logging API (after OpenBSD ntpd's log.c).
 *
 * Everything goes to stderr, one line per event.  Under systemd (when
 * JOURNAL_STREAM names the device:inode stderr really is, as systemd.exec(5)
 * says to check) each line starts with a "<N>" priority prefix that
 * journald turns into the entry's priority; otherwise lines read
 * "prog: level: message", with a timestamp when LOG_TIME is asked for.
 *
 * What a line may hold: every message is escaped (log_escape) before it is
 * printed or kept, so text from a board or a server cannot move the
 * cursor, clear the screen or forge a second log line.  A thread working
 * for one device names it (log_set_context), and every message of that
 * thread starts with "DEVICE: ", so a serial error says which board.
 * Identical consecutive lines are printed once, followed by "last message
 * repeated N times" when a different line comes (or at exit), as syslogd
 * does: a chatty board at -v cannot flood the journal.
 *
 * The module owns: the verbosity, the program name and a per-thread copy
 * of the last error message (log_last_error), which callers use to record
 * why a board or source failed without threading strings through every
 * return path.  All functions are thread-safe.
 *
 * Two tiers of errors: log_fail()/log_failx() log and return -1, for
 * `return log_fail("cannot open '%s'", path);`; fatal()/fatalx() exit and
 * are only for start-up, out-of-memory and broken invariants.
 */
#ifndef SENKO_LOG_H
#define SENKO_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level {
	LOG_LEVEL_ERR = 3,
	LOG_LEVEL_WARNING = 4,
	LOG_LEVEL_NOTICE = 5,
	LOG_LEVEL_INFO = 6,
	LOG_LEVEL_DEBUG = 7,
};

#define LOG_TIME 0x1 /* prefix plain lines with a timestamp */

/* verbosity: -1 quiet (warnings and errors), 0 normal, 1 verbose (debug). */
void log_init(const char *progname, int verbosity, int flags);
int log_verbosity(void);

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);  /* adds strerror */
void log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_notice(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);

/* Log at error level (log_fail adds strerror(errno)); return -1. */
int log_fail(const char *fmt, ...) LOG_PRINTF(1, 2);
int log_failx(const char *fmt, ...) LOG_PRINTF(1, 2);
/* Log at error level, set errno to err (for callers that branch on it). */
int log_fail_errno(int err, const char *fmt, ...) LOG_PRINTF(2, 3);

void fatal(const char *fmt, ...) LOG_PRINTF(1, 2) __attribute__((noreturn));
void fatalx(const char *fmt, ...) LOG_PRINTF(1, 2) __attribute__((noreturn));

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
    LOG_PRINTF(2, 0);

/*
 * Copy in to out (size bytes, always NUL-terminated) as printable UTF-8:
 * \n, \r, \t for those, \xNN for other control bytes and for bytes that
 * are not UTF-8, \u00NN for the C1 controls (U+0080..U+009F, which some
 * terminals obey).  Cut at a character boundary when out is too small.
 * For any text that did not come from senko itself, before it reaches a
 * terminal or a file a terminal may show.
 */
void log_escape(char *out, size_t size, const char *in);

/*
 * Name the device this thread works for ("" or NULL: none); borrowed, it
 * must stay valid until cleared.  Messages get a "NAME: " prefix unless
 * they start with it already; log_last_error() keeps them without it.
 */
void log_set_context(const char *name);

/*
 * Send finished lines (with their newline) to write(arg, line) instead of
 * stderr, under the log's lock: the progress display uses it to clear its
 * line before a message and draw it again after.  NULL restores stderr.
 */
void log_set_writer(void (*write)(void *arg, const char *line), void *arg);

/* Print a pending "last message repeated N times" now (also at exit). */
void log_flush(void);

/*
 * The last error-level message this thread logged (without prefix), or ""
 * when none since log_clear_error().  Valid until this thread logs again.
 */
const char *log_last_error(void);
void log_clear_error(void);

/*
 * Quiet this thread: its messages are still recorded for log_last_error()
 * but not printed (unless -v asked for debug messages: then everything is
 * printed).  senkod uses it so a board that stays offline is reported
 * when it goes offline and when it returns, not every retry.
 */
int log_thread_quiet(int quiet); /* returns what it was */

#endif
