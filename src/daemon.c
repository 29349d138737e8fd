/*
 * daemon.c - senkod's main loop, signals and systemd; see daemon.h.
 */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "daemon.h"
#include "hotplug.h"
#include "identity.h"
#include "interrupt.h"
#include "localwatch.h"
#include "log.h"
#include "metrics.h"
#include "mqtt.h"
#include "notify.h"
#include "status.h"
#include "xalloc.h"
#include "banned.h"

/* A cycle running longer than this is stuck: stop feeding the watchdog. */
#define CYCLE_STUCK_SECONDS 3600
/* The poll jitter: up to this fraction of the interval, at most 30 s. */
#define JITTER_FRACTION 10
#define JITTER_MAX 30

/* Set by the signal handlers, acted on by the loop. */
static volatile sig_atomic_t got_hup;
static volatile sig_atomic_t got_usr1;
static volatile sig_atomic_t got_stop;

static void
on_signal(int sig)
{
	switch (sig) {
	case SIGHUP:
		got_hup = 1;
		break;
	case SIGUSR1:
		got_usr1 = 1;
		break;
	default:
		/* A second Ctrl-C or SIGTERM: the default action, at once. */
		if (got_stop) {
			signal(sig, SIG_DFL);
			raise(sig);
		}
		got_stop = 1;
	}
}

/*
 * Seconds on CLOCK_MONOTONIC: every interval, deadline and back-off.  The
 * wall clock steps (NTP at a Raspberry Pi's boot) and is only for dates
 * shown to people and dates servers send.
 */
static time_t
monotonic_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/*
 * path made absolute against dir, the folder senkod started in (NULL when
 * it could not be read); NULL (logged) when that is needed and unknown.
 */
static char *
absolute_path(const char *dir, const char *path, const char *what)
{
	if (path[0] == '/')
		return xstrdup(path);
	if (dir == NULL) {
		log_failx("cannot use the relative %s '%s': the current folder "
		    "cannot be read; give an absolute path", what, path);
		return NULL;
	}
	return xasprintf("%s/%s", dir, path);
}

/* *path made absolute against start_dir; an empty one (none) stays. */
static int
resolve_path(char **path, const char *start_dir, const char *what)
{
	char *abs;

	if (*path == NULL || **path == '\0' || **path == '/')
		return 0;
	abs = absolute_path(start_dir, *path, what);
	if (abs == NULL)
		return -1;
	free(*path);
	*path = abs;
	return 0;
}

/*
 * A detached senkod runs in '/': a relative path in the file (state_dir,
 * token_file, ca_file, metrics_file, [mqtt]'s password_file and ca_file)
 * means the folder it was started in, at start-up and at every reload.
 */
static int
resolve_paths(struct config *cfg, const char *start_dir)
{
	if (resolve_path(&cfg->state_dir, start_dir, "state_dir") == -1 ||
	    resolve_path(&cfg->token_file, start_dir, "token_file") == -1 ||
	    resolve_path(&cfg->ca_file, start_dir, "ca_file") == -1 ||
	    resolve_path(&cfg->metrics_file, start_dir, "metrics_file") ==
	    -1 || resolve_path(&cfg->mqtt.password_file, start_dir,
	    "password_file") == -1 || resolve_path(&cfg->mqtt.ca_file,
	    start_dir, "ca_file") == -1)
		return -1;
	return 0;
}

static void
install_handlers(void)
{
	static const int sigs[] = { SIGHUP, SIGUSR1, SIGTERM, SIGINT };

	interrupt_catch(sigs, sizeof(sigs) / sizeof(sigs[0]), on_signal);
	signal(SIGPIPE, SIG_IGN);
}

static bool
state_is_ok(enum device_state s)
{
	return s == DEVICE_IN_SYNC || s == DEVICE_UPDATED ||
	    s == DEVICE_UNKNOWN || s == DEVICE_WAITING;
}

/* Does the device reach its board another way (port, baud)? */
static bool
connection_changed(const struct config_device *a,
    const struct config_device *b)
{
	return strcmp(a->port, b->port) != 0 || a->baud != b->baud;
}

/*
 * Build the per-device schedule for cfg, keeping what old knew (old[j]
 * is oldcfg's device j; NULL, 0 at start).  A device whose port or baud
 * changed starts afresh: its failures were the old connection's (an
 * operator who fixed a wrong port must not wait out their back-off), and
 * the board there is checked at the poll the reload makes.
 */
static struct daemon_device *
devices_for(const struct config *cfg, const struct config *oldcfg,
    struct daemon_device *old)
{
	struct daemon_device *devs = xcalloc(cfg->ndevices ? cfg->ndevices :
	    1, sizeof(*devs));
	size_t i, j, nold = oldcfg ? oldcfg->ndevices : 0;

	for (i = 0; i < cfg->ndevices; i++) {
		devs[i].name = xstrdup(cfg->devices[i].name);
		for (j = 0; j < nold; j++) {
			if (strcmp(old[j].name, devs[i].name) != 0)
				continue;
			if (connection_changed(&oldcfg->devices[j],
			    &cfg->devices[i])) {
				log_info("%s: its port or baud changed in "
				    "the configuration (now '%s' at %u baud); "
				    "checking the board now", devs[i].name,
				    cfg->devices[i].port,
				    cfg->devices[i].baud);
				devs[i].check = true;
				break;
			}
			devs[i].last = old[j].last;
			memcpy(devs[i].last_error, old[j].last_error,
			    sizeof(devs[i].last_error));
			devs[i].failures = old[j].failures;
			devs[i].retry_at = old[j].retry_at;
			/* A reload more often than verify_interval (config
			 * management, say) must not put the check off for
			 * good, nor drop one a plugged board asked for. */
			devs[i].check = old[j].check;
			devs[i].verify_at = old[j].verify_at;
		}
	}
	return devs;
}

static void
devices_free(struct daemon_device *devs, size_t n)
{
	size_t i;

	for (i = 0; devs && i < n; i++)
		free(devs[i].name);
	free(devs);
}

int
daemon_init(struct daemon *d, const char *config_path, int *status)
{
	memset(d, 0, sizeof(*d));
	d->start_dir = getcwd(NULL, 0); /* NULL: only absolute paths work */
	d->config_path = absolute_path(d->start_dir, config_path,
	    "configuration file");
	if (d->config_path != NULL)
		d->cfg = config_load(d->config_path);
	if (d->cfg == NULL || resolve_paths(d->cfg, d->start_dir) == -1) {
		*status = CONFIG_EXIT_ERROR;
		return -1;
	}
	switch (sync_engine_open(&d->engine, d->cfg)) {
	case 0:
		break;
	case SYNC_ECONFIG:
		*status = CONFIG_EXIT_ERROR;
		return -1;
	default:
		*status = 1;
		return -1;
	}
	d->devices = devices_for(d->cfg, NULL, NULL);
	identity_use_config(d->cfg);
	return 0;
}

void
daemon_release(struct daemon *d)
{
	sync_engine_close(&d->engine);
	free(d->source_failing);
	if (d->cfg)
		devices_free(d->devices, d->cfg->ndevices);
	identity_use_config(NULL);
	config_free(d->cfg);
	free(d->config_path);
	free(d->start_dir);
	memset(d, 0, sizeof(*d));
}

static unsigned
backoff_seconds(unsigned failures)
{
	unsigned s = DAEMON_BACKOFF_MIN;

	while (failures-- > 1 && s < DAEMON_BACKOFF_MAX)
		s *= 2;
	return s < DAEMON_BACKOFF_MAX ? s : DAEMON_BACKOFF_MAX;
}

/*
 * Two failures are the same when their messages differ only in numbers
 * (bytes, seconds, a pid): a board that keeps timing out is one line, a
 * board that fails in a new way another.
 */
static bool
same_failure(const char *a, const char *b)
{
	for (;;) {
		while (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
			while (isdigit((unsigned char)*a))
				a++;
			while (isdigit((unsigned char)*b))
				b++;
		}
		if (*a != *b)
			return false;
		if (*a == '\0')
			return true;
		a++;
		b++;
	}
}

/*
 * Log a device's outcome only when it changes: no flood.  A first
 * failure was logged by the engine as it happened; later attempts run
 * quiet (run_cycle), so a change of failure (another state, or another
 * message in the same state) is said here.
 */
static void
note_device(struct daemon_device *dd, const struct sync_device_result *r,
    time_t now)
{
	bool was_ok = state_is_ok(dd->last) && dd->failures == 0;

	if (state_is_ok(r->state)) {
		if (!was_ok && dd->failures_before_run)
			log_notice("%s: %s again (it had failed since an "
			    "earlier run)", dd->name,
			    status_state_name(r->state));
		else if (!was_ok)
			log_notice("%s: %s again after %u failed attempt%s",
			    dd->name, status_state_name(r->state),
			    dd->failures, dd->failures == 1 ? "" : "s");
		dd->failures = 0;
		dd->failures_before_run = false;
		dd->retry_at = 0;
		dd->last_error[0] = '\0';
	} else {
		if (!was_ok && (dd->last != r->state ||
		    !same_failure(dd->last_error, r->error)))
			log_warnx("%s: %s: %s", dd->name,
			    status_state_name(r->state), r->error);
		snprintf(dd->last_error, sizeof(dd->last_error), "%s",
		    r->error);
		dd->failures++;
		dd->retry_at = now + backoff_seconds(dd->failures);
		log_debug("%s: retry in %u s", dd->name,
		    backoff_seconds(dd->failures));
	}
	dd->last = r->state;
}

/* "; source app failing" for the sources whose last poll failed. */
static void
failing_sources(const struct daemon *d, struct buf *out)
{
	struct source_status st;
	size_t i, n = 0;

	for (i = 0; i < d->cfg->nsources; i++) {
		if (source_status_load(d->cfg->state_dir,
		    d->cfg->sources[i].name, &st) == -1 ||
		    (st.state != SOURCE_FAILED &&
		    st.state != SOURCE_RATE_LIMITED))
			continue;
		buf_addf(out, "%s%s", n++ ? ", " : "; source ",
		    d->cfg->sources[i].name);
	}
	if (n)
		buf_addstr(out, " failing (see senko status)");
}

static void
publish_status(const struct daemon *d, const struct sync_report *rep,
    time_t now)
{
	struct buf sources = BUF_INIT, held = BUF_INIT;
	unsigned ok = 0, failed = 0, waiting = 0;
	char commit[8] = "";
	size_t i, nhalted = 0;

	for (i = 0; i < d->cfg->ndevices; i++) {
		if (d->devices[i].last == DEVICE_WAITING)
			waiting++;
		else if (state_is_ok(d->devices[i].last))
			ok++;
		else
			failed++;
	}
	for (i = 0; rep && i < rep->nsources; i++)
		if (*rep->sources[i].commit) {
			snprintf(commit, sizeof(commit), "%.7s",
			    rep->sources[i].commit);
			break;
		}
	/* A board the rollout keeps back does not run that commit: it is
	 * not counted in sync at it, and a halt is said. */
	if (waiting)
		buf_addf(&held, ", %u waiting for the rollout", waiting);
	for (i = 0; rep && i < rep->nsources; i++)
		if (rep->sources[i].halted)
			buf_addf(&held, "%s%s", nhalted++ ? ", " :
			    "; rollout halted: source ", d->cfg->sources[i].name);
	if (nhalted)
		buf_addstr(&held, " (see senko rollout)");
	failing_sources(d, &sources);
	notify_status("%u of %zu boards in sync%s%s%s%s%s; next poll in %lds",
	    ok, d->cfg->ndevices, *commit ? " at " : "", commit, held.data,
	    failed ? ", some failing (see the log)" : "", sources.data,
	    (long)(d->next_poll > now ? d->next_poll - now : 0));
	buf_release(&held);
	buf_release(&sources);
}

/* Which sources failed at their last poll (by this or an earlier run). */
static void
load_source_failing(struct daemon *d)
{
	struct source_status st;
	size_t i;

	free(d->source_failing);
	d->source_failing = xcalloc(d->cfg->nsources ? d->cfg->nsources : 1,
	    sizeof(*d->source_failing));
	for (i = 0; i < d->cfg->nsources; i++)
		d->source_failing[i] = source_status_load(d->cfg->state_dir,
		    d->cfg->sources[i].name, &st) == 0 &&
		    (st.state == SOURCE_FAILED ||
		    st.state == SOURCE_RATE_LIMITED);
}

/*
 * A source's failure was logged by the forge when it began; polls that
 * fail again ran quiet.  Say when it works again.
 */
static void
note_sources(struct daemon *d, const struct sync_report *rep)
{
	size_t i;

	for (i = 0; i < rep->nsources && i < d->cfg->nsources; i++)
		if (d->source_failing[i] && rep->sources[i].ok == 0 &&
		    *rep->sources[i].commit)
			log_notice("source '%s': polled again, at %.7s",
			    d->cfg->sources[i].name, rep->sources[i].commit);
}

/*
 * Run one cycle over the devices marked due.  Signals are unblocked for
 * its duration, so SIGTERM can stop a long push between files.
 */
static int
run_cycle(struct daemon *d, const bool *due, bool poll, const sigset_t *open,
    struct sync_report *rep)
{
	struct sync_options opts;
	bool *quiet, *force;
	sigset_t blocked;
	size_t i;
	int rc;

	quiet = xcalloc(d->cfg->ndevices ? d->cfg->ndevices : 1,
	    sizeof(*quiet));
	force = xcalloc(d->cfg->ndevices ? d->cfg->ndevices : 1,
	    sizeof(*force));
	for (i = 0; i < d->cfg->ndevices; i++) {
		quiet[i] = d->devices[i].failures > 0;
		force[i] = d->devices[i].check;
	}
	memset(&opts, 0, sizeof(opts));
	opts.device_due = due;
	opts.device_force = force;
	opts.device_quiet = quiet;
	opts.saved_manifests = !poll;
	opts.stop = &got_stop;
	load_source_failing(d);
	opts.source_quiet = d->source_failing;
	pthread_sigmask(SIG_SETMASK, open, &blocked);
	rc = sync_cycle(d->cfg, d->engine.forge, d->engine.store, &opts, rep);
	pthread_sigmask(SIG_SETMASK, &blocked, NULL);
	d->cycles++;
	free(quiet);
	free(force);
	return rc;
}

/* What a cycle did, for those watching the fleet: counters, metrics_file,
 * the MQTT topics (queued; the broker is never waited for). */
static void
report_cycle(const struct daemon *d, const struct sync_report *rep)
{
	metrics_record(d->cfg, rep);
	if (*d->cfg->metrics_file)
		metrics_write_file(d->cfg);
	mqtt_publish(d->mqtt, d->cfg, rep);
}

/* A command from the MQTT broker, taken as SIGUSR1's flag is. */
static void
take_mqtt_request(struct daemon *d, time_t now)
{
	bool *devices = xcalloc(d->cfg->ndevices + 1, sizeof(*devices));
	size_t i;

	switch (mqtt_take_request(d->mqtt, d->cfg, devices)) {
	case MQTT_REQUEST_SYNC:
		for (i = 0; i < d->cfg->ndevices; i++)
			if (devices[i])
				d->devices[i].retry_at = 0;
		/* FALLTHROUGH */
	case MQTT_REQUEST_POLL:
		d->next_poll = now;
		break;
	case MQTT_REQUEST_NONE:
		break;
	}
	free(devices);
}

/*
 * senkod --once from cron starts afresh every few minutes: what an
 * earlier run reported is in the status files.  A device or source that
 * was failing then is not reported again while it fails the same way.
 */
static void
recall_reported(struct daemon *d)
{
	struct device_status st;
	size_t i;

	for (i = 0; i < d->cfg->ndevices; i++) {
		struct daemon_device *dd = &d->devices[i];

		if (status_load(d->cfg->state_dir, dd->name, &st) == -1 ||
		    state_is_ok(st.state))
			continue;
		dd->last = st.state;
		snprintf(dd->last_error, sizeof(dd->last_error), "%s",
		    st.last_error);
		dd->failures = 1;
		dd->failures_before_run = true;
	}
}

int
daemon_once(struct daemon *d)
{
	struct sync_report rep;
	sigset_t open;
	size_t i;
	int rc;

	install_handlers();
	pthread_sigmask(SIG_SETMASK, NULL, &open);
	recall_reported(d);
	rc = run_cycle(d, NULL, true, &open, &rep);
	if (!got_stop)
		sync_engine_gc(&d->engine, d->cfg);
	for (i = 0; i < rep.ndevices; i++)
		note_device(&d->devices[i], &rep.devices[i], monotonic_now());
	note_sources(d, &rep);
	report_cycle(d, &rep);
	sync_report_release(&rep);
	return rc;
}

static void
reload(struct daemon *d)
{
	struct config *cfg;
	struct sync_engine engine;

	notify_reloading();
	log_info("SIGHUP: reloading %s", d->config_path);
	cfg = config_load(d->config_path);
	if (cfg == NULL) {
		log_warnx("%s is broken (see above); keeping the configuration "
		    "that was running", d->config_path);
		notify_ready();
		return;
	}
	if (resolve_paths(cfg, d->start_dir) == -1 ||
	    sync_engine_open(&engine, cfg) != 0) {
		log_warnx("cannot apply the new configuration; keeping the "
		    "one that was running");
		config_free(cfg);
		notify_ready();
		return;
	}
	sync_engine_close(&d->engine);
	d->engine = engine;
	{
		struct daemon_device *devs = devices_for(cfg, d->cfg,
		    d->devices);

		devices_free(d->devices, d->cfg->ndevices);
		d->devices = devs;
	}
	identity_use_config(cfg);
	config_free(d->cfg);
	d->cfg = cfg;
	d->mqtt = mqtt_reload(d->mqtt, cfg);
	mqtt_publish(d->mqtt, cfg, NULL);
	d->next_poll = monotonic_now();
	log_info("configuration reloaded: %zu source%s, %zu device%s",
	    cfg->nsources, cfg->nsources == 1 ? "" : "s", cfg->ndevices,
	    cfg->ndevices == 1 ? "" : "s");
	notify_ready();
}

static time_t
next_poll_after(const struct daemon *d, time_t now)
{
	unsigned jitter_max = d->cfg->interval / JITTER_FRACTION;

	if (jitter_max > JITTER_MAX)
		jitter_max = JITTER_MAX;
	return now + d->cfg->interval +
	    (jitter_max ? arc4random_uniform(jitter_max + 1) : 0);
}

/* ------------------------------------------------------------- watchdog */

struct watchdog {
	pthread_t thread;
	unsigned long interval_ms;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool quit;
	atomic_long cycle_started; /* monotonic s; 0 when no cycle runs */
};

/*
 * While a cycle runs the main thread waits for the workers, so this
 * thread feeds the watchdog — as long as the cycle is not stuck.  Outside
 * cycles the main loop feeds it itself.
 */
static void *
watchdog_main(void *arg)
{
	struct watchdog *w = arg;
	struct timespec ts;

	pthread_mutex_lock(&w->lock);
	while (!w->quit) {
		long started;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(w->interval_ms / 1000);
		ts.tv_nsec += (long)(w->interval_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&w->wake, &w->lock, &ts);
		started = atomic_load(&w->cycle_started);
		if (!w->quit && started != 0 &&
		    monotonic_now() - started < CYCLE_STUCK_SECONDS)
			notify_watchdog();
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void
watchdog_start(struct watchdog *w)
{
	pthread_condattr_t attr;
	sigset_t all, saved;

	memset(w, 0, sizeof(*w));
	w->interval_ms = notify_watchdog_interval();
	if (w->interval_ms == 0)
		return;
	pthread_mutex_init(&w->lock, NULL);
	/* Its timed wait runs on the monotonic clock too. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &attr);
	pthread_condattr_destroy(&attr);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &saved);
	if (pthread_create(&w->thread, NULL, watchdog_main, w) != 0)
		fatalx("cannot start the watchdog thread");
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	log_debug("watchdog: pinging every %lu ms", w->interval_ms);
}

static void
watchdog_stop(struct watchdog *w)
{
	if (w->interval_ms == 0)
		return;
	pthread_mutex_lock(&w->lock);
	w->quit = true;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->wake);
	pthread_mutex_destroy(&w->lock);
}

/* ------------------------------------------------------------------ loop */

/* Which devices are due now; returns how many. */
static size_t
due_devices(const struct daemon *d, time_t now, bool poll, bool *due)
{
	size_t i, n = 0;

	for (i = 0; i < d->cfg->ndevices; i++) {
		time_t at = d->devices[i].retry_at;

		due[i] = poll ? at <= now : at != 0 && at <= now;
		n += due[i];
	}
	return n;
}

static time_t
next_wake(const struct daemon *d)
{
	time_t wake = d->next_poll;
	size_t i;

	for (i = 0; i < d->cfg->ndevices; i++) {
		if (d->devices[i].retry_at != 0 &&
		    d->devices[i].retry_at < wake)
			wake = d->devices[i].retry_at;
		if (d->devices[i].verify_at != 0 &&
		    d->devices[i].verify_at < wake)
			wake = d->devices[i].verify_at;
	}
	return wake;
}

/* A device to visit now with its board checked (its record read). */
static void
check_now(struct daemon_device *dd, time_t now)
{
	dd->check = true;
	dd->retry_at = now;
}

/* Boards plugged in (hotplug.h): checked now, whatever their back-off. */
static void
take_hotplug(struct daemon *d, struct hotplug *hp, time_t now)
{
	bool *due = xcalloc(d->cfg->ndevices + 1, sizeof(*due));
	size_t i;

	if (hotplug_take(hp, due) > 0)
		for (i = 0; i < d->cfg->ndevices; i++)
			if (due[i])
				check_now(&d->devices[i], now);
	free(due);
}

/*
 * verify_interval: a device's board is checked at most that often even
 * when nothing changed upstream.  A failing device keeps its back-off
 * (its retries read the board anyway).
 */
static void
schedule_verify(struct daemon *d, time_t now)
{
	size_t i;

	for (i = 0; i < d->cfg->ndevices; i++) {
		struct daemon_device *dd = &d->devices[i];
		unsigned every = d->cfg->devices[i].verify_interval;

		if (every == 0) {
			dd->verify_at = 0;
		} else if (dd->verify_at == 0 || dd->verify_at > now + every) {
			/* New, or verify_interval shortened by a reload. */
			dd->verify_at = now + every;
		} else if (now >= dd->verify_at) {
			dd->verify_at = now + every;
			if (dd->failures == 0) {
				log_info("%s: checking the board "
				    "(verify_interval %u s)", dd->name, every);
				check_now(dd, now);
			}
		}
	}
}

/* After a cycle: the checks it made are done; the next verify_interval
 * counts from them. */
static void
note_checks(struct daemon *d, const struct sync_report *rep, time_t now)
{
	size_t i;

	for (i = 0; i < rep->ndevices && i < d->cfg->ndevices; i++) {
		struct daemon_device *dd = &d->devices[i];

		if (!rep->devices[i].attempted || !dd->check)
			continue;
		dd->check = false;
		if (d->cfg->devices[i].verify_interval)
			dd->verify_at = now + d->cfg->devices[i].verify_interval;
	}
}

static void
after_cycle(struct daemon *d, const struct sync_report *rep, bool poll,
    time_t now)
{
	bool source_failed = false;
	size_t i;

	for (i = 0; i < rep->ndevices; i++)
		if (rep->devices[i].state != DEVICE_UNKNOWN ||
		    *rep->devices[i].error)
			note_device(&d->devices[i], &rep->devices[i], now);
	for (i = 0; poll && i < rep->nsources; i++)
		if (rep->sources[i].ok != 0)
			source_failed = true;
	if (!poll)
		return;
	note_sources(d, rep);
	d->next_poll = next_poll_after(d, now);
	if (source_failed) {
		time_t soon = now + backoff_seconds(++d->source_failures);

		if (soon < d->next_poll)
			d->next_poll = soon;
	} else
		d->source_failures = 0;
	/* A ring whose soak ends before the next poll: poll then, so the
	 * next ring does not wait a whole interval (rollout.h). */
	if (rep->next_release != 0) {
		time_t wall = time(NULL);
		time_t at = now + (rep->next_release > wall ?
		    rep->next_release - wall : 0) + 1;

		if (at < d->next_poll)
			d->next_poll = at;
	}
	/* The forge's wait is a date (the server's clock): the seconds
	 * left from the wall clock, then onto the monotonic one. */
	if (rep->retry_after != 0) {
		time_t wall = time(NULL);
		time_t until = rep->retry_after > wall ?
		    now + (rep->retry_after - wall) : now;

		if (until > d->next_poll) {
			log_notice("rate limited: next poll at %ld s from now",
			    (long)(until - now));
			d->next_poll = until;
		}
	}
}

int
daemon_run(struct daemon *d)
{
	static const int sigs[] = { SIGHUP, SIGUSR1, SIGTERM, SIGINT };
	struct watchdog wd;
	struct local_watch *lw; /* edits in local sources' folders */
	struct hotplug *hp;     /* boards plugged in */
	sigset_t block, open;
	size_t i;

	install_handlers();
	sigemptyset(&block);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&block, sigs[i]);
	pthread_sigmask(SIG_BLOCK, &block, &open);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigdelset(&open, sigs[i]);
	watchdog_start(&wd);
	lw = local_watch_new(d->cfg);
	hp = hotplug_new(d->cfg);
	d->mqtt = mqtt_start(d->cfg);
	mqtt_publish(d->mqtt, d->cfg, NULL);
	d->next_poll = monotonic_now();
	log_info("started: %zu source%s, %zu device%s, polling every %u s",
	    d->cfg->nsources, d->cfg->nsources == 1 ? "" : "s",
	    d->cfg->ndevices, d->cfg->ndevices == 1 ? "" : "s",
	    d->cfg->interval);
	notify_ready();
	notify_status("started; first poll now");

	while (!got_stop) {
		time_t now = monotonic_now(), wake;
		struct pollfd pfd[3]; /* MQTT commands, local folders,
		                         boards plugged in */
		struct timespec ts;
		bool poll, *due;

		if (got_hup) {
			got_hup = 0;
			reload(d);
			local_watch_free(lw);
			lw = local_watch_new(d->cfg);
			hotplug_free(hp);
			hp = hotplug_new(d->cfg);
		}
		take_hotplug(d, hp, now);
		schedule_verify(d, now);
		/* An edit settled: poll now (a forge source costs one
		 * conditional request, answered 304 when it did not move). */
		if (local_watch_take_settled(lw)) {
			log_info("a local source changed: polling now");
			d->next_poll = now;
		}
		if (got_usr1) {
			got_usr1 = 0;
			log_info("SIGUSR1: polling now");
			d->next_poll = now;
			for (i = 0; i < d->cfg->ndevices; i++)
				d->devices[i].retry_at = 0;
		}
		take_mqtt_request(d, now);
		poll = now >= d->next_poll;
		due = xcalloc(d->cfg->ndevices ? d->cfg->ndevices : 1,
		    sizeof(*due));
		if (due_devices(d, now, poll, due) > 0 || poll) {
			struct sync_report rep;

			atomic_store(&wd.cycle_started, (long)now);
			notify_status("syncing");
			run_cycle(d, due, poll, &open, &rep);
			if (poll && !got_stop && now >= d->next_gc) {
				sync_engine_gc(&d->engine, d->cfg);
				d->next_gc = now + DAEMON_GC_INTERVAL;
			}
			atomic_store(&wd.cycle_started, 0);
			note_checks(d, &rep, monotonic_now());
			after_cycle(d, &rep, poll, monotonic_now());
			publish_status(d, &rep, monotonic_now());
			report_cycle(d, &rep);
			sync_report_release(&rep);
			free(due);
			continue;
		}
		free(due);
		wake = next_wake(d);
		ts.tv_sec = wake > now ? wake - now : 0;
		ts.tv_nsec = 0;
		if (wd.interval_ms) {
			struct timespec w = { (time_t)(wd.interval_ms / 1000),
				(long)(wd.interval_ms % 1000) * 1000000 };

			notify_watchdog();
			if (w.tv_sec < ts.tv_sec || (w.tv_sec == ts.tv_sec &&
			    w.tv_nsec < ts.tv_nsec))
				ts = w;
		}
		local_watch_deadline(lw, &ts);
		hotplug_deadline(hp, &ts);
		/* Sleeps until the deadline, a signal, an MQTT command or a
		 * change in a local source's folder; no busy waiting. */
		pfd[0].fd = mqtt_wake_fd(d->mqtt);
		pfd[1].fd = local_watch_fd(lw);
		pfd[2].fd = hotplug_fd(hp);
		pfd[0].events = pfd[1].events = pfd[2].events = POLLIN;
		pfd[0].revents = pfd[1].revents = pfd[2].revents = 0;
		if (ppoll(pfd, 3, &ts, &open) == -1 && errno != EINTR)
			log_warn("ppoll");
		if (pfd[1].fd >= 0 && (pfd[1].revents & POLLIN))
			local_watch_read(lw);
		if (pfd[2].fd >= 0 && (pfd[2].revents & POLLIN))
			hotplug_read(hp);
	}
	local_watch_free(lw);
	hotplug_free(hp);
	log_info("stopping");
	notify_stopping();
	mqtt_stop(d->mqtt);
	d->mqtt = NULL;
	watchdog_stop(&wd);
	return 0;
}
