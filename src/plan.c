/*
 * plan.c - upstream minus mirror for one board; see plan.h.
 */
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "xalloc.h"
#include "banned.h"

struct strlist {
	char **v;
	size_t n;
	size_t alloc;
};

static void
strlist_add(struct strlist *l, char *s)
{
	if (l->n == l->alloc) {
		l->alloc = l->alloc ? l->alloc * 2 : 16;
		l->v = xreallocarray(l->v, l->alloc, sizeof(*l->v));
	}
	l->v[l->n++] = s;
}

static int
str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort and drop duplicates (freeing them). */
static void
strlist_sort_unique(struct strlist *l)
{
	size_t i, out = 0;

	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), str_cmp);
	for (i = 0; i < l->n; i++) {
		if (out > 0 && strcmp(l->v[out - 1], l->v[i]) == 0) {
			free(l->v[i]);
			continue;
		}
		l->v[out++] = l->v[i];
	}
	l->n = out;
}

/* Does upstream need `dir` as a folder (some path below it)? */
static bool
needed_as_folder(const struct manifest *upstream, const char *dir)
{
	size_t len = strlen(dir), lo = 0, hi = upstream->n;

	/* The first path >= "dir/" is below dir if any path is. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *p = upstream->entries[mid].path;
		int c = strncmp(p, dir, len);

		if (c < 0 || (c == 0 && (unsigned char)p[len] < '/'))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < upstream->n &&
	    strncmp(upstream->entries[lo].path, dir, len) == 0 &&
	    upstream->entries[lo].path[len] == '/';
}

/* Is some proper prefix folder of path a file upstream wants? */
static bool
below_upstream_file(const struct manifest *upstream, const char *path)
{
	char *copy = xstrdup(path), *slash;
	bool found = false;

	for (slash = strchr(copy, '/'); slash && !found;
	    slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		found = manifest_find(upstream, copy) != NULL;
		*slash = '/';
	}
	free(copy);
	return found;
}

void
plan_build(struct plan *p, const struct manifest *upstream,
    const struct manifest *mirror, bool prune)
{
	struct strlist deletes = { NULL, 0, 0 }, dirs = { NULL, 0, 0 };
	size_t i, nw = 0;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < upstream->n; i++) {
		const struct manifest_entry *u = &upstream->entries[i];
		const struct manifest_entry *have;
		struct plan_write *w;
		char *slash;

		have = manifest_find(mirror, u->path);
		if (have != NULL && strcmp(have->sha, u->sha) == 0)
			continue;
		if (nw == p->nwrites) {
			nw = nw ? nw * 2 : 16;
			p->writes = xreallocarray(p->writes, nw,
			    sizeof(*p->writes));
		}
		w = &p->writes[p->nwrites++];
		w->path = xstrdup(u->path);
		memcpy(w->sha, u->sha, sizeof(w->sha));
		w->size = u->size;
		w->is_new = have == NULL;
		for (slash = strchr(u->path, '/'); slash;
		    slash = strchr(slash + 1, '/'))
			strlist_add(&dirs, xstrndup(u->path,
			    (size_t)(slash - u->path)));
	}
	for (i = 0; i < mirror->n; i++) {
		const char *path = mirror->entries[i].path;

		if (manifest_find(upstream, path) != NULL)
			continue;
		/* In the way of upstream's layout: deleted even without
		 * prune, since senko wrote it and it blocks a write.  Prune
		 * itself only trusts a manifest known to be complete: a path
		 * missing from a partial list is not gone upstream. */
		if ((prune && upstream->complete) ||
		    needed_as_folder(upstream, path) ||
		    below_upstream_file(upstream, path))
			strlist_add(&deletes, xstrdup(path));
	}
	strlist_sort_unique(&deletes);
	strlist_sort_unique(&dirs);
	p->deletes = deletes.v;
	p->ndeletes = deletes.n;
	p->mkdirs = dirs.v;
	p->nmkdirs = dirs.n;
}

void
plan_release(struct plan *p)
{
	size_t i;

	for (i = 0; i < p->nwrites; i++)
		free(p->writes[i].path);
	for (i = 0; i < p->ndeletes; i++)
		free(p->deletes[i]);
	for (i = 0; i < p->nmkdirs; i++)
		free(p->mkdirs[i]);
	free(p->writes);
	free(p->deletes);
	free(p->mkdirs);
	memset(p, 0, sizeof(*p));
}

bool
plan_is_empty(const struct plan *p)
{
	return p->nwrites == 0 && p->ndeletes == 0;
}

void
plan_totals(const struct plan *p, size_t *files, uint64_t *bytes)
{
	uint64_t total = 0;
	size_t i;

	for (i = 0; i < p->nwrites; i++)
		total += p->writes[i].size;
	if (files)
		*files = p->nwrites;
	if (bytes)
		*bytes = total;
}

char *
plan_board_path(const char *dest, const char *path)
{
	size_t dlen = strlen(dest);

	/* config.h: dest is "/" or has no trailing '/'. */
	while (dlen > 0 && dest[dlen - 1] == '/')
		dlen--;
	if (*path == '\0')
		return dlen ? xstrndup(dest, dlen) : xstrdup("/");
	return xasprintf("%.*s/%s", (int)dlen, dest, path);
}
