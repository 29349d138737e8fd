/*
 * Unit tests for plan.c: what to write, what prune may delete (only files
 * senko wrote), parent folders in creation order, totals, board paths.
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
#include "manifest.h"
#include "plan.h"

#define SHA_A "1111111111111111111111111111111111111111"
#define SHA_B "2222222222222222222222222222222222222222"
#define SHA_C "3333333333333333333333333333333333333333"

static void
add(struct manifest *m, const char *path, const char *sha, uint64_t size)
{
	manifest_add(m, path, sha, size, 0100644);
	manifest_sort(m);
}

static bool
has(char **v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static void
test_writes_new_and_changed_only(void **state)
{
	struct manifest up = MANIFEST_INIT, mir = MANIFEST_INIT;
	struct plan p;
	size_t files;
	uint64_t bytes;

	(void)state;
	add(&up, "same.py", SHA_A, 10);
	add(&up, "changed.py", SHA_B, 20);
	add(&up, "new.py", SHA_C, 300);
	add(&mir, "same.py", SHA_A, 10);
	add(&mir, "changed.py", SHA_A, 7);
	plan_build(&p, &up, &mir, false);
	assert_int_equal(p.nwrites, 2);
	assert_string_equal(p.writes[0].path, "changed.py");
	assert_string_equal(p.writes[0].sha, SHA_B);
	assert_false(p.writes[0].is_new);
	assert_string_equal(p.writes[1].path, "new.py");
	assert_true(p.writes[1].is_new);
	assert_int_equal(p.ndeletes, 0);
	assert_int_equal(p.nmkdirs, 0);
	assert_false(plan_is_empty(&p));
	plan_totals(&p, &files, &bytes);
	assert_int_equal(files, 2);
	assert_int_equal(bytes, 320);
	plan_totals(&p, NULL, NULL);
	plan_release(&p);
	manifest_release(&up);
	manifest_release(&mir);
}

static void
test_in_sync_is_empty(void **state)
{
	struct manifest up = MANIFEST_INIT, mir = MANIFEST_INIT;
	struct plan p;
	size_t files = 9;
	uint64_t bytes = 9;

	(void)state;
	plan_build(&p, &up, &mir, true);
	assert_true(plan_is_empty(&p));
	plan_release(&p);
	add(&up, "lib/a.py", SHA_A, 1);
	add(&mir, "lib/a.py", SHA_A, 1);
	plan_build(&p, &up, &mir, true);
	assert_true(plan_is_empty(&p));
	assert_int_equal(p.nmkdirs, 0);
	plan_totals(&p, &files, &bytes);
	assert_int_equal(files, 0);
	assert_int_equal(bytes, 0);
	plan_release(&p);
	manifest_release(&up);
	manifest_release(&mir);
}

/*
 * Prune deletes only what the mirror holds (files senko wrote); a file the
 * user put on the board is in neither manifest, so it can never appear.
 */
static void
test_prune_semantics(void **state)
{
	struct manifest up = MANIFEST_INIT, mir = MANIFEST_INIT;
	struct plan p;

	(void)state;
	add(&up, "main.py", SHA_A, 1);
	add(&mir, "main.py", SHA_A, 1);
	add(&mir, "old.py", SHA_B, 1);
	add(&mir, "lib/gone.py", SHA_B, 1);
	up.complete = true;

	plan_build(&p, &up, &mir, false);
	assert_int_equal(p.ndeletes, 0);
	assert_true(plan_is_empty(&p));
	plan_release(&p);

	plan_build(&p, &up, &mir, true);
	assert_int_equal(p.ndeletes, 2);
	assert_string_equal(p.deletes[0], "lib/gone.py");
	assert_string_equal(p.deletes[1], "old.py");
	assert_false(has(p.deletes, p.ndeletes, "user_settings.json"));
	assert_false(has(p.deletes, p.ndeletes, "main.py"));
	assert_false(plan_is_empty(&p));
	plan_release(&p);
	manifest_release(&up);
	manifest_release(&mir);
}

/*
 * An upstream manifest not known complete (a listing may have been cut)
 * never lets prune delete: a path missing from it may still be upstream.
 * What blocks upstream's layout still goes.
 */
static void
test_prune_needs_a_complete_manifest(void **state)
{
	struct manifest up = MANIFEST_INIT, mir = MANIFEST_INIT;
	struct plan p;

	(void)state;
	add(&up, "main.py", SHA_A, 1);
	add(&up, "lib/x.py", SHA_A, 1);
	add(&mir, "main.py", SHA_A, 1);
	add(&mir, "many/f1099.py", SHA_B, 1);
	add(&mir, "lib", SHA_B, 1);
	assert_false(up.complete);
	plan_build(&p, &up, &mir, true);
	assert_int_equal(p.ndeletes, 1);
	assert_string_equal(p.deletes[0], "lib");
	plan_release(&p);
	up.complete = true;
	plan_build(&p, &up, &mir, true);
	assert_int_equal(p.ndeletes, 2);
	assert_true(has(p.deletes, p.ndeletes, "many/f1099.py"));
	plan_release(&p);
	manifest_release(&up);
	manifest_release(&mir);
}

/* The complete mark survives the manifest's JSON form, and only a mark
 * written as true counts. */
static void
test_manifest_json_keeps_complete(void **state)
{
	struct manifest m = MANIFEST_INIT, back = MANIFEST_INIT;
	struct buf b = BUF_INIT;
	static const char old[] = "{\"commit\": \"\", \"files\": {}}";

	(void)state;
	add(&m, "main.py", SHA_A, 1);
	m.complete = true;
	assert_int_equal(manifest_to_json(&m, &b), 0);
	assert_int_equal(manifest_from_json(&back, b.data, b.len, "t"), 0);
	assert_true(back.complete);
	assert_int_equal(back.n, 1);
	manifest_release(&back);
	assert_false(back.complete);
	assert_int_equal(manifest_from_json(&back, old, strlen(old), "t"), 0);
	assert_false(back.complete);
	manifest_release(&back);
	manifest_release(&m);
	buf_release(&b);
}

static void
test_mkdirs_parents_first(void **state)
{
	struct manifest up = MANIFEST_INIT, mir = MANIFEST_INIT;
	static const char *const want[] = {
		"a", "a/b", "a/b/c", "lib", "lib-extra", "lib/net",
	};
	struct plan p;
	size_t i, j;

	(void)state;
	add(&up, "lib/net/wifi.py", SHA_A, 1);
	add(&up, "lib/net/mqtt.py", SHA_A, 1);
	add(&up, "lib/util.py", SHA_A, 1);
	add(&up, "lib-extra/z.py", SHA_A, 1);
	add(&up, "a/b/c/d.py", SHA_A, 1);
	add(&up, "top.py", SHA_A, 1);
	add(&up, "kept/unchanged.py", SHA_B, 1);
	add(&mir, "kept/unchanged.py", SHA_B, 1);
	plan_build(&p, &up, &mir, false);
	assert_int_equal(p.nmkdirs, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < p.nmkdirs; i++)
		assert_string_equal(p.mkdirs[i], want[i]);
	/* Every folder's parents come before it. */
	for (i = 0; i < p.nmkdirs; i++) {
		for (j = i + 1; j < p.nmkdirs; j++) {
			size_t len = strlen(p.mkdirs[j]);

			assert_false(strncmp(p.mkdirs[i], p.mkdirs[j],
			    len) == 0 && p.mkdirs[i][len] == '/');
		}
	}
	plan_release(&p);
	manifest_release(&up);
	manifest_release(&mir);
}

/* Files senko wrote that block upstream's new layout go even without
 * prune; nothing else does. */
static void
test_layout_conflicts_deleted_without_prune(void **state)
{
	struct manifest up = MANIFEST_INIT, mir = MANIFEST_INIT;
	struct plan p;

	(void)state;
	add(&mir, "lib", SHA_A, 1);          /* now a folder upstream */
	add(&mir, "cfg/a.json", SHA_A, 1);   /* cfg is now a file */
	add(&mir, "cfg/b/c.json", SHA_A, 1);
	add(&mir, "libx", SHA_A, 1);         /* unrelated: kept */
	add(&mir, "li", SHA_A, 1);           /* unrelated: kept */
	add(&up, "lib/x.py", SHA_B, 1);
	add(&up, "cfg", SHA_B, 1);
	plan_build(&p, &up, &mir, false);
	assert_int_equal(p.ndeletes, 3);
	assert_string_equal(p.deletes[0], "cfg/a.json");
	assert_string_equal(p.deletes[1], "cfg/b/c.json");
	assert_string_equal(p.deletes[2], "lib");
	assert_int_equal(p.nwrites, 2);
	plan_release(&p);
	manifest_release(&up);
	manifest_release(&mir);
}

static void
test_board_path(void **state)
{
	static const char *const cases[][3] = {
		{ "/", "main.py", "/main.py" },
		{ "/", "lib/a.py", "/lib/a.py" },
		{ "/app", "main.py", "/app/main.py" },
		{ "/flash/app", "lib/x", "/flash/app/lib/x" },
		{ "/app/", "x", "/app/x" },
		{ "/", "", "/" },
		{ "/app", "", "/app" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = plan_board_path(cases[i][0], cases[i][1]);

		assert_string_equal(got, cases[i][2]);
		free(got);
	}
}

/* Names a git tree cannot hold, found whatever order they came in. */
static void
test_manifest_conflict(void **state)
{
	static const char *const sha = "0123456789abcdef0123456789abcdef01234567";
	static const struct {
		const char *paths[4];
		const char *conflict;
		bool twice;
	} cases[] = {
		{ { "main.py", "lib/a.py", "lib/b.py", NULL }, NULL, false },
		{ { "lib-x", "lib.py", "lib/a.py", NULL }, NULL, false },
		{ { "b.py", "a.py", "b.py", NULL }, "b.py", true },
		{ { "lib/a.py", "main.py", "lib", NULL }, "lib", false },
		{ { "a/b/c.py", "a-b", "a/b", NULL }, "a/b", false },
		{ { "x/y/z.py", "x", "q.py", NULL }, "x", false },
	};
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct manifest m = MANIFEST_INIT;
		const char *got;
		bool twice;

		for (k = 0; cases[i].paths[k] != NULL; k++)
			manifest_add(&m, cases[i].paths[k], sha, 1, 0100644);
		got = manifest_conflict(&m, &twice);
		if (cases[i].conflict == NULL)
			assert_null(got);
		else {
			assert_non_null(got);
			assert_string_equal(got, cases[i].conflict);
			assert_int_equal(twice, cases[i].twice);
		}
		manifest_release(&m);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writes_new_and_changed_only),
		cmocka_unit_test(test_in_sync_is_empty),
		cmocka_unit_test(test_prune_semantics),
		cmocka_unit_test(test_prune_needs_a_complete_manifest),
		cmocka_unit_test(test_manifest_json_keeps_complete),
		cmocka_unit_test(test_mkdirs_parents_first),
		cmocka_unit_test(test_layout_conflicts_deleted_without_prune),
		cmocka_unit_test(test_board_path),
		cmocka_unit_test(test_manifest_conflict),
	};

	log_init("test_plan", -1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
