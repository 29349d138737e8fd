/*
 * record.h - the record senko keeps on each board, relative to dest: the
 * commit and the blob of every file senko wrote, so that a board moved to
 * another gateway, or one whose state_dir was lost, is recognised by
 * hashing, not by sending everything again.
 *
 * Version 2 is split so that one changed file rewrites a page of a few
 * KB, not the whole record (2,000 files: 118 KB of flash, 2 s at the
 * chip's erase and program times):
 *
 *   .senko.json      the index, about 110 bytes:
 *                    {"commit":C,"digest":D,"pages":P,"v":2}
 *   .senko-K.json    page K of P: {"files":{"path":"sha",...},"v":2},
 *                    the files whose path hashes to K (FNV-1a, mod P)
 *
 * D is the git blob SHA-1 of the pages' texts one after the other; P is
 * the smallest power of two that keeps the pages at RECORD_PAGE_FILES
 * files or fewer on average.  Every text is compact JSON with sorted keys, so
 * the same manifest always gives the same bytes: a session compares the
 * hash of the index alone and reads the pages only when it differs.
 * Version 1 (the whole record in one file, {"commit":C,"files":{...},
 * "v":1}, as senko wrote it before) is still read, and is replaced at the
 * next write.
 */
#ifndef SENKO_RECORD_H
#define SENKO_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "githash.h"

struct manifest;

#define RECORD_INDEX_NAME ".senko.json"
#define RECORD_PAGE_FILES 48
#define RECORD_PAGES_MAX 4096
/* An index or page larger than this is refused. */
#define RECORD_TEXT_MAX (4u * 1024 * 1024)

/* A record as texts: owns index and pages[0..npages). */
struct record {
	struct buf index;
	struct buf *pages;
	unsigned npages;
};

#define RECORD_INIT { BUF_INIT, NULL, 0 }

/* What an index says. */
struct record_index {
	int version;                    /* 1 or 2 */
	char commit[GITHASH_HEXSZ];
	char digest[GITHASH_HEXSZ];     /* version 2 */
	unsigned npages;                /* version 2 */
};

/* The record of manifest m (out initialised by the caller).  0 or -1. */
int record_encode(const struct manifest *m, struct record *out);
void record_release(struct record *r);

/* The page of npages (a power of two) that lists path. */
unsigned record_page_of(const char *path, unsigned npages);
/* Page k's file name relative to dest; the caller frees it. */
char *record_page_name(unsigned k);
/* Is rel (relative to dest) the index or a page's name? */
bool record_is_name(const char *rel);

/*
 * Read an index text into ix.  A version 1 record is a whole record: its
 * files go into v1 (initialised by the caller; sizes 0, left empty on
 * failure).  Refuses anything else (invalid JSON, duplicate keys, unsafe
 * paths, bad SHAs, texts over RECORD_TEXT_MAX) and warns why, naming
 * `what` (a record not believed costs hashing, not the session).  0 or
 * -1.
 */
int record_read_index(const char *text, size_t len, const char *what,
    struct record_index *ix, struct manifest *v1);
/*
 * Add page k of an index's npages to out.  A file that does not belong on
 * that page, a bad path or SHA, or invalid JSON is refused.  0 or -1.
 */
int record_read_page(const char *text, size_t len, unsigned k,
    unsigned npages, const char *what, struct manifest *out);
/* Do the pages' texts give the index's digest? */
bool record_digest_matches(const struct record_index *ix,
    const struct buf *pages, unsigned npages);

#endif
