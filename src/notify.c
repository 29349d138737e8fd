/*
 * notify.c - systemd's notification protocol without libsystemd; see
 * notify.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "notify.h"
#include "banned.h"

/* systemd reads at most PIPE_BUF bytes per notification. */
#define NOTIFY_MAX 4096
#define STATUS_MAX 1024

/* Fill sa from $NOTIFY_SOCKET's value; return the address length or -1. */
static int
notify_address(const char *name, struct sockaddr_un *sa)
{
	size_t len = strlen(name);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (name[0] != '/' && name[0] != '@')
		return log_failx("NOTIFY_SOCKET '%s' is neither a socket path "
		    "nor an abstract '@' name; not notifying systemd", name);
	/* A path needs its NUL; an abstract name's '@' becomes a NUL. */
	if (len + (name[0] == '/') > sizeof(sa->sun_path))
		return log_failx("NOTIFY_SOCKET '%s' is longer than a socket "
		    "address can be; not notifying systemd", name);
	memcpy(sa->sun_path, name, len);
	if (name[0] == '@') {
		sa->sun_path[0] = '\0';
		return (int)(offsetof(struct sockaddr_un, sun_path) + len);
	}
	return (int)(offsetof(struct sockaddr_un, sun_path) + len + 1);
}

int
notify_send(const char *state)
{
	const char *name = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	size_t len = strlen(state);
	ssize_t n;
	int fd, salen, saved;

	if (name == NULL || *name == '\0')
		return 0;
	if (len > NOTIFY_MAX)
		return log_failx("notification of %zu bytes is longer than "
		    "systemd reads (%d)", len, NOTIFY_MAX);
	if ((salen = notify_address(name, &sa)) == -1)
		return -1;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return log_fail("cannot create a socket to notify systemd");
	n = sendto(fd, state, len, MSG_NOSIGNAL, (struct sockaddr *)&sa,
	    (socklen_t)salen);
	saved = errno;
	close(fd);
	if (n == -1) {
		errno = saved;
		return log_fail("cannot notify systemd through '%s'", name);
	}
	if ((size_t)n != len)
		return log_failx("short notification to systemd through '%s'",
		    name);
	return 0;
}

int
notify_ready(void)
{
	return notify_send("READY=1");
}

int
notify_watchdog(void)
{
	return notify_send("WATCHDOG=1");
}

int
notify_stopping(void)
{
	return notify_send("STOPPING=1");
}

int
notify_reloading(void)
{
	struct timespec ts;
	struct buf msg = BUF_INIT;
	int rc;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		return log_fail("cannot read the monotonic clock");
	buf_addf(&msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
	rc = notify_send(msg.data);
	buf_release(&msg);
	return rc;
}

/*
 * Length of the valid UTF-8 sequence at s (at most n bytes), or 0.
 * systemd ignores a STATUS that is not UTF-8, so invalid bytes are
 * replaced rather than passed on.
 */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates, past U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

int
notify_status(const char *fmt, ...)
{
	const char *name = getenv("NOTIFY_SOCKET");
	struct buf text = BUF_INIT, msg = BUF_INIT;
	const unsigned char *p;
	size_t i, n, len;
	va_list ap;
	int rc;

	if (name == NULL || *name == '\0')
		return 0;
	va_start(ap, fmt);
	rc = buf_vaddf(&text, fmt, ap);
	va_end(ap);
	if (rc == -1) {
		buf_release(&text);
		return log_fail("cannot format the status for systemd");
	}
	/* A status is one line on a screen: cut it well before the limit. */
	len = text.len < STATUS_MAX ? text.len : STATUS_MAX;
	buf_addstr(&msg, "STATUS=");
	p = (const unsigned char *)text.data;
	for (i = 0; i < len; i += n) {
		n = utf8_len(p + i, len - i);
		if (n == 0) {
			buf_addch(&msg, '?');
			n = 1;
		} else if (p[i] < 0x20 || p[i] == 0x7f)
			buf_addch(&msg, ' ');
		else
			buf_add(&msg, p + i, n);
	}
	rc = notify_send(msg.data);
	buf_release(&msg);
	buf_release(&text);
	return rc;
}

/* A positive decimal number and nothing else; 0 otherwise. */
static unsigned long long
env_number(const char *name)
{
	const char *s = getenv(name);
	unsigned long long v;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end != '\0')
		return 0;
	return v;
}

unsigned long
notify_watchdog_interval(void)
{
	const char *pid = getenv("WATCHDOG_PID");
	unsigned long long usec;

	/*
	 * WATCHDOG_PID names the process systemd watches; a child that
	 * inherited the environment must not ping on its behalf.
	 */
	if (pid && *pid && env_number("WATCHDOG_PID") != (unsigned long long)
	    getpid())
		return 0;
	usec = env_number("WATCHDOG_USEC");
	if (usec == 0)
		return 0;
	if (usec < 2000)
		return 1;
	return (unsigned long)(usec / 2000);
}
