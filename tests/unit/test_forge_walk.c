/*
 * Unit tests for forge/walk.c: tree and listing JSON to manifest entries
 * without the network.  The contents API's silent cut at 1,000 entries is
 * reported; working_dir and files select; senko's own names and unsafe
 * paths never get in; a tree's "truncated" is reported; Gitea's null
 * submodule_git_url does not make a file a submodule; a walk's entries
 * and requests are bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "config.h"
#include "log.h"
#include "manifest.h"
#include "../../src/forge/walk.h"

#define SHA "ce013625030ba8dba906f756967f9e9ca394464a"

static struct config_source
source(const char *wd, char **files, size_t nfiles)
{
	struct config_source src;

	memset(&src, 0, sizeof(src));
	src.name = (char *)"app";
	src.user = (char *)"acme";
	src.repo = (char *)"fw";
	src.branch = (char *)"main";
	src.working_dir = (char *)wd;
	src.files = files;
	src.nfiles = nfiles;
	return src;
}

/* A listing of folder dir with n files named fNNNN.py. */
static char *
listing(const char *dir, size_t n)
{
	struct buf b = BUF_INIT;
	size_t i;

	buf_addch(&b, '[');
	for (i = 0; i < n; i++)
		buf_addf(&b, "%s{\"name\":\"f%04zu.py\",\"path\":\"%s%sf%04zu.py\","
		    "\"type\":\"file\",\"sha\":\"" SHA "\",\"size\":6,"
		    "\"download_url\":\"x\"}", i ? "," : "", i, dir,
		    *dir ? "/" : "", i);
	buf_addch(&b, ']');
	return buf_detach(&b, NULL);
}

static void
test_listing_at_the_api_limit_is_incomplete(void **state)
{
	struct config_source src = source("app", NULL, 0);
	struct manifest m = MANIFEST_INIT;
	bool incomplete = true;
	char *json;

	(void)state;
	json = listing("app", WALK_CONTENTS_LIST_MAX - 1);
	assert_int_equal(walk_listing_json(&src, "app", json, strlen(json), &m,
	    &incomplete), 0);
	assert_false(incomplete);
	assert_int_equal(m.n, WALK_CONTENTS_LIST_MAX - 1);
	free(json);
	manifest_release(&m);
	json = listing("app", WALK_CONTENTS_LIST_MAX);
	assert_int_equal(walk_listing_json(&src, "app", json, strlen(json), &m,
	    &incomplete), 0);
	assert_true(incomplete);
	free(json);
	manifest_release(&m);
}

static void
test_tree_selection_and_own_names(void **state)
{
	char *files[] = { (char *)"main.py", (char *)"lib" };
	struct config_source src = source("app", files, 2);
	struct manifest m = MANIFEST_INIT;
	bool incomplete = true;
	static const char tree[] = "{\"truncated\":false,\"tree\":["
	    "{\"path\":\"app\",\"mode\":\"040000\",\"type\":\"tree\",\"sha\":\"" SHA "\"},"
	    "{\"path\":\"app/main.py\",\"mode\":\"100644\",\"type\":\"blob\",\"sha\":\"" SHA "\",\"size\":6},"
	    "{\"path\":\"app/lib/u.py\",\"mode\":\"100755\",\"type\":\"blob\",\"sha\":\"" SHA "\",\"size\":6},"
	    "{\"path\":\"app/library.py\",\"mode\":\"100644\",\"type\":\"blob\",\"sha\":\"" SHA "\",\"size\":6},"
	    "{\"path\":\"app/lib/.u.py.senko-tmp\",\"mode\":\"100644\",\"type\":\"blob\",\"sha\":\"" SHA "\",\"size\":6},"
	    "{\"path\":\"app/../x.py\",\"mode\":\"100644\",\"type\":\"blob\",\"sha\":\"" SHA "\",\"size\":6},"
	    "{\"path\":\"docs/main.py\",\"mode\":\"100644\",\"type\":\"blob\",\"sha\":\"" SHA "\",\"size\":6}]}";
	static const char root[] = "{\"truncated\":true,\"tree\":["
	    "{\"path\":\".senko.json\",\"mode\":\"100644\",\"type\":\"blob\",\"sha\":\"" SHA "\",\"size\":6},"
	    "{\"path\":\".senko.journal\",\"mode\":\"100644\",\"type\":\"blob\",\"sha\":\"" SHA "\",\"size\":6},"
	    "{\"path\":\".senko/x.py\",\"mode\":\"100644\",\"type\":\"blob\",\"sha\":\"" SHA "\",\"size\":6},"
	    "{\"path\":\".senkox/y.py\",\"mode\":\"100644\",\"type\":\"blob\",\"sha\":\"" SHA "\",\"size\":6},"
	    "{\"path\":\"a/.senko.json\",\"mode\":\"100644\",\"type\":\"blob\",\"sha\":\"" SHA "\",\"size\":6}]}";
	char *copy = strdup(tree);

	(void)state;
	assert_int_equal(walk_tree_json(&src, "", copy, strlen(copy), &m,
	    &incomplete), 0);
	free(copy);
	assert_false(incomplete);
	manifest_sort(&m);
	assert_int_equal(m.n, 2);
	assert_string_equal(m.entries[0].path, "lib/u.py");
	assert_int_equal(m.entries[0].mode, 0100755);
	assert_string_equal(m.entries[1].path, "main.py");
	manifest_release(&m);

	src = source("", NULL, 0);
	copy = strdup(root);
	assert_int_equal(walk_tree_json(&src, "", copy, strlen(copy), &m,
	    &incomplete), 0);
	free(copy);
	assert_true(incomplete);
	manifest_sort(&m);
	assert_int_equal(m.n, 2);
	assert_string_equal(m.entries[0].path, ".senkox/y.py");
	assert_string_equal(m.entries[1].path, "a/.senko.json");
	manifest_release(&m);
}

static void
test_not_a_tree_or_listing(void **state)
{
	struct config_source src = source("", NULL, 0);
	struct manifest m = MANIFEST_INIT;
	bool incomplete;
	char obj[] = "{\"message\":\"Not Found\"}";
	char broken[] = "{\"tree\": [{\"path\": \"x";

	(void)state;
	assert_int_equal(walk_tree_json(&src, "", obj, strlen(obj), &m,
	    &incomplete), -1);
	assert_int_equal(walk_listing_json(&src, "", obj, strlen(obj), &m,
	    &incomplete), -1);
	assert_int_equal(walk_tree_json(&src, "", broken, strlen(broken), &m,
	    &incomplete), -1);
	assert_int_equal(m.n, 0);
}

/*
 * Gitea and Forgejo send "submodule_git_url": null with every entry of a
 * listing; such files are files.  A submodule is a "file" with a URL
 * there (or, on GitHub, without a download_url), or Gitea's own
 * "submodule" type: none of these is fetched.
 */
static void
test_listing_submodule_marks(void **state)
{
	struct config_source src = source("", NULL, 0);
	struct manifest m = MANIFEST_INIT;
	bool incomplete = true;
	static const char json[] = "["
	    "{\"name\":\"main.py\",\"path\":\"main.py\",\"type\":\"file\","
	    "\"sha\":\"" SHA "\",\"size\":6,"
	    "\"download_url\":\"https://gitea.example/acme/fw/raw/main.py\","
	    "\"submodule_git_url\":null,\"target\":null},"
	    "{\"name\":\"boot.py\",\"path\":\"boot.py\",\"type\":\"file\","
	    "\"sha\":\"" SHA "\",\"size\":6,"
	    "\"download_url\":\"https://gitea.example/acme/fw/raw/boot.py\","
	    "\"submodule_git_url\":null,\"target\":null},"
	    "{\"name\":\"gh\",\"path\":\"gh\",\"type\":\"file\","
	    "\"sha\":\"" SHA "\",\"size\":0,\"download_url\":null},"
	    "{\"name\":\"gh2\",\"path\":\"gh2\",\"type\":\"file\","
	    "\"sha\":\"" SHA "\",\"size\":0,\"download_url\":null,"
	    "\"submodule_git_url\":\"https://github.com/acme/gh2.git\"},"
	    "{\"name\":\"gt\",\"path\":\"gt\",\"type\":\"submodule\","
	    "\"sha\":\"" SHA "\",\"size\":0,\"download_url\":null,"
	    "\"submodule_git_url\":\"https://gitea.example/acme/gt.git\"}]";
	char *copy = strdup(json);

	(void)state;
	assert_int_equal(walk_listing_json(&src, "", copy, strlen(copy), &m,
	    &incomplete), 0);
	free(copy);
	assert_false(incomplete);
	manifest_sort(&m);
	assert_int_equal(m.n, 2);
	assert_string_equal(m.entries[0].path, "boot.py");
	assert_string_equal(m.entries[1].path, "main.py");
	manifest_release(&m);
}

/*
 * A server that never stops answering: one walk reads at most
 * WALK_MAX_ENTRIES entries (tree or listing) and asks at most
 * WALK_MAX_REQUESTS times, then the poll is refused.  The walk is started
 * just below each bound rather than fed half a million entries.
 */
static void
test_walk_bounds(void **state)
{
	struct config_source src = source("", NULL, 0);
	struct manifest m = MANIFEST_INIT;
	struct walk w;
	const char *subdir, *subdir_sha;
	json_t *tree_entry, *listing_entry;

	(void)state;
	tree_entry = json_pack("{s:s, s:s, s:s, s:s, s:i}", "path", "a.py",
	    "mode", "100644", "type", "blob", "sha", SHA, "size", 6);
	listing_entry = json_pack("{s:s, s:s, s:s, s:i}", "path", "b.py",
	    "type", "file", "sha", SHA, "size", 6);
	assert_non_null(tree_entry);
	assert_non_null(listing_entry);

	memset(&w, 0, sizeof(w));
	w.src = &src;
	w.m = &m;
	w.entries = WALK_MAX_ENTRIES - 2;
	assert_int_equal(walk_tree_entry(&w, tree_entry, ""), 0);
	assert_int_equal(walk_listing_entry(&w, listing_entry, &subdir,
	    &subdir_sha), 0);
	assert_int_equal(m.n, 2);
	assert_int_equal(walk_tree_entry(&w, tree_entry, ""), -1);
	assert_int_equal(walk_listing_entry(&w, listing_entry, &subdir,
	    &subdir_sha), -1);
	assert_int_equal(m.n, 2);

	w.requests = WALK_MAX_REQUESTS - 1;
	assert_int_equal(walk_count_request(&w), 0);
	assert_int_equal(walk_count_request(&w), -1);
	assert_int_equal(walk_count_request(&w), -1);

	json_decref(tree_entry);
	json_decref(listing_entry);
	manifest_release(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listing_at_the_api_limit_is_incomplete),
		cmocka_unit_test(test_tree_selection_and_own_names),
		cmocka_unit_test(test_not_a_tree_or_listing),
		cmocka_unit_test(test_listing_submodule_marks),
		cmocka_unit_test(test_walk_bounds),
	};

	log_init("test_forge_walk", -1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
