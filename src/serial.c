/*
 * serial.c - a board's serial port; see serial.h.
 *
 * The file descriptor stays non-blocking and every wait is a poll() with
 * a deadline, so a board that goes silent or disappears (USB unplugged,
 * emulator killed) turns into an error instead of a hang.
 *
 * Locking: flock() on the open port is the real lock between senko
 * processes (it dies with the process).  The UUCP lock file is there for
 * the other programs people point at a board (minicom, picocom, screen
 * -L...), which only know that convention.  flock is taken first, so two
 * senko processes never race on the lock file.
 */
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "identity.h"
#include "log.h"
#include "monotime.h"
#include "ports.h"
#include "serial.h"
#include "xalloc.h"
#include "banned.h"

/* Where UUCP lock files live, in order of preference. */
static const char *const lock_dirs[] = { "/run/lock", "/var/lock" };

struct serial {
	int fd;
	char *path;     /* as the caller named it, for messages */
	char *real;     /* symlinks resolved: what is opened and locked */
	char *lockfile; /* our UUCP lock file, NULL when flock alone */
	uint64_t sent;
	uint64_t received;
	const volatile sig_atomic_t *stop; /* nonzero: end waits (ECANCELED) */
	int stop_grace_ms; /* how long waits go on once *stop is seen */
	int64_t stop_seen; /* when it was first seen set; 0: not yet */
	bool lost;      /* the port went away: said once, then every I/O fails */
};

/* While a stop flag is set, waits look at it this often. */
#define STOP_CHECK_MS 100

static const struct {
	unsigned baud;
	speed_t speed;
} bauds[] = {
	{ 1200, B1200 }, { 2400, B2400 }, { 4800, B4800 },
	{ 9600, B9600 }, { 19200, B19200 }, { 38400, B38400 },
	{ 57600, B57600 }, { 115200, B115200 }, { 230400, B230400 },
	{ 460800, B460800 }, { 500000, B500000 }, { 576000, B576000 },
	{ 921600, B921600 }, { 1000000, B1000000 }, { 1152000, B1152000 },
	{ 1500000, B1500000 }, { 2000000, B2000000 }, { 2500000, B2500000 },
	{ 3000000, B3000000 }, { 3500000, B3500000 }, { 4000000, B4000000 },
};

/* The one list of rates: config.c checks baud = against it. */
static speed_t
speed_of(unsigned baud)
{
	size_t i;

	for (i = 0; i < sizeof(bauds) / sizeof(bauds[0]); i++)
		if (bauds[i].baud == baud)
			return bauds[i].speed;
	return 0;
}

bool
serial_baud_supported(unsigned baud)
{
	return speed_of(baud) != 0;
}

/* "senkod (pid 1234)": the program name from /proc/PID/comm. */
static void
describe_pid(pid_t pid, char *out, size_t size)
{
	char path[64], comm[64] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/comm", (long)pid);
	f = fopen(path, "re");
	if (f != NULL) {
		if (fgets(comm, sizeof(comm), f) == NULL)
			comm[0] = '\0';
		fclose(f);
	}
	comm[strcspn(comm, "\n")] = '\0';
	if (comm[0] != '\0')
		snprintf(out, size, "%s (pid %ld)", comm, (long)pid);
	else
		snprintf(out, size, "pid %ld", (long)pid);
}

static bool
pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* The PID written in a UUCP lock file (ASCII, HDB style), or -1. */
static pid_t
lockfile_pid(const char *lockfile)
{
	char text[32];
	ssize_t n;
	long pid;
	char *end;
	int fd;

	fd = open(lockfile, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return -1;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	errno = 0;
	pid = strtol(text, &end, 10);
	if (errno != 0 || end == text || pid <= 0 || pid > INT_MAX)
		return -1;
	return (pid_t)pid;
}

static const char *
basename_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* A live PID named by the port's UUCP lock file, or -1. */
static pid_t
lockfile_holder(const char *real)
{
	char path[PATH_MAX];
	pid_t pid;
	size_t i;

	for (i = 0; i < sizeof(lock_dirs) / sizeof(lock_dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/LCK..%s", lock_dirs[i],
		    basename_of(real));
		pid = lockfile_pid(path);
		if (pid > 0 && pid != getpid() && pid_alive(pid))
			return pid;
	}
	return -1;
}

/*
 * Who holds an flock on the device file: /proc/locks names the PID and
 * the device:inode of every lock.  Returns -1 when it cannot tell.
 */
static pid_t
flock_holder(const char *real)
{
	char line[256], want[64];
	struct stat st;
	pid_t found = -1;
	FILE *f;

	if (stat(real, &st) == -1)
		return -1;
	snprintf(want, sizeof(want), "%02x:%02x:%lu", major(st.st_dev),
	    minor(st.st_dev), (unsigned long)st.st_ino);
	f = fopen("/proc/locks", "re");
	if (f == NULL)
		return -1;
	while (found == -1 && fgets(line, sizeof(line), f) != NULL) {
		char kind[16], dev[64];
		long pid;

		if (sscanf(line, "%*s %15s %*s %*s %ld %63s", kind, &pid,
		    dev) != 3)
			continue;
		if (strcmp(kind, "FLOCK") == 0 && strcmp(dev, want) == 0 &&
		    pid != getpid())
			found = (pid_t)pid;
	}
	fclose(f);
	return found;
}

/* Is fd of process pid (its /proc/PID/fdinfo) the master of pty n? */
static bool
is_pty_master(const char *pid, const char *fd, long n)
{
	char path[PATH_MAX], line[128];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/fdinfo/%s", pid, fd);
	f = fopen(path, "re");
	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strncmp(line, "tty-index:", 10) == 0 &&
		    strtol(line + 10, NULL, 10) == n;
	fclose(f);
	return found;
}

/*
 * Does process pid have real open (one of its /proc/PID/fd links), as a
 * program that reads it?  Not when it also holds the master of real's
 * pseudo-terminal: that is the board's side of the line (a bridge such
 * as socat, or the emulated board), not a reader of it.
 */
static bool
reads_port(const char *pid, const char *real)
{
	char dir[64], link[PATH_MAX], target[PATH_MAX];
	bool open = false, master = false;
	long pty = -1;
	struct dirent *de;
	ssize_t n;
	DIR *d;

	if (strncmp(real, "/dev/pts/", 9) == 0)
		pty = strtol(real + 9, NULL, 10);
	snprintf(dir, sizeof(dir), "/proc/%s/fd", pid);
	d = opendir(dir);
	if (d == NULL)
		return false; /* gone, or another user's: not ours to see */
	while (!master && (de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(link, sizeof(link), "%s/%s", dir, de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strcmp(target, real) == 0)
			open = true;
		else if (pty >= 0 && strcmp(target, "/dev/ptmx") == 0)
			master = is_pty_master(pid, de->d_name, pty);
	}
	closedir(d);
	return open && !master;
}

/*
 * Another program with the port open but no lock (screen, cat, a serial
 * monitor) reads the board's answers meant for senko: what fails then
 * looks like a board that stopped answering.  Say who it is, once at
 * open.  Only the processes this user may see are looked at.
 */
static void
warn_other_openers(const struct serial *s)
{
	char self[32], who[96];
	struct dirent *de;
	DIR *d;

	d = opendir("/proc");
	if (d == NULL)
		return;
	snprintf(self, sizeof(self), "%ld", (long)getpid());
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]) ||
		    strcmp(de->d_name, self) == 0 ||
		    !reads_port(de->d_name, s->real))
			continue;
		describe_pid((pid_t)atol(de->d_name), who, sizeof(who));
		log_warnx("%s also has %s open: it takes the board's answers "
		    "meant for senko, and what senko does may fail as if the "
		    "board stopped answering; close it", who, s->path);
	}
	closedir(d);
}

static struct serial *
busy(struct serial *s, pid_t pid)
{
	char who[96];

	if (pid > 0) {
		describe_pid(pid, who, sizeof(who));
		log_failx("%s is using %s; stop it or wait for it to finish",
		    who, s->path);
	} else
		log_failx("another process is using %s", s->path);
	serial_close(s);
	errno = EBUSY;
	return NULL;
}

/*
 * Create the UUCP lock file the classic way: write our PID into a private
 * file, then link() it to the shared name, which is atomic.  Returns 0
 * (s->lockfile set, or left NULL when the lock folder is not writable),
 * or the PID of a live holder (> 0), or -1 on another error.
 */
static pid_t
lockfile_take(struct serial *s)
{
	const char *dir = NULL;
	char *lockfile, *tmp, text[16];
	struct stat st;
	int fd, tries, len;
	pid_t holder;
	size_t i;

	for (i = 0; i < sizeof(lock_dirs) / sizeof(lock_dirs[0]); i++)
		if (stat(lock_dirs[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			dir = lock_dirs[i];
			break;
		}
	if (dir == NULL || access(dir, W_OK) == -1) {
		log_debug("no writable lock folder (/run/lock, /var/lock): "
		    "locking %s with flock alone", s->real);
		return 0;
	}
	lockfile = xasprintf("%s/LCK..%s", dir, basename_of(s->real));
	/* Unique per call: the threads of one process share its PID. */
	tmp = xasprintf("%s/LCK.senko.XXXXXX", dir);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd != -1)
		fchmod(fd, 0644);
	if (fd == -1) {
		log_debug("cannot create '%s' (%s): locking %s with flock "
		    "alone", tmp, strerror(errno), s->real);
		free(lockfile);
		free(tmp);
		return 0;
	}
	len = snprintf(text, sizeof(text), "%10ld\n", (long)getpid());
	if (write(fd, text, (size_t)len) != len) {
		log_warn("cannot write lock file '%s'", tmp);
		close(fd);
		unlink(tmp);
		free(lockfile);
		free(tmp);
		return -1;
	}
	close(fd);
	for (tries = 0; tries < 3; tries++) {
		if (link(tmp, lockfile) == 0) {
			unlink(tmp);
			free(tmp);
			s->lockfile = lockfile;
			return 0;
		}
		if (errno != EEXIST)
			break;
		holder = lockfile_pid(lockfile);
		/*
		 * Our flock succeeded, so a lock file naming us is left over
		 * from an earlier process that had our PID.
		 */
		if (holder > 0 && holder != getpid() && pid_alive(holder)) {
			unlink(tmp);
			free(tmp);
			free(lockfile);
			return holder;
		}
		log_info("removing stale lock file '%s' (pid %ld is gone)",
		    lockfile, (long)holder);
		if (unlink(lockfile) == -1 && errno != ENOENT)
			break;
	}
	log_warn("cannot create lock file '%s'", lockfile);
	unlink(tmp);
	free(tmp);
	free(lockfile);
	return -1;
}

static int
setup_termios(struct serial *s, unsigned baud)
{
	struct termios tio;
	speed_t speed = speed_of(baud);

	if (speed == 0) {
		errno = EINVAL;
		return log_failx("unsupported baud rate %u for %s (use a "
		    "standard rate such as 115200)", baud, s->path);
	}
	if (tcgetattr(s->fd, &tio) == -1)
		return log_fail("cannot read the settings of %s", s->path);
	cfmakeraw(&tio);
	tio.c_cflag &= ~(CSIZE | PARENB | CSTOPB | CRTSCTS | HUPCL);
	tio.c_cflag |= CS8 | CLOCAL | CREAD;
	tio.c_iflag &= ~(IXON | IXOFF | IXANY);
	tio.c_cc[VMIN] = 0;
	tio.c_cc[VTIME] = 0;
	if (cfsetispeed(&tio, speed) == -1 || cfsetospeed(&tio, speed) == -1 ||
	    tcsetattr(s->fd, TCSANOW, &tio) == -1)
		return log_fail("cannot set %s to %u baud 8N1 raw", s->path,
		    baud);
	return 0;
}

struct serial *
serial_open(const char *path, unsigned baud)
{
	struct serial *s;
	char *real;
	pid_t holder;
	int saved;

	/* port = usb:SERIAL: the board with that USB serial number, found
	 * at each open (ports.h); none is offline, never another board. */
	if (ports_is_usb_identity(path)) {
		char why[256], *dev = ports_resolve(path, why, sizeof(why));

		if (dev == NULL) {
			log_failx("%s", why);
			errno = ENOENT;
			return NULL;
		}
		s = serial_open(dev, baud);
		free(dev);
		return s;
	}
	/* port = uid:HEX: the node its board answered on last (only a
	 * REPL can ask a board its id: repl_open finds it). */
	if (identity_is_uid(path)) {
		bool unchanged;
		char *node = identity_recall(path, &unchanged);

		if (node == NULL) {
			log_failx("no board with unique id %s found yet (a "
			    "sync finds it)", identity_uid(path));
			errno = ENOENT;
			return NULL;
		}
		/* Re-plugged or re-enumerated since: another board may sit
		 * there now, and this open may be for a reset pulse. */
		if (!unchanged) {
			log_failx("the board with unique id %s was on %s, which "
			    "changed since (unplugged, or re-enumerated); a "
			    "sync finds the board again", identity_uid(path),
			    node);
			free(node);
			errno = ENOENT;
			return NULL;
		}
		s = serial_open(node, baud);
		free(node);
		return s;
	}
	real = realpath(path, NULL);
	if (real == NULL) {
		saved = errno;
		if (saved == ENOENT || saved == ENOTDIR)
			log_failx("no serial port %s (is the board plugged "
			    "in?)", path);
		else
			log_fail("cannot resolve port %s", path);
		errno = saved == ENOTDIR ? ENOENT : saved;
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->path = xstrdup(path);
	s->real = real;
	s->fd = open(real, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (s->fd == -1) {
		saved = errno;
		if (saved == ENOENT || saved == ENODEV || saved == ENXIO) {
			log_failx("serial port %s is gone (is the board "
			    "plugged in?)", path);
			saved = saved == ENOENT ? ENOENT : ENODEV;
		} else if (saved == EBUSY) {
			log_failx("another program holds %s in exclusive "
			    "mode", path);
		} else if (saved == EACCES) {
			log_fail("cannot open port %s (is this user in the "
			    "dialout group?)", path);
		} else
			log_fail("cannot open port %s", path);
		serial_close(s);
		errno = saved;
		return NULL;
	}
	if (!isatty(s->fd)) {
		log_failx("%s is not a serial port", path);
		serial_close(s);
		errno = ENOTTY;
		return NULL;
	}
	if (flock(s->fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK) {
			log_fail("cannot lock %s", path);
			serial_close(s);
			return NULL;
		}
		holder = flock_holder(real);
		if (holder == -1)
			holder = lockfile_holder(real);
		return busy(s, holder);
	}
	holder = lockfile_take(s);
	if (holder > 0)
		return busy(s, holder);
	/* holder == -1: the UUCP lock file could not be made (logged); the
	 * flock already keeps other senko processes off this port. */
	if (setup_termios(s, baud) == -1) {
		saved = errno;
		serial_close(s);
		errno = saved;
		return NULL;
	}
	tcflush(s->fd, TCIFLUSH);
	log_debug("opened %s (%s) at %u baud", path, real, baud);
	warn_other_openers(s);
	return s;
}

void
serial_close(struct serial *s)
{
	if (s == NULL)
		return;
	/* Only remove the lock file while it still names us. */
	if (s->lockfile != NULL && lockfile_pid(s->lockfile) == getpid())
		unlink(s->lockfile);
	if (s->fd != -1)
		close(s->fd);
	free(s->lockfile);
	free(s->real);
	free(s->path);
	free(s);
}

/* A port that hung up or failed stays gone for this descriptor (a board
 * plugged in again is a new open), so it is reported once: the steps that
 * would wind the session down fail at once instead of each saying so. */
static int
vanished(struct serial *s, const char *what)
{
	if (!s->lost)
		log_failx("lost the board on %s while %s (unplugged, reset "
		    "or powered off?)", s->path, what);
	s->lost = true;
	errno = EIO;
	return -1;
}

bool
serial_lost(const struct serial *s)
{
	return s->lost;
}

void
serial_set_stop(struct serial *s, const volatile sig_atomic_t *stop,
    int grace_ms)
{
	s->stop = stop;
	s->stop_grace_ms = grace_ms > 0 ? grace_ms : 0;
	s->stop_seen = 0;
}

/*
 * Milliseconds a wait may still last before a stop request ends it: -1
 * while none is made, 0 when its grace is over.  The grace runs from the
 * first time a wait saw the flag set.
 */
static int64_t
stop_left(struct serial *s)
{
	int64_t now, left;

	if (s->stop == NULL || !*s->stop)
		return -1;
	now = monotime_ms();
	if (s->stop_seen == 0)
		s->stop_seen = now;
	left = s->stop_seen + s->stop_grace_ms - now;
	return left > 0 ? left : 0;
}

/* How long one poll() may block: the wait left, in slices while a stop
 * flag is watched (worker threads block signals, so no EINTR ends it),
 * and never past the end of a stop's grace. */
static int
poll_slice(const struct serial *s, int left, int64_t grace_left)
{
	if (left < 0)
		return 0;
	if (grace_left >= 0 && grace_left < left)
		left = (int)grace_left;
	return s->stop != NULL && left > STOP_CHECK_MS ? STOP_CHECK_MS : left;
}

static int
stopped(struct serial *s)
{
	log_debug("%s: wait ended by a stop request", s->path);
	errno = ECANCELED;
	return -1;
}

ssize_t
serial_read(struct serial *s, void *data, size_t len, int timeout_ms)
{
	int64_t deadline = monotime_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	struct pollfd pfd;
	int64_t grace;
	ssize_t n;
	int left, rc;

	if (s->lost)
		return vanished(s, "reading");
	for (;;) {
		/* Even with input waiting: a board that floods must not
		 * hold a stopping senkod. */
		if ((grace = stop_left(s)) == 0)
			return stopped(s);
		left = (int)(deadline - monotime_ms());
		pfd.fd = s->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		rc = poll(&pfd, 1, poll_slice(s, left, grace));
		if (rc == -1) {
			if (errno == EINTR)
				continue;
			return log_fail("cannot wait for %s", s->path);
		}
		if (rc == 0 && deadline - monotime_ms() > 0)
			continue;
		if (rc == 0)
			return 0;
		if (pfd.revents & POLLIN) {
			n = read(s->fd, data, len);
			if (n > 0) {
				s->received += (uint64_t)n;
				return n;
			}
			if (n == -1 && (errno == EAGAIN || errno == EINTR))
				continue;
			return vanished(s, "reading");
		}
		if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL))
			return vanished(s, "reading");
	}
}

int
serial_write(struct serial *s, const void *data, size_t len, int timeout_ms)
{
	int64_t deadline = monotime_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	const char *p = data;
	struct pollfd pfd;
	int64_t grace;
	ssize_t n;
	int left, rc;

	if (s->lost)
		return vanished(s, "writing");
	while (len > 0) {
		n = write(s->fd, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			s->sent += (uint64_t)n;
			continue;
		}
		if (n == -1 && errno != EAGAIN && errno != EINTR)
			return vanished(s, "writing");
		if ((grace = stop_left(s)) == 0)
			return stopped(s);
		left = (int)(deadline - monotime_ms());
		if (left <= 0) {
			errno = ETIMEDOUT;
			return log_failx("writing to %s timed out after %d ms "
			    "(the port does not drain)", s->path, timeout_ms);
		}
		pfd.fd = s->fd;
		pfd.events = POLLOUT;
		pfd.revents = 0;
		rc = poll(&pfd, 1, poll_slice(s, left, grace));
		if (rc == -1 && errno != EINTR)
			return log_fail("cannot wait for %s", s->path);
		if (rc > 0 && (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)) &&
		    !(pfd.revents & POLLOUT))
			return vanished(s, "writing");
	}
	return 0;
}

void
serial_drain(struct serial *s, int quiet_ms)
{
	/* A board that never stops printing must not keep us here. */
	int64_t give_up = monotime_ms() + 10 * (int64_t)quiet_ms + 1000;
	char junk[256];

	while (monotime_ms() < give_up)
		if (serial_read(s, junk, sizeof(junk), quiet_ms) <= 0)
			break;
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int
set_lines(struct serial *s, int bits)
{
	if (ioctl(s->fd, TIOCMSET, &bits) == -1)
		return log_fail("cannot set DTR/RTS on %s", s->path);
	return 0;
}

/*
 * The two-transistor auto-reset circuit of ESP boards maps (DTR, RTS) to
 * (IO0, EN) inverted, and only acts when the two lines differ: RTS alone
 * pulls EN low (reset) with IO0 high (normal boot, not the bootloader).
 * esptool's hard_reset does the same.  The lines end as they were, and
 * TIOCMSET changes both at once so no intermediate state is seen.
 */
int
serial_pulse_reset(struct serial *s)
{
	int orig, bits;

	if (ioctl(s->fd, TIOCMGET, &orig) == -1) {
		if (errno == ENOTTY || errno == EINVAL ||
		    errno == EOPNOTSUPP) {
			errno = ENOTSUP;
			return log_failx("%s has no DTR/RTS lines (a "
			    "pseudo-terminal or a board without an auto-reset "
			    "circuit): cannot hard-reset it; use reset = soft",
			    s->path);
		}
		return log_fail("cannot read the modem lines of %s", s->path);
	}
	bits = (orig & ~(TIOCM_DTR | TIOCM_RTS)) | TIOCM_RTS;
	if (set_lines(s, bits) == -1)
		return -1;
	sleep_ms(100);
	bits &= ~TIOCM_RTS;
	if (set_lines(s, bits) == -1)
		return -1;
	sleep_ms(50);
	if ((orig & (TIOCM_DTR | TIOCM_RTS)) != 0 && set_lines(s, orig) == -1)
		return -1;
	log_debug("pulsed RTS on %s (hard reset)", s->path);
	return 0;
}

const char *
serial_path(const struct serial *s)
{
	return s->path;
}

uint64_t
serial_bytes_sent(const struct serial *s)
{
	return s->sent;
}

uint64_t
serial_bytes_received(const struct serial *s)
{
	return s->received;
}
