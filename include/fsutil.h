/*
 * fsutil.h - small file-system helpers shared by the state modules.
 *
 * Every state file senko writes goes through fs_write_atomic(): a
 * temporary file in the same folder, fsync, rename, fsync of the folder,
 * so a power cut leaves either the old or the new file, never a torn one.
 * Errors are logged, naming the path, and returned as -1.
 */
#ifndef SENKO_FSUTIL_H
#define SENKO_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

struct buf;

/* write(2) all of data, retrying on EINTR and short writes; -1 on error
 * with errno set (not logged: the caller names the file). */
int fs_write_all(int fd, const void *data, size_t len);
/*
 * Remove files in dir whose names start with prefix and that are older
 * than max_age seconds: temporaries left by a writer that died.  Links
 * are not followed; errors are ignored (it is housekeeping).
 */
void fs_sweep_stale(const char *dir, const char *prefix, long max_age);
/*
 * The mode of every folder senko creates in state_dir.  A state_dir
 * deleted while senkod runs may be re-created by whichever module writes
 * next (mkdir -p); with this mode it comes back private whoever does.
 */
#define FS_STATE_DIR_MODE 0700
/* mkdir -p; existing folders are fine. */
int fs_mkdir_p(const char *path, mode_t mode);
/* mkdir -p whose last folder is created 0700 (parents 0755; both less
 * the umask).  An existing folder keeps its mode: it is the owner's. */
int fs_mkdir_private(const char *path);
/* mode less the process's umask: what open(2) or mkdir(2) would give.
 * Files made by mkstemp (0600) are widened only this far, never past what
 * the user allows. */
mode_t fs_file_mode(mode_t mode);
/* The file gets fs_file_mode(mode). */
int fs_write_atomic(const char *path, const void *data, size_t len,
    mode_t mode);
/* The same, but the file gets mode whatever the umask: for a file other
 * users must read (metrics_file: node_exporter, under the unit's
 * UMask=0077). */
int fs_write_atomic_mode(const char *path, const void *data, size_t len,
    mode_t mode);
/* Read a whole file into out (appending); honours out's cap. */
int fs_read_file(const char *path, struct buf *out);
/*
 * The same for a file named by a user (a config or token file): anything
 * but a regular file (a folder, a FIFO, a device, which could block or
 * never end) is refused, naming what it is; what says which file it is in
 * messages ("configuration").  st, if not NULL, receives its status.
 */
struct stat;
int fs_read_regular(const char *path, const char *what, struct buf *out,
    struct stat *st);
int fs_fsync_dir(const char *dir);
/* rm -rf; a missing path is fine. */
int fs_remove_tree(const char *path);
/* Create a temporary file "DIR/.NAME.XXXXXX" next to path; returns fd. */
int fs_mkstemp_beside(const char *path, char **tmp_path);

#endif
