/*
 * forge/source_state.c - a source's state files; see source_state.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "log.h"
#include "xalloc.h"
#include "source_state.h"
#include "banned.h"

#define SOURCE_STATE_MAX (64u * 1024 * 1024)

static char *
source_dir(const struct config *cfg, const struct config_source *src)
{
	return xasprintf("%s/sources/%s", cfg->state_dir, src->name);
}

static char *
source_file(const struct config *cfg, const struct config_source *src,
    const char *name)
{
	return xasprintf("%s/sources/%s/%s", cfg->state_dir, src->name, name);
}

/*
 * A hash of everything that decides what a source's manifest holds: when
 * any of it changes, the saved ETag and manifest no longer apply.  api is
 * the API that read the manifest (the configured one, or the contents API
 * when a poll fell back to it).
 */
static void
source_fingerprint(const struct config *cfg, const struct config_source *src,
    enum source_api api, char hex[GITHASH_HEXSZ])
{
	struct buf b = BUF_INIT;
	size_t i;

	if (src->path)
		buf_addf(&b, "path %s\n%s\n", src->path, src->working_dir);
	else
		buf_addf(&b, "%s\n%s\n%s\n%s\n%s\n%s\n", cfg->api_url,
		    src->user, src->repo, src->branch, src->working_dir,
		    source_api_name(api));
	for (i = 0; i < src->nfiles; i++)
		buf_addf(&b, "files %s\n", src->files[i]);
	/* Only when set, so sources without exclude keep their state. */
	for (i = 0; i < src->nexclude; i++)
		buf_addf(&b, "exclude %s\n", src->exclude[i]);
	githash_mem(b.data, b.len, hex);
	buf_release(&b);
}

void
source_state_release(struct source_state *st)
{
	free(st->etag);
	memset(st, 0, sizeof(*st));
}

int
source_state_read_file(const char *path, struct buf *out)
{
	buf_init(out, SOURCE_STATE_MAX);
	if (access(path, F_OK) == -1 && errno == ENOENT)
		return 1;
	return fs_read_file(path, out);
}

static int
load_state(const struct config *cfg, const struct config_source *src,
    struct source_state *st)
{
	struct buf b;
	json_t *root;
	const char *fp, *commit, *etag;
	char *path = source_file(cfg, src, "state.json");
	int rc;

	memset(st, 0, sizeof(*st));
	rc = source_state_read_file(path, &b);
	if (rc != 0)
		goto out;
	rc = -1;
	root = json_loadb(b.data, b.len, 0, NULL);
	fp = json_string_value(json_object_get(root, "fingerprint"));
	commit = json_string_value(json_object_get(root, "commit"));
	etag = json_string_value(json_object_get(root, "etag"));
	if (fp && githash_is_hex(fp) && commit && githash_is_hex(commit)) {
		snprintf(st->fingerprint, sizeof(st->fingerprint), "%s", fp);
		snprintf(st->commit, sizeof(st->commit), "%s", commit);
		st->etag = etag && *etag ? xstrdup(etag) : NULL;
		rc = 0;
	} else
		log_warnx("ignoring '%s': not a senko source state; the "
		    "source will be read afresh", path);
	json_decref(root);
out:
	buf_release(&b);
	free(path);
	return rc;
}

static int
load_manifest(const struct config *cfg, const struct config_source *src,
    struct manifest *m)
{
	struct buf b;
	char *path = source_file(cfg, src, "manifest.json");
	int rc;

	rc = source_state_read_file(path, &b);
	if (rc == 0 && manifest_from_json(m, b.data, b.len, path) == -1) {
		log_warnx("ignoring '%s'; the source will be read afresh",
		    path);
		rc = -1;
	}
	buf_release(&b);
	free(path);
	return rc;
}

bool
source_state_load(const struct config *cfg, const struct config_source *src,
    struct source_state *st, struct manifest *m)
{
	char fp[GITHASH_HEXSZ];

	if (load_state(cfg, src, st) != 0)
		return false;
	source_fingerprint(cfg, src, src->api, fp);
	if (strcmp(fp, st->fingerprint) != 0) {
		source_fingerprint(cfg, src, SOURCE_API_CONTENTS, fp);
		if (strcmp(fp, st->fingerprint) == 0)
			log_info("source '%s': the last poll fell back to the "
			    "contents API; reading it afresh", src->name);
		else
			log_info("source '%s': its configuration changed since "
			    "the last poll; reading it afresh", src->name);
		return false;
	}
	if (load_manifest(cfg, src, m) != 0)
		return false;
	if (!m->complete) {
		log_info("source '%s': the saved file list is not marked "
		    "complete (an older senko wrote it); reading it afresh",
		    src->name);
		manifest_release(m);
		return false;
	}
	if (strcmp(m->commit, st->commit) != 0) {
		manifest_release(m);
		return false;
	}
	return true;
}

static int
write_json_file(const char *path, json_t *root)
{
	char *text = json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT);
	int rc;

	if (text == NULL)
		return log_failx("cannot encode '%s'", path);
	rc = fs_write_atomic(path, text, strlen(text), 0644);
	free(text);
	return rc;
}

int
source_state_save(const struct config *cfg, const struct config_source *src,
    enum source_api api, const char *commit, const char *etag)
{
	char fp[GITHASH_HEXSZ];
	char *path = source_file(cfg, src, "state.json");
	json_t *root;
	int rc;

	source_fingerprint(cfg, src, api, fp);
	root = json_pack("{s:s,s:s,s:s?}", "fingerprint", fp, "commit",
	    commit, "etag", etag);
	rc = write_json_file(path, root);
	json_decref(root);
	free(path);
	return rc;
}

int
source_state_save_manifest(const struct config *cfg, const struct config_source *src,
    const struct manifest *m, json_t *contents_cache)
{
	struct buf b = BUF_INIT;
	char *dir = source_dir(cfg, src), *path = NULL;
	int rc = -1;

	if (fs_mkdir_p(dir, FS_STATE_DIR_MODE) == -1) {
		log_failx("source '%s': cannot create '%s': check state_dir",
		    src->name, dir);
		goto out;
	}
	path = source_file(cfg, src, "contents.json");
	if (contents_cache && write_json_file(path, contents_cache) == -1)
		goto out;
	if (contents_cache == NULL)
		unlink(path);
	free(path);
	path = source_file(cfg, src, "manifest.json");
	if (manifest_to_json(m, &b) == -1 ||
	    fs_write_atomic(path, b.data, b.len, 0644) == -1)
		goto out;
	rc = 0;
out:
	buf_release(&b);
	free(path);
	free(dir);
	return rc;
}

json_t *
source_state_load_contents(const struct config *cfg, const struct config_source *src)
{
	struct buf b;
	char *path = source_file(cfg, src, "contents.json");
	json_t *root = NULL;

	if (source_state_read_file(path, &b) == 0)
		root = json_loadb(b.data, b.len, 0, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		root = json_object();
	}
	buf_release(&b);
	free(path);
	return root;
}

/* Whose default branch the cache holds: a source renamed to another
 * repository (or another forge) asks again. */
static char *
default_branch_key(const struct config *cfg, const struct config_source *src)
{
	return xasprintf("%s/repos/%s/%s", cfg->api_url, src->user, src->repo);
}

char *
source_state_load_default_branch(const struct config *cfg,
    const struct config_source *src)
{
	char *path = source_file(cfg, src, "default-branch.json");
	char *key = default_branch_key(cfg, src), *branch = NULL;
	struct buf text = BUF_INIT;
	json_t *root = NULL;
	const char *b, *k;

	if (source_state_read_file(path, &text) == 0)
		root = json_loadb(text.data ? text.data : "", text.len, 0, NULL);
	k = json_string_value(json_object_get(root, "repository"));
	b = json_string_value(json_object_get(root, "default_branch"));
	if (k && b && *b && strcmp(k, key) == 0)
		branch = xstrdup(b);
	json_decref(root);
	buf_release(&text);
	free(key);
	free(path);
	return branch;
}

int
source_state_save_default_branch(const struct config *cfg,
    const struct config_source *src, const char *branch)
{
	char *dir = source_dir(cfg, src), *path = NULL;
	char *key = default_branch_key(cfg, src);
	json_t *root;
	int rc = -1;

	if (fs_mkdir_p(dir, 0755) == -1) {
		log_failx("source '%s': cannot create '%s': check state_dir",
		    src->name, dir);
		goto out;
	}
	path = source_file(cfg, src, "default-branch.json");
	root = json_pack("{s:s,s:s}", "repository", key, "default_branch",
	    branch);
	rc = write_json_file(path, root);
	json_decref(root);
out:
	free(key);
	free(path);
	free(dir);
	return rc;
}
