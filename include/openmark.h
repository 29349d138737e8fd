/*
 * openmark.h - a mark that says a board is open, for a process that dies.
 *
 * Opening a board interrupts its application; session_leave() starts it
 * again.  A process killed in between (SIGKILL, a crash, systemd's stop
 * timeout running out) leaves the board at its REPL, and while the
 * board's mirror matches upstream no sync would open it again.  So senko
 * marks a configured board open, in devices/NAME/open under state_dir
 * (its pid and what it is doing), before it opens the port, and removes
 * the mark once the application runs again.  A sync that finds a mark
 * whose process is gone opens the board to restart it.
 *
 * The mark is written without fsync: it only has to outlive a process,
 * and a power cut of the gateway usually restarts its USB-powered boards
 * too.  Nothing here fails a command: a senko that cannot write
 * state_dir (run as another user) only goes without the mark, said at
 * debug level.
 */
#ifndef SENKO_OPENMARK_H
#define SENKO_OPENMARK_H

#include <stdbool.h>
#include <stddef.h>

/* Mark device open by this process; what says for what ("senko ls"). */
void openmark_set(const char *state_dir, const char *device,
    const char *what);
/* The application runs again (or the port was never opened). */
void openmark_clear(const char *state_dir, const char *device);
/*
 * Was the board left open?  True for a mark whose process is gone, or
 * this process's own (a visit that could not restart the board); what
 * gets who left it, "senko ls (pid 123)".  A live process's mark is not:
 * another senko has the board now, and its lock keeps this one out.
 */
bool openmark_left(const char *state_dir, const char *device, char *what,
    size_t whatlen);

#endif
