/*
 * progress.c - live progress line on a terminal; see progress.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "progress.h"
#include "xalloc.h"
#include "banned.h"

#define PROGRESS_REDRAW_SECONDS 0.2

double
monotonic_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
progress_init(struct progress *p, bool enabled, size_t nslots)
{
	memset(p, 0, sizeof(*p));
	p->enabled = enabled;
	pthread_mutex_init(&p->lock, NULL);
	p->slots = xcalloc(nslots ? nslots : 1, sizeof(*p->slots));
	p->nslots = nslots;
}

void
progress_release(struct progress *p)
{
	progress_clear(p);
	pthread_mutex_destroy(&p->lock);
	free(p->slots);
	p->slots = NULL;
}

static void
draw(struct progress *p, bool force)
{
	struct buf line = BUF_INIT;
	double now = monotonic_seconds();
	size_t i;

	if (!force && now - p->last_draw < PROGRESS_REDRAW_SECONDS)
		return;
	p->last_draw = now;
	buf_addstr(&line, "\r\033[K");
	for (i = 0; i < p->nslots; i++) {
		const struct progress_slot *s = &p->slots[i];
		double secs = now - s->started;

		if (s->started == 0)
			continue;
		if (line.len > 4)
			buf_addstr(&line, " | ");
		if (s->done) {
			buf_addf(&line, "%s: done", s->device);
			continue;
		}
		buf_addf(&line, "%s: %s %.1f/%.1f KB %.1f KB/s", s->device,
		    s->file, s->sent / 1024.0, s->total / 1024.0,
		    secs > 0 ? s->sent / 1024.0 / secs : 0.0);
	}
	fputs(line.data, stderr);
	fflush(stderr);
	buf_release(&line);
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
	fputs("\r\033[K", stderr);
	fflush(stderr);
	pthread_mutex_unlock(&p->lock);
}
