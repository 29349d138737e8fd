/*
 * manifest.h - what a source says a board should hold: path -> blob.
 *
 * Paths are relative to the source's working_dir (so relative to the
 * board's dest folder), safe by path.h's rules, and sorted bytewise, so
 * two manifests can be compared by walking both.  The forge produces
 * manifests; the plan compares them with a mirror.
 *
 * Ownership: a manifest owns its entries and their paths.
 */
#ifndef SENKO_MANIFEST_H
#define SENKO_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "githash.h"

struct buf;

struct manifest_entry {
	char *path;
	char sha[GITHASH_HEXSZ]; /* git blob SHA */
	uint64_t size;
	unsigned mode;           /* 0100644 or 0100755 */
};

struct manifest {
	char commit[GITHASH_HEXSZ]; /* "" when unknown */
	struct manifest_entry *entries;
	size_t n;
	size_t alloc;
	/*
	 * The forge read every listing of the source whole: a path missing
	 * here is really gone upstream, so prune may delete it from boards.
	 * False for anything else (mirrors, board listings, partial reads).
	 */
	bool complete;
};

#define MANIFEST_INIT { "", NULL, 0, 0, false }

void manifest_init(struct manifest *m);
void manifest_release(struct manifest *m);
/* dst takes over what src owns; src is left empty. */
void manifest_move(struct manifest *dst, struct manifest *src);
/* Add an entry (copies path); the caller has checked path is safe. */
void manifest_add(struct manifest *m, const char *path, const char *sha,
    uint64_t size, unsigned mode);
/* Sort by path; drops exact duplicates of a path (keeps the last one). */
void manifest_sort(struct manifest *m);
/*
 * Sort by path, keeping duplicates, and return the first path a git tree
 * cannot hold (NULL if none): one listed twice (*twice set), or a file
 * that is also a folder of another file.  The string is m's.
 */
const char *manifest_conflict(struct manifest *m, bool *twice);
const struct manifest_entry *manifest_find(const struct manifest *m,
    const char *path);

/* JSON: {"commit": "...", "complete": true, "files": {"path": {"sha":..,
 * "size":..,"mode":..}}}; "complete" only when set. */
int manifest_to_json(const struct manifest *m, struct buf *out);
/* Parse what manifest_to_json wrote; refuses unsafe paths and bad SHAs. */
int manifest_from_json(struct manifest *m, const char *json, size_t len,
    const char *what);

#endif
