/*
 * buf.h - the one growable byte buffer used everywhere (after git's strbuf).
 *
 * Invariants: `data` is never NULL (an empty buffer points at a shared
 * empty string until it grows), and data[len] is always '\0', so a buffer
 * holding text can be used as a C string.  Binary data may contain NULs.
 * Every buffer has a cap (`max`, 0 = BUF_DEFAULT_MAX): growth past it fails
 * with ENOBUFS instead of eating the gateway's memory when a peer sends
 * more than any sane answer.
 *
 * Ownership: the buffer owns `data`.  buf_detach() is the only way to take
 * it; buf_release() frees it and leaves an empty, reusable buffer.
 */
#ifndef SENKO_BUF_H
#define SENKO_BUF_H

#include <stdarg.h>
#include <stddef.h>

#define BUF_DEFAULT_MAX (64u * 1024 * 1024)

struct buf {
	char *data;
	size_t len;
	size_t alloc;
	size_t max;
};

extern char buf_empty[];
#define BUF_INIT { buf_empty, 0, 0, 0 }

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
char *buf_detach(struct buf *b, size_t *len);
void buf_reset(struct buf *b);

/* Each returns 0, or -1 with errno = ENOBUFS when the cap would be passed. */
int buf_grow(struct buf *b, size_t extra);
int buf_add(struct buf *b, const void *data, size_t len);
int buf_addstr(struct buf *b, const char *s);
int buf_addch(struct buf *b, int c);
int buf_addf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_vaddf(struct buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Append len bytes of data as base64 (RFC 4648, with padding). */
int buf_add_base64(struct buf *b, const void *data, size_t len);

/* Append len bytes, dropping the oldest (half the buffer at a time) when
 * the cap would be passed: what a board printed last is kept. */
void buf_add_keeping_tail(struct buf *b, const void *data, size_t len);
/* Remove the first n bytes. */
void buf_consume(struct buf *b, size_t n);
/* Drop trailing whitespace. */
void buf_rtrim(struct buf *b);

#endif
