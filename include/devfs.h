/*
 * devfs.h - files on a board, through the raw REPL.
 *
 * Every path reaches the board's Python as a quoted literal (repl_quote),
 * never spliced into code.  Board paths are absolute ("/lib/x.py").
 * Files reach a board through the board session's agent (board/agent.h);
 * these are the one-shot operations the commands that only read use.
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


#endif
