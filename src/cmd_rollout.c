/*
 * cmd_rollout.c - the safe rollout's commands (rollout.h):
 *   senko rollout [SOURCE]          where each commit stands, ring by ring
 *   senko rollout resume SOURCE     accept a halted commit and go on
 *   senko rollback DEVICE [REF]     back to the last healthy commit, or REF
 *   senko pin DEVICE REF            keep a board at REF
 *   senko unpin DEVICE              let it follow its source again
 *
 * All of them work while senkod runs: the state files are changed under
 * rollout.h's lock, and rollback waits for the board's port as
 * `senko sync --wait` does.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "forge.h"
#include "fsutil.h"
#include "interrupt.h"
#include "log.h"
#include "rollout.h"
#include "status.h"
#include "sync.h"
#include "xalloc.h"
#include "banned.h"

static const struct config_source *
find_source(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nsources; i++)
		if (strcmp(cfg->sources[i].name, name) == 0)
			return &cfg->sources[i];
	log_failx("no source '%s' in %s; senko config check lists them", name,
	    cfg->path);
	return NULL;
}

/* One line per device of source s: ring, commit, health, pin. */
static void
print_devices(const struct config *cfg, size_t s,
    const struct rollout_source *ro)
{
	size_t i;

	printf("  %-4s %-16s %-8s %-10s %s\n", "RING", "DEVICE", "COMMIT",
	    "HEALTH", "NOTE");
	for (i = 0; i < cfg->ndevices; i++) {
		const struct config_device *d = &cfg->devices[i];
		struct rollout_device rec;
		const char *pin;
		char note[400] = "";

		if (d->source_index != s)
			continue;
		rollout_device_load(cfg->state_dir, d->name, &rec);
		pin = *rec.pin ? rec.pin : d->pin;
		if (pin)
			snprintf(note, sizeof(note), "pinned to %s%s", pin,
			    *rec.pin ? " (senko pin)" : " (pin =)");
		else if (*rec.rolled_back_from)
			snprintf(note, sizeof(note), "rolled back from %.7s",
			    rec.rolled_back_from);
		else if (rec.health == ROLLOUT_UNHEALTHY)
			snprintf(note, sizeof(note), "%.300s", rec.reason);
		else if (!ro->done && d->ring > ro->ring && *ro->commit)
			snprintf(note, sizeof(note), "waiting for its ring");
		printf("  %-4u %-16s %-8.7s %-10s %s\n", d->ring, d->name,
		    *rec.commit ? rec.commit : "-",
		    rollout_health_name(rec.health), note);
	}
}

/* Returns 1 when the source's rollout is halted. */
static int
show_source(const struct config *cfg, size_t s)
{
	const struct config_source *src = &cfg->sources[s];
	struct rollout_source ro;
	char when[32];
	size_t i;

	if (rollout_source_load(cfg->state_dir, src->name, &ro) == -1)
		return 1;
	if (*ro.commit == '\0') {
		printf("source %s: no rollout yet (senkod or senko sync starts "
		    "one when it sees a commit)\n", src->name);
		return 0;
	}
	if (ro.halted)
		snprintf(when, sizeof(when), "halted");
	else if (ro.done)
		snprintf(when, sizeof(when), "every ring");
	else
		snprintf(when, sizeof(when), "ring %u", ro.ring);
	printf("source %s: commit %.7s, %s%s%s\n", src->name, ro.commit, when,
	    ro.halted ? ": " : "", ro.halted ? ro.reason : "");
	if (!ro.halted && !ro.done && ro.ring_healthy_since && src->soak)
		printf("  ring %u healthy for %lds of soak = %us\n", ro.ring,
		    (long)(time(NULL) - ro.ring_healthy_since), src->soak);
	for (i = 0; i < ro.nbad; i++)
		printf("  bad commit %.12s\n", ro.bad[i]);
	print_devices(cfg, s, &ro);
	return ro.halted ? 1 : 0;
}

/* senko rollout resume SOURCE */
static int
resume(const struct config *cfg, const char *name)
{
	const struct config_source *src = find_source(cfg, name);
	struct rollout_source ro;
	size_t s, i;
	int fd, next = -1, rc = CLI_EXIT_FAILED;
	char commit[GITHASH_HEXSZ];

	if (src == NULL)
		return CLI_EXIT_USAGE;
	s = (size_t)(src - cfg->sources);
	fd = rollout_lock(cfg->state_dir);
	if (fd == -1 || rollout_source_load(cfg->state_dir, name, &ro) == -1)
		goto out;
	if (!ro.halted && !rollout_is_bad(&ro, ro.commit)) {
		printf("source %s: the rollout of %.7s is not halted; nothing "
		    "to resume\n", name, *ro.commit ? ro.commit : "-");
		rc = CLI_EXIT_OK;
		goto out;
	}
	snprintf(commit, sizeof(commit), "%s", ro.commit);
	for (i = 0; i < ro.nbad; i++)
		if (strcmp(ro.bad[i], commit) == 0) {
			memmove(ro.bad[i], ro.bad[i + 1], sizeof(ro.bad[0]) *
			    (ro.nbad - i - 1));
			ro.nbad--;
			break;
		}
	/* Accepted: the next ring gets it, as if its ring had passed. */
	for (i = 0; i < cfg->ndevices; i++)
		if (cfg->devices[i].source_index == s &&
		    cfg->devices[i].pin == NULL &&
		    cfg->devices[i].ring > ro.ring &&
		    (next == -1 || cfg->devices[i].ring < (unsigned)next))
			next = (int)cfg->devices[i].ring;
	if (next == -1)
		ro.done = true;
	else
		ro.ring = (unsigned)next;
	ro.halted = false;
	ro.ring_healthy_since = 0;
	ro.reason[0] = ro.failed_device[0] = '\0';
	if (rollout_source_save(cfg->state_dir, name, &ro) == -1)
		goto out;
	if (ro.done)
		printf("source %s: commit %.7s accepted; every ring gets it at "
		    "the next sync\n", name, commit);
	else
		printf("source %s: commit %.7s accepted; ring %u gets it at the "
		    "next sync\n", name, commit, ro.ring);
	rc = CLI_EXIT_OK;
out:
	rollout_unlock(fd);
	return rc;
}

int
cmd_rollout(struct cli *cli, int argc, char **argv)
{
	const struct config *cfg = cli->cfg;
	size_t i;
	int rc = 0;

	if (argc >= 2 && strcmp(argv[1], "resume") == 0) {
		if (argc != 3)
			return cli_command_usage(cli_find_command("rollout"));
		return resume(cfg, argv[2]);
	}
	if (argc > 2)
		return cli_command_usage(cli_find_command("rollout"));
	if (argc == 2) {
		const struct config_source *src = find_source(cfg, argv[1]);

		if (src == NULL)
			return CLI_EXIT_USAGE;
		return show_source(cfg, (size_t)(src - cfg->sources)) ?
		    CLI_EXIT_FAILED : CLI_EXIT_OK;
	}
	for (i = 0; i < cfg->nsources; i++)
		rc |= show_source(cfg, i);
	return rc ? CLI_EXIT_FAILED : CLI_EXIT_OK;
}

int
cmd_rollback(struct cli *cli, int argc, char **argv)
{
	const struct config_device *dev;
	struct sync_engine engine;
	struct sync_device_result res;
	int rc;

	if (argc != 2 && argc != 3)
		return cli_command_usage(cli_find_command("rollback"));
	dev = cli_find_device(cli, argv[1]);
	if (dev == NULL)
		return CLI_EXIT_USAGE;
	if (argc == 3 && !config_valid_ref(argv[2])) {
		log_failx("'%s' is not a tag, branch or commit SHA", argv[2]);
		return CLI_EXIT_USAGE;
	}
	rc = sync_engine_open(&engine, cli->cfg);
	if (rc != 0)
		return rc == SYNC_ECONFIG ? CLI_EXIT_CONFIG : CLI_EXIT_FAILED;
	rc = sync_rollback(cli->cfg, &engine, (size_t)(dev - cli->cfg->devices),
	    argc == 3 ? argv[2] : NULL, &interrupt_requested, &res);
	if (res.state == DEVICE_ROLLED_BACK)
		printf("%s: %s\n", dev->name, res.error);
	else if (res.state == DEVICE_IN_SYNC)
		printf("%s: already at %.7s\n", dev->name, res.commit);
	else if (res.attempted)
		printf("%s: %s (see the error above)\n", dev->name,
		    status_state_name(res.state));
	sync_engine_close(&engine);
	return rc ? CLI_EXIT_FAILED : CLI_EXIT_OK;
}

/* Set (ref) or clear (NULL) device's `senko pin` under the lock. */
static int
set_pin(const struct config *cfg, const char *device, const char *ref)
{
	struct rollout_device rec;
	int fd, rc = -1;

	fd = rollout_lock(cfg->state_dir);
	if (fd == -1)
		return -1;
	if (rollout_device_load(cfg->state_dir, device, &rec) == 0) {
		snprintf(rec.pin, sizeof(rec.pin), "%s", ref ? ref : "");
		rc = rollout_device_save(cfg->state_dir, device, &rec);
	}
	rollout_unlock(fd);
	return rc;
}

int
cmd_pin(struct cli *cli, int argc, char **argv)
{
	const struct config_device *dev;
	const struct config_source *src;
	struct sync_engine engine;
	struct manifest m = MANIFEST_INIT;
	int rc = CLI_EXIT_FAILED, e;

	if (argc != 3)
		return cli_command_usage(cli_find_command("pin"));
	dev = cli_find_device(cli, argv[1]);
	if (dev == NULL)
		return CLI_EXIT_USAGE;
	src = config_source_of(cli->cfg, dev);
	if (!config_valid_ref(argv[2])) {
		log_failx("'%s' is not a tag, branch or commit SHA", argv[2]);
		return CLI_EXIT_USAGE;
	}
	if (src->path) {
		log_failx("%s: source '%s' is a local folder, which has no tags "
		    "or commits to pin to", dev->name, src->name);
		return CLI_EXIT_USAGE;
	}
	e = sync_engine_open(&engine, cli->cfg);
	if (e != 0)
		return e == SYNC_ECONFIG ? CLI_EXIT_CONFIG : CLI_EXIT_FAILED;
	/* Resolved now, so a typo fails here and not at the next poll. */
	if (forge_manifest_at(engine.forge, src, argv[2], NULL, &m) == -1 ||
	    rollout_pin_save(cli->cfg->state_dir, dev->name, argv[2],
	    &m) == -1 || set_pin(cli->cfg, dev->name, argv[2]) == -1)
		goto out;
	printf("%s: pinned to %s (commit %.7s); the next sync brings it "
	    "there and keeps it there\n", dev->name, argv[2], m.commit);
	rc = CLI_EXIT_OK;
out:
	manifest_release(&m);
	sync_engine_close(&engine);
	return rc;
}

int
cmd_unpin(struct cli *cli, int argc, char **argv)
{
	const struct config_device *dev;
	char *pin;

	if (argc != 2)
		return cli_command_usage(cli_find_command("unpin"));
	dev = cli_find_device(cli, argv[1]);
	if (dev == NULL)
		return CLI_EXIT_USAGE;
	if (fs_mkdir_private(cli->cfg->state_dir) == -1 ||
	    set_pin(cli->cfg, dev->name, NULL) == -1)
		return CLI_EXIT_FAILED;
	pin = xasprintf("%s/devices/%s/pin.json", cli->cfg->state_dir,
	    dev->name);
	if (unlink(pin) == -1 && errno != ENOENT)
		log_warn("cannot remove '%s'", pin);
	free(pin);
	if (dev->pin)
		printf("%s: senko pin removed; the configuration's pin = %s "
		    "still applies (remove it from %s to follow the source)\n",
		    dev->name, dev->pin, cli->cfg->path);
	else
		printf("%s: unpinned; the next sync brings it to its source's "
		    "commit, under the rollout's rules\n", dev->name);
	return CLI_EXIT_OK;
}
