/*
 * record.c - the board's record, as an index and pages; see record.h.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "githash.h"
#include "log.h"
#include "manifest.h"
#include "path.h"
#include "record.h"
#include "xalloc.h"
#include "banned.h"

#define PAGE_PREFIX ".senko-"
#define PAGE_SUFFIX ".json"

/* FNV-1a, which every gateway computes alike. */
unsigned
record_page_of(const char *path, unsigned npages)
{
	uint32_t h = 2166136261u;

	for (; *path; path++) {
		h ^= (unsigned char)*path;
		h *= 16777619u;
	}
	return h & (npages - 1);
}

static unsigned
pages_for(size_t files)
{
	unsigned n = 1;

	while (n < RECORD_PAGES_MAX && files > (size_t)n * RECORD_PAGE_FILES)
		n *= 2;
	return n;
}

static int
dump(json_t *root, struct buf *out)
{
	char *text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	int rc;

	json_decref(root);
	if (text == NULL)
		return log_failx("cannot encode the board's record as JSON");
	rc = buf_addstr(out, text);
	free(text);
	if (rc == -1)
		return log_failx("the board's record is too large for its buffer");
	return 0;
}

static int
digest_of(const struct buf *pages, unsigned npages, char hex[GITHASH_HEXSZ])
{
	struct githash h;
	size_t len = 0;
	unsigned k;

	for (k = 0; k < npages; k++)
		len += pages[k].len;
	if (githash_init(&h, len) == -1)
		return -1;
	for (k = 0; k < npages; k++)
		if (githash_update(&h, pages[k].data, pages[k].len) == -1)
			return -1;
	return githash_final(&h, hex);
}

int
record_encode(const struct manifest *m, struct record *out)
{
	json_t **files, *root;
	char digest[GITHASH_HEXSZ];
	unsigned k, npages = pages_for(m->n);
	size_t i;
	int rc = 0;

	record_release(out);
	files = xcalloc(npages, sizeof(*files));
	for (k = 0; k < npages; k++)
		files[k] = json_object();
	for (i = 0; i < m->n; i++)
		json_object_set_new(files[record_page_of(m->entries[i].path, npages)],
		    m->entries[i].path, json_string(m->entries[i].sha));
	out->pages = xcalloc(npages, sizeof(*out->pages));
	out->npages = npages;
	for (k = 0; k < npages; k++) {
		buf_init(&out->pages[k], RECORD_TEXT_MAX);
		root = json_object();
		json_object_set_new(root, "v", json_integer(2));
		json_object_set_new(root, "files", files[k]);
		if (rc == 0 && dump(root, &out->pages[k]) == -1)
			rc = -1;
		else if (rc == -1)
			json_decref(root);
	}
	free(files);
	if (rc == -1 || digest_of(out->pages, npages, digest) == -1) {
		record_release(out);
		return -1;
	}
	root = json_object();
	json_object_set_new(root, "v", json_integer(2));
	json_object_set_new(root, "commit", json_string(m->commit));
	json_object_set_new(root, "pages", json_integer(npages));
	json_object_set_new(root, "digest", json_string(digest));
	if (dump(root, &out->index) == -1) {
		record_release(out);
		return -1;
	}
	return 0;
}

void
record_release(struct record *r)
{
	unsigned k;

	buf_release(&r->index);
	for (k = 0; k < r->npages; k++)
		buf_release(&r->pages[k]);
	free(r->pages);
	r->pages = NULL;
	r->npages = 0;
}

char *
record_page_name(unsigned k)
{
	return xasprintf(PAGE_PREFIX "%u" PAGE_SUFFIX, k);
}

bool
record_is_name(const char *rel)
{
	size_t n = strlen(rel), pre = strlen(PAGE_PREFIX),
	    suf = strlen(PAGE_SUFFIX), i;

	if (strcmp(rel, RECORD_INDEX_NAME) == 0)
		return true;
	if (n <= pre + suf || strncmp(rel, PAGE_PREFIX, pre) != 0 ||
	    strcmp(rel + n - suf, PAGE_SUFFIX) != 0)
		return false;
	for (i = pre; i < n - suf; i++)
		if (rel[i] < '0' || rel[i] > '9')
			return false;
	return true;
}

static json_t *
load(const char *text, size_t len, const char *what)
{
	json_error_t jerr;
	json_t *root;

	if (len > RECORD_TEXT_MAX) {
		log_warnx("%s: record of %zu bytes is larger than %u", what,
		    len, RECORD_TEXT_MAX);
		return NULL;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		log_warnx("%s: record is not valid JSON (line %d: %s)", what,
		    jerr.line, jerr.text);
	else if (!json_is_object(root)) {
		log_warnx("%s: not a senko record", what);
		json_decref(root);
		root = NULL;
	}
	return root;
}

/*
 * Check one "path":"sha" of a record and add it to out; k < npages: the
 * page it must belong to (npages 0: a version 1 record, no pages).
 */
static int
add_entry(const char *path, json_t *v, unsigned k, unsigned npages,
    const char *what, struct manifest *out)
{
	const char *sha = json_string_value(v), *why;
	struct buf q = BUF_INIT;
	int rc = -1;

	path_quote(&q, path, strlen(path));
	if (!path_is_safe(path, strlen(path), &why))
		log_warnx("%s: record names an unsafe path '%s': %s", what,
		    q.data, why);
	else if (npages > 0 && record_page_of(path, npages) != k)
		log_warnx("%s: '%s' does not belong on page %u of %u", what,
		    q.data, k, npages);
	else if (sha == NULL || !githash_is_hex(sha))
		log_warnx("%s: record has a bad SHA for '%s'", what, q.data);
	else {
		manifest_add(out, path, sha, 0, 0100644);
		rc = 0;
	}
	buf_release(&q);
	return rc;
}

/* The files of a version 1 record, root already parsed. */
static int
read_v1(json_t *root, const char *what, struct manifest *out)
{
	const char *commit = json_string_value(json_object_get(root, "commit"));
	json_t *files = json_object_get(root, "files"), *v;
	const char *path;

	if (commit == NULL || (*commit && !githash_is_hex(commit)) ||
	    !json_is_object(files)) {
		log_warnx("%s: not a version 1 senko record", what);
		return -1;
	}
	json_object_foreach(files, path, v) {
		if (add_entry(path, v, 0, 0, what, out) == -1) {
			manifest_release(out);
			manifest_init(out);
			return -1;
		}
	}
	snprintf(out->commit, sizeof(out->commit), "%s", commit);
	manifest_sort(out);
	return 0;
}

int
record_read_index(const char *text, size_t len, const char *what,
    struct record_index *ix, struct manifest *v1)
{
	json_t *root, *version, *pages;
	const char *commit, *digest;
	int rc = -1;

	memset(ix, 0, sizeof(*ix));
	if ((root = load(text, len, what)) == NULL)
		return -1;
	version = json_object_get(root, "v");
	if (json_is_integer(version) && json_integer_value(version) == 1) {
		rc = read_v1(root, what, v1);
		if (rc == 0) {
			ix->version = 1;
			snprintf(ix->commit, sizeof(ix->commit), "%s",
			    v1->commit);
		}
		goto out;
	}
	commit = json_string_value(json_object_get(root, "commit"));
	digest = json_string_value(json_object_get(root, "digest"));
	pages = json_object_get(root, "pages");
	if (!json_is_integer(version) || json_integer_value(version) != 2 ||
	    commit == NULL || (*commit && !githash_is_hex(commit)) ||
	    digest == NULL || !githash_is_hex(digest) ||
	    !json_is_integer(pages) || json_integer_value(pages) < 1 ||
	    json_integer_value(pages) > RECORD_PAGES_MAX ||
	    (json_integer_value(pages) & (json_integer_value(pages) - 1))) {
		log_warnx("%s: not a version 1 or 2 senko record", what);
		goto out;
	}
	ix->version = 2;
	snprintf(ix->commit, sizeof(ix->commit), "%s", commit);
	snprintf(ix->digest, sizeof(ix->digest), "%s", digest);
	ix->npages = (unsigned)json_integer_value(pages);
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int
record_read_page(const char *text, size_t len, unsigned k, unsigned npages,
    const char *what, struct manifest *out)
{
	json_t *root, *files, *v, *version;
	const char *path;
	int rc = -1;

	if ((root = load(text, len, what)) == NULL)
		return -1;
	version = json_object_get(root, "v");
	files = json_object_get(root, "files");
	if (!json_is_integer(version) || json_integer_value(version) != 2 ||
	    !json_is_object(files)) {
		log_warnx("%s: not a page of a version 2 senko record", what);
		goto out;
	}
	json_object_foreach(files, path, v)
		if (add_entry(path, v, k, npages, what, out) == -1)
			goto out;
	rc = 0;
out:
	json_decref(root);
	return rc;
}

bool
record_digest_matches(const struct record_index *ix, const struct buf *pages,
    unsigned npages)
{
	char hex[GITHASH_HEXSZ];

	return ix->version == 2 && npages == ix->npages &&
	    digest_of(pages, npages, hex) == 0 && strcmp(hex, ix->digest) == 0;
}
