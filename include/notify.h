/*
 * notify.h - systemd's service notification protocol, spoken directly.
 *
 * Under a Type=notify unit, systemd passes the path of a datagram socket in
 * $NOTIFY_SOCKET ("/run/systemd/notify", or "@name" for a socket in the
 * abstract namespace).  A service tells the manager how it is doing by
 * sending "KEY=VALUE" lines to it (sd_notify(3)): READY=1 once it serves,
 * STATUS= for `systemctl status`, WATCHDOG=1 as a keep-alive, RELOADING=1
 * while it rereads its configuration, STOPPING=1 when it shuts down.
 * Speaking the protocol here (a dozen lines) spares a dependency on
 * libsystemd, so the same binary runs under cron, runit or by hand.
 *
 * Every function is a no-op returning 0 when NOTIFY_SOCKET is unset or
 * empty; otherwise it returns 0 once the datagram was sent, or -1 (logged)
 * when it could not be.  A failed notification is never fatal: callers log
 * it and carry on.  The module keeps no state: each call reads the
 * environment and opens, uses and closes its own socket, so it is
 * thread-safe as long as nobody changes the environment meanwhile.
 */
#ifndef SENKO_NOTIFY_H
#define SENKO_NOTIFY_H

/*
 * Send state, one or more "KEY=VALUE" lines separated by '\n', as one
 * datagram.  The helpers below are what senkod uses.
 */
int notify_send(const char *state);

int notify_ready(void);     /* READY=1: start-up or a reload finished */
int notify_watchdog(void);  /* WATCHDOG=1: the main loop is alive */
int notify_stopping(void);  /* STOPPING=1: shutting down */
/*
 * RELOADING=1 with MONOTONIC_USEC=<now on CLOCK_MONOTONIC>, which systemd
 * 253 and later require with RELOADING=1 (older ones ignore it).  Send
 * notify_ready() when the reload is over, whether it worked or not.
 */
int notify_reloading(void);
/*
 * STATUS=<text> for `systemctl status`.  Control characters (a newline
 * would start another assignment) are replaced by spaces, so text from
 * the network or a board cannot add its own keys.
 */
int notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * How often to send notify_watchdog(), in milliseconds: half of
 * $WATCHDOG_USEC, as sd_watchdog_enabled(3) advises, at least 1.  0 when
 * there is no watchdog: WATCHDOG_USEC unset or not a positive number, or
 * WATCHDOG_PID set to another process than this one.
 */
unsigned long notify_watchdog_interval(void);

#endif
