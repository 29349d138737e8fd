/* Unit tests for zrun.c: the inflate window a board's free heap buys,
 * and the stream read back as a board's inflater reads it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "zrun.h"

/* The free heaps the emulator's profiles report once the agent runs
 * (senko -vv: "agent up: ... heap free"), and the extremes: a 24th of the
 * free heap, as a power of two from 512 bytes to 32 KB. */
static void
test_window_by_free_heap(void **state)
{
	(void)state;
	assert_int_equal(zrun_wbits(0), 9);
	assert_int_equal(zrun_wbits(17568), 9);    /* esp8266 */
	assert_int_equal(zrun_wbits(49151), 10);
	assert_int_equal(zrun_wbits(49152), 11);
	assert_int_equal(zrun_wbits(65584), 11);   /* esp32 */
	assert_int_equal(zrun_wbits(1024 * 1024), 15);
}

/* Inflate what the run sent: segments of a 16-bit length and a raw
 * deflate block that ends with a sync flush, as agent.py inflate() does. */
static void
inflate_segments(const struct buf *wire, int wbits, struct buf *out)
{
	z_stream zs;
	unsigned char tmp[8192];
	size_t off = 0;

	memset(&zs, 0, sizeof(zs));
	assert_int_equal(inflateInit2(&zs, -wbits), Z_OK);
	while (off < wire->len) {
		size_t n;

		assert_true(off + 2 <= wire->len);
		n = (size_t)((unsigned char)wire->data[off] << 8 |
		    (unsigned char)wire->data[off + 1]);
		off += 2;
		assert_true(off + n <= wire->len);
		zs.next_in = (unsigned char *)wire->data + off;
		zs.avail_in = (unsigned)n;
		do {
			zs.next_out = tmp;
			zs.avail_out = sizeof(tmp);
			assert_true(inflate(&zs, Z_SYNC_FLUSH) != Z_STREAM_ERROR);
			buf_add(out, tmp, sizeof(tmp) - zs.avail_out);
		} while (zs.avail_out == 0);
		off += n;
	}
	inflateEnd(&zs);
}

/* Two similar files through one stream: the second costs little, and
 * both come back whole with the board's window. */
static void
test_stream_across_files(void **state)
{
	struct zrun z;
	struct buf a = BUF_INIT, b = BUF_INIT, za = BUF_INIT, zb = BUF_INIT;
	struct buf wire = BUF_INIT, back = BUF_INIT;
	bool worth, fresh;
	int i;

	(void)state;
	for (i = 0; i < 300; i++) {
		buf_addf(&a, "def f%d(x):\n    return x * %d\n", i, i * 7 % 13);
		buf_addf(&b, "def f%d(x):\n    return x * %d\n", i, i * 7 % 11);
	}
	zrun_init(&z, 65584);
	assert_int_equal(zrun_compress(&z, a.data, a.len, &za, &worth,
	    &fresh), 0);
	assert_true(worth);
	assert_true(fresh);
	zrun_commit(&z);
	assert_int_equal(zrun_compress(&z, b.data, b.len, &zb, &worth,
	    &fresh), 0);
	assert_true(worth);
	assert_false(fresh);
	zrun_commit(&z);
	assert_true(zb.len < za.len);
	buf_add(&wire, za.data, za.len);
	buf_add(&wire, zb.data, zb.len);
	inflate_segments(&wire, z.wbits, &back);
	assert_int_equal(back.len, a.len + b.len);
	assert_memory_equal(back.data, a.data, a.len);
	assert_memory_equal(back.data + a.len, b.data, b.len);
	zrun_release(&z);
	buf_release(&a);
	buf_release(&b);
	buf_release(&za);
	buf_release(&zb);
	buf_release(&wire);
	buf_release(&back);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_window_by_free_heap),
		cmocka_unit_test(test_stream_across_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
