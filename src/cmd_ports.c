/*
 * cmd_ports.c - `senko ports [--probe]`: the serial ports of this machine,
 * with what USB says of each (ports.h), then the ports the configuration
 * names that are not among them (an emulator's pty, a symbolic link), so
 * one listing answers "which board is which".
 *
 * --probe opens each port's raw REPL and adds what the board says of
 * itself: platform, MicroPython version, machine.unique_id() (what
 * port = uid:HEX names); each board's application is then started again
 * as its device's reset says (a soft reset for a board no device names).
 * A board found by its unique id is remembered for that device
 * (identity.h), as a sync would.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "identity.h"
#include "interrupt.h"
#include "log.h"
#include "ports.h"
#include "repl.h"
#include "session.h"
#include "xalloc.h"
#include "banned.h"

/* A port's probe: what the board said, or why it did not. */
struct probe {
	bool done;         /* --probe was given */
	bool answered;
	char platform[32];
	char version[64];
	char unique_id[72];
};

static const char *
or_dash(const char *s)
{
	return s && *s ? s : "-";
}

/* Where a configured port leads now: usb: looked up, uid: the node its
 * board was found on (a new string), or NULL. */
static char *
device_node(const struct config_device *d)
{
	char why[160];
	char *node;
	int quiet;

	if (identity_is_uid(d->port))
		return identity_recall(d->port, NULL);
	quiet = log_thread_quiet(1);
	node = ports_resolve(d->port, why, sizeof(why));
	log_thread_quiet(quiet);
	return node;
}

/* Is the board on dev the one d names: by its port, or (uid:) by what
 * the probe of dev said. */
static bool
device_is_on(const struct config_device *d, const char *dev,
    const struct probe *pr)
{
	char *port, *real, *real_dev;
	bool on;

	if (identity_is_uid(d->port) && pr && pr->done)
		return pr->answered &&
		    strcmp(pr->unique_id, identity_uid(d->port)) == 0;
	port = device_node(d);
	real = port ? realpath(port, NULL) : NULL;
	real_dev = realpath(dev, NULL);
	on = (port && strcmp(port, dev) == 0) ||
	    (real && real_dev && strcmp(real, real_dev) == 0);
	free(real_dev);
	free(real);
	free(port);
	return on;
}

/* The configured devices on dev, comma-separated. */
static void
print_devices_of(const struct config *cfg, const char *dev,
    const struct probe *pr)
{
	size_t i;
	int printed = 0;

	for (i = 0; cfg && i < cfg->ndevices; i++)
		if (device_is_on(&cfg->devices[i], dev, pr))
			printf("%s%s", printed++ ? "," : "",
			    cfg->devices[i].name);
	printf("%s", printed ? "" : "-");
}

/*
 * Ask the board on dev what it is, then start its application again.
 * owner is the configured device on that port (its baud and reset), or
 * NULL: 115200 and a soft reset.
 */
static void
probe_port(const char *dev, const struct config_device *owner,
    struct probe *pr)
{
	struct config_device anon;
	const struct repl_info *info;
	struct repl *r;

	memset(pr, 0, sizeof(*pr));
	pr->done = true;
	if (owner == NULL) {
		memset(&anon, 0, sizeof(anon));
		anon.name = (char *)dev;
		anon.port = (char *)dev;
		anon.baud = 115200;
		anon.reset = RESET_SOFT;
		owner = &anon;
	}
	r = repl_open_stoppable(dev, owner->baud, &interrupt_requested);
	if (r == NULL)
		return; /* repl_open said why */
	info = repl_info(r);
	pr->answered = true;
	snprintf(pr->platform, sizeof(pr->platform), "%s", info->platform);
	snprintf(pr->version, sizeof(pr->version), "%s", info->version);
	snprintf(pr->unique_id, sizeof(pr->unique_id), "%s", info->unique_id);
	session_leave(r, owner, NULL, false);
	repl_close(r);
}

/* The configured device that owns dev by its port (not by a probe). */
static const struct config_device *
owner_of(const struct config *cfg, const char *dev)
{
	size_t i;

	for (i = 0; cfg && i < cfg->ndevices; i++)
		if (device_is_on(&cfg->devices[i], dev, NULL))
			return &cfg->devices[i];
	return NULL;
}

/* A uid: device whose board the probe found on dev: remember it. */
static void
remember_found(const struct config *cfg, const char *dev,
    const struct probe *pr)
{
	size_t i;

	for (i = 0; cfg && pr->answered && i < cfg->ndevices; i++)
		if (identity_is_uid(cfg->devices[i].port) &&
		    strcmp(pr->unique_id,
		    identity_uid(cfg->devices[i].port)) == 0)
			identity_remember(cfg->devices[i].port, dev);
}

static void
print_probe(const struct probe *pr)
{
	if (!pr->done)
		return;
	if (!pr->answered) {
		printf("\tno answer\t-\t-");
		return;
	}
	printf("\t%s\t%s\t%s", or_dash(pr->platform), or_dash(pr->version),
	    or_dash(pr->unique_id));
}

static bool
listed(const struct port_list *l, const char *port)
{
	char *real = realpath(port, NULL);
	bool found = false;
	size_t i;

	for (i = 0; i < l->n && !found; i++) {
		char *r = realpath(l->ports[i].dev, NULL);

		found = strcmp(l->ports[i].dev, port) == 0 ||
		    (l->ports[i].by_id && strcmp(l->ports[i].by_id, port) == 0) ||
		    (r && real && strcmp(r, real) == 0);
		free(r);
	}
	free(real);
	return found;
}

/* A configured uid: device that no probed port answered for. */
static void
print_uid_device(const struct config_device *d, bool probed,
    const struct port_list *l, bool found)
{
	char *node;

	if (found)
		return;
	node = identity_recall(d->port, NULL);
	if (!probed && node != NULL && listed(l, node)) {
		free(node);
		return; /* shown on its port's line */
	}
	if (probed)
		printf("%s\t-\t-\t-\t-\t-\t%s: no board with unique id %s"
		    "\tno answer\t-\t-\n", d->port, d->name,
		    identity_uid(d->port));
	else if (node != NULL)
		printf("%s\t-\t-\t-\t-\t-\t%s: last found on %s\n", node,
		    d->name, node);
	else
		printf("%s\t-\t-\t-\t-\t-\t%s: not found yet (senko ports "
		    "--probe looks for it)\n", d->port, d->name);
	free(node);
}

int
cmd_ports(struct cli *cli, int argc, char **argv)
{
	struct config *cfg = NULL;
	struct port_list l;
	struct probe pr;
	bool probe = false, *uid_found;
	size_t i, j;
	int rc = CLI_EXIT_OK;

	if (argc == 2 && strcmp(argv[1], "--probe") == 0)
		probe = true;
	else if (argc != 1)
		return cli_command_usage(cli_find_command("ports"));
	/* The configuration is optional: ports are listed before there is
	 * one.  A broken one is still an error. */
	if (access(cli->config_path, F_OK) == 0) {
		cfg = config_load(cli->config_path);
		if (cfg == NULL)
			return CLI_EXIT_CONFIG;
		identity_use_config(cfg);
	}
	if (ports_scan(&l) == -1) {
		identity_use_config(NULL);
		config_free(cfg);
		return CLI_EXIT_FAILED;
	}
	uid_found = xcalloc(cfg && cfg->ndevices ? cfg->ndevices : 1,
	    sizeof(*uid_found));
	printf("PORT\tUSB\tSERIAL\tMANUFACTURER\tPRODUCT\tBY-ID\tDEVICE%s\n",
	    probe ? "\tPLATFORM\tVERSION\tUNIQUE-ID" : "");
	for (i = 0; i < l.n && !interrupt_requested; i++) {
		const struct port_info *p = &l.ports[i];
		const char *node = p->by_id ? p->by_id : p->dev;

		memset(&pr, 0, sizeof(pr));
		if (probe) {
			probe_port(node, owner_of(cfg, p->dev), &pr);
			remember_found(cfg, node, &pr);
		}
		printf("%s\t%s\t%s\t%s\t%s\t%s\t", p->dev, or_dash(p->vid_pid),
		    or_dash(p->serial), or_dash(p->manufacturer),
		    or_dash(p->product), or_dash(p->by_id));
		print_devices_of(cfg, p->dev, &pr);
		print_probe(&pr);
		printf("\n");
		for (j = 0; cfg && j < cfg->ndevices; j++)
			if (identity_is_uid(cfg->devices[j].port) &&
			    device_is_on(&cfg->devices[j], p->dev, &pr))
				uid_found[j] = true;
	}
	for (i = 0; cfg && i < cfg->ndevices && !interrupt_requested; i++) {
		const struct config_device *d = &cfg->devices[i];
		char *real;

		if (identity_is_uid(d->port))
			continue;
		if (ports_is_usb_identity(d->port)) {
			char why[160], *port = ports_resolve(d->port, why,
			    sizeof(why));

			if (port == NULL)
				printf("%s\t-\t%s\t-\t-\t-\t%s: %s%s\n",
				    d->port,
				    d->port + strlen(PORTS_USB_PREFIX),
				    d->name, why, probe ?
				    "\tno answer\t-\t-" : "");
			free(port);
			continue;
		}
		if (listed(&l, d->port))
			continue;
		real = realpath(d->port, NULL);
		memset(&pr, 0, sizeof(pr));
		if (probe && real != NULL) {
			probe_port(d->port, d, &pr);
			remember_found(cfg, d->port, &pr);
		} else
			pr.done = probe;
		printf("%s\t-\t-\t-\t-\t-\t%s", d->port, d->name);
		for (j = 0; j < cfg->ndevices; j++)
			if (identity_is_uid(cfg->devices[j].port) &&
			    device_is_on(&cfg->devices[j], d->port, &pr)) {
				uid_found[j] = true;
				printf(",%s", cfg->devices[j].name);
			}
		printf("%s", real ? "" : ": no such port");
		print_probe(&pr);
		printf("\n");
		free(real);
	}
	for (i = 0; cfg && i < cfg->ndevices && !interrupt_requested; i++)
		if (identity_is_uid(cfg->devices[i].port))
			print_uid_device(&cfg->devices[i], probe, &l,
			    uid_found[i]);
	free(uid_found);
	port_list_release(&l);
	identity_use_config(NULL);
	config_free(cfg);
	if (fflush(stdout) == EOF)
		rc = CLI_EXIT_FAILED;
	return rc;
}
