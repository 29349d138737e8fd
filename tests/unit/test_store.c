/* Unit tests for store.c: verified, atomic, concurrent-safe blob storage. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <cmocka.h>

#include "fsutil.h"
#include "log.h"
#include "store.h"

#define HELLO_SHA "ce013625030ba8dba906f756967f9e9ca394464a"

struct fixture {
	char dir[64];
	struct store store;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/senko-store-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	if (store_init(&f->store, f->dir) == -1)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	store_release(&f->store);
	fs_remove_tree(f->dir);
	free(f);
	return 0;
}

static int
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
test_add_and_open(void **state)
{
	struct fixture *f = *state;
	uint64_t size = 0;
	char got[16] = "";
	char *path;
	int fd;

	assert_false(store_has(&f->store, HELLO_SHA));
	assert_int_equal(store_add_mem(&f->store, "hello\n", 6, HELLO_SHA), 0);
	assert_true(store_has(&f->store, HELLO_SHA));
	path = store_blob_path(&f->store, HELLO_SHA);
	assert_non_null(strstr(path, "/objects/ce/0136"));
	free(path);
	fd = store_open_blob(&f->store, HELLO_SHA, &size);
	assert_true(fd >= 0);
	assert_int_equal(size, 6);
	assert_int_equal(read(fd, got, sizeof(got)), 6);
	assert_memory_equal(got, "hello\n", 6);
	close(fd);
}

static void
test_wrong_bytes_refused(void **state)
{
	struct fixture *f = *state;

	log_clear_error();
	assert_int_equal(store_add_mem(&f->store, "hellO\n", 6, HELLO_SHA), -1);
	assert_non_null(strstr(log_last_error(), "refusing blob"));
	assert_false(store_has(&f->store, HELLO_SHA));
	/* No temporary file left behind, no fan-out folder created. */
	assert_int_equal(count_entries(f->store.dir), 0);
}

static void
test_bad_sha_refused(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_add_mem(&f->store, "hello\n", 6,
	    "../../../../../../tmp/x"), -1);
	assert_false(store_has(&f->store, "../../../../../../tmp/x"));
	assert_int_equal(count_entries(f->store.dir), 0);
}

static void
test_corrupt_blob_removed(void **state)
{
	struct fixture *f = *state;
	uint64_t size;
	char *path;
	int fd;

	assert_int_equal(store_add_mem(&f->store, "hello\n", 6, HELLO_SHA), 0);
	path = store_blob_path(&f->store, HELLO_SHA);
	chmod(path, 0644);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "J", 1), 1);
	close(fd);
	errno = 0;
	assert_int_equal(store_open_blob(&f->store, HELLO_SHA, &size), -1);
	assert_int_equal(errno, ENOENT);
	assert_false(store_has(&f->store, HELLO_SHA));
	free(path);
}

static void *
writer(void *arg)
{
	struct fixture *f = arg;
	int i;

	for (i = 0; i < 50; i++)
		if (store_add_mem(&f->store, "hello\n", 6, HELLO_SHA) == -1)
			return (void *)1;
	return NULL;
}

static void
test_concurrent_writers(void **state)
{
	struct fixture *f = *state;
	pthread_t t[4];
	void *rv;
	uint64_t size;
	int i, fd;

	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer, f), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &rv), 0);
		assert_null(rv);
	}
	fd = store_open_blob(&f->store, HELLO_SHA, &size);
	assert_true(fd >= 0);
	close(fd);
	/* Only the fan-out folder: every temporary file was renamed. */
	assert_int_equal(count_entries(f->store.dir), 1);
}

/* Make the blob's file look stored `age` seconds ago. */
static void
age_blob(const struct store *s, const char *sha, time_t age)
{
	char *path = store_blob_path(s, sha);
	struct timespec t[2];

	clock_gettime(CLOCK_REALTIME, &t[0]);
	t[0].tv_sec -= age;
	t[1] = t[0];
	assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
	free(path);
}

static void
test_gc_keeps_listed_and_young(void **state)
{
	struct fixture *f = *state;
	static const char world[] = "world\n";
	char world_sha[GITHASH_HEXSZ], young_sha[GITHASH_HEXSZ];
	const char *keep[] = { HELLO_SHA };
	unsigned removed = 99;

	assert_int_equal(githash_mem(world, strlen(world), world_sha), 0);
	assert_int_equal(githash_mem("young", 5, young_sha), 0);
	assert_int_equal(store_add_mem(&f->store, "hello\n", 6, HELLO_SHA), 0);
	assert_int_equal(store_add_mem(&f->store, world, strlen(world),
	    world_sha), 0);
	assert_int_equal(store_add_mem(&f->store, "young", 5, young_sha), 0);
	age_blob(&f->store, HELLO_SHA, 7200);
	age_blob(&f->store, world_sha, 7200);
	assert_int_equal(store_gc(&f->store, keep, 1, 3600, &removed), 0);
	assert_int_equal(removed, 1);
	assert_true(store_has(&f->store, HELLO_SHA));   /* listed */
	assert_false(store_has(&f->store, world_sha));  /* old, unlisted */
	assert_true(store_has(&f->store, young_sha));   /* in its grace */
}

/* A blob found already stored is about to be used again (a download
 * skipped, a push): store_has dates it now, so a collection within the
 * grace keeps it although no kept list names it yet. */
static void
test_gc_spares_a_reused_blob(void **state)
{
	struct fixture *f = *state;
	const char *keep[] = { HELLO_SHA };
	unsigned removed = 99;
	char *path;
	struct stat st;

	assert_int_equal(store_add_mem(&f->store, "hello\n", 6, HELLO_SHA), 0);
	age_blob(&f->store, HELLO_SHA, 7200);
	assert_true(store_has(&f->store, HELLO_SHA));
	path = store_blob_path(&f->store, HELLO_SHA);
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_mtime >= time(NULL) - 60);
	free(path);
	assert_int_equal(store_gc(&f->store, keep, 0, 3600, &removed), 0);
	assert_int_equal(removed, 0);
	assert_true(store_has(&f->store, HELLO_SHA));
}

static void
test_blob_mode_follows_umask(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	char *path;

	/* The process's umask was read when the first file was written
	 * (fsutil); the tests run with whatever it is. */
	assert_int_equal(store_add_mem(&f->store, "hello\n", 6, HELLO_SHA), 0);
	path = store_blob_path(&f->store, HELLO_SHA);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, fs_file_mode(0444));
	assert_int_equal(fs_file_mode(0777) & 0022, 0);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_and_open, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_wrong_bytes_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_sha_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_blob_removed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_writers, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_gc_keeps_listed_and_young,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_gc_spares_a_reused_blob,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_blob_mode_follows_umask,
		    setup, teardown),
	};

	umask(022);
	log_init("test_store", -1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
