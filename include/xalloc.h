/*
 * xalloc.h - allocation that cannot fail.
 *
 * Running out of memory on a gateway is not an error senko can recover
 * from, so these abort with a message instead of making every caller check
 * (tmux's xmalloc.c).  Everything else returns errors.
 */
#ifndef SENKO_XALLOC_H
#define SENKO_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
void *xreallocarray(void *ptr, size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
