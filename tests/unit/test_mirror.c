/*
 * Unit tests for mirror.c: indexed scans that do not re-read unchanged
 * files, atomic puts from the store, removal with folder pruning,
 * replacement from a board's manifest, hostile paths, and the board
 * record's JSON form.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include <cmocka.h>

#include "buf.h"
#include "fsutil.h"
#include "githash.h"
#include "log.h"
#include "manifest.h"
#include "mirror.h"
#include "store.h"

#define SHA_A "1111111111111111111111111111111111111111"
#define SHA_B "2222222222222222222222222222222222222222"

struct fixture {
	char dir[64];
	char *root;    /* the mirror folder */
	struct store store;
	struct mirror m;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/senko-mirror-XXXXXX");
	if (mkdtemp(f->dir) == NULL || store_init(&f->store, f->dir) == -1 ||
	    mirror_open(&f->m, f->dir, "kitchen") == -1)
		return -1;
	if (asprintf(&f->root, "%s/devices/kitchen/mirror", f->dir) == -1)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	mirror_release(&f->m);
	store_release(&f->store);
	fs_remove_tree(f->dir);
	free(f->root);
	free(f);
	return 0;
}

/*
 * Wait until the clock is past the racy window of everything written so
 * far, so the next index write vouches for it (mirror.h's racy rule).
 */
static void
leave_racy_window(void)
{
	struct timespec ts = { 0, (long)MIRROR_RACY_NS + 20 * 1000 * 1000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void
write_file(const char *root, const char *rel, const char *text)
{
	char *path, *dir, *slash;
	FILE *fp;

	assert_true(asprintf(&path, "%s/%s", root, rel) > 0);
	dir = strdup(path);
	slash = strrchr(dir, '/');
	*slash = '\0';
	assert_int_equal(fs_mkdir_p(dir, 0755), 0);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	free(dir);
	free(path);
}

static char *
read_text(const char *root, const char *rel)
{
	struct buf b = BUF_INIT;
	char *path;

	assert_true(asprintf(&path, "%s/%s", root, rel) > 0);
	if (fs_read_file(path, &b) == -1) {
		free(path);
		return NULL;
	}
	free(path);
	return buf_detach(&b, NULL);
}

static bool
exists(const char *root, const char *rel)
{
	char *path;
	struct stat st;
	int rc;

	assert_true(asprintf(&path, "%s/%s", root, rel) > 0);
	rc = lstat(path, &st);
	free(path);
	return rc == 0;
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
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* Store text as a blob and return its SHA in sha. */
static void
add_blob(struct fixture *f, const char *text, char sha[GITHASH_HEXSZ])
{
	assert_int_equal(githash_mem(text, strlen(text), sha), 0);
	assert_int_equal(store_add_mem(&f->store, text, strlen(text), sha), 0);
}

static void
scan(struct fixture *f, struct manifest *out)
{
	manifest_release(out);
	assert_int_equal(mirror_scan(&f->m, out), 0);
}

static void
test_open_creates_folders(void **state)
{
	struct fixture *f = *state;
	struct manifest out = MANIFEST_INIT;
	struct stat st;

	assert_int_equal(stat(f->root, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	scan(f, &out);
	assert_int_equal(out.n, 0);
	assert_string_equal(out.commit, "");
	manifest_release(&out);
}

static void
test_scan_hashes_like_git(void **state)
{
	struct fixture *f = *state;
	struct manifest out = MANIFEST_INIT;
	char want[GITHASH_HEXSZ];

	write_file(f->root, "main.py", "print('hi')\n");
	write_file(f->root, "lib/net/wifi.py", "import network\n");
	write_file(f->root, "boot.py", "");
	scan(f, &out);
	assert_int_equal(out.n, 3);
	/* Sorted bytewise, relative to the mirror. */
	assert_string_equal(out.entries[0].path, "boot.py");
	assert_string_equal(out.entries[1].path, "lib/net/wifi.py");
	assert_string_equal(out.entries[2].path, "main.py");
	githash_mem("print('hi')\n", 12, want);
	assert_string_equal(out.entries[2].sha, want);
	assert_int_equal(out.entries[2].size, 12);
	/* The empty blob, as git hash-object prints it. */
	assert_string_equal(out.entries[0].sha,
	    "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
	manifest_release(&out);
}

static void
test_warm_scan_reads_nothing(void **state)
{
	struct fixture *f = *state;
	struct manifest out = MANIFEST_INIT;
	unsigned long hashed;
	char name[32];
	int i;

	for (i = 0; i < 49; i++) {
		snprintf(name, sizeof(name), "d%d/f%d.py", i % 5, i);
		write_file(f->root, name, name);
	}
	/* The index keeps names with spaces and UTF-8 intact. */
	write_file(f->root, "my dir/caf\xc3\xa9 x.py", "x");
	leave_racy_window();
	scan(f, &out);
	assert_int_equal(out.n, 50);
	assert_int_equal(f->m.stats.files_hashed, 50);
	hashed = f->m.stats.files_hashed;
	scan(f, &out);
	assert_int_equal(out.n, 50);
	assert_int_equal(f->m.stats.files_hashed, hashed);
	assert_int_equal(f->m.stats.files_seen, 100);

	/* The index is on disk: a new process scans warm too. */
	mirror_release(&f->m);
	assert_int_equal(mirror_open(&f->m, f->dir, "kitchen"), 0);
	scan(f, &out);
	assert_int_equal(out.n, 50);
	assert_int_equal(f->m.stats.files_hashed, 0);
	assert_non_null(manifest_find(&out, "my dir/caf\xc3\xa9 x.py"));
	manifest_release(&out);
}

/*
 * Proof that a warm scan trusts the index instead of reading: plant a
 * wrong SHA in the index for a file whose stat data matches, and the scan
 * reports the planted SHA.  (That is the documented limit: a change that
 * keeps size, mtime, ctime and inode is not seen.)
 */
static void
test_index_is_trusted_without_reading(void **state)
{
	struct fixture *f = *state;
	struct manifest out = MANIFEST_INIT;
	char real[GITHASH_HEXSZ], *index, *hit;
	struct buf b = BUF_INIT;

	write_file(f->root, "main.py", "real content\n");
	leave_racy_window();
	scan(f, &out);
	memcpy(real, out.entries[0].sha, sizeof(real));
	mirror_release(&f->m);

	assert_true(asprintf(&index, "%s/devices/kitchen/index", f->dir) > 0);
	assert_int_equal(fs_read_file(index, &b), 0);
	hit = strstr(b.data, real);
	assert_non_null(hit);
	memcpy(hit, SHA_A, GITHASH_HEXLEN);
	assert_int_equal(fs_write_atomic(index, b.data, b.len, 0644), 0);
	buf_release(&b);

	assert_int_equal(mirror_open(&f->m, f->dir, "kitchen"), 0);
	scan(f, &out);
	assert_string_equal(out.entries[0].sha, SHA_A);
	assert_int_equal(f->m.stats.files_hashed, 0);
	manifest_release(&out);
	free(index);
}

static void
test_changed_mtime_is_rehashed(void **state)
{
	struct fixture *f = *state;
	struct manifest out = MANIFEST_INIT;
	struct timespec times[2] = { { 1000000, 0 }, { 1000000, 0 } };
	char *path;

	write_file(f->root, "a.py", "one\n");
	write_file(f->root, "b.py", "two\n");
	leave_racy_window();
	scan(f, &out);
	assert_int_equal(f->m.stats.files_hashed, 2);

	assert_true(asprintf(&path, "%s/a.py", f->root) > 0);
	assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
	scan(f, &out);
	assert_int_equal(f->m.stats.files_hashed, 3);
	free(path);
	manifest_release(&out);
}

/*
 * Add one to field k (0 sha, 1 size, 2 mtime, 3 ctime, 4 inode) of name's
 * line in the saved index, then load the mirror again from it.
 */
static void
alter_index_field(struct fixture *f, const char *name, int k)
{
	struct buf text = BUF_INIT, out = BUF_INIT;
	char *line, *next, *field[6];
	int i;

	assert_int_equal(fs_read_file(f->m.index_path, &text), 0);
	for (line = text.data; *line; line = next) {
		next = strchr(line, '\n');
		*next++ = '\0';
		if (line != text.data && strcmp(strrchr(line, ' ') + 1,
		    name) == 0) {
			long long v[4];

			for (i = 0; i < 6; i++)
				field[i] = strsep(&line, " ");
			for (i = 0; i < 4; i++)
				v[i] = strtoll(field[i + 1], NULL, 10);
			v[k - 1]++;
			buf_addf(&out, "%s %lld %lld %lld %lld %s\n", field[0],
			    v[0], v[1], v[2], v[3], field[5]);
		} else
			buf_addf(&out, "%s\n", line);
	}
	assert_int_equal(fs_write_atomic(f->m.index_path, out.data, out.len,
	    0644), 0);
	buf_release(&text);
	buf_release(&out);
	mirror_release(&f->m);
	assert_int_equal(mirror_open(&f->m, f->dir, "kitchen"), 0);
}

/*
 * Each part of a file's stat key vouches on its own: an index entry that
 * differs from the file in its size, mtime, ctime or inode alone is not
 * believed (on Linux any write moves ctime too, so a test that changes
 * the file cannot tell the other three apart).
 */
static void
test_each_stat_field_vouches(void **state)
{
	static const char *const what[] = { NULL, "size", "mtime", "ctime",
		"inode" };
	struct fixture *f = *state;
	struct manifest out = MANIFEST_INIT;
	int k;

	write_file(f->root, "a.py", "one\n");
	write_file(f->root, "b.py", "two\n");
	leave_racy_window();
	scan(f, &out);
	assert_int_equal(mirror_save(&f->m), 0);
	for (k = 1; k <= 4; k++) {
		alter_index_field(f, "a.py", k);
		scan(f, &out);
		if (f->m.stats.files_hashed != 1)
			fail_msg("an index entry whose %s differs was believed "
			    "(%lu files hashed)", what[k],
			    f->m.stats.files_hashed);
		/* The rescan vouches again: save it for the next field. */
		assert_int_equal(mirror_save(&f->m), 0);
	}
	manifest_release(&out);
}

/*
 * Same size, same mtime, new bytes: the write moves ctime, so the scan
 * sees it even though size and mtime were kept.
 */
static void
test_same_size_and_mtime_caught_by_ctime(void **state)
{
	struct fixture *f = *state;
	struct manifest out = MANIFEST_INIT;
	struct timespec times[2];
	char want[GITHASH_HEXSZ], *path;
	struct stat st;

	write_file(f->root, "a.py", "AAAA\n");
	leave_racy_window();
	scan(f, &out);
	assert_true(asprintf(&path, "%s/a.py", f->root) > 0);
	assert_int_equal(stat(path, &st), 0);
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	leave_racy_window();
	write_file(f->root, "a.py", "BBBB\n");
	assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
	scan(f, &out);
	githash_mem("BBBB\n", 5, want);
	assert_string_equal(out.entries[0].sha, want);
	free(path);
	manifest_release(&out);
}

/*
 * A file whose timestamps are not safely older than the index write is
 * never trusted (a change in the same clock tick would be invisible); a
 * timestamp in the future, after a clock step, stays untrusted.
 */
static void
test_racy_entries_are_rehashed(void **state)
{
	struct fixture *f = *state;
	struct manifest out = MANIFEST_INIT;
	struct timespec times[2];
	char *path;

	write_file(f->root, "a.py", "one\n");
	assert_true(asprintf(&path, "%s/a.py", f->root) > 0);
	clock_gettime(CLOCK_REALTIME, &times[0]);
	times[0].tv_sec += 3600;
	times[1] = times[0];
	assert_int_equal(utimensat(AT_FDCWD, path, times, 0), 0);
	scan(f, &out);
	scan(f, &out);
	scan(f, &out);
	assert_int_equal(f->m.stats.files_hashed, 3);
	free(path);
	manifest_release(&out);
}

static void
test_corrupt_index_rehashes(void **state)
{
	struct fixture *f = *state;
	struct manifest out = MANIFEST_INIT;
	char want[GITHASH_HEXSZ], *index;
	static const char *const bad[] = {
		"garbage\n",
		"senko-mirror-index 1 99999999999999999999 -\n",
		"senko-mirror-index 1 5 -\n" SHA_A " 1 2 3 4 ../evil\n",
		"senko-mirror-index 1 5 -\n" SHA_A " 1 2 3 4 b\n" SHA_A
		    " 1 2 3 4 a\n",
		"senko-mirror-index 1 5 -\n" SHA_A " x 2 3 4 a\n",
		"senko-mirror-index 1 5 -\n" SHA_A " 1 2 3 4 a",
	};
	size_t i;

	write_file(f->root, "a", "content\n");
	githash_mem("content\n", 8, want);
	assert_true(asprintf(&index, "%s/devices/kitchen/index", f->dir) > 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mirror_release(&f->m);
		assert_int_equal(fs_write_atomic(index, bad[i],
		    strlen(bad[i]), 0644), 0);
		assert_int_equal(mirror_open(&f->m, f->dir, "kitchen"), 0);
		assert_int_equal(f->m.nidx, 0);
		scan(f, &out);
		assert_int_equal(out.n, 1);
		assert_string_equal(out.entries[0].sha, want);
		assert_int_equal(f->m.stats.files_hashed, 1);
	}
	free(index);
	manifest_release(&out);
}

static void
test_put_copies_blob_and_indexes(void **state)
{
	struct fixture *f = *state;
	struct manifest out = MANIFEST_INIT;
	char sha[GITHASH_HEXSZ], *text;

	add_blob(f, "import machine\n", sha);
	assert_int_equal(mirror_put(&f->m, &f->store, "lib/hw/pins.py", sha),
	    0);
	text = read_text(f->root, "lib/hw/pins.py");
	assert_string_equal(text, "import machine\n");
	free(text);
	mirror_set_commit(&f->m, SHA_B);
	assert_int_equal(mirror_save(&f->m), 0);
	leave_racy_window();
	/* Saved after the racy window: the put's entry is trusted. */
	f->m.dirty = true;
	assert_int_equal(mirror_save(&f->m), 0);
	scan(f, &out);
	assert_int_equal(out.n, 1);
	assert_string_equal(out.entries[0].sha, sha);
	assert_string_equal(out.commit, SHA_B);
	assert_int_equal(f->m.stats.files_hashed, 0);
	/* Nothing left in the temporary folder. */
	assert_int_equal(count_entries(f->m.tmp), 0);
	manifest_release(&out);
}

static void
test_put_replaces_in_place(void **state)
{
	struct fixture *f = *state;
	struct manifest out = MANIFEST_INIT;
	char one[GITHASH_HEXSZ], two[GITHASH_HEXSZ], *text;

	add_blob(f, "v1\n", one);
	add_blob(f, "version 2\n", two);
	assert_int_equal(mirror_put(&f->m, &f->store, "main.py", one), 0);
	assert_int_equal(mirror_put(&f->m, &f->store, "main.py", two), 0);
	text = read_text(f->root, "main.py");
	assert_string_equal(text, "version 2\n");
	free(text);
	scan(f, &out);
	assert_int_equal(out.n, 1);
	assert_string_equal(out.entries[0].sha, two);
	manifest_release(&out);
}

static void
test_put_missing_blob_fails(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(mirror_put(&f->m, &f->store, "main.py", SHA_A), -1);
	assert_int_equal(errno, ENOENT);
	assert_false(exists(f->root, "main.py"));
	assert_int_equal(f->m.nidx, 0);
}

static void
test_put_file_becomes_folder_and_back(void **state)
{
	struct fixture *f = *state;
	struct manifest out = MANIFEST_INIT;
	char sha[GITHASH_HEXSZ];

	add_blob(f, "x\n", sha);
	assert_int_equal(mirror_put(&f->m, &f->store, "lib", sha), 0);
	assert_int_equal(mirror_put(&f->m, &f->store, "lib/x.py", sha), 0);
	scan(f, &out);
	assert_int_equal(out.n, 1);
	assert_string_equal(out.entries[0].path, "lib/x.py");
	assert_int_equal(mirror_put(&f->m, &f->store, "lib", sha), 0);
	scan(f, &out);
	assert_int_equal(out.n, 1);
	assert_string_equal(out.entries[0].path, "lib");
	manifest_release(&out);
}

static void
test_hostile_paths_refused(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"../escape.py", "/etc/passwd", "a/../../b", "a//b", "./a",
		"a/", "", "a\\b", "a\x01" "b", "lib/\x7f",
	};
	char sha[GITHASH_HEXSZ];
	size_t i;

	add_blob(f, "x\n", sha);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(mirror_put(&f->m, &f->store, bad[i], sha),
		    -1);
		assert_int_equal(mirror_remove(&f->m, bad[i]), -1);
	}
	assert_false(exists(f->dir, "devices/kitchen/escape.py"));
	assert_int_equal(f->m.nidx, 0);
	/* A device name cannot escape state_dir either. */
	mirror_release(&f->m);
	assert_int_equal(mirror_open(&f->m, f->dir, "../x"), -1);
	mirror_release(&f->m);
	assert_int_equal(mirror_open(&f->m, f->dir, "a/b"), -1);
	mirror_release(&f->m);
	assert_int_equal(mirror_open(&f->m, f->dir, "kitchen"), 0);
}

static void
test_scan_skips_links_and_odd_names(void **state)
{
	struct fixture *f = *state;
	struct manifest out = MANIFEST_INIT;
	char *link, *dirlink;

	write_file(f->root, "ok.py", "ok\n");
	write_file(f->dir, "secret", "outside\n");
	write_file(f->root, "bad\x01name", "x\n");
	assert_true(asprintf(&link, "%s/link.py", f->root) > 0);
	assert_true(asprintf(&dirlink, "%s/dirlink", f->root) > 0);
	assert_int_equal(symlink("../../../secret", link), 0);
	assert_int_equal(symlink("/etc", dirlink), 0);
	free(link);
	assert_true(asprintf(&link, "%s/pipe", f->root) > 0);
	assert_int_equal(mkfifo(link, 0600), 0);
	scan(f, &out);
	assert_int_equal(out.n, 1);
	assert_string_equal(out.entries[0].path, "ok.py");
	free(link);
	free(dirlink);
	manifest_release(&out);
}

static void
test_remove_prunes_empty_folders(void **state)
{
	struct fixture *f = *state;
	struct manifest out = MANIFEST_INIT;
	char sha[GITHASH_HEXSZ], *link, *target;

	add_blob(f, "x\n", sha);
	assert_int_equal(mirror_put(&f->m, &f->store, "a/b/c.py", sha), 0);
	assert_int_equal(mirror_put(&f->m, &f->store, "a/keep.py", sha), 0);
	assert_int_equal(mirror_remove(&f->m, "a/b/c.py"), 0);
	assert_false(exists(f->root, "a/b"));
	assert_true(exists(f->root, "a/keep.py"));
	assert_int_equal(mirror_remove(&f->m, "a/keep.py"), 0);
	assert_false(exists(f->root, "a"));
	/* The mirror folder itself stays; a missing file is fine. */
	assert_true(exists(f->root, ""));
	assert_int_equal(mirror_remove(&f->m, "never/was.py"), 0);
	/* Never through a symbolic link out of the mirror. */
	write_file(f->dir, "outside/victim.py", "keep me\n");
	assert_true(asprintf(&link, "%s/lnk", f->root) > 0);
	assert_true(asprintf(&target, "%s/outside", f->dir) > 0);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(mirror_remove(&f->m, "lnk/victim.py"), 0);
	assert_true(exists(f->dir, "outside/victim.py"));
	assert_int_equal(unlink(link), 0);
	free(link);
	free(target);
	scan(f, &out);
	assert_int_equal(out.n, 0);
	manifest_release(&out);
}

static void
test_replace_from_board(void **state)
{
	struct fixture *f = *state;
	struct manifest board = MANIFEST_INIT, out = MANIFEST_INIT;
	char a[GITHASH_HEXSZ], b1[GITHASH_HEXSZ], b2[GITHASH_HEXSZ];
	char c[GITHASH_HEXSZ], *text;

	add_blob(f, "a\n", a);
	add_blob(f, "b1\n", b1);
	add_blob(f, "b2\n", b2);
	add_blob(f, "c\n", c);
	assert_int_equal(mirror_put(&f->m, &f->store, "a.py", a), 0);
	assert_int_equal(mirror_put(&f->m, &f->store, "sub/b.py", b1), 0);

	snprintf(board.commit, sizeof(board.commit), "%s", SHA_B);
	manifest_add(&board, "sub/b.py", b2, 3, 0100644);
	manifest_add(&board, "c.py", c, 2, 0100644);
	manifest_add(&board, "nostore.py", SHA_A, 5, 0100644);
	manifest_sort(&board);
	assert_int_equal(mirror_replace(&f->m, &f->store, &board, NULL, NULL), 0);

	scan(f, &out);
	assert_string_equal(out.commit, SHA_B);
	assert_int_equal(out.n, 2);
	assert_string_equal(out.entries[0].path, "c.py");
	assert_string_equal(out.entries[1].path, "sub/b.py");
	assert_string_equal(out.entries[1].sha, b2);
	text = read_text(f->root, "sub/b.py");
	assert_string_equal(text, "b2\n");
	free(text);
	assert_false(exists(f->root, "a.py"));
	assert_false(exists(f->root, "nostore.py"));
	manifest_release(&board);
	manifest_release(&out);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_open_creates_folders),
		T(test_scan_hashes_like_git),
		T(test_warm_scan_reads_nothing),
		T(test_index_is_trusted_without_reading),
		T(test_changed_mtime_is_rehashed),
		T(test_same_size_and_mtime_caught_by_ctime),
		T(test_each_stat_field_vouches),
		T(test_racy_entries_are_rehashed),
		T(test_corrupt_index_rehashes),
		T(test_put_copies_blob_and_indexes),
		T(test_put_replaces_in_place),
		T(test_put_missing_blob_fails),
		T(test_put_file_becomes_folder_and_back),
		T(test_hostile_paths_refused),
		T(test_scan_skips_links_and_odd_names),
		T(test_remove_prunes_empty_folders),
		T(test_replace_from_board),
	};
#undef T

	log_init("test_mirror", -1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
