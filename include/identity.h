/*
 * identity.h - `port = uid:HEX`: a board named by MicroPython's
 * machine.unique_id(), wherever it is plugged in.
 *
 * Nothing on the USB side tells a board's unique id: it is found by
 * probing (repl_open() of a "uid:" port does it, repl.h).  What this
 * module keeps is the memory and the choice of ports:
 *  - per device, the node the board answered on last and that node's
 *    signature (ports_node_signature), in state_dir/devices/NAME/node;
 *    the next open tries that node first, and a board found there with
 *    the right id needs no other port opened;
 *  - the candidates when it is not there: every serial port ports_scan()
 *    lists and every /dev/serial/by-id/ link, less the ports other
 *    devices name (a path, or usb:SERIAL) and the nodes other uid:
 *    devices were last found on, unchanged since (their boards are still
 *    there);
 *  - how to give a probed board that is not the one its application back
 *    (the reset of the device that owns its node, else a soft reset).
 *
 * The configuration in use is registered by the program that loaded it
 * (senko after loading, senkod at start and after each reload):
 * repl_open() has only the port string and needs state_dir and the other
 * devices.  Without one, nothing is remembered and every port is a
 * candidate.  Scans are serialized in the process (identity_scan_lock),
 * so two devices looking for their boards at once never probe the same
 * port at the same time.
 */
#ifndef SENKO_IDENTITY_H
#define SENKO_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define IDENTITY_UID_PREFIX "uid:"
/* machine.unique_id() is 4 to 16 bytes on the ports that have it. */
#define IDENTITY_UID_MAX_BYTES 32

bool identity_is_uid(const char *port);
/* The hex part of a "uid:" port. */
const char *identity_uid(const char *port);
/*
 * Check "uid:HEX" (an even number of hex digits, up to
 * IDENTITY_UID_MAX_BYTES bytes) and lowercase its digits in place, as
 * binascii.hexlify() prints them.  Returns 0, or -1 with *why.
 */
int identity_normalize(char *port, const char **why);

/* The configuration whose devices and state_dir to use (borrowed; NULL
 * forgets it).  Call from one thread, while no board is being opened. */
void identity_use_config(const struct config *cfg);

/*
 * The node the board of a "uid:" port answered on last (a new string),
 * or NULL when nothing is remembered.  *unchanged (may be NULL) says
 * whether the node is still the one it was then (same signature).
 */
char *identity_recall(const char *port, bool *unchanged);
/* Remember (or forget) that the board of port answered on node. */
void identity_remember(const char *port, const char *node);
void identity_forget(const char *port);

/* The ports to probe for port's board, not counting skip (may be NULL),
 * in a stable order.  Free with identity_free_list(). */
char **identity_candidates(const char *port, const char *skip, size_t *n);
void identity_free_list(char **list, size_t n);

/* The configured device whose board is on node (a path, usb: or a
 * remembered uid: node), or NULL. */
const struct config_device *identity_device_on(const char *node);

/*
 * The board each device was last updated on, by its unique id, for ports
 * that do not name the board (a path, usb:): a re-enumeration (two boards
 * swapped between ttyUSB0 and ttyUSB1, by-id names that collide for boards
 * without a USB serial number) puts another board behind a device's port.
 * Kept in state_dir/devices/NAME/board-id once a sync of that board
 * committed; a uid: device needs none (its port is its board).
 */
#define IDENTITY_BOARD_ID_NAME "board-id"

enum identity_board {
	IDENTITY_BOARD_SAME,   /* dev's board, or nothing to compare with */
	IDENTITY_BOARD_NEW,    /* not the board dev had, nor another's */
	IDENTITY_BOARD_OTHERS, /* the board of another configured device */
};

/*
 * Which board is the one with unique id uid ("" none: SAME) that answered
 * on dev's port?  For NEW, *was (a new string) is the id dev remembers;
 * for OTHERS, *owner is the device whose board it is (its remembered id,
 * or its uid: port) and *was dev's remembered id (may be NULL).
 */
enum identity_board identity_check_board(const char *state_dir,
    const struct config_device *dev, const char *uid, char **was,
    const struct config_device **owner);
/* Remember that dev's board is the one with unique id uid ("" or a uid:
 * device: nothing).  Written atomically, only when it changed. */
void identity_board_updated(const char *state_dir,
    const struct config_device *dev, const char *uid);

void identity_scan_lock(void);
void identity_scan_unlock(void);

#endif
