/*
 * Unit tests for log.c: what reaches the terminal or the journal.  Text
 * from a board is escaped, a device thread's messages name the device,
 * identical lines are collapsed, and the lines go through the writer the
 * progress display installs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "log.h"

static struct buf out = BUF_INIT;

static void
capture(void *arg, const char *line)
{
	(void)arg;
	buf_addstr(&out, line);
}

static int
setup(void **state)
{
	(void)state;
	log_init("senko", 1, 0);
	log_set_writer(capture, NULL);
	log_set_context(NULL);
	log_flush();
	buf_reset(&out);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	log_flush();
	log_set_writer(NULL, NULL);
	log_set_context(NULL);
	buf_release(&out);
	return 0;
}

static unsigned
count_lines(const char *s)
{
	unsigned n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void
test_escape_control_bytes(void **state)
{
	char e[128];

	(void)state;
	/* An ANSI "clear screen", a bell, a fake second log line. */
	log_escape(e, sizeof(e), "boom\033[2J\a\nsenko: error: fake\r\tx");
	assert_string_equal(e,
	    "boom\\x1b[2J\\x07\\nsenko: error: fake\\r\\tx");
	/* UTF-8 stays; a lone byte that is not UTF-8 is shown as a byte;
	 * U+009B (a one-character CSI for some terminals) is escaped. */
	log_escape(e, sizeof(e), "caf\xc3\xa9 \xff \xc2\x9b" "31m");
	assert_string_equal(e, "caf\xc3\xa9 \\xff \\u009b31m");
	log_escape(e, sizeof(e), "\x7f");
	assert_string_equal(e, "\\x7f");
}

static void
test_escape_cuts_at_a_character(void **state)
{
	char e[6];

	(void)state;
	log_escape(e, sizeof(e), "abc\033def");
	assert_string_equal(e, "abc"); /* "\x1b" does not fit: not half */
	log_escape(e, sizeof(e), "abcd\xc3\xa9");
	assert_string_equal(e, "abcd");
}

static void
test_board_text_is_escaped_in_the_log_and_last_error(void **state)
{
	(void)state;
	log_failx("board said: %s", "Traceback\r\n\033]0;pwned\007");
	assert_null(strchr(out.data, '\033'));
	assert_null(strchr(out.data, '\r'));
	assert_int_equal(count_lines(out.data), 1);
	assert_string_equal(out.data, "senko: error: board said: "
	    "Traceback\\r\\n\\x1b]0;pwned\\x07\n");
	assert_string_equal(log_last_error(),
	    "board said: Traceback\\r\\n\\x1b]0;pwned\\x07");
}

static void
test_context_names_the_device(void **state)
{
	(void)state;
	log_set_context("kitchen");
	log_failx("no serial port /dev/ttyUSB9 (is the board plugged in?)");
	assert_string_equal(out.data, "senko: error: kitchen: no serial port "
	    "/dev/ttyUSB9 (is the board plugged in?)\n");
	/* The record of the device's error does not repeat its name. */
	assert_string_equal(log_last_error(),
	    "no serial port /dev/ttyUSB9 (is the board plugged in?)");
	buf_reset(&out);
	/* A message that names it already is not prefixed twice. */
	log_info("kitchen: soft reset");
	assert_string_equal(out.data, "senko: kitchen: soft reset\n");
	log_set_context(NULL);
	buf_reset(&out);
	log_info("no device here");
	assert_string_equal(out.data, "senko: no device here\n");
}

static void
test_repeated_lines_are_collapsed(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < 1000; i++)
		log_debug("%s: discarding a line of output", "/dev/ttyUSB0");
	log_debug("something else");
	assert_string_equal(out.data,
	    "senko: debug: /dev/ttyUSB0: discarding a line of output\n"
	    "senko: debug: last message repeated 999 times\n"
	    "senko: debug: something else\n");
	buf_reset(&out);
	log_debug("something else");
	log_flush();
	assert_string_equal(out.data,
	    "senko: debug: last message repeated 1 time\n");
	buf_reset(&out);
	/* Same text, another level: a different line. */
	log_info("x");
	log_warnx("x");
	assert_int_equal(count_lines(out.data), 2);
}

static void
test_quiet_thread_still_records(void **state)
{
	(void)state;
	log_init("senko", 0, 0);
	log_thread_quiet(1);
	log_failx("offline again");
	log_thread_quiet(0);
	assert_int_equal(out.len, 0);
	assert_string_equal(log_last_error(), "offline again");
	/* With -v (debug) a quiet thread is printed all the same. */
	log_init("senko", 1, 0);
	log_thread_quiet(1);
	log_failx("offline again");
	log_thread_quiet(0);
	assert_int_equal(count_lines(out.data), 1);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_control_bytes),
		cmocka_unit_test(test_escape_cuts_at_a_character),
		T(test_board_text_is_escaped_in_the_log_and_last_error),
		T(test_context_names_the_device),
		T(test_repeated_lines_are_collapsed),
		T(test_quiet_thread_still_records),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
