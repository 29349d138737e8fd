/*
 * agent2c.c - build step: turn src/board/agent.py and boot.py into a C
 * header.
 *
 *   agent2c agent.py boot.py agent_code.h
 *
 * The board compiles whatever we send it, so the readable agent and its
 * bootstrap (boot.py: what brings the agent onto the board, compressed)
 * are shrunk mechanically before they go into the binary: comment lines
 * and blank lines go, each level of four-space indentation becomes one
 * space, and spaces not between two word characters go (squeeze).
 * Nothing else changes, so the Python that runs is the Python
 * in the files.  Refuses (exit 1) what it cannot shrink safely: tabs, a
 * docstring-like triple quote, a '#' after code, a line continued with a
 * backslash.  The constants UNIT, PIECES and IDLE_MS of agent.py become
 * AGENT_UNIT, AGENT_PIECES and AGENT_IDLE_MS, so host and board share
 * one definition.  The line
 * "# agent2c: split" cuts the agent in two strings, agent_code_1 and
 * agent_code_2, which the board compiles and runs one after the other
 * (an ESP8266 cannot compile the whole at once); boot.py's two split
 * lines cut it into agent_boot_1 (the compressed agent's runner),
 * agent_boot_2 (what receives the agent) and agent_boot_3 (the plain
 * agent's runner).  agent_pieces_1 and agent_pieces_2 say where the
 * runner may cut each part of the agent (struct pieces).
 *
 * Not part of libsenko (the Makefile builds it on its own, for the host
 * that builds).
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
fail(const char *file, int line, const char *why)
{
	fprintf(stderr, "agent2c: %s:%d: %s\n", file, line, why);
	return 1;
}

/*
 * One line of code outside its string literals: *depth goes up and down
 * with its brackets; 1 when it has a '#' (a comment after code).
 */
static int
scan_code(const char *s, int *depth)
{
	char quote = 0;

	for (; *s != '\0'; s++) {
		if (quote) {
			if (*s == '\\' && s[1] != '\0')
				s++;
			else if (*s == quote)
				quote = 0;
		} else if (*s == '\'' || *s == '"')
			quote = *s;
		else if (*s == '#')
			return 1;
		else if (*s == '(' || *s == '[' || *s == '{')
			(*depth)++;
		else if (*s == ')' || *s == ']' || *s == '}')
			(*depth)--;
	}
	return 0;
}

/*
 * The pieces a board compiles the plain agent in from its cached copy
 * (boot.py's senko_src): runs of whole top-level statements of about
 * PIECE_BUDGET bytes of the shrunk code (a longer statement is a piece
 * of its own).  Measured on the esp8266 profile, the heap left after the
 * first part: 512-byte pieces 17,248 bytes, 1 KB 18,352, 2 KB 18,016;
 * the part in one piece does not compile.  A statement starts at a line
 * at column 0, outside any bracket, that does not go on with the one
 * before (else, elif, except, finally, or after a decorator); strings
 * never span lines (no triple quotes, no backslash continuations).
 */
#define PIECE_BUDGET 1024

struct pieces {
	size_t off;           /* bytes of the part so far */
	size_t cut;           /* where the current piece starts */
	size_t last;          /* where the last statement started */
	int depth;            /* brackets open */
	bool after_decorator;
	char list[512];       /* "n,n,...," */
};

static void
pieces_cut(struct pieces *pc, size_t at)
{
	size_t len = strlen(pc->list);

	snprintf(pc->list + len, sizeof(pc->list) - len, "%zu,", at - pc->cut);
	pc->cut = at;
}

/* A shrunk line of len bytes (its newline too) at column 0 or not. */
static void
pieces_line(struct pieces *pc, const char *code, bool column0, size_t len)
{
	static const char *const goes_on[] = { "else", "elif", "except",
	    "finally" };
	bool start = column0 && pc->depth == 0 && !pc->after_decorator;
	size_t i, k;

	for (i = 0; start && i < sizeof(goes_on) / sizeof(goes_on[0]); i++) {
		k = strlen(goes_on[i]);
		if (strncmp(code, goes_on[i], k) == 0 &&
		    (code[k] == ':' || code[k] == ' '))
			start = false;
	}
	if (start) {
		if (pc->off - pc->cut > PIECE_BUDGET && pc->last > pc->cut)
			pieces_cut(pc, pc->last);
		pc->last = pc->off;
		pc->after_decorator = code[0] == '@';
	}
	pc->off += len;
	scan_code(code, &pc->depth);
}

/* The part ended: its pieces as a Python tuple in the C string name. */
static void
pieces_end(struct pieces *pc, FILE *out, const char *name)
{
	if (pc->off - pc->cut > PIECE_BUDGET && pc->last > pc->cut)
		pieces_cut(pc, pc->last);
	if (pc->off > pc->cut)
		pieces_cut(pc, pc->off);
	fprintf(out, "static const char %s[] = \"(%s)\";\n", name, pc->list);
	memset(pc, 0, sizeof(*pc));
}

static bool
is_word(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/*
 * The line's code without the spaces Python does not need: a space goes
 * unless it stands between two characters of names, keywords or numbers
 * ("x in y" keeps both, "a = f(b, c)" becomes "a=f(b,c)").  Strings keep
 * every byte.  About 7 % fewer bytes for the plain agent, which crosses the
 * line in every session of a board without the cache (an ESP8266), and
 * for the heap of a board without raw-paste, which holds the whole text
 * while it compiles it (with raw-paste the compiler reads it as it comes:
 * the same heap either way).
 */
static void
squeeze(const char *s, char *out)
{
	char quote = 0, prev = '\0';

	for (; *s != '\0'; s++) {
		if (quote) {
			if (*s == '\\' && s[1] != '\0')
				*out++ = *s++;
			else if (*s == quote)
				quote = 0;
		} else if (*s == '\'' || *s == '"')
			quote = *s;
		else if (*s == ' ') {
			while (s[1] == ' ')
				s++;
			if (!is_word(prev) || !is_word(s[1]))
				continue;
		}
		prev = *s;
		*out++ = *s;
	}
	*out = '\0';
}

static void
emit_c(FILE *out, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\\' || c == '"')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(out, "\\%03o", c);
		else
			putc(c, out);
	}
}

static void
grab_constant(const char *line, const char *name, long *value)
{
	size_t n = strlen(name);

	if (strncmp(line, name, n) == 0 && strncmp(line + n, " = ", 3) == 0)
		*value = strtol(line + n + 3, NULL, 10);
}

/* The constants host and board share (-1: not set). */
struct constants {
	long unit, pieces, idle;
};

/*
 * One Python file into C string literals on out, each line shrunk.  Each
 * line "# agent2c: split" ends a string and starts the next one named in
 * splits (a NULL-terminated list: exactly that many split lines); the
 * constants are taken when present.  With pieces (a NULL-terminated
 * list, one name per string), each string is followed by its pieces
 * (struct pieces).  0, or 1 after saying why on stderr.
 */
static int
shrink(const char *path, FILE *out, const char *const *splits,
    const char *const *pieces, struct constants *k, size_t *bytes)
{
	char line[1024], code[1024];
	struct pieces pc;
	FILE *in;
	int lineno = 0, rc = 0, depth = 0;
	size_t nsplit = 0, want = 0;

	memset(&pc, 0, sizeof(pc));

	while (splits[want] != NULL)
		want++;

	in = fopen(path, "r");
	if (in == NULL) {
		perror(path);
		return 1;
	}
	while (fgets(line, sizeof(line), in) != NULL) {
		size_t len = strlen(line), indent = 0;
		const char *body;

		lineno++;
		if (len == 0 || line[len - 1] != '\n') {
			fclose(in);
			return fail(path, lineno, "line too long or "
			    "without a newline");
		}
		line[--len] = '\0';
		while (len > 0 && line[len - 1] == ' ')
			line[--len] = '\0';
		if (strchr(line, '\t') != NULL)
			rc = fail(path, lineno, "tab");
		while (line[indent] == ' ')
			indent++;
		body = line + indent;
		if (strncmp(line, "# agent2c: split", 16) == 0) {
			if (nsplit == want) {
				rc = fail(path, lineno, "one split too many");
				continue;
			}
			fputs("\t;\n", out);
			if (pieces)
				pieces_end(&pc, out, pieces[nsplit]);
			fprintf(out, "static const char %s[] =\n",
			    splits[nsplit++]);
			continue;
		}
		if (*body == '\0' || *body == '#')
			continue;
		if (strstr(body, "\"\"\"") || strstr(body, "'''"))
			rc = fail(path, lineno, "triple quotes");
		if (scan_code(body, &depth))
			rc = fail(path, lineno, "comment after code");
		if (line[len - 1] == '\\')
			rc = fail(path, lineno, "backslash continuation");
		grab_constant(line, "UNIT", &k->unit);
		grab_constant(line, "PIECES", &k->pieces);
		grab_constant(line, "IDLE_MS", &k->idle);
		squeeze(body, code);
		fputs("\t\"", out);
		for (size_t i = 0; i < indent / 4; i++)
			putc(' ', out);
		emit_c(out, code);
		fputs("\\n\"\n", out);
		*bytes += indent / 4 + strlen(code) + 1;
		if (pieces)
			pieces_line(&pc, code, indent < 4,
			    indent / 4 + strlen(code) + 1);
	}
	fclose(in);
	if (nsplit != want)
		rc = fail(path, lineno, "too few '# agent2c: split' lines");
	fputs("\t;\n", out);
	if (pieces && nsplit == want)
		pieces_end(&pc, out, pieces[nsplit]);
	return rc;
}

int
main(int argc, char **argv)
{
	static const char *const agent_splits[] = { "agent_code_2", NULL };
	static const char *const agent_pieces[] = { "agent_pieces_1",
	    "agent_pieces_2", NULL };
	static const char *const boot_splits[] = { "agent_boot_2",
	    "agent_boot_3", NULL };
	FILE *out;
	struct constants k = { -1, -1, -1 }, none = { -1, -1, -1 };
	size_t bytes = 0, boot_bytes = 0;
	int rc = 0;

	if (argc != 4) {
		fprintf(stderr, "usage: agent2c AGENT.py BOOT.py OUT.h\n");
		return 2;
	}
	out = fopen(argv[3], "w");
	if (out == NULL) {
		perror(argv[3]);
		return 1;
	}
	fprintf(out, "/* Generated from %s and %s by agent2c; do not edit. "
	    "*/\nstatic const char agent_code_1[] =\n", argv[1], argv[2]);
	rc |= shrink(argv[1], out, agent_splits, agent_pieces, &k, &bytes);
	fputs("static const char agent_boot_1[] =\n", out);
	rc |= shrink(argv[2], out, boot_splits, NULL, &none, &boot_bytes);
	if (k.unit <= 0 || k.pieces <= 0 || k.idle <= 0)
		rc = fail(argv[1], 0, "UNIT, PIECES and IDLE_MS must be set "
		    "at the top level");
	fprintf(out, "#define AGENT_UNIT %ld\n#define AGENT_PIECES %ld\n"
	    "#define AGENT_IDLE_MS %ld\n#define AGENT_CODE_BYTES %zu\n",
	    k.unit, k.pieces, k.idle, bytes);
	if (fclose(out) != 0) {
		perror(argv[3]);
		rc = 1;
	}
	if (rc != 0)
		remove(argv[3]);
	return rc;
}
