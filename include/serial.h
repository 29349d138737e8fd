/*
 * serial.h - a board's serial port: open, lock, raw I/O with timeouts.
 *
 * The port is put in raw 8N1 at the configured baud with HUPCL off, and
 * DTR/RTS are left as they are (toggling them resets an ESP32 or holds it
 * in its bootloader).  It is locked exclusively with flock() and a UUCP
 * lock file (/run/lock/LCK..NAME, holding our PID) so that two processes
 * never talk to one board; the lock goes with serial_close().
 * Every read and write has a timeout: a silent or vanished board gives an
 * error, never a hang.
 */
#ifndef SENKO_SERIAL_H
#define SENKO_SERIAL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct serial;

/*
 * Open and lock path.  Returns NULL with errno set: ENOENT/ENODEV (no such
 * port: the board is unplugged), EBUSY (another process holds it; the
 * message names the PID and program), others as open(2)/tcsetattr(3).
 */
struct serial *serial_open(const char *path, unsigned baud);
/* True for the rates termios sets without custom divisors (B115200...). */
bool serial_baud_supported(unsigned baud);
void serial_close(struct serial *s);

/* Read up to len bytes; waits at most timeout_ms for the first byte.
 * Returns bytes read, 0 on timeout, -1 on error (board vanished). */
ssize_t serial_read(struct serial *s, void *data, size_t len, int timeout_ms);
/* Write all of data or fail (-1) within timeout_ms. */
int serial_write(struct serial *s, const void *data, size_t len,
    int timeout_ms);
/*
 * Watch stop (NULL: nothing) during every later wait: grace_ms after a
 * wait first saw *stop nonzero, serial_read() and serial_write() fail
 * with errno ECANCELED (not logged as an error), checked every 100 ms.
 * Grace 0, for opening a board, where nothing is half done: at once.  A
 * session gets a grace to wind down in (finish the unit in flight, end
 * the agent, reset the board), and no more: a board that stopped
 * answering or floods the line cannot hold a stopping senkod.
 */
void serial_set_stop(struct serial *s, const volatile sig_atomic_t *stop,
    int grace_ms);
/* Discard pending input. */
void serial_drain(struct serial *s, int quiet_ms);

/* Pulse DTR/RTS as ESP auto-reset circuits expect (EN low, IO0 high).
 * Fails with a clear message where the port has no modem lines (a pty). */
int serial_pulse_reset(struct serial *s);

/* The port hung up or failed (unplugged, powered off, a native-USB board
 * that reset): logged once, and from then on every read and write fails
 * at once with EIO, without another message. */
bool serial_lost(const struct serial *s);

const char *serial_path(const struct serial *s);
uint64_t serial_bytes_sent(const struct serial *s);
uint64_t serial_bytes_received(const struct serial *s);

#endif
