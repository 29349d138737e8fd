/*
 * rollout.h - safe rollout: rings, health, rollback and pins.
 *
 * A new commit of a source goes to the boards of the lowest ring first;
 * when every reachable board of the rings released so far is healthy on
 * it (and the source's soak time has passed since), the next ring gets
 * it.  A board that fails its health check after an update marks the
 * commit bad for its source and halts the rollout: no further ring gets
 * it and no board is offered it again until upstream moves on (or
 * `senko rollout resume`); the board itself is rolled back to the last
 * commit it was healthy on.
 *
 * The decisions are pure functions (rollout_begin, rollout_advance,
 * rollout_decide, rollout_health_ok), unit-tested; sync.c feeds them what
 * the state files and the boards say.  The state lives in state_dir,
 * every file written atomically (fs_write_atomic):
 *   sources/NAME/rollout.json   struct rollout_source
 *   devices/NAME/rollout.json   struct rollout_device
 *   devices/NAME/healthy/SHA.json  the manifest of each commit the board
 *       was last (and previously) healthy on: what a rollback pushes,
 *       and what the object store's garbage collection keeps
 *   devices/NAME/pin.json       the manifest its pin resolved to last
 * senkod and the senko commands change these files while the other may
 * run: every read-modify-write holds state_dir/rollout.lock (flock), for
 * milliseconds, never across a board session.
 */
#ifndef SENKO_ROLLOUT_H
#define SENKO_ROLLOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "config.h"
#include "githash.h"
#include "manifest.h"

struct session_boot;

/* Bad commits remembered per source (the oldest is forgotten). */
#define ROLLOUT_BAD_MAX 16
#define ROLLOUT_REASON_MAX 512

struct rollout_source {
	char commit[GITHASH_HEXSZ];  /* the commit rolled out; "" none yet */
	unsigned ring;               /* the highest ring released to it */
	bool done;                   /* every ring has been released */
	time_t started;              /* when upstream moved to it */
	time_t ring_healthy_since;   /* every board released so far healthy
	                                on it since (soak); 0 not yet */
	bool halted;
	char failed_device[65];      /* the board that halted it */
	char reason[ROLLOUT_REASON_MAX]; /* why ("" when not halted) */
	char bad[ROLLOUT_BAD_MAX][GITHASH_HEXSZ];
	size_t nbad;
};

enum rollout_health {
	ROLLOUT_HEALTH_UNKNOWN,
	ROLLOUT_HEALTHY,
	ROLLOUT_UNHEALTHY,
};

struct rollout_device {
	char commit[GITHASH_HEXSZ];  /* the commit health was judged on */
	enum rollout_health health;
	char reason[ROLLOUT_REASON_MAX]; /* why it is unhealthy */
	char last_healthy[GITHASH_HEXSZ];     /* "" none */
	char previous_healthy[GITHASH_HEXSZ]; /* the one before; "" none */
	char rolled_back_from[GITHASH_HEXSZ]; /* its last rollback left this
	                                         commit; "" none */
	char pin[256];               /* `senko pin`'s ref; "" none */
};

/* What a board should get now. */
enum rollout_action {
	ROLLOUT_UPDATE,    /* the source's commit */
	ROLLOUT_PIN,       /* its pin's commit */
	ROLLOUT_ROLLBACK,  /* its last healthy commit */
	ROLLOUT_WAIT,      /* nothing yet: its ring's turn has not come */
	ROLLOUT_HOLD,      /* nothing: the commit is bad or the rollout halted */
};

struct rollout_input {
	const struct rollout_source *source;
	const struct rollout_device *device;
	const char *upstream;  /* the source's commit now */
	unsigned ring;
	bool pinned;           /* a pin (config or `senko pin`) applies */
	bool rollback;         /* the device's rollback key */
};

/* One board of a source, for rollout_advance(). */
struct rollout_board {
	unsigned ring;
	bool pinned;           /* pinned boards are outside the rollout */
	bool reachable;        /* false: offline or busy at its last visit */
	bool healthy;          /* healthy on the source's rollout commit */
};

/* ------------------------------------------------------ pure decisions */

void rollout_source_init(struct rollout_source *s);
void rollout_device_init(struct rollout_device *d);
bool rollout_is_bad(const struct rollout_source *s, const char *commit);
/* Remember commit as bad (idempotent; the oldest is dropped when full). */
void rollout_add_bad(struct rollout_source *s, const char *commit);
/*
 * Upstream is at commit: when it is not the commit being rolled out, a
 * new rollout starts at first_ring (not halted, unless commit is bad).
 * Returns true when s changed.
 */
bool rollout_begin(struct rollout_source *s, const char *commit,
    unsigned first_ring, time_t now);
/*
 * Release the next ring when every reachable, unpinned board of the rings
 * released so far is healthy on s->commit and soak seconds have passed
 * since they all were.  Repeats while it can (soak 0 releases rings whose
 * boards are healthy already).  Returns true when s changed.
 */
bool rollout_advance(struct rollout_source *s,
    const struct rollout_board *boards, size_t n, unsigned soak, time_t now);
/* What the board should get now. */
enum rollout_action rollout_decide(const struct rollout_input *in);
/* When the ring being soaked may be released (epoch seconds), or 0 when
 * no soak is running. */
time_t rollout_soak_ends(const struct rollout_source *s, unsigned soak);
/* The commit a rollback of d goes to: last_healthy unless the board is
 * on it, else previous_healthy; NULL when there is none. */
const char *rollout_rollback_commit(const struct rollout_device *d,
    const char *on_board);
/*
 * Judge what the boot watch saw after an update by dev's health key.
 * Returns true when healthy; otherwise why says what was missing or the
 * traceback's last lines.  A board not watched (reset = none, or
 * boot_watch 0 with health = boot) cannot be judged and counts as
 * healthy.
 */
bool rollout_health_ok(const struct config_device *dev,
    const struct session_boot *boot, char *why, size_t whylen);
/* "update", "pin", "rollback", "wait", "hold" */
const char *rollout_action_name(enum rollout_action a);
const char *rollout_health_name(enum rollout_health h);

/* ------------------------------------------------------------ the files */

/* Take state_dir/rollout.lock (blocks while another process has it).
 * Returns a descriptor for rollout_unlock, or -1 (logged). */
int rollout_lock(const char *state_dir);
void rollout_unlock(int fd);

/* A missing file reads as the init state (0); a corrupt one is -1
 * (logged, s initialised). */
int rollout_source_load(const char *state_dir, const char *source,
    struct rollout_source *s);
int rollout_source_save(const char *state_dir, const char *source,
    const struct rollout_source *s);
int rollout_device_load(const char *state_dir, const char *device,
    struct rollout_device *d);
int rollout_device_save(const char *state_dir, const char *device,
    const struct rollout_device *d);

/* The manifest the board was healthy on at commit (healthy/SHA.json). */
int rollout_healthy_manifest(const char *state_dir, const char *device,
    const char *commit, struct manifest *out);
/*
 * Under the lock: the board is healthy on m->commit (m is saved as its
 * healthy manifest, the one before kept as previous, older ones
 * removed).  rolled_back_from is set when this ended a rollback, cleared
 * otherwise.  Returns 0 or -1 (logged).
 */
int rollout_device_healthy(const char *state_dir, const char *device,
    const struct manifest *m, const char *rolled_back_from);
/* Under the lock: the board holds commit, its health not judged yet
 * (its boot watch was cut short): the next visit watches it. */
int rollout_device_unjudged(const char *state_dir, const char *device,
    const char *commit);
/* Under the lock: the board failed its check on commit, for why. */
int rollout_device_unhealthy(const char *state_dir, const char *device,
    const char *commit, const char *why);
/* Under the lock: mark commit bad for source and halt its rollout,
 * naming device and why.  Returns 0 or -1 (logged). */
int rollout_halt(const char *state_dir, const char *source,
    const char *commit, const char *device, const char *why);

/* pin.json: the ref and the manifest it resolved to. */
int rollout_pin_save(const char *state_dir, const char *device,
    const char *ref, const struct manifest *m);
/* Returns 0 and fills out when pin.json holds ref's manifest, else -1
 * (not logged: the caller resolves the ref). */
int rollout_pin_manifest(const char *state_dir, const char *device,
    const char *ref, struct manifest *out);

/*
 * The manifests a rollback or a pin of device needs, for the object
 * store's garbage collection: every healthy/SHA.json (its last and
 * previous healthy commits; read from the folder, so they are kept even
 * when rollout.json cannot be read) and its pin's, appended to list/n
 * (each entry a manifest the caller releases).
 * Returns 0, or -1 when one exists but cannot be read (logged): what
 * could be read is appended all the same, and the caller decides.
 */
int rollout_kept_manifests(const char *state_dir, const char *device,
    struct manifest **list, size_t *n);

#endif
