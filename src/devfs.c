/*
 * devfs.c - files on a board through the raw REPL; see devfs.h.
 * (Files are written by the board session's agent, board/agent.c.)
 *
 * Each operation is one short program run on the board.  Paths enter the
 * programs only through repl_quote(), and names come back hex-encoded, so
 * no file name, however strange, can change what runs or confuse the
 * parsing of the answer.  The programs define at most one helper function
 * and delete it again: the REPL's globals outlive each run, and an
 * ESP8266 has little heap to spare.
 */
#include <sys/stat.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "devfs.h"
#include "githash.h"
#include "log.h"
#include "repl.h"
#include "xalloc.h"
#include "banned.h"

#define WRITE_CHUNK 1536 /* data bytes per run: 2 KB of base64 source */
#define READ_MAX (4u * 1024 * 1024)

static int
check_path(struct repl *r, const char *path)
{
	if (path == NULL || path[0] != '/')
		return log_fail_errno(EINVAL, "%s: board path '%s' is not "
		    "absolute", repl_port(r), path ? path : "(null)");
	return 0;
}

/* Append path as a literal, without trailing slashes (but "/" stays). */
static void
add_path(struct buf *code, const char *path)
{
	size_t len = strlen(path);

	while (len > 1 && path[len - 1] == '/')
		len--;
	repl_quote(code, path, len);
}

/*
 * Run code; a board-side exception is reported as "cannot WHAT on PORT:
 * EXCEPTION" (errno EREMOTEIO).  Line failures were logged below us.
 */
static int
run(struct repl *r, const struct buf *code, struct buf *out,
    const char *what)
{
	if (repl_exec_quiet(r, code->data, out) == 0)
		return 0;
	if (errno == EREMOTEIO)
		return log_fail_errno(EREMOTEIO, "cannot %s on %s: %s", what,
		    repl_port(r), repl_last_exception(r));
	return -1;
}

/* The first output line starts with marker (e.g. "N" = no such file). */
static bool
answer_is(const struct buf *out, const char *marker)
{
	size_t n = strlen(marker);

	return out->len >= n && memcmp(out->data, marker, n) == 0 &&
	    (out->len == n || out->data[n] == '\r' || out->data[n] == '\n' ||
	    out->data[n] == ' ');
}

void
devfs_list_release(struct devfs_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		free(l->entries[i].path);
	free(l->entries);
	l->entries = NULL;
	l->n = 0;
}

char *
devfs_temp_path(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return xasprintf(".%s" DEVFS_TEMP_SUFFIX, path);
	return xasprintf("%.*s/.%s" DEVFS_TEMP_SUFFIX, (int)(slash - path),
	    path, slash + 1);
}

int
devfs_mkdir_p(struct repl *r, const char *path)
{
	struct buf code = BUF_INIT, what = BUF_INIT;
	int rc;

	if (check_path(r, path) == -1)
		return -1;
	repl_add_imports(&code, "os");
	buf_addstr(&code,
	    "def _senko_m(p):\n"
	    " d=''\n"
	    " for c in p.split('/'):\n"
	    "  if c:\n"
	    "   d+='/'+c\n"
	    "   try:\n"
	    "    os.mkdir(d)\n"
	    "   except OSError as e:\n"
	    "    try:\n"
	    "     m=os.stat(d)[0]\n"
	    "    except OSError:\n"
	    "     raise e\n"
	    "    if not m&0x4000:\n"
	    "     raise OSError(d+' exists and is a file')\n"
	    "try:\n"
	    " _senko_m(");
	add_path(&code, path);
	buf_addstr(&code, ")\nfinally:\n del _senko_m\n");
	buf_addf(&what, "create folder '%s'", path);
	rc = run(r, &code, NULL, what.data);
	buf_release(&code);
	buf_release(&what);
	return rc;
}

int
devfs_remove(struct repl *r, const char *path)
{
	struct buf code = BUF_INIT, what = BUF_INIT;
	int rc;

	if (check_path(r, path) == -1)
		return -1;
	repl_add_imports(&code, "os");
	buf_addstr(&code, "_senko_p=");
	add_path(&code, path);
	buf_addstr(&code, "\ntry:\n"
	    " try:\n"
	    "  os.stat(_senko_p)\n"
	    " except OSError:\n"
	    "  pass\n"
	    " else:\n"
	    "  os.remove(_senko_p)\n"
	    "finally:\n"
	    " del _senko_p\n");
	buf_addf(&what, "remove '%s'", path);
	rc = run(r, &code, NULL, what.data);
	buf_release(&code);
	buf_release(&what);
	return rc;
}

int
devfs_rename(struct repl *r, const char *from, const char *to)
{
	struct buf code = BUF_INIT, what = BUF_INIT;
	int rc;

	if (check_path(r, from) == -1 || check_path(r, to) == -1)
		return -1;
	/* FAT refuses to rename over a file; littlefs replaces it. */
	repl_add_imports(&code, "os");
	buf_addstr(&code,
	    "def _senko_r(a,b):\n"
	    " try:\n"
	    "  os.rename(a,b)\n"
	    "  return\n"
	    " except OSError as e:\n"
	    "  x=e\n"
	    " try:\n"
	    "  os.stat(b)\n"
	    " except OSError:\n"
	    "  raise x\n"
	    " os.remove(b)\n"
	    " os.rename(a,b)\n"
	    "try:\n"
	    " _senko_r(");
	add_path(&code, from);
	buf_addch(&code, ',');
	add_path(&code, to);
	buf_addstr(&code, ")\nfinally:\n del _senko_r\n");
	buf_addf(&what, "rename '%s' to '%s'", from, to);
	rc = run(r, &code, NULL, what.data);
	buf_release(&code);
	buf_release(&what);
	return rc;
}

int
devfs_stat(struct repl *r, const char *path, uint64_t *size, bool *is_dir)
{
	struct buf code = BUF_INIT, out = BUF_INIT, what = BUF_INIT;
	unsigned long long n;
	int dir, rc;

	if (check_path(r, path) == -1)
		return -1;
	repl_add_imports(&code, "os");
	buf_addstr(&code, "try:\n s=os.stat(");
	add_path(&code, path);
	buf_addstr(&code, ")\n print('S',s[0]&0x4000 and 1 or 0,s[6])\n"
	    " del s\nexcept OSError:\n print('N')\n");
	buf_addf(&what, "stat '%s'", path);
	rc = run(r, &code, &out, what.data);
	if (rc == 0 && answer_is(&out, "N")) {
		errno = ENOENT;
		rc = -1;
	} else if (rc == 0) {
		if (sscanf(out.data, "S %d %llu", &dir, &n) != 2)
			rc = log_fail_errno(EIO, "%s: cannot parse the answer to "
			    "stat '%s'", repl_port(r), path);
		else {
			if (size != NULL)
				*size = n;
			if (is_dir != NULL)
				*is_dir = dir == 1;
		}
	}
	buf_release(&code);
	buf_release(&out);
	buf_release(&what);
	return rc;
}

static int
hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode hex digits, skipping line ends; -1 on any other stray byte. */
static int
hex_decode(struct buf *out, const char *s, size_t len)
{
	int hi = -1, v;
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == '\r' || s[i] == '\n')
			continue;
		if ((v = hex_value((unsigned char)s[i])) < 0)
			return -1;
		if (hi < 0)
			hi = v;
		else {
			if (buf_addch(out, hi << 4 | v) == -1)
				return -1;
			hi = -1;
		}
	}
	return hi < 0 ? 0 : -1;
}

/* "F SIZE HEXNAME" / "D 0 HEXNAME" lines into out. */
static int
parse_list(char *text, struct devfs_list *out)
{
	char *line, *next, *name;
	unsigned long long size;
	size_t alloc = 0, i, len;
	struct devfs_entry *e;
	int hi, lo;
	char kind;

	for (line = text; *line != '\0'; line = next) {
		next = line + strcspn(line, "\n");
		if (*next != '\0')
			*next++ = '\0';
		line[strcspn(line, "\r")] = '\0';
		if (line[0] == '\0')
			continue;
		name = strrchr(line, ' ');
		if (name == NULL ||
		    sscanf(line, "%c %llu ", &kind, &size) != 2 ||
		    (kind != 'F' && kind != 'D'))
			return -1;
		name++;
		len = strlen(name);
		if (len % 2 != 0)
			return -1;
		if (out->n == alloc) {
			alloc = alloc ? alloc * 2 : 16;
			out->entries = xreallocarray(out->entries, alloc,
			    sizeof(*out->entries));
		}
		e = &out->entries[out->n];
		e->path = xmalloc(len / 2 + 1);
		for (i = 0; i < len / 2; i++) {
			hi = hex_value(name[2 * i]);
			lo = hex_value(name[2 * i + 1]);
			if (hi < 0 || lo < 0) {
				free(e->path);
				return -1;
			}
			e->path[i] = (char)(hi << 4 | lo);
		}
		e->path[len / 2] = '\0';
		e->size = size;
		e->is_dir = kind == 'D';
		out->n++;
	}
	return 0;
}

int
devfs_list(struct repl *r, const char *dir, struct devfs_list *out)
{
	struct buf code = BUF_INIT, res = BUF_INIT, what = BUF_INIT;
	int rc;

	out->entries = NULL;
	out->n = 0;
	if (check_path(r, dir) == -1)
		return -1;
	repl_add_imports(&code, "os,binascii");
	buf_addstr(&code,
	    "def _senko_w(d):\n"
	    " for e in os.ilistdir(d):\n"
	    "  p=(d if d!='/' else '')+'/'+e[0]\n"
	    "  n=binascii.hexlify(p.encode()).decode()\n"
	    "  if e[1]&0x4000:\n"
	    "   print('D 0',n)\n"
	    "   _senko_w(p)\n"
	    "  else:\n"
	    "   print('F',e[3] if len(e)>3 and e[3]>=0 else os.stat(p)[6],n)\n"
	    "_senko_d=");
	add_path(&code, dir);
	buf_addstr(&code, "\ntry:\n"
	    " try:\n"
	    "  os.stat(_senko_d)\n"
	    " except OSError:\n"
	    "  pass\n"
	    " else:\n"
	    "  _senko_w(_senko_d)\n"
	    "finally:\n"
	    " del _senko_w,_senko_d\n");
	buf_addf(&what, "list '%s'", dir);
	rc = run(r, &code, &res, what.data);
	if (rc == 0 && parse_list(res.data, out) == -1) {
		devfs_list_release(out);
		rc = log_fail_errno(EIO, "%s: cannot parse the listing of '%s'",
		    repl_port(r), dir);
	}
	buf_release(&code);
	buf_release(&res);
	buf_release(&what);
	return rc;
}

int
devfs_read(struct repl *r, const char *path, struct buf *out)
{
	struct buf code = BUF_INIT, res = BUF_INIT, what = BUF_INIT;
	size_t start;
	int rc;

	if (check_path(r, path) == -1)
		return -1;
	buf_init(&res, READ_MAX);
	repl_add_imports(&code, "os,binascii");
	buf_addstr(&code,
	    "def _senko_g(p):\n"
	    " try:\n"
	    "  os.stat(p)\n"
	    " except OSError:\n"
	    "  print('N')\n"
	    "  return\n"
	    " print('R')\n"
	    " with open(p,'rb') as f:\n"
	    "  while 1:\n"
	    "   c=f.read(256)\n"
	    "   if not c:break\n"
	    "   print(binascii.hexlify(c).decode())\n"
	    "try:\n"
	    " _senko_g(");
	add_path(&code, path);
	buf_addstr(&code, ")\nfinally:\n del _senko_g\n");
	buf_addf(&what, "read '%s'", path);
	rc = run(r, &code, &res, what.data);
	if (rc == 0 && answer_is(&res, "N")) {
		errno = ENOENT;
		rc = -1;
	} else if (rc == 0) {
		start = out->len;
		if (!answer_is(&res, "R") ||
		    hex_decode(out, res.data + 1, res.len - 1) == -1) {
			out->len = start;
			out->data[start] = '\0';
			rc = log_fail_errno(EIO, "%s: cannot decode the contents "
			    "of '%s'", repl_port(r), path);
		}
	}
	buf_release(&code);
	buf_release(&res);
	buf_release(&what);
	return rc;
}

enum devfs_hash_algo
devfs_hash_algo(struct repl *r)
{
	return repl_info(r)->has_sha1 ? DEVFS_HASH_GIT_SHA1 :
	    DEVFS_HASH_SHA256;
}

static bool
is_hex_digest(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (hex_value((unsigned char)s[i]) < 0 ||
		    (s[i] >= 'A' && s[i] <= 'F'))
			return false;
	return true;
}

int
devfs_hash(struct repl *r, const char *path, char hex[DEVFS_HASH_HEXSZ])
{
	struct buf code = BUF_INIT, out = BUF_INIT, what = BUF_INIT;
	enum devfs_hash_algo algo = devfs_hash_algo(r);
	size_t want = algo == DEVFS_HASH_GIT_SHA1 ? 40 : 64;
	int rc;

	if (check_path(r, path) == -1)
		return -1;
	if (algo == DEVFS_HASH_SHA256 && !repl_info(r)->has_sha256)
		return log_fail_errno(ENOTSUP, "%s: the board has neither "
		    "hashlib.sha1 nor hashlib.sha256; cannot hash files on "
		    "it", repl_port(r));
	repl_add_imports(&code, "os,hashlib,binascii");
	buf_addstr(&code,
	    "def _senko_h(p):\n"
	    " try:\n"
	    "  n=os.stat(p)[6]\n"
	    " except OSError:\n"
	    "  return 'N'\n");
	if (algo == DEVFS_HASH_GIT_SHA1)
		buf_addstr(&code,
		    " x=hashlib.sha1(('blob %d\\x00'%n).encode())\n");
	else
		buf_addstr(&code, " x=hashlib.sha256()\n");
	buf_addstr(&code,
	    " b=bytearray(512)\n"
	    " m=memoryview(b)\n"
	    " with open(p,'rb') as f:\n"
	    "  while 1:\n"
	    "   k=f.readinto(b)\n"
	    "   if not k:break\n"
	    "   x.update(b if k==512 else m[:k])\n"
	    " return binascii.hexlify(x.digest()).decode()\n"
	    "try:\n"
	    " print(_senko_h(");
	add_path(&code, path);
	buf_addstr(&code, "))\nfinally:\n del _senko_h\n");
	buf_addf(&what, "hash '%s'", path);
	rc = run(r, &code, &out, what.data);
	buf_rtrim(&out);
	if (rc == 0 && answer_is(&out, "N")) {
		errno = ENOENT;
		rc = -1;
	} else if (rc == 0 && (out.len != want ||
	    !is_hex_digest(out.data, want))) {
		rc = log_fail_errno(EIO, "%s: unexpected hash of '%s' from the "
		    "board", repl_port(r), path);
	} else if (rc == 0)
		memcpy(hex, out.data, want + 1);
	buf_release(&code);
	buf_release(&out);
	buf_release(&what);
	return rc;
}

static void
to_hex(const unsigned char *md, size_t n, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[2 * n] = '\0';
}

static int
sha256_fd(int fd, char hex[DEVFS_HASH_HEXSZ])
{
	unsigned char data[65536], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx;
	off_t off = 0;
	ssize_t n;
	int rc = 0;

	ctx = EVP_MD_CTX_new();
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return log_failx("cannot start a SHA-256 hash");
	}
	for (;;) {
		n = pread(fd, data, sizeof(data), off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			rc = log_fail("cannot read the file to hash");
			break;
		}
		if (n == 0)
			break;
		if (EVP_DigestUpdate(ctx, data, (size_t)n) != 1) {
			rc = log_failx("SHA-256 update failed");
			break;
		}
		off += n;
	}
	if (rc == 0 && EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		rc = log_failx("SHA-256 final failed");
	EVP_MD_CTX_free(ctx);
	if (rc == 0)
		to_hex(md, mdlen, hex);
	return rc;
}

int
devfs_hash_host(enum devfs_hash_algo algo, int fd,
    char hex[DEVFS_HASH_HEXSZ])
{
	if (algo == DEVFS_HASH_SHA256)
		return sha256_fd(fd, hex);
	/* githash_fd hashes from offset 0 whatever the file position. */
	return githash_fd(fd, "file", hex);
}

int
devfs_hash_mem(enum devfs_hash_algo algo, const void *data, size_t len,
    char hex[DEVFS_HASH_HEXSZ])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (algo == DEVFS_HASH_GIT_SHA1)
		return githash_mem(data, len, hex);
	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		return log_failx("SHA-256 failed");
	to_hex(md, mdlen, hex);
	return 0;
}

int
devfs_write_small(struct repl *r, const char *path, const void *data,
    size_t len)
{
	struct buf code = BUF_INIT, what = BUF_INIT;
	char want[DEVFS_HASH_HEXSZ], got[DEVFS_HASH_HEXSZ];
	const unsigned char *p = data;
	char *tmp;
	size_t off = 0, n;
	int rc = 0;

	if (check_path(r, path) == -1)
		return -1;
	if (devfs_hash_mem(devfs_hash_algo(r), data, len, want) == -1)
		return -1;
	tmp = devfs_temp_path(path);
	buf_addf(&what, "write '%s'", tmp);
	do {
		n = len - off < WRITE_CHUNK ? len - off : WRITE_CHUNK;
		buf_reset(&code);
		repl_add_imports(&code, "binascii");
		buf_addstr(&code, "with open(");
		add_path(&code, tmp);
		buf_addf(&code, ",'%s') as f:\n f.write(binascii."
		    "a2b_base64(b'", off == 0 ? "wb" : "ab");
		buf_add_base64(&code, p + off, n);
		buf_addstr(&code, "'))\n");
		rc = run(r, &code, NULL, what.data);
		off += n;
	} while (rc == 0 && off < len);
	if (rc == 0)
		rc = devfs_hash(r, tmp, got);
	if (rc == 0 && strcmp(want, got) != 0) {
		devfs_remove(r, tmp);
		rc = log_fail_errno(EIO, "%s: '%s' was corrupted on the way "
		    "(board hash %s, expected %s); the old file is kept",
		    repl_port(r), path, got, want);
	} else if (rc == 0)
		rc = devfs_rename(r, tmp, path);
	else if (errno == EREMOTEIO) {
		/* The board said no (flash full, say): tidy up.  After a
		 * line failure devfs_clean_temps does it next time. */
		devfs_remove(r, tmp);
		errno = EREMOTEIO;
	}
	buf_release(&code);
	buf_release(&what);
	free(tmp);
	return rc;
}

int
devfs_clean_temps(struct repl *r, const char *dir)
{
	struct buf code = BUF_INIT, out = BUF_INIT, what = BUF_INIT;
	unsigned long n = 0;
	int rc;

	if (check_path(r, dir) == -1)
		return -1;
	repl_add_imports(&code, "os");
	buf_addstr(&code,
	    "def _senko_c(d):\n"
	    " n=0\n"
	    " for e in os.ilistdir(d):\n"
	    "  p=(d if d!='/' else '')+'/'+e[0]\n"
	    "  if e[1]&0x4000:\n"
	    "   n+=_senko_c(p)\n"
	    "  elif e[0].endswith('" DEVFS_TEMP_SUFFIX "'):\n"
	    "   os.remove(p)\n"
	    "   n+=1\n"
	    " return n\n"
	    "_senko_d=");
	add_path(&code, dir);
	buf_addstr(&code, "\ntry:\n"
	    " try:\n"
	    "  os.stat(_senko_d)\n"
	    " except OSError:\n"
	    "  print(0)\n"
	    " else:\n"
	    "  print(_senko_c(_senko_d))\n"
	    "finally:\n"
	    " del _senko_c,_senko_d\n");
	buf_addf(&what, "remove temporary files below '%s'", dir);
	rc = run(r, &code, &out, what.data);
	if (rc == 0 && sscanf(out.data, "%lu", &n) == 1 && n > 0)
		log_info("%s: removed %lu temporary file(s) an interrupted "
		    "update left below %s", repl_port(r), n, dir);
	buf_release(&code);
	buf_release(&out);
	buf_release(&what);
	return rc;
}
