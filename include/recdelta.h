/*
 * recdelta.h - the edit that turns the board's record (.senko.json) as it
 * is into the record as it should be, so a session re-sends only what
 * changed (issue 10: "updated without re-sending what did not change").
 *
 * Both texts are cut after every ',' (the record is compact JSON with
 * sorted keys: one token per file, plus the commit and the version), and
 * the new one is described as runs of the old one's bytes and new bytes.
 * The agent (src/board/agent.py, patch()) applies the ops in order to
 * the old file, streaming; each op is one byte and a 24-bit big-endian
 * length:
 *   'C' n   copy the next n bytes of the old record
 *   'S' n   skip the next n bytes of the old record
 *   'I' n   insert the n bytes that follow the op
 * The result is verified on the board by its hash, like any file.
 */
#ifndef SENKO_RECDELTA_H
#define SENKO_RECDELTA_H

#include <stddef.h>

struct buf;

#define RECDELTA_OP_MAX 0xffffffu /* one op's length: 24 bits */

/*
 * Append to out the ops that make new from old.  Returns 0, or -1 (out
 * of its buffer's cap; errno ENOBUFS).
 */
int recdelta_make(const char *old, size_t oldlen, const char *new,
    size_t newlen, struct buf *out);

/*
 * Apply ops to old into out: the host's own check of what the board
 * will do.  Returns 0, or -1 when ops are malformed or run past old.
 */
int recdelta_apply(const char *old, size_t oldlen, const char *ops,
    size_t opslen, struct buf *out);

#endif
