/*
 * http.c - a small libcurl wrapper for the forge; see http.h.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "buf.h"
#include "http.h"
#include "fsutil.h"
#include "log.h"
#include "xalloc.h"
#include "banned.h"

#define HTTP_CONNECT_TIMEOUT 30L
#define HTTP_STALL_TIMEOUT 60L
/* The overall deadline: this many stall timeouts, plus for a blob its
 * size at this rate (bytes/s), so a trickling server cannot hold a poll
 * (or senkod's shutdown) for ever. */
#define HTTP_DEADLINE_FACTOR 3L
#define HTTP_DEADLINE_RATE (16u * 1024)
#define HTTP_MAX_REDIRECTS 5L
#define HTTP_API_VERSION "X-GitHub-Api-Version: 2022-11-28"
#define HTTP_DEFAULT_ACCEPT "application/vnd.github+json"
/* An error page in place of a blob is read into the buf up to this. */
#define HTTP_ERROR_BODY_MAX (64u * 1024)

struct http {
	CURL *curl;
	volatile sig_atomic_t *stop; /* borrowed; nonzero aborts a transfer */
	char *auth_header; /* "Authorization: Bearer ..."; owned, wiped */
	char errbuf[CURL_ERROR_SIZE]; /* libcurl's fixed-size contract */
};

/* What the callbacks of one transfer share. */
struct xfer {
	const struct http_request *rq;
	struct http_response *rs;
	bool to_fd;       /* this answer's body goes to rq->fd */
	uint64_t written; /* bytes written to rq->fd */
	int fd_errno;
	long elapsed;     /* seconds the transfer took */
	bool redirected;  /* an answer was a redirect */
};

static bool curl_ready;

long
http_timeout(void)
{
	const char *env = getenv("SENKO_HTTP_TIMEOUT");
	char *end;
	long v;

	if (env == NULL || *env == '\0')
		return HTTP_STALL_TIMEOUT;
	errno = 0;
	v = strtol(env, &end, 10);
	if (errno || *end || v <= 0 || v > 3600) {
		log_warnx("ignoring SENKO_HTTP_TIMEOUT='%s': expected seconds "
		    "from 1 to 3600", env);
		return HTTP_STALL_TIMEOUT;
	}
	return v;
}

long
http_deadline(const struct http_request *rq)
{
	uint64_t extra = rq->fd >= 0 ? rq->max / HTTP_DEADLINE_RATE : 0;

	return HTTP_DEADLINE_FACTOR * http_timeout() + (long)extra;
}

/* libcurl calls this about once a second, even while nothing arrives. */
static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	const struct http *h = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return h->stop != NULL && *h->stop ? 1 : 0;
}

void
http_set_stop(struct http *h, volatile sig_atomic_t *stop)
{
	h->stop = stop;
}

struct http *
http_new(const char *token, const char *ca_file, bool https_only)
{
	struct http *h;
	long timeout = http_timeout();
	CURLcode rc = CURLE_OK;

	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			log_failx("cannot initialise libcurl");
			return NULL;
		}
		curl_ready = true;
	}
	h = xcalloc(1, sizeof(*h));
	h->curl = curl_easy_init();
	if (h->curl == NULL) {
		log_failx("cannot create a libcurl handle");
		free(h);
		return NULL;
	}
	if (token && *token)
		h->auth_header = xasprintf("Authorization: Bearer %s", token);

#define SETOPT(opt, val) \
	do { if (rc == CURLE_OK) rc = curl_easy_setopt(h->curl, opt, val); } \
	while (0)
	SETOPT(CURLOPT_NOSIGNAL, 1L);
	SETOPT(CURLOPT_USERAGENT, HTTP_USER_AGENT);
	SETOPT(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	SETOPT(CURLOPT_FOLLOWLOCATION, 1L);
	SETOPT(CURLOPT_MAXREDIRS, HTTP_MAX_REDIRECTS);
	SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	/* An https API never follows a redirect to http: the SHAs that
	 * vouch for every blob would then come in clear. */
	SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, https_only ? "https" :
	    "http,https");
	SETOPT(CURLOPT_NOPROGRESS, 0L);
	SETOPT(CURLOPT_XFERINFOFUNCTION, on_progress);
	SETOPT(CURLOPT_XFERINFODATA, h);
	SETOPT(CURLOPT_CONNECTTIMEOUT, timeout < HTTP_CONNECT_TIMEOUT ?
	    timeout : HTTP_CONNECT_TIMEOUT);
	SETOPT(CURLOPT_LOW_SPEED_LIMIT, 1L);
	SETOPT(CURLOPT_LOW_SPEED_TIME, timeout);
	SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
	SETOPT(CURLOPT_ACCEPT_ENCODING, "");
	SETOPT(CURLOPT_ERRORBUFFER, h->errbuf);
	if (ca_file && *ca_file)
		SETOPT(CURLOPT_CAINFO, ca_file);
#undef SETOPT
	if (rc != CURLE_OK) {
		log_failx("cannot configure libcurl: %s", curl_easy_strerror(rc));
		http_free(h);
		return NULL;
	}
	return h;
}

void
http_free(struct http *h)
{
	if (h == NULL)
		return;
	curl_easy_cleanup(h->curl);
	if (h->auth_header) {
		explicit_bzero(h->auth_header, strlen(h->auth_header));
		free(h->auth_header);
	}
	free(h);
}

void
http_response_release(struct http_response *rs)
{
	free(rs->etag);
	free(rs->error);
	rs->etag = NULL;
	rs->error = NULL;
}

static void
response_reset(struct http_response *rs)
{
	free(rs->etag);
	rs->etag = NULL;
	rs->status = 0;
	rs->rl_limit = -1;
	rs->rl_remaining = -1;
	rs->rl_reset = -1;
	rs->retry_after = -1;
	rs->bytes = 0;
	rs->too_big = false;
}

static long long
header_number(const char *v, size_t n)
{
	long long x = 0;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9' || x > 1000000000000LL)
			return -1;
		x = x * 10 + (v[i] - '0');
	}
	return x;
}

/* Retry-After may also be an HTTP-date: seconds from now, or -1. */
static long
retry_after_date(const char *v, size_t n)
{
	char *date = xstrndup(v, n);
	time_t t = curl_getdate(date, NULL), now = time(NULL);

	free(date);
	if (t == -1)
		return -1;
	return t > now ? (long)(t - now) : 0;
}

/* A new answer begins (a redirect's target, say): forget the last one. */
static void
xfer_restart(struct xfer *x, long status)
{
	const struct http_request *rq = x->rq;

	response_reset(x->rs);
	x->rs->status = status;
	if (rq->body)
		buf_reset(rq->body);
	if (x->written > 0 && rq->fd >= 0) {
		if (ftruncate(rq->fd, 0) == -1 || lseek(rq->fd, 0, SEEK_SET))
			x->fd_errno = errno;
		x->written = 0;
	}
	x->to_fd = rq->fd >= 0 && status >= 200 && status < 300;
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	struct http_response *rs = x->rs;
	size_t len = size * nmemb, nlen, vlen;
	const char *colon, *v;
	long status;

	if (len > 5 && strncmp(data, "HTTP/", 5) == 0) {
		const char *sp = memchr(data, ' ', len);

		status = sp ? strtol(sp + 1, NULL, 10) : 0;
		if (status >= 300 && status < 400 && status != 304)
			x->redirected = true;
		xfer_restart(x, status);
		return len;
	}
	colon = memchr(data, ':', len);
	if (colon == NULL)
		return len;
	nlen = (size_t)(colon - data);
	v = colon + 1;
	vlen = len - nlen - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' ||
	    v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
#define IS(name) \
	(nlen == sizeof(name) - 1 && strncasecmp(data, name, nlen) == 0)
	if (IS("etag")) {
		free(rs->etag);
		rs->etag = vlen > 0 && vlen < 1024 ? xstrndup(v, vlen) : NULL;
	} else if (IS("x-ratelimit-limit"))
		rs->rl_limit = (long)header_number(v, vlen);
	else if (IS("x-ratelimit-remaining"))
		rs->rl_remaining = (long)header_number(v, vlen);
	else if (IS("x-ratelimit-reset"))
		rs->rl_reset = header_number(v, vlen);
	else if (IS("retry-after")) {
		rs->retry_after = (long)header_number(v, vlen);
		if (rs->retry_after < 0 && vlen > 0 && vlen < 64)
			rs->retry_after = retry_after_date(v, vlen);
	}
#undef IS
	return len;
}

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	const struct http_request *rq = x->rq;
	size_t len = size * nmemb;
	uint64_t cap = x->to_fd || rq->fd < 0 ? rq->max : HTTP_ERROR_BODY_MAX;

	if (x->rs->bytes + len > cap) {
		x->rs->too_big = true;
		return 0;
	}
	x->rs->bytes += len;
	if (x->to_fd) {
		if (fs_write_all(rq->fd, data, len) == -1) {
			x->fd_errno = errno;
			return 0;
		}
		x->written += len;
	} else if (rq->body && buf_add(rq->body, data, len) == -1) {
		x->rs->too_big = true;
		return 0;
	}
	return len;
}

/* Deflate's worst case is 5 bytes per 64 KiB stored block, plus headers. */
static uint64_t
encoded_cap(const struct http_request *rq)
{
	uint64_t cap = rq->fd < 0 || rq->max > HTTP_ERROR_BODY_MAX ? rq->max :
	    HTTP_ERROR_BODY_MAX;

	return cap + cap / 64 + 64 * 1024;
}

static void
describe_failure(struct http *h, struct xfer *x, CURLcode rc)
{
	struct http_response *rs = x->rs;
	const char *detail = h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc);

	if (rs->too_big)
		rs->error = xasprintf("the answer is larger than %llu bytes; "
		    "refused", (unsigned long long)x->rq->max);
	else if (x->fd_errno)
		rs->error = xasprintf("cannot write the download: %s",
		    strerror(x->fd_errno));
	else if (rc == CURLE_ABORTED_BY_CALLBACK)
		rs->error = xasprintf("stopped: senko was asked to stop");
	else if (rc == CURLE_OPERATION_TIMEDOUT && x->elapsed + 1 >=
	    http_deadline(x->rq))
		rs->error = xasprintf("timed out: no complete answer within "
		    "%ld s, the deadline for this request (%s); the server or "
		    "the network is too slow", http_deadline(x->rq), detail);
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		rs->error = xasprintf("timed out: no progress for %ld s (%s); "
		    "check the network, the proxy and the server", http_timeout(),
		    detail);
	else if (rc == CURLE_UNSUPPORTED_PROTOCOL && x->redirected)
		rs->error = xasprintf("refused a redirect to another protocol "
		    "(%s): an https api_url is only followed to https", detail);
	else if (rc == CURLE_PEER_FAILED_VERIFICATION ||
	    rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CERTPROBLEM)
		rs->error = xasprintf("TLS certificate problem: %s; if the "
		    "server uses a private CA, ca_file must name its "
		    "certificate bundle", detail);
	else if (rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR ||
	    rc == CURLE_HTTP2_STREAM || rc == CURLE_GOT_NOTHING)
		rs->error = xasprintf("the answer was cut short (%s); nothing "
		    "of it is used", detail);
	else if (rc == CURLE_TOO_MANY_REDIRECTS)
		rs->error = xasprintf("more than %ld redirects (%s)",
		    HTTP_MAX_REDIRECTS, detail);
	else
		rs->error = xasprintf("%s", detail);
}

int
http_get(struct http *h, const struct http_request *rq,
    struct http_response *rs)
{
	struct curl_slist *hdrs = NULL, *tmp;
	struct xfer x = { rq, rs, false, 0, 0, 0, false };
	curl_off_t took = 0;
	char *accept, *inm = NULL;
	CURLcode rc;

	memset(rs, 0, sizeof(*rs));
	response_reset(rs);
	if (rq->body)
		buf_reset(rq->body);
	accept = xasprintf("Accept: %s", rq->accept ? rq->accept :
	    HTTP_DEFAULT_ACCEPT);
	tmp = curl_slist_append(hdrs, accept);
	if (tmp)
		tmp = curl_slist_append(hdrs = tmp, HTTP_API_VERSION);
	if (tmp && h->auth_header)
		tmp = curl_slist_append(hdrs = tmp, h->auth_header);
	if (tmp && rq->if_none_match) {
		inm = xasprintf("If-None-Match: %s", rq->if_none_match);
		tmp = curl_slist_append(hdrs = tmp, inm);
	}
	if (tmp == NULL) {
		curl_slist_free_all(hdrs);
		free(accept);
		free(inm);
		rs->error = xstrdup("out of memory building the request");
		return -1;
	}
	hdrs = tmp;
	h->errbuf[0] = '\0';
	curl_easy_setopt(h->curl, CURLOPT_URL, rq->url);
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(h->curl, CURLOPT_TIMEOUT, http_deadline(rq));
	/* The cap is on the decoded bytes (on_body counts them): libcurl's
	 * own limit sees the encoded length, which gzip makes larger than
	 * the file for data that does not compress.  That limit only stops
	 * an encoded stream far longer than any encoding of the cap. */
	curl_easy_setopt(h->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)
	    encoded_cap(rq));
	rc = h->stop && *h->stop ? CURLE_ABORTED_BY_CALLBACK :
	    curl_easy_perform(h->curl);
	if (curl_easy_getinfo(h->curl, CURLINFO_TOTAL_TIME_T, &took) ==
	    CURLE_OK)
		x.elapsed = (long)(took / 1000000);
	/* The slist holds the token: nothing may point at it afterwards. */
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	free(accept);
	free(inm);
	if (rc == CURLE_FILESIZE_EXCEEDED)
		rs->too_big = true;
	if (rc != CURLE_OK || rs->too_big || x.fd_errno) {
		rs->curl_code = (int)rc;
		describe_failure(h, &x, rc);
		log_debug("GET %s: %s", rq->url, rs->error);
		return -1;
	}
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &rs->status);
	log_debug("GET %s -> %ld (%llu bytes)", rq->url, rs->status,
	    (unsigned long long)rs->bytes);
	return 0;
}

bool
http_transport_failed(const struct http_response *rs)
{
	/* A write error is on_body() refusing: too big, or the fd failed. */
	return rs->curl_code != CURLE_OK && !rs->too_big &&
	    rs->curl_code != CURLE_WRITE_ERROR &&
	    rs->curl_code != CURLE_ABORTED_BY_CALLBACK;
}

void
http_escape(struct buf *out, const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~' || (keep_slash && c == '/'))
			buf_addch(out, c);
		else {
			buf_addch(out, '%');
			buf_addch(out, hex[c >> 4]);
			buf_addch(out, hex[c & 15]);
		}
	}
}
