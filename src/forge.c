/*
 * forge.c - polling GitHub (and compatible forges) for manifests and
 * fetching blobs; see forge.h.
 *
 * Every request goes through api_get(), which refuses to ask while a rate
 * limit is in force, reads the rate-limit headers of every answer, turns
 * 403/429 limits into forge->retry_after and every other failure into one
 * message naming the source.  Callers only see "it worked" or -1.
 *
 * A poll builds its new manifest and contents cache in memory and writes
 * them only after everything was read, manifest before state.json (which
 * holds the ETag): a crash in between leaves an old ETag next to a new
 * manifest, and the next poll simply asks again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"
#include "forge.h"
#include "fsutil.h"
#include "http.h"
#include "log.h"
#include "path.h"
#include "xalloc.h"
#include "banned.h"

#define FORGE_BACKOFF_MIN 60
#define FORGE_BACKOFF_MAX 3600
#define FORGE_RETRY_MAX (2 * 3600)      /* longest wait believed */
#define FORGE_MAX_DEPTH 64           /* folders deep, for subtree walks */
#define FORGE_MAX_PAGES 1000         /* Gitea tree pages */
#define FORGE_STATE_MAX (64u * 1024 * 1024)
#define FORGE_WARN_MAX 20            /* refused entries logged per poll */
#define ACCEPT_SHA "application/vnd.github.sha"
#define ACCEPT_RAW "application/vnd.github.raw+json"

struct forge {
	const struct config *cfg;
	const struct store *store;      /* borrowed */
	struct http *http;
	time_t retry_after;
	unsigned backoff;               /* last back-off without headers, s */
	long long low_warned;           /* reset time of the warned window */
	bool *no_trees;                 /* per source: fell back to contents */
	bool have_token;
	struct forge_stats stats;
	struct buf body;
};

/* What state_dir/sources/NAME/state.json holds. */
struct source_state {
	char fingerprint[GITHASH_HEXSZ];
	char commit[GITHASH_HEXSZ];
	char *etag; /* owned; NULL when none */
};

/* One manifest being built from a tree or from directory listings. */
struct walk {
	struct forge *f;
	const struct config_source *src;
	struct manifest *m;
	json_t *old_cache; /* contents: dir -> {etag, entries}; borrowed */
	json_t *new_cache; /* owned by the caller */
	unsigned warned;
	bool wd_found;     /* a folder named working_dir was listed */
};

enum api_result {
	API_OK = 0,        /* 2xx or 304 */
	API_FAIL = -1,     /* logged */
	API_NOT_FOUND = 1, /* 404, when the caller asked to handle it */
};

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
 * any of it changes, the saved ETag and manifest no longer apply.
 */
static void
source_fingerprint(const struct config *cfg, const struct config_source *src,
    char hex[GITHASH_HEXSZ])
{
	struct buf b = BUF_INIT;
	size_t i;

	buf_addf(&b, "%s\n%s\n%s\n%s\n%s\n%s\n", cfg->api_url, src->user,
	    src->repo, src->branch, src->working_dir, source_api_name(src->api));
	for (i = 0; i < src->nfiles; i++)
		buf_addf(&b, "files %s\n", src->files[i]);
	githash_mem(b.data, b.len, hex);
	buf_release(&b);
}

static void
source_state_release(struct source_state *st)
{
	free(st->etag);
	memset(st, 0, sizeof(*st));
}

/* Read a state file if it exists; 1 when it does not. */
static int
read_state_file(const char *path, struct buf *out)
{
	buf_init(out, FORGE_STATE_MAX);
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
	rc = read_state_file(path, &b);
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

	rc = read_state_file(path, &b);
	if (rc == 0 && manifest_from_json(m, b.data, b.len, path) == -1) {
		log_warnx("ignoring '%s'; the source will be read afresh",
		    path);
		rc = -1;
	}
	buf_release(&b);
	free(path);
	return rc;
}

/* The saved state and manifest, if both exist and fit the config. */
static bool
load_saved(const struct config *cfg, const struct config_source *src,
    struct source_state *st, struct manifest *m)
{
	char fp[GITHASH_HEXSZ];

	if (load_state(cfg, src, st) != 0)
		return false;
	source_fingerprint(cfg, src, fp);
	if (strcmp(fp, st->fingerprint) != 0) {
		log_info("source '%s': its configuration changed since the "
		    "last poll; reading it afresh", src->name);
		return false;
	}
	if (load_manifest(cfg, src, m) != 0)
		return false;
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

static int
save_state(const struct config *cfg, const struct config_source *src,
    const char *commit, const char *etag)
{
	char fp[GITHASH_HEXSZ];
	char *path = source_file(cfg, src, "state.json");
	json_t *root;
	int rc;

	source_fingerprint(cfg, src, fp);
	root = json_pack("{s:s,s:s,s:s?}", "fingerprint", fp, "commit",
	    commit, "etag", etag);
	rc = write_json_file(path, root);
	json_decref(root);
	free(path);
	return rc;
}

static int
save_manifest(const struct config *cfg, const struct config_source *src,
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

static json_t *
load_contents_cache(const struct config *cfg, const struct config_source *src)
{
	struct buf b;
	char *path = source_file(cfg, src, "contents.json");
	json_t *root = NULL;

	if (read_state_file(path, &b) == 0)
		root = json_loadb(b.data, b.len, 0, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		root = json_object();
	}
	buf_release(&b);
	free(path);
	return root;
}

static void
format_time(time_t t, char *out, size_t len)
{
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(out, len, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
		snprintf(out, len, "%lld", (long long)t);
}

/*
 * The time before which no request may be made outlives the process, so
 * `senkod --once` from cron or `senko check` run by hand keep to it too.
 */
static char *
retry_after_path(const struct config *cfg)
{
	return xasprintf("%s/sources/.retry-after", cfg->state_dir);
}

static void
load_retry_after(struct forge *f)
{
	char *path = retry_after_path(f->cfg);
	struct buf b;
	time_t now = time(NULL);
	long long t;

	if (read_state_file(path, &b) == 0 &&
	    sscanf(b.data, "%lld", &t) == 1 && t > (long long)now) {
		/* A clock that jumped back must not block for days. */
		if (t > (long long)now + FORGE_RETRY_MAX)
			t = (long long)now + FORGE_RETRY_MAX;
		f->retry_after = (time_t)t;
	}
	buf_release(&b);
	free(path);
}

/* Raise retry_after to t and save it; a failure to save only warns. */
static void
set_retry_after(struct forge *f, time_t t)
{
	char *dir, *path;
	char text[32];
	int n;

	if (t <= f->retry_after)
		return;
	f->retry_after = t;
	dir = xasprintf("%s/sources", f->cfg->state_dir);
	path = retry_after_path(f->cfg);
	n = snprintf(text, sizeof(text), "%lld\n", (long long)t);
	if (fs_mkdir_p(dir, FS_STATE_DIR_MODE) == -1 ||
	    fs_write_atomic(path, text, (size_t)n, 0644) == -1)
		log_warnx("cannot save '%s': another process may ask the API "
		    "before the limit resets", path);
	free(path);
	free(dir);
}

static int
refuse_if_limited(struct forge *f, const struct config_source *src)
{
	time_t now = time(NULL);
	char when[64];

	if (f->retry_after <= now)
		return 0;
	format_time(f->retry_after, when, sizeof(when));
	return log_failx("source '%s': the API asked senko to wait (rate "
	    "limit); no request before %s (in %lld s), retrying then",
	    src->name, when, (long long)(f->retry_after - now));
}

/* The "message" of a JSON error answer, quoted, for log lines. */
static void
error_message(const struct buf *body, struct buf *out)
{
	json_t *root = json_loadb(body->data, body->len, 0, NULL);
	json_t *msg = json_object_get(root, "message");

	if (json_is_string(msg)) {
		size_t n = json_string_length(msg);

		buf_addstr(out, ": ");
		path_quote(out, json_string_value(msg), n > 200 ? 200 : n);
	}
	json_decref(root);
}

static bool
body_mentions_rate_limit(const struct buf *body)
{
	return memmem(body->data, body->len, "rate limit", 10) != NULL;
}

static void
note_rate(struct forge *f, const struct http_response *rs)
{
	char when[64];

	if (rs->rl_limit <= 0 || rs->rl_remaining < 0)
		return;
	if (rs->rl_remaining < rs->rl_limit / 10 &&
	    f->low_warned != rs->rl_reset) {
		f->low_warned = rs->rl_reset;
		format_time((time_t)rs->rl_reset, when, sizeof(when));
		log_warnx("API rate limit running low: %ld of %ld requests "
		    "left until %s", rs->rl_remaining, rs->rl_limit, when);
	}
	/* Asking again before the reset would only be refused. */
	if (rs->rl_remaining == 0 && rs->rl_reset > (long long)time(NULL))
		set_retry_after(f, (time_t)rs->rl_reset);
}

/* A 403/429 that is a rate limit: set retry_after from what it says. */
static bool
handle_limit(struct forge *f, const struct config_source *src,
    const struct http_response *rs, const struct buf *body)
{
	time_t now = time(NULL), until;
	const char *why;
	char when[64];

	if (rs->status != 429 && !(rs->status == 403 && (rs->retry_after >= 0
	    || rs->rl_remaining == 0 || body_mentions_rate_limit(body))))
		return false;
	if (rs->retry_after >= 0) {
		until = now + (rs->retry_after > 0 ? rs->retry_after : 1);
		why = "secondary rate limit; the server sent retry-after";
	} else if (rs->rl_remaining == 0 && rs->rl_reset > 0) {
		until = rs->rl_reset > (long long)now ? (time_t)rs->rl_reset :
		    now + 1;
		why = "rate limit exhausted; waiting for x-ratelimit-reset";
	} else {
		f->backoff = f->backoff ? f->backoff * 2 : FORGE_BACKOFF_MIN;
		if (f->backoff > FORGE_BACKOFF_MAX)
			f->backoff = FORGE_BACKOFF_MAX;
		until = now + f->backoff;
		why = "secondary rate limit without retry-after; backing off";
	}
	set_retry_after(f, until);
	format_time(f->retry_after, when, sizeof(when));
	log_failx("source '%s': %ld from the API (%s); no request before %s "
	    "(in %lld s), retrying then%s", src->name, rs->status, why, when,
	    (long long)(f->retry_after - now), rs->retry_after < 0 &&
	    rs->rl_remaining == 0 && !f->have_token ? "; a token (token_file "
	    "or SENKO_TOKEN) raises the limit" : "");
	return true;
}

static void
log_status_error(struct forge *f, const struct config_source *src,
    const char *what, const char *url, const struct http_response *rs,
    const char *hint_404)
{
	struct buf msg = BUF_INIT;

	error_message(&f->body, &msg);
	if (rs->status == 401)
		log_failx("source '%s': the API refused the token when reading "
		    "%s (401%s): check token_file or SENKO_TOKEN; the token "
		    "may have expired or been revoked", src->name, what,
		    msg.data);
	else if (rs->status == 403)
		log_failx("source '%s': access to %s denied (403%s): check that "
		    "the token may read %s/%s (Contents: read)", src->name,
		    what, msg.data, src->user, src->repo);
	else if (rs->status == 404 || rs->status == 422)
		log_failx("source '%s': %s not found at %s (%ld%s): %s",
		    src->name, what, url, rs->status, msg.data, hint_404 ?
		    hint_404 : "check user, repo and branch");
	else if (rs->status >= 500)
		log_failx("source '%s': server error %ld reading %s from %s%s; "
		    "nothing changed, retrying at the next poll", src->name,
		    rs->status, what, url, msg.data);
	else
		log_failx("source '%s': unexpected answer %ld reading %s from "
		    "%s%s", src->name, rs->status, what, url, msg.data);
	buf_release(&msg);
}

/*
 * GET url with the forge's rules.  The body lands in f->body (or fd).
 * allow_404: return API_NOT_FOUND on 404 instead of failing.
 */
static enum api_result
api_get(struct forge *f, const struct config_source *src, const char *what,
    struct http_request *rq, struct http_response *rs, bool allow_404,
    const char *hint_404)
{
	memset(rs, 0, sizeof(*rs));
	if (refuse_if_limited(f, src) == -1)
		return API_FAIL;
	rq->body = &f->body;
	if (rq->max == 0 && rq->fd < 0)
		rq->max = HTTP_JSON_MAX;
	f->stats.requests++;
	if (http_get(f->http, rq, rs) == -1) {
		f->stats.bytes_received += rs->bytes;
		log_failx("source '%s': cannot read %s from %s: %s", src->name,
		    what, rq->url, rs->error);
		return API_FAIL;
	}
	f->stats.bytes_received += rs->bytes;
	note_rate(f, rs);
	if (rs->status == 304)
		f->stats.not_modified++;
	if ((rs->status >= 200 && rs->status < 300) || rs->status == 304) {
		f->backoff = 0;
		return API_OK;
	}
	if ((rs->status == 403 || rs->status == 429) &&
	    handle_limit(f, src, rs, &f->body))
		return API_FAIL;
	if (rs->status == 404 && allow_404)
		return API_NOT_FOUND;
	log_status_error(f, src, what, rq->url, rs, hint_404);
	return API_FAIL;
}

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

static json_t *
parse_body(struct forge *f, const struct config_source *src, const char *what,
    const char *url)
{
	json_error_t jerr;
	json_t *root;

	defuse_surrogates(f->body.data, f->body.len);
	root = json_loadb(f->body.data, f->body.len, JSON_ALLOW_NUL, &jerr);
	if (root == NULL)
		log_failx("source '%s': malformed JSON in %s from %s (line %d: "
		    "%s); nothing changed, retrying at the next poll",
		    src->name, what, url, jerr.line, jerr.text);
	return root;
}

static void
add_repo_url(struct buf *url, const struct forge *f,
    const struct config_source *src)
{
	buf_addstr(url, f->cfg->api_url);
	buf_addstr(url, "/repos/");
	http_escape(url, src->user, false);
	buf_addch(url, '/');
	http_escape(url, src->repo, false);
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
	if (src->nfiles == 0)
		return true;
	for (i = 0; i < src->nfiles; i++)
		if (path_under(path, src->files[i]))
			return true;
	return false;
}

/* Whether a folder of the repository can hold a selected path. */
static bool
dir_relevant(const struct config_source *src, const char *dir)
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

static void
walk_refuse(struct walk *w, const char *path, size_t len, const char *why)
{
	struct buf q = BUF_INIT;

	if (w->warned++ >= FORGE_WARN_MAX) {
		if (w->warned == FORGE_WARN_MAX + 2)
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

/* One entry of a git tree; prefix is the folder the tree lists. */
static void
walk_tree_entry(struct walk *w, json_t *e, const char *prefix)
{
	json_t *jpath = json_object_get(e, "path");
	const char *type = json_string_value(json_object_get(e, "type"));
	const char *mode_s = json_string_value(json_object_get(e, "mode"));
	const char *sha = json_string_value(json_object_get(e, "sha"));
	json_t *jsize = json_object_get(e, "size");
	struct buf path = BUF_INIT;
	const char *why, *rel;
	unsigned long mode;

	if (!json_is_string(jpath) || type == NULL || mode_s == NULL) {
		walk_refuse(w, "?", 1, "entry without path, type or mode");
		return;
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
	else if (path_selected(w->src, path.data, &rel))
		manifest_add(w->m, rel, sha,
		    (uint64_t)json_integer_value(jsize), (unsigned)mode);
out:
	buf_release(&path);
}

static int
get_tree(struct walk *w, const char *sha, bool recursive, long page,
    json_t **root, const char *url_what)
{
	struct forge *f = w->f;
	struct buf url = BUF_INIT;
	struct http_request rq = { .fd = -1 };
	struct http_response rs;
	enum api_result r;

	*root = NULL;
	add_repo_url(&url, f, w->src);
	buf_addf(&url, "/git/trees/%s", sha);
	if (recursive)
		buf_addstr(&url, "?recursive=1");
	if (page > 0)
		buf_addf(&url, "%cpage=%ld", recursive ? '&' : '?', page);
	rq.url = url.data;
	r = api_get(f, w->src, url_what, &rq, &rs, true, NULL);
	if (r == API_OK && rs.status == 200) {
		*root = parse_body(f, w->src, url_what, url.data);
		if (*root && !json_is_array(json_object_get(*root, "tree"))) {
			log_failx("source '%s': %s from %s has no tree list; "
			    "is api_url a GitHub-compatible API?", w->src->name,
			    url_what, url.data);
			json_decref(*root);
			*root = NULL;
		}
		if (*root == NULL)
			r = API_FAIL;
	} else if (r == API_OK) {
		log_failx("source '%s': unexpected answer %ld for %s",
		    w->src->name, rs.status, url_what);
		r = API_FAIL;
	}
	http_response_release(&rs);
	buf_release(&url);
	return r;
}

/* A truncated tree on GitHub: walk the relevant subtrees one by one. */
static int
walk_subtree(struct walk *w, const char *sha, const char *prefix, int depth)
{
	json_t *root, *e;
	size_t i;
	int r;

	if (depth > FORGE_MAX_DEPTH)
		return log_failx("source '%s': folders nested deeper than %d "
		    "at '%s'", w->src->name, FORGE_MAX_DEPTH, prefix);
	r = get_tree(w, sha, false, 0, &root, "a folder's tree");
	if (r != API_OK)
		return r == API_NOT_FOUND ? log_failx("source '%s': tree %s "
		    "of '%s' not found (404)", w->src->name, sha, prefix) : -1;
	if (json_is_true(json_object_get(root, "truncated"))) {
		json_decref(root);
		return log_failx("source '%s': folder '%s' has more entries "
		    "than the API lists", w->src->name, prefix);
	}
	json_array_foreach(json_object_get(root, "tree"), i, e) {
		const char *type = json_string_value(json_object_get(e, "type"));
		json_t *jpath = json_object_get(e, "path");
		const char *tsha = json_string_value(json_object_get(e, "sha"));
		struct buf sub = BUF_INIT;
		const char *why;

		walk_tree_entry(w, e, prefix);
		if (type == NULL || strcmp(type, "tree") != 0 ||
		    !json_is_string(jpath))
			continue;
		if (*prefix)
			buf_addf(&sub, "%s/", prefix);
		buf_add(&sub, json_string_value(jpath),
		    json_string_length(jpath));
		if (path_is_safe(sub.data, sub.len, &why) &&
		    strchr(json_string_value(jpath), '/') == NULL &&
		    tsha && githash_is_hex(tsha) && dir_relevant(w->src,
		    sub.data) && walk_subtree(w, tsha, sub.data, depth + 1)) {
			buf_release(&sub);
			json_decref(root);
			return -1;
		}
		buf_release(&sub);
	}
	json_decref(root);
	return 0;
}

/* The manifest of commit from git trees: 0, -1, or 1 when there are none. */
static int
read_trees(struct walk *w, const char *commit)
{
	json_t *root, *e;
	long page = 0;
	size_t i;
	int r;

	for (;;) {
		json_t *jpage;

		r = get_tree(w, commit, true, page, &root, "the tree");
		if (r != API_OK)
			return r == API_NOT_FOUND ? 1 : -1;
		json_array_foreach(json_object_get(root, "tree"), i, e)
			walk_tree_entry(w, e, "");
		if (!json_is_true(json_object_get(root, "truncated")))
			break;
		/* Gitea pages its trees; GitHub truncates them. */
		jpage = json_object_get(root, "page");
		if (json_is_integer(jpage) && json_integer_value(jpage) > 0 &&
		    json_integer_value(jpage) < FORGE_MAX_PAGES) {
			page = (long)json_integer_value(jpage) + 1;
			json_decref(root);
			continue;
		}
		log_info("source '%s': the tree of %s is truncated; reading "
		    "its folders one by one", w->src->name, commit);
		manifest_release(w->m);
		json_decref(root);
		return walk_subtree(w, commit, "", 0);
	}
	json_decref(root);
	return 0;
}

/*
 * One directory listing of the contents API, as cached: an array of
 * {name, path, type, sha, size} whose paths were checked.  Returns a new
 * reference or NULL (logged).
 */
static json_t *
normalise_listing(struct walk *w, json_t *list, const char *dir,
    const char *url)
{
	json_t *out, *e;
	size_t i, dlen = strlen(dir);

	if (!json_is_array(list)) {
		log_failx("source '%s': %s is not a folder listing (is "
		    "working_dir a folder?)", w->src->name, url);
		return NULL;
	}
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
		/* In listings submodules say "file" but have no download. */
		if (strcmp(type, "file") == 0 &&
		    (json_object_get(e, "submodule_git_url") ||
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

static int
walk_contents(struct walk *w, const char *dir, int depth)
{
	struct forge *f = w->f;
	struct buf url = BUF_INIT;
	struct http_request rq = { .fd = -1 };
	struct http_response rs;
	json_t *cached, *list = NULL, *e;
	const char *etag;
	size_t i;
	int rc = -1;

	if (depth > FORGE_MAX_DEPTH)
		return log_failx("source '%s': folders nested deeper than %d "
		    "at '%s'", w->src->name, FORGE_MAX_DEPTH, dir);
	add_repo_url(&url, f, w->src);
	buf_addstr(&url, "/contents/");
	http_escape(&url, dir, true);
	buf_addstr(&url, "?ref=");
	http_escape(&url, w->src->branch, false);
	cached = json_object_get(w->old_cache, dir);
	etag = json_string_value(json_object_get(cached, "etag"));
	rq.url = url.data;
	rq.accept = "application/vnd.github+json";
	rq.if_none_match = json_is_array(json_object_get(cached, "entries")) ?
	    etag : NULL;
	if (api_get(f, w->src, "a folder listing", &rq, &rs, false,
	    "check working_dir and files, and that the branch has them") !=
	    API_OK)
		goto out;
	if (rs.status == 304)
		list = json_incref(json_object_get(cached, "entries"));
	else if (rs.status == 200) {
		json_t *root = parse_body(f, w->src, "a folder listing",
		    url.data);

		if (root == NULL)
			goto out;
		list = normalise_listing(w, root, dir, url.data);
		json_decref(root);
		if (list == NULL)
			goto out;
	} else {
		log_failx("source '%s': unexpected answer %ld from %s",
		    w->src->name, rs.status, url.data);
		goto out;
	}
	json_object_set_new(w->new_cache, dir, json_pack("{s:s?,s:O}", "etag",
	    rs.etag, "entries", list));
	json_array_foreach(list, i, e) {
		const char *path = json_string_value(json_object_get(e, "path"));
		const char *type = json_string_value(json_object_get(e, "type"));
		const char *sha = json_string_value(json_object_get(e, "sha"));
		json_int_t size = json_integer_value(json_object_get(e, "size"));
		const char *rel, *why;

		if (path == NULL || type == NULL ||
		    !path_is_safe(path, strlen(path), &why))
			continue;
		if (strcmp(type, "dir") == 0) {
			if (dir_relevant(w->src, path) &&
			    walk_contents(w, path, depth + 1) == -1)
				goto out;
		} else if (strcmp(type, "file") == 0) {
			if (sha && path_selected(w->src, path, &rel))
				manifest_add(w->m, rel, sha, (uint64_t)size,
				    0100644);
		} else if (strcmp(type, "symlink") == 0)
			walk_skip(w, path, "symbolic link");
		else if (strcmp(type, "submodule") == 0)
			walk_skip(w, path, "submodule");
		else
			walk_refuse(w, path, strlen(path), "unknown type");
	}
	rc = 0;
out:
	json_decref(list);
	http_response_release(&rs);
	buf_release(&url);
	return rc;
}

/* The branch head: 0 with commit set, or -1. */
static int
read_head(struct forge *f, const struct config_source *src, const char *etag,
    char commit[GITHASH_HEXSZ], char **new_etag, bool *not_modified)
{
	struct buf url = BUF_INIT, hint = BUF_INIT;
	struct http_request rq = { .fd = -1 };
	struct http_response rs;
	int rc = -1;

	*not_modified = false;
	*new_etag = NULL;
	add_repo_url(&url, f, src);
	buf_addstr(&url, "/commits/");
	http_escape(&url, src->branch, true);
	buf_addf(&hint, "check user = %s, repo = %s and branch = %s in "
	    "[source %s] of %s; a private repository needs a token "
	    "(token_file or SENKO_TOKEN)", src->user, src->repo, src->branch,
	    src->name, f->cfg->path);
	rq.url = url.data;
	rq.accept = ACCEPT_SHA;
	rq.if_none_match = etag;
	rq.max = 64 * 1024;
	if (api_get(f, src, "the branch head", &rq, &rs, false,
	    hint.data) != API_OK)
		goto out;
	if (rs.status == 304) {
		*not_modified = true;
		rc = 0;
		goto out;
	}
	buf_rtrim(&f->body);
	if (f->body.len > 0 && f->body.data[0] == '{') {
		/* A forge that ignores the sha media type answers JSON. */
		json_t *root = parse_body(f, src, "the branch head", url.data);
		const char *sha = json_string_value(json_object_get(root,
		    "sha"));

		snprintf(commit, GITHASH_HEXSZ, "%s", sha ? sha : "");
		json_decref(root);
		if (root == NULL)
			goto out;
	} else if (f->body.len == GITHASH_HEXLEN)
		snprintf(commit, GITHASH_HEXSZ, "%s", f->body.data);
	else
		commit[0] = '\0';
	if (!githash_is_hex(commit)) {
		log_failx("source '%s': the branch head from %s is not a "
		    "commit SHA (%zu bytes); is api_url right?", src->name,
		    url.data, f->body.len);
		goto out;
	}
	*new_etag = rs.etag;
	rs.etag = NULL;
	rc = 0;
out:
	http_response_release(&rs);
	buf_release(&hint);
	buf_release(&url);
	return rc;
}

static bool
manifest_equal(const struct manifest *a, const struct manifest *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->entries[i].path, b->entries[i].path) != 0 ||
		    strcmp(a->entries[i].sha, b->entries[i].sha) != 0 ||
		    a->entries[i].mode != b->entries[i].mode)
			return false;
	return true;
}

static void
manifest_move(struct manifest *dst, struct manifest *src)
{
	manifest_release(dst);
	*dst = *src;
	manifest_init(src);
}

/* Read the manifest of commit afresh; the contents cache is returned. */
static int
read_manifest(struct forge *f, const struct config_source *src,
    const char *commit, struct manifest *m, json_t **cache)
{
	size_t idx = (size_t)(src - f->cfg->sources);
	struct walk w = { f, src, m, NULL, NULL, 0, false };
	bool contents = src->api == SOURCE_API_CONTENTS;
	int r;

	*cache = NULL;
	if (idx < f->cfg->nsources && f->no_trees[idx])
		contents = true;
	if (!contents) {
		r = read_trees(&w, commit);
		/* A mistyped working_dir must not look like an emptied repo. */
		if (r == 0 && *src->working_dir && !w.wd_found)
			r = log_failx("source '%s': working_dir '%s' is not a "
			    "folder in commit %.12s of %s/%s: check working_dir "
			    "in [source %s]", src->name, src->working_dir,
			    commit, src->user, src->repo, src->name);
		if (r != 1)
			goto done;
		log_notice("source '%s': the server has no git/trees endpoint "
		    "(404); using the contents API for this source",
		    src->name);
		if (idx < f->cfg->nsources)
			f->no_trees[idx] = true;
		manifest_release(m);
	}
	w.old_cache = load_contents_cache(f->cfg, src);
	w.new_cache = json_object();
	r = walk_contents(&w, src->working_dir, 0);
	json_decref(w.old_cache);
	if (r == 0)
		*cache = w.new_cache;
	else
		json_decref(w.new_cache);
done:
	if (r == 0) {
		snprintf(m->commit, sizeof(m->commit), "%s", commit);
		manifest_sort(m);
		if (w.warned)
			log_warnx("source '%s': %u entries refused or skipped "
			    "(see above)", src->name, w.warned);
	}
	return r == 0 ? 0 : -1;
}

struct forge *
forge_new(const struct config *cfg, const struct store *store)
{
	struct forge *f;
	char *token;

	if (config_load_token(cfg, &token) == -1)
		return NULL;
	f = xcalloc(1, sizeof(*f));
	f->cfg = cfg;
	f->store = store;
	f->low_warned = -1;
	f->no_trees = xcalloc(cfg->nsources + 1, sizeof(*f->no_trees));
	buf_init(&f->body, HTTP_JSON_MAX);
	f->have_token = token != NULL;
	f->http = http_new(token, cfg->ca_file);
	if (token) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	if (f->http == NULL) {
		forge_free(f);
		return NULL;
	}
	load_retry_after(f);
	return f;
}

void
forge_free(struct forge *f)
{
	if (f == NULL)
		return;
	http_free(f->http);
	buf_release(&f->body);
	free(f->no_trees);
	free(f);
}

int
forge_poll(struct forge *f, const struct config_source *src,
    struct manifest *out, bool *changed)
{
	struct source_state st;
	struct manifest saved = MANIFEST_INIT, fresh = MANIFEST_INIT;
	char commit[GITHASH_HEXSZ] = "";
	char *etag = NULL;
	json_t *cache = NULL;
	bool have_saved, not_modified;
	int rc = -1;

	*changed = false;
	if (refuse_if_limited(f, src) == -1)
		return -1;
	have_saved = load_saved(f->cfg, src, &st, &saved);
	if (read_head(f, src, have_saved ? st.etag : NULL, commit, &etag,
	    &not_modified) == -1)
		goto out;
	if (not_modified) {
		manifest_move(out, &saved);
		rc = 0;
		goto out;
	}
	if (have_saved && strcmp(commit, st.commit) == 0) {
		/* Same commit under a new ETag: nothing to read again. */
		if (etag && (st.etag == NULL || strcmp(etag, st.etag) != 0) &&
		    save_state(f->cfg, src, commit, etag) == -1)
			goto out;
		manifest_move(out, &saved);
		rc = 0;
		goto out;
	}
	if (read_manifest(f, src, commit, &fresh, &cache) == -1)
		goto out;
	if (save_manifest(f->cfg, src, &fresh, cache) == -1 ||
	    save_state(f->cfg, src, commit, etag) == -1) {
		log_failx("source '%s': cannot save its state under '%s'; "
		    "check state_dir", src->name, f->cfg->state_dir);
		goto out;
	}
	*changed = !have_saved || strcmp(saved.commit, fresh.commit) != 0 ||
	    !manifest_equal(&saved, &fresh);
	log_info("source '%s': commit %.12s, %zu files%s", src->name, commit,
	    fresh.n, *changed ? "" : " (unchanged)");
	manifest_move(out, &fresh);
	rc = 0;
out:
	json_decref(cache);
	free(etag);
	manifest_release(&saved);
	manifest_release(&fresh);
	source_state_release(&st);
	return rc;
}

int
forge_saved_manifest(const struct config *cfg,
    const struct config_source *src, struct manifest *out)
{
	struct source_state st;
	struct manifest m = MANIFEST_INIT;
	bool ok;

	ok = load_saved(cfg, src, &st, &m);
	source_state_release(&st);
	if (!ok)
		return -1;
	manifest_move(out, &m);
	return 0;
}

static int
fetch_blob(struct forge *f, const struct config_source *src,
    const struct manifest_entry *e, bool *fatal_error)
{
	struct buf url = BUF_INIT, what = BUF_INIT;
	struct http_request rq = { .fd = -1 };
	struct http_response rs;
	struct store_tmp t;
	enum api_result r;
	int rc = -1;

	*fatal_error = false;
	if (e->size > HTTP_BLOB_MAX)
		return log_failx("source '%s': '%s' is %llu bytes; senko "
		    "refuses files over %u bytes", src->name, e->path,
		    (unsigned long long)e->size, HTTP_BLOB_MAX);
	if (store_begin(f->store, &t) == -1) {
		*fatal_error = true;
		return -1;
	}
	add_repo_url(&url, f, src);
	buf_addf(&url, "/git/blobs/%s", e->sha);
	buf_addf(&what, "blob %.12s of '%s'", e->sha, e->path);
	rq.url = url.data;
	rq.accept = ACCEPT_RAW;
	rq.fd = t.fd;
	rq.max = e->size;
	r = api_get(f, src, what.data, &rq, &rs, false,
	    "the repository changed or the blob is gone; the next poll "
	    "reads the tree again");
	if (r != API_OK || rs.status != 200) {
		if (r == API_OK)
			log_failx("source '%s': unexpected answer %ld for %s",
			    src->name, rs.status, what.data);
		/* Only an answer about this blob lets the others go on. */
		*fatal_error = rs.status != 404 && rs.status != 422;
		store_abort(&t);
		goto out;
	}
	if (store_commit(f->store, &t, e->sha) == -1) {
		log_failx("source '%s': %s from %s failed verification; "
		    "not stored", src->name, what.data, url.data);
		goto out;
	}
	f->stats.blobs_fetched++;
	rc = 0;
out:
	http_response_release(&rs);
	buf_release(&what);
	buf_release(&url);
	return rc;
}

int
forge_fetch_blobs(struct forge *f, const struct config_source *src,
    const struct manifest *m)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < m->n; i++) {
		const struct manifest_entry *e = &m->entries[i];
		bool fatal_error;

		if (store_has(f->store, e->sha))
			continue;
		if (refuse_if_limited(f, src) == -1)
			return -1;
		if (fetch_blob(f, src, e, &fatal_error) == -1) {
			rc = -1;
			if (fatal_error)
				break;
		}
	}
	return rc;
}

time_t
forge_retry_after(const struct forge *f)
{
	return f->retry_after > time(NULL) ? f->retry_after : 0;
}

const struct forge_stats *
forge_stats(const struct forge *f)
{
	return &f->stats;
}
