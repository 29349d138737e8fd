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
 *
 * Beside it, in src/forge/: walk.c turns tree and listing JSON into
 * manifest entries (no network), source_state.c keeps the files of
 * state_dir/sources/NAME/.  This file holds the API policy (requests,
 * rate limits, messages) and the walks that fetch trees and listings.
 */
#include <signal.h>
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
#include "forge/local.h"
#include "forge/source_state.h"
#include "forge/walk.h"
#include "banned.h"

#define FORGE_BACKOFF_MIN 60
#define FORGE_BACKOFF_MAX 3600
/* The longest wait a server can impose (retry-after, x-ratelimit-reset),
 * in memory and in .retry-after: a proxy or a wrong clock must not stop
 * polling for years. */
#define FORGE_RETRY_MAX 3600
#define FORGE_MAX_DEPTH 64           /* folders deep, for subtree walks */
#define FORGE_MAX_PAGES 1000         /* Gitea tree pages */
#define ACCEPT_SHA "application/vnd.github.sha"
#define ACCEPT_RAW "application/vnd.github.raw+json"

struct forge {
	const struct config *cfg;
	const struct store *store;      /* borrowed */
	struct http *http;
	time_t retry_after;
	unsigned backoff;               /* last back-off without headers, s */
	long long low_warned;           /* reset time of the warned window */
	bool have_token;
	volatile sig_atomic_t *stop;    /* borrowed; nonzero: give up now */
	struct forge_stats stats;
	struct buf body;
};

enum api_result {
	API_OK = 0,        /* 2xx or 304 */
	API_FAIL = -1,     /* logged */
	API_NOT_FOUND = 1, /* 404, when the caller asked to handle it */
};

static bool
forge_stop_requested(const struct forge *f)
{
	return f->stop != NULL && *f->stop;
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

static void set_retry_after(struct forge *f, time_t t);

static void
load_retry_after(struct forge *f)
{
	char *path = retry_after_path(f->cfg);
	struct buf b;
	time_t now = time(NULL);
	long long t;

	if (source_state_read_file(path, &b) == 0 &&
	    sscanf(b.data, "%lld", &t) == 1 && t > (long long)now) {
		/* Nothing saves a wait longer than FORGE_RETRY_MAX, so this
		 * file was edited or the clock jumped back: save the longest
		 * wait allowed from now, so it cannot slide with every run. */
		if (t > (long long)now + FORGE_RETRY_MAX) {
			log_warnx("'%s' asks to wait until %lld, more than %d s "
			    "from now; waiting %d s", path, t, FORGE_RETRY_MAX,
			    FORGE_RETRY_MAX);
			set_retry_after(f, now + FORGE_RETRY_MAX);
		} else
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

	if (t > time(NULL) + FORGE_RETRY_MAX)
		t = time(NULL) + FORGE_RETRY_MAX;
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
	f->stats.rate_limit_remaining = rs->rl_remaining;
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
	if (until > now + FORGE_RETRY_MAX)
		log_warnx("source '%s': the API asked to wait %lld s; senko "
		    "waits at most %d s", src->name, (long long)(until - now),
		    FORGE_RETRY_MAX);
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

static json_t *
parse_body(struct forge *f, const struct config_source *src, const char *what,
    const char *url)
{
	json_error_t jerr;
	json_t *root;

	root = walk_parse_json(f->body.data, f->body.len, &jerr);
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
	if (walk_count_request(w) == -1)
		return API_FAIL;
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

/*
 * A folder read with git trees, one tree per folder: for a tree GitHub
 * truncated, and for a folder the contents API cut at its limit.  Returns
 * 0, -1 (logged), or 1 when the server has no git/trees endpoint (404 on
 * the first tree asked, no_trees_ok).
 */
static int
walk_subtree(struct walk *w, const char *sha, const char *prefix, int depth,
    bool no_trees_ok)
{
	json_t *root, *e;
	size_t i;
	int r;

	if (depth > FORGE_MAX_DEPTH)
		return log_failx("source '%s': folders nested deeper than %d "
		    "at '%s'", w->src->name, FORGE_MAX_DEPTH, prefix);
	r = get_tree(w, sha, false, 0, &root, "a folder's tree");
	if (r == API_NOT_FOUND && no_trees_ok)
		return 1;
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

		if (walk_tree_entry(w, e, prefix) == -1) {
			json_decref(root);
			return -1;
		}
		if (type == NULL || strcmp(type, "tree") != 0 ||
		    !json_is_string(jpath))
			continue;
		if (*prefix)
			buf_addf(&sub, "%s/", prefix);
		buf_add(&sub, json_string_value(jpath),
		    json_string_length(jpath));
		if (path_is_safe(sub.data, sub.len, &why) &&
		    strchr(json_string_value(jpath), '/') == NULL &&
		    tsha && githash_is_hex(tsha) && walk_dir_relevant(w->src,
		    sub.data) && walk_subtree(w, tsha, sub.data, depth + 1,
		    false)) {
			buf_release(&sub);
			json_decref(root);
			return -1;
		}
		buf_release(&sub);
	}
	json_decref(root);
	return 0;
}

/*
 * The next page of a paged tree (Gitea), or 0 when the answer is not
 * paged.  A server that answers another page than the one asked, or
 * more pages than any tree needs, would have senko read forever: -1.
 */
static long
next_tree_page(struct walk *w, json_t *root, long asked)
{
	json_t *jpage = json_object_get(root, "page");
	long want = asked > 0 ? asked : 1;
	json_int_t got;

	if (!json_is_integer(jpage))
		return 0;
	got = json_integer_value(jpage);
	if (got != want)
		return log_failx("source '%s': the server answered page %lld "
		    "of the tree when asked for page %ld; refusing a tree "
		    "that may never end", w->src->name, (long long)got, want);
	if (got >= FORGE_MAX_PAGES)
		return log_failx("source '%s': the tree has more than %d "
		    "pages; refusing it", w->src->name, FORGE_MAX_PAGES);
	return (long)got + 1;
}

/* The manifest of commit from git trees: 0, -1, or 1 when there are none. */
static int
read_trees(struct walk *w, const char *commit)
{
	json_t *root, *e;
	long page = 0, next;
	size_t i;
	int r;

	for (;;) {
		r = get_tree(w, commit, true, page, &root, "the tree");
		if (r != API_OK)
			return r == API_NOT_FOUND && page == 0 ? 1 :
			    r == API_NOT_FOUND ? log_failx("source '%s': page "
			    "%ld of the tree not found (404)", w->src->name,
			    page) : -1;
		json_array_foreach(json_object_get(root, "tree"), i, e)
			if (walk_tree_entry(w, e, "") == -1) {
				json_decref(root);
				return -1;
			}
		if (!json_is_true(json_object_get(root, "truncated")))
			break;
		/* Gitea pages its trees; GitHub truncates them. */
		next = next_tree_page(w, root, page);
		json_decref(root);
		if (next == -1)
			return -1;
		if (next > 0) {
			page = next;
			continue;
		}
		log_info("source '%s': the tree of %s is truncated; reading "
		    "its folders one by one", w->src->name, commit);
		manifest_release(w->m);
		return walk_subtree(w, commit, "", 0, false);
	}
	json_decref(root);
	return 0;
}

/*
 * A listing cut at the contents API's limit is read again with git trees:
 * by the folder's own tree, or for the top folder of the walk (nothing of
 * the walk added yet) from the commit down.  Without git trees the poll
 * fails: an incomplete list would leave files out, and prune would delete
 * them from the boards.
 */
static int
read_capped_folder(struct walk *w, const char *dir, const char *sha,
    int depth)
{
	int r;

	log_notice("source '%s': the contents API listed %d entries of "
	    "folder '%s', as many as it ever lists; reading the folder with "
	    "git trees instead", w->src->name, WALK_CONTENTS_LIST_MAX, dir);
	if (depth == 0) {
		manifest_release(w->m);
		r = walk_subtree(w, w->commit, "", 0, true);
	} else if (sha)
		r = walk_subtree(w, sha, dir, depth, true);
	else
		r = 1;
	if (r == 1)
		r = log_failx("source '%s': folder '%s' may hold more than the "
		    "%d entries the contents API lists, and the server has "
		    "no git trees to read it whole; refusing an incomplete "
		    "file list (fewer files in a folder, or api_url of a "
		    "server with git/trees, fixes it)", w->src->name, dir,
		    WALK_CONTENTS_LIST_MAX);
	return r;
}

/* One listing of the contents API, from the cache when it answers 304. */
static json_t *
get_listing(struct walk *w, const char *dir, bool *capped)
{
	struct forge *f = w->f;
	struct buf url = BUF_INIT;
	struct http_request rq = { .fd = -1 };
	struct http_response rs = { 0 };
	json_t *cached, *list = NULL;
	const char *etag;

	*capped = false;
	if (walk_count_request(w) == -1)
		return NULL;
	add_repo_url(&url, f, w->src);
	buf_addstr(&url, "/contents/");
	http_escape(&url, dir, true);
	/* The commit the head named, not the branch: a push during the
	 * walk must not mix its files into the other folders' listings. */
	buf_addstr(&url, "?ref=");
	buf_addstr(&url, w->commit);
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
	if (rs.status == 304) {
		list = json_incref(json_object_get(cached, "entries"));
		*capped = json_is_true(json_object_get(cached, "capped"));
	} else if (rs.status == 200) {
		json_t *root = parse_body(f, w->src, "a folder listing",
		    url.data);

		if (root == NULL)
			goto out;
		list = walk_normalise_listing(w, root, dir, url.data, capped);
		json_decref(root);
	} else
		log_failx("source '%s': unexpected answer %ld from %s",
		    w->src->name, rs.status, url.data);
	if (list)
		json_object_set_new(w->new_cache, dir, json_pack("{s:s?,s:O,"
		    "s:b}", "etag", rs.etag, "entries", list, "capped",
		    *capped));
out:
	http_response_release(&rs);
	buf_release(&url);
	return list;
}

static int
walk_contents(struct walk *w, const char *dir, const char *sha, int depth)
{
	json_t *list, *e;
	bool capped;
	size_t i;
	int rc = -1;

	if (depth > FORGE_MAX_DEPTH)
		return log_failx("source '%s': folders nested deeper than %d "
		    "at '%s'", w->src->name, FORGE_MAX_DEPTH, dir);
	list = get_listing(w, dir, &capped);
	if (list == NULL)
		return -1;
	if (capped) {
		rc = read_capped_folder(w, dir, sha, depth);
		goto out;
	}
	json_array_foreach(list, i, e) {
		const char *subdir, *subsha;

		if (walk_listing_entry(w, e, &subdir, &subsha) == -1)
			goto out;
		if (subdir && walk_contents(w, subdir, subsha, depth + 1) == -1)
			goto out;
	}
	rc = 0;
out:
	json_decref(list);
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

/*
 * A git tree holds each name once, and a name is a file or a folder.  An
 * answer that breaks this (a broken mirror or proxy) would have the
 * boards' files depend on which entry came last, or a file and a folder
 * take each other's place in every session: the poll fails instead.
 */
static int
refuse_conflicts(const struct config_source *src, const char *commit,
    struct manifest *m)
{
	struct buf q = BUF_INIT;
	const char *path;
	bool twice;

	path = manifest_conflict(m, &twice);
	if (path == NULL)
		return 0;
	path_quote(&q, path, strlen(path));
	log_failx("source '%s': the server lists '%s' %s in commit %.12s, "
	    "which no git tree can hold; refusing the file list (is api_url "
	    "a faithful GitHub API?)", src->name, q.data, twice ? "twice" :
	    "as a file and as a folder", commit);
	buf_release(&q);
	return -1;
}

/*
 * Read the manifest of commit afresh; the contents cache is returned and
 * *used says which API gave it.  A server without git trees (404) is read
 * with the contents API for this poll only: the next poll tries trees
 * again, and what the fallback read is saved under its own fingerprint,
 * so it never passes for a trees manifest.
 */
static int
read_manifest(struct forge *f, const struct config_source *src,
    const char *commit, struct manifest *m, json_t **cache,
    enum source_api *used)
{
	struct walk w = { .f = f, .src = src, .m = m, .commit = commit };
	int r;

	*cache = NULL;
	*used = src->api;
	if (src->api == SOURCE_API_TREES) {
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
		    "(404); using the contents API for this poll", src->name);
		*used = SOURCE_API_CONTENTS;
		manifest_release(m);
	}
	w.old_cache = source_state_load_contents(f->cfg, src);
	w.new_cache = json_object();
	r = walk_contents(&w, src->working_dir, NULL, 0);
	json_decref(w.old_cache);
	if (r == 0)
		*cache = w.new_cache;
	else
		json_decref(w.new_cache);
done:
	if (r == 0)
		r = refuse_conflicts(src, commit, m);
	if (r == 0) {
		snprintf(m->commit, sizeof(m->commit), "%s", commit);
		manifest_sort(m);
		/* Every listing and tree was read whole: prune may trust it. */
		m->complete = true;
		if (w.warned)
			log_warnx("source '%s': %u %s refused or skipped "
			    "(see above)", src->name, w.warned,
			    w.warned == 1 ? "entry" : "entries");
		walk_warn_unmatched_files(&w);
	}
	return r == 0 ? 0 : -1;
}

struct forge *
forge_new(const struct config *cfg, const struct store *store,
    bool *config_error)
{
	struct forge *f;
	char *token;

	*config_error = false;
	if (config_check_ca_file(cfg->ca_file, "[senkod] ca_file") == -1 ||
	    config_load_token(cfg, &token) == -1) {
		*config_error = true;
		return NULL;
	}
	f = xcalloc(1, sizeof(*f));
	f->cfg = cfg;
	f->store = store;
	f->low_warned = -1;
	f->stats.rate_limit_remaining = -1;
	buf_init(&f->body, HTTP_JSON_MAX);
	f->have_token = token != NULL;
	f->http = http_new(token, cfg->ca_file,
	    strncmp(cfg->api_url, "https://", 8) == 0);
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
	free(f);
}

static int poll_branch(struct forge *f, const struct config_source *src,
    struct manifest *out, bool *changed);

/*
 * With `branch` unset, the repository's default branch: asked once with
 * GET /repos/{owner}/{repo} and kept in the source state (Senko assumed
 * master, senko main; the repository knows).  *eff is src with the branch
 * filled in, *owned what to free.  Without a forge (f NULL) only the saved
 * answer is used.  Returns 0 or -1 (logged).
 */
static int
effective_source(struct forge *f, const struct config *cfg,
    const struct config_source *src, struct config_source *eff, char **owned)
{
	struct buf url = BUF_INIT, hint = BUF_INIT;
	struct http_request rq = { .fd = -1 };
	struct http_response rs;
	const char *name;
	json_t *root = NULL;
	int rc = -1;

	*eff = *src;
	*owned = NULL;
	if (src->branch != NULL || src->path != NULL)
		return 0;
	*owned = source_state_load_default_branch(cfg, src);
	if (*owned != NULL || f == NULL) {
		eff->branch = *owned;
		return *owned ? 0 : -1;
	}
	add_repo_url(&url, f, src);
	buf_addf(&hint, "check user = %s and repo = %s in [source %s] of %s; "
	    "a private repository needs a token (token_file or SENKO_TOKEN)",
	    src->user, src->repo, src->name, cfg->path);
	rq.url = url.data;
	rq.max = 256 * 1024;
	if (api_get(f, src, "the repository", &rq, &rs, false,
	    hint.data) != API_OK || rs.status != 200 ||
	    (root = parse_body(f, src, "the repository", url.data)) == NULL)
		goto out;
	name = json_string_value(json_object_get(root, "default_branch"));
	if (name == NULL || *name == '\0' || strlen(name) > 255 ||
	    strpbrk(name, "\n\r\t ") != NULL) {
		log_failx("source '%s': %s names no usable default_branch; set "
		    "branch in [source %s]", src->name, url.data, src->name);
		goto out;
	}
	*owned = xstrdup(name);
	if (source_state_save_default_branch(cfg, src, name) == -1)
		goto out;
	log_info("source '%s': branch unset, following the repository's "
	    "default branch '%s'", src->name, name);
	eff->branch = *owned;
	rc = 0;
out:
	if (rc == -1) {
		free(*owned);
		*owned = NULL;
	}
	json_decref(root);
	http_response_release(&rs);
	buf_release(&hint);
	buf_release(&url);
	return rc;
}

int
forge_poll(struct forge *f, const struct config_source *src,
    struct manifest *out, bool *changed)
{
	struct config_source eff;
	char *default_branch = NULL;
	int rc;

	*changed = false;
	if (src->path)
		return local_poll(f->cfg, f->store, src, out, changed,
		    f->stop);
	if (refuse_if_limited(f, src) == -1 ||
	    effective_source(f, f->cfg, src, &eff, &default_branch) == -1)
		return -1;
	rc = poll_branch(f, &eff, out, changed);
	free(default_branch);
	return rc;
}

static int
poll_branch(struct forge *f, const struct config_source *src,
    struct manifest *out, bool *changed)
{
	struct source_state st;
	struct manifest saved = MANIFEST_INIT, fresh = MANIFEST_INIT;
	char commit[GITHASH_HEXSZ] = "";
	char *etag = NULL;
	json_t *cache = NULL;
	enum source_api used;
	bool have_saved, not_modified;
	int rc = -1;

	have_saved = source_state_load(f->cfg, src, &st, &saved);
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
		    source_state_save(f->cfg, src, src->api, commit, etag) == -1)
			goto out;
		manifest_move(out, &saved);
		rc = 0;
		goto out;
	}
	if (read_manifest(f, src, commit, &fresh, &cache, &used) == -1)
		goto out;
	if (source_state_save_manifest(f->cfg, src, &fresh, cache) == -1 ||
	    source_state_save(f->cfg, src, used, commit, etag) == -1) {
		log_failx("source '%s': cannot save its state under '%s'; "
		    "check state_dir", src->name, f->cfg->state_dir);
		goto out;
	}
	*changed = !have_saved || strcmp(saved.commit, fresh.commit) != 0 ||
	    !manifest_equal(&saved, &fresh);
	log_info("source '%s': commit %.12s, %zu file%s%s", src->name, commit,
	    fresh.n, fresh.n == 1 ? "" : "s", *changed ? "" : " (unchanged)");
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
forge_manifest_at(struct forge *f, const struct config_source *src,
    const char *ref, const char *known_commit, struct manifest *out)
{
	struct config_source eff;
	char commit[GITHASH_HEXSZ] = "";
	char *etag = NULL;
	json_t *cache = NULL;
	enum source_api used;
	bool not_modified;
	int rc;

	if (src->path)
		return log_failx("source '%s' is a local folder: it has no "
		    "tags or commits to resolve '%s' in", src->name, ref);
	if (refuse_if_limited(f, src) == -1)
		return -1;
	eff = *src;
	eff.branch = (char *)ref;
	if (read_head(f, &eff, NULL, commit, &etag, &not_modified) == -1) {
		free(etag);
		return log_failx("source '%s': cannot resolve '%s' to a "
		    "commit (a tag, branch or commit SHA of %s/%s?)",
		    src->name, ref, src->user, src->repo);
	}
	free(etag);
	if (known_commit && strcmp(known_commit, commit) == 0) {
		snprintf(out->commit, sizeof(out->commit), "%s", commit);
		return 1;
	}
	/* Listings are asked at the commit itself, not the branch. */
	eff.branch = commit;
	rc = read_manifest(f, &eff, commit, out, &cache, &used);
	json_decref(cache);
	return rc;
}

int
forge_saved_manifest(const struct config *cfg,
    const struct config_source *src, struct manifest *out)
{
	struct source_state st;
	struct manifest m = MANIFEST_INIT;
	struct config_source eff;
	char *default_branch = NULL;
	bool ok;

	if (effective_source(NULL, cfg, src, &eff, &default_branch) == -1)
		return -1;
	ok = source_state_load(cfg, &eff, &st, &m);
	source_state_release(&st);
	free(default_branch);
	if (!ok)
		return -1;
	manifest_move(out, &m);
	return 0;
}

/*
 * Fetch one blob into the store.  *no_answer is set when the request
 * failed in the network or the server rather than for this blob.
 */
static int
fetch_blob(struct forge *f, const struct config_source *src,
    const struct manifest_entry *e, bool *no_answer)
{
	struct buf url = BUF_INIT, what = BUF_INIT;
	struct http_request rq = { .fd = -1 };
	struct http_response rs;
	struct store_tmp t;
	enum api_result r;
	int rc = -1;

	*no_answer = false;
	if (e->size > HTTP_BLOB_MAX)
		return log_failx("source '%s': '%s' is %llu bytes; senko "
		    "refuses files over %u bytes", src->name, e->path,
		    (unsigned long long)e->size, HTTP_BLOB_MAX);
	if (store_begin(f->store, &t) == -1)
		return -1;
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
		else
			*no_answer = http_transport_failed(&rs);
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

/*
 * Every missing blob is tried, whatever happened to the others: one bad
 * blob must not hold back the rest of an update (what failed is tried
 * again at the next poll).  A rate limit or a stop request ends the round
 * early, since no request could be made anyway, and so does a request
 * that got no answer (a timeout, a refused connection): against a network
 * black hole each further blob would wait its own timeout, and a hundred
 * of them outlast the service manager's watchdog.
 */
int
forge_fetch_blobs(struct forge *f, const struct config_source *src,
    const struct manifest *m)
{
	struct buf first = BUF_INIT;
	size_t i, failed = 0, not_asked = 0;
	bool give_up = false, no_answer = false;
	int rc = 0;

	for (i = 0; i < m->n; i++) {
		const struct manifest_entry *e = &m->entries[i];

		if (store_has(f->store, e->sha))
			continue;
		if (src->path) {
			/* A local poll stores what it reads; a blob missing
			 * now was removed from the store since (an old
			 * commit's, for a rollback): git may have it. */
			struct buf why = BUF_INIT;

			if (local_fetch_blob(f->store, src, e, &why) == -1 &&
			    failed++ == 0)
				buf_addstr(&first, why.data ? why.data : "");
			buf_release(&why);
			continue;
		}
		if (!give_up && (forge_stop_requested(f) ||
		    refuse_if_limited(f, src) == -1)) {
			give_up = true;
			if (failed == 0)
				buf_addstr(&first, forge_stop_requested(f) ?
				    "stop requested" : log_last_error());
		}
		if (give_up) {
			failed++;
			if (no_answer)
				not_asked++;
			continue;
		}
		if (fetch_blob(f, src, e, &no_answer) == 0)
			continue;
		if (failed++ == 0)
			buf_addstr(&first, log_last_error());
		if (no_answer)
			give_up = true;
	}
	if (failed > 0 && src->path)
		rc = log_failx("source '%s': %zu file%s of content %.12s not "
		    "available (first: %s); no board gets that content until "
		    "every file is in the store", src->name, failed,
		    failed == 1 ? "" : "s", m->commit, first.data);
	else if (failed > 0)
		rc = log_failx("source '%s': %zu blob%s of commit %.12s not "
		    "fetched (first: %s)%s; no board gets this commit until "
		    "every blob is in the store, retrying at the next poll",
		    src->name, failed, failed == 1 ? "" : "s", m->commit,
		    first.data, not_asked > 0 ? "; no answer came, so the "
		    "other blobs were not asked for in this round" : "");
	buf_release(&first);
	return rc;
}

void
forge_set_stop(struct forge *f, volatile sig_atomic_t *stop)
{
	f->stop = stop;
	http_set_stop(f->http, stop);
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
