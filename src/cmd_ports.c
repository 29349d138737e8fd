/*
 * cmd_ports.c - `senko ports`: the serial ports of this machine, with what
 * USB says of each (ports.h), then the ports the configuration names that
 * are not among them (an emulator's pty, a symbolic link), so one listing
 * answers "which board is which".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "ports.h"
#include "banned.h"

static const char *
or_dash(const char *s)
{
	return s && *s ? s : "-";
}

/* The configured devices whose port resolves to dev, comma-separated. */
static void
print_devices_of(const struct config *cfg, const char *dev)
{
	char *real_dev = realpath(dev, NULL);
	size_t i;
	int printed = 0;

	for (i = 0; cfg && i < cfg->ndevices; i++) {
		char why[160], *port = ports_resolve(cfg->devices[i].port, why,
		    sizeof(why));
		char *real = port ? realpath(port, NULL) : NULL;

		if ((port && strcmp(port, dev) == 0) ||
		    (real && real_dev && strcmp(real, real_dev) == 0))
			printf("%s%s", printed++ ? "," : "",
			    cfg->devices[i].name);
		free(real);
		free(port);
	}
	printf("%s\n", printed ? "" : "-");
	free(real_dev);
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

int
cmd_ports(struct cli *cli, int argc, char **argv)
{
	struct config *cfg = NULL;
	struct port_list l;
	size_t i;
	int rc = CLI_EXIT_OK;

	(void)argv;
	if (argc != 1)
		return cli_command_usage(cli_find_command("ports"));
	/* The configuration is optional: ports are listed before there is
	 * one.  A broken one is still an error. */
	if (access(cli->config_path, F_OK) == 0) {
		cfg = config_load(cli->config_path);
		if (cfg == NULL)
			return CLI_EXIT_CONFIG;
	}
	if (ports_scan(&l) == -1) {
		config_free(cfg);
		return CLI_EXIT_FAILED;
	}
	printf("PORT\tUSB\tSERIAL\tMANUFACTURER\tPRODUCT\tBY-ID\tDEVICE\n");
	for (i = 0; i < l.n; i++) {
		const struct port_info *p = &l.ports[i];

		printf("%s\t%s\t%s\t%s\t%s\t%s\t", p->dev, or_dash(p->vid_pid),
		    or_dash(p->serial), or_dash(p->manufacturer),
		    or_dash(p->product), or_dash(p->by_id));
		print_devices_of(cfg, p->dev);
	}
	for (i = 0; cfg && i < cfg->ndevices; i++) {
		const struct config_device *d = &cfg->devices[i];
		char *real;

		if (ports_is_usb_identity(d->port)) {
			char why[160], *port = ports_resolve(d->port, why,
			    sizeof(why));

			if (port == NULL)
				printf("%s\t-\t%s\t-\t-\t-\t%s: %s\n", d->port,
				    d->port + strlen(PORTS_USB_PREFIX),
				    d->name, why);
			free(port);
			continue;
		}
		if (listed(&l, d->port))
			continue;
		real = realpath(d->port, NULL);
		printf("%s\t-\t-\t-\t-\t-\t%s%s\n", d->port, d->name,
		    real ? "" : ": no such port");
		free(real);
	}
	port_list_release(&l);
	config_free(cfg);
	if (fflush(stdout) == EOF)
		rc = CLI_EXIT_FAILED;
	return rc;
}
