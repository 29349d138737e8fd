/*
 * mirror.h - the host's copy of what one board holds.
 *
 * state_dir/devices/NAME/mirror/ holds the files senko wrote to the
 * board, relative to the device's dest, byte for byte.  The plan compares
 * it with upstream, so it must only ever hold what the board confirmed:
 * the sync engine calls mirror_put() after the board verified a file and
 * mirror_remove() after the board deleted one.  Files a user put on the
 * board are never in the mirror, which is what keeps prune from touching
 * them.
 *
 * Every mirror entry has content: a file whose blob is not in the object
 * store cannot enter the mirror (mirror_replace() leaves it out, so the
 * plan writes it again when upstream wants it).
 *
 * An index (state_dir/devices/NAME/index, written atomically) caches
 * path -> (size, mtime_ns, ctime_ns, inode, sha) so a scan of an
 * unchanged mirror costs one lstat per file and no reads, like git's
 * index.  A file is re-hashed when any of those four stat fields changed
 * or when it was modified within MIRROR_RACY_NS of the index being
 * written (git's "racily clean" rule: such a change might not move the
 * coarse file-system timestamps).  A change that keeps size, mtime, ctime
 * and inode all equal is not seen; changing content moves ctime, so that
 * takes deliberate clock tampering on senko's private state.  The index
 * is only a cache: lost or corrupt, the next scan re-hashes everything.
 *
 * Temporary files live in state_dir/devices/NAME/tmp/ (same file
 * system), never in the mirror, so an interrupted put leaves nothing a
 * scan could mistake for a board file; mirror_open() sweeps them.
 *
 * Every path is checked with path_is_safe() before it touches the disk;
 * scans skip (and log) anything in the mirror folder that is not a
 * regular file under a safe path, and never follow symbolic links.
 *
 * Not thread-safe: one struct mirror per device, used by the one worker
 * that owns that device.
 */
#ifndef SENKO_MIRROR_H
#define SENKO_MIRROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "githash.h"
#include "manifest.h"

struct buf;
struct store;

/* Changes this close to the index write are not trusted (racy-git). */
#define MIRROR_RACY_NS (50ull * 1000 * 1000)

struct mirror_index_entry; /* private to mirror.c */

struct mirror_stats {
	unsigned long files_seen;   /* regular files stat'ed by scans */
	unsigned long files_hashed; /* of which read and hashed */
	uint64_t bytes_hashed;
};

struct mirror {
	char *name;       /* device name, owned */
	char *dir;        /* state_dir/devices/NAME, owned */
	char *root;       /* dir/mirror: the files, owned */
	char *tmp;        /* dir/tmp: temporaries, owned */
	char *index_path; /* dir/index, owned */
	char commit[GITHASH_HEXSZ]; /* commit the board holds; "" unknown */
	struct mirror_index_entry *idx; /* sorted by path, owned */
	size_t nidx;
	size_t aidx;
	uint64_t index_written_ns; /* when the loaded index was written */
	bool dirty;       /* idx or commit differ from the index file */
	char **touched;   /* folders whose entries changed since the last
	                     save, owned: synced before the index says so */
	size_t ntouched;
	char board_digest[65]; /* the board's listing digest when senko
	                          last left it (agent inventory); "" unknown */
	struct mirror_stats stats; /* since mirror_open */
};

/*
 * Open the mirror of device `name` below state_dir, creating its folders
 * and loading the index (missing or corrupt: empty, logged).  Returns 0
 * or -1 (logged); release with mirror_release() either way.
 */
int mirror_open(struct mirror *m, const char *state_dir, const char *name);
void mirror_release(struct mirror *m);

/*
 * List every file in the mirror into out (initialised by the caller,
 * sorted, mode 0100644, out->commit = m->commit), hashing only files the
 * index does not vouch for.  Saves the index when it changed.
 */
int mirror_scan(struct mirror *m, struct manifest *out);

/*
 * The board confirmed `path` now holds blob `sha`: copy the blob from the
 * store into the mirror (temporary file + rename, parents created) and
 * record it in the index without re-hashing (store_open_blob verified
 * it).  The index is saved by mirror_save(), not here.
 */
int mirror_put(struct mirror *m, const struct store *s, const char *path,
    const char *sha);

/*
 * The board no longer has `path`: remove it from the mirror and the index
 * and remove parent folders left empty.  A missing file is not an error.
 */
int mirror_remove(struct mirror *m, const char *path);

/*
 * Make the mirror hold exactly `board` (what senko found by hashing the
 * board): files not in it are removed, files whose content differs are
 * copied from the store, and board->commit becomes the mirror's commit.
 * Entries whose blob is not in the store are left out (logged at debug
 * level), so the plan rewrites them.  Saves the index.  between(arg),
 * if not NULL, is called before each file is written or removed (a
 * board's agent waits meanwhile, and must hear from senko).
 */
int mirror_replace(struct mirror *m, const struct store *s,
    const struct manifest *board, void (*between)(void *), void *arg);

/* The commit the board now holds (NULL or "" = unknown). */
void mirror_set_commit(struct mirror *m, const char *commit);

/*
 * The digest of the board's listing (every path and size below dest) as
 * senko left it, kept in dir/board-digest.  With the record's digest it
 * tells a session that nothing drifted without listing the board.  ""
 * forgets it (before writing to the board).  Written at once, and only
 * when it changed.
 */
#define MIRROR_BOARD_DIGEST_NAME "board-digest"
int mirror_set_board_digest(struct mirror *m, const char *digest);

/* Write the index atomically if it changed. */
int mirror_save(struct mirror *m);

#endif
