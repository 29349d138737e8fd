/*
 * path.c - safe relative paths; see path.h.
 */
#include <string.h>

#include "buf.h"
#include "path.h"
#include "banned.h"

bool
utf8_is_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		unsigned int cp, need, k;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			cp = c & 0x07;
		} else
			return false;
		if (i + need >= len)
			return false;
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += need + 1;
	}
	return true;
}

bool
path_is_safe(const char *path, size_t len, const char **why)
{
	const char *reason = NULL;
	size_t i, start = 0;

	if (len == 0)
		reason = "empty path";
	else if (len > PATH_SAFE_MAX)
		reason = "path too long";
	else if (path[0] == '/')
		reason = "absolute path";
	else if (!utf8_is_valid(path, len))
		reason = "not valid UTF-8";
	for (i = 0; reason == NULL && i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)path[i] : '/';

		if (i < len && (c < 0x20 || c == 0x7f))
			reason = c == 0 ? "NUL byte in path" :
			    "control character in path";
		else if (c == '\\')
			reason = "backslash in path";
		else if (c == '/') {
			size_t n = i - start;

			if (n == 0)
				reason = "empty path component";
			else if (n == 1 && path[start] == '.')
				reason = "'.' component";
			else if (n == 2 && path[start] == '.' &&
			    path[start + 1] == '.')
				reason = "'..' component";
			start = i + 1;
		}
	}
	if (why)
		*why = reason;
	return reason == NULL;
}

void
path_quote(struct buf *out, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f || c == '\\')
			buf_addf(out, "\\x%02x", c);
		else
			buf_addch(out, c);
	}
}

/*
 * A traceback as one escaped log line, its last line (the exception)
 * first, then the others: "ValueError: x (traceback: File "<stdin>", line
 * 20, in <module> | ...)".
 */
void
path_quote_traceback(struct buf *out, const char *text, size_t len)
{
	static const char head[] = "Traceback (most recent call last):";
	const char *end, *last, *p, *nl;
	size_t n;
	bool first = true;

	while (len > 0 && strchr(" \r\n", text[len - 1]) != NULL)
		len--;
	end = text + len;
	for (last = end; last > text && last[-1] != '\n'; last--)
		;
	path_quote(out, last, (size_t)(end - last));
	if (last == text)
		return;
	buf_addstr(out, " (");
	for (p = text; p < last; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(last - p));
		while (p < nl && (*p == ' ' || *p == '\r'))
			p++;
		for (n = (size_t)(nl - p); n > 0 && p[n - 1] == '\r'; n--)
			;
		if (n == 0)
			continue;
		if (n == sizeof(head) - 1 && memcmp(p, head, n) == 0) {
			buf_addstr(out, "traceback: ");
			continue;
		}
		if (!first)
			buf_addstr(out, " | ");
		path_quote(out, p, n);
		first = false;
	}
	buf_addch(out, ')');
}
