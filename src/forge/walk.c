/*
 * forge/walk.c - tree and listing JSON to manifest entries; see walk.h.
 */
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "buf.h"
#include "devfs.h"
#include "log.h"
#include "mirror.h"
#include "path.h"
#include "record.h"
#include "repl.h"
#include "walk.h"
#include "banned.h"

/*
 * jansson refuses a whole document for one lone UTF-16 surrogate escape,
 * which a hostile server can put in a path.  Turn each into "\u0001", a
 * control character of the same length, so the document parses and the
 * entry is refused by path_is_safe() like any other bad path.
 */
static void
defuse_surrogates(char *s, size_t len)
{
	bool in_string = false;
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned long cp;
		char hex[5];

		if (s[i] == '"') {
			in_string = !in_string;
			continue;
		}
		if (!in_string || s[i] != '\\')
			continue;
		if (i + 1 >= len)
			break;
		if (s[i + 1] != 'u' || i + 6 > len) {
			i++;
			continue;
		}
		memcpy(hex, s + i + 2, 4);
		hex[4] = '\0';
		cp = strtoul(hex, NULL, 16);
		if (cp >= 0xd800 && cp <= 0xdbff && i + 12 <= len &&
		    s[i + 6] == '\\' && s[i + 7] == 'u') {
			unsigned long lo;

			memcpy(hex, s + i + 8, 4);
			lo = strtoul(hex, NULL, 16);
			if (lo >= 0xdc00 && lo <= 0xdfff) {
				i += 11;
				continue;
			}
		}
		if (cp >= 0xd800 && cp <= 0xdfff)
			memcpy(s + i + 2, "0001", 4);
		i += 5;
	}
}

json_t *
walk_parse_json(char *data, size_t len, json_error_t *err)
{
	defuse_surrogates(data, len);
	return json_loadb(data, len, JSON_ALLOW_NUL, err);
}

int
walk_count_request(struct walk *w)
{
	if (++w->requests <= WALK_MAX_REQUESTS)
		return 0;
	return log_failx("source '%s': more than %d requests for one tree; "
	    "the server keeps sending folders: refusing the poll",
	    w->src->name, WALK_MAX_REQUESTS);
}

static int
count_entry(struct walk *w)
{
	if (++w->entries <= WALK_MAX_ENTRIES)
		return 0;
	if (w->entries == WALK_MAX_ENTRIES + 1)
		log_failx("source '%s': more than %d entries in the tree; "
		    "refusing the poll", w->src->name, WALK_MAX_ENTRIES);
	return -1;
}

static bool
path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == 0);
}

/*
 * Whether a repository path is selected by working_dir and files; sets
 * *rel to it relative to working_dir.
 */
static bool
path_selected(const struct config_source *src, const char *path,
    const char **rel)
{
	size_t i, n = strlen(src->working_dir);

	if (n > 0) {
		if (strncmp(path, src->working_dir, n) != 0 || path[n] != '/')
			return false;
		path += n + 1;
	}
	*rel = path;
	if (config_source_excludes(src, path))
		return false;
	if (src->nfiles == 0)
		return true;
	for (i = 0; i < src->nfiles; i++)
		if (path_under(path, src->files[i]))
			return true;
	return false;
}

bool
walk_dir_relevant(const struct config_source *src, const char *dir)
{
	const char *wd = src->working_dir, *rel;
	size_t i;

	if (*dir == '\0' || (*wd && path_under(wd, dir)))
		return true;
	if (*wd && !path_under(dir, wd))
		return false;
	rel = *wd ? dir + strlen(wd) : dir;
	if (*rel == '/')
		rel++;
	if (*rel == '\0' || src->nfiles == 0)
		return true;
	for (i = 0; i < src->nfiles; i++)
		if (path_under(rel, src->files[i]) ||
		    path_under(src->files[i], rel))
			return true;
	return false;
}

void
walk_refuse(struct walk *w, const char *path, size_t len, const char *why)
{
	struct buf q = BUF_INIT;

	if (w->warned++ >= WALK_WARN_MAX) {
		if (w->warned == WALK_WARN_MAX + 2)
			log_warnx("source '%s': more entries refused; not "
			    "logging each", w->src->name);
		return;
	}
	path_quote(&q, path, len > 300 ? 300 : len);
	log_warnx("source '%s': refusing entry '%s': %s", w->src->name,
	    q.data, why);
	buf_release(&q);
}

static void
walk_skip(struct walk *w, const char *path, const char *what)
{
	const char *rel;

	if (path_selected(w->src, path, &rel))
		log_warnx("source '%s': skipping %s '%s' (MicroPython "
		    "filesystems have none)", w->src->name, what, path);
}

static bool
has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/*
 * A selected file (path safe, sha and size checked) enters the manifest,
 * unless its name is one senko itself uses on the board: the record and
 * the journal at dest's root, the folder of senko's own files at the
 * board's root, and the temporary names of files being written.  Writing
 * those would be undone by senko on every sync.
 */
void
walk_add_file(struct walk *w, const char *path, const char *sha, uint64_t size,
    unsigned mode)
{
	const char *rel, *cache = &REPL_CACHE_DIR[1];
	size_t cachelen = strlen(cache);

	if (!path_selected(w->src, path, &rel))
		return;
	if (record_is_name(rel) || strcmp(rel, AGENT_JOURNAL_NAME) == 0)
		walk_refuse(w, path, strlen(path), "the name of one of senko's "
		    "own record files at the board's dest folder; rename or "
		    "move it in the repository");
	else if (strncmp(rel, cache, cachelen) == 0 &&
	    (rel[cachelen] == '\0' || rel[cachelen] == '/'))
		walk_refuse(w, path, strlen(path), "in '" REPL_CACHE_DIR "', "
		    "the folder senko keeps its own files in on a board (with "
		    "dest = /); rename or move it in the repository");
	else if (has_suffix(rel, DEVFS_TEMP_SUFFIX))
		walk_refuse(w, path, strlen(path), "ends in '" DEVFS_TEMP_SUFFIX
		    "', the names senko gives files while writing them; "
		    "rename it in the repository");
	else
		manifest_add(w->m, rel, sha, size, mode);
}

int
walk_tree_entry(struct walk *w, json_t *e, const char *prefix)
{
	json_t *jpath = json_object_get(e, "path");
	const char *type = json_string_value(json_object_get(e, "type"));
	const char *mode_s = json_string_value(json_object_get(e, "mode"));
	const char *sha = json_string_value(json_object_get(e, "sha"));
	json_t *jsize = json_object_get(e, "size");
	struct buf path = BUF_INIT;
	const char *why;
	unsigned long mode;

	if (count_entry(w) == -1)
		return -1;
	if (!json_is_string(jpath) || type == NULL || mode_s == NULL) {
		walk_refuse(w, "?", 1, "entry without path, type or mode");
		return 0;
	}
	if (*prefix) {
		buf_addstr(&path, prefix);
		buf_addch(&path, '/');
	}
	buf_add(&path, json_string_value(jpath), json_string_length(jpath));
	if (!path_is_safe(path.data, path.len, &why)) {
		walk_refuse(w, path.data, path.len, why);
		goto out;
	}
	mode = strtoul(mode_s, NULL, 8);
	if (strcmp(type, "tree") == 0) {
		if (strcmp(path.data, w->src->working_dir) == 0)
			w->wd_found = true;
		goto out;
	}
	if (strcmp(type, "commit") == 0 || mode == 0160000)
		walk_skip(w, path.data, "submodule");
	else if (mode == 0120000)
		walk_skip(w, path.data, "symbolic link");
	else if (strcmp(type, "blob") != 0 ||
	    (mode != 0100644 && mode != 0100755))
		walk_refuse(w, path.data, path.len, "not a regular file");
	else if (sha == NULL || !githash_is_hex(sha) ||
	    !json_is_integer(jsize) || json_integer_value(jsize) < 0)
		walk_refuse(w, path.data, path.len, "bad sha or size");
	else
		walk_add_file(w, path.data, sha, (uint64_t)json_integer_value(jsize),
		    (unsigned)mode);
out:
	buf_release(&path);
	return 0;
}

json_t *
walk_normalise_listing(struct walk *w, json_t *list, const char *dir,
    const char *url, bool *capped)
{
	json_t *out, *e;
	size_t i, dlen = strlen(dir);

	*capped = false;
	if (!json_is_array(list)) {
		log_failx("source '%s': %s is not a folder listing (is "
		    "working_dir a folder?)", w->src->name, url);
		return NULL;
	}
	*capped = json_array_size(list) >= WALK_CONTENTS_LIST_MAX;
	out = json_array();
	json_array_foreach(list, i, e) {
		json_t *jname = json_object_get(e, "name");
		json_t *jpath = json_object_get(e, "path");
		const char *type = json_string_value(json_object_get(e, "type"));
		const char *sha = json_string_value(json_object_get(e, "sha"));
		json_t *jsize = json_object_get(e, "size");
		const char *path, *name, *why;
		size_t plen, nlen;

		if (!json_is_string(jpath) || !json_is_string(jname) ||
		    type == NULL) {
			walk_refuse(w, "?", 1, "entry without path or type");
			continue;
		}
		path = json_string_value(jpath);
		plen = json_string_length(jpath);
		name = json_string_value(jname);
		nlen = json_string_length(jname);
		if (!path_is_safe(path, plen, &why)) {
			walk_refuse(w, path, plen, why);
			continue;
		}
		if (plen != (dlen ? dlen + 1 : 0) + nlen ||
		    strncmp(path, dir, dlen) != 0 ||
		    (dlen && path[dlen] != '/') ||
		    memcmp(path + plen - nlen, name, nlen) != 0) {
			walk_refuse(w, path, plen, "not inside the folder "
			    "listed");
			continue;
		}
		/*
		 * In GitHub's listings submodules say "file" but have no
		 * download.  Gitea and Forgejo send "submodule_git_url": null
		 * with every file, so only a URL marks a submodule: taking
		 * the key's presence would skip every file, and prune would
		 * then remove them all from the boards.
		 */
		if (strcmp(type, "file") == 0 &&
		    (json_is_string(json_object_get(e, "submodule_git_url")) ||
		    json_is_null(json_object_get(e, "download_url"))))
			type = "submodule";
		if (strcmp(type, "file") == 0 && (sha == NULL ||
		    !githash_is_hex(sha) || !json_is_integer(jsize) ||
		    json_integer_value(jsize) < 0)) {
			walk_refuse(w, path, plen, "bad sha or size");
			continue;
		}
		json_array_append_new(out, json_pack("{s:s,s:s,s:s?,s:I}",
		    "path", path, "type", type, "sha", sha, "size",
		    json_is_integer(jsize) ? json_integer_value(jsize) : 0));
	}
	return out;
}

int
walk_listing_entry(struct walk *w, json_t *e, const char **subdir,
    const char **subdir_sha)
{
	const char *path = json_string_value(json_object_get(e, "path"));
	const char *type = json_string_value(json_object_get(e, "type"));
	const char *sha = json_string_value(json_object_get(e, "sha"));
	json_int_t size = json_integer_value(json_object_get(e, "size"));
	const char *why;

	*subdir = NULL;
	*subdir_sha = NULL;
	if (count_entry(w) == -1)
		return -1;
	/* Cached listings were checked when read, but the cache is a file. */
	if (path == NULL || type == NULL ||
	    !path_is_safe(path, strlen(path), &why))
		return 0;
	if (strcmp(type, "dir") == 0) {
		if (walk_dir_relevant(w->src, path)) {
			*subdir = path;
			*subdir_sha = sha && githash_is_hex(sha) ? sha : NULL;
		}
	} else if (strcmp(type, "file") == 0) {
		if (sha && githash_is_hex(sha) && size >= 0)
			walk_add_file(w, path, sha, (uint64_t)size, 0100644);
	} else if (strcmp(type, "symlink") == 0)
		walk_skip(w, path, "symbolic link");
	else if (strcmp(type, "submodule") == 0)
		walk_skip(w, path, "submodule");
	else
		walk_refuse(w, path, strlen(path), "unknown type");
	return 0;
}

void
walk_warn_unmatched_files(const struct walk *w)
{
	const struct config_source *src = w->src;
	size_t i, j;

	for (i = 0; i < src->nfiles; i++) {
		for (j = 0; j < w->m->n; j++)
			if (path_under(w->m->entries[j].path, src->files[i]))
				break;
		if (j == w->m->n && src->path)
			log_warnx("source '%s': files entry '%s' matches "
			    "nothing in '%s' (under working_dir '%s'); check "
			    "files in [source %s]", src->name, src->files[i],
			    src->path, src->working_dir, src->name);
		else if (j == w->m->n)
			log_warnx("source '%s': files entry '%s' matches "
			    "nothing in %s/%s (under working_dir '%s'); check "
			    "files in [source %s]", src->name, src->files[i],
			    src->user, src->repo, src->working_dir, src->name);
	}
}

int
walk_tree_json(const struct config_source *src, const char *prefix,
    char *json, size_t len, struct manifest *m, bool *incomplete)
{
	struct walk w = { .src = src, .m = m };
	json_error_t jerr;
	json_t *root, *tree, *e;
	size_t i;
	int rc = 0;

	*incomplete = false;
	root = walk_parse_json(json, len, &jerr);
	tree = json_object_get(root, "tree");
	if (!json_is_array(tree)) {
		json_decref(root);
		return log_failx("source '%s': not a git tree", src->name);
	}
	*incomplete = json_is_true(json_object_get(root, "truncated"));
	json_array_foreach(tree, i, e)
		if ((rc = walk_tree_entry(&w, e, prefix)) == -1)
			break;
	json_decref(root);
	return rc;
}

int
walk_listing_json(const struct config_source *src, const char *dir,
    char *json, size_t len, struct manifest *m, bool *incomplete)
{
	struct walk w = { .src = src, .m = m };
	json_error_t jerr;
	json_t *root, *list, *e;
	const char *subdir, *subsha;
	size_t i;
	int rc = 0;

	root = walk_parse_json(json, len, &jerr);
	list = walk_normalise_listing(&w, root, dir, "the listing",
	    incomplete);
	json_decref(root);
	if (list == NULL)
		return -1;
	json_array_foreach(list, i, e)
		if ((rc = walk_listing_entry(&w, e, &subdir, &subsha)) == -1)
			break;
	json_decref(list);
	return rc;
}
