/*
 * ports.c - serial ports from sysfs and /dev/serial/by-id; see ports.h.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "log.h"
#include "ports.h"
#include "xalloc.h"
#include "banned.h"

#define ATTR_MAX 256 /* sysfs attributes are one short line */
#define USB_WALK_UP 6 /* tty -> interface -> device, with room to spare */

static const char *
ports_root(void)
{
	const char *r = getenv("SENKO_PORTS_ROOT");

	return r && *r ? r : "";
}

/* One sysfs attribute, trailing newline cut; NULL when absent or empty. */
static char *
read_attr(const char *dir, const char *name)
{
	struct buf path = BUF_INIT, val = BUF_INIT;
	char *s = NULL;

	buf_init(&val, ATTR_MAX);
	buf_addf(&path, "%s/%s", dir, name);
	if (access(path.data, R_OK) == 0 && fs_read_file(path.data, &val) == 0) {
		buf_rtrim(&val);
		if (val.len > 0)
			s = buf_detach(&val, NULL);
	}
	buf_release(&val);
	buf_release(&path);
	return s;
}

/* The USB device above a tty's device folder: the first ancestor with
 * idVendor, not above ROOT/sys. */
static void
read_usb(struct port_info *p, const char *devdir, const char *sysroot)
{
	char *dir = realpath(devdir, NULL);
	int up;

	for (up = 0; dir && up < USB_WALK_UP; up++) {
		char *vid = read_attr(dir, "idVendor"), *slash;

		if (vid != NULL) {
			char *pid = read_attr(dir, "idProduct");

			p->vid_pid = xasprintf("%s:%s", vid, pid ? pid : "?");
			p->serial = read_attr(dir, "serial");
			p->manufacturer = read_attr(dir, "manufacturer");
			p->product = read_attr(dir, "product");
			free(vid);
			free(pid);
			break;
		}
		slash = strrchr(dir, '/');
		if (slash == NULL || slash == dir ||
		    (size_t)(slash - dir) <= strlen(sysroot))
			break;
		*slash = '\0';
	}
	free(dir);
}

/* The by-id link naming /dev/NAME, if any. */
static char *
find_by_id(const char *root, const char *name)
{
	struct buf dir = BUF_INIT;
	struct dirent *de;
	char *found = NULL;
	DIR *d;

	buf_addf(&dir, "%s/dev/serial/by-id", root);
	d = opendir(dir.data);
	while (d && found == NULL && (de = readdir(d)) != NULL) {
		char target[PATH_MAX];
		struct buf link = BUF_INIT;
		ssize_t n;
		const char *base;

		if (de->d_name[0] == '.')
			continue;
		buf_addf(&link, "%s/%s", dir.data, de->d_name);
		n = readlink(link.data, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			base = strrchr(target, '/');
			base = base ? base + 1 : target;
			if (strcmp(base, name) == 0)
				found = buf_detach(&link, NULL);
		}
		buf_release(&link);
	}
	if (d)
		closedir(d);
	buf_release(&dir);
	return found;
}

static int
compare_ports(const void *a, const void *b)
{
	return strcmp(((const struct port_info *)a)->dev,
	    ((const struct port_info *)b)->dev);
}

int
ports_scan(struct port_list *out)
{
	const char *root = ports_root();
	struct buf classdir = BUF_INIT, sysroot = BUF_INIT;
	struct dirent *de;
	DIR *d;

	memset(out, 0, sizeof(*out));
	buf_addf(&classdir, "%s/sys/class/tty", root);
	buf_addf(&sysroot, "%s/sys", root);
	d = opendir(classdir.data);
	if (d == NULL) {
		int rc = errno == ENOENT ? 0 :
		    log_fail("cannot list serial ports in '%s'", classdir.data);

		buf_release(&classdir);
		buf_release(&sysroot);
		return rc;
	}
	while ((de = readdir(d)) != NULL) {
		struct buf devdir = BUF_INIT;
		struct port_info p;
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		buf_addf(&devdir, "%s/%s/device", classdir.data, de->d_name);
		/* Virtual terminals and ptys have no device behind them. */
		if (stat(devdir.data, &st) == -1) {
			buf_release(&devdir);
			continue;
		}
		memset(&p, 0, sizeof(p));
		read_usb(&p, devdir.data, sysroot.data);
		buf_release(&devdir);
		/* The 8250 driver makes ttyS0..31 whether or not a UART is
		 * there: list them only when USB says something is. */
		if (p.vid_pid == NULL && strncmp(de->d_name, "ttyS", 4) == 0) {
			continue;
		}
		p.dev = xasprintf("%s/dev/%s", root, de->d_name);
		p.by_id = find_by_id(root, de->d_name);
		out->ports = xreallocarray(out->ports, out->n + 1,
		    sizeof(*out->ports));
		out->ports[out->n++] = p;
	}
	closedir(d);
	buf_release(&classdir);
	buf_release(&sysroot);
	if (out->n > 1)
		qsort(out->ports, out->n, sizeof(*out->ports), compare_ports);
	return 0;
}

void
port_list_release(struct port_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->ports[i].dev);
		free(l->ports[i].by_id);
		free(l->ports[i].vid_pid);
		free(l->ports[i].serial);
		free(l->ports[i].manufacturer);
		free(l->ports[i].product);
	}
	free(l->ports);
	memset(l, 0, sizeof(*l));
}

bool
ports_is_usb_identity(const char *port)
{
	return strncmp(port, PORTS_USB_PREFIX, strlen(PORTS_USB_PREFIX)) == 0;
}

char *
ports_resolve(const char *port, char *why, size_t why_size)
{
	const char *serial = port + strlen(PORTS_USB_PREFIX);
	struct port_list l;
	char *found = NULL;
	size_t i, matches = 0;

	if (!ports_is_usb_identity(port))
		return xstrdup(port);
	if (ports_scan(&l) == -1) {
		snprintf(why, why_size, "cannot list serial ports to find USB "
		    "serial %s", serial);
		return NULL;
	}
	for (i = 0; i < l.n; i++)
		if (l.ports[i].serial && strcmp(l.ports[i].serial, serial) == 0) {
			if (matches++ == 0)
				found = xstrdup(l.ports[i].by_id ?
				    l.ports[i].by_id : l.ports[i].dev);
		}
	port_list_release(&l);
	if (matches == 1)
		return found;
	free(found);
	if (matches == 0)
		snprintf(why, why_size, "no board with USB serial %s (see "
		    "senko ports)", serial);
	else
		snprintf(why, why_size, "%zu boards with USB serial %s; "
		    "taking none (name the port instead)", matches, serial);
	return NULL;
}

char *
ports_by_id_dir(void)
{
	return xasprintf("%s/dev/serial/by-id", ports_root());
}

char *
ports_node_signature(const char *path)
{
	struct stat link, node;
	char *real, *sig;

	if (lstat(path, &link) == -1 || stat(path, &node) == -1)
		return NULL;
	real = realpath(path, NULL);
	if (real == NULL)
		return NULL;
	sig = xasprintf("%s rdev %u:%u ino %lu ctime %lld.%09ld link ino %lu "
	    "ctime %lld.%09ld", real, major(node.st_rdev),
	    minor(node.st_rdev), (unsigned long)node.st_ino,
	    (long long)node.st_ctim.tv_sec, node.st_ctim.tv_nsec,
	    (unsigned long)link.st_ino, (long long)link.st_ctim.tv_sec,
	    link.st_ctim.tv_nsec);
	free(real);
	return sig;
}
