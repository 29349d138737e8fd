/*
 * interrupt.h - Ctrl-C, SIGTERM and SIGHUP for `senko` commands that talk
 * to boards.
 *
 * Killing senko in the middle of a push leaves the board inside senko's
 * receiver, which runs with Ctrl-C disabled: mpremote, Thonny or rshell
 * then get no answer.  So the first SIGINT or SIGTERM only asks for a
 * stop (the handler sets a flag, nothing else): opening a board is cut
 * short, `senko sync` stops after the group of files in flight and
 * restarts the application as the device's reset says, every command
 * hands the board back to its REPL and exits with 128 + the signal's
 * number (130 for Ctrl-C).  A second one ends the process at
 * once, as the default action would; the board's own idle timeout frees
 * it then.  SIGHUP (a closed terminal or ssh session) is a stop like
 * SIGTERM.  SIGPIPE is ignored: a command whose output nobody reads any
 * more (senko run ... | head) asks for a stop itself (interrupt_output),
 * exit 141.  senkod has its own handlers (daemon.c) with the same rules.
 */
#ifndef SENKO_INTERRUPT_H
#define SENKO_INTERRUPT_H

#include <signal.h>
#include <stddef.h>
#include <stdio.h>

/* The signal that asked for a stop; 0 while none did. */
extern volatile sig_atomic_t interrupt_requested;

/*
 * Run handler for each of sigs, without SA_RESTART (so blocking calls
 * return EINTR).  The one way senko and senkod install handlers.
 */
void interrupt_catch(const int *sigs, size_t nsigs, void (*handler)(int));

/* Catch SIGINT, SIGTERM and SIGHUP, ignore SIGPIPE, as described above. */
void interrupt_install(void);

/* After writing to out: a failed write (EPIPE) asks for a stop. */
void interrupt_output(FILE *out);

/* How a message names sig: "Ctrl-C", "SIGTERM", ... (static). */
const char *interrupt_name(int sig);

/* rc, or 128 + the signal when a stop was requested (saying so). */
int interrupt_exit_status(int rc);

#endif
