/*
 * forge.h - what the boards should run, asked of GitHub's REST API.
 *
 * One struct forge per process: it owns the HTTP connection (reused for
 * every request), the token, the rate-limit state and per-source state
 * files in state_dir/sources/NAME/.  Per poll and source it makes one
 * conditional request for the branch head; only when the head moved does
 * it read the tree (or, with api = contents, the directory listings) and
 * build a new manifest.  Blobs are fetched once for the whole fleet into
 * the object store, their git hash verified before they are stored.
 *
 * Nothing half-read is acted on: on any failure the stored state (ETags,
 * last commit, manifest) is left as it was and forge_poll returns -1 with
 * a message naming the source and what to check.
 *
 * Not thread-safe: the sync engine polls and fetches from one thread, then
 * hands manifests and store paths to the per-board workers.
 *
 * State, every file written atomically (fs_write_atomic):
 *   state_dir/sources/NAME/state.json     {"fingerprint", "commit", "etag"}:
 *       the branch head's ETag and commit, and a hash of the source's
 *       config (api_url, user, repo, branch, working_dir, files) and of
 *       the API that read the manifest; a config change, or a poll that
 *       fell back from git trees to the contents API, makes the ETag and
 *       manifest count for nothing at the next poll.
 *   state_dir/sources/NAME/manifest.json  the manifest (manifest_to_json),
 *       marked "complete": every listing was read whole.  One without the
 *       mark is read afresh.
 *   state_dir/sources/NAME/contents.json  contents API only: each folder
 *       listing read, {"dir": {"etag", "entries": [...], "capped"}}, so
 *       unchanged folders answer 304 (free with a token).
 * (src/forge/source_state.c keeps these files.)
 *   state_dir/sources/.retry-after        epoch seconds before which no
 *       request is made (rate limits), kept across restarts.
 * manifest.json is written before state.json: a crash between them leaves
 * an old ETag beside a newer manifest, and the next poll asks again.
 *
 * With api = contents, listings are asked with ref=BRANCH (so their ETags
 * survive commits elsewhere) after the head request saw the commit; the
 * contents API has no file modes, so every entry gets 0100644.  It lists
 * at most 1,000 entries of a folder and says nothing of the rest: a
 * listing that long is read again with git trees, or the poll fails.
 * With api = trees, a server without git trees (404) is read with the
 * contents API for that poll only.
 *
 * Bounds: every server-supplied wait is cut to an hour; every request has
 * an overall deadline (http.h); a walk reads at most WALK_MAX_ENTRIES
 * entries in WALK_MAX_REQUESTS requests, a paged tree must answer the
 * page asked (forge/walk.h).
 *
 * HTTP timeouts: SENKO_HTTP_TIMEOUT (seconds, see http.h) for tests.
 */
#ifndef SENKO_FORGE_H
#define SENKO_FORGE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "manifest.h"
#include "store.h"

struct forge;

struct forge_stats {
	unsigned requests;       /* HTTP requests made */
	unsigned not_modified;   /* of which answered 304 */
	unsigned blobs_fetched;
	uint64_t bytes_received; /* response bodies */
	long rate_limit_remaining; /* the last x-ratelimit-remaining seen;
	                          -1 before any (metrics.h, mqtt.h) */
};

/*
 * Create a forge for cfg (api_url, token, ca_file, state_dir).  The store
 * is borrowed and must outlive the forge.  Returns NULL on error (logged),
 * with *config_error set when the configuration is at fault (the token
 * file, a token over plain http): exit 78 for the commands.
 */
struct forge *forge_new(const struct config *cfg, const struct store *store,
    bool *config_error);
void forge_free(struct forge *f);

/*
 * Poll one source.  On success fills *out (which the caller initialised
 * and later releases) with the source's current manifest — read from the
 * saved state when the branch did not move — and sets *changed when the
 * commit or the manifest differs from what the last successful poll saw.
 * Returns 0, or -1 on error (state untouched; see forge_retry_after).
 */
int forge_poll(struct forge *f, const struct config_source *src,
    struct manifest *out, bool *changed);

/*
 * The saved manifest of a source without asking the network (for
 * `senko status` and for boards when the forge is rate-limited).
 * Returns 0, or -1 when there is none yet.
 */
int forge_saved_manifest(const struct config *cfg,
    const struct config_source *src, struct manifest *out);

/*
 * The manifest of ref (a tag, branch or commit SHA) of src: one request
 * resolves it to a commit, then its tree is read as a poll would (nothing
 * is saved in the source's state).  When the commit is known_commit (not
 * NULL), only out->commit is set and 1 is returned: the caller has that
 * manifest.  Returns 0, 1, or -1 (logged).  For pins and rollbacks.
 */
int forge_manifest_at(struct forge *f, const struct config_source *src,
    const char *ref, const char *known_commit, struct manifest *out);

/*
 * Make sure every blob in m is in the object store, fetching the missing
 * ones (a local folder's from its git objects, local_fetch_blob, when
 * it is in a git work tree).  Every missing blob is tried even when
 * others fail; only a rate limit or a stop request ends the round early.  Returns 0, or -1 if any
 * blob is still missing (logged: how many and the first reason).  The
 * caller must then give no board this manifest: a board gets a commit
 * whole or not at all.
 */
int forge_fetch_blobs(struct forge *f, const struct config_source *src,
    const struct manifest *m);

/*
 * When a rate limit or a server's retry-after forbids requests, the time
 * before which no request may be made; 0 when requests are allowed now.
 */
time_t forge_retry_after(const struct forge *f);

/*
 * A flag a signal handler sets (sync_options.stop): while it is nonzero
 * no request starts, and a transfer in progress is aborted within about
 * a second.  stop is borrowed; NULL turns this off.
 */
void forge_set_stop(struct forge *f, volatile sig_atomic_t *stop);

const struct forge_stats *forge_stats(const struct forge *f);

#endif
