/*
 * mirror.c - the host's copy of a board's files and its index; see
 * mirror.h.
 */
#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "log.h"
#include "mirror.h"
#include "path.h"
#include "store.h"
#include "xalloc.h"
#include "banned.h"

#define INDEX_MAGIC "senko-mirror-index 1"
/* A temporary file this old was left by a put that died. */
#define MIRROR_STALE_TMP_SECONDS 3600
#define MIRROR_FILE_MODE 0100644

struct mirror_index_entry {
	char *path;
	char sha[GITHASH_HEXSZ];
	uint64_t size;
	int64_t mtime_ns;
	int64_t ctime_ns;
	uint64_t ino;
};

/* The stat fields the index keeps, taken from one lstat/fstat. */
struct stat_key {
	uint64_t size;
	int64_t mtime_ns;
	int64_t ctime_ns;
	uint64_t ino;
};

/* Refuse an unsafe path, logging it with control bytes made visible. */
static int
refuse_path(const struct mirror *m, const char *path, const char *why)
{
	struct buf q = BUF_INIT;

	path_quote(&q, path, strlen(path));
	log_failx("mirror of '%s': refusing path '%s': %s", m->name, q.data,
	    why);
	buf_release(&q);
	errno = EINVAL;
	return -1;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
stat_key_of(const struct stat *st, struct stat_key *k)
{
	k->size = (uint64_t)st->st_size;
	k->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 +
	    st->st_mtim.tv_nsec;
	k->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 +
	    st->st_ctim.tv_nsec;
	k->ino = (uint64_t)st->st_ino;
}

static void
idx_clear(struct mirror_index_entry *e, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(e[i].path);
	free(e);
}

static int
idx_cmp(const void *a, const void *b)
{
	const struct mirror_index_entry *x = a, *y = b;

	return strcmp(x->path, y->path);
}

/* Index of path in m->idx, or -(insertion point) - 1. */
static ssize_t
idx_search(const struct mirror *m, const char *path)
{
	size_t lo = 0, hi = m->nidx;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(path, m->idx[mid].path);

		if (c == 0)
			return (ssize_t)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -(ssize_t)lo - 1;
}

static void
idx_set(struct mirror *m, const char *path, const char *sha,
    const struct stat_key *k)
{
	ssize_t at = idx_search(m, path);
	struct mirror_index_entry *e;

	if (at < 0) {
		size_t pos = (size_t)(-at - 1);

		if (m->nidx == m->aidx) {
			m->aidx = m->aidx ? m->aidx * 2 : 64;
			m->idx = xreallocarray(m->idx, m->aidx,
			    sizeof(*m->idx));
		}
		memmove(&m->idx[pos + 1], &m->idx[pos],
		    (m->nidx - pos) * sizeof(*m->idx));
		m->nidx++;
		e = &m->idx[pos];
		e->path = xstrdup(path);
	} else
		e = &m->idx[at];
	snprintf(e->sha, sizeof(e->sha), "%s", sha);
	e->size = k->size;
	e->mtime_ns = k->mtime_ns;
	e->ctime_ns = k->ctime_ns;
	e->ino = k->ino;
	m->dirty = true;
}

static void
idx_drop(struct mirror *m, const char *path)
{
	ssize_t at = idx_search(m, path);

	if (at < 0)
		return;
	free(m->idx[at].path);
	memmove(&m->idx[at], &m->idx[at + 1],
	    (m->nidx - (size_t)at - 1) * sizeof(*m->idx));
	m->nidx--;
	m->dirty = true;
}

/* Drop every entry below folder `dir` (a file there became a folder). */
static void
idx_drop_below(struct mirror *m, const char *dir)
{
	size_t len = strlen(dir), i, out = 0;

	for (i = 0; i < m->nidx; i++) {
		if (strncmp(m->idx[i].path, dir, len) == 0 &&
		    m->idx[i].path[len] == '/') {
			free(m->idx[i].path);
			m->dirty = true;
			continue;
		}
		m->idx[out++] = m->idx[i];
	}
	m->nidx = out;
}

/*
 * Parse one index line "SHA SIZE MTIME CTIME INO PATH" into e (path
 * copied).  Returns 0 or -1 when the line is malformed or unsafe.
 */
static int
index_parse_line(char *line, struct mirror_index_entry *e)
{
	char *p = line, *end;
	const char *why;

	if (strlen(line) < GITHASH_HEXLEN + 1 || line[GITHASH_HEXLEN] != ' ')
		return -1;
	memcpy(e->sha, line, GITHASH_HEXLEN);
	e->sha[GITHASH_HEXLEN] = '\0';
	if (!githash_is_hex(e->sha))
		return -1;
	p = line + GITHASH_HEXLEN + 1;
	errno = 0;
	e->size = strtoull(p, &end, 10);
	if (end == p || *end != ' ')
		return -1;
	p = end + 1;
	e->mtime_ns = strtoll(p, &end, 10);
	if (end == p || *end != ' ')
		return -1;
	p = end + 1;
	e->ctime_ns = strtoll(p, &end, 10);
	if (end == p || *end != ' ')
		return -1;
	p = end + 1;
	e->ino = strtoull(p, &end, 10);
	if (end == p || *end != ' ' || errno != 0)
		return -1;
	p = end + 1;
	if (!path_is_safe(p, strlen(p), &why))
		return -1;
	e->path = xstrdup(p);
	return 0;
}

/* Parse the index text; on any error the index is left empty. */
static int
index_parse(struct mirror *m, char *text)
{
	char *line = text, *nl, *end;
	char commit[GITHASH_HEXSZ] = "";
	struct mirror_index_entry e;

	nl = strchr(line, '\n');
	if (nl == NULL)
		return -1;
	*nl = '\0';
	/* "senko-mirror-index 1 WRITTEN_NS COMMIT|-" */
	if (strncmp(line, INDEX_MAGIC " ", strlen(INDEX_MAGIC) + 1) != 0)
		return -1;
	line += strlen(INDEX_MAGIC) + 1;
	errno = 0;
	m->index_written_ns = strtoull(line, &end, 10);
	if (end == line || *end != ' ' || errno != 0)
		return -1;
	line = end + 1;
	if (strcmp(line, "-") != 0) {
		if (!githash_is_hex(line))
			return -1;
		snprintf(commit, sizeof(commit), "%s", line);
	}
	for (line = nl + 1; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (nl == NULL)
			return -1;
		*nl = '\0';
		if (index_parse_line(line, &e) == -1)
			return -1;
		if (m->nidx > 0 && strcmp(m->idx[m->nidx - 1].path,
		    e.path) >= 0) {
			free(e.path);
			return -1;
		}
		if (m->nidx == m->aidx) {
			m->aidx = m->aidx ? m->aidx * 2 : 64;
			m->idx = xreallocarray(m->idx, m->aidx,
			    sizeof(*m->idx));
		}
		m->idx[m->nidx++] = e;
	}
	snprintf(m->commit, sizeof(m->commit), "%s", commit);
	return 0;
}

static void
index_load(struct mirror *m)
{
	struct buf text = BUF_INIT;

	if (access(m->index_path, F_OK) == -1 && errno == ENOENT) {
		m->dirty = true;
		return;
	}
	if (fs_read_file(m->index_path, &text) == -1 ||
	    index_parse(m, text.data) == -1) {
		log_warnx("mirror index '%s' is unreadable or corrupt; the "
		    "mirror of '%s' will be re-hashed", m->index_path,
		    m->name);
		idx_clear(m->idx, m->nidx);
		m->idx = NULL;
		m->nidx = m->aidx = 0;
		m->index_written_ns = 0;
		m->commit[0] = '\0';
		m->dirty = true;
	}
	buf_release(&text);
}

/* The board's listing digest as senko left it; missing or odd: "". */
static void
board_digest_load(struct mirror *m)
{
	struct buf text = BUF_INIT;
	char *path = xasprintf("%s/" MIRROR_BOARD_DIGEST_NAME, m->dir);
	size_t i;

	m->board_digest[0] = '\0';
	buf_init(&text, 256);
	if (access(path, F_OK) == 0 && fs_read_file(path, &text) == 0) {
		buf_rtrim(&text);
		for (i = 0; i < text.len; i++)
			if (!isxdigit((unsigned char)text.data[i]))
				break;
		if (i == text.len && text.len < sizeof(m->board_digest))
			memcpy(m->board_digest, text.data, text.len + 1);
	}
	buf_release(&text);
	free(path);
}

int
mirror_set_board_digest(struct mirror *m, const char *digest)
{
	char *path;
	struct buf text = BUF_INIT;
	int rc;

	if (digest == NULL)
		digest = "";
	if (strcmp(m->board_digest, digest) == 0)
		return 0;
	snprintf(m->board_digest, sizeof(m->board_digest), "%s", digest);
	path = xasprintf("%s/" MIRROR_BOARD_DIGEST_NAME, m->dir);
	buf_addf(&text, "%s\n", digest);
	rc = fs_write_atomic(path, text.data, text.len, 0644);
	buf_release(&text);
	free(path);
	return rc;
}

int
mirror_open(struct mirror *m, const char *state_dir, const char *name)
{
	const char *why;

	memset(m, 0, sizeof(*m));
	m->name = xstrdup(name);
	if (!path_is_safe(name, strlen(name), &why) || strchr(name, '/'))
		return log_failx("device name '%s' cannot name a folder: %s",
		    name, strchr(name, '/') ? "it contains '/'" : why);
	m->dir = xasprintf("%s/devices/%s", state_dir, name);
	m->root = xasprintf("%s/mirror", m->dir);
	m->tmp = xasprintf("%s/tmp", m->dir);
	m->index_path = xasprintf("%s/index", m->dir);
	if (fs_mkdir_p(m->root, FS_STATE_DIR_MODE) == -1 ||
	    fs_mkdir_p(m->tmp, 0700) == -1)
		return log_failx("cannot create the mirror of '%s' in '%s': "
		    "check state_dir and its permissions", name, m->dir);
	fs_sweep_stale(m->tmp, "put-", MIRROR_STALE_TMP_SECONDS);
	index_load(m);
	board_digest_load(m);
	return 0;
}

void
mirror_release(struct mirror *m)
{
	size_t i;

	free(m->name);
	free(m->dir);
	free(m->root);
	free(m->tmp);
	free(m->index_path);
	idx_clear(m->idx, m->nidx);
	for (i = 0; i < m->ntouched; i++)
		free(m->touched[i]);
	free(m->touched);
	memset(m, 0, sizeof(*m));
}

void
mirror_set_commit(struct mirror *m, const char *commit)
{
	if (commit == NULL)
		commit = "";
	if (strcmp(m->commit, commit) == 0)
		return;
	snprintf(m->commit, sizeof(m->commit), "%s", commit);
	m->dirty = true;
}

/*
 * Note that the folder holding full (a path in the mirror) changed: a
 * rename into it, an unlink, a mkdir or rmdir.  Until the folder is
 * synced a power cut may undo the change, and an index saved before
 * that would vouch for a file the board no longer has.
 */
static void
touch_parent(struct mirror *m, const char *full)
{
	const char *slash = strrchr(full, '/');
	size_t n = slash ? (size_t)(slash - full) : 0, i;

	for (i = 0; i < m->ntouched; i++)
		if (strlen(m->touched[i]) == n &&
		    strncmp(m->touched[i], full, n) == 0)
			return;
	m->touched = xreallocarray(m->touched, m->ntouched + 1,
	    sizeof(*m->touched));
	m->touched[m->ntouched++] = xstrndup(full, n);
}

/* Sync the touched folders (those since removed need nothing). */
static int
sync_touched(struct mirror *m)
{
	int rc = 0;
	size_t i;

	for (i = 0; i < m->ntouched; i++) {
		struct stat st;

		if (rc == 0 && lstat(m->touched[i], &st) == 0 &&
		    fs_fsync_dir(m->touched[i]) == -1)
			rc = -1;
		free(m->touched[i]);
	}
	free(m->touched);
	m->touched = NULL;
	m->ntouched = 0;
	return rc;
}

int
mirror_save(struct mirror *m)
{
	struct buf out = BUF_INIT;
	uint64_t written;
	size_t i;
	int rc;

	if (!m->dirty)
		return 0;
	if (sync_touched(m) == -1)
		return log_failx("cannot save the mirror index of '%s'",
		    m->name);
	/* Taken before writing: every stat in the index is older. */
	written = now_ns();
	buf_init(&out, 0);
	buf_addf(&out, "%s %" PRIu64 " %s\n", INDEX_MAGIC, written,
	    m->commit[0] ? m->commit : "-");
	for (i = 0; i < m->nidx; i++) {
		const struct mirror_index_entry *e = &m->idx[i];

		if (buf_addf(&out, "%s %" PRIu64 " %" PRId64 " %" PRId64
		    " %" PRIu64 " %s\n", e->sha, e->size, e->mtime_ns,
		    e->ctime_ns, e->ino, e->path) == -1) {
			buf_release(&out);
			return log_failx("mirror index of '%s' is too large",
			    m->name);
		}
	}
	rc = fs_write_atomic(m->index_path, out.data, out.len, 0644);
	buf_release(&out);
	if (rc == -1)
		return log_failx("cannot save the mirror index of '%s'",
		    m->name);
	m->index_written_ns = written;
	m->dirty = false;
	return 0;
}

/* True when the index entry vouches for a file with stat key k. */
static bool
index_vouches(const struct mirror *m, const struct mirror_index_entry *e,
    const struct stat_key *k)
{
	int64_t newest;

	if (e->size != k->size || e->mtime_ns != k->mtime_ns ||
	    e->ctime_ns != k->ctime_ns || e->ino != k->ino)
		return false;
	/*
	 * Racily clean: a change right after the stat may not have moved
	 * the coarse file-system clock, so only trust entries whose
	 * timestamps are safely older than the index write.
	 */
	newest = e->mtime_ns > e->ctime_ns ? e->mtime_ns : e->ctime_ns;
	return newest >= 0 &&
	    (uint64_t)newest + MIRROR_RACY_NS <= m->index_written_ns;
}

struct scan {
	struct mirror *m;
	struct mirror_index_entry *fresh; /* the new index, unsorted */
	size_t n;
	size_t alloc;
};

static void
scan_add(struct scan *sc, const char *path, const char *sha,
    const struct stat_key *k)
{
	struct mirror_index_entry *e;

	if (sc->n == sc->alloc) {
		sc->alloc = sc->alloc ? sc->alloc * 2 : 64;
		sc->fresh = xreallocarray(sc->fresh, sc->alloc,
		    sizeof(*sc->fresh));
	}
	e = &sc->fresh[sc->n++];
	e->path = xstrdup(path);
	snprintf(e->sha, sizeof(e->sha), "%s", sha);
	e->size = k->size;
	e->mtime_ns = k->mtime_ns;
	e->ctime_ns = k->ctime_ns;
	e->ino = k->ino;
}

static int
scan_file(struct scan *sc, int dfd, const char *name, const char *path,
    const struct stat *st)
{
	struct mirror *m = sc->m;
	struct stat_key k;
	struct stat now;
	char sha[GITHASH_HEXSZ];
	ssize_t at;
	int fd;

	stat_key_of(st, &k);
	m->stats.files_seen++;
	at = idx_search(m, path);
	if (at >= 0 && index_vouches(m, &m->idx[at], &k)) {
		scan_add(sc, path, m->idx[at].sha, &k);
		return 0;
	}
	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return log_fail("cannot open '%s/%s'", m->root, path);
	/* Key from the open file: what we hash is what we record. */
	if (fstat(fd, &now) == -1 ||
	    githash_fd(fd, path, sha) == -1) {
		close(fd);
		return log_failx("cannot hash '%s/%s'", m->root, path);
	}
	close(fd);
	stat_key_of(&now, &k);
	m->stats.files_hashed++;
	m->stats.bytes_hashed += k.size;
	scan_add(sc, path, sha, &k);
	return 0;
}

static int
scan_dir(struct scan *sc, int dfd, struct buf *path)
{
	DIR *d;
	struct dirent *de;
	size_t base = path->len;
	int rc = 0;

	d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return log_fail("cannot read folder '%s/%s'", sc->m->root,
		    path->data);
	}
	while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
		struct stat st;
		const char *why;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		path->len = base;
		path->data[base] = '\0';
		if ((base > 0 && buf_addch(path, '/') == -1) ||
		    buf_addstr(path, de->d_name) == -1 ||
		    !path_is_safe(path->data, path->len, &why)) {
			struct buf q = BUF_INIT;

			path_quote(&q, path->data, path->len);
			log_warnx("mirror of '%s': skipping '%s/%s': not a "
			    "safe path", sc->m->name, sc->m->root, q.data);
			buf_release(&q);
			continue;
		}
		if (fstatat(dirfd(d), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == -1) {
			if (errno != ENOENT)
				rc = log_fail("cannot stat '%s/%s'",
				    sc->m->root, path->data);
		} else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd(d), de->d_name, O_RDONLY |
			    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (sub == -1)
				rc = log_fail("cannot open folder '%s/%s'",
				    sc->m->root, path->data);
			else
				rc = scan_dir(sc, sub, path);
		} else if (S_ISREG(st.st_mode)) {
			rc = scan_file(sc, dirfd(d), de->d_name, path->data,
			    &st);
		} else
			log_warnx("mirror of '%s': skipping '%s/%s': not a "
			    "regular file", sc->m->name, sc->m->root,
			    path->data);
	}
	if (rc == 0 && errno != 0)
		rc = log_fail("cannot read folder '%s/%s'", sc->m->root,
		    path->data);
	path->len = base;
	path->data[base] = '\0';
	closedir(d);
	return rc;
}

/* Is the new index the same as the old one (so nothing to save)? */
static bool
index_same(const struct mirror *m, const struct scan *sc)
{
	size_t i;

	if (sc->n != m->nidx)
		return false;
	for (i = 0; i < sc->n; i++) {
		const struct mirror_index_entry *a = &sc->fresh[i];
		const struct mirror_index_entry *b = &m->idx[i];

		if (strcmp(a->path, b->path) != 0 ||
		    strcmp(a->sha, b->sha) != 0 || a->size != b->size ||
		    a->mtime_ns != b->mtime_ns ||
		    a->ctime_ns != b->ctime_ns || a->ino != b->ino)
			return false;
	}
	return true;
}

int
mirror_scan(struct mirror *m, struct manifest *out)
{
	struct scan sc = { m, NULL, 0, 0 };
	struct buf path = BUF_INIT;
	unsigned long hashed = m->stats.files_hashed;
	size_t i;
	int dfd, rc;

	buf_init(&path, PATH_SAFE_MAX + 2);
	dfd = open(m->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1)
		return log_fail("cannot open the mirror '%s'", m->root);
	rc = scan_dir(&sc, dfd, &path);
	buf_release(&path);
	if (rc == -1) {
		idx_clear(sc.fresh, sc.n);
		return log_failx("cannot scan the mirror of '%s'", m->name);
	}
	if (sc.n > 1)
		qsort(sc.fresh, sc.n, sizeof(*sc.fresh), idx_cmp);
	/*
	 * Re-hashed entries must be saved so the next scan trusts them
	 * once they are old enough, even if their values did not change.
	 */
	if (!index_same(m, &sc) || m->stats.files_hashed != hashed)
		m->dirty = true;
	idx_clear(m->idx, m->nidx);
	m->idx = sc.fresh;
	m->nidx = m->aidx = sc.n;
	if (m->aidx == 0) {
		free(m->idx);
		m->idx = NULL;
	}
	snprintf(out->commit, sizeof(out->commit), "%s", m->commit);
	for (i = 0; i < m->nidx; i++)
		manifest_add(out, m->idx[i].path, m->idx[i].sha,
		    m->idx[i].size, MIRROR_FILE_MODE);
	manifest_sort(out);
	return mirror_save(m);
}

/* Copy len bytes from fd (offset 0) to out. */
static int
copy_fd(int fd, int out, const char *from, const char *to)
{
	char chunk[65536];
	off_t off = 0;

	for (;;) {
		ssize_t n = pread(fd, chunk, sizeof(chunk), off);
		ssize_t w;
		char *p = chunk;

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return log_fail("cannot read '%s'", from);
		if (n == 0)
			return 0;
		off += n;
		while (n > 0) {
			w = write(out, p, (size_t)n);
			if (w == -1 && errno == EINTR)
				continue;
			if (w == -1)
				return log_fail("cannot write '%s'", to);
			p += w;
			n -= w;
		}
	}
}

/*
 * Create the parent folders of path in the mirror.  A file standing where
 * a folder must be is stale (the board has a folder there now): remove it.
 */
static int
make_parents(struct mirror *m, const char *path)
{
	char *rel = xstrdup(path), *slash;
	int rc = 0;

	for (slash = strchr(rel, '/'); slash; slash = strchr(slash + 1, '/')) {
		char *full;
		struct stat st;

		*slash = '\0';
		full = xasprintf("%s/%s", m->root, rel);
		if (lstat(full, &st) == 0 && !S_ISDIR(st.st_mode)) {
			if (unlink(full) == -1)
				rc = log_fail("cannot remove '%s'", full);
			idx_drop(m, rel);
			touch_parent(m, full);
		}
		if (rc == 0 && mkdir(full, 0755) == 0)
			touch_parent(m, full);
		else if (rc == 0 && errno != EEXIST)
			rc = log_fail("cannot create folder '%s'", full);
		free(full);
		*slash = '/';
		if (rc == -1)
			break;
	}
	free(rel);
	return rc;
}

int
mirror_put(struct mirror *m, const struct store *s, const char *path,
    const char *sha)
{
	struct stat st;
	struct stat_key k;
	char *tmp = NULL, *final = NULL;
	const char *why;
	uint64_t size;
	int fd, out = -1, rc = -1, saved;

	if (!path_is_safe(path, strlen(path), &why))
		return refuse_path(m, path, why);
	fd = store_open_blob(s, sha, &size);
	if (fd == -1) {
		saved = errno;
		log_failx("mirror of '%s': blob %.40s for '%s' is not in the "
		    "object store", m->name, sha, path);
		errno = saved;
		return -1;
	}
	tmp = xasprintf("%s/put-XXXXXX", m->tmp);
	out = mkostemp(tmp, O_CLOEXEC);
	if (out == -1) {
		log_fail("cannot create a temporary file in '%s'", m->tmp);
		goto done;
	}
	if (copy_fd(fd, out, sha, tmp) == -1)
		goto done;
	if (fchmod(out, fs_file_mode(0644)) == -1 || fsync(out) == -1) {
		log_fail("cannot sync '%s'", tmp);
		goto done;
	}
	if (make_parents(m, path) == -1)
		goto done;
	final = xasprintf("%s/%s", m->root, path);
	if (lstat(final, &st) == 0 && S_ISDIR(st.st_mode)) {
		/* The board has a file where the mirror had a folder. */
		touch_parent(m, final);
		if (fs_remove_tree(final) == -1)
			goto done;
		idx_drop_below(m, path);
	}
	if (rename(tmp, final) == -1) {
		log_fail("cannot rename '%s' to '%s'", tmp, final);
		goto done;
	}
	touch_parent(m, final);
	free(tmp);
	tmp = NULL;
	/* rename moves ctime: stat the file under its final name. */
	if (lstat(final, &st) == -1) {
		log_fail("cannot stat '%s'", final);
		goto done;
	}
	stat_key_of(&st, &k);
	idx_set(m, path, sha, &k);
	rc = 0;
done:
	saved = errno;
	close(fd);
	if (out != -1)
		close(out);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	free(final);
	errno = saved;
	return rc;
}

/* Remove the now-empty parent folders of path, deepest first. */
static void
prune_parents(struct mirror *m, const char *path)
{
	char *rel = xstrdup(path), *slash;

	while ((slash = strrchr(rel, '/')) != NULL) {
		char *full;

		*slash = '\0';
		full = xasprintf("%s/%s", m->root, rel);
		if (rmdir(full) == -1) {
			if (errno != ENOTEMPTY && errno != EEXIST &&
			    errno != ENOENT)
				log_warn("cannot remove folder '%s'", full);
			free(full);
			break;
		}
		touch_parent(m, full);
		free(full);
	}
	free(rel);
}

/*
 * True when every parent of path in the mirror is a real folder, so an
 * unlink cannot be redirected through a symbolic link out of the mirror.
 */
static bool
parents_are_folders(const struct mirror *m, const char *path)
{
	char *rel = xstrdup(path), *slash;
	bool ok = true;

	for (slash = strchr(rel, '/'); slash && ok;
	    slash = strchr(slash + 1, '/')) {
		struct stat st;
		char *full;

		*slash = '\0';
		full = xasprintf("%s/%s", m->root, rel);
		ok = lstat(full, &st) == 0 && S_ISDIR(st.st_mode);
		free(full);
		*slash = '/';
	}
	free(rel);
	return ok;
}

int
mirror_remove(struct mirror *m, const char *path)
{
	const char *why;
	char *full;

	if (!path_is_safe(path, strlen(path), &why))
		return refuse_path(m, path, why);
	if (!parents_are_folders(m, path)) {
		/* Then the file cannot be in the mirror: nothing to remove. */
		idx_drop(m, path);
		return 0;
	}
	full = xasprintf("%s/%s", m->root, path);
	if (unlink(full) == -1 && errno != ENOENT) {
		log_fail("cannot remove '%s'", full);
		free(full);
		return -1;
	}
	touch_parent(m, full);
	free(full);
	idx_drop(m, path);
	prune_parents(m, path);
	return 0;
}

int
mirror_replace(struct mirror *m, const struct store *s,
    const struct manifest *board, void (*between)(void *), void *arg)
{
	struct manifest cur = MANIFEST_INIT;
	size_t i;
	int rc = 0;

	if (mirror_scan(m, &cur) == -1)
		return -1;
	for (i = 0; i < cur.n && rc == 0; i++) {
		const struct manifest_entry *b;

		b = manifest_find(board, cur.entries[i].path);
		if (b == NULL || !store_has(s, b->sha)) {
			if (between != NULL)
				between(arg);
			rc = mirror_remove(m, cur.entries[i].path);
		}
	}
	for (i = 0; i < board->n && rc == 0; i++) {
		const struct manifest_entry *b = &board->entries[i];
		const struct manifest_entry *c = manifest_find(&cur, b->path);

		if (c != NULL && strcmp(c->sha, b->sha) == 0)
			continue;
		if (!store_has(s, b->sha)) {
			log_debug("mirror of '%s': '%s' left out, blob %s "
			    "is not in the object store", m->name, b->path,
			    b->sha);
			continue;
		}
		if (between != NULL)
			between(arg);
		if (mirror_put(m, s, b->path, b->sha) == -1) {
			if (errno != ENOENT)
				rc = -1;
			/* Corrupt in the store: removed; leave it out. */
			else if (c != NULL)
				rc = mirror_remove(m, b->path);
		}
	}
	manifest_release(&cur);
	if (rc == -1)
		return log_failx("cannot bring the mirror of '%s' to what the "
		    "board holds", m->name);
	mirror_set_commit(m, board->commit);
	return mirror_save(m);
}
