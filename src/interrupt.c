/*
 * interrupt.c - Ctrl-C and SIGTERM for `senko`; see interrupt.h.
 */
#include <signal.h>
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
	static const int sigs[] = { SIGINT, SIGTERM };

	interrupt_catch(sigs, sizeof(sigs) / sizeof(sigs[0]), on_interrupt);
}

int
interrupt_exit_status(int rc)
{
	int sig = interrupt_requested;

	if (sig == 0)
		return rc;
	/* What each board was left doing was said board by board. */
	log_notice("stopped by %s", sig == SIGINT ? "Ctrl-C" : "SIGTERM");
	return 128 + sig;
}
