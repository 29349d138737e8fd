/* Unit tests for buf.c: invariants, growth, the cap. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"

static void
test_empty_is_string(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	assert_non_null(b.data);
	assert_string_equal(b.data, "");
	buf_release(&b);
	assert_string_equal(b.data, "");
}

static void
test_add_and_format(void **state)
{
	struct buf b = BUF_INIT;
	int i;

	(void)state;
	for (i = 0; i < 1000; i++)
		assert_int_equal(buf_addf(&b, "%d,", i), 0);
	assert_int_equal(strncmp(b.data, "0,1,2,", 6), 0);
	assert_int_equal(b.data[b.len], '\0');
	buf_consume(&b, 2);
	assert_int_equal(strncmp(b.data, "1,2,", 4), 0);
	buf_release(&b);
}

static void
test_binary_with_nul(void **state)
{
	struct buf b = BUF_INIT;
	const char bytes[] = { 'a', 0, 'b' };

	(void)state;
	buf_add(&b, bytes, 3);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, bytes, 3);
	buf_release(&b);
}

static void
test_cap_refuses(void **state)
{
	struct buf b;
	char *p;
	size_t len;

	(void)state;
	buf_init(&b, 10);
	assert_int_equal(buf_addstr(&b, "0123456789"), 0);
	errno = 0;
	assert_int_equal(buf_addch(&b, 'x'), -1);
	assert_int_equal(errno, ENOBUFS);
	assert_int_equal(b.len, 10);
	p = buf_detach(&b, &len);
	assert_int_equal(len, 10);
	assert_string_equal(p, "0123456789");
	assert_string_equal(b.data, "");
	free(p);
}

/* Output past the cap: the newest bytes stay, the oldest go, none of the
 * bytes being added is lost (repl_watch lost the one that hit the cap). */
static void
test_keeping_tail(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	buf_init(&b, 8);
	buf_add_keeping_tail(&b, "abcdef", 6);
	buf_add_keeping_tail(&b, "ghij", 4);
	assert_true(b.len <= 8);
	assert_int_equal(memcmp(b.data + b.len - 4, "ghij", 4), 0);
	assert_int_equal(b.data[b.len - 5], 'f');
	buf_add_keeping_tail(&b, "0123456789", 10);
	assert_string_equal(b.data, "23456789");
	buf_add_keeping_tail(&b, "x", 1);
	assert_int_equal(b.data[b.len - 1], 'x');
	assert_int_equal(b.data[b.len - 2], '9');
	buf_release(&b);
}

static void
test_rtrim(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	buf_addstr(&b, "token \r\n\t");
	buf_rtrim(&b);
	assert_string_equal(b.data, "token");
	buf_release(&b);
}

static void
test_base64(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	buf_add_base64(&b, "", 0);
	assert_string_equal(b.data, "");
	buf_add_base64(&b, "f", 1);
	buf_addch(&b, ' ');
	buf_add_base64(&b, "fo", 2);
	buf_addch(&b, ' ');
	buf_add_base64(&b, "foobar", 6);
	buf_addch(&b, ' ');
	buf_add_base64(&b, "\xff\x00\xfe", 3);
	assert_string_equal(b.data, "Zg== Zm8= Zm9vYmFy /wD+");
	buf_release(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty_is_string),
		cmocka_unit_test(test_add_and_format),
		cmocka_unit_test(test_binary_with_nul),
		cmocka_unit_test(test_cap_refuses),
		cmocka_unit_test(test_keeping_tail),
		cmocka_unit_test(test_rtrim),
		cmocka_unit_test(test_base64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
