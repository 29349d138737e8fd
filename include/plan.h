/*
 * plan.h - what one board needs: upstream manifest minus mirror manifest.
 *
 * A pure computation over two sorted manifests (no I/O), so it is cheap
 * to run for `senko check` and easy to test.
 *
 * - writes: upstream files the mirror lacks or holds with another SHA;
 * - deletes: with prune, mirror files upstream no longer has, and only
 *   when upstream is known complete (manifest.complete).  Only the
 *   mirror is consulted, and the mirror only holds files senko wrote, so a
 *   file the user put on the board is never deleted.  Even without prune,
 *   a mirror file standing where upstream now needs a folder ("lib" was a
 *   file, upstream has "lib/x.py"), or a mirror file below a path upstream
 *   now needs as a file, is deleted: it would block the write;
 * - mkdirs: every parent folder of a written file ("lib", "lib/net" for
 *   "lib/net/x.py"), deduplicated and sorted bytewise, which puts a
 *   parent before its children.  devfs_mkdir_p accepts existing folders.
 *
 * Paths are relative to dest; plan_board_path() makes board paths.  Apply
 * deletes first, then mkdirs, then writes.
 *
 * Ownership: a plan owns its arrays and strings.
 */
#ifndef SENKO_PLAN_H
#define SENKO_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "githash.h"
#include "manifest.h"

struct plan_write {
	char *path;                 /* relative to dest, owned */
	char sha[GITHASH_HEXSZ];
	uint64_t size;
	bool is_new;                /* false: replaces another version */
};

struct plan {
	struct plan_write *writes;  /* sorted by path */
	size_t nwrites;
	char **deletes;             /* sorted by path */
	size_t ndeletes;
	char **mkdirs;              /* parents first */
	size_t nmkdirs;
};

#define PLAN_INIT { NULL, 0, NULL, 0, NULL, 0 }

/*
 * Compute the plan that brings a board holding `mirror` to `upstream`
 * (both sorted, as manifest_sort leaves them).  p is overwritten; release
 * it with plan_release().
 */
void plan_build(struct plan *p, const struct manifest *upstream,
    const struct manifest *mirror, bool prune);
void plan_release(struct plan *p);

/* Nothing to write and nothing to delete. */
bool plan_is_empty(const struct plan *p);
/* Files to write and their total size; either pointer may be NULL. */
void plan_totals(const struct plan *p, size_t *files, uint64_t *bytes);

/*
 * dest + "/" + path: ("/", "a/b.py") -> "/a/b.py", ("/app", "x") ->
 * "/app/x"; an empty path gives dest itself.  The caller frees it.
 */
char *plan_board_path(const char *dest, const char *path);

#endif
