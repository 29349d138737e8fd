/*
 * log.c - stderr logging with journald priorities; see log.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "path.h"
#include "banned.h"

#define LOG_LINE_MAX 2048

static const char *log_progname = "senko";
static int log_verbose;
static int log_flags;
static int log_journal;
static _Thread_local char log_lasterr[LOG_LINE_MAX];
static _Thread_local int log_quiet;
static _Thread_local const char *log_context;

/* The output side, shared by every thread, under log_lock. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static void (*log_writer)(void *, const char *);
static void *log_writer_arg;
static char log_prev[LOG_LINE_MAX + 64]; /* last line printed, unstamped */
static enum log_level log_prev_level;
static unsigned long log_repeats;        /* of log_prev, not yet said */

/*
 * systemd sets JOURNAL_STREAM to "DEV:INODE" of the stream it connected
 * to stderr; a child whose stderr went elsewhere (a pipe, a file) inherits
 * the variable, so only a match means journald reads what we print.
 */
static int
stderr_is_journal(const char *js)
{
	unsigned long long dev, ino;
	struct stat st;
	int end = 0;

	if (js == NULL || sscanf(js, "%llu:%llu%n", &dev, &ino, &end) != 2 ||
	    js[end] != '\0')
		return 0;
	if (fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

void
log_init(const char *progname, int verbosity, int flags)
{
	static bool registered;

	log_progname = progname;
	log_verbose = verbosity;
	log_flags = flags;
	log_journal = stderr_is_journal(getenv("JOURNAL_STREAM"));
	if (!registered) {
		registered = true;
		atexit(log_flush);
	}
}

int
log_verbosity(void)
{
	return log_verbose;
}

static const char *
level_name(enum log_level level)
{
	switch (level) {
	case LOG_LEVEL_ERR:
		return "error: ";
	case LOG_LEVEL_WARNING:
		return "warning: ";
	case LOG_LEVEL_DEBUG:
		return "debug: ";
	default:
		return "";
	}
}

static int
level_shown(enum log_level level)
{
	if (level <= LOG_LEVEL_WARNING)
		return 1;
	if (level == LOG_LEVEL_DEBUG)
		return log_verbose > 0;
	return log_verbose >= 0;
}

/* Length of the UTF-8 character at s (n bytes left), or 0 if invalid. */
static size_t
utf8_char_len(const char *s, size_t n)
{
	size_t k;

	for (k = 1; k <= 4 && k <= n; k++)
		if (utf8_is_valid(s, k))
			return k;
	return 0;
}

void
log_escape(char *out, size_t size, const char *in)
{
	size_t i = 0, o = 0, n = strlen(in);

	if (size == 0)
		return;
	while (i < n) {
		const unsigned char c = (unsigned char)in[i];
		size_t len = c < 0x80 ? 1 : utf8_char_len(in + i, n - i);
		char esc[8];

		if (c == '\n' || c == '\r' || c == '\t')
			snprintf(esc, sizeof(esc), "\\%c", c == '\n' ? 'n' :
			    c == '\r' ? 'r' : 't');
		else if (len == 0 || c < 0x20 || c == 0x7f)
			snprintf(esc, sizeof(esc), "\\x%02x", c);
		else if (c == 0xc2 && (unsigned char)in[i + 1] < 0xa0)
			snprintf(esc, sizeof(esc), "\\u%04x",
			    (unsigned char)in[i + 1]);
		else
			esc[0] = '\0';
		if (*esc) {
			len = len ? len : 1;
			if (o + strlen(esc) >= size)
				break;
			memcpy(out + o, esc, strlen(esc));
			o += strlen(esc);
		} else {
			if (o + len >= size)
				break;
			memcpy(out + o, in + i, len);
			o += len;
		}
		i += len;
	}
	out[o] = '\0';
}

/* Hand one finished line to the writer; log_lock held. */
static void
write_line(const char *line)
{
	if (log_writer)
		log_writer(log_writer_arg, line);
	else
		/* One fputs per line: stdio's lock keeps lines whole. */
		fputs(line, stderr);
}

/* Format msg at level as a line and write it; log_lock held. */
static void
print_line(enum log_level level, const char *msg)
{
	char line[LOG_LINE_MAX + 192];
	char stamp[32] = "";

	if (log_journal) {
		snprintf(line, sizeof(line), "<%d>%s\n", (int)level, msg);
	} else {
		if (log_flags & LOG_TIME) {
			time_t now = time(NULL);
			struct tm tm;

			localtime_r(&now, &tm);
			strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S ", &tm);
		}
		snprintf(line, sizeof(line), "%s%s: %s%s\n", stamp,
		    log_progname, level_name(level), msg);
	}
	write_line(line);
}

/* Say how often the last line came again; log_lock held. */
static void
print_repeats(void)
{
	char msg[64];

	if (log_repeats == 0)
		return;
	snprintf(msg, sizeof(msg), "last message repeated %lu time%s",
	    log_repeats, log_repeats == 1 ? "" : "s");
	log_repeats = 0;
	print_line(log_prev_level, msg);
}

void
log_flush(void)
{
	pthread_mutex_lock(&log_lock);
	print_repeats();
	fflush(stderr);
	pthread_mutex_unlock(&log_lock);
}

void
log_set_writer(void (*write)(void *arg, const char *line), void *arg)
{
	pthread_mutex_lock(&log_lock);
	print_repeats();
	log_writer = write;
	log_writer_arg = arg;
	pthread_mutex_unlock(&log_lock);
}

void
log_set_context(const char *name)
{
	log_context = name && *name ? name : NULL;
}

/* Does msg start with "CONTEXT: "?  Then it names the device already. */
static size_t
context_prefix_len(const char *msg)
{
	size_t n;

	if (log_context == NULL)
		return 0;
	n = strlen(log_context);
	if (strncmp(msg, log_context, n) == 0 && msg[n] == ':' &&
	    msg[n + 1] == ' ')
		return n + 2;
	return 0;
}

static void
log_emit(enum log_level level, const char *raw)
{
	char msg[LOG_LINE_MAX], full[LOG_LINE_MAX + 64];
	size_t skip;

	log_escape(msg, sizeof(msg), raw);
	skip = context_prefix_len(msg);
	if (level == LOG_LEVEL_ERR)
		snprintf(log_lasterr, sizeof(log_lasterr), "%s", msg + skip);
	/* -v asked for everything: a quiet retry's attempt is shown too. */
	if ((log_quiet && log_verbose <= 0) || !level_shown(level))
		return;
	if (log_context)
		snprintf(full, sizeof(full), "%s: %s", log_context, msg + skip);
	else
		snprintf(full, sizeof(full), "%s", msg);
	pthread_mutex_lock(&log_lock);
	if (level == log_prev_level && strcmp(full, log_prev) == 0) {
		log_repeats++;
	} else {
		print_repeats();
		snprintf(log_prev, sizeof(log_prev), "%s", full);
		log_prev_level = level;
		print_line(level, full);
	}
	pthread_mutex_unlock(&log_lock);
}

void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_emit(level, msg);
}

static void
log_vmsg_errno(enum log_level level, int saved_errno, const char *fmt,
    va_list ap)
{
	char msg[LOG_LINE_MAX];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(saved_errno));
	log_emit(level, msg);
}

#define LOG_VA(level, fmt)                                                  \
	do {                                                                \
		va_list ap;                                                 \
		va_start(ap, fmt);                                          \
		log_vmsg(level, fmt, ap);                                   \
		va_end(ap);                                                 \
	} while (0)

#define LOG_VA_ERRNO(level, fmt)                                            \
	do {                                                                \
		int saved_errno = errno;                                    \
		va_list ap;                                                 \
		va_start(ap, fmt);                                          \
		log_vmsg_errno(level, saved_errno, fmt, ap);                \
		va_end(ap);                                                 \
		errno = saved_errno;                                        \
	} while (0)

void
log_warn(const char *fmt, ...)
{
	LOG_VA_ERRNO(LOG_LEVEL_WARNING, fmt);
}

void
log_warnx(const char *fmt, ...)
{
	LOG_VA(LOG_LEVEL_WARNING, fmt);
}

void
log_notice(const char *fmt, ...)
{
	LOG_VA(LOG_LEVEL_NOTICE, fmt);
}

void
log_info(const char *fmt, ...)
{
	LOG_VA(LOG_LEVEL_INFO, fmt);
}

void
log_debug(const char *fmt, ...)
{
	if (log_verbose > 0)
		LOG_VA(LOG_LEVEL_DEBUG, fmt);
}

int
log_fail(const char *fmt, ...)
{
	LOG_VA_ERRNO(LOG_LEVEL_ERR, fmt);
	return -1;
}

int
log_failx(const char *fmt, ...)
{
	LOG_VA(LOG_LEVEL_ERR, fmt);
	return -1;
}

int
log_fail_errno(int err, const char *fmt, ...)
{
	LOG_VA(LOG_LEVEL_ERR, fmt);
	errno = err;
	return -1;
}

void
fatal(const char *fmt, ...)
{
	LOG_VA_ERRNO(LOG_LEVEL_ERR, fmt);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	LOG_VA(LOG_LEVEL_ERR, fmt);
	exit(1);
}

const char *
log_last_error(void)
{
	return log_lasterr;
}

void
log_clear_error(void)
{
	log_lasterr[0] = '\0';
}

int
log_thread_quiet(int quiet)
{
	int was = log_quiet;

	log_quiet = quiet;
	return was;
}
