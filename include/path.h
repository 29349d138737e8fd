/*
 * path.h - the one check every path from the network or a config file
 * passes before senko uses it on the host or on a board.
 *
 * A safe path is relative, uses '/' between non-empty components, has no
 * "." or ".." component, no NUL, control byte (< 0x20, 0x7f) or backslash,
 * is valid UTF-8 and at most PATH_SAFE_MAX bytes.  Board paths must stay
 * inside dest and mirror paths inside the mirror folder: this is what
 * guarantees both.
 */
#ifndef SENKO_PATH_H
#define SENKO_PATH_H

#include <stdbool.h>
#include <stddef.h>

#define PATH_SAFE_MAX 255

/*
 * Returns true if the first len bytes of path form a safe relative path;
 * otherwise false with *why (if not NULL) set to a static reason.
 */
bool path_is_safe(const char *path, size_t len, const char **why);

/* True if the bytes are valid UTF-8 (no overlongs, no surrogates). */
bool utf8_is_valid(const char *s, size_t len);

/* Append a copy of s with control bytes shown as \xNN, for log messages. */
struct buf;
void path_quote(struct buf *out, const char *s, size_t len);
/*
 * Append a board's traceback (or other text) as one such line, the
 * exception first: "ValueError: x (traceback: File ... | ...)".
 */
void path_quote_traceback(struct buf *out, const char *text, size_t len);

#endif
