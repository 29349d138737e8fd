/*
 * forge/source_state.h - internal to the forge: what it keeps on disk per
 * source, in state_dir/sources/NAME/ (see forge.h for the layout).
 *
 * state.json holds the branch head's ETag and commit and a fingerprint of
 * the source's configuration and of the API that read the manifest; a
 * saved manifest counts only under the fingerprint of the configured API
 * and only when it is marked complete.  manifest.json is written before
 * state.json, every file atomically.
 *
 * Ownership: struct source_state owns its etag (source_state_release);
 * json_t results are new references.
 */
#ifndef SENKO_FORGE_SOURCE_STATE_H
#define SENKO_FORGE_SOURCE_STATE_H

#include <stdbool.h>

#include <jansson.h>

#include "config.h"
#include "githash.h"
#include "manifest.h"

struct buf;

/* What state_dir/sources/NAME/state.json holds. */
struct source_state {
	char fingerprint[GITHASH_HEXSZ];
	char commit[GITHASH_HEXSZ];
	char *etag; /* owned; NULL when none */
};

void source_state_release(struct source_state *st);

/* Read a state file into out (capped); 1 when it does not exist, -1 on
 * error (logged).  out is initialised either way: release it. */
int source_state_read_file(const char *path, struct buf *out);

/*
 * The saved state and manifest of src, if both exist, fit the config (and
 * its configured API) and the manifest is marked complete.  On false, st
 * may hold a state to release and m is empty; why is logged at info level.
 */
bool source_state_load(const struct config *cfg,
    const struct config_source *src, struct source_state *st,
    struct manifest *m);

/* Save state.json for a manifest read with api. */
int source_state_save(const struct config *cfg,
    const struct config_source *src, enum source_api api,
    const char *commit, const char *etag);
/* Save manifest.json and the contents cache (NULL: remove it). */
int source_state_save_manifest(const struct config *cfg,
    const struct config_source *src, const struct manifest *m,
    json_t *contents_cache);
/* The contents API cache: dir -> {etag, entries, capped}; never NULL. */
json_t *source_state_load_contents(const struct config *cfg,
    const struct config_source *src);

/*
 * The repository's default branch, for a source without `branch`:
 * default-branch.json holds it with the repository it belongs to (api_url,
 * user, repo), so it is asked once.  load returns a new string or NULL.
 * A renamed default branch then fails the poll (branch not found) until
 * `branch` is set or the file removed.
 */
char *source_state_load_default_branch(const struct config *cfg,
    const struct config_source *src);
int source_state_save_default_branch(const struct config *cfg,
    const struct config_source *src, const char *branch);

#endif
