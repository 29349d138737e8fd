/*
 * Unit tests for the host-side pieces of repl.c and devfs.c that need no
 * board: quoting data into Python literals, temporary names, host hashes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "buf.h"
#include "devfs.h"
#include "repl.h"

static void
quoted_is(const char *s, size_t len, const char *want)
{
	struct buf b = BUF_INIT;

	repl_quote(&b, s, len);
	assert_string_equal(b.data, want);
	buf_release(&b);
}

static void
test_quote_plain(void **state)
{
	(void)state;
	quoted_is("main.py", 7, "'main.py'");
	quoted_is("", 0, "''");
	quoted_is("/lib/x y.py", 11, "'/lib/x y.py'");
}

static void
test_quote_hostile(void **state)
{
	(void)state;
	/* Quotes and backslashes cannot end the literal early. */
	quoted_is("x'); import os; os.remove('boot.py", 34,
	    "'x\\'); import os; os.remove(\\'boot.py'");
	quoted_is("a\\'b", 4, "'a\\\\\\'b'");
	quoted_is("\"", 1, "'\"'");
	/* Control bytes, incl. the raw REPL's 03/04 and line ends. */
	quoted_is("a\nb\rc\x03\x04\x7f", 8,
	    "'a\\x0ab\\x0dc\\x03\\x04\\x7f'");
	quoted_is("a\0b", 3, "'a\\x00b'");
	/* Triple quotes are just quotes. */
	quoted_is("'''", 3, "'\\'\\'\\''");
}

static void
test_quote_utf8(void **state)
{
	(void)state;
	/* Valid UTF-8 stays text (a str); anything else becomes bytes. */
	quoted_is("caf\xc3\xa9.py", 8, "'caf\xc3\xa9.py'");
	quoted_is("a\xff" "b", 3, "b'a\\xffb'");
	quoted_is("\xc3", 1, "b'\\xc3'");
}

static void
temp_is(const char *path, const char *want)
{
	char *t = devfs_temp_path(path);

	assert_string_equal(t, want);
	free(t);
}

static void
test_temp_path(void **state)
{
	(void)state;
	temp_is("/main.py", "/.main.py.senko-tmp");
	temp_is("/lib/umqtt/simple.py", "/lib/umqtt/.simple.py.senko-tmp");
	temp_is("/x'); y", "/.x'); y.senko-tmp");
}

static int
tmpfile_with(const char *data, size_t len)
{
	char name[] = "/tmp/test_repl.XXXXXX";
	int fd = mkstemp(name);

	assert_true(fd >= 0);
	unlink(name);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	return fd;
}

static void
test_hash_host(void **state)
{
	char hex[DEVFS_HASH_HEXSZ];
	int fd;

	(void)state;
	fd = tmpfile_with("hello\n", 6);
	/* git hash-object; the file position does not matter. */
	assert_int_equal(devfs_hash_host(DEVFS_HASH_GIT_SHA1, fd, hex), 0);
	assert_string_equal(hex, "ce013625030ba8dba906f756967f9e9ca394464a");
	/* sha256sum */
	assert_int_equal(devfs_hash_host(DEVFS_HASH_SHA256, fd, hex), 0);
	assert_string_equal(hex, "5891b5b522d5df086d0ff0b110fbd9d2"
	    "1bb4fc7163af34d08286a2e846f6be03");
	close(fd);
	fd = tmpfile_with("", 0);
	assert_int_equal(devfs_hash_host(DEVFS_HASH_GIT_SHA1, fd, hex), 0);
	assert_string_equal(hex, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
	assert_int_equal(devfs_hash_host(DEVFS_HASH_SHA256, fd, hex), 0);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855");
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote_plain),
		cmocka_unit_test(test_quote_hostile),
		cmocka_unit_test(test_quote_utf8),
		cmocka_unit_test(test_temp_path),
		cmocka_unit_test(test_hash_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
