/*
 * zrun.h - one raw-deflate stream that runs across the files of a board
 * session, as the board's one inflater reads it.
 *
 * A file is compressed as the next part of the stream, on a copy, so a
 * file that does not shrink (and goes raw) leaves the stream untouched;
 * zrun_commit() makes the copy the stream once the board took the file,
 * zrun_restart() starts anew after the board dropped its inflater.  The
 * file is cut into segments of `chunk` raw bytes, each ending with a sync
 * flush and sent after its 16-bit big-endian compressed length, so the
 * board stages one segment at a time and reads exactly its raw bytes
 * back.  The window (2^wbits bytes) is what the board's heap can spare.
 * Used by push.c's stream and the agent (src/board/agent.c).
 */
#ifndef SENKO_ZRUN_H
#define SENKO_ZRUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

struct buf;

/*
 * Raw bytes per segment, whatever the heap: the board stages a segment
 * whole before it inflates and writes it, and the line waits while the
 * chip writes it, so short segments let the two take short turns.
 * Measured (README, esp32 fresh push, one heap): 4 KB 16.40-16.46 s,
 * 2 KB 15.94, 1.5 KB 15.73-15.78, 1 KB 15.76-15.87 (more framing).
 */
#define ZRUN_CHUNK 1536

struct zrun {
	int wbits;
	size_t chunk;         /* raw bytes per segment: ZRUN_CHUNK */
	z_stream zs[2];       /* the run's stream and a trial copy */
	bool init[2];
	int cur;
	bool reset;           /* the next file starts a fresh stream */
};

/*
 * The inflate window for a board with free_heap bytes free: 1/24 of it,
 * 2^9 .. 2^15 bytes (an ESP8266 with some 30 KB free gets 1 KB).
 */
int zrun_wbits(uint64_t free_heap);

void zrun_init(struct zrun *z, uint64_t free_heap);
/*
 * Compress data as the next part of the stream into out (segments).
 * *worth: it shrank enough to send compressed; *fresh: it starts a new
 * stream (the board must start a new inflater).  Returns 0 or -1.
 */
int zrun_compress(struct zrun *z, const void *data, size_t len,
    struct buf *out, bool *worth, bool *fresh);
void zrun_commit(struct zrun *z);
void zrun_restart(struct zrun *z);
void zrun_release(struct zrun *z);

#endif
