/*
 * progress.c - live progress line on a terminal; see progress.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "human.h"
#include "log.h"
#include "progress.h"
#include "xalloc.h"
#include "banned.h"

#define PROGRESS_REDRAW_SECONDS 0.2
#define PROGRESS_SEPARATOR " | "
#define DEFAULT_COLUMNS 80
/* Erase the terminal line: back to column 0, clear to its end. */
#define ERASE_LINE "\r\033[K"

double
monotonic_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Characters, not bytes: UTF-8 continuation bytes take no column. */
static size_t
columns_of(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

/* Cut b to at most max columns, at a character boundary. */
static void
cut_to_columns(struct buf *b, size_t start, size_t max)
{
	size_t i, n = 0;

	for (i = start; i < b->len; i++) {
		if (((unsigned char)b->data[i] & 0xc0) == 0x80)
			continue;
		if (n++ == max) {
			b->len = i;
			b->data[i] = '\0';
			return;
		}
	}
}

static unsigned
terminal_columns(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return DEFAULT_COLUMNS;
}

static void
render_full(const struct progress_slot *s, double now, struct buf *b)
{
	char sent[HUMAN_MAX], total[HUMAN_MAX], rate[HUMAN_MAX];
	double secs = now - s->started;

	if (s->done) {
		buf_addf(b, "%s: done", s->device);
		return;
	}
	human_size(sent, sizeof(sent), s->sent);
	human_size(total, sizeof(total), s->total);
	human_size(rate, sizeof(rate), secs > 0 ? (uint64_t)(s->sent / secs) :
	    0);
	buf_addf(b, "%s: %s%s%s/%s %s/s", s->device, s->file,
	    *s->file ? " " : "", sent, total, rate);
}

static void
render_short(const struct progress_slot *s, struct buf *b)
{
	if (s->done)
		buf_addf(b, "%s done", s->device);
	else
		buf_addf(b, "%s %u%%", s->device, s->total ? (unsigned)(s->sent *
		    100 / s->total) : 0);
}

void
progress_render(const struct progress *p, double now, unsigned columns,
    struct buf *line)
{
	size_t start = line->len, max = columns > 1 ? columns - 1 : 1;
	int pass;

	/* Every board in full if that fits, else every board short. */
	for (pass = 0; pass < 2; pass++) {
		size_t i;
		bool first = true;

		if (line->len > start) {
			line->len = start;
			line->data[start] = '\0';
		}
		for (i = 0; i < p->nslots; i++) {
			const struct progress_slot *s = &p->slots[i];

			if (s->started == 0)
				continue;
			if (!first)
				buf_addstr(line, PROGRESS_SEPARATOR);
			first = false;
			if (pass == 0)
				render_full(s, now, line);
			else
				render_short(s, line);
		}
		if (columns_of(line->data + start, line->len - start) <= max)
			return;
	}
	cut_to_columns(line, start, max);
}

/* Draw the line; p->lock held. */
static void
draw(struct progress *p, bool force)
{
	struct buf line = BUF_INIT;
	double now = monotonic_seconds();

	if (!force && now - p->last_draw < PROGRESS_REDRAW_SECONDS)
		return;
	p->last_draw = now;
	buf_addstr(&line, ERASE_LINE);
	progress_render(p, now, terminal_columns(), &line);
	if (p->shown || line.len > strlen(ERASE_LINE)) {
		fputs(line.data, stderr);
		fflush(stderr);
	}
	p->shown = line.len > strlen(ERASE_LINE);
	buf_release(&line);
}

/* The log's writer while the display is on (called under the log lock). */
static void
write_log_line(void *arg, const char *text)
{
	struct progress *p = arg;

	pthread_mutex_lock(&p->lock);
	if (p->shown)
		fputs(ERASE_LINE, stderr);
	fputs(text, stderr);
	p->shown = false;
	draw(p, true);
	pthread_mutex_unlock(&p->lock);
}

void
progress_init(struct progress *p, bool enabled, size_t nslots)
{
	memset(p, 0, sizeof(*p));
	p->enabled = enabled;
	pthread_mutex_init(&p->lock, NULL);
	p->slots = xcalloc(nslots ? nslots : 1, sizeof(*p->slots));
	p->nslots = nslots;
	if (enabled)
		log_set_writer(write_log_line, p);
}

void
progress_release(struct progress *p)
{
	if (p->enabled)
		log_set_writer(NULL, NULL);
	progress_clear(p);
	pthread_mutex_destroy(&p->lock);
	free(p->slots);
	p->slots = NULL;
}

void
progress_start(struct progress *p, size_t slot, const char *device,
    uint64_t total)
{
	if (!p->enabled || slot >= p->nslots)
		return;
	pthread_mutex_lock(&p->lock);
	p->slots[slot].device = device;
	p->slots[slot].total = total;
	p->slots[slot].sent = 0;
	p->slots[slot].done = false;
	p->slots[slot].file[0] = '\0';
	p->slots[slot].started = monotonic_seconds();
	draw(p, true);
	pthread_mutex_unlock(&p->lock);
}

void
progress_update(struct progress *p, size_t slot, const char *file,
    uint64_t sent)
{
	struct progress_slot *s;
	size_t n;

	if (!p->enabled || slot >= p->nslots)
		return;
	pthread_mutex_lock(&p->lock);
	s = &p->slots[slot];
	n = strlen(file);
	/* Keep the tail of long paths: the file name is what tells. */
	snprintf(s->file, sizeof(s->file), "%s%s", n >= sizeof(s->file) ?
	    "..." : "", n >= sizeof(s->file) ? file + n - sizeof(s->file) + 4 :
	    file);
	s->sent = sent;
	draw(p, false);
	pthread_mutex_unlock(&p->lock);
}

void
progress_finish(struct progress *p, size_t slot)
{
	if (!p->enabled || slot >= p->nslots)
		return;
	pthread_mutex_lock(&p->lock);
	p->slots[slot].done = true;
	draw(p, true);
	pthread_mutex_unlock(&p->lock);
}

void
progress_clear(struct progress *p)
{
	if (!p->enabled)
		return;
	pthread_mutex_lock(&p->lock);
	if (p->shown)
		fputs(ERASE_LINE, stderr);
	p->shown = false;
	fflush(stderr);
	pthread_mutex_unlock(&p->lock);
}
