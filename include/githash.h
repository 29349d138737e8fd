/*
 * githash.h - git blob hashes (what `git hash-object` prints).
 *
 * A git blob hash is SHA-1 over "blob <decimal size>\0" followed by the
 * content.  The size goes first, so a streaming hash must know it up
 * front; githash_fd() takes it from fstat().  Memory use is constant
 * whatever the size.  Uses OpenSSL's EVP interface.
 */
#ifndef SENKO_GITHASH_H
#define SENKO_GITHASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GITHASH_HEXLEN 40
#define GITHASH_HEXSZ (GITHASH_HEXLEN + 1)

struct githash {
	void *ctx;          /* EVP_MD_CTX, owned */
	uint64_t expected;  /* size announced in the header */
	uint64_t seen;      /* bytes hashed so far */
};

/* Start hashing a blob of `size` bytes.  Returns 0 or -1. */
int githash_init(struct githash *h, uint64_t size);
int githash_update(struct githash *h, const void *data, size_t len);
/*
 * Finish: writes 40 lowercase hex digits and a NUL to hex.  Fails if the
 * bytes hashed differ from the announced size.  Always frees the context.
 */
int githash_final(struct githash *h, char hex[GITHASH_HEXSZ]);
void githash_abort(struct githash *h);

int githash_mem(const void *data, size_t len, char hex[GITHASH_HEXSZ]);
/* Hash an open file from its current offset 0; errors are logged. */
int githash_fd(int fd, const char *name, char hex[GITHASH_HEXSZ]);
int githash_file(const char *path, char hex[GITHASH_HEXSZ]);

/* True if s is exactly 40 lowercase hex digits. */
bool githash_is_hex(const char *s);

#endif
