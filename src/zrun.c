/*
 * zrun.c - a raw-deflate stream across a session's files; see zrun.h.
 */
#include <string.h>

#include "buf.h"
#include "log.h"
#include "zrun.h"
#include "banned.h"


int
zrun_wbits(uint64_t free_heap)
{
	int w = 9;

	while (w < 15 && (1ull << (w + 1)) * 24 <= free_heap)
		w++;
	return w;
}

void
zrun_init(struct zrun *z, uint64_t free_heap)
{
	memset(z, 0, sizeof(*z));
	z->wbits = zrun_wbits(free_heap);
	z->chunk = ZRUN_CHUNK;
}

int
zrun_compress(struct zrun *z, const void *data, size_t len,
    struct buf *out, bool *worth, bool *fresh)
{
	unsigned char tmp[2 * ZRUN_CHUNK + 64];
	const unsigned char *p = data;
	int other = 1 - z->cur, rc;
	z_stream *t = &z->zs[other];
	bool reset = z->reset || !z->init[z->cur];
	size_t off, n, clen;

	if (z->init[other])
		deflateEnd(t);
	z->init[other] = false;
	memset(t, 0, sizeof(*t));
	rc = reset ? deflateInit2(t, 9, Z_DEFLATED, -z->wbits, 9,
	    Z_DEFAULT_STRATEGY) : deflateCopy(t, &z->zs[z->cur]);
	if (rc != Z_OK)
		return log_failx("zlib: cannot start compressing (%d)", rc);
	z->init[other] = true;
	buf_reset(out);
	for (off = 0; off < len; off += n) {
		n = len - off < z->chunk ? len - off : z->chunk;
		t->next_in = (Bytef *)p + off;
		t->avail_in = (uInt)n;
		t->next_out = tmp;
		t->avail_out = sizeof(tmp);
		rc = deflate(t, Z_SYNC_FLUSH);
		clen = sizeof(tmp) - t->avail_out;
		if (rc != Z_OK || t->avail_in != 0 || t->avail_out == 0)
			return log_failx("zlib: deflate failed (%d)", rc);
		buf_addch(out, (int)(clen >> 8));
		buf_addch(out, (int)(clen & 0xff));
		if (buf_add(out, tmp, clen) == -1)
			return log_fail("cannot buffer compressed data");
	}
	*worth = out->len < len - len / 32;
	*fresh = reset;
	return 0;
}

void
zrun_commit(struct zrun *z)
{
	z->cur = 1 - z->cur;
	z->reset = false;
}

void
zrun_restart(struct zrun *z)
{
	z->reset = true;
}

void
zrun_release(struct zrun *z)
{
	int i;

	for (i = 0; i < 2; i++)
		if (z->init[i])
			deflateEnd(&z->zs[i]);
	memset(z->init, 0, sizeof(z->init));
}
