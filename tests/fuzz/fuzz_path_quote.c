/*
 * fuzz_path_quote - the path check (path.c) and the Python quoting of
 * board paths and code (repl_quote).
 *
 * For every input:
 *  - path_is_safe() must agree with the rules of path.h, checked here by
 *    an independent reading of them: an accepted path breaks none, a
 *    rejected one breaks at least one ('..', '.', absolute, empty
 *    component, NUL, control byte, backslash, bad UTF-8, too long);
 *  - repl_quote() must give a literal that a Python reader, written here
 *    for the escapes a literal may hold, evaluates back to exactly the
 *    input, and that holds no raw control byte (03/04 are raw REPL
 *    commands, a line end would end the literal);
 *  - path_quote(), for log lines, must leave no control byte.
 */
#include <stdbool.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "log.h"
#include "path.h"
#include "repl.h"

/*
 * Well-formed UTF-8 after the Unicode standard's table 3-7 (byte ranges,
 * rather than path.c's decode-and-compare), so the two can disagree.
 */
static bool
utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		unsigned char lo = 0x80, hi = 0xbf;
		size_t more, k;

		if (c <= 0x7f) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			more = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			more = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			more = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else
			return false;
		if (n - i <= more)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (k = 2; k <= more; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return false;
		i += more + 1;
	}
	return true;
}

/* The first rule of path.h the bytes break, or NULL for a safe path. */
static const char *
rule_broken(const unsigned char *p, size_t n)
{
	size_t i, start;

	if (n == 0)
		return "empty";
	if (n > PATH_SAFE_MAX)
		return "longer than PATH_SAFE_MAX";
	if (p[0] == '/')
		return "absolute";
	for (i = 0; i < n; i++) {
		if (p[i] == 0)
			return "NUL";
		if (p[i] < 0x20 || p[i] == 0x7f)
			return "control byte";
		if (p[i] == '\\')
			return "backslash";
	}
	if (!utf8_ok(p, n))
		return "not UTF-8";
	for (start = 0; start <= n; start = i + 1) {
		const unsigned char *slash = memchr(p + start, '/', n - start);

		i = slash ? (size_t)(slash - p) : n;
		if (i == start)
			return "empty component";
		if (i - start == 1 && p[start] == '.')
			return "'.' component";
		if (i - start == 2 && p[start] == '.' && p[start + 1] == '.')
			return "'..' component";
	}
	return NULL;
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Append code point cp (< 0x100 here) to a str's UTF-8 value. */
static void
add_code_point(struct buf *out, unsigned cp)
{
	if (cp < 0x80)
		buf_addch(out, (int)cp);
	else {
		buf_addch(out, (int)(0xc0 | cp >> 6));
		buf_addch(out, (int)(0x80 | (cp & 0x3f)));
	}
}

/*
 * Evaluate a one-line Python literal, '...' (str, whose value is given as
 * UTF-8, as MicroPython holds it) or b'...' (bytes), the way a Python
 * reader does.  Strict where Python would accept something the raw REPL
 * cannot carry: raw control bytes.  Escapes: \\ \' \" \n \r \t \0 \xHH;
 * any other escape is an error here (a quoter relying on Python keeping
 * unknown escapes as they are would be fragile).  Returns NULL, or why
 * the text is not such a literal.
 */
static const char *
eval_literal(const char *s, size_t n, struct buf *out)
{
	size_t i = 0;
	bool bytes = false;

	if (i < n && s[i] == 'b')
		bytes = true, i++;
	if (i >= n || s[i] != '\'')
		return "no opening quote";
	i++;
	if (!bytes && !utf8_ok((const unsigned char *)s, n))
		return "a str literal that is not UTF-8 source";
	for (;;) {
		unsigned char c;

		if (i >= n)
			return "no closing quote";
		c = (unsigned char)s[i++];
		if (c == '\'')
			break;
		if (c < 0x20 || c == 0x7f)
			return "raw control byte in the literal";
		if (c >= 0x80 && bytes)
			return "non-ASCII byte in a bytes literal";
		if (c != '\\') {
			buf_addch(out, c);
			continue;
		}
		if (i >= n)
			return "backslash at the end";
		c = (unsigned char)s[i++];
		switch (c) {
		case '\\': case '\'': case '"':
			buf_addch(out, c);
			break;
		case 'n':
			buf_addch(out, '\n');
			break;
		case 'r':
			buf_addch(out, '\r');
			break;
		case 't':
			buf_addch(out, '\t');
			break;
		case '0':
			if (i < n && s[i] >= '0' && s[i] <= '7')
				return "octal escape (not handled here)";
			buf_addch(out, 0);
			break;
		case 'x': {
			int h, l;

			if (n - i < 2 || (h = hex_digit(s[i])) < 0 ||
			    (l = hex_digit(s[i + 1])) < 0)
				return "\\x without two hex digits";
			i += 2;
			if (bytes)
				buf_addch(out, h << 4 | l);
			else
				add_code_point(out, (unsigned)(h << 4 | l));
			break;
		}
		default:
			return "an escape this reader does not know";
		}
	}
	if (i != n)
		return "text after the closing quote";
	return NULL;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("fuzz_path_quote", -1, 0);
	log_thread_quiet(1);
	return 0;
}

static void
check_path(const unsigned char *p, size_t n)
{
	const char *why = NULL, *broken = rule_broken(p, n);
	bool safe = path_is_safe((const char *)p, n, &why);

	if (safe) {
		FUZZ_CHECK(broken == NULL, "accepted a path that is %s "
		    "(%zu bytes)", broken, n);
		FUZZ_CHECK(why == NULL, "accepted, but why = '%s'", why);
	} else {
		FUZZ_CHECK(broken != NULL, "rejected a safe path (%zu bytes) "
		    "as '%s'", n, why ? why : "(no reason)");
		FUZZ_CHECK(why != NULL && *why, "rejected without a reason");
	}
}

static void
check_quote(const unsigned char *p, size_t n)
{
	struct buf quoted = BUF_INIT, value = BUF_INIT;
	const char *err;
	size_t i;

	repl_quote(&quoted, (const char *)p, n);
	for (i = 0; i < quoted.len; i++) {
		unsigned char c = (unsigned char)quoted.data[i];

		FUZZ_CHECK(c >= 0x20 && c != 0x7f, "raw byte %02x at %zu of "
		    "the quoted literal", c, i);
	}
	err = eval_literal(quoted.data, quoted.len, &value);
	FUZZ_CHECK(err == NULL, "repl_quote gave no literal: %s: %s", err,
	    quoted.data);
	FUZZ_CHECK(value.len == n && memcmp(value.data, p, n) == 0,
	    "the literal %s evaluates to %zu other bytes than the %zu "
	    "quoted", quoted.data, value.len, n);
	buf_release(&quoted);
	buf_release(&value);
}

static void
check_log_quote(const unsigned char *p, size_t n)
{
	struct buf shown = BUF_INIT;
	size_t i;

	path_quote(&shown, (const char *)p, n);
	for (i = 0; i < shown.len; i++) {
		unsigned char c = (unsigned char)shown.data[i];

		FUZZ_CHECK(c >= 0x20 && c != 0x7f, "path_quote left byte "
		    "%02x", c);
	}
	buf_release(&shown);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_path(data, size);
	/* Board paths and whole programs both go through repl_quote. */
	check_quote(data, size);
	check_log_quote(data, size);
	return 0;
}
