/*
 * Unit tests for status.c: round trips, a missing file means "unknown",
 * corrupt files and hostile device names are refused, text that is not
 * UTF-8 still saves.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "buf.h"
#include "fsutil.h"
#include "log.h"
#include "path.h"
#include "status.h"

#define SHA_A "1111111111111111111111111111111111111111"

struct fixture {
	char dir[64];
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/senko-status-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	fs_remove_tree(f->dir);
	free(f);
	return 0;
}

static void
write_status_file(struct fixture *f, const char *kind, const char *name,
    const char *text)
{
	char *dir, *path;

	assert_true(asprintf(&dir, "%s/%s/%s", f->dir, kind, name) > 0);
	assert_true(asprintf(&path, "%s/status.json", dir) > 0);
	assert_int_equal(fs_mkdir_p(dir, 0755), 0);
	assert_int_equal(fs_write_atomic(path, text, strlen(text), 0644), 0);
	free(dir);
	free(path);
}

static void
test_missing_is_unknown(void **state)
{
	struct fixture *f = *state;
	struct device_status st;

	memset(&st, 0x5a, sizeof(st));
	assert_int_equal(status_load(f->dir, "kitchen", &st), 0);
	assert_int_equal(st.state, DEVICE_UNKNOWN);
	assert_int_equal(st.last_success, 0);
	assert_string_equal(st.commit, "");
	assert_string_equal(st.last_error, "");
}

static void
test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct device_status st, back;
	struct stat sb;
	char *path;

	status_init(&st);
	st.state = DEVICE_FAILED;
	snprintf(st.commit, sizeof(st.commit), "%s", SHA_A);
	st.last_success = 1764000000;
	st.last_attempt = 1764000300;
	snprintf(st.last_error, sizeof(st.last_error),
	    "board 'kitchen' on '/dev/ttyUSB0': \"no answer\"\n\t\xc3\xa9");
	st.files_sent = 12;
	st.bytes_sent = 5000000000ull;
	st.files_deleted = 3;
	snprintf(st.platform, sizeof(st.platform), "esp32");
	snprintf(st.version, sizeof(st.version), "v1.22.0 on 2023-12-27");
	assert_int_equal(status_save(f->dir, "kitchen", &st), 0);
	assert_true(asprintf(&path, "%s/devices/kitchen/status.json",
	    f->dir) > 0);
	assert_int_equal(stat(path, &sb), 0);
	free(path);

	assert_int_equal(status_load(f->dir, "kitchen", &back), 0);
	assert_int_equal(back.state, DEVICE_FAILED);
	assert_string_equal(back.commit, SHA_A);
	assert_int_equal(back.last_success, st.last_success);
	assert_int_equal(back.last_attempt, st.last_attempt);
	assert_string_equal(back.last_error, st.last_error);
	assert_int_equal(back.files_sent, 12);
	assert_int_equal(back.bytes_sent, 5000000000ull);
	assert_int_equal(back.files_deleted, 3);
	assert_string_equal(back.platform, "esp32");
	assert_string_equal(back.version, st.version);

	/* Overwritten in place: the newest save wins. */
	st.state = DEVICE_IN_SYNC;
	st.last_error[0] = '\0';
	assert_int_equal(status_save(f->dir, "kitchen", &st), 0);
	assert_int_equal(status_load(f->dir, "kitchen", &back), 0);
	assert_int_equal(back.state, DEVICE_IN_SYNC);
	assert_string_equal(back.last_error, "");
}

static void
test_every_state_name_round_trips(void **state)
{
	enum device_state s, back;

	(void)state;
	for (s = DEVICE_UNKNOWN; s <= DEVICE_PENDING; s++) {
		assert_int_equal(status_state_parse(status_state_name(s),
		    &back), 0);
		assert_int_equal(back, s);
	}
	assert_string_equal(status_state_name(DEVICE_IN_SYNC), "in-sync");
	assert_int_equal(status_state_parse("bogus", &back), -1);
}

static void
test_corrupt_files_refused(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"",
		"{",
		"[]",
		"{\"state\":\"on fire\"}",
		"{\"commit\":\"" SHA_A "\"}",
		"{\"state\":\"failed\",\"commit\":\"xyz\"}",
	};
	struct device_status st;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_status_file(f, "devices", "kitchen", bad[i]);
		assert_int_equal(status_load(f->dir, "kitchen", &st), -1);
		assert_int_equal(st.state, DEVICE_UNKNOWN);
	}
}

static void
test_corrupt_source_files_refused(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"",
		"{",
		"[]",
		"{\"state\":\"on fire\"}",
		"{\"state\":\"in-sync\"}",	/* a device's state */
		"{\"commit\":\"" SHA_A "\"}",
		"{\"state\":\"ok\",\"commit\":\"xyz\"}",
	};
	struct source_status st;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_status_file(f, "sources", "app", bad[i]);
		assert_int_equal(source_status_load(f->dir, "app", &st), -1);
		assert_int_equal(st.state, SOURCE_UNKNOWN);
	}
}

static void
test_hostile_device_names(void **state)
{
	struct fixture *f = *state;
	struct device_status st;

	status_init(&st);
	assert_int_equal(status_save(f->dir, "../escape", &st), -1);
	assert_int_equal(status_save(f->dir, "a/b", &st), -1);
	assert_int_equal(status_save(f->dir, "", &st), -1);
	assert_int_equal(status_load(f->dir, "../escape", &st), -1);
}

/* A garbled error from a board is saved (made UTF-8), not lost. */
static void
test_text_not_utf8_is_saved(void **state)
{
	struct fixture *f = *state;
	struct device_status st, back;

	status_init(&st);
	st.state = DEVICE_FAILED;
	snprintf(st.last_error, sizeof(st.last_error), "bad \xff\xfe reply");
	assert_int_equal(status_save(f->dir, "kitchen", &st), 0);
	assert_int_equal(status_load(f->dir, "kitchen", &back), 0);
	assert_string_equal(back.last_error, "bad ?? reply");
}

/* A long error is cut at a character boundary: it stays UTF-8. */
static void
test_long_text_cut_on_character(void **state)
{
	struct fixture *f = *state;
	struct device_status back;
	char *text, *p;
	size_t i;

	text = malloc(4096);
	p = text + snprintf(text, 4096, "{\"state\":\"failed\","
	    "\"last_error\":\"x");
	for (i = 0; i < 600; i++) {
		*p++ = '\xc3';
		*p++ = '\xa9';
	}
	snprintf(p, 16, "\"}");
	write_status_file(f, "devices", "kitchen", text);
	assert_int_equal(status_load(f->dir, "kitchen", &back), 0);
	assert_true(strlen(back.last_error) > 500);
	assert_true(utf8_is_valid(back.last_error,
	    strlen(back.last_error)));
	free(text);
}

#define SHA_B "2222222222222222222222222222222222222222"

/* Record one poll at time t; ok with commit, or failed with error. */
static void
poll_at(struct fixture *f, time_t t, const char *commit, const char *error,
    time_t retry_after)
{
	struct sync_source_result res;

	memset(&res, 0, sizeof(res));
	res.ok = error ? -1 : 0;
	snprintf(res.commit, sizeof(res.commit), "%s", commit);
	snprintf(res.error, sizeof(res.error), "%s", error ? error : "");
	assert_int_equal(source_status_update(f->dir, "app", &res,
	    retry_after, t), 0);
}

static char *
source_file_text(struct fixture *f)
{
	struct buf text = BUF_INIT;
	char *path;

	assert_true(asprintf(&path, "%s/sources/app/status.json", f->dir) > 0);
	assert_int_equal(fs_read_file(path, &text), 0);
	free(path);
	return buf_detach(&text, NULL);
}

/* A source's history through polls that work, fail and are limited. */
static void
test_source_polls(void **state)
{
	struct fixture *f = *state;
	struct source_status st;
	char *before, *after;

	assert_int_equal(source_status_load(f->dir, "app", &st), 0);
	assert_int_equal(st.state, SOURCE_UNKNOWN);

	poll_at(f, 1000, SHA_A, NULL, 0);
	assert_int_equal(source_status_load(f->dir, "app", &st), 0);
	assert_int_equal(st.state, SOURCE_OK);
	assert_string_equal(st.commit, SHA_A);
	assert_int_equal(st.last_poll, 1000);
	assert_int_equal(st.last_success, 1000);
	assert_int_equal(st.failing_since, 0);

	/* Nothing changed: the file's bytes stay, the poll time moves. */
	before = source_file_text(f);
	poll_at(f, 1300, SHA_A, NULL, 0);
	after = source_file_text(f);
	assert_string_equal(before, after);
	free(before);
	free(after);
	assert_int_equal(source_status_load(f->dir, "app", &st), 0);
	assert_int_equal(st.last_poll, 1300);
	assert_int_equal(st.last_success, 1300);

	/* Failing: the last commit seen and the last success are kept. */
	poll_at(f, 1600, "", "source 'app': cannot reach api", 0);
	assert_int_equal(source_status_load(f->dir, "app", &st), 0);
	assert_int_equal(st.state, SOURCE_FAILED);
	assert_string_equal(st.commit, SHA_A);
	assert_string_equal(st.last_error, "source 'app': cannot reach api");
	assert_int_equal(st.failing_since, 1600);
	assert_int_equal(st.last_success, 1300);

	/* Failing again the same way: not rewritten, still failing since
	 * the first failure, and the file's time is no success. */
	before = source_file_text(f);
	poll_at(f, 1900, "", "source 'app': cannot reach api", 0);
	after = source_file_text(f);
	assert_string_equal(before, after);
	free(before);
	free(after);
	assert_int_equal(source_status_load(f->dir, "app", &st), 0);
	assert_int_equal(st.last_poll, 1900);
	assert_int_equal(st.last_success, 1300);
	assert_int_equal(st.failing_since, 1600);

	poll_at(f, 2200, "", "source 'app': rate limit", 3000);
	assert_int_equal(source_status_load(f->dir, "app", &st), 0);
	assert_int_equal(st.state, SOURCE_RATE_LIMITED);
	assert_int_equal(st.retry_after, 3000);
	assert_int_equal(st.failing_since, 1600);

	poll_at(f, 3100, SHA_B, NULL, 0);
	assert_int_equal(source_status_load(f->dir, "app", &st), 0);
	assert_int_equal(st.state, SOURCE_OK);
	assert_string_equal(st.commit, SHA_B);
	assert_int_equal(st.failing_since, 0);
	assert_int_equal(st.retry_after, 0);
	assert_string_equal(st.last_error, "");
	assert_int_equal(st.last_success, 3100);
}

/* "Unknown" is null in the file, never "". */
static void
test_source_file_spells_unknown_null(void **state)
{
	struct fixture *f = *state;
	char *text;

	poll_at(f, 1000, "", "source 'app': refused the token", 0);
	text = source_file_text(f);
	assert_non_null(strstr(text, "\"commit\": null"));
	assert_non_null(strstr(text, "\"last_success\": null"));
	assert_non_null(strstr(text, "\"retry_after\": null"));
	assert_non_null(strstr(text, "\"schema\": 1"));
	assert_null(strstr(text, "\"\""));
	free(text);
}

static void
test_source_corrupt_and_hostile(void **state)
{
	struct fixture *f = *state;
	struct source_status st;
	struct sync_source_result res;

	write_status_file(f, "sources", "app", "{\"state\":\"on fire\"}");
	assert_int_equal(source_status_load(f->dir, "app", &st), -1);
	assert_int_equal(st.state, SOURCE_UNKNOWN);
	/* The next poll replaces it. */
	poll_at(f, 1000, SHA_A, NULL, 0);
	assert_int_equal(source_status_load(f->dir, "app", &st), 0);
	assert_int_equal(st.state, SOURCE_OK);
	memset(&res, 0, sizeof(res));
	assert_int_equal(source_status_update(f->dir, "../x", &res, 0, 1), -1);
	assert_int_equal(source_status_load(f->dir, "a/b", &st), -1);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_missing_is_unknown),
		T(test_round_trip),
		cmocka_unit_test(test_every_state_name_round_trips),
		T(test_corrupt_files_refused),
		T(test_corrupt_source_files_refused),
		T(test_hostile_device_names),
		T(test_text_not_utf8_is_saved),
		T(test_long_text_cut_on_character),
		T(test_source_polls),
		T(test_source_file_spells_unknown_null),
		T(test_source_corrupt_and_hostile),
	};
#undef T

	log_init("test_status", -1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
