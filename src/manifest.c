/*
 * manifest.c - path -> blob lists and their JSON form; see manifest.h.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "log.h"
#include "manifest.h"
#include "path.h"
#include "xalloc.h"
#include "banned.h"

void
manifest_init(struct manifest *m)
{
	memset(m, 0, sizeof(*m));
}

void
manifest_release(struct manifest *m)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		free(m->entries[i].path);
	free(m->entries);
	manifest_init(m);
}

void
manifest_move(struct manifest *dst, struct manifest *src)
{
	manifest_release(dst);
	*dst = *src;
	manifest_init(src);
}

void
manifest_add(struct manifest *m, const char *path, const char *sha,
    uint64_t size, unsigned mode)
{
	struct manifest_entry *e;

	if (m->n == m->alloc) {
		m->alloc = m->alloc ? m->alloc * 2 : 16;
		m->entries = xreallocarray(m->entries, m->alloc,
		    sizeof(*m->entries));
	}
	e = &m->entries[m->n++];
	e->path = xstrdup(path);
	snprintf(e->sha, sizeof(e->sha), "%s", sha);
	e->size = size;
	e->mode = mode;
}

static int
entry_cmp(const void *a, const void *b)
{
	const struct manifest_entry *x = a, *y = b;

	return strcmp(x->path, y->path);
}

void
manifest_sort(struct manifest *m)
{
	size_t i, out = 0;

	/* A stable order first, so "keep the last duplicate" is defined. */
	for (i = 0; i + 1 < m->n; i++)
		if (strcmp(m->entries[i].path, m->entries[i + 1].path) > 0)
			break;
	if (i + 1 < m->n)
		qsort(m->entries, m->n, sizeof(*m->entries), entry_cmp);
	for (i = 0; i < m->n; i++) {
		if (i + 1 < m->n &&
		    strcmp(m->entries[i].path, m->entries[i + 1].path) == 0) {
			free(m->entries[i].path);
			continue;
		}
		m->entries[out++] = m->entries[i];
	}
	m->n = out;
}

const char *
manifest_conflict(struct manifest *m, bool *twice)
{
	const struct manifest_entry *folder = NULL;
	struct buf up = BUF_INIT;
	char *slash;
	size_t i;

	*twice = false;
	if (m->n > 1)
		qsort(m->entries, m->n, sizeof(*m->entries), entry_cmp);
	for (i = 0; i + 1 < m->n; i++)
		if (strcmp(m->entries[i].path, m->entries[i + 1].path) == 0) {
			*twice = true;
			return m->entries[i].path;
		}
	/* Not adjacent once sorted: "lib" < "lib-x" < "lib/a". */
	for (i = 0; i < m->n && folder == NULL; i++) {
		buf_reset(&up);
		buf_addstr(&up, m->entries[i].path);
		while (folder == NULL && (slash = strrchr(up.data, '/'))) {
			*slash = '\0';
			folder = manifest_find(m, up.data);
		}
	}
	buf_release(&up);
	return folder ? folder->path : NULL;
}

const struct manifest_entry *
manifest_find(const struct manifest *m, const char *path)
{
	struct manifest_entry key;

	if (m->n == 0)
		return NULL; /* entries may be NULL: bsearch must not see it */
	key.path = (char *)path;
	return bsearch(&key, m->entries, m->n, sizeof(*m->entries),
	    entry_cmp);
}

int
manifest_to_json(const struct manifest *m, struct buf *out)
{
	json_t *root, *files;
	char *text;
	size_t i;
	int rc;

	root = json_object();
	files = json_object();
	json_object_set_new(root, "commit", json_string(m->commit));
	if (m->complete)
		json_object_set_new(root, "complete", json_true());
	for (i = 0; i < m->n; i++) {
		const struct manifest_entry *e = &m->entries[i];

		json_object_set_new(files, e->path, json_pack("{s:s,s:I,s:i}",
		    "sha", e->sha, "size", (json_int_t)e->size, "mode",
		    (int)e->mode));
	}
	json_object_set_new(root, "files", files);
	text = json_dumps(root, JSON_SORT_KEYS | JSON_INDENT(1));
	json_decref(root);
	if (text == NULL)
		return log_failx("cannot encode a manifest as JSON");
	rc = buf_addstr(out, text);
	free(text);
	return rc;
}

int
manifest_from_json(struct manifest *m, const char *json, size_t len,
    const char *what)
{
	json_error_t jerr;
	json_t *root, *files, *v;
	const char *commit, *path;
	int rc = -1;

	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return log_failx("%s: not valid JSON (line %d: %s)", what,
		    jerr.line, jerr.text);
	commit = json_string_value(json_object_get(root, "commit"));
	files = json_object_get(root, "files");
	if (commit == NULL || (*commit && !githash_is_hex(commit)) ||
	    !json_is_object(files)) {
		log_failx("%s: not a manifest (no commit or files)", what);
		goto out;
	}
	snprintf(m->commit, sizeof(m->commit), "%s", commit);
	m->complete = json_is_true(json_object_get(root, "complete"));
	json_object_foreach(files, path, v) {
		const char *sha = json_string_value(json_object_get(v, "sha"));
		json_int_t size = json_integer_value(json_object_get(v, "size"));
		json_int_t mode = json_integer_value(json_object_get(v, "mode"));
		const char *why;

		if (!path_is_safe(path, strlen(path), &why)) {
			log_failx("%s: refusing path: %s", what, why);
			goto out;
		}
		if (sha == NULL || !githash_is_hex(sha) || size < 0) {
			log_failx("%s: bad entry for '%s'", what, path);
			goto out;
		}
		manifest_add(m, path, sha, (uint64_t)size, (unsigned)mode);
	}
	manifest_sort(m);
	rc = 0;
out:
	json_decref(root);
	if (rc == -1)
		manifest_release(m);
	return rc;
}
