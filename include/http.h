/*
 * http.h - the HTTP client the forge talks through: a thin libcurl wrapper.
 *
 * One struct http owns one curl easy handle, reused for every request so
 * the connection stays open (keep-alive, HTTP/2 over TLS when the server
 * offers it).  Every request carries User-Agent "senko/0.1", the GitHub
 * API version header and, when a token is set, "Authorization: Bearer";
 * the token is never logged and never put in a URL.  TLS is always
 * verified (ca_file, when set, is the CA bundle instead of the system's);
 * proxies come from the environment as libcurl reads them; up to 5
 * redirects are followed, and from an https API only to https.
 *
 * Timeouts: a connect timeout and a stall timeout (less than 1 byte/s for
 * that long aborts the transfer), 30 s and 60 s by default; the
 * environment variable SENKO_HTTP_TIMEOUT (seconds) sets both, for tests.
 * Every request also has an overall deadline (http_deadline): 3 stall
 * timeouts, plus for a blob its size at 16 KiB/s.  A stop flag
 * (http_set_stop) aborts a transfer in progress within about a second.
 *
 * A response body goes either into a capped struct buf (JSON) or, for
 * blobs, to a file descriptor; a body larger than the cap (counted after
 * decoding gzip) is refused.
 * Error answers (status >= 300) always go to the buf, never to the fd, so
 * an error page is never mistaken for a blob.
 *
 * Not thread-safe: one struct http per thread.
 */
#ifndef SENKO_HTTP_H
#define SENKO_HTTP_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

struct buf;

#define HTTP_JSON_MAX (16u * 1024 * 1024)
#define HTTP_BLOB_MAX (100u * 1024 * 1024)
#define HTTP_USER_AGENT "senko/0.1"

struct http;

struct http_request {
	const char *url;
	const char *accept;        /* NULL: application/vnd.github+json */
	const char *if_none_match; /* NULL: unconditional */
	struct buf *body;          /* receives the body (and error bodies) */
	int fd;                    /* >= 0: a 2xx body goes here instead */
	uint64_t max;              /* body cap in bytes */
};

struct http_response {
	long status;         /* 0 when no answer came */
	char *etag;          /* owned; NULL when the answer had none */
	long rl_limit;       /* x-ratelimit-*; -1 when absent */
	long rl_remaining;
	long long rl_reset;  /* epoch seconds */
	long retry_after;    /* seconds; -1 when absent */
	uint64_t bytes;      /* body bytes received */
	bool too_big;        /* the body passed the cap and was refused */
	int curl_code;       /* CURLcode of the transfer */
	char *error;         /* owned; why the transfer failed, or NULL */
};

/*
 * A client for token (may be NULL: anonymous) and ca_file (NULL or "":
 * the system CAs; else the only CAs trusted); https_only: redirects are
 * followed to https only.
 * The token is copied.  Returns NULL on error (logged).
 */
struct http *http_new(const char *token, const char *ca_file,
    bool https_only);
void http_free(struct http *h);

/* While *stop is nonzero no transfer runs (borrowed; NULL: none). */
void http_set_stop(struct http *h, volatile sig_atomic_t *stop);

/* The stall and connect timeout in seconds (SENKO_HTTP_TIMEOUT or 60). */
long http_timeout(void);
/* The overall deadline of a request in seconds. */
long http_deadline(const struct http_request *rq);

/*
 * GET rq->url.  Returns 0 when an answer with a status arrived and its
 * body was read in full (rs->status says which: 200, 304, 404, ...), or
 * -1 when the transfer failed (no answer, timeout, TLS, truncated body,
 * too big); then rs->error says why.  Nothing is logged but debug lines.
 * rs must be released with http_response_release() either way.
 */
int http_get(struct http *h, const struct http_request *rq,
    struct http_response *rs);

/*
 * After http_get() returned -1: whether the network or the server failed
 * (no answer, a timeout, TLS, a connection cut short) rather than this
 * request (a body over its cap, a download that could not be written, a
 * stop).  The next request to the same server is likely to fail alike.
 */
bool http_transport_failed(const struct http_response *rs);
void http_response_release(struct http_response *rs);

/*
 * Append s to out with every byte outside [A-Za-z0-9-._~] percent-encoded;
 * '/' is kept when keep_slash, for paths.
 */
void http_escape(struct buf *out, const char *s, bool keep_slash);

#endif
