/*
 * githash.c - streaming git blob hashes with OpenSSL EVP; see githash.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "githash.h"
#include "log.h"
#include "banned.h"

#define GITHASH_CHUNK (64 * 1024)

int
githash_init(struct githash *h, uint64_t size)
{
	char header[32];
	int n;

	h->expected = size;
	h->seen = 0;
	h->ctx = EVP_MD_CTX_new();
	if (h->ctx == NULL)
		return log_failx("cannot allocate a SHA-1 context");
	n = snprintf(header, sizeof(header), "blob %" PRIu64, size);
	/* The header's terminating NUL is part of what git hashes. */
	if (EVP_DigestInit_ex(h->ctx, EVP_sha1(), NULL) != 1 ||
	    EVP_DigestUpdate(h->ctx, header, (size_t)n + 1) != 1) {
		githash_abort(h);
		return log_failx("cannot start a SHA-1 digest");
	}
	return 0;
}

int
githash_update(struct githash *h, const void *data, size_t len)
{
	h->seen += len;
	if (EVP_DigestUpdate(h->ctx, data, len) != 1)
		return log_failx("SHA-1 digest update failed");
	return 0;
}

void
githash_abort(struct githash *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
}

int
githash_final(struct githash *h, char hex[GITHASH_HEXSZ])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	int ok;

	ok = EVP_DigestFinal_ex(h->ctx, md, &mdlen) == 1 && mdlen == 20;
	githash_abort(h);
	if (!ok)
		return log_failx("SHA-1 digest failed");
	if (h->seen != h->expected)
		return log_failx("hashed %" PRIu64 " bytes, expected %" PRIu64,
		    h->seen, h->expected);
	for (i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

int
githash_mem(const void *data, size_t len, char hex[GITHASH_HEXSZ])
{
	struct githash h;

	if (githash_init(&h, len) == -1)
		return -1;
	if (githash_update(&h, data, len) == -1) {
		githash_abort(&h);
		return -1;
	}
	return githash_final(&h, hex);
}

int
githash_fd(int fd, const char *name, char hex[GITHASH_HEXSZ])
{
	static _Thread_local unsigned char chunk[GITHASH_CHUNK];
	struct githash h;
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) == -1)
		return log_fail("cannot stat '%s'", name);
	if (!S_ISREG(st.st_mode))
		return log_failx("'%s' is not a regular file", name);
	if (githash_init(&h, (uint64_t)st.st_size) == -1)
		return -1;
	for (;;) {
		n = pread(fd, chunk, sizeof(chunk), (off_t)h.seen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			githash_abort(&h);
			return log_fail("cannot read '%s'", name);
		}
		if (n == 0)
			break;
		if (githash_update(&h, chunk, (size_t)n) == -1) {
			githash_abort(&h);
			return -1;
		}
	}
	if (h.seen != h.expected) {
		githash_abort(&h);
		return log_failx("'%s' changed size while being hashed", name);
	}
	return githash_final(&h, hex);
}

int
githash_file(const char *path, char hex[GITHASH_HEXSZ])
{
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return log_fail("cannot open '%s'", path);
	rc = githash_fd(fd, path, hex);
	close(fd);
	return rc;
}

bool
githash_is_hex(const char *s)
{
	size_t i;

	for (i = 0; i < GITHASH_HEXLEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[i] == '\0';
}
