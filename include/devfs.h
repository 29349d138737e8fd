/*
 * devfs.h - files on a board, through the raw REPL.
 *
 * Every path reaches the board's Python as a quoted literal (repl_quote),
 * never spliced into code.  Board paths are absolute ("/lib/x.py").
 *
 * devfs_push() is the fast, safe way files reach a board: one receiver
 * function sent once per connection (never stored on the board), then per
 * file a header and the bytes as raw binary through sys.stdin.buffer,
 * paced by credits from the board, optionally raw-deflate compressed;
 * each file is written to a temporary name in its folder, hashed while
 * written, compared with the host's hash, synced and renamed over the
 * target.  A mismatch deletes the temporary file and retries once.
 */
#ifndef SENKO_DEVFS_H
#define SENKO_DEVFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct repl;

#define DEVFS_HASH_HEXSZ 65

/* What the board can hash with: git's blob SHA-1, or plain SHA-256. */
enum devfs_hash_algo {
	DEVFS_HASH_GIT_SHA1,
	DEVFS_HASH_SHA256,
};

struct devfs_entry {
	char *path; /* absolute board path, owned */
	uint64_t size;
	bool is_dir;
};

struct devfs_list {
	struct devfs_entry *entries;
	size_t n;
};

void devfs_list_release(struct devfs_list *l);

int devfs_mkdir_p(struct repl *r, const char *path);
/* Remove a file; a missing file is not an error. */
int devfs_remove(struct repl *r, const char *path);
int devfs_rename(struct repl *r, const char *from, const char *to);
/* Size of a file; -1 with errno ENOENT when it does not exist. */
int devfs_stat(struct repl *r, const char *path, uint64_t *size,
    bool *is_dir);
/* Every file and folder below dir (recursive), with sizes; a missing dir
 * gives an empty list. */
int devfs_list(struct repl *r, const char *dir, struct devfs_list *out);
/* Read a whole (small) file; -1 with errno ENOENT when missing. */
int devfs_read(struct repl *r, const char *path, struct buf *out);
/* Write a small file atomically (temporary name, verify, rename). */
int devfs_write_small(struct repl *r, const char *path, const void *data,
    size_t len);

/* The algorithm the board hashes with (git SHA-1 when it has sha1). */
enum devfs_hash_algo devfs_hash_algo(struct repl *r);
/* Hash a file on the board in small constant buffers. */
int devfs_hash(struct repl *r, const char *path, char hex[DEVFS_HASH_HEXSZ]);
/* The same hash computed on the host over fd's bytes (from offset 0). */
int devfs_hash_host(enum devfs_hash_algo algo, int fd,
    char hex[DEVFS_HASH_HEXSZ]);

/* The same hash over memory. */
int devfs_hash_mem(enum devfs_hash_algo algo, const void *data, size_t len,
    char hex[DEVFS_HASH_HEXSZ]);

/*
 * Files are written under a temporary name in their own folder, then
 * renamed: "/lib/x.py" is written as "/lib/.x.py.senko-tmp".
 */
#define DEVFS_TEMP_SUFFIX ".senko-tmp"
/* The temporary name for path (a new string, to free). */
char *devfs_temp_path(const char *path);
/* Remove temporary files (names ending in DEVFS_TEMP_SUFFIX) that an
 * interrupted push left below dir. */
int devfs_clean_temps(struct repl *r, const char *dir);

struct devfs_push_item {
	const char *path; /* absolute board path */
	int fd;           /* the bytes, read from offset 0; borrowed */
	uint64_t size;
	int result;       /* out: 0 written and verified, -1 failed */
};

/* Called after each file is verified and renamed on the board. */
typedef void (*devfs_done_fn)(void *arg, const struct devfs_push_item *it);
/* Called as bytes go out, for progress displays (may be NULL). */
typedef void (*devfs_progress_fn)(void *arg, const struct devfs_push_item *it,
    uint64_t sent);

/*
 * Push files; folders must exist (devfs_mkdir_p).  Checks free flash
 * first.  Returns the number of files that failed (0 = all written), or
 * -1 when the connection failed (the files not yet done keep result -1).
 */
int devfs_push(struct repl *r, struct devfs_push_item *items, size_t n,
    devfs_done_fn done, devfs_progress_fn progress, void *arg);

/*
 * Test hook, for tests/helpers only: DEVFS_PUSH_TEST_NO_CREDIT streams
 * without waiting for the board's credits (nor its ready and go answers),
 * to show that a UART FIFO overflows without them and that the hash check
 * catches the loss.  Process-wide.
 */
#define DEVFS_PUSH_TEST_NO_CREDIT 0x1
/* ... DEVFS_PUSH_TEST_WIDE_WINDOW: a window of 4 times the stdin ring. */
#define DEVFS_PUSH_TEST_WIDE_WINDOW 0x2
void devfs_push_set_test_flags(unsigned flags);

#endif
