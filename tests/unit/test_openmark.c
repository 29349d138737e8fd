/*
 * Unit tests for openmark.c: a mark is left only by a process that is
 * gone (or by this one); a live process's mark is its own business; a
 * torn mark counts as left; clearing is quiet; a state folder that cannot
 * be written loses the mark without failing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "fsutil.h"
#include "log.h"
#include "openmark.h"

struct fixture {
	char dir[64];
	pid_t child;    /* a live process, killed by teardown */
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/senko-openmark-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	if (f->child > 0) {
		kill(f->child, SIGKILL);
		waitpid(f->child, NULL, 0);
	}
	fs_remove_tree(f->dir);
	free(f);
	return 0;
}

static void
write_mark(struct fixture *f, const char *text)
{
	char *dir, *path;

	assert_true(asprintf(&dir, "%s/devices/b", f->dir) > 0);
	assert_true(asprintf(&path, "%s/open", dir) > 0);
	assert_int_equal(fs_mkdir_p(dir, 0755), 0);
	assert_int_equal(fs_write_atomic(path, text, strlen(text), 0644), 0);
	free(path);
	free(dir);
}

/* A pid that no process has: a child that has exited and been reaped. */
static long
dead_pid(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	return (long)pid;
}

static void
test_no_mark(void **state)
{
	struct fixture *f = *state;
	char what[64];

	assert_false(openmark_left(f->dir, "b", what, sizeof(what)));
	openmark_clear(f->dir, "b"); /* nothing to clear: quiet */
}

static void
test_own_mark_is_left_until_cleared(void **state)
{
	struct fixture *f = *state;
	char what[64], want[64];

	openmark_set(f->dir, "b", "ls");
	/* This process's own mark: a visit that could not restart it. */
	assert_true(openmark_left(f->dir, "b", what, sizeof(what)));
	snprintf(want, sizeof(want), "an earlier visit of this test_openmark "
	    "(pid %ld)", (long)getpid());
	assert_string_equal(what, want);
	openmark_clear(f->dir, "b");
	assert_false(openmark_left(f->dir, "b", what, sizeof(what)));
}

static void
test_dead_process_left_it(void **state)
{
	struct fixture *f = *state;
	char text[64], what[64], want[64];
	long pid = dead_pid();

	snprintf(text, sizeof(text), "%ld senkod sync\n", pid);
	write_mark(f, text);
	assert_true(openmark_left(f->dir, "b", what, sizeof(what)));
	snprintf(want, sizeof(want), "senkod sync (pid %ld)", pid);
	assert_string_equal(what, want);
}

static void
test_live_process_holds_it(void **state)
{
	struct fixture *f = *state;
	char text[64], what[64];

	f->child = fork();
	assert_true(f->child >= 0);
	if (f->child == 0) {
		pause();
		_exit(0);
	}
	snprintf(text, sizeof(text), "%ld senko ls\n", (long)f->child);
	write_mark(f, text);
	assert_false(openmark_left(f->dir, "b", what, sizeof(what)));
	kill(f->child, SIGKILL);
	waitpid(f->child, NULL, 0);
	f->child = 0;
	assert_true(openmark_left(f->dir, "b", what, sizeof(what)));
}

static void
test_torn_mark_is_left(void **state)
{
	struct fixture *f = *state;
	char what[64];

	write_mark(f, "");
	assert_true(openmark_left(f->dir, "b", what, sizeof(what)));
	assert_string_equal(what, "an earlier senko");
	write_mark(f, "12x senko ls\n");
	assert_true(openmark_left(f->dir, "b", what, sizeof(what)));
}

static void
test_unwritable_state_dir_is_quiet(void **state)
{
	struct fixture *f = *state;
	char *missing, what[64];

	assert_true(asprintf(&missing, "%s/no/such/folder", f->dir) > 0);
	log_clear_error();
	openmark_set(missing, "b", "ls");
	/* No error for the device's visit to report as its own. */
	assert_string_equal(log_last_error(), "");
	assert_false(openmark_left(missing, "b", what, sizeof(what)));
	free(missing);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_no_mark),
		T(test_own_mark_is_left_until_cleared),
		T(test_dead_process_left_it),
		T(test_live_process_holds_it),
		T(test_torn_mark_is_left),
		T(test_unwritable_state_dir_is_quiet),
	};
#undef T

	log_init("test_openmark", -1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
