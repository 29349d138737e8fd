/*
 * ports.h - the serial ports of this machine and what is behind them: USB
 * vendor and product ids, serial number, manufacturer and product strings,
 * the stable /dev/serial/by-id/ name.  For `senko ports` and for
 * `port = usb:SERIAL` in the configuration.
 *
 * Read from sysfs (/sys/class/tty/NAME/device, up to the USB device that
 * has idVendor) and /dev/serial/by-id, the same attributes udev's rules
 * use, without depending on libudev or a running udevd (containers and
 * initramfs have sysfs but often no udev database).  SENKO_PORTS_ROOT, a
 * folder standing for "/", lets tests give a fixture of sysfs attributes;
 * the device paths returned are then under it too.
 *
 * Ownership: a port_list owns its entries and their strings.
 */
#ifndef SENKO_PORTS_H
#define SENKO_PORTS_H

#include <stdbool.h>
#include <stddef.h>

#define PORTS_USB_PREFIX "usb:"

struct port_info {
	char *dev;          /* ROOT/dev/NAME */
	char *by_id;        /* a /dev/serial/by-id/ link to it, or NULL */
	char *vid_pid;      /* "10c4:ea60", or NULL when not USB */
	char *serial;       /* each NULL when the device has none */
	char *manufacturer;
	char *product;
};

struct port_list {
	struct port_info *ports;
	size_t n;
};

/* The serial ports with hardware behind them, sorted by dev.  Returns 0
 * (an empty list when there is no sysfs) or -1 (logged). */
int ports_scan(struct port_list *out);
void port_list_release(struct port_list *l);

/* Whether a configured port names a board by USB serial ("usb:X"). */
bool ports_is_usb_identity(const char *port);

/*
 * The tty whose USB serial number is exactly serial (port without the
 * "usb:" prefix): a new string, or NULL with *why set (no such board, or
 * two boards with that serial: neither is taken).  A port that is not
 * "usb:..." is returned as a copy.
 */
char *ports_resolve(const char *port, char *why, size_t why_size);

/*
 * What a port path stands for now, as a string to compare: the link's
 * own inode and change time (udev re-creates /dev/serial/by-id/ links
 * when a board is plugged in) and the device node's, with its device
 * number.  A board unplugged and plugged in again, or a pty made anew,
 * gives another string; the same node, left alone, the same.  NULL when
 * the path leads nowhere.  A new string.
 */
char *ports_node_signature(const char *path);

/* The folder of /dev/serial/by-id/ links (under SENKO_PORTS_ROOT): a new
 * string. */
char *ports_by_id_dir(void);

#endif
