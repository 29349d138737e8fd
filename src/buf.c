/*
 * buf.c - growable byte buffer; see buf.h for the invariants.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

#include <openssl/evp.h>

#include "buf.h"
#include "xalloc.h"
#include "banned.h"

char buf_empty[1];

void
buf_init(struct buf *b, size_t max)
{
	b->data = buf_empty;
	b->len = 0;
	b->alloc = 0;
	b->max = max;
}

void
buf_release(struct buf *b)
{
	if (b->alloc)
		free(b->data);
	buf_init(b, b->max);
}

char *
buf_detach(struct buf *b, size_t *len)
{
	char *data;

	if (len)
		*len = b->len;
	data = b->alloc ? b->data : xstrdup("");
	buf_init(b, b->max);
	return data;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	b->data[0] = '\0';
}

int
buf_grow(struct buf *b, size_t extra)
{
	size_t max = b->max ? b->max : BUF_DEFAULT_MAX;
	size_t want, alloc;

	if (extra > max || b->len > max - extra) {
		errno = ENOBUFS;
		return -1;
	}
	want = b->len + extra + 1;
	if (want <= b->alloc)
		return 0;
	alloc = b->alloc ? b->alloc : 64;
	while (alloc < want)
		alloc = alloc * 3 / 2 + 16;
	if (b->alloc == 0) {
		b->data = xmalloc(alloc);
		b->data[0] = '\0';
	} else
		b->data = xrealloc(b->data, alloc);
	b->alloc = alloc;
	return 0;
}

int
buf_add(struct buf *b, const void *data, size_t len)
{
	if (buf_grow(b, len) == -1)
		return -1;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_addstr(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int
buf_addch(struct buf *b, int c)
{
	char ch = (char)c;

	return buf_add(b, &ch, 1);
}

int
buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return -1;
	if (buf_grow(b, (size_t)n) == -1)
		return -1;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vaddf(b, fmt, ap);
	va_end(ap);
	return rc;
}

int
buf_add_base64(struct buf *b, const void *data, size_t len)
{
	size_t n = 4 * ((len + 2) / 3);

	if (buf_grow(b, n) == -1)
		return -1;
	/* EVP_EncodeBlock writes n characters and a NUL: room is there. */
	EVP_EncodeBlock((unsigned char *)b->data + b->len, data, (int)len);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void
buf_add_keeping_tail(struct buf *b, const void *data, size_t len)
{
	size_t max = b->max ? b->max : BUF_DEFAULT_MAX;
	const char *p = data;

	if (len > max) {
		p += len - max;
		len = max;
	}
	while (buf_add(b, p, len) == -1)
		buf_consume(b, b->len > 1 ? b->len / 2 : b->len);
}

void
buf_rtrim(struct buf *b)
{
	while (b->len && isspace((unsigned char)b->data[b->len - 1]))
		b->len--;
	b->data[b->len] = '\0';
}
