/*
 * fuzz_manifest_json - a server's git tree or contents listing JSON turned
 * into a manifest (src/forge/walk.c): the path rules, working_dir and
 * files selection, names senko keeps for itself, and the entry bounds.
 *
 * The first byte of an input picks the document and the selection:
 *   bit 0  0: a git tree ({"tree": [...]}), 1: a contents listing ([...])
 *   bit 1  working_dir = "app" (else the repository root)
 *   bit 2  files = main.py lib (else everything)
 *   bit 3  the tree lists folder "app/lib" (a subtree walk's prefix)
 * the rest is the answer.  Whatever it holds, every entry that reaches the
 * manifest must be a safe path (path.h) relative to working_dir, selected
 * by files, not a name senko uses on the board, with a 40-hex SHA and a
 * file mode; and the manifest must come back unchanged from its JSON form
 * (manifest.json).
 */
#include <stdbool.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "forge/walk.h"
#include "fuzz.h"
#include "githash.h"
#include "log.h"
#include "manifest.h"
#include "path.h"
#include "record.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_manifest_json", -1, 0);
	log_thread_quiet(1);
	return 0;
}

static bool
under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == 0);
}

static void
check_entry(const struct config_source *src, const struct manifest_entry *e)
{
	size_t n = strlen(e->path), i;
	bool selected = src->nfiles == 0;

	FUZZ_CHECK(path_is_safe(e->path, n, NULL), "unsafe path '%s'",
	    e->path);
	FUZZ_CHECK(githash_is_hex(e->sha), "bad sha for '%s'", e->path);
	FUZZ_CHECK(e->mode == 0100644 || e->mode == 0100755,
	    "mode %o for '%s'", e->mode, e->path);
	FUZZ_CHECK(!record_is_name(e->path),
	    "a name of senko's record let through: '%s'", e->path);
	FUZZ_CHECK(n < 10 || strcmp(e->path + n - 10, ".senko-tmp") != 0,
	    "a temporary name let through: '%s'", e->path);
	for (i = 0; i < src->nfiles; i++)
		selected = selected || under(e->path, src->files[i]);
	FUZZ_CHECK(selected, "'%s' is not selected by files", e->path);
}

static void
check_round_trip(const struct manifest *m)
{
	struct manifest back = MANIFEST_INIT;
	struct buf json = BUF_INIT;
	size_t i;

	FUZZ_CHECK(manifest_to_json(m, &json) == 0, "cannot encode");
	FUZZ_CHECK(manifest_from_json(&back, json.data, json.len, "fuzz") == 0,
	    "manifest.json does not load again");
	FUZZ_CHECK(back.n == m->n, "%zu entries became %zu", m->n, back.n);
	for (i = 0; i < m->n; i++) {
		FUZZ_CHECK(strcmp(back.entries[i].path, m->entries[i].path) == 0 &&
		    strcmp(back.entries[i].sha, m->entries[i].sha) == 0 &&
		    back.entries[i].size == m->entries[i].size &&
		    back.entries[i].mode == m->entries[i].mode,
		    "entry '%s' changed in manifest.json", m->entries[i].path);
	}
	manifest_release(&back);
	buf_release(&json);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *files[] = { (char *)"main.py", (char *)"lib" };
	struct config_source src = {
		.name = (char *)"fuzz", .user = (char *)"acme",
		.repo = (char *)"fw", .branch = (char *)"main",
		.working_dir = (char *)"",
	};
	struct manifest m = MANIFEST_INIT;
	bool incomplete;
	char *json;
	size_t i;
	int rc;

	if (size < 1)
		return 0;
	if (data[0] & 2)
		src.working_dir = (char *)"app";
	if (data[0] & 4) {
		src.files = files;
		src.nfiles = 2;
	}
	/* walk_parse_json edits in place; libFuzzer's data is read-only. */
	json = malloc(size);
	FUZZ_CHECK(json != NULL, "out of memory");
	memcpy(json, data + 1, size - 1);
	json[size - 1] = '\0';
	if (data[0] & 1)
		rc = walk_listing_json(&src, src.working_dir, json, size - 1, &m,
		    &incomplete);
	else
		rc = walk_tree_json(&src, data[0] & 8 ? "app/lib" : "", json,
		    size - 1, &m, &incomplete);
	free(json);
	if (rc == 0) {
		for (i = 0; i < m.n; i++)
			check_entry(&src, &m.entries[i]);
		manifest_sort(&m);
		check_round_trip(&m);
	}
	manifest_release(&m);
	return 0;
}
