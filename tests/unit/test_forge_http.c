/* Unit tests for http.c's pure parts: URL escaping and the timeout knob. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "http.h"
#include "log.h"

static void
escape_keeps_unreserved(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	http_escape(&b, "Az09-._~", false);
	assert_string_equal(b.data, "Az09-._~");
	buf_release(&b);
}

static void
escape_path_keeps_slash(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	http_escape(&b, "lib/a b/c?d#e&f", true);
	assert_string_equal(b.data, "lib/a%20b/c%3Fd%23e%26f");
	buf_reset(&b);
	http_escape(&b, "feature/x", false);
	assert_string_equal(b.data, "feature%2Fx");
	buf_release(&b);
}

static void
escape_utf8_and_controls(void **state)
{
	struct buf b = BUF_INIT;

	(void)state;
	http_escape(&b, "\xc3\xa9\x01%", true);
	assert_string_equal(b.data, "%C3%A9%01%25");
	buf_release(&b);
}

static void
timeout_from_environment(void **state)
{
	(void)state;
	unsetenv("SENKO_HTTP_TIMEOUT");
	assert_int_equal(http_timeout(), 60);
	setenv("SENKO_HTTP_TIMEOUT", "3", 1);
	assert_int_equal(http_timeout(), 3);
	setenv("SENKO_HTTP_TIMEOUT", "3s", 1);
	assert_int_equal(http_timeout(), 60);
	setenv("SENKO_HTTP_TIMEOUT", "0", 1);
	assert_int_equal(http_timeout(), 60);
	unsetenv("SENKO_HTTP_TIMEOUT");
}

static void
transport_error_is_reported(void **state)
{
	struct http *h = http_new("tok", NULL, false);
	struct buf body = BUF_INIT;
	struct http_request rq = { .fd = -1, .body = &body, .max = 1024 };
	struct http_response rs;

	(void)state;
	assert_non_null(h);
	/* Port 1 on the loopback: refused at once, no network needed. */
	rq.url = "http://127.0.0.1:1/repos/a/b/commits/main";
	assert_int_equal(http_get(h, &rq, &rs), -1);
	assert_int_equal(rs.status, 0);
	assert_non_null(rs.error);
	assert_null(strstr(rs.error, "tok"));
	http_response_release(&rs);
	buf_release(&body);
	http_free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(escape_keeps_unreserved),
		cmocka_unit_test(escape_path_keeps_slash),
		cmocka_unit_test(escape_utf8_and_controls),
		cmocka_unit_test(timeout_from_environment),
		cmocka_unit_test(transport_error_is_reported),
	};

	log_init("test_forge_http", -1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
