/* Unit tests for path.c: what may reach a board or the mirror folder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "path.h"

static int
safe(const char *p)
{
	return path_is_safe(p, strlen(p), NULL);
}

static void
test_good_paths(void **state)
{
	(void)state;
	assert_true(safe("main.py"));
	assert_true(safe("lib/umqtt/simple.py"));
	assert_true(safe("with space.py"));
	assert_true(safe("x'); import os; os.remove('boot.py"));
	assert_true(safe("caf\xc3\xa9.py"));
	assert_true(safe("..hidden"));
	assert_true(safe("a..b"));
}

static void
test_hostile_paths(void **state)
{
	const char *why = NULL;

	(void)state;
	assert_false(safe(""));
	assert_false(safe("/etc/passwd"));
	assert_false(safe("../escape.py"));
	assert_false(safe("a/../../b.py"));
	assert_false(safe("a/.."));
	assert_false(safe("./a"));
	assert_false(safe("a//b"));
	assert_false(safe("a/"));
	assert_false(safe("\x01x.py"));
	assert_false(safe("x\x7f.py"));
	assert_false(safe("a\\b"));
	assert_false(path_is_safe("a\0b", 3, &why));
	assert_string_equal(why, "NUL byte in path");
	assert_false(path_is_safe("../x", 4, &why));
	assert_string_equal(why, "'..' component");
}

static void
test_utf8(void **state)
{
	(void)state;
	assert_true(utf8_is_valid("\xe2\x82\xac", 3));
	assert_true(utf8_is_valid("\xf0\x9f\x98\x80", 4));
	assert_false(utf8_is_valid("\xff", 1));
	assert_false(utf8_is_valid("\xc0\xaf", 2));         /* overlong '/' */
	assert_false(utf8_is_valid("\xed\xa0\x80", 3));     /* surrogate */
	assert_false(utf8_is_valid("\xe2\x82", 2));         /* truncated */
	assert_false(utf8_is_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(safe("\xed\xa0\x80.py"));
}

static void
traceback_is(const char *text, const char *want)
{
	struct buf b = BUF_INIT;

	path_quote_traceback(&b, text, strlen(text));
	assert_string_equal(b.data, want);
	buf_release(&b);
}

static void
test_traceback_line(void **state)
{
	(void)state;
	traceback_is("Traceback (most recent call last):\r\n"
	    "  File \"<stdin>\", line 20, in <module>\r\n"
	    "  File \"<string>\", line 237, in complete\r\n"
	    "ValueError: need more than 2 values to unpack\r\n",
	    "ValueError: need more than 2 values to unpack (traceback: "
	    "File \"<stdin>\", line 20, in <module> | "
	    "File \"<string>\", line 237, in complete)");
	traceback_is("MemoryError", "MemoryError");
	traceback_is("", "");
	traceback_is("\r\n\r\n", "");
	/* Board text stays escaped: it cannot forge a log line. */
	traceback_is("x\x1b[2J\r\nsenko: error: fake\r\n",
	    "senko: error: fake (x\\x1b[2J)");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_paths),
		cmocka_unit_test(test_hostile_paths),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_traceback_line),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
