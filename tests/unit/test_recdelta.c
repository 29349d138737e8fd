/* Unit tests for board/recdelta.c: the record's edit script is small
 * when little changed, and always rebuilds the new record exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "recdelta.h"

/* A version 1 record of n files (compact JSON, sorted keys). */
static void
record(struct buf *b, const char *commit, size_t n, size_t changed,
    const char *sha)
{
	size_t i;

	buf_addf(b, "{\"commit\":\"%s\",\"files\":{", commit);
	for (i = 0; i < n; i++)
		buf_addf(b, "%s\"lib/mod%04zu.py\":\"%s\"", i ? "," : "", i,
		    i == changed ? sha : "0123456789abcdef0123456789abcdef01234567");
	buf_addstr(b, "},\"v\":1}");
}

/* The ops rebuild want from have; returns their length. */
static size_t
roundtrip(const struct buf *have, const struct buf *want)
{
	struct buf ops = BUF_INIT, got = BUF_INIT;
	size_t len;

	assert_int_equal(recdelta_make(have->data, have->len, want->data,
	    want->len, &ops), 0);
	assert_int_equal(recdelta_apply(have->data, have->len, ops.data,
	    ops.len, &got), 0);
	assert_int_equal(got.len, want->len);
	assert_memory_equal(got.data, want->data, want->len);
	len = ops.len;
	buf_release(&ops);
	buf_release(&got);
	return len;
}

static void
test_one_file_of_2000(void **state)
{
	struct buf a = BUF_INIT, b = BUF_INIT;
	size_t n;

	(void)state;
	buf_init(&a, 0);
	record(&a, "1111111111111111111111111111111111111111", 2000, 7,
	    "0123456789abcdef0123456789abcdef01234567");
	record(&b, "2222222222222222222222222222222222222222", 2000, 7,
	    "fedcba9876543210fedcba9876543210fedcba98");
	n = roundtrip(&a, &b);
	/* The commit's token and the file's token, and a few copies: a
	 * sliver of the 130 KB record. */
	assert_true(n < 200);
	buf_release(&a);
	buf_release(&b);
}

static void
test_files_added_and_removed(void **state)
{
	struct buf a = BUF_INIT, b = BUF_INIT;

	(void)state;
	buf_addstr(&a, "{\"commit\":\"a\",\"files\":{\"a.py\":\"1\",\"b.py\":\"2\","
	    "\"c.py\":\"3\"},\"v\":1}");
	buf_addstr(&b, "{\"commit\":\"b\",\"files\":{\"a.py\":\"1\",\"bb.py\":\"9\","
	    "\"c.py\":\"3\",\"d.py\":\"4\"},\"v\":1}");
	roundtrip(&a, &b);
	roundtrip(&b, &a);
	buf_release(&a);
	buf_release(&b);
}

static void
test_unrelated_texts(void **state)
{
	struct buf a = BUF_INIT, b = BUF_INIT, e = BUF_INIT;

	(void)state;
	buf_addstr(&a, "x,y,z,,,");
	buf_addstr(&b, ",,,z,y,x,q");
	roundtrip(&a, &b);
	roundtrip(&a, &e);
	roundtrip(&e, &b);
	buf_release(&a);
	buf_release(&b);
}

static void
test_malformed_ops(void **state)
{
	struct buf out = BUF_INIT;

	(void)state;
	assert_int_equal(recdelta_apply("abc", 3, "C\0\0\4", 4, &out), -1);
	assert_int_equal(recdelta_apply("abc", 3, "I\0\0\5xy", 6, &out), -1);
	assert_int_equal(recdelta_apply("abc", 3, "X\0\0\1", 4, &out), -1);
	assert_int_equal(recdelta_apply("abc", 3, "C\0", 2, &out), -1);
	buf_release(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_file_of_2000),
		cmocka_unit_test(test_files_added_and_removed),
		cmocka_unit_test(test_unrelated_texts),
		cmocka_unit_test(test_malformed_ops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
