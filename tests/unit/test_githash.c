/* Unit tests for githash.c against known git blob hashes. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "githash.h"

static void
test_known_vectors(void **state)
{
	char hex[GITHASH_HEXSZ];

	(void)state;
	assert_int_equal(githash_mem("", 0, hex), 0);
	assert_string_equal(hex, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
	assert_int_equal(githash_mem("hello\n", 6, hex), 0);
	assert_string_equal(hex, "ce013625030ba8dba906f756967f9e9ca394464a");
}

static void
test_streaming_equals_whole(void **state)
{
	char whole[GITHASH_HEXSZ], parts[GITHASH_HEXSZ];
	static char data[100000];
	struct githash h;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7 + (i >> 8));
	assert_int_equal(githash_mem(data, sizeof(data), whole), 0);
	assert_int_equal(githash_init(&h, sizeof(data)), 0);
	for (i = 0; i < sizeof(data); i += 333) {
		size_t n = sizeof(data) - i < 333 ? sizeof(data) - i : 333;

		assert_int_equal(githash_update(&h, data + i, n), 0);
	}
	assert_int_equal(githash_final(&h, parts), 0);
	assert_string_equal(whole, parts);
}

static void
test_size_mismatch_fails(void **state)
{
	char hex[GITHASH_HEXSZ];
	struct githash h;

	(void)state;
	assert_int_equal(githash_init(&h, 10), 0);
	assert_int_equal(githash_update(&h, "short", 5), 0);
	assert_int_equal(githash_final(&h, hex), -1);
}

static void
test_file(void **state)
{
	char path[] = "/tmp/senko-githash-XXXXXX";
	char hex[GITHASH_HEXSZ];
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "hello\n", 6), 6);
	close(fd);
	assert_int_equal(githash_file(path, hex), 0);
	assert_string_equal(hex, "ce013625030ba8dba906f756967f9e9ca394464a");
	unlink(path);
	assert_int_equal(githash_file(path, hex), -1);
}

static void
test_is_hex(void **state)
{
	(void)state;
	assert_true(githash_is_hex("e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"));
	assert_false(githash_is_hex("E69DE29BB2D1D6434B8B29AE775AD8C2E48C5391"));
	assert_false(githash_is_hex("e69de29bb2d1d6434b8b29ae775ad8c2e48c539"));
	assert_false(githash_is_hex("e69de29bb2d1d6434b8b29ae775ad8c2e48c53910"));
	assert_false(githash_is_hex("../de29bb2d1d6434b8b29ae775ad8c2e48c5391"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_vectors),
		cmocka_unit_test(test_streaming_equals_whole),
		cmocka_unit_test(test_size_mismatch_fails),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_is_hex),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
