/*
 * fuzz_agent_frames - the host side of the on-board agent (board/agent.c)
 * against a board that may answer anything: the hello, the answers to
 * inventory, list, hash, read, put, journal, commit and finish, credits,
 * noise between frames and the raw REPL's end of run.
 *
 * The input is what the board sends once the agent runs; the raw REPL
 * under agent.c (repl_exec, repl_launch) and the port are played by this
 * file, so each input is one whole visit through agent.h's API:
 *
 *   byte 0      flags: FLAG_VANISH: when the input ends the board is
 *               unplugged (EIO) rather than silent; FLAG_BYTEWISE: the
 *               port hands out one byte per read; FLAG_STOP: the stop
 *               flag is raised after the second operation; bits 3-4:
 *               the size of the file agent_put writes (0, 60, 300 or
 *               2000 bytes, i.e. up to 32 pieces: past any window; 'x'
 *               but for a CR and a 'z', which the host must keep from
 *               the start of a unit's later piece)
 *   byte 1      n, then n bytes: the operations, in order (each byte
 *               modulo 8: inventory, list, hash, read, put, journal,
 *               commit, finish; a put with bit 3 set puts the file
 *               under two names in one agent_put_batch, the second file
 *               sent while the first waits for its verdict); agent_end
 *               always closes the visit
 *   then        chunks: a length byte L and L bytes the board sends, or
 *               L = 0 for a silence that outlasts any wait.  A chunk
 *               arrives when the host waits for one.
 *
 * The board's view of the line checks the credit window: it tracks its
 * own frames (1E type len16 body sum16) to tell credits (06 outside a
 * frame) from data, and the host may never have more pieces unanswered
 * by a credit than the window agent_hello() reports.  It reads the
 * host's writes as agent.py does: each one piece of AGENT_UNIT bytes;
 * every unit well formed (its sum, a 'D' unit at most AGENT_PIECES
 * pieces) and no later piece of a 'D' unit starting with a byte of
 * AGENT_FOREIGN.
 *
 * FUZZ_VERBOSE=1 build/fuzz/fuzz_agent_frames FILE shows one visit's log,
 * with the pieces sent and the credits given after each operation (a
 * board true to agent.py gives one per piece).
 *
 * The seeds in tests/fuzz/corpus/agent_frames/ are written by
 * tests/fuzz/corpus/agent_frames.py from named fields (hello, inventory,
 * put head ...): when agent.py's frames or agent.c's commands change,
 * change them there, run it, and check each seed reaches the step its
 * name says with FUZZ_VERBOSE=1.
 *
 * agent.c is included rather than linked for its clock (renamed to a
 * virtual one, so 8-second silences and deadlines cost no real time); the
 * REPL functions it calls are defined here, and devfs_list_release() is
 * the only devfs.c function it uses: a copy here keeps devfs.o (and with
 * it repl.o) out of the link.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "fuzz.h"
#include "fuzz_line.h"
#include "log.h"
#include "repl.h"
#include "serial.h"

#define clock_gettime fuzz_clock_gettime
#include "agent.c"
#undef clock_gettime

enum {
	FLAG_VANISH = 0x01,
	FLAG_BYTEWISE = 0x02,
	FLAG_STOP = 0x04,
};

/* The board's own frame reader, to tell its credits from frame bytes. */
enum board_tx { TX_OUT, TX_HEAD, TX_BODY, TX_SUM, TX_ENDED };

struct serial {
	struct fuzz_line line;
	uint64_t sent;
	enum board_tx tx;
	size_t tx_left, tx_flen;
	uint8_t head[3];
	uint64_t credits, pieces;
	unsigned window;          /* 0 until the hello is parsed */
	/* The unit being written: its bytes so far, pieces still to come. */
	uint8_t unit[AGENT_PIECES * AGENT_UNIT];
	size_t unit_len, unit_left;
};

struct repl {
	struct serial *s;
	bool returned;
};

static bool verbose;

/* ------------------------------------------------ the REPL, played here */

int
repl_exec(struct repl *r, const char *code, struct buf *out)
{
	(void)r;
	(void)code;
	(void)out;
	return 0;
}

struct serial *
repl_launch(struct repl *r, const char *code, struct buf *early)
{
	(void)code;
	(void)early;
	return r->s;
}

const char *
repl_port(const struct repl *r)
{
	(void)r;
	return "/dev/ttyFUZZ";
}

void
repl_return_port(struct repl *r, bool at_prompt)
{
	(void)at_prompt;
	r->returned = true;
}

/* A board without deflate, the agent's cache and sha1: the plain agent is
 * sent (src/board/agent.c), and nothing is kept on the board. */
const struct repl_info *
repl_info(const struct repl *r)
{
	static const struct repl_info none;

	(void)r;
	return &none;
}

/* devfs.c's hasher would bring the real REPL (devfs.o) in. */
int
devfs_hash_mem(enum devfs_hash_algo algo, const void *data, size_t len,
    char hex[DEVFS_HASH_HEXSZ])
{
	(void)algo;
	(void)data;
	(void)len;
	memset(hex, '0', DEVFS_HASH_HEXSZ - 1);
	hex[DEVFS_HASH_HEXSZ - 1] = '\0';
	return 0;
}

void
devfs_list_release(struct devfs_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->entries[i].path);
	free(l->entries);
	l->entries = NULL;
	l->n = 0;
}

/* ------------------------------------------------------------ the port */

static void
board_sent(struct serial *s, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		switch (s->tx) {
		case TX_OUT:
			if (p[i] == 0x06)
				s->credits++;
			else if (p[i] == 0x1e)
				s->tx = TX_HEAD, s->tx_left = 3;
			else if (p[i] == 0x04)
				s->tx = TX_ENDED;
			break;
		case TX_HEAD:
			s->head[3 - s->tx_left] = p[i];
			if (--s->tx_left == 0) {
				s->tx_flen = (size_t)s->head[1] << 8 |
				    s->head[2];
				s->tx_left = s->tx_flen;
				s->tx = s->tx_left ? TX_BODY : TX_SUM;
				if (s->tx == TX_SUM)
					s->tx_left = 2;
			}
			break;
		case TX_BODY:
			if (--s->tx_left == 0)
				s->tx = TX_SUM, s->tx_left = 2;
			break;
		case TX_SUM:
			if (--s->tx_left == 0)
				s->tx = TX_OUT;
			break;
		case TX_ENDED:
			break;
		}
	}
}

ssize_t
serial_read(struct serial *s, void *data, size_t len, int timeout_ms)
{
	ssize_t n = fuzz_line_read(&s->line, data, len, timeout_ms);

	if (n > 0)
		board_sent(s, data, (size_t)n);
	return n;
}

/* As serial.c: a line that hung up stays gone. */
bool
serial_lost(const struct serial *s)
{
	return s->line.vanish && fuzz_line_ended(&s->line);
}

/* A whole unit as agent.py's unit() checks it. */
static void
check_unit(const uint8_t *u, size_t len)
{
	unsigned sum = 0;
	size_t i;

	for (i = 0; i < len - 2; i++)
		sum += u[i];
	FUZZ_CHECK((sum & 0xffff) == ((unsigned)u[len - 2] << 8 | u[len - 1]),
	    "unit '%c' of %zu bytes: bad sum", u[0], len);
	if (u[0] != 'D')
		FUZZ_CHECK((u[1] & 0x7f) <= AGENT_UNIT - 4, "command unit "
		    "'%c' says %u payload bytes", u[0], u[1] & 0x7f);
}

/* One piece as the board takes it: a unit's start, or a later piece. */
static void
board_took(struct serial *s, const uint8_t *p)
{
	size_t n;

	if (s->unit_left == 0) {
		/* 0: the pad unit agent_keepalive() sends. */
		FUZZ_CHECK(p[0] == 0 || strchr("ACDHIJLPQRz", p[0]) != NULL,
		    "a unit starts with %#x, not a unit type", p[0]);
		s->unit_len = 0;
		s->unit_left = 1;
		if (p[0] == 'D') {
			n = (size_t)p[1] << 8 | p[2];
			s->unit_left = (n + 5 + AGENT_UNIT - 1) / AGENT_UNIT;
			FUZZ_CHECK(s->unit_left <= AGENT_PIECES, "a 'D' unit "
			    "of %zu bytes: more than %d pieces", n,
			    AGENT_PIECES);
		}
	} else
		FUZZ_CHECK(memchr(AGENT_FOREIGN, p[0],
		    sizeof(AGENT_FOREIGN) - 1) == NULL, "piece %zu of a 'D' "
		    "unit starts with %#x, a foreign byte", s->unit_len /
		    AGENT_UNIT, p[0]);
	memcpy(s->unit + s->unit_len, p, AGENT_UNIT);
	s->unit_len += AGENT_UNIT;
	if (--s->unit_left == 0)
		check_unit(s->unit, s->unit_len);
}

int
serial_write(struct serial *s, const void *data, size_t len, int timeout_ms)
{
	const uint8_t *u = data;

	(void)timeout_ms;
	if (s->line.vanish && fuzz_line_ended(&s->line)) {
		errno = EIO;
		return -1;
	}
	FUZZ_CHECK(len == AGENT_UNIT, "the host wrote %zu bytes, not one "
	    "piece of %d", len, AGENT_UNIT);
	/* 'z' ends the agent (agent_end) and may follow a unit the host
	 * gave up in the middle of.  It goes within the window like any
	 * piece: on a board busy with its flash, a 'z' past the ring loses
	 * its tail, and the agent waits inside it (tests/transport's stop
	 * at 1 Mbaud saw 22 bytes dropped and a 5 s wait). */
	if (u[0] == 'z')
		s->unit_left = 0;
	board_took(s, u);
	if (s->window) {
		s->pieces++;
		FUZZ_CHECK(s->pieces <= s->credits + s->window, "the host sent "
		    "piece %llu with %llu credits given, window %u",
		    (unsigned long long)s->pieces,
		    (unsigned long long)s->credits, s->window);
	}
	s->sent += len;
	return 0;
}

/* ---------------------------------------------------------- the checks */

static bool
all_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strchr("0123456789abcdef", s[i]) || s[i] == '\0')
			return false;
	return s[n] == '\0';
}

static size_t
digest_len(const struct agent *a)
{
	return agent_hello(a)->algo == DEVFS_HASH_GIT_SHA1 ? 40 : 64;
}

/* What any failed call promises: a known errno, and a reason. */
static void
check_failure(struct agent *a, int err, const char *op)
{
	FUZZ_CHECK(err == EIO || err == ETIMEDOUT || err == EREMOTEIO ||
	    err == EBADMSG || err == ENOENT || err == EINTR || err == EFBIG,
	    "%s failed with errno %d (%s)", op, err, strerror(err));
	if (err == EREMOTEIO)
		FUZZ_CHECK(*agent_last_error(a) != '\0', "%s: the board "
		    "refused, but agent_last_error() says nothing", op);
}

static void
check_inventory(struct agent *a, const struct agent_inventory *inv)
{
	fuzz_check_terminated(inv->record, sizeof(inv->record), "record");
	fuzz_check_terminated(inv->listing, sizeof(inv->listing), "listing");
	FUZZ_CHECK(*inv->record == '\0' || all_hex(inv->record,
	    digest_len(a)), "record hash '%s' is not a hash", inv->record);
	FUZZ_CHECK(all_hex(inv->listing, 14), "listing digest '%s' is not "
	    "14 hex digits", inv->listing);
}

static void
check_listing(const struct devfs_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		FUZZ_CHECK(l->entries[i].path[0] == '/', "listed path '%s' "
		    "is not absolute", l->entries[i].path);
		FUZZ_CHECK(!l->entries[i].is_dir || l->entries[i].size == 0,
		    "a folder with a size");
	}
}

/* What agent_read may keep: small, so that an input well under
 * libFuzzer's 4096-byte default reaches the "too large" path (a seed
 * past 4096 bytes raises the length of every input, and slows it all). */
#define READ_CAP 1024

/* What the host hashed: as long as the board's algorithm makes it. */
static const char put_hex[] =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/*
 * Two files in one batch; each file's outcome is one agent.h promises:
 * written, refused with the board's words, or damaged.
 */
static int
put_batch(struct agent *a, size_t put_len, const uint8_t *put_data)
{
	const char *hex = put_hex + sizeof(put_hex) - 1 - digest_len(a);
	struct agent_file f[2] = {
		{ .path = "/lib/a.py", .data = put_data, .len = put_len,
		    .hex = hex },
		{ .path = "/lib/b.py", .data = put_data, .len = put_len,
		    .hex = hex },
	};
	size_t k;

	if (agent_put_batch(a, f, 2, true, NULL, NULL) == -1)
		return -1;
	for (k = 0; k < 2; k++) {
		FUZZ_CHECK(f[k].err == 0 || f[k].err == EREMOTEIO ||
		    f[k].err == EBADMSG, "file %zu of a batch failed with "
		    "errno %d", k, f[k].err);
		FUZZ_CHECK(f[k].err != EREMOTEIO || f[k].why[0] != '\0',
		    "file %zu was refused with no reason", k);
		fuzz_check_terminated(f[k].why, sizeof(f[k].why), "why");
	}
	return 0;
}

/* One operation; its errno, 0 when it worked. */
static int
run_op(struct agent *a, int op, size_t put_len, const uint8_t *put_data)
{
	struct agent_inventory inv;
	struct devfs_list list = { 0 };
	struct agent_commit c = { 0 };
	struct buf out = BUF_INIT, kept = BUF_INIT, failed = BUF_INIT;
	char hex[DEVFS_HASH_HEXSZ];
	const char *name = "?";
	int rc = 0, err;

	buf_init(&out, READ_CAP);
	switch (op % 8) {
	case 0:
		name = "agent_inventory";
		rc = agent_inventory(a, "/", &inv);
		if (rc == 0)
			check_inventory(a, &inv);
		break;
	case 1:
		name = "agent_list";
		rc = agent_list(a, "/", &list);
		if (rc == 0)
			check_listing(&list);
		else
			FUZZ_CHECK(list.n == 0 && list.entries == NULL,
			    "a failed listing kept entries");
		devfs_list_release(&list);
		break;
	case 2:
		name = "agent_hash";
		memset(hex, 'X', sizeof(hex));
		rc = agent_hash(a, "/main.py", hex);
		if (rc == 0)
			FUZZ_CHECK(all_hex(hex, digest_len(a)), "hash '%.*s' is "
			    "not a hash", (int)sizeof(hex), hex);
		break;
	case 3:
		name = "agent_read";
		rc = agent_read(a, "/main.py", &out);
		FUZZ_CHECK(out.len <= out.max, "read past its cap");
		break;
	case 4:
		if (op & 8) {
			name = "agent_put_batch";
			rc = put_batch(a, put_len, put_data);
			break;
		}
		name = "agent_put";
		rc = agent_put(a, "/lib/a.py", put_data, put_len,
		    put_hex + sizeof(put_hex) - 1 - digest_len(a), true, NULL,
		    NULL);
		break;
	case 5:
		name = "agent_journal";
		rc = agent_journal(a, "/", "R " "0123456789abcdef0123456789"
		    "abcdef01234567 /lib/a.py\n");
		break;
	case 6:
		name = "agent_commit";
		c.kept = &kept;
		c.failed = &failed;
		rc = agent_commit(a, "/", &c);
		break;
	case 7:
		name = "agent_finish";
		rc = agent_finish(a, "/", &inv);
		if (rc == 0)
			check_inventory(a, &inv);
		break;
	}
	err = rc == 0 ? 0 : errno;
	if (verbose)
		fprintf(stderr, "%s: rc %d (%s)%s%s\n", name, rc,
		    strerror(err), err == EREMOTEIO ? ", board says " : "",
		    err == EREMOTEIO ? agent_last_error(a) : "");
	FUZZ_CHECK(rc == 0 || rc == -1, "%s returned %d", name, rc);
	if (rc == -1)
		check_failure(a, err, name);
	buf_release(&out);
	buf_release(&kept);
	buf_release(&failed);
	return err;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	verbose = fuzz_log_init("fuzz_agent_frames");
	/* The platform's table decides the window, not the environment. */
	unsetenv("SENKO_AGENT_WINDOW");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t put_sizes[] = { 0, 60, 300, 2000 };
	static uint8_t put_data[2000];
	volatile sig_atomic_t stop = 0;
	struct serial s = { 0 };
	struct repl r = { 0 };
	const uint8_t *ops;
	struct agent *a;
	size_t n, i, put_len;
	uint8_t flags;
	int err;

	if (size < 2)
		return 0;
	flags = data[0];
	n = data[1];
	if (n > size - 2)
		n = size - 2;
	ops = data + 2;
	put_len = put_sizes[flags >> 3 & 3];
	/* Where a raw put's first 'D' unit would start its second piece, and
	 * in the middle of the next one: foreign bytes. */
	memset(put_data, 'x', sizeof(put_data));
	put_data[AGENT_UNIT - 3] = '\r';
	put_data[1000] = 'z';
	fuzz_line_init(&s.line, data + 2 + n, size - 2 - n,
	    flags & FLAG_VANISH, flags & FLAG_BYTEWISE);
	r.s = &s;

	a = agent_start(&r, 115200, &stop);
	if (a == NULL) {
		if (verbose)
			fprintf(stderr, "agent_start: %s\n", strerror(errno));
		FUZZ_CHECK(r.returned, "a failed start kept the port");
		return 0;
	}
	fuzz_check_terminated(agent_hello(a)->version,
	    sizeof(agent_hello(a)->version), "version");
	fuzz_check_terminated(agent_hello(a)->platform,
	    sizeof(agent_hello(a)->platform), "platform");
	FUZZ_CHECK(agent_hello(a)->window_units >= 1, "an empty window");
	s.window = agent_hello(a)->window_units;
	if (verbose)
		fprintf(stderr, "agent_start: %s on %s, window %u\n",
		    agent_hello(a)->version, agent_hello(a)->platform,
		    s.window);
	for (i = 0; i < n; i++) {
		if ((flags & FLAG_STOP) && i == 2)
			stop = 1;
		err = run_op(a, ops[i], put_len, put_data);
		/* Out of step (agent.h): a unit may be left half sent.  Only
		 * agent_end() may follow; the visit goes on to try the host,
		 * and the board's view starts afresh. */
		if (err == EIO || err == ETIMEDOUT || err == EFBIG)
			s.unit_left = 0;
		/* A credit the host did not earn (a stray 06 in the board's
		 * output) must not count: the unsigned units - credits would
		 * wrap and the host would wait for room it already has. */
		FUZZ_CHECK(a->credits <= a->pieces_sent, "the host counts "
		    "%llu credits for %llu pieces sent",
		    (unsigned long long)a->credits,
		    (unsigned long long)a->pieces_sent);
		/* A board true to agent.py credits every piece it took. */
		if (verbose)
			fprintf(stderr, "  pieces sent %llu, credits %llu\n",
			    (unsigned long long)s.pieces,
			    (unsigned long long)s.credits);
	}
	(void)agent_end(a);
	FUZZ_CHECK(r.returned, "agent_end did not give the port back");
	FUZZ_CHECK(s.line.received <= size, "received more than sent");
	return 0;
}
