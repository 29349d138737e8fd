/*
 * forge/walk.h - internal to the forge: the JSON of git trees and of
 * contents listings turned into manifest entries.
 *
 * Everything here is pure parsing and selection, with no network: the
 * path rules (path.h), working_dir and files, what a MicroPython board
 * cannot hold (symlinks, submodules), names that collide with senko's own
 * files on the board, and the bounds a hostile server must not get past.
 * forge.c fetches and calls these; walk_tree_json() and
 * walk_listing_json() take whole documents, for the fuzz target
 * (tests/fuzz/fuzz_manifest_json.c) and tests.
 *
 * Ownership: a walk borrows the source, the manifest it fills and the
 * caches; every json_t returned is a new reference.
 */
#ifndef SENKO_FORGE_WALK_H
#define SENKO_FORGE_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "manifest.h"

/* GitHub's contents API lists at most this many entries of a folder and
 * says nothing when it cuts: a listing this long may be incomplete. */
#define WALK_CONTENTS_LIST_MAX 1000
/* Bounds for one walk, against a server that never stops answering. */
#define WALK_MAX_ENTRIES 500000  /* tree entries and listing entries read */
#define WALK_MAX_REQUESTS 20000  /* trees, pages and listings asked */
#define WALK_WARN_MAX 20         /* refused entries logged per walk */

struct forge;

/* One manifest being built from a tree or from directory listings. */
struct walk {
	struct forge *f;   /* NULL when parsing without a forge */
	const struct config_source *src;
	struct manifest *m;
	const char *commit; /* the commit walked */
	json_t *old_cache; /* contents: dir -> {etag, entries}; borrowed */
	json_t *new_cache; /* owned by the caller */
	unsigned warned;
	bool wd_found;     /* a folder named working_dir was listed */
	size_t entries;    /* entries read, against WALK_MAX_ENTRIES */
	unsigned requests; /* requests made, against WALK_MAX_REQUESTS */
};

/*
 * Parse a JSON answer in place (lone UTF-16 surrogate escapes are first
 * turned into control characters, so one bad path cannot sink the whole
 * document).  Returns a new reference or NULL with *err set.
 */
json_t *walk_parse_json(char *data, size_t len, json_error_t *err);

/* Count one more request; -1 (logged) past WALK_MAX_REQUESTS. */
int walk_count_request(struct walk *w);

/* Whether a folder of the repository can hold a selected path. */
bool walk_dir_relevant(const struct config_source *src, const char *dir);

/*
 * One entry of a git tree; prefix is the folder the tree lists.  Returns
 * 0 (the entry was added, skipped or refused with a warning) or -1
 * (logged) when the walk has read more than WALK_MAX_ENTRIES.
 */
int walk_tree_entry(struct walk *w, json_t *e, const char *prefix);

/*
 * One listing of the contents API normalised for the cache: an array of
 * {path, type, sha, size} whose paths were checked.  *capped is set when
 * the listing is as long as the API ever answers (it may be cut).  Returns
 * a new reference or NULL (logged).
 */
json_t *walk_normalise_listing(struct walk *w, json_t *list, const char *dir,
    const char *url, bool *capped);

/*
 * One normalised listing entry: a file is added, a folder's path is
 * returned in *subdir (borrowed from e) when it can hold selected paths,
 * anything else is skipped or refused with a warning.  Returns 0 or -1
 * past WALK_MAX_ENTRIES.
 */
int walk_listing_entry(struct walk *w, json_t *e, const char **subdir,
    const char **subdir_sha);

/*
 * A file at path (relative to the repository or folder root, already
 * checked safe) with its blob sha, size and mode: added when working_dir,
 * files and exclude select it and its name is not one senko uses itself.
 */
void walk_add_file(struct walk *w, const char *path, const char *sha,
    uint64_t size, unsigned mode);

void walk_refuse(struct walk *w, const char *path, size_t len,
    const char *why);

/* After a complete walk: warn about each `files =` entry that matched
 * nothing upstream (a typo would otherwise go unnoticed). */
void walk_warn_unmatched_files(const struct walk *w);

/*
 * Whole documents, without a forge: the entries of one git tree answer
 * ({"tree": [...], "truncated": ...}, paths relative to prefix) or of one
 * contents listing of folder dir, added to m (not sorted).  *incomplete
 * says the answer was truncated or capped.  Return 0, or -1 (logged) for
 * a document that is not a tree or a listing.
 */
int walk_tree_json(const struct config_source *src, const char *prefix,
    char *json, size_t len, struct manifest *m, bool *incomplete);
int walk_listing_json(const struct config_source *src, const char *dir,
    char *json, size_t len, struct manifest *m, bool *incomplete);

#endif
