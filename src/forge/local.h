/*
 * forge/local.h - internal to the forge: a source that is a local folder
 * (`[source NAME] path = FOLDER`) instead of a repository on a forge.
 *
 * A poll lists the folder's files: in a git work tree, the checked-out
 * and untracked files git does not ignore (`git ls-files -co
 * --exclude-standard`, so .gitignore, .git/info/exclude and the user's
 * global excludes are honoured exactly as git does); elsewhere every file
 * under the folder but a `.git` folder.  working_dir, files and exclude
 * then select from that list (walk.c).  Each file is read once, hashed as
 * a git blob and the same bytes put in the object store, so what the
 * manifest names is what the store holds even when the file is being
 * written; the manifest's "commit" is a hash of its paths, modes and
 * blobs (what changed, not when).  The manifest is saved like a forge's
 * (source_state.h), so status and the boards see nothing different.
 *
 * Refused with a warning, the rest of the folder still syncing: a symbolic
 * link leading out of the folder (or to anything but a regular file), a
 * FIFO, socket or device, a file over LOCAL_FILE_MAX, an unsafe name.  A
 * missing folder, or git failing in a work tree, fails the poll.
 */
#ifndef SENKO_FORGE_LOCAL_H
#define SENKO_FORGE_LOCAL_H

#include <signal.h>
#include <stdbool.h>

#include "config.h"
#include "buf.h"
#include "http.h"
#include "manifest.h"
#include "store.h"

/* Largest file a local source takes: the forge's blob cap (http.h). */
#define LOCAL_FILE_MAX HTTP_BLOB_MAX
/* How long `git ls-files` may take before it is killed and the poll
 * fails (a work tree on a hung network file system). */
#define LOCAL_GIT_TIMEOUT_MS 30000

/* Poll a local source: fills *out (initialised by the caller), sets
 * *changed when its content differs from the last saved manifest.
 * Returns 0 or -1 (logged, naming the source; saved state untouched);
 * -1 soon after *stop (may be NULL) becomes nonzero. */
int local_poll(const struct config *cfg, const struct store *store,
    const struct config_source *src, struct manifest *out, bool *changed,
    const volatile sig_atomic_t *stop);

/*
 * A blob of a local source that is no longer in the object store (taken
 * by garbage collection): read again with `git cat-file blob SHA` when the
 * folder is in a git work tree (a version ever committed or added is
 * among its objects), verified and stored.  Returns 0, or -1 with why
 * saying what is missing and why it cannot be had (not logged).
 */
int local_fetch_blob(const struct store *store, const struct config_source *src,
    const struct manifest_entry *e, struct buf *why);

#endif
