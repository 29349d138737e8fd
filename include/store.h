/*
 * store.h - the object store: blobs by git blob SHA in state_dir/objects.
 *
 * Laid out like git's loose objects: objects/ab/cdef... (two-hex fan-out).
 * A blob enters only through store_commit(), which re-hashes the bytes on
 * disk and refuses them unless they hash to the expected SHA; then fsync
 * and rename into place, so readers never see a partial or wrong blob and
 * concurrent writers of one blob are harmless (the last rename wins with
 * identical bytes).  store_open_blob() re-verifies before use: a blob
 * corrupted on disk is removed and reported as missing, so the forge
 * fetches it again instead of anyone pushing it to a board.
 *
 * Thread-safe: the struct is read-only after store_init().
 */
#ifndef SENKO_STORE_H
#define SENKO_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "githash.h"

struct store {
	char *dir; /* state_dir/objects, owned */
};

/* A blob being written: the caller writes to fd, then commits or aborts. */
struct store_tmp {
	int fd;
	char *path; /* owned */
};

/* Create state_dir/objects if needed; sweeps stale temporary files. */
int store_init(struct store *s, const char *state_dir);
/* The same for an open store, once per cycle: state_dir/objects may have
 * been deleted under a running daemon. */
int store_prepare(const struct store *s);
void store_release(struct store *s);

/* The path a blob has or would have; the caller frees it. */
char *store_blob_path(const struct store *s, const char *sha);
/*
 * True if a blob file exists (cheap; contents checked at open).  Every
 * caller is about to use the blob (skip its download, push it), so one
 * dated more than STORE_REFRESH_SECONDS ago is dated now: store_gc's
 * grace then covers a reused old blob as it covers a new one.
 */
bool store_has(const struct store *s, const char *sha);
/* A reused blob older than this is dated again (store_has).  store_gc's
 * grace must exceed it by the longest a run uses a blob it checked. */
#define STORE_REFRESH_SECONDS 1800

int store_begin(const struct store *s, struct store_tmp *t);
/* Verify t's bytes hash to sha and move them into place; always ends t. */
int store_commit(const struct store *s, struct store_tmp *t, const char *sha);
void store_abort(struct store_tmp *t);
int store_add_mem(const struct store *s, const void *data, size_t len,
    const char *sha);

/*
 * Open a blob for reading after checking its hash; returns an fd and its
 * size, or -1 (errno ENOENT when missing or found corrupt and removed).
 */
int store_open_blob(const struct store *s, const char *sha, uint64_t *size);

/*
 * Garbage collection: remove every blob whose SHA is not in keep (nkeep
 * SHAs; the array is sorted in place) and that was stored more than
 * grace_seconds ago (fetched, or reused: store_has), so a blob another
 * process (`senko sync` beside senkod) fetched or found for a newer
 * commit is not taken from under it.  Counts
 * removals in *removed.  Returns 0, or -1 when the store cannot be read.
 * Not to be run while the same process downloads or pushes.
 */
int store_gc(const struct store *s, const char **keep, size_t nkeep,
    long grace_seconds, unsigned *removed);

#endif
