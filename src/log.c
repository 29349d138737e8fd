/*
 * log.c - stderr logging with journald priorities; see log.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "banned.h"

#define LOG_LINE_MAX 2048

static const char *log_progname = "senko";
static int log_verbose;
static int log_flags;
static int log_journal;
static _Thread_local char log_lasterr[LOG_LINE_MAX];
static _Thread_local int log_quiet;

void
log_init(const char *progname, int verbosity, int flags)
{
	const char *js = getenv("JOURNAL_STREAM");

	log_progname = progname;
	log_verbose = verbosity;
	log_flags = flags;
	/* journald sets JOURNAL_STREAM to the device:inode of our stderr. */
	log_journal = js != NULL && *js != '\0';
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

static void
log_emit(enum log_level level, const char *msg)
{
	char line[LOG_LINE_MAX + 128];
	char stamp[32] = "";

	if (level == LOG_LEVEL_ERR)
		snprintf(log_lasterr, sizeof(log_lasterr), "%s", msg);
	if (log_quiet || !level_shown(level))
		return;
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
	/* One fputs per line: stdio's lock keeps threads' lines whole. */
	fputs(line, stderr);
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

void
log_thread_quiet(int quiet)
{
	log_quiet = quiet;
}
