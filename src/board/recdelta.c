/*
 * recdelta.c - the board record's edit script (see recdelta.h).
 *
 * Tokens are matched through a hash table of the old record's tokens;
 * the new record is walked once, and a token found in the old record at
 * or after the current position is copied (what lies before it is
 * skipped), anything else is inserted.  Record tokens are unique (one
 * per path), so this greedy walk finds the unchanged runs.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "recdelta.h"
#include "xalloc.h"
#include "banned.h"

struct token {
	size_t off, len;
};

struct tokens {
	struct token *t;
	size_t n;
};

struct table {
	size_t *slot;  /* index + 1 into the old tokens; 0 = empty */
	size_t mask;
};

static void
tokenize(const char *s, size_t len, struct tokens *out)
{
	size_t i, start = 0, alloc = 16;

	out->t = xcalloc(alloc, sizeof(*out->t));
	out->n = 0;
	for (i = 0; i < len; i++) {
		if (s[i] != ',' && i + 1 < len)
			continue;
		if (out->n == alloc) {
			alloc *= 2;
			out->t = xreallocarray(out->t, alloc, sizeof(*out->t));
		}
		out->t[out->n].off = start;
		out->t[out->n].len = i + 1 - start;
		out->n++;
		start = i + 1;
	}
}

static uint64_t
fnv1a(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static void
table_build(struct table *tb, const char *s, const struct tokens *tk)
{
	size_t size = 16, i, j;

	while (size < tk->n * 2)
		size *= 2;
	tb->slot = xcalloc(size, sizeof(*tb->slot));
	tb->mask = size - 1;
	for (i = 0; i < tk->n; i++) {
		j = fnv1a(s + tk->t[i].off, tk->t[i].len) & tb->mask;
		while (tb->slot[j])
			j = (j + 1) & tb->mask;
		tb->slot[j] = i + 1;
	}
}

/* The first old token equal to (s, len) at index >= from, or -1. */
static long
table_find(const struct table *tb, const char *old, const struct tokens *tk,
    const char *s, size_t len, size_t from)
{
	size_t j = fnv1a(s, len) & tb->mask, best = SIZE_MAX, i;

	for (; tb->slot[j]; j = (j + 1) & tb->mask) {
		i = tb->slot[j] - 1;
		if (i >= from && i < best && tk->t[i].len == len &&
		    memcmp(old + tk->t[i].off, s, len) == 0)
			best = i;
	}
	return best == SIZE_MAX ? -1 : (long)best;
}

static int
add_op(struct buf *out, int op, size_t n, const char *bytes)
{
	unsigned char h[4];

	while (n > 0) {
		size_t k = n > RECDELTA_OP_MAX ? RECDELTA_OP_MAX : n;

		h[0] = (unsigned char)op;
		h[1] = (unsigned char)(k >> 16);
		h[2] = (unsigned char)(k >> 8);
		h[3] = (unsigned char)k;
		if (buf_add(out, h, 4) == -1 ||
		    (bytes != NULL && buf_add(out, bytes, k) == -1))
			return -1;
		if (bytes != NULL)
			bytes += k;
		n -= k;
	}
	return 0;
}

/* Runs of one kind are gathered before they become an op. */
struct pending {
	int op;
	size_t off, len;  /* for 'I': in new; else a length of old */
};

static int
flush(struct buf *out, struct pending *p, const char *new)
{
	int rc = 0;

	if (p->len > 0)
		rc = add_op(out, p->op, p->len, p->op == 'I' ? new + p->off :
		    NULL);
	p->len = 0;
	return rc;
}

static int
push_run(struct buf *out, struct pending *p, const char *new, int op,
    size_t off, size_t len)
{
	if (p->len > 0 && p->op == op && (op != 'I' || p->off + p->len == off)) {
		p->len += len;
		return 0;
	}
	if (flush(out, p, new) == -1)
		return -1;
	p->op = op;
	p->off = off;
	p->len = len;
	return 0;
}

int
recdelta_make(const char *old, size_t oldlen, const char *new,
    size_t newlen, struct buf *out)
{
	struct tokens to, tn;
	struct table tb;
	struct pending p = { 0, 0, 0 };
	size_t i, pos = 0, skip;
	long k;
	int rc = -1;

	tokenize(old, oldlen, &to);
	tokenize(new, newlen, &tn);
	table_build(&tb, old, &to);
	for (i = 0; i < tn.n; i++) {
		const struct token *t = &tn.t[i];

		k = table_find(&tb, old, &to, new + t->off, t->len, pos);
		if (k < 0) {
			if (push_run(out, &p, new, 'I', t->off, t->len) == -1)
				goto out;
			continue;
		}
		skip = to.t[k].off - (pos < to.n ? to.t[pos].off : oldlen);
		if (skip > 0 && push_run(out, &p, new, 'S', 0, skip) == -1)
			goto out;
		if (push_run(out, &p, new, 'C', 0, t->len) == -1)
			goto out;
		pos = (size_t)k + 1;
	}
	rc = flush(out, &p, new);
out:
	free(to.t);
	free(tn.t);
	free(tb.slot);
	return rc;
}

int
recdelta_apply(const char *old, size_t oldlen, const char *ops,
    size_t opslen, struct buf *out)
{
	const unsigned char *o = (const unsigned char *)ops;
	size_t i = 0, pos = 0, n;

	while (i < opslen) {
		if (opslen - i < 4)
			goto bad;
		n = (size_t)o[i + 1] << 16 | (size_t)o[i + 2] << 8 | o[i + 3];
		switch (o[i]) {
		case 'C':
			if (n > oldlen - pos || buf_add(out, old + pos, n) == -1)
				goto bad;
			pos += n;
			i += 4;
			break;
		case 'S':
			if (n > oldlen - pos)
				goto bad;
			pos += n;
			i += 4;
			break;
		case 'I':
			if (n > opslen - i - 4 || buf_add(out, ops + i + 4, n) ==
			    -1)
				goto bad;
			i += 4 + n;
			break;
		default:
			goto bad;
		}
	}
	return 0;
bad:
	errno = EINVAL;
	return -1;
}
