/*
 * interrupt.c - Ctrl-C, SIGTERM and SIGHUP for `senko`; see interrupt.h.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "interrupt.h"
#include "log.h"
#include "banned.h"

volatile sig_atomic_t interrupt_requested;

static void
on_interrupt(int sig)
{
	if (interrupt_requested) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	interrupt_requested = sig;
}

void
interrupt_catch(const int *sigs, size_t nsigs, void (*handler)(int))
{
	struct sigaction sa;
	size_t i;

	/* No SA_RESTART: a blocking read or poll must see EINTR and stop. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < nsigs; i++)
		sigaction(sigs[i], &sa, NULL);
}

void
interrupt_install(void)
{
	/* SIGHUP: the terminal or the ssh session went away. */
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };

	interrupt_catch(sigs, sizeof(sigs) / sizeof(sigs[0]), on_interrupt);
	/* A reader that goes (senko run ... | head) must not kill senko
	 * with the board in the raw REPL: writes fail with EPIPE instead,
	 * and the command that prints asks for a stop (interrupt_output). */
	signal(SIGPIPE, SIG_IGN);
}

void
interrupt_output(FILE *out)
{
	if (ferror(out) && interrupt_requested == 0)
		interrupt_requested = SIGPIPE;
}

const char *
interrupt_name(int sig)
{
	switch (sig) {
	case SIGINT:
		return "Ctrl-C";
	case SIGHUP:
		return "SIGHUP (the terminal went away)";
	case SIGPIPE:
		return "a closed output (the program reading it ended)";
	default:
		return "SIGTERM";
	}
}

int
interrupt_exit_status(int rc)
{
	int sig = interrupt_requested;

	if (sig == 0)
		return rc;
	/* What each board was left doing was said board by board. */
	log_notice("stopped by %s", interrupt_name(sig));
	return 128 + sig;
}
