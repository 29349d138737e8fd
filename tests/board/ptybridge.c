/*
 * ptybridge: give the board emulator a serial port.
 *
 * Node has no pseudo-terminal API, so this tiny helper creates one and relays
 * bytes between the pty master and its own stdin/stdout (pipes to board.js):
 *
 *   client --(opens slave, e.g. /dev/pts/7)--> master --stdout--> board.js
 *   client <------------------------------- master <--stdin--- board.js
 *
 * It prints the slave path on the first line of stdout, then relays raw bytes.
 *
 * Why it keeps its own fd to the slave: when the last fd on the slave side is
 * closed, Linux hangs up the master (reads return EIO) and may discard data.
 * A serial client closes and reopens its port all the time, and that must not
 * kill the "board", so we hold one slave fd open for our whole lifetime.
 *
 * The slave starts in raw mode (no echo, no line editing, no CR/LF mapping),
 * like a USB-serial port.  Clients may change termios afterwards; that is
 * their business, as it would be on /dev/ttyUSB0.
 *
 * Exits when stdin reaches EOF (board.js went away).
 */
#define _XOPEN_SOURCE 600
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static int write_all(int fd, const unsigned char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Bytes from the board waiting to be written to the master.  Kept here
 * rather than blocking on write(): if the client does not read while it is
 * itself blocked writing to us, a blocking write would deadlock both sides.
 * A serial line never makes the host's writes wait for its reads. */
static unsigned char *pend;
static size_t pend_len, pend_cap;

static void pend_add(const unsigned char *buf, size_t n) {
    if (pend_len + n > pend_cap) {
        size_t cap = pend_cap ? pend_cap : 65536;
        while (cap < pend_len + n) {
            cap *= 2;
        }
        unsigned char *p = realloc(pend, cap);
        if (p == NULL) {
            perror("ptybridge: realloc");
            exit(1);
        }
        pend = p;
        pend_cap = cap;
    }
    memcpy(pend + pend_len, buf, n);
    pend_len += n;
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    /* Ctrl-C in the terminal that started board.js goes to the whole process
     * group; board.js shuts down in order and closes our stdin, which is our
     * cue to exit.  Dying first would lose the board's last output. */
    signal(SIGINT, SIG_IGN);

    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
        perror("ptybridge: posix_openpt");
        return 1;
    }
    const char *name = ptsname(master);
    if (name == NULL) {
        perror("ptybridge: ptsname");
        return 1;
    }
    char slave_path[256];
    snprintf(slave_path, sizeof slave_path, "%s", name);

    /* Our own slave fd: keeps the line "up" across client close/reopen. */
    int slave = open(slave_path, O_RDWR | O_NOCTTY);
    if (slave < 0) {
        perror("ptybridge: open slave");
        return 1;
    }
    struct termios tio;
    if (tcgetattr(slave, &tio) == 0) {
        cfmakeraw(&tio);
        cfsetispeed(&tio, B115200);
        cfsetospeed(&tio, B115200);
        tcsetattr(slave, TCSANOW, &tio);
    }

    printf("%s\n", slave_path);
    fflush(stdout);

    int flags = fcntl(master, F_GETFL);
    fcntl(master, F_SETFL, flags | O_NONBLOCK);

    unsigned char buf[4096];
    for (;;) {
        struct pollfd fds[2] = {
            { .fd = master, .events = POLLIN | (pend_len ? POLLOUT : 0) },
            /* Stop taking board output while a lot is pending: backpressure
             * into board.js instead of unbounded memory here. */
            { .fd = pend_len < (1u << 20) ? STDIN_FILENO : -1, .events = POLLIN },
        };
        int r = poll(fds, 2, -1);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            perror("ptybridge: poll");
            return 1;
        }
        if (fds[0].revents & POLLIN) {
            ssize_t n = read(master, buf, sizeof buf);
            if (n > 0) {
                if (write_all(STDOUT_FILENO, buf, (size_t)n) < 0) {
                    return 0; /* board.js is gone */
                }
            }
            /* n <= 0 (EIO) cannot normally happen while we hold the slave;
             * ignore it and keep polling. */
        } else if (fds[0].revents & (POLLHUP | POLLERR)) {
            /* Should not happen (we hold the slave); avoid a busy loop. */
            usleep(10000);
        }
        if (pend_len && (fds[0].revents & POLLOUT)) {
            ssize_t n = write(master, pend, pend_len);
            if (n > 0) {
                memmove(pend, pend + n, pend_len - (size_t)n);
                pend_len -= (size_t)n;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                perror("ptybridge: write master");
                return 1;
            }
        }
        if (fds[1].revents & (POLLIN | POLLHUP)) {
            ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
            if (n == 0) {
                return 0; /* EOF: board.js closed the pipe */
            }
            if (n > 0) {
                pend_add(buf, (size_t)n);
            }
        }
    }
}
