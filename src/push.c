/*
 * push.c - devfs_push(): many files to a board in one stream; see devfs.h.
 *
 * Stream mode (the board has sys.stdin.buffer).  A receiver function is
 * defined in the REPL's globals once per connection (RAM only; a reset
 * forgets it) and one run of it takes every file of the push:
 *
 *   host   "_senko_rx2(B,Q,CH)" 04 in plain raw mode    board  "OK" 'R'
 *   host   'H' len16 header sum16                        board  'G' | 'E' text \n
 *   host   the file's bytes (raw, or deflate segments)   board  '+' per B bytes read
 *                                                        board  'K' hex \n | 'M' hex .. \n
 *   ... one header and its data per file ...
 *   host   'Q'                                           board  04 04 '>' (end of run)
 *
 * The header is "path NUL size NUL wire-length NUL mode NUL wbits NUL
 * algo NUL hex", followed by the 16-bit sum of its bytes.  Mode 0: the
 * bytes as they are.  Mode 1 (continue) and 2 (start anew): the file as
 * the next part of one raw-deflate stream that runs across the files of
 * the run, cut into segments of CH raw bytes, each ending with a sync
 * flush and sent after its 16-bit compressed length; the board stages one
 * segment in a BytesIO and reads exactly its raw bytes back out of its
 * one inflater (a window of 2^wbits bytes that fits its heap).  The board
 * writes the bytes to ".NAME.senko-tmp" in the target's folder, hashing
 * them as they are written, compares the hash with the header's, syncs
 * and renames over the target; 'M' means it deleted the temporary file.
 *
 * Pacing: the board sends '+' after each block of B bytes it has taken out
 * of its UART buffer, and the host never has more than a window of bytes
 * sent beyond those credits (the platform's stdin ring less a margin, see
 * ring_window), so the ring never overflows whatever the host's speed.
 *
 * Lost bytes: a byte lost on the line leaves the board waiting for one
 * more.  When the board goes quiet while bytes it has not acknowledged are
 * outstanding, the host sends filler bytes (03) until it answers; the file
 * is then wrong, its hash says so and it is sent again.  The board skips
 * 03 bytes while it waits for a header, so filler is harmless between files
 * (and after the run the raw REPL reads 03 as "clear the line").
 *
 * Fallback (no sys.stdin.buffer): base64 chunks, one run per chunk,
 * through repl_exec (raw-paste or paced plain raw mode), same temporary
 * name, hash check and rename.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "devfs.h"
#include "githash.h"
#include "log.h"
#include "path.h"
#include "repl.h"
#include "serial.h"
#include "xalloc.h"
#include "zrun.h"
#include "banned.h"

#define BLOCK 128           /* board reads and acknowledges in these */
#define WINDOW_MAX 2048     /* largest window (test hook included) */
#define WINDOW_MARGIN 16    /* bytes of the ring left unused */
#define OUTBUF 256          /* board's inflate output buffer */
#define HEADER_MAX 600
#define STALL_MS 2000       /* quiet board with bytes outstanding: lost */
#define REFILL_MS 300       /* ... and while filling after that */
#define ANSWER_MS 15000     /* longest silence from a board doing work */
#define WRITE_MS 5000
#define B64_CHUNK 1536      /* fallback: payload bytes per run */
#define B64_CHUNK_SMALL 384 /* ... on boards with under 64 KB of heap */
#define FLASH_SLACK 4096    /* filesystem overhead we do not model */
#define FILE_MAX (64u * 1024 * 1024)
#define RUN_MAX (32u * 1024)  /* wire bytes per receiver run, then anew */
#define RUN_MAX_SMALL (8u * 1024) /* ... on boards with under 64 KB of heap */

static unsigned test_flags;

void
devfs_push_set_test_flags(unsigned flags)
{
	test_flags = flags;
}

/*
 * Bytes in flight: the usable size of the board's stdin ring (one slot of
 * the ring array stays empty) less a margin.  ports/esp8266/esp_mphal.c
 * stdin_ringbuf_array[256], ports/esp32/mphalport.c [260],
 * ports/rp2/mphalport.c [512].  Unknown platforms get the smallest.
 */
static size_t
ring_window(const char *platform)
{
	static const struct { const char *name; size_t usable; } rings[] = {
		{ "esp8266", 255 }, { "esp32", 259 }, { "rp2", 511 },
	};
	size_t i, usable = 255;

	for (i = 0; i < sizeof(rings) / sizeof(rings[0]); i++)
		if (strcmp(platform, rings[i].name) == 0)
			usable = rings[i].usable;
	if (test_flags & DEVFS_PUSH_TEST_WIDE_WINDOW)
		return 4 * usable;
	return usable - WINDOW_MARGIN;
}

/*
 * The receiver.  Constant memory: one B-byte block, one Q-byte inflate
 * output buffer and the inflater's window.  Sizes and names are checked
 * by the header sum and the end-to-end hash, not trusted.
 */
static const char rx_code[] =
	"def _senko_rx2(B,Q,CH):\n"
	" import sys,os,io,micropython,binascii,gc\n"
	" try:import hashlib\n"
	" except ImportError:import uhashlib as hashlib\n"
	" Z=None\n"
	" try:\n"
	"  import deflate;Z=lambda s,w:deflate.DeflateIO(s,deflate.RAW,w)\n"
	" except ImportError:\n"
	"  try:\n"
	"   import zlib;Z=lambda s,w:zlib.DecompIO(s,-w)\n"
	"  except ImportError:pass\n"
	" i=sys.stdin.buffer;o=sys.stdout\n"
	" b=bytearray(B);m=memoryview(b);q=bytearray(Q);qm=memoryview(q)\n"
	" gc.collect();T=gc.mem_free()*3//4\n"
	" def g(k):\n"
	"  if gc.mem_free()<T:gc.collect()\n"
	"  j=0\n"
	"  while j<k:j+=i.readinto(m[j:k])\n"
	"  o.write('+')\n"
	" class W:\n"
	"  def __init__(s,n):s.n=n;s.p=0;s.e=0\n"
	"  def cp(s,D):\n"
	"   j=0;L=len(D)\n"
	"   while j<L:\n"
	"    if s.p>=s.e:\n"
	"     if not s.n:raise ValueError('short')\n"
	"     k=min(B,s.n);g(k);s.n-=k;s.p=0;s.e=k\n"
	"    k=min(L-j,s.e-s.p);D[j:j+k]=m[s.p:s.p+k];s.p+=k;j+=k\n"
	"  def take(s,L,f):\n"
	"   while L:\n"
	"    if s.p>=s.e:\n"
	"     if not s.n:raise ValueError('short')\n"
	"     k=min(B,s.n);g(k);s.n-=k;s.p=0;s.e=k\n"
	"    k=min(L,s.e-s.p);f(m[s.p:s.p+k]);s.p+=k;L-=k\n"
	" U=io.BytesIO();D=None;ul=0;h2=bytearray(2);h2m=memoryview(h2)\n"
	" micropython.kbd_intr(-1)\n"
	" o.write('R')\n"
	" while 1:\n"
	"  c=i.read(1)\n"
	"  if c==b'Q':break\n"
	"  if c!=b'H':continue\n"
	"  n=i.read(2);h=i.read(n[0]<<8|n[1])\n"
	"  if len(h)<3 or sum(h[:-2])&65535!=h[-2]<<8|h[-1]:\n"
	"   o.write('Eheader checksum\\n');continue\n"
	"  p,sz,wl,z,w,al,x=h[:-2].decode().split('\\0')\n"
	"  sz=int(sz);wl=int(wl);w=int(w)\n"
	"  d,_,t=p.rpartition('/');t=d+'/.'+t+'.senko-tmp'\n"
	"  try:f=open(t,'wb')\n"
	"  except Exception as e:o.write('Ecannot create %s: %r\\n'%(t,e));continue\n"
	"  H=hashlib.sha1() if al=='1' else hashlib.sha256()\n"
	"  if al=='1':H.update(('blob %d\\0'%sz).encode())\n"
	"  o.write('G')\n"
	"  r=W(wl);e=None;c=0\n"
	"  try:\n"
	"   if z!='0':\n"
	"    if z=='2' or D is None:gc.collect();D=Z(U,w);ul=0;U.seek(0)\n"
	"    while c<sz:\n"
	"     if gc.mem_free()<T:gc.collect()\n"
	"     j=ul-U.seek(0,1);tl=U.read(j) if j>0 else b''\n"
	"     U.seek(0);U.write(tl);r.cp(h2m);L=h2[0]<<8|h2[1]\n"
	"     r.take(L,U.write);ul=len(tl)+L;U.seek(0);n=min(CH,sz-c)\n"
	"     while n:\n"
	"      k=D.readinto(qm[:min(Q,n)])\n"
	"      if not k:raise ValueError('short')\n"
	"      f.write(qm[:k]);H.update(qm[:k]);c+=k;n-=k\n"
	"   else:\n"
	"    while r.n:\n"
	"     k=min(B,r.n);g(k);r.n-=k;f.write(m[:k]);H.update(m[:k]);c+=k\n"
	"  except Exception as x_:e=x_;D=None\n"
	"  while r.n:k=min(B,r.n);g(k);r.n-=k\n"
	"  f.close()\n"
	"  v=binascii.hexlify(H.digest()).decode()\n"
	"  if e or c!=sz or v!=x:\n"
	"   D=None;os.remove(t);o.write('M%s %d %r\\n'%(v,c,e));continue\n"
	"  try:os.sync()\n"
	"  except AttributeError:pass\n"
	"  try:\n"
	"   try:os.rename(t,p)\n"
	"   except OSError:os.remove(p);os.rename(t,p)\n"
	"  except Exception as e:o.write('Ecannot rename %s: %r\\n'%(t,e));continue\n"
	"  o.write('K'+v+'\\n')\n";

/* The fallback's three steps, one run each. */
static const char b64_code[] =
	"def _senko_bo(p,sz,al):\n"
	" global _senko_bs\n"
	" import hashlib\n"
	" d,_,t=p.rpartition('/');t=d+'/.'+t+'.senko-tmp'\n"
	" H=hashlib.sha1() if al==1 else hashlib.sha256()\n"
	" if al==1:H.update(('blob %d\\0'%sz).encode())\n"
	" _senko_bs=[open(t,'wb'),H,t,0]\n"
	"def _senko_bw(s):\n"
	" import binascii\n"
	" d=binascii.a2b_base64(s);_senko_bs[0].write(d);"
	"_senko_bs[1].update(d);_senko_bs[3]+=len(d)\n"
	"def _senko_bc(p,sz,x):\n"
	" global _senko_bs\n"
	" import os,binascii\n"
	" f,H,t,c=_senko_bs;_senko_bs=None;f.close()\n"
	" v=binascii.hexlify(H.digest()).decode()\n"
	" if c!=sz or v!=x:\n"
	"  os.remove(t);print('M%s %d'%(v,c));return\n"
	" try:os.sync()\n"
	" except AttributeError:pass\n"
	" try:os.rename(t,p)\n"
	" except OSError:os.remove(p);os.rename(t,p)\n"
	" print('K'+v)\n";

/* What the parser of the board's answers expects next. */
enum rx_state {
	RX_OK,      /* "OK": the raw REPL took the command */
	RX_MAIN,    /* single-byte messages */
	RX_LINE,    /* text of a 'K', 'M' or 'E' line */
	RX_EXC,     /* the run ended: exception text up to 04 */
	RX_PROMPT,  /* then '>' */
	RX_DONE,
};

struct push {
	struct repl *r;
	struct serial *s;
	const char *port;
	enum devfs_hash_algo algo;
	bool inflate;         /* the board can inflate raw deflate */
	size_t window;        /* bytes in flight beyond the credits */
	size_t b64_chunk;     /* fallback: payload bytes per run */
	struct zrun z;        /* the run's deflate stream */
	uint64_t run_bytes;   /* sent in the current run */
	uint64_t run_max;
	devfs_progress_fn progress;
	void *arg;

	enum rx_state st;
	int ok_matched;
	uint64_t credits;     /* '+' received */
	bool ready, go;
	char verdict;         /* 'K', 'M', 'E' or 0 */
	struct buf line;      /* the verdict's text */
	struct buf exc;       /* exception text when the run ended */
	int64_t last_rx;      /* when the board last said anything */
};

/* One file, read and prepared for the wire. */
struct prepared {
	struct buf data;
	struct buf zdata;     /* raw deflate, when it pays */
	bool z;
	int zmode;            /* 1 continue the run's stream, 2 start anew */
	char hex[DEVFS_HASH_HEXSZ];
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool
path_ok(const char *p)
{
	const unsigned char *c;

	if (p[0] != '/' || strlen(p) > 255 || p[strlen(p) - 1] == '/')
		return false;
	for (c = (const unsigned char *)p; *c != '\0'; c++)
		if (*c < 0x20 || *c == 0x7f)
			return false;
	return true;
}

/* ---------------------------------------------------- host-side data */

static int
read_item(const struct devfs_push_item *it, struct buf *out)
{
	ssize_t n;
	uint64_t off = 0;

	if (it->size > FILE_MAX)
		return log_failx("'%s' is %" PRIu64 " bytes; senko pushes files "
		    "up to %u bytes", it->path, it->size, FILE_MAX);
	buf_init(out, (size_t)it->size + 1);
	if (buf_grow(out, (size_t)it->size) == -1)
		return log_fail("cannot buffer '%s'", it->path);
	while (off < it->size) {
		n = pread(it->fd, out->data + off, (size_t)(it->size - off),
		    (off_t)off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return log_fail("cannot read the data for '%s'",
			    it->path);
		if (n == 0)
			return log_failx("the data for '%s' is shorter than its "
			    "%" PRIu64 " bytes (file changed while pushing?)",
			    it->path, it->size);
		off += (uint64_t)n;
	}
	out->len = (size_t)it->size;
	out->data[out->len] = '\0';
	return 0;
}

static int
sha256_hex(const void *data, size_t len, char hex[DEVFS_HASH_HEXSZ])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen, i;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		return log_failx("cannot compute SHA-256 (OpenSSL)");
	for (i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

static int
prepare(struct push *px, const struct devfs_push_item *it,
    struct prepared *pf)
{
	memset(pf, 0, sizeof(*pf));
	buf_init(&pf->data, 0);
	buf_init(&pf->zdata, 0);
	if (read_item(it, &pf->data) == -1)
		return -1;
	if (px->algo == DEVFS_HASH_SHA256) {
		if (sha256_hex(pf->data.data, pf->data.len, pf->hex) == -1)
			return -1;
	} else if (githash_mem(pf->data.data, pf->data.len, pf->hex) == -1)
		return log_failx("cannot hash '%s'", it->path);
	/* Compression must pay for itself: skip data that does not shrink. */
	if (px->inflate && pf->data.len >= 64) {
		bool fresh;

		if (zrun_compress(&px->z, pf->data.data, pf->data.len,
		    &pf->zdata, &pf->z, &fresh) == -1)
			return -1;
		pf->zmode = fresh ? 2 : 1;
	}
	return 0;
}

static void
prepared_release(struct prepared *pf)
{
	buf_release(&pf->data);
	buf_release(&pf->zdata);
}

/* ------------------------------------------------------ the board line */

static void
rx_feed(struct push *px, int c)
{
	switch (px->st) {
	case RX_OK:
		if (c == "OK"[px->ok_matched])
			px->ok_matched++;
		else
			px->ok_matched = c == 'O';
		if (px->ok_matched == 2)
			px->st = RX_MAIN;
		break;
	case RX_MAIN:
		if (c == '+')
			px->credits++;
		else if (c == 'R')
			px->ready = true;
		else if (c == 'G')
			px->go = true;
		else if (c == 'K' || c == 'M' || c == 'E') {
			px->verdict = 0;
			buf_reset(&px->line);
			buf_addch(&px->line, c);
			px->st = RX_LINE;
		} else if (c == 0x04) {
			buf_reset(&px->exc);
			px->st = RX_EXC;
		}
		break;
	case RX_LINE:
		if (c == '\n') {
			buf_rtrim(&px->line);
			px->verdict = px->line.data[0];
			px->st = RX_MAIN;
		} else if (c == 0x04) {
			buf_reset(&px->exc);
			px->st = RX_EXC;
		} else if (buf_addch(&px->line, c) == -1)
			buf_consume(&px->line, px->line.len / 2);
		break;
	case RX_EXC:
		if (c == 0x04)
			px->st = RX_PROMPT;
		else if (buf_addch(&px->exc, c) == -1)
			buf_consume(&px->exc, px->exc.len / 2);
		break;
	case RX_PROMPT:
		if (c == '>')
			px->st = RX_DONE;
		break;
	case RX_DONE:
		break;
	}
}

/*
 * Take what the board sent, waiting at most timeout_ms for the first
 * byte.  Returns 1 (something came), 0 (nothing) or -1 (line failed).
 */
static int
rx_poll(struct push *px, int timeout_ms)
{
	unsigned char b[256];
	ssize_t n, i;

	n = serial_read(px->s, b, sizeof(b), timeout_ms);
	if (n == -1)
		return log_fail("%s: the board vanished during the push",
		    px->port);
	for (i = 0; i < n; i++)
		rx_feed(px, b[i]);
	if (n > 0)
		px->last_rx = now_ms();
	return n > 0;
}

static int
tx(struct push *px, const void *data, size_t len)
{
	if (serial_write(px->s, data, len, WRITE_MS) == -1)
		return log_fail("%s: cannot write to the board", px->port);
	return 0;
}

static int
tx_filler(struct push *px, size_t n)
{
	unsigned char fill[WINDOW_MAX];

	memset(fill, 0x03, sizeof(fill));
	if (n > sizeof(fill))
		n = sizeof(fill);
	return tx(px, fill, n);
}

/* The last line of the exception that ended the run, for messages. */
static const char *
exc_summary(struct push *px)
{
	char *p;

	buf_rtrim(&px->exc);
	p = strrchr(px->exc.data, '\n');
	return p != NULL ? p + 1 : px->exc.data;
}

static int
run_ended(struct push *px)
{
	return log_failx("%s: the push receiver stopped: %s", px->port,
	    px->exc.len ? exc_summary(px) : "no reason given");
}

static int
silent_too_long(struct push *px, const char *what)
{
	errno = ETIMEDOUT;
	return log_failx("%s: the board stopped answering (%s) for %d s",
	    px->port, what, ANSWER_MS / 1000);
}

/* ------------------------------------------------------ one file, stream */

enum attempt {
	ATTEMPT_OK,
	ATTEMPT_RETRY,  /* wrong bytes arrived: send again */
	ATTEMPT_FAIL,   /* the board refused the file */
	ATTEMPT_LOST,   /* connection gone */
};

static int
send_header(struct push *px, const struct devfs_push_item *it,
    const struct prepared *pf, struct buf *h)
{
	unsigned sum = 0;
	size_t i, len;
	const struct buf *w = pf->z ? &pf->zdata : &pf->data;

	buf_reset(h);
	buf_addstr(h, "H..");
	buf_addf(h, "%s%c%zu%c%zu%c%d%c%d%c%d%c%s", it->path, 0,
	    pf->data.len, 0, w->len, 0, pf->z ? pf->zmode : 0, 0, px->z.wbits, 0,
	    px->algo == DEVFS_HASH_GIT_SHA1 ? 1 : 2, 0, pf->hex);
	for (i = 3; i < h->len; i++)
		sum += (unsigned char)h->data[i];
	buf_addch(h, (int)(sum >> 8 & 0xff));
	buf_addch(h, (int)(sum & 0xff));
	len = h->len - 3;
	h->data[1] = (char)(len >> 8);
	h->data[2] = (char)(len & 0xff);
	return tx(px, h->data, h->len);
}

/*
 * Wait for the board to answer a header ('G' or an 'E' line), filling in
 * header bytes it may have lost.
 */
static enum attempt
wait_go(struct push *px, const char *path)
{
	int64_t quiet_since = now_ms();
	int rc;

	while (!px->go && px->verdict == 0) {
		if (px->st == RX_EXC || px->st == RX_PROMPT ||
		    px->st == RX_DONE) {
			run_ended(px);
			return ATTEMPT_LOST;
		}
		rc = rx_poll(px, REFILL_MS);
		if (rc == -1)
			return ATTEMPT_LOST;
		if (rc == 1) {
			quiet_since = now_ms();
			continue;
		}
		if (now_ms() - px->last_rx > ANSWER_MS) {
			silent_too_long(px, path);
			return ATTEMPT_LOST;
		}
		if (now_ms() - quiet_since >= STALL_MS) {
			/* A header byte was lost: let the sum fail. */
			if (tx_filler(px, 64) == -1)
				return ATTEMPT_LOST;
			quiet_since = now_ms();
		}
	}
	if (px->verdict == 'E') {
		log_warnx("%s: '%s': %s", px->port, path, px->line.data + 1);
		px->verdict = 0;
		return strstr(px->line.data, "header checksum") != NULL ?
		    ATTEMPT_RETRY : ATTEMPT_FAIL;
	}
	return ATTEMPT_OK;
}

static enum attempt
stream_file(struct push *px, const struct devfs_push_item *it,
    const struct prepared *pf, struct buf *h)
{
	const struct buf *w = pf->z ? &pf->zdata : &pf->data;
	bool paced = !(test_flags & DEVFS_PUSH_TEST_NO_CREDIT);
	uint64_t c0, sent = 0, out = 0, writeoff = 0, acked, inflight;
	int64_t quiet_since;
	bool doomed = false;
	size_t n;
	int rc;
	enum attempt a;

	px->go = false;
	px->verdict = 0;
	c0 = px->credits;
	if (send_header(px, it, pf, h) == -1)
		return ATTEMPT_LOST;
	px->last_rx = now_ms();
	if (paced && (a = wait_go(px, it->path)) != ATTEMPT_OK)
		return a;
	quiet_since = now_ms();
	while (px->verdict == 0 || px->verdict == 'E') {
		if (px->verdict == 'E') {
			/* Unpaced (tests): the header's answer comes late. */
			if (strstr(px->line.data, "header checksum") == NULL) {
				log_warnx("%s: '%s': %s", px->port, it->path,
				    px->line.data + 1);
				return ATTEMPT_FAIL;
			}
			log_warnx("%s: '%s': header damaged on the line",
			    px->port, it->path);
			return ATTEMPT_RETRY;
		}
		if (px->st >= RX_EXC) {
			run_ended(px);
			return ATTEMPT_LOST;
		}
		acked = (px->credits - c0) * BLOCK + writeoff;
		inflight = out > acked ? out - acked : 0;
		if (sent < w->len && (!paced || inflight < px->window)) {
			n = w->len - sent;
			if (n > BLOCK)
				n = BLOCK;
			if (paced && n > px->window - inflight)
				n = (size_t)(px->window - inflight);
			if (tx(px, w->data + sent, n) == -1)
				return ATTEMPT_LOST;
			sent += n;
			out += n;
			if (px->progress != NULL)
				px->progress(px->arg, it,
				    sent * pf->data.len / w->len);
			if (rx_poll(px, 0) == -1)
				return ATTEMPT_LOST;
			continue;
		}
		if (doomed && inflight < px->window) {
			/* Fill in what was lost until the board answers. */
			if (tx_filler(px, (size_t)(px->window - inflight)) == -1)
				return ATTEMPT_LOST;
			out += px->window - inflight;
		}
		rc = rx_poll(px, REFILL_MS);
		if (rc == -1)
			return ATTEMPT_LOST;
		if (rc == 1) {
			quiet_since = now_ms();
			continue;
		}
		if (now_ms() - px->last_rx > ANSWER_MS) {
			silent_too_long(px, it->path);
			return ATTEMPT_LOST;
		}
		acked = (px->credits - c0) * BLOCK + writeoff;
		inflight = out > acked ? out - acked : 0;
		if (inflight > 0 && now_ms() - quiet_since >=
		    (doomed ? REFILL_MS : STALL_MS)) {
			/* The board waits for bytes that were lost. */
			if (!doomed)
				log_warnx("%s: '%s': the board stopped reading "
				    "with %" PRIu64 " bytes outstanding: bytes "
				    "were lost on the line", px->port,
				    it->path, inflight);
			doomed = true;
			writeoff += inflight;
			quiet_since = now_ms();
		}
	}
	if (px->verdict == 'K') {
		if (strcmp(px->line.data + 1, pf->hex) != 0) {
			log_failx("%s: '%s': the board reported hash %s, "
			    "expected %s", px->port, it->path,
			    px->line.data + 1, pf->hex);
			return ATTEMPT_FAIL;
		}
		return ATTEMPT_OK;
	}
	log_warnx("%s: '%s': hash mismatch on the board (got %s, expected "
	    "%s%s): the old file stays", px->port, it->path, px->line.data + 1,
	    pf->hex, doomed ? "; bytes were lost" : "");
	return ATTEMPT_RETRY;
}

/* ----------------------------------------------------- the stream run */

static int
start_run(struct push *px)
{
	char cmd[64];
	int rc;
	int64_t start = now_ms();

	px->st = RX_OK;
	px->ok_matched = 0;
	px->run_bytes = 0;
	px->ready = px->go = false;
	px->credits = 0;
	px->last_rx = now_ms();
	snprintf(cmd, sizeof(cmd), "_senko_rx2(%d,%d,%zu)\x04", BLOCK, OUTBUF,
	    px->z.chunk);
	if (tx(px, cmd, strlen(cmd)) == -1)
		return -1;
	if (test_flags & DEVFS_PUSH_TEST_NO_CREDIT)
		return 0;
	while (!px->ready) {
		if (px->st >= RX_EXC)
			return run_ended(px);
		if ((rc = rx_poll(px, 500)) == -1)
			return -1;
		if (rc == 0 && now_ms() - start > ANSWER_MS)
			return silent_too_long(px, "starting the receiver");
	}
	return 0;
}

/* 'Q', then the end of the run up to the raw prompt.  0 or -1. */
static int
end_run(struct push *px)
{
	int64_t start = now_ms(), quiet_since = start;
	int rc;

	if (px->st == RX_DONE)
		return 0;
	if (px->st < RX_EXC && tx(px, "Q", 1) == -1)
		return -1;
	while (px->st != RX_DONE) {
		if ((rc = rx_poll(px, 500)) == -1)
			return -1;
		if (rc == 1) {
			quiet_since = now_ms();
			continue;
		}
		if (now_ms() - start > ANSWER_MS)
			return silent_too_long(px, "ending the receiver");
		/* A lost 'Q' (or filler still on its way): say it again. */
		if (px->st < RX_EXC && now_ms() - quiet_since > 1000) {
			if (tx(px, "Q", 1) == -1)
				return -1;
			quiet_since = now_ms();
		}
	}
	if (px->exc.len > 0)
		return run_ended(px);
	return 0;
}

/* -------------------------------------------------- base64 fallback */

static enum attempt
b64_file(struct push *px, const struct devfs_push_item *it,
    const struct prepared *pf)
{
	struct buf code = BUF_INIT, out = BUF_INIT;
	size_t off = 0, n;
	enum attempt a = ATTEMPT_LOST;

	buf_init(&out, 4096);
	buf_addstr(&code, "_senko_bo(");
	repl_quote(&code, it->path, strlen(it->path));
	buf_addf(&code, ",%zu,%d)\n", pf->data.len,
	    px->algo == DEVFS_HASH_GIT_SHA1 ? 1 : 2);
	if (repl_exec_quiet(px->r, code.data, NULL) == -1) {
		if (errno == EREMOTEIO) {
			log_warnx("%s: '%s': cannot create its temporary file: "
			    "%s", px->port, it->path,
			    repl_last_exception(px->r));
			a = ATTEMPT_FAIL;
		}
		goto out;
	}
	while (off < pf->data.len) {
		n = pf->data.len - off < px->b64_chunk ?
		    pf->data.len - off : px->b64_chunk;
		buf_reset(&code);
		buf_addstr(&code, "_senko_bw(b'");
		buf_add_base64(&code, pf->data.data + off, n);
		buf_addstr(&code, "')\n");
		if (repl_exec(px->r, code.data, NULL) == -1) {
			if (errno == EREMOTEIO)
				a = ATTEMPT_FAIL;
			goto out;
		}
		off += n;
		if (px->progress != NULL)
			px->progress(px->arg, it, off);
	}
	buf_reset(&code);
	buf_addstr(&code, "_senko_bc(");
	repl_quote(&code, it->path, strlen(it->path));
	buf_addf(&code, ",%zu,'%s')\n", pf->data.len, pf->hex);
	if (repl_exec(px->r, code.data, &out) == -1) {
		if (errno == EREMOTEIO)
			a = ATTEMPT_FAIL;
		goto out;
	}
	buf_rtrim(&out);
	if (out.len >= 41 && out.data[0] == 'K' &&
	    strcmp(out.data + 1, pf->hex) == 0)
		a = ATTEMPT_OK;
	else {
		log_warnx("%s: '%s': hash mismatch on the board (%s, expected "
		    "%s): the old file stays", px->port, it->path, out.data,
		    pf->hex);
		a = ATTEMPT_RETRY;
	}
out:
	buf_release(&code);
	buf_release(&out);
	return a;
}

/* ------------------------------------------------------- preparation */

/*
 * One run: free flash, the sizes of the files about to be replaced, and
 * whether the receiver is already defined in this connection.
 */
static int
survey(struct push *px, const struct devfs_push_item *items, size_t n,
    uint64_t *free_flash, int64_t *old, bool *have_rx)
{
	struct buf code = BUF_INIT, out = BUF_INIT;
	char *line, *next;
	size_t i, got = 0;
	int rc = -1;

	buf_init(&out, 64 * 1024);
	buf_addstr(&code, "import os\ns=os.statvfs('/')\nprint(s[0]*s[3])\n"
	    "for p in (");
	for (i = 0; i < n; i++) {
		repl_quote(&code, items[i].path, strlen(items[i].path));
		buf_addch(&code, ',');
	}
	buf_addstr(&code, "):\n try:print(os.stat(p)[6])\n"
	    " except OSError:print(-1)\n"
	    "print(int('_senko_rx2' in globals()),"
	    "int('_senko_bw' in globals()))\n");
	if (repl_exec(px->r, code.data, &out) == -1)
		goto out;
	line = out.data;
	for (i = 0; line != NULL && *line != '\0'; i++, line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (i == 0)
			*free_flash = strtoull(line, NULL, 10);
		else if (i <= n)
			old[i - 1] = strtoll(line, NULL, 10), got++;
		else {
			have_rx[0] = line[0] == '1';
			have_rx[1] = strlen(line) > 2 && line[2] == '1';
		}
	}
	if (got != n) {
		log_failx("%s: unexpected answer while checking free flash",
		    px->port);
		goto out;
	}
	rc = 0;
out:
	buf_release(&code);
	buf_release(&out);
	return rc;
}

/*
 * Will it fit?  While file k is written, files before it are replaced and
 * file k's old version still exists next to its temporary copy.
 */
static int
check_space(struct push *px, const struct devfs_push_item *items, size_t n,
    uint64_t free_flash, const int64_t *old)
{
	int64_t delta = 0, peak = 0, need;
	size_t i;

	for (i = 0; i < n; i++) {
		if (delta + (int64_t)items[i].size > peak)
			peak = delta + (int64_t)items[i].size;
		delta += (int64_t)items[i].size - (old[i] > 0 ? old[i] : 0);
	}
	need = peak + FLASH_SLACK;
	if (need > (int64_t)free_flash) {
		errno = ENOSPC;
		return log_failx("%s: not enough free flash for the push: it "
		    "needs %" PRId64 " bytes, %" PRIu64 " are free; nothing "
		    "was replaced (remove files from the board or push fewer)",
		    px->port, need, free_flash);
	}
	return 0;
}

/* --------------------------------------------------------- devfs_push */

static int
push_items(struct push *px, struct devfs_push_item *items, size_t n,
    bool stream, devfs_done_fn done)
{
	struct prepared pf;
	struct buf h = BUF_INIT;
	enum attempt a = ATTEMPT_OK;
	size_t i;
	int tries, failed = 0;

	buf_init(&h, HEADER_MAX);
	for (i = 0; i < n; i++) {
		/*
		 * A fresh run now and then: the board's heap starts clean
		 * again (small boards fragment it), and its inflater with it.
		 */
		if (stream && px->run_bytes >= px->run_max) {
			if (end_run(px) == -1 || start_run(px) == -1) {
				a = ATTEMPT_LOST;
				break;
			}
			zrun_restart(&px->z);
		}
		if (prepare(px, &items[i], &pf) == -1) {
			prepared_release(&pf);
			failed++;
			continue;
		}
		for (tries = 0; tries < 2; tries++) {
			a = stream ? stream_file(px, &items[i], &pf, &h) :
			    b64_file(px, &items[i], &pf);
			if (a == ATTEMPT_OK && pf.z)
				zrun_commit(&px->z);
			px->run_bytes += pf.z ? pf.zdata.len : pf.data.len;
			/* After a failure the board drops its inflater. */
			if (a != ATTEMPT_OK)
				zrun_restart(&px->z);
			if (a != ATTEMPT_RETRY)
				break;
			/* Again, uncompressed: a board short of heap may fail
			 * to inflate even when the line is clean. */
			pf.z = false;
			if (tries == 0)
				log_info("%s: sending '%s' again", px->port,
				    items[i].path);
		}
		prepared_release(&pf);
		if (a == ATTEMPT_LOST)
			break;
		if (a == ATTEMPT_OK) {
			items[i].result = 0;
			if (done != NULL)
				done(px->arg, &items[i]);
			continue;
		}
		failed++;
		if (a == ATTEMPT_RETRY)
			log_failx("%s: '%s' arrived damaged twice; the old file "
			    "stays (is the line noisy, or the baud rate too "
			    "high?)", px->port, items[i].path);
		else
			log_failx("%s: cannot write '%s'; the old file stays",
			    px->port, items[i].path);
	}
	buf_release(&h);
	return a == ATTEMPT_LOST ? -1 : failed;
}

int
devfs_push(struct repl *r, struct devfs_push_item *items, size_t n,
    devfs_done_fn done, devfs_progress_fn progress, void *arg)
{
	const struct repl_info *info = repl_info(r);
	struct push px;
	uint64_t free_flash = 0;
	int64_t *old = NULL;
	bool have[2] = { false, false }, stream, at_prompt;
	size_t i;
	int rc = -1, bad = 0;

	for (i = 0; i < n; i++) {
		items[i].result = -1;
		if (!path_ok(items[i].path)) {
			log_failx("refusing to push to board path '%s': it must "
			    "be absolute, at most 255 bytes, without control "
			    "characters", items[i].path);
			bad++;
		}
	}
	if (bad)
		return (int)n;
	if (n == 0)
		return 0;

	memset(&px, 0, sizeof(px));
	px.r = r;
	px.port = repl_port(r);
	px.algo = info->has_sha1 ? DEVFS_HASH_GIT_SHA1 : DEVFS_HASH_SHA256;
	px.inflate = info->has_deflate || info->has_zlib;
	zrun_init(&px.z, info->free_heap);
	px.window = ring_window(info->platform);
	px.b64_chunk = info->free_heap < 64 * 1024 ? B64_CHUNK_SMALL :
	    B64_CHUNK;
	px.run_max = info->free_heap < 64 * 1024 ? RUN_MAX_SMALL : RUN_MAX;
	px.progress = progress;
	px.arg = arg;
	buf_init(&px.line, 4096);
	buf_init(&px.exc, 16 * 1024);
	stream = info->has_stdin_buffer;
	if (!stream)
		px.inflate = false;

	old = xcalloc(n, sizeof(*old));
	if (survey(&px, items, n, &free_flash, old, have) == -1)
		goto out;
	if (check_space(&px, items, n, free_flash, old) == -1) {
		rc = (int)n;
		goto out;
	}
	if (!stream) {
		if (!have[1] && repl_exec(r, b64_code, NULL) == -1)
			goto out;
		rc = push_items(&px, items, n, false, done);
		goto out;
	}
	if (!have[0] && repl_exec(r, rx_code, NULL) == -1)
		goto out;
	if ((px.s = repl_borrow_port(r)) == NULL)
		goto out;
	at_prompt = false;
	if (start_run(&px) == 0) {
		rc = push_items(&px, items, n, true, done);
		if (rc >= 0 && end_run(&px) == -1)
			rc = -1;
		at_prompt = px.st == RX_DONE;
	}
	repl_return_port(r, at_prompt);
out:
	zrun_release(&px.z);
	free(old);
	buf_release(&px.line);
	buf_release(&px.exc);
	return rc;
}
